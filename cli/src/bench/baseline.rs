//! `palaver bench baseline`: a tuned raw axum WebSocket broadcaster that
//! speaks just enough of protocol v1 for the bench (`hello` → `welcome`,
//! `join` → `joined`, `send` → `message` to the room then `ack`), so the
//! bench can drive it with the same scenarios as the relay and print both
//! in one table (`bench compare`).
//!
//! It is what a chat relay costs with nothing but the transport: no
//! accounts, no store, no limits, no validation beyond JSON parsing, no
//! history. Tuned the way the relay is (1 KiB read buffer, 16 KiB write
//! buffer, one encode per broadcast shared by every recipient, a writer
//! task per connection that batches what is queued into one flush, slow
//! consumers dropped when their 1,024-frame queue is full), so the
//! difference between the two is what Palaver's features cost.
//!
//! Runs in its own process (the fd limit is per process) and only on a
//! loopback address.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::bail;
use axum::{
    extract::{
        ws::{Message, Utf8Bytes, WebSocket},
        State, WebSocketUpgrade,
    },
    response::Response,
    routing::get,
    Router,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

/// Frames a connection may have queued before it counts as a slow consumer.
const QUEUE: usize = 1024;
/// Frames a writer takes from its queue per flush.
const BATCH: usize = 64;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:18099")]
    bind: SocketAddr,
}

type Tx = mpsc::Sender<Utf8Bytes>;

struct Room {
    seq: u64,
    members: HashMap<u64, Tx>,
}

#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, Room>>,
    next_id: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum In {
    Hello {
        nick: Option<String>,
    },
    Join {
        room: String,
    },
    Send {
        room: String,
        text: String,
        client_id: String,
    },
    #[serde(other)]
    Other,
}

pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    if !args.bind.ip().is_loopback() {
        bail!("the baseline only listens on a loopback address");
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let hub = Arc::new(Hub::default());
        let app = Router::new().route("/ws", get(upgrade)).with_state(hub);
        // The relay's backlog (4096, `relay::http::listen`), so a burst of
        // connections meets the same kernel queue in both.
        let socket = if args.bind.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(args.bind)?;
        let listener = socket.listen(4096)?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn upgrade(State(hub): State<Arc<Hub>>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| session(socket, hub))
}

async fn session(socket: WebSocket, hub: Arc<Hub>) {
    let id = hub
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            for frame in batch.drain(..) {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut nick = String::from("anon");
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(msg) = serde_json::from_str::<In>(&text) else {
            continue;
        };
        let reply = match msg {
            In::Hello { nick: n } => {
                nick = n.unwrap_or(nick);
                format!(
                    r#"{{"type":"welcome","protocol":1,"user":{{"id":"u-{id}","nick":{}}}}}"#,
                    quote(&nick)
                )
            }
            In::Join { room } => {
                hub.rooms
                    .lock()
                    .expect("not poisoned")
                    .entry(room.clone())
                    .or_insert_with(|| Room {
                        seq: 0,
                        members: HashMap::new(),
                    })
                    .members
                    .insert(id, tx.clone());
                let reply = format!(
                    r#"{{"type":"joined","room":{},"members":[],"history":[]}}"#,
                    quote(&room)
                );
                joined.push(room);
                reply
            }
            In::Send {
                room,
                text,
                client_id,
            } => {
                let mut slow = Vec::new();
                let seq = {
                    let mut rooms = hub.rooms.lock().expect("not poisoned");
                    let Some(r) = rooms.get_mut(&room) else {
                        continue;
                    };
                    r.seq += 1;
                    let frame: Utf8Bytes = format!(
                        r#"{{"type":"message","room":{},"seq":{},"from":{{"id":"u-{id}","nick":{}}},"text":{},"client_id":{}}}"#,
                        quote(&room),
                        r.seq,
                        quote(&nick),
                        quote(&text),
                        quote(&client_id)
                    )
                    .into();
                    for (member, tx) in &r.members {
                        if tx.try_send(frame.clone()).is_err() {
                            slow.push(*member);
                        }
                    }
                    for member in &slow {
                        r.members.remove(member);
                    }
                    r.seq
                };
                format!(
                    r#"{{"type":"ack","room":{},"client_id":{},"seq":{seq}}}"#,
                    quote(&room),
                    quote(&client_id)
                )
            }
            In::Other => continue,
        };
        if tx.try_send(reply.into()).is_err() {
            break;
        }
    }
    {
        let mut rooms = hub.rooms.lock().expect("not poisoned");
        for room in &joined {
            if let Some(r) = rooms.get_mut(room) {
                r.members.remove(&id);
                if r.members.is_empty() {
                    rooms.remove(room);
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A JSON string literal (the frames are written by hand so that `type`
/// comes first, as the relay writes it and the bench expects).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}
