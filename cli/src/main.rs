//! `palaver`: the terminal client and the load benchmark (issue 7).
//!
//! - [`chat`]: `palaver chat`, an interactive or piped client on the
//!   `shared` client model (reconnect, resume, outbox, dedup).
//! - [`tui`]: `palaver chat` on a terminal, full-screen (ratatui), on the
//!   same model.
//! - [`bench`]: `palaver bench`, a load generator on protocol v1 that
//!   measures a relay on this machine.

mod bench;
mod chat;
mod tui;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "palaver",
    version,
    about = "Palaver's terminal client and load benchmark."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat in a terminal, or pipe lines in and messages out (a bot).
    ///
    /// Piped, it exits once stdin has ended and the relay acked every line:
    /// status 0, or 1 when a line was refused or could not be sent.
    Chat(chat::Args),
    /// Load a relay on this machine and report throughput and latency.
    ///
    /// Exits with status 1 when a delivery was lost or duplicated.
    Bench(bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chat(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(chat::run(args))),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("palaver: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
