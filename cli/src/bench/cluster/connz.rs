//! What nats-server's monitoring (`/connz?subs=detail`) says each client
//! connection was sent, and which connection is which relay.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
};

use anyhow::{bail, Context};
use serde::Serialize;

use super::procs::http_get;

/// What NATS sent one relay's connection between two `/connz` readings.
#[derive(Debug, Serialize)]
pub(super) struct NatsIn {
    /// Room messages: its `palaver.live.*` subscriptions.
    pub(super) live: u64,
    /// Everything.
    pub(super) msgs: u64,
    bytes: u64,
    /// By the subscribed subject's first two tokens (`palaver.live`,
    /// `palaver.presence`, ...; `_INBOX` holds request replies and
    /// publish acks).
    by_kind: BTreeMap<String, u64>,
}

impl NatsIn {
    /// The connection that follows one of `rooms`, from `before` to `after`.
    pub(super) fn between(before: &Connz, after: &Connz, rooms: &[String]) -> Option<NatsIn> {
        let conn = after.relay_connection(rooms)?;
        let was = before.connections.get(&conn.cid);
        let was_kind = |kind: &str| was.and_then(|w| w.by_kind.get(kind)).copied().unwrap_or(0);
        Some(NatsIn {
            live: conn.live_msgs - was.map_or(0, |w| w.live_msgs).min(conn.live_msgs),
            msgs: conn.out_msgs - was.map_or(0, |w| w.out_msgs),
            bytes: conn.out_bytes - was.map_or(0, |w| w.out_bytes),
            by_kind: conn
                .by_kind
                .iter()
                .map(|(kind, n)| (kind.clone(), n - was_kind(kind).min(*n)))
                .collect(),
        })
    }
}

/// What nats-server says of its client connections.
pub(super) struct Connz {
    connections: HashMap<u64, Connection>,
}

struct Connection {
    cid: u64,
    /// Messages and bytes the server sent this client.
    out_msgs: u64,
    out_bytes: u64,
    /// Subjects of its `palaver.live.*` subscriptions.
    live_subjects: Vec<String>,
    /// Messages sent to those subscriptions.
    live_msgs: u64,
    /// Messages per kind of subscription (a subject's first two tokens).
    by_kind: BTreeMap<String, u64>,
}

impl Connz {
    /// The connection that follows the live subject of one of `rooms`.
    fn relay_connection(&self, rooms: &[String]) -> Option<&Connection> {
        let subjects: Vec<String> = rooms.iter().map(|r| live_subject(r)).collect();
        self.connections
            .values()
            .find(|c| c.live_subjects.iter().any(|s| subjects.contains(s)))
    }
}

/// A room's live subject, as docs/DEPLOY.md gives it: `palaver.live.`
/// and the room name's bytes in lowercase hex.
fn live_subject(room: &str) -> String {
    let hex: String = room.bytes().map(|b| format!("{b:02x}")).collect();
    format!("palaver.live.{hex}")
}

pub(super) async fn connz(monitor: SocketAddr) -> anyhow::Result<Connz> {
    let (code, body) = http_get(monitor, "/connz?subs=detail&limit=10000").await?;
    if code != 200 {
        bail!("nats-server's /connz answered {code}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).context("nats-server's /connz is not JSON")?;
    let mut connections = HashMap::new();
    for c in json["connections"].as_array().into_iter().flatten() {
        let cid = c["cid"].as_u64().unwrap_or(0);
        let mut live_subjects = Vec::new();
        let mut live_msgs = 0;
        let mut by_kind = BTreeMap::new();
        for sub in c["subscriptions_list_detail"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let subject = sub["subject"].as_str().unwrap_or_default();
            let kind: Vec<&str> = match subject.split('.').next() {
                // A reply inbox's second token is a random id.
                Some("_INBOX") => vec!["_INBOX"],
                _ => subject.splitn(3, '.').take(2).collect(),
            };
            *by_kind.entry(kind.join(".")).or_default() += sub["msgs"].as_u64().unwrap_or(0);
            if subject.starts_with("palaver.live.") {
                live_subjects.push(subject.to_owned());
                live_msgs += sub["msgs"].as_u64().unwrap_or(0);
            }
        }
        connections.insert(
            cid,
            Connection {
                cid,
                out_msgs: c["out_msgs"].as_u64().unwrap_or(0),
                out_bytes: c["out_bytes"].as_u64().unwrap_or(0),
                live_subjects,
                live_msgs,
                by_kind,
            },
        );
    }
    Ok(Connz { connections })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_subject_is_the_room_name_in_hex() {
        assert_eq!(live_subject("ab-1"), "palaver.live.61622d31");
    }

    #[test]
    fn the_relay_of_a_room_is_found_by_its_live_subscription() {
        let conn = |cid, rooms: &[&str]| Connection {
            cid,
            out_msgs: 0,
            out_bytes: 0,
            live_subjects: rooms.iter().map(|r| live_subject(r)).collect(),
            live_msgs: 0,
            by_kind: BTreeMap::new(),
        };
        let connz = Connz {
            connections: [(1, conn(1, &["a"])), (2, conn(2, &["b", "c"]))].into(),
        };
        let found = |rooms: &[&str]| {
            let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            connz.relay_connection(&rooms).map(|c| c.cid)
        };
        assert_eq!(found(&["c"]), Some(2));
        assert_eq!(found(&["a", "z"]), Some(1));
        assert_eq!(found(&["z"]), None);
    }
}
