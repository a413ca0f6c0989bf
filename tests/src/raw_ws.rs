//! A WebSocket client written byte by byte (RFC 6455), with no WebSocket
//! library: the handshake as text, frames encoded and decoded here. It can
//! send what a library never would (unmasked frames, reserved bits and
//! opcodes, lengths written long, a frame in pieces), so the WebSocket
//! conformance tests (`e2e/websocket.rs`) pin what the relay's own
//! WebSocket layer does, whichever implementation is behind it.

use std::{net::SocketAddr, time::Duration};

use crate::relay::parse_head;
use anyhow::{anyhow, bail, Context};
use shared::{ErrorCode, ServerMsg};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How long one expected frame, or the end of the connection, may take.
pub const READ_WAIT: Duration = Duration::from_secs(5);

/// The `Sec-WebSocket-Key` of RFC 6455's example (section 1.3) ...
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// ... and the `Sec-WebSocket-Accept` it must be answered with.
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The masking key of RFC 6455's examples (section 5.7).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Frame opcodes (RFC 6455, section 5.2).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A correct upgrade request for `/ws`, with RFC 6455's example key.
pub fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    )
}

/// How a frame's payload length is written: in the fewest bytes, as RFC
/// 6455 asks of senders, or in the 16- or 64-bit extended field whatever
/// the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Shortest,
    Bits16,
    Bits64,
}

/// A client frame to send, masked with [`MASK`] unless told otherwise.
#[derive(Clone, Debug)]
pub struct Out {
    pub fin: bool,
    /// RSV1..RSV3 as the frame's first byte holds them (0x40, 0x20, 0x10).
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub length: Length,
    pub payload: Vec<u8>,
}

impl Out {
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Out {
        Out {
            fin: true,
            rsv: 0,
            opcode,
            masked: true,
            length: Length::Shortest,
            payload: payload.into(),
        }
    }

    pub fn text(text: &str) -> Out {
        Out::new(opcode::TEXT, text)
    }

    /// A frame that is not the last of its message (FIN clear).
    pub fn more(mut self) -> Out {
        self.fin = false;
        self
    }

    pub fn rsv1(mut self) -> Out {
        self.rsv = 0x40;
        self
    }

    pub fn unmasked(mut self) -> Out {
        self.masked = false;
        self
    }

    pub fn length(mut self, length: Length) -> Out {
        self.length = length;
        self
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![u8::from(self.fin) << 7 | self.rsv | self.opcode];
        let mask_bit = u8::from(self.masked) << 7;
        let len = self.payload.len();
        let length = match self.length {
            Length::Shortest if len <= 125 => None,
            Length::Shortest if len <= 0xFFFF => Some(Length::Bits16),
            Length::Shortest => Some(Length::Bits64),
            explicit => Some(explicit),
        };
        match length {
            None => bytes.push(mask_bit | len as u8),
            Some(Length::Bits16) => {
                bytes.push(mask_bit | 126);
                let len = u16::try_from(len).expect("16-bit length holds the payload");
                bytes.extend_from_slice(&len.to_be_bytes());
            }
            Some(_) => {
                bytes.push(mask_bit | 127);
                bytes.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if self.masked {
            bytes.extend_from_slice(&MASK);
            bytes.extend(
                self.payload
                    .iter()
                    .zip(MASK.iter().cycle())
                    .map(|(b, m)| b ^ m),
            );
        } else {
            bytes.extend_from_slice(&self.payload);
        }
        bytes
    }
}

/// A close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// A frame the relay sent, as it was on the wire.
#[derive(Clone, Debug)]
pub struct In {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    /// The 7-bit length field: the length itself (0..=125), or 126 or 127
    /// for a 16- or 64-bit extended length.
    pub length_field: u8,
    pub payload: Vec<u8>,
}

impl In {
    /// The close code of a close frame (`None` for an empty close frame).
    pub fn close_code(&self) -> Option<u16> {
        let code = self.payload.get(..2)?;
        Some(u16::from_be_bytes([code[0], code[1]]))
    }

    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }

    /// A text frame's message.
    pub fn msg(&self) -> anyhow::Result<ServerMsg> {
        if self.opcode != opcode::TEXT {
            bail!("expected a text frame, got {self:?}");
        }
        let text = std::str::from_utf8(&self.payload).context("text frame is not UTF-8")?;
        ServerMsg::decode(text).with_context(|| format!("unparsable frame: {text}"))
    }
}

/// The answer to an HTTP request: its status and its headers (names
/// lowercased, values as sent).
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One TCP connection speaking WebSocket frame by frame.
pub struct RawWs {
    pub tcp: TcpStream,
    /// Bytes read but not yet decoded.
    buf: Vec<u8>,
}

impl RawWs {
    /// Sends `request` (a whole HTTP request head) and reads the answer's
    /// head; what follows it stays for [`RawWs::read_frame`].
    pub async fn request(addr: SocketAddr, request: &str) -> anyhow::Result<(Head, RawWs)> {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tcp.write_all(request.as_bytes()).await?;
        let mut ws = RawWs {
            tcp,
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(end) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            ws.fill().await.context("reading the response head")?;
        };
        let (status, headers) = parse_head(&String::from_utf8_lossy(&ws.buf[..end]))?;
        ws.buf.drain(..end + 4);
        Ok((Head { status, headers }, ws))
    }

    /// A connection upgraded with a correct request; fails unless `101`.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<RawWs> {
        let (head, ws) = RawWs::request(addr, &upgrade_request(addr)).await?;
        if head.status != 101 {
            bail!("upgrade refused: {head:?}");
        }
        Ok(ws)
    }

    /// Connects and says `hello`; returns the `welcome` frame as sent.
    pub async fn hello(addr: SocketAddr, nick: &str) -> anyhow::Result<(RawWs, In)> {
        let mut ws = RawWs::connect(addr).await?;
        ws.send(&Out::text(&hello(nick))).await?;
        let welcome = ws.read_frame().await?;
        match welcome.msg()? {
            ServerMsg::Welcome { .. } => Ok((ws, welcome)),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.tcp.write_all(bytes).await.context("write failed")
    }

    pub async fn send(&mut self, frame: &Out) -> anyhow::Result<()> {
        self.write(&frame.encode()).await
    }

    /// Reads more bytes into the buffer, within [`READ_WAIT`].
    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0; 16 * 1024];
        let n = tokio::time::timeout(READ_WAIT, self.tcp.read(&mut chunk))
            .await
            .map_err(|_| anyhow!("nothing arrived within {READ_WAIT:?}"))??;
        if n == 0 {
            bail!("the relay closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Ensures `n` bytes are buffered.
    async fn need(&mut self, n: usize) -> anyhow::Result<()> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(())
    }

    /// The next frame the relay sends, whatever it is.
    pub async fn read_frame(&mut self) -> anyhow::Result<In> {
        self.need(2).await?;
        let (first, second) = (self.buf[0], self.buf[1]);
        let masked = second & 0x80 != 0;
        let length_field = second & 0x7F;
        let (len, mut at) = match length_field {
            126 => {
                self.need(4).await?;
                (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
            }
            127 => {
                self.need(10).await?;
                let bytes: [u8; 8] = self.buf[2..10].try_into().expect("eight bytes");
                (u64::from_be_bytes(bytes), 10)
            }
            len => (u64::from(len), 2),
        };
        let len = usize::try_from(len).context("frame length")?;
        let mask = if masked {
            self.need(at + 4).await?;
            let mask: [u8; 4] = self.buf[at..at + 4].try_into().expect("four bytes");
            at += 4;
            Some(mask)
        } else {
            None
        };
        self.need(at + len).await?;
        let mut payload: Vec<u8> = self.buf.drain(..at + len).skip(at).collect();
        if let Some(mask) = mask {
            payload
                .iter_mut()
                .zip(mask.iter().cycle())
                .for_each(|(b, m)| *b ^= m);
        }
        Ok(In {
            fin: first & 0x80 != 0,
            rsv: first & 0x70,
            opcode: first & 0x0F,
            masked,
            length_field,
            payload,
        })
    }

    /// The first message frame that matches, past the others, with the
    /// frame as it was sent.
    pub async fn recv_until(
        &mut self,
        want: impl Fn(&ServerMsg) -> bool,
    ) -> anyhow::Result<(ServerMsg, In)> {
        loop {
            let frame = self.read_frame().await?;
            if frame.opcode == opcode::PING {
                continue;
            }
            let msg = frame.msg()?;
            if want(&msg) {
                return Ok((msg, frame));
            }
        }
    }

    /// The code of the next `error` frame, past the others.
    pub async fn expect_error(&mut self) -> anyhow::Result<ErrorCode> {
        match self
            .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
            .await?
        {
            (ServerMsg::Error { code, .. }, _) => Ok(code),
            (other, _) => bail!("expected an error, got {other:?}"),
        }
    }

    /// The relay ends the connection: the close frame it sends (past any
    /// other frames), then the end of the TCP stream, each within
    /// [`READ_WAIT`]. `None` when the connection ended with no close frame.
    pub async fn closing(&mut self) -> anyhow::Result<Option<In>> {
        let close = loop {
            match self.read_frame().await {
                Ok(frame) if frame.opcode == opcode::CLOSE => break Some(frame),
                Ok(_) => continue,
                Err(_) if self.ended().await => break None,
                Err(err) => return Err(err),
            }
        };
        if !self.ended().await {
            bail!("the TCP connection stayed open after {close:?}");
        }
        Ok(close)
    }

    /// Whether the relay closes the TCP connection (end of stream, or a
    /// reset) within [`READ_WAIT`]; bytes arriving meanwhile are dropped.
    async fn ended(&mut self) -> bool {
        let mut chunk = [0; 4096];
        let deadline = tokio::time::Instant::now() + READ_WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut chunk)).await {
                Err(_elapsed) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

/// A `hello` frame's text (docs/PROTOCOL.md).
pub fn hello(nick: &str) -> String {
    format!(r#"{{"type":"hello","nick":"{nick}"}}"#)
}
