//! One simulated client: connect, say hello, join a room, then read every
//! frame (and, for a sender, send) until the run is over.
//!
//! Frames written are encoded with the protocol crate's `ClientMsg`.
//! Receivers do not parse frames as JSON: at millions of deliveries per
//! second that would make the generator, not the relay, the bottleneck. A
//! `message` frame is recognised by its first bytes and its text, which the
//! sender wrote as `<µs since start> <sender>:<counter> <padding>`, is read
//! by scanning for `"text":"`.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use shared::{ClientId, ClientMsg, Invalid, Nick, RoomName, Text};
use tokio::{net::TcpSocket, sync::watch};
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    WebSocketStream,
};

/// Where the run stands; every connection watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Connecting and joining; nothing is sent.
    Setup,
    /// Senders send; deliveries count towards the rate.
    Run,
    /// Senders stopped; receivers take what is still on its way.
    Drain,
    /// Close the connections.
    Done,
}

/// Connections spread their source addresses over 127.0.0.x, this many per
/// address. Users come from many addresses; from one, `connect` searches
/// the ephemeral ports for one free toward the relay, and past half the
/// range (Linux prefers even ports for `connect`, 14,116 of them) each
/// search walks most of it: with 20,000 per address, 19,000 members took
/// seconds of the generator's system time and some connects a second or
/// two (docs/PERFORMANCE.md).
pub const CONNS_PER_SOURCE_IP: usize = 4_000;
/// How long connecting, `welcome` and `joined` may take together.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection shares with the orchestrator.
pub struct Shared {
    pub url: String,
    pub addr: SocketAddr,
    /// Source addresses start at 127.0.0.(1 + this): back-to-back runs
    /// (`compare`) each take fresh ones, so the previous run's sockets in
    /// TIME_WAIT do not use up this run's ephemeral ports.
    pub source_offset: usize,
    /// Latency stamps are microseconds since this instant.
    pub base: Instant,
    pub phase: watch::Receiver<Phase>,
    /// Connections that have joined their room.
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    /// `message` frames received, in any phase.
    pub deliveries: AtomicU64,
    pub sent: AtomicU64,
    /// Sends the relay acked, over every sender.
    pub acked: AtomicU64,
    /// Deliveries the acked sends owe the room (acks × room size).
    pub owed: AtomicU64,
    /// Deliveries received for the first time.
    pub unique: AtomicU64,
    /// Connections the relay closed before the end.
    pub dropped: AtomicUsize,
    /// Time to a `joined` reply, microseconds, from every connection.
    pub connect_us: Mutex<Histogram<u64>>,
}

impl Shared {
    pub fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }
}

pub enum SendMode {
    /// Messages per second.
    Rate(f64),
    /// As fast as acks come back, with at most this many unacked.
    Window(usize),
}

pub struct Plan {
    pub index: usize,
    pub room: String,
    /// Connections in the room (each delivery of a send goes to all).
    pub room_size: u64,
    /// This connection's sender number and how it sends.
    pub send: Option<(u32, SendMode)>,
    pub text_bytes: usize,
}

/// What one receiver saw from one sender: the relay delivers a sender's
/// messages in order, so a counter below `next` is a duplicate and a jump
/// above it is a loss.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    pub next: u64,
    pub gaps: u64,
    pub dups: u64,
}

#[derive(Default)]
pub struct Outcome {
    pub latency: Option<Histogram<u64>>,
    pub seen: HashMap<u32, Seen>,
    /// For a sender: its number and how many of its sends were acked.
    pub acked: Option<(u32, u64)>,
    pub error: Option<String>,
    pub room: String,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 2).expect("static bounds are valid")
}

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// Opens one WebSocket, from 127.0.0.x when the relay is on IPv4 loopback.
pub async fn connect(
    url: &str,
    addr: SocketAddr,
    index: usize,
    source_offset: usize,
) -> anyhow::Result<Ws> {
    let socket = match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let socket = TcpSocket::new_v4()?;
            let host = 1 + ((source_offset + index / CONNS_PER_SOURCE_IP) % 250) as u8;
            bind_address_no_port(&socket);
            socket.bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, host).into(), 0))?;
            socket
        }
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Leaves the port of a `bind` to `connect`. Binding port 0 otherwise makes
/// the kernel search for a port no socket holds, which gets slower with
/// every open connection (with 19,000 open, it was most of the bench's
/// system time and of its setup time); `connect` picks a port free for
/// this destination only. Linux only; elsewhere, nothing changes.
fn bind_address_no_port(socket: &TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
        // A kernel without it (before 4.2) searches as before.
        let _ = setsockopt(socket, IpBindAddressNoPort, &true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// `hello` and `join`, encoded by the protocol crate like any client's.
pub fn hello_frames(nick: &str, room: &str) -> anyhow::Result<[String; 2]> {
    let hello = ClientMsg::Hello {
        nick: Some(Nick::new(nick)?),
        resume: None,
        token: None,
    };
    let join = ClientMsg::Join {
        room: RoomName::new(room)?,
        since: None,
    };
    Ok([hello.encode(), join.encode()])
}

/// Connects, says hello and joins; returns once `joined` arrived.
pub async fn setup(shared: &Shared, index: usize, room: &str) -> anyhow::Result<Ws> {
    let started = Instant::now();
    let mut ws = tokio::time::timeout(SETUP_TIMEOUT, async {
        let mut ws = connect(&shared.url, shared.addr, index, shared.source_offset).await?;
        for frame in hello_frames(&format!("b{index}"), room)? {
            ws.feed(Message::Text(frame.into())).await?;
        }
        ws.flush().await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.starts_with(r#"{"type":"joined""#) => break,
                Some(Ok(Message::Text(t))) if t.starts_with(r#"{"type":"error""#) => {
                    anyhow::bail!("the relay refused: {t}")
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => anyhow::bail!("closed during setup"),
            }
        }
        anyhow::Ok(ws)
    })
    .await
    .map_err(|_| anyhow::anyhow!("no `joined` within {SETUP_TIMEOUT:?}"))??;
    let took = started.elapsed().as_micros() as u64;
    shared
        .connect_us
        .lock()
        .expect("not poisoned")
        .saturating_record(took.max(1));
    ws.flush().await?;
    Ok(ws)
}

/// Runs one connection through every phase.
/// `permit` limits how many connections are set up at once; it is released
/// once this one has joined.
pub async fn run(
    plan: Plan,
    shared: Arc<Shared>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Outcome {
    let mut outcome = Outcome {
        room: plan.room.clone(),
        ..Outcome::default()
    };
    let setup = setup(&shared, plan.index, &plan.room).await;
    drop(permit);
    let ws = match setup {
        Ok(ws) => ws,
        Err(err) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            outcome.error = Some(format!("{err:#}"));
            return outcome;
        }
    };
    shared.ready.fetch_add(1, Ordering::Relaxed);
    if let Err(err) = traffic(ws, &plan, &shared, &mut outcome).await {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        outcome.error = Some(err);
    }
    outcome
}

async fn traffic(
    mut ws: Ws,
    plan: &Plan,
    shared: &Shared,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let mut phase_rx = shared.phase.clone();
    let mut latency = histogram();
    let mut counter: u64 = 0;
    let mut acked: u64 = 0;
    let mut inflight: usize = 0;
    let padding = "x".repeat(plan.text_bytes.saturating_sub(24));
    let room = RoomName::new(&plan.room).map_err(|err| format!("{}: {err}", plan.room))?;
    let (sender, window, period) = match &plan.send {
        Some((id, SendMode::Rate(rate))) => (
            Some(*id),
            usize::MAX,
            Some(Duration::from_secs_f64(1.0 / rate.max(0.001))),
        ),
        Some((id, SendMode::Window(w))) => (Some(*id), (*w).max(1), None),
        None => (None, 0, None),
    };
    let mut ticker = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut result = Ok(());
    loop {
        let phase = *phase_rx.borrow();
        if phase == Phase::Done {
            break;
        }
        let sending = phase == Phase::Run && sender.is_some();
        if sending && period.is_none() && inflight < window {
            let mut burst = 0;
            while inflight < window {
                let frame = match send_frame(shared, &room, sender.unwrap_or(0), counter, &padding)
                {
                    Ok(frame) => frame,
                    Err(err) => {
                        result = Err(format!("cannot send: {err}"));
                        break;
                    }
                };
                counter += 1;
                inflight += 1;
                burst += 1;
                if let Err(err) = ws.feed(Message::Text(frame.into())).await {
                    result = Err(format!("send failed: {err}"));
                    break;
                }
            }
            shared.sent.fetch_add(burst, Ordering::Relaxed);
            if let Err(err) = ws.flush().await {
                result = Err(format!("send failed: {err}"));
            }
            if result.is_err() {
                break;
            }
        }
        tokio::select! {
            biased;
            changed = phase_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                if *phase_rx.borrow() == Phase::Run {
                    // Each sender at its own phase of the period, spread
                    // evenly (the golden ratio's multiples mod 1), as
                    // people type: senders that all start on the same
                    // tick send in lockstep, and every period becomes one
                    // burst of every room's message at once.
                    if let (Some(id), Some(period)) = (sender, period) {
                        let phase = (f64::from(id) * 0.618_033_988_75).fract();
                        ticker.reset_at(tokio::time::Instant::now() + period.mul_f64(phase));
                    }
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str();
                    if text.starts_with(r#"{"type":"message""#) {
                        shared.deliveries.fetch_add(1, Ordering::Relaxed);
                        if let Some((stamp, from, n)) = parse_text(text) {
                            latency.saturating_record(shared.now_us().saturating_sub(stamp).max(1));
                            let seen = outcome.seen.entry(from).or_default();
                            if n < seen.next {
                                seen.dups += 1;
                            } else {
                                seen.gaps += n - seen.next;
                                seen.next = n + 1;
                                shared.unique.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    } else if text.starts_with(r#"{"type":"ack""#) {
                        acked += 1;
                        inflight = inflight.saturating_sub(1);
                        shared.owed.fetch_add(plan.room_size, Ordering::Relaxed);
                        shared.acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if phase < Phase::Done {
                        result = Err(format!("closed by the relay: {frame:?}"));
                    }
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    result = Err(format!("connection failed: {err}"));
                    break;
                }
                None => {
                    result = Err("connection ended".to_owned());
                    break;
                }
            },
            _ = ticker.tick(), if sending && period.is_some() => {
                let frame = match send_frame(shared, &room, sender.unwrap_or(0), counter, &padding) {
                    Ok(frame) => frame,
                    Err(err) => {
                        result = Err(format!("cannot send: {err}"));
                        break;
                    }
                };
                counter += 1;
                shared.sent.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = ws.send(Message::Text(frame.into())).await {
                    result = Err(format!("send failed: {err}"));
                    break;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    outcome.latency = Some(latency);
    outcome.acked = sender.map(|id| (id, acked));
    result
}

/// A `send` encoded with [`ClientMsg`] (writing is cheap next to reading:
/// one frame per send, against one per delivery). Fails when the text is
/// not valid (`--text-bytes` too large).
fn send_frame(
    shared: &Shared,
    room: &RoomName,
    sender: u32,
    n: u64,
    padding: &str,
) -> Result<String, Invalid> {
    let stamp = shared.now_us();
    let frame = ClientMsg::Send {
        reply_to: None,
        attachments: Vec::new(),
        room: room.clone(),
        text: Text::new(&format!("{stamp} {sender}:{n} {padding}"))?,
        client_id: ClientId::new(&format!("s{sender}-{n}"))?,
    };
    Ok(frame.encode())
}

/// Reads `<stamp> <sender>:<counter>` from a `message` frame's text.
fn parse_text(frame: &str) -> Option<(u64, u32, u64)> {
    const KEY: &str = r#""text":""#;
    let start = frame.find(KEY)? + KEY.len();
    let mut parts = frame[start..].splitn(3, [' ', ':']);
    let stamp = parts.next()?.parse().ok()?;
    let sender = parts.next()?.parse().ok()?;
    let n = parts.next()?.split([' ', '"']).next()?.parse().ok()?;
    Some((stamp, sender, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stamp_from_a_message_frame() {
        let frame = r#"{"type":"message","room":"r","seq":3,"from":{"id":"u-1","nick":"b1"},"text":"123456 7:42 xxxx","ts":1}"#;
        assert_eq!(parse_text(frame), Some((123_456, 7, 42)));
        let short = r#"{"type":"message","text":"9 1:0","ts":1}"#;
        assert_eq!(parse_text(short), Some((9, 1, 0)));
        assert_eq!(parse_text(r#"{"type":"message","text":"hello"}"#), None);
    }
}
