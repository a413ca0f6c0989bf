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

use super::{room_subject, STREAM};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use ask::ask;

pub use crate::metrics::SearchCounters;

/// Where searches are asked.
pub const SUBJECT: &str = "palaver.search";
/// The indexers' queue group: each search goes to one of them.
pub const QUEUE: &str = "palaver-search";
/// Pause before the feed or the responder tries again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Opens the index in `dir` (an error names the directory) and starts its
/// feed and its responder, which stop at `shutdown`. Every `prune_every`
/// the index follows the stream's retention (`follow_retention`).
pub fn start(
    client: async_nats::Client,
    dir: &Path,
    retention: Retention,
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
        js.clone(),
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
    tracker.spawn(follow_retention(js, index, retention, shutdown.clone()));
    Ok(())
}

/// How the stream lets messages go, which the index follows.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The stream's max age (`--nats-max-age`; zero: forever).
    pub max_age: Duration,
    /// How often the index drops what the stream no longer holds
    /// (`--search-prune-secs`).
    pub every: Duration,
}

/// Every `retention.every`, drops from the index what the stream no longer
/// holds, so search never finds a message that history cannot show: the
/// messages past the max age, then, room by room, those below the room's
/// first record in the stream (its per-room limit, `--history-limit`,
/// pushed them out). That costs one request to the stream per room whose
/// oldest indexed message might be gone.
async fn follow_retention(
    js: async_nats::jetstream::Context,
    index: Arc<Index>,
    retention: Retention,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(retention.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !retention.max_age.is_zero() {
            let before =
                crate::clock::now_ms().saturating_sub(retention.max_age.as_millis() as u64);
            let index = index.clone();
            match tokio::task::spawn_blocking(move || index.forget_before(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!("search index: {n} messages past --nats-max-age dropped")
                }
                Ok(Err(err)) => tracing::warn!("search index: cannot drop old messages: {err}"),
                Err(err) => tracing::warn!("search index: cannot drop old messages: {err}"),
            }
        }
        match forget_what_the_stream_dropped(&js, &index).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                "search index: {n} messages no longer in the stream (--history-limit) dropped"
            ),
            Err(err) => tracing::warn!(
                "search index: cannot check the rooms' first messages in the stream: {err:#}"
            ),
        }
    }
}

/// Drops each room's messages below the room's first record in the
/// stream (all of them when the stream has none of the room).
async fn forget_what_the_stream_dropped(
    js: &async_nats::jetstream::Context,
    index: &Arc<Index>,
) -> anyhow::Result<usize> {
    use async_nats::jetstream::stream::RawMessageErrorKind;

    let stream = js.get_stream_no_info(STREAM).await?;
    let oldest = {
        let index = index.clone();
        tokio::task::spawn_blocking(move || index.oldest_per_room()).await??
    };
    let mut firsts = Vec::new();
    for (room, oldest) in oldest {
        let Ok(name) = shared::RoomName::new(&room) else {
            continue;
        };
        let first = match stream
            .get_first_raw_message_by_subject(room_subject(&name), 1)
            .await
        {
            Ok(message) => message.sequence,
            Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => i64::MAX as u64,
            Err(err) => return Err(err.into()),
        };
        if first > oldest {
            firsts.push((room, first));
        }
    }
    let index = index.clone();
    Ok(tokio::task::spawn_blocking(move || index.forget_below(&firsts)).await??)
}
