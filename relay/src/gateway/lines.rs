//! Lines of bounded length from a byte stream. A line past the bound is
//! skipped to its end and reported as [`Line::TooLong`], so one oversized
//! line costs its sender an error, not the connection, and costs the relay
//! no more than the bound in memory.
//!
//! [`LineReader::next`] is cancel-safe: everything read is kept in the
//! reader between calls, so it can be one branch of a `select!`.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What the client sent: a line's bytes (without `\r\n` or `\n`, not yet
/// checked to be UTF-8), or a line that was too long.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Bytes(Vec<u8>),
    TooLong,
}

pub struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    /// Skipping the rest of a line that passed `max`.
    skipping: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Reads lines of at most `max` bytes (without the line ending).
    pub fn new(reader: R, max: usize) -> Self {
        LineReader {
            reader,
            max,
            buf: Vec::new(),
            skipping: false,
        }
    }

    /// The next line; `None` at the end of the stream (a last line without
    /// a newline is still a line).
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.skipping {
                    self.skipping = false;
                    return Ok(Some(Line::TooLong));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], Some(at)),
                None => (available, None),
            };
            if !self.skipping {
                if self.buf.len() + chunk.len() > self.max + 1 {
                    // +1: a `\r` before the `\n` does not count.
                    self.buf.clear();
                    self.skipping = true;
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = found.map_or(chunk.len(), |at| at + 1);
            self.reader.consume(used);
            if found.is_some() {
                if std::mem::take(&mut self.skipping) {
                    return Ok(Some(Line::TooLong));
                }
                let line = self.take();
                if let Line::Bytes(bytes) = &line {
                    if bytes.len() > self.max {
                        return Ok(Some(Line::TooLong));
                    }
                }
                return Ok(Some(line));
            }
        }
    }

    fn take(&mut self) -> Line {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Bytes(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny buffer, so lines arrive in many pieces.
        let reader = tokio::io::BufReader::with_capacity(3, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn bytes(s: &str) -> Line {
        Line::Bytes(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn lines_end_at_newlines_with_or_without_cr() {
        assert_eq!(
            all(b"hello\r\nworld\n\nlast", 10).await,
            [bytes("hello"), bytes("world"), bytes(""), bytes("last")]
        );
    }

    #[tokio::test]
    async fn a_long_line_is_skipped_whole_and_the_next_one_read() {
        assert_eq!(
            all(b"0123456789\nabcdefghijk\nok\n", 10).await,
            [bytes("0123456789"), Line::TooLong, bytes("ok")]
        );
        assert_eq!(all(b"abcdefghijklmnop", 10).await, [Line::TooLong]);
    }
}
