//! The indexer's feed: a durable JetStream pull consumer of every room's
//! subject, applied to the index one fetched batch per transaction.
//!
//! Resuming without indexing everything again rests on one order: a batch
//! is committed (with its last stream sequence, the index's *applied*
//! mark) before it is acked. A crash after the commit loses only acks; a
//! crash before it loses only the uncommitted batch. On every (re)start the
//! feed compares the consumer with the index: a consumer whose ack floor is
//! the applied mark, with nothing delivered and unacked, is resumed as it
//! is; otherwise (the crash left deliveries pending, or the consumer is
//! gone) it is made again to start right after the applied mark. Either
//! way delivery goes on in stream order from the first record the index
//! lacks, and nothing already indexed is read again. Applying is
//! idempotent anyway (`index`), so a redelivery changes nothing.
//!
//! The index remembers the stream's creation time: a recreated stream
//! (its sequences now name other messages) empties the index, which then
//! reads the new stream from its start.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy},
};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{index::Index, SearchCounters, RETRY_EVERY};
use crate::backplane::{jetstream::decode_record, ROOM_SUBJECTS, STREAM};

/// The most records fetched, and applied in one transaction, at once.
const BATCH: usize = 500;
/// How long a delivered record may stay unacked before JetStream sends it
/// again (a batch is acked as soon as it is committed).
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Feeds the index until `shutdown`, starting again (from the index's
/// applied mark) after any error.
pub async fn feed(
    js: jetstream::Context,
    index: Arc<Index>,
    counters: SearchCounters,
    shutdown: CancellationToken,
) {
    let mut attempts = 0u32;
    loop {
        let run = tokio::select! {
            () = shutdown.cancelled() => return,
            run = run(&js, &index, &counters) => run,
        };
        attempts += 1;
        if let Err(err) = run {
            if attempts == 1 || attempts.is_multiple_of(10) {
                tracing::warn!(
                    "search index: cannot follow stream {STREAM} ({err}); searches answer from what is indexed; retrying every {RETRY_EVERY:?}"
                );
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY_EVERY) => {}
        }
    }
}

async fn run(
    js: &jetstream::Context,
    index: &Arc<Index>,
    counters: &SearchCounters,
) -> Result<(), async_nats::Error> {
    let stream = js.get_stream(STREAM).await?;
    let created = stream
        .cached_info()
        .created
        .unix_timestamp_nanos()
        .to_string();
    let name = format!("palaver-search-{}", index.name()?);
    if index.meta("stream")?.as_deref() != Some(created.as_str()) {
        if index.meta("stream")?.is_some() {
            tracing::warn!("search index: stream {STREAM} was recreated; indexing it again");
        }
        index.clear()?;
        index.set_meta("stream", &created)?;
    }
    let applied = index.applied()?;
    let consumer = position(&stream, &name, applied).await?;
    let mut batches = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await?
        .ready_chunks(BATCH);
    while let Some(batch) = batches.next().await {
        let mut records = Vec::with_capacity(batch.len());
        let mut last = None;
        let mut through = 0;
        for message in batch {
            let message = message?;
            let seq = message.info()?.stream_sequence;
            match decode_record(&message.payload, seq) {
                Some(record) => records.push(record),
                None => tracing::warn!("search index: skipping undecodable stream message {seq}"),
            }
            through = through.max(seq);
            last = Some(message);
        }
        let Some(last) = last else { continue };
        let writer = index.clone();
        let applied =
            tokio::task::spawn_blocking(move || writer.apply(&records, through)).await??;
        // Acks every record up to this one (`AckPolicy::All`), and waits
        // for JetStream to record it.
        last.double_ack().await?;
        counters.indexed.add(applied.records);
        tracing::debug!(
            "search index: applied {} records ({} new messages) through {through}",
            applied.records,
            applied.indexed
        );
    }
    Err("the consumer's messages ended".into())
}

/// The index's durable consumer, resumed when it agrees with the index's
/// applied mark, else made again to start right after it.
async fn position(
    stream: &jetstream::stream::Stream,
    name: &str,
    applied: u64,
) -> Result<jetstream::consumer::PullConsumer, async_nats::Error> {
    match stream.consumer_info(name).await {
        Ok(info) if info.ack_floor.stream_sequence == applied && info.num_ack_pending == 0 => {
            tracing::info!(
                "search index: resuming consumer {name} after stream sequence {applied}; {} records to index",
                info.num_pending
            );
            return stream.get_consumer(name).await;
        }
        Ok(info) => {
            tracing::info!(
                "search index: consumer {name} acked through {} with {} unacked; starting it again after the index's {applied}",
                info.ack_floor.stream_sequence,
                info.num_ack_pending
            );
            stream.delete_consumer(name).await?;
        }
        Err(_) => {
            tracing::info!("search index: creating consumer {name} after stream sequence {applied}")
        }
    }
    let config = pull::Config {
        durable_name: Some(name.to_string()),
        description: Some("palaver search indexer".into()),
        deliver_policy: if applied == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: applied + 1,
            }
        },
        ack_policy: AckPolicy::All,
        ack_wait: ACK_WAIT,
        filter_subject: format!("{ROOM_SUBJECTS}.>"),
        max_ack_pending: (BATCH * 4) as i64,
        ..Default::default()
    };
    Ok(stream.create_consumer(config).await?)
}
