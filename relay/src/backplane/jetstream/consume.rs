//! The relay's one ordered consumer of the stream: sets the stream up,
//! reads it in order forever and delivers each message, recreating the
//! consumer after a reconnection or a stall.

use std::sync::{atomic::Ordering, Arc};

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;

use super::{codec::decode, JetStreamStore, RETRY_EVERY, WATCHDOG_EVERY};
use crate::backplane::{ROOM_SUBJECTS, STREAM};

impl JetStreamStore {
    pub(super) async fn run(&self, servers: &str) {
        let mut attempts = 0u32;
        let last = loop {
            match self.set_up().await {
                Ok(last) => break last,
                Err(err) => {
                    attempts += 1;
                    if attempts == 1 || attempts.is_multiple_of(10) {
                        tracing::warn!(
                            "cannot reach JetStream at {servers} ({err}); /readyz answers 503 and sends are refused until it is back; retrying every {RETRY_EVERY:?}"
                        );
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        };
        tracing::info!(
            "JetStream stream {STREAM} ready; delivering from sequence {}",
            last + 1
        );
        self.delivered.start_after(last);
        self.consume(last + 1).await;
    }

    /// Creates the stream if no relay did yet; returns its last sequence.
    async fn set_up(&self) -> Result<u64, async_nats::Error> {
        let mut stream = self
            .js
            .get_or_create_stream(self.stream_config.clone())
            .await?;
        let last = stream.info().await?.state.last_sequence;
        let _ = self.stream.set(stream);
        Ok(last)
    }

    /// Reads the stream from `start` forever, delivering each message.
    async fn consume(&self, mut start: u64) {
        let stream = self.stream.get().expect("set up before consuming");
        loop {
            let messages = async {
                stream
                    .create_consumer(pull::OrderedConfig {
                        filter_subject: format!("{ROOM_SUBJECTS}.*"),
                        deliver_policy: DeliverPolicy::ByStartSequence {
                            start_sequence: start,
                        },
                        ..Default::default()
                    })
                    .await?
                    .messages()
                    .await
                    .map_err(async_nats::Error::from)
            };
            let mut messages = match messages.await {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!("cannot consume {STREAM}: {err}; retrying");
                    tokio::time::sleep(RETRY_EVERY).await;
                    continue;
                }
            };
            tracing::debug!("consuming {STREAM} from sequence {start}");
            self.consuming.store(true, Ordering::Release);
            let mut watchdog = tokio::time::interval(WATCHDOG_EVERY);
            let mut stalled_at = None;
            loop {
                let next = tokio::select! {
                    next = messages.next() => next,
                    // After a reconnection the server may have restarted and
                    // forgotten the consumer: start a new one from `start`.
                    () = self.connected.notified() => break,
                    _ = watchdog.tick() => {
                        if self.stalled(&mut stalled_at).await {
                            tracing::warn!("{STREAM} consumer stalled before sequence {start}; recreating it");
                            break;
                        }
                        continue;
                    }
                };
                let Some(next) = next else { break };
                let message = match next {
                    Ok(message) => message,
                    Err(err) => {
                        tracing::warn!("reading {STREAM} failed: {err}; resuming at {start}");
                        break;
                    }
                };
                let Ok(info) = message.info() else { continue };
                let seq = info.stream_sequence;
                tracing::trace!("delivering {STREAM} message {seq}");
                match decode(&message.payload, seq) {
                    Some(chat) => {
                        self.remember(&chat.room, seq);
                        (self.deliver)(&Arc::new(chat))
                    }
                    None => tracing::warn!("skipping undecodable message {seq} in {STREAM}"),
                }
                start = seq + 1;
                self.delivered.record(&message.subject, seq);
            }
            self.consuming.store(false, Ordering::Release);
        }
    }

    /// Whether the consumer stopped delivering although the stream has
    /// more: the same delivered sequence, behind the stream's last, at two
    /// checks in a row. (A consumer on a NATS node that died is only noticed
    /// by missed heartbeats otherwise, which takes much longer.)
    async fn stalled(&self, stalled_at: &mut Option<u64>) -> bool {
        let Ok(stream) = self.js.get_stream(STREAM).await else {
            return false;
        };
        let last = stream.cached_info().state.last_sequence;
        let delivered = self.delivered.last();
        if last <= delivered {
            *stalled_at = None;
            return false;
        }
        if *stalled_at == Some(delivered) {
            *stalled_at = None;
            return true;
        }
        *stalled_at = Some(delivered);
        false
    }
}
