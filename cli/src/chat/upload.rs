//! `/upload PATH [text]`: the file goes to the relay's `POST /files`
//! (streamed from disk, over the relay's own address, authenticated with
//! the resume token from `welcome` or, in token mode, a fresh signed
//! token), then a `send` names it in `attachments`, with the text if any.
//!
//! The send is written directly, not through the shared outbox, which
//! queues texts only: a send with a file that is lost with the connection
//! is not resent (the user sees no ack and can `/upload` again).

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use shared::{client::Client, protocol::AttachmentRef, ClientMsg, FileId, RoomName, Text};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// What `POST /files` answers that the client uses.
#[derive(Debug, Deserialize)]
pub struct Uploaded {
    pub id: FileId,
    pub name: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub mime: String,
}

/// One attachment as the terminal clients print it:
/// ` [file: NAME (SIZE) URL]`, the URL made absolute with `base`.
pub fn file_note(a: &shared::protocol::Attachment, base: &str) -> String {
    format!(
        " [file: {} ({}) {base}{}]",
        a.name,
        human_size(a.size),
        a.url
    )
}

/// `host:port` of a `ws://host:port/path` URL: the relay's HTTP address.
pub fn http_authority(ws_url: &str) -> anyhow::Result<&str> {
    let rest = ws_url
        .strip_prefix("ws://")
        .context("uploads need a ws:// relay URL")?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// Uploads `path` to the relay at `authority`.
pub async fn upload(authority: &str, token: &str, path: &Path) -> anyhow::Result<Uploaded> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().await?.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let name: String = url_encode(&name);
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("cannot reach the relay at {authority}"))?;
    let head = format!(
        "POST /files?name={name} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    // A refusal (413, 429) may come before the body is all sent: the
    // answer counts, not the write.
    let sent = tokio::io::copy(&mut file, &mut stream).await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the relay's answer has no headers")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the relay's answer has no status")?;
    let body = &answer[split + 4..];
    if status != 201 {
        #[derive(Deserialize)]
        struct Refusal {
            message: String,
        }
        let why = serde_json::from_slice::<Refusal>(body)
            .map(|r| r.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_owned());
        bail!("upload refused ({status}): {why}");
    }
    sent.context("the upload broke off")?;
    serde_json::from_slice(body).context("the relay's answer is not a file record")
}

/// `/upload`'s work in either terminal UI: puts the file at `path` on the
/// relay behind `ws_url`, then queues a message carrying it in `client`'s
/// outbox (sent in order, and again after a reconnect until acked).
/// Returns what to tell the user and the frame to write now.
pub async fn send_file(
    client: &mut Client,
    ws_url: &str,
    token: &str,
    room: &RoomName,
    path: &Path,
    text: Text,
) -> anyhow::Result<(String, Option<ClientMsg>)> {
    let file = upload(http_authority(ws_url)?, token, path).await?;
    let told = format!(
        "uploaded {} ({}, {})",
        file.name,
        human_size(file.size),
        file.mime
    );
    let files = vec![AttachmentRef { id: file.id }];
    let (_, frame) = client.send_files(room, text, files, None, super::now_ms());
    Ok((told, frame))
}

/// The text of a message that carries a file: empty is fine.
pub fn message_text(text: &str) -> anyhow::Result<Text> {
    if text.trim().is_empty() {
        return Ok(Text::empty());
    }
    Text::new(text).map_err(|err| anyhow::anyhow!("{err}"))
}

/// A human size: `512 B`, `1.5 KiB`, `25.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            http_authority("ws://127.0.0.1:8080/ws").unwrap(),
            "127.0.0.1:8080"
        );
        assert!(http_authority("wss://x/ws").is_err());
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(25 * 1024 * 1024), "25.0 MiB");
        assert_eq!(url_encode("a b/é.png"), "a%20b%2F%C3%A9.png");
    }
}
