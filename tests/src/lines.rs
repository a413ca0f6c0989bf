//! A raw line client over TCP, for the gateways: it sends lines and waits
//! (bounded by `WAIT`) for the line it expects, keeping what it skipped.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
};

use crate::WAIT;

pub struct LineClient {
    reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    /// Every line received so far, for failure messages.
    pub seen: Vec<String>,
}

impl LineClient {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<LineClient> {
        let stream = TcpStream::connect(addr)
            .await
            .context("connect to gateway")?;
        let (read, writer) = stream.into_split();
        Ok(LineClient {
            reader: BufReader::new(read),
            writer,
            seen: Vec::new(),
        })
    }

    /// Sends `line` and a newline (`\r\n`, which both gateways take).
    pub async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.send_bytes(format!("{line}\r\n").as_bytes()).await
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer
            .write_all(bytes)
            .await
            .context("write to gateway")
    }

    /// The next line (without its ending); `None` when the gateway closed.
    pub async fn next(&mut self) -> anyhow::Result<Option<String>> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf))
            .await
            .with_context(|| format!("no line within {WAIT:?}; seen: {:#?}", self.seen))??;
        if n == 0 {
            return Ok(None);
        }
        let line = String::from_utf8(buf).context("the gateway sent invalid UTF-8")?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        self.seen.push(line.clone());
        Ok(Some(line))
    }

    /// Reads until a line satisfies `want`, and returns it.
    pub async fn expect(
        &mut self,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.next())
                .await
                .with_context(|| {
                    format!("no line {what} within {WAIT:?}; seen: {:#?}", self.seen)
                })??;
            match line {
                Some(line) if want(&line) => return Ok(line),
                Some(_) => {}
                None => bail!(
                    "the gateway closed before a line {what}; seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Reads until the line `exact` arrives.
    pub async fn expect_line(&mut self, exact: &str) -> anyhow::Result<()> {
        self.expect(&format!("{exact:?}"), |line| line == exact)
            .await
            .map(drop)
    }

    /// Reads until the gateway closes; returns the lines it sent meanwhile.
    pub async fn expect_closed(&mut self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Err(_) => bail!("the gateway did not close; seen: {:#?}", self.seen),
                Ok(Ok(Some(line))) => lines.push(line),
                Ok(Ok(None)) => return Ok(lines),
                // A reset also ends the connection.
                Ok(Err(_)) => return Ok(lines),
            }
        }
    }
}
