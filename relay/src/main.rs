//! `palaver-relay`: parse the configuration, bind, run until a signal.

use anyhow::Context;
use clap::Parser;
use relay::{shutdown, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another relay running there? Choose another address with --bind",
                config.bind
            )
        })?;
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
    relay::run(listener, config, shutdown::signal()).await
}
