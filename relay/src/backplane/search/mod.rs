//! Search in cluster mode: relays started with `--search-index DIR` are
//! *indexers*. Each keeps its own SQLite index of every room's messages
//! (`index`), fed by a durable JetStream consumer of the message stream
//! (`feed`), and answers searches from any relay on `palaver.search` in
//! one queue group (`serve`), so more indexers share the load. A relay's
//! cluster store searches by asking that group (`ask`), with the rooms the
//! user may see already checked; while no indexer runs, a search is
//! refused as `unavailable`, saying so.
//!
//! An index is as fresh as its consumer: a message is found once the
//! indexer applied it (usually milliseconds after it was stored), and an
//! edit or delete likewise. The request and answer are `wire`.

mod ask;
mod feed;
mod index;
mod serve;
mod wire;

#[cfg(test)]
mod tests;

use std::{path::Path, sync::Arc, time::Duration};

use index::Index;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use ask::ask;

pub use crate::metrics::SearchCounters;

/// Where searches are asked.
pub const SUBJECT: &str = "palaver.search";
/// The indexers' queue group: each search goes to one of them.
pub const QUEUE: &str = "palaver-search";
/// Pause before the feed or the responder tries again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How often messages older than the stream's max age leave the index.
const EXPIRE_EVERY: Duration = Duration::from_secs(600);

/// Opens the index in `dir` (an error names the directory) and starts its
/// feed and its responder, which stop at `shutdown`. Messages older than
/// `max_age` (the stream's, `--nats-max-age`; zero: forever) leave the
/// index as they leave the stream.
pub fn start(
    client: async_nats::Client,
    dir: &Path,
    max_age: Duration,
    counters: SearchCounters,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let index = Arc::new(Index::open(dir)?);
    let indexed = index.len()?;
    tracing::info!(
        "search index in {} ({indexed} messages); answering searches for the cluster",
        dir.display()
    );
    let js = async_nats::jetstream::new(client.clone());
    tracker.spawn(feed::feed(
        js,
        index.clone(),
        counters.clone(),
        shutdown.clone(),
    ));
    tracker.spawn(serve::serve(
        client,
        index.clone(),
        counters,
        shutdown.clone(),
    ));
    if !max_age.is_zero() {
        tracker.spawn(expire(index, max_age, shutdown.clone()));
    }
    Ok(())
}

/// Drops the messages past `max_age` every [`EXPIRE_EVERY`].
async fn expire(index: Arc<Index>, max_age: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let before = crate::clock::now_ms().saturating_sub(max_age.as_millis() as u64);
        let index = index.clone();
        match tokio::task::spawn_blocking(move || index.forget_before(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("search index: {n} messages past --nats-max-age dropped"),
            Ok(Err(err)) => tracing::warn!("search index: cannot drop old messages: {err}"),
            Err(err) => tracing::warn!("search index: cannot drop old messages: {err}"),
        }
    }
}
