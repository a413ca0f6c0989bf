//! The asking side: a relay's cluster store searches by one NATS request
//! to the indexers' queue group, with a timeout.

use std::time::Duration;

use async_nats::{client::RequestErrorKind, Request};
use shared::ChatMessage;

use super::{
    wire::{Answer, Ask},
    SUBJECT,
};
use crate::store::{Found, SearchRequest, StoreError};

/// How long a search may wait for an indexer's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the user reads when no indexer answers.
const NO_INDEXER: &str = "no search indexer is running in this cluster (start a relay with --search-index DIR; docs/DEPLOY.md)";

/// Asks one indexer for `request`'s page of hits.
pub async fn ask(client: &async_nats::Client, request: SearchRequest) -> Result<Found, StoreError> {
    let Some(ask) = Ask::of(&request) else {
        return Ok(Found::default());
    };
    let payload = serde_json::to_vec(&ask).expect("a search request serializes");
    let sent = Request::new()
        .payload(payload.into())
        .timeout(Some(ASK_TIMEOUT));
    let reply = client.send_request(SUBJECT, sent).await.map_err(|err| {
        StoreError::Unavailable(match err.kind() {
            RequestErrorKind::NoResponders => NO_INDEXER.to_string(),
            RequestErrorKind::TimedOut => {
                format!("no search indexer answered within {ASK_TIMEOUT:?}: {NO_INDEXER}")
            }
            _ => format!("cannot reach the search indexers: {err}"),
        })
    })?;
    match serde_json::from_slice(&reply.payload) {
        Ok(Answer::Hits { messages, more }) => Ok(Found {
            // Never more than asked, and only the rooms asked for, whatever
            // an indexer says.
            messages: messages
                .into_iter()
                .filter(|m: &ChatMessage| request.may_show(m))
                .take(request.limit)
                .collect(),
            more,
        }),
        Ok(Answer::Error { error }) => Err(StoreError::Unavailable(format!(
            "the search indexer failed: {error}"
        ))),
        Err(err) => Err(StoreError::Unavailable(format!(
            "unreadable answer from a search indexer: {err}"
        ))),
    }
}
