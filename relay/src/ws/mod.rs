//! The relay's own WebSocket (RFC 6455, server side), so that an idle
//! connection holds no buffer at all.
//!
//! A library WebSocket keeps a read buffer allocated while it waits and a
//! write buffer at the capacity of the largest write it ever made (for a
//! big room's member, `welcome` and `joined` with its first members): about
//! 4 KB of every idle connection's 11 KiB (docs/PERFORMANCE.md). Here:
//!
//! - `upgrade`: the HTTP/1.1 handshake, as an axum extractor.
//! - `frame`: frames as bytes (headers, masks, close payloads), pure.
//! - `read`: [`Reader`] waits for the socket to be readable *before* it
//!   takes a buffer, and lets it go once every byte read is parsed.
//! - `write`: [`Writer`] encodes a batch of frames into a buffer that lives
//!   as long as the write, then lets it go.
//!
//! The two halves share a [`Control`]: the reader leaves the pong a ping
//! asks for, and the close code to echo, for the writer to send.
//!
//! Only what Palaver's clients need is spoken: no extensions (the reserved
//! bits must be clear), no subprotocols. Binary messages are read and
//! handed on (the session answers them with an error frame).

mod frame;
mod read;
mod upgrade;
mod write;

use std::sync::{
    atomic::{AtomicU16, Ordering},
    Mutex,
};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use shared::close;
use tokio::{net::TcpStream, sync::Notify};

pub use self::{
    read::Reader,
    upgrade::Upgrade,
    write::{Batch, Writer},
};

/// A message read from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    /// Answered by the writer with a pong; handed on so it is counted.
    Ping,
    Pong,
    /// The client's close code, if it gave one. Nothing follows.
    Close(Option<u16>),
}

/// Why reading a client's frames stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A frame breaking RFC 6455: close 1002.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A text message (or close reason) that is not UTF-8: close 1007.
    #[error("a text message that is not UTF-8")]
    NotUtf8,
    /// A message over the relay's hard limit: close 1009.
    #[error("a message of more than {0} bytes")]
    TooBig(usize),
    /// The connection ended inside a frame.
    #[error("the connection ended inside a frame")]
    Truncated,
}

impl Error {
    /// The close code this error asks for, if any: the others end a
    /// connection that is already gone.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Protocol(_) => Some(close::PROTOCOL_ERROR),
            Error::NotUtf8 => Some(close::NOT_UTF8),
            Error::TooBig(_) => Some(close::MESSAGE_TOO_BIG),
            Error::Io(_) | Error::Truncated => None,
        }
    }
}

/// What the reader leaves for the writer to send.
#[derive(Default)]
pub struct Control {
    /// The payload of the latest ping not yet answered (section 5.5.3: a
    /// pong may answer only the latest).
    pong: Mutex<Option<Vec<u8>>>,
    /// Wakes the writer when a pong is due.
    wake: Notify,
    /// The code of the client's close frame, echoed in the relay's (0:
    /// the client did not close first).
    echo: AtomicU16,
}

impl Control {
    fn ping(&self, payload: &[u8]) {
        *self.pong.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload.to_vec());
        self.wake.notify_one();
    }

    fn closed_by_client(&self, code: Option<u16>) {
        self.echo.store(code.unwrap_or(NORMAL), Ordering::Release);
    }

    /// The close code to send: the client's echoed if it closed first,
    /// else `code`.
    pub fn close_code(&self, code: u16) -> u16 {
        match self.echo.load(Ordering::Acquire) {
            0 => code,
            echo => echo,
        }
    }

    /// Waits until a pong is due, and takes it.
    pub async fn pong_due(&self) -> Vec<u8> {
        loop {
            if let Some(payload) = self.pong.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return payload;
            }
            self.wake.notified().await;
        }
    }
}

/// Close code 1000, "normal closure", the echo of a close with no code.
const NORMAL: u16 = 1000;

/// The two halves of an upgraded connection. A plain TCP connection is
/// split without a lock, and its reader holds no buffer while idle; any
/// other (TLS) through a lock, with a buffer kept.
pub fn split(upgraded: Upgraded, max_message: usize) -> (Reader, Writer) {
    let control = std::sync::Arc::new(Control::default());
    let (reader, write): (_, Box<dyn tokio::io::AsyncWrite + Send + Unpin>) =
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let (read, write) = parts.io.into_inner().into_split();
                let buffered = parts.read_buf.to_vec();
                let reader = Reader::tcp(read, buffered, max_message, control.clone());
                (reader, Box::new(write))
            }
            Err(upgraded) => {
                let (read, write) = tokio::io::split(TokioIo::new(upgraded));
                (
                    Reader::other(read, max_message, control.clone()),
                    Box::new(write),
                )
            }
        };
    (reader, Writer::new(write, control))
}
