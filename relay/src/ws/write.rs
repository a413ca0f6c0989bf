//! The writing half: frames out, many per write.
//!
//! A [`Batch`] encodes frames into one buffer that is written with as few
//! syscalls as the socket allows and then dropped, so no connection keeps
//! a buffer sized by its largest write.

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{
    frame::{self, Opcode},
    Control,
};

/// Frames to write together.
#[derive(Default)]
pub struct Batch(Vec<u8>);

impl Batch {
    pub fn text(&mut self, text: &str) {
        frame::write(&mut self.0, Opcode::Text, text.as_bytes());
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn ping(&mut self) {
        frame::write(&mut self.0, Opcode::Ping, &[]);
    }

    fn pong(&mut self, payload: &[u8]) {
        frame::write(&mut self.0, Opcode::Pong, payload);
    }

    /// A close frame; the reason is cut to fit a control frame.
    fn close(&mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(frame::MAX_CONTROL - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        frame::write(&mut self.0, Opcode::Close, &payload);
    }
}

pub struct Writer {
    sink: Box<dyn AsyncWrite + Send + Unpin>,
    control: Arc<Control>,
}

impl Writer {
    pub(super) fn new(sink: Box<dyn AsyncWrite + Send + Unpin>, control: Arc<Control>) -> Writer {
        Writer { sink, control }
    }

    /// Writes every frame of `batch`, then lets its buffer go.
    pub async fn write(&mut self, batch: Batch) -> std::io::Result<()> {
        self.sink.write_all(&batch.0).await?;
        self.sink.flush().await
    }

    /// A ping, when the connection has been quiet.
    pub async fn ping(&mut self) -> std::io::Result<()> {
        let mut batch = Batch::default();
        batch.ping();
        self.write(batch).await
    }

    /// The answer to the client's latest ping ([`Control::pong_due`]).
    pub async fn pong(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut batch = Batch::default();
        batch.pong(payload);
        self.write(batch).await
    }

    /// What the reader left for this half: [`Control::pong_due`] is
    /// waited on beside the writes.
    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    /// Writes `batch` (frames still owed), then the close frame and the end
    /// of the stream. `code` is the relay's reason, unless the client
    /// closed first: then its code is echoed (section 5.5.1).
    pub async fn close(
        &mut self,
        mut batch: Batch,
        code: u16,
        reason: impl Fn(u16) -> &'static str,
    ) -> std::io::Result<()> {
        let code = self.control.close_code(code);
        batch.close(code, reason(code));
        self.write(batch).await?;
        self.sink.shutdown().await
    }
}
