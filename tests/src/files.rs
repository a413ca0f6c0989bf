//! Files over HTTP for the tests: uploads (`POST /files`) and downloads
//! over a raw socket, so the test sees exactly what the relay sent, and
//! images made with the `image` crate (a photo with EXIF, a PNG bomb).

use std::{io::Cursor, net::SocketAddr, time::Duration};

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use shared::{protocol::AttachmentRef, ChatMessage, ClientId, ClientMsg, FileId, ServerMsg, Text};

use crate::{client::room, Client, WAIT};

/// What an HTTP request got: status, headers (lowercased names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one HTTP/1.1 request and reads the answer to the end (the relay
/// closes: `Connection: close`). A body the relay stops reading (413) is
/// cut short without failing the request.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Answer> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut read, mut write) = stream.into_split();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            write.write_all(chunk).await?;
        }
        write.flush().await?;
        // Keep the write half open until the answer is read.
        Ok::<_, std::io::Error>(write)
    });
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT * 3, read.read_to_end(&mut raw))
        .await
        .context("no answer in time")??;
    drop(writer);
    parse(&raw)
}

fn parse(raw: &[u8]) -> anyhow::Result<Answer> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status line")?;
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end])?.trim(), 16)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `POST /files?name=NAME` with a bearer token (none when `None`).
pub async fn upload(
    addr: SocketAddr,
    token: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<Answer> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/octet-stream")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    let path = format!(
        "/files?name={}",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    );
    request(addr, "POST", &path, &headers, bytes).await
}

/// Uploads, expecting 201; returns the answer's JSON.
pub async fn uploaded(
    addr: SocketAddr,
    client: &Client,
    name: &str,
    bytes: &[u8],
) -> serde_json::Value {
    let answer = upload(addr, client.resume.as_deref(), name, bytes)
        .await
        .unwrap();
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// Sends `text` with the files `ids` and returns the message as the
/// sender's room delivered it.
pub async fn post(
    client: &mut Client,
    room_name: &str,
    text: &str,
    ids: &[&str],
    client_id: &str,
) -> ChatMessage {
    client
        .send(&ClientMsg::Send {
            room: room(room_name),
            text: if text.is_empty() {
                Text::empty()
            } else {
                Text::new(text).unwrap()
            },
            client_id: ClientId::new(client_id).unwrap(),
            reply_to: None,
            attachments: ids
                .iter()
                .map(|id| AttachmentRef {
                    id: FileId::new(id).unwrap(),
                })
                .collect(),
        })
        .await
        .unwrap();
    match client
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.client_id.as_ref().is_some_and(|c| c.as_str() == client_id)))
        .await
        .unwrap()
    {
        ServerMsg::Message(message) => message,
        _ => unreachable!(),
    }
}

/// Waits (bounded) until `url` answers 404: the file was collected.
pub async fn wait_gone(addr: SocketAddr, url: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = get(addr, url, &[]).await.unwrap().status;
        if status == 404 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} still answers {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` with extra headers.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
    request(addr, "GET", path, headers, &[]).await
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes that look random (no magic number), deterministic.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8 | 0x80
        })
        .collect()
}

/// A PNG of `width` x `height`, with an `eXIf` chunk holding a GPS
/// marker (`GPS-SECRET`) right after its header.
pub fn png_with_exif(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    let png = out.into_inner();
    let ihdr_end = 8 + 25;
    let mut chunk = Vec::new();
    let data = b"MM\0*GPS-SECRET";
    chunk.extend((data.len() as u32).to_be_bytes());
    chunk.extend(b"eXIf");
    chunk.extend(data);
    chunk.extend(crc32(&chunk[4..]).to_be_bytes());
    [&png[..ihdr_end], &chunk, &png[ihdr_end..]].concat()
}

/// A real decompression bomb: a valid 10,000 x 10,000 grey PNG (100 MB of
/// pixels, 300 MB as RGB) that compresses to a few hundred KB.
pub fn png_bomb() -> Vec<u8> {
    let side = 10_000u32;
    let pixels = vec![0u8; (side * side) as usize];
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(&pixels, side, side, image::ExtendedColorType::L8)
    .unwrap();
    out
}

/// PNG's chunk checksum (CRC-32).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

use image::ImageEncoder as _;
