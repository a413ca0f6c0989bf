//! The reading half: bytes from the socket to whole client messages.
//!
//! On plain TCP the reader waits for readiness with no buffer, reads into
//! one only when bytes are there, and lets it go once they are all parsed:
//! an idle connection holds nothing here. A frame split across reads keeps
//! its bytes until the rest arrives.
//!
//! [`Reader`] is a `Stream` and keeps all its state in itself, so dropping
//! a pending `next()` (the session's `select!`) loses no byte.

use std::{
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use futures_util::Stream;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{io::ReadHalf, net::tcp::OwnedReadHalf};

use super::{
    frame::{self, Opcode},
    Control, Error, Message,
};

/// Bytes asked of the socket per read, at least.
const READ_CHUNK: usize = 4096;

enum Source {
    Tcp(OwnedReadHalf),
    Other(ReadHalf<TokioIo<Upgraded>>),
}

pub struct Reader {
    source: Source,
    /// Bytes read and not yet parsed, from `start`.
    buf: Vec<u8>,
    start: usize,
    /// A fragmented message being gathered: its kind and bytes so far.
    partial: Option<(Opcode, Vec<u8>)>,
    max_message: usize,
    control: Arc<Control>,
    /// Set after a close, an error or the end: nothing more is read.
    done: bool,
}

impl Reader {
    pub(super) fn tcp(
        read: OwnedReadHalf,
        buffered: Vec<u8>,
        max_message: usize,
        control: Arc<Control>,
    ) -> Reader {
        Reader::new(Source::Tcp(read), buffered, max_message, control)
    }

    pub(super) fn other(
        read: ReadHalf<TokioIo<Upgraded>>,
        max_message: usize,
        control: Arc<Control>,
    ) -> Reader {
        Reader::new(Source::Other(read), Vec::new(), max_message, control)
    }

    fn new(source: Source, buf: Vec<u8>, max_message: usize, control: Arc<Control>) -> Reader {
        Reader {
            source,
            buf,
            start: 0,
            partial: None,
            max_message,
            control,
            done: false,
        }
    }

    /// The next whole message in the bytes already read, if there is one.
    fn parse(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let Some(header) = frame::parse_header(&self.buf[self.start..])? else {
                return Ok(None);
            };
            let gathered = self.partial.as_ref().map_or(0, |(_, bytes)| bytes.len());
            if !header.opcode.is_control() && gathered as u64 + header.len > self.max_message as u64
            {
                return Err(Error::TooBig(self.max_message));
            }
            let end = self.start + header.size + header.len as usize;
            if self.buf.len() < end {
                return Ok(None);
            }
            let payload = &mut self.buf[self.start + header.size..end];
            frame::unmask(payload, header.mask);
            self.start = end;
            if let Some(message) =
                self.take(header.opcode, header.fin, end - header.len as usize)?
            {
                return Ok(Some(message));
            }
        }
    }

    /// Acts on one unmasked frame whose payload starts at `at` and ends at
    /// `self.start`: a message when it completes one.
    fn take(&mut self, opcode: Opcode, fin: bool, at: usize) -> Result<Option<Message>, Error> {
        let payload = &self.buf[at..self.start];
        let message = match (opcode, self.partial.take()) {
            (Opcode::Ping, partial) => {
                self.partial = partial;
                self.control.ping(payload);
                Message::Ping
            }
            (Opcode::Pong, partial) => {
                self.partial = partial;
                Message::Pong
            }
            (Opcode::Close, _) => {
                let code = frame::close_code(payload)?;
                self.control.closed_by_client(code);
                self.done = true;
                Message::Close(code)
            }
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(Error::Protocol("a new message inside a fragmented one"))
            }
            (Opcode::Continuation, None) => {
                return Err(Error::Protocol("a continuation with no message begun"))
            }
            (Opcode::Text | Opcode::Binary, None) if !fin => {
                self.partial = Some((opcode, payload.to_vec()));
                return Ok(None);
            }
            (Opcode::Continuation, Some((kind, mut bytes))) => {
                bytes.extend_from_slice(payload);
                if !fin {
                    self.partial = Some((kind, bytes));
                    return Ok(None);
                }
                whole(kind, bytes)?
            }
            (kind, None) => whole(kind, payload.to_vec())?,
        };
        Ok(Some(message))
    }

    /// Reads more bytes: `Ok(0)` at the end of the stream.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        // Parsed bytes are dropped first: an empty buffer is let go, a
        // frame's head moved to the front.
        if self.start == self.buf.len() {
            self.buf = Vec::new();
        } else if self.start > 0 {
            self.buf.drain(..self.start);
        }
        self.start = 0;
        let want = frame::parse_header(&self.buf)
            .ok()
            .flatten()
            .map_or(0, |header| header.size.saturating_add(header.len as usize));
        let room = READ_CHUNK.max(want.saturating_sub(self.buf.len()));
        match &mut self.source {
            Source::Tcp(read) => loop {
                // Readiness first, so an idle connection holds no buffer.
                ready!(read.as_ref().poll_read_ready(cx))?;
                self.buf.reserve(room);
                match read.try_read_buf(&mut self.buf) {
                    // Readiness was stale: wait again, holding nothing.
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                        if self.buf.is_empty() {
                            self.buf = Vec::new();
                        }
                    }
                    read => return Poll::Ready(read),
                }
            },
            Source::Other(read) => {
                self.buf.reserve(room);
                tokio_util::io::poll_read_buf(Pin::new(read), cx, &mut self.buf)
            }
        }
    }
}

/// A whole data message: text must be UTF-8.
fn whole(kind: Opcode, bytes: Vec<u8>) -> Result<Message, Error> {
    Ok(match kind {
        Opcode::Text => Message::Text(String::from_utf8(bytes).map_err(|_| Error::NotUtf8)?),
        _ => Message::Binary(bytes),
    })
}

impl Stream for Reader {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.parse() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(err) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            let read = ready!(this.fill(cx));
            match read {
                Ok(0) => {
                    this.done = true;
                    let inside = !this.buf.is_empty() || this.partial.is_some();
                    return Poll::Ready(inside.then_some(Err(Error::Truncated)));
                }
                Ok(_) => {}
                Err(err) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{FutureExt, StreamExt};
    use tokio::{
        io::AsyncWriteExt,
        net::{TcpListener, TcpStream},
    };

    use super::*;

    /// A reader on the relay's end of a real loopback connection, and the
    /// client's end.
    async fn connected() -> (Reader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (relay, _) = listener.accept().await.unwrap();
        let (read, _write) = relay.into_split();
        let reader = Reader::tcp(read, Vec::new(), 1024, Arc::default());
        (reader, client)
    }

    /// A masked client text frame.
    fn text_frame(text: &str) -> Vec<u8> {
        let mask = [7, 21, 99, 200];
        let mut out = Vec::new();
        frame::write(&mut out, Opcode::Text, text.as_bytes());
        out[1] |= 0x80;
        let at = out.len() - text.len();
        out.splice(at..at, mask);
        frame::unmask(&mut out[at + 4..], mask);
        out
    }

    /// Polls the reader until it waits for the socket.
    async fn until_waiting(reader: &mut Reader) {
        let waited = tokio::time::timeout(Duration::from_millis(50), reader.next()).await;
        assert!(waited.is_err(), "nothing more was sent: {waited:?}");
    }

    #[tokio::test]
    async fn a_reader_waiting_for_its_client_holds_no_buffer() {
        let (mut reader, mut client) = connected().await;
        // One frame a read, then two in one.
        for texts in [&["first"][..], &["second", "third"]] {
            let bytes: Vec<u8> = texts.iter().flat_map(|text| text_frame(text)).collect();
            client.write_all(&bytes).await.unwrap();
            for text in texts {
                let message = reader.next().await.unwrap().unwrap();
                assert_eq!(message, Message::Text(text.to_string()));
            }
            // Polled once, as a session waiting for its client is: a
            // timer's wake-up would poll again and hide a buffer taken on
            // the first poll (tokio keeps the socket "readable" until a
            // read finds nothing).
            assert!(
                reader.next().now_or_never().is_none(),
                "nothing more was sent"
            );
            assert_eq!(reader.buf.capacity(), 0, "after {texts:?}");
        }
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_keeps_its_bytes_until_the_rest_arrives() {
        let (mut reader, mut client) = connected().await;
        let frame = text_frame(&"x".repeat(300));
        client.write_all(&frame[..3]).await.unwrap();
        until_waiting(&mut reader).await;
        client.write_all(&frame[3..150]).await.unwrap();
        until_waiting(&mut reader).await;
        client.write_all(&frame[150..]).await.unwrap();
        let message = reader.next().await.unwrap().unwrap();
        assert_eq!(message, Message::Text("x".repeat(300)));
    }
}
