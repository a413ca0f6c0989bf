//! `palaver-relay`: parse the configuration, bind, run until a signal; or,
//! with a subcommand, an operator tool on the data directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use relay::{files::export::FileExport, shutdown, store::sqlite::tools, Config};
use shared::RoomName;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "palaver-relay",
    version,
    about = "The Palaver chat relay: WebSocket protocol v1 on /ws, the web app from --static-dir.",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Tool>,
    /// How the relay logs to stderr: `text` for people, `json` (one object
    /// per line, with the connection's span) for a log pipeline.
    #[arg(long, value_enum, env = "PALAVER_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// With no subcommand: serve.
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Print a room's stored history as JSON lines, oldest first. Safe while
    /// the relay runs.
    Export {
        #[arg(long, value_parser = room_name)]
        room: RoomName,
        /// The data directory of the sqlite store.
        #[arg(long, env = "PALAVER_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// Also write the files the exported messages post to DIR: each
        /// once, named by its SHA-256 (checked while copied), and
        /// DIR/ROOM.files.jsonl with each file's message seq, id, name,
        /// type, size and sha256. Deleted messages' files are left out.
        #[arg(long, value_name = "DIR")]
        files: Option<PathBuf>,
    },
    /// Delete a room's stored history (seqs are not reused afterwards). Stop
    /// the relay first.
    DeleteRoom {
        #[arg(long, value_parser = room_name)]
        room: RoomName,
        /// The data directory of the sqlite store.
        #[arg(long, env = "PALAVER_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // The current span (conn, ip, user) on every line, not the list
        // of spans: a session has only the one.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    match cli.command {
        None => serve(cli.config),
        Some(Tool::Export {
            room,
            data_dir,
            files,
        }) => {
            let mut out = std::io::stdout().lock();
            let Some(dir) = files else {
                let count = tools::export_room(&data_dir, &room, &mut out, |_, _| Ok(()))?;
                tracing::info!("exported {count} messages of {room}");
                return Ok(());
            };
            // The data directory's errors before anything is written.
            drop(relay::store::sqlite::schema::open_reader(&data_dir)?);
            let mut export = FileExport::create(&data_dir, room.as_str(), &dir)
                .with_context(|| format!("cannot write files to {}", dir.display()))?;
            let count = tools::export_room(&data_dir, &room, &mut out, |conn, message| {
                export.message(conn, message)
            })?;
            let (files, bytes) = export.finish()?;
            tracing::info!(
                "exported {count} messages of {room}, and {files} files ({bytes} bytes written) to {}",
                dir.display()
            );
            Ok(())
        }
        Some(Tool::DeleteRoom { room, data_dir }) => {
            let count = tools::delete_room(&data_dir, &room)?;
            println!("deleted {count} messages of {room}");
            Ok(())
        }
    }
}

fn room_name(input: &str) -> Result<RoomName, String> {
    RoomName::new(input).map_err(|err| err.to_string())
}

#[tokio::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = relay::http::listen(config.bind).with_context(|| {
            format!(
                "cannot listen on {}: is another relay running there? Choose another address with --bind",
                config.bind
            )
        })?;
    let metrics = match config.metrics_bind.0 {
        Some(addr) => Some(relay::http::listen(addr).with_context(|| {
            format!(
                "cannot serve metrics on {addr}: is another relay running there? Choose another \
                 address with --metrics-bind, or `--metrics-bind off`"
            )
        })?),
        None => None,
    };
    if let Some(metrics) = &metrics {
        tracing::info!("metrics on http://{}/metrics", metrics.local_addr()?);
    }
    if config.clustered() {
        tracing::info!(
            "Palaver relay listening on http://{} (cluster mode, NATS at {})",
            listener.local_addr()?,
            config.nats.join(",")
        );
    } else {
        tracing::info!(
            "Palaver relay listening on http://{} (store: {:?})",
            listener.local_addr()?,
            config.store
        );
    }
    relay::run(listener, metrics, config, shutdown::signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_serves_with_the_top_level_flags() {
        let cli = Cli::try_parse_from([
            "palaver-relay",
            "--bind",
            "127.0.0.1:0",
            "--store",
            "memory",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config.store, relay::config::StoreKind::Memory);
    }

    #[test]
    fn log_format_is_text_or_json() {
        let cli = Cli::try_parse_from(["palaver-relay"]).unwrap();
        assert_eq!(cli.log_format, LogFormat::Text);
        let cli = Cli::try_parse_from(["palaver-relay", "--log-format", "json"]).unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["palaver-relay", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn tools_are_subcommands() {
        let cli = Cli::try_parse_from(["palaver-relay", "export", "--room", "general"]).unwrap();
        assert!(
            matches!(cli.command, Some(Tool::Export { ref room, .. }) if room.as_str() == "general")
        );
        let cli = Cli::try_parse_from([
            "palaver-relay",
            "delete-room",
            "--room",
            "general",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Tool::DeleteRoom { .. })));
        assert!(Cli::try_parse_from(["palaver-relay", "export", "--room", "Not A Room!"]).is_err());
    }
}
