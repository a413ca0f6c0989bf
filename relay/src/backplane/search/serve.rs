//! The indexer's side of `palaver.search`: every indexer subscribes in one
//! queue group, so NATS hands each request to one of them (more indexers
//! share the load), and answers from its own index.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{
    index::Index,
    wire::{Answer, Ask},
    SearchCounters, QUEUE, SUBJECT,
};

/// Answers search requests until `shutdown`, resubscribing if NATS drops
/// the subscription.
pub async fn serve(
    client: async_nats::Client,
    index: Arc<Index>,
    counters: SearchCounters,
    shutdown: CancellationToken,
) {
    loop {
        let mut requests = tokio::select! {
            () = shutdown.cancelled() => return,
            subscribed = client.queue_subscribe(SUBJECT, QUEUE.to_string()) => match subscribed {
                Ok(requests) => requests,
                Err(err) => {
                    tracing::warn!("search index: cannot subscribe to {SUBJECT}: {err}; retrying");
                    tokio::time::sleep(super::RETRY_EVERY).await;
                    continue;
                }
            },
        };
        tracing::info!("search index: answering searches on {SUBJECT} (queue {QUEUE})");
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => return,
                request = requests.next() => request,
            };
            let Some(request) = request else { break };
            let Some(reply) = request.reply else {
                continue;
            };
            let answer = answer(&index, &request.payload).await;
            counters.answered.inc();
            let payload = serde_json::to_vec(&answer).expect("an answer serializes");
            if let Err(err) = client.publish(reply, payload.into()).await {
                tracing::debug!("search index: cannot answer: {err}");
            }
        }
    }
}

/// The answer to one request's payload.
async fn answer(index: &Arc<Index>, payload: &[u8]) -> Answer {
    let ask: Ask = match serde_json::from_slice(payload) {
        Ok(ask) => ask,
        Err(err) => {
            return Answer::Error {
                error: format!("unreadable search request: {err}"),
            }
        }
    };
    let before = match ask.cursor() {
        Ok(before) => before,
        Err(error) => return Answer::Error { error },
    };
    let index = index.clone();
    let found = tokio::task::spawn_blocking(move || index.search(&ask, before.as_ref())).await;
    match found {
        Ok(Ok(found)) => found.into(),
        Ok(Err(err)) => Answer::Error {
            error: format!("the search index failed: {err}"),
        },
        Err(err) => Answer::Error {
            error: format!("the search index failed: {err}"),
        },
    }
}
