//! Uploading a file to the relay (`POST /files?name=`, docs/PROTOCOL.md)
//! and sending the message that carries it. An `XMLHttpRequest`, not
//! `fetch`, because only it reports upload progress; the resume token is
//! the Bearer credential. Attachment URLs in messages are relative to the
//! relay, which may sit on another origin than the app.

use leptos::prelude::*;
use serde::Deserialize;
use shared::client::Target;
use shared::protocol::AttachmentRef;
use shared::{ClientId, FileId, RoomName, Text};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::{now_ms, Chat};

/// What an upload reports: bytes sent of all, then its end.
pub enum UploadEvent {
    Progress { loaded: f64, total: f64 },
    Done(Result<FileId, UploadFailure>),
}

/// Why an upload ended without a file.
pub enum UploadFailure {
    /// The relay could not be reached (or the request was cancelled): the
    /// same file may be sent again when it is back.
    Unreachable,
    /// The relay answered no, in words with what to do.
    Refused(String),
}

/// A running upload; dropping it does not stop it, `cancel` does.
pub struct UploadHandle {
    xhr: web_sys::XmlHttpRequest,
    /// The event listeners, kept alive as long as the request may call them.
    _listeners: Vec<Closure<dyn FnMut(web_sys::ProgressEvent)>>,
}

impl UploadHandle {
    pub fn cancel(&self) {
        let _ = self.xhr.abort();
    }
}

#[derive(Deserialize)]
struct Uploaded {
    id: FileId,
}

impl Chat {
    /// The relay's HTTP origin (`http://host:port`), from its WebSocket URL.
    pub fn relay_origin(self) -> String {
        let ws = self.url.get_value().unwrap_or_default();
        http_origin(&ws).unwrap_or_default()
    }

    /// A URL a message carries (relative to the relay), made absolute.
    pub fn file_url(self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{url}", self.relay_origin())
        }
    }

    /// Sends uploaded files with `text` (maybe empty), through the outbox;
    /// the message's id there.
    pub fn send_files(
        self,
        room: &RoomName,
        text: Text,
        files: Vec<FileId>,
        reply_to: Option<Target>,
    ) -> Option<ClientId> {
        let now = now_ms();
        let refs = files.into_iter().map(|id| AttachmentRef { id }).collect();
        let sent = self
            .client
            .try_update(|c| c.send_files(room, text, refs, reply_to, now));
        let (id, frame) = sent.unzip();
        self.write(frame.flatten());
        id
    }

    /// Starts uploading `file`; `on` hears its progress and its end.
    pub fn upload(
        self,
        file: &web_sys::File,
        on: impl Fn(UploadEvent) + 'static,
    ) -> Result<UploadHandle, String> {
        let token = self
            .client
            .with_untracked(|c| c.resume_token().map(String::from))
            .ok_or("Not connected yet: wait until the relay has welcomed you, then try again.")?;
        let url = format!(
            "{}/files?name={}",
            self.relay_origin(),
            String::from(js_sys::encode_uri_component(&file.name()))
        );
        let fail = |_| "This browser could not start the upload.".to_string();
        let xhr = web_sys::XmlHttpRequest::new().map_err(fail)?;
        xhr.open("POST", &url).map_err(fail)?;
        xhr.set_request_header("Authorization", &format!("Bearer {token}"))
            .map_err(fail)?;
        let on = std::rc::Rc::new(on);
        let progress = {
            let on = on.clone();
            Closure::<dyn FnMut(_)>::new(move |ev: web_sys::ProgressEvent| {
                on(UploadEvent::Progress {
                    loaded: ev.loaded(),
                    total: ev.total(),
                })
            })
        };
        let done = {
            let on = on.clone();
            let xhr = xhr.clone();
            Closure::<dyn FnMut(_)>::new(move |_: web_sys::ProgressEvent| {
                on(UploadEvent::Done(outcome(&xhr)))
            })
        };
        let upload = xhr.upload().map_err(fail)?;
        upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
        xhr.set_onloadend(Some(done.as_ref().unchecked_ref()));
        xhr.send_with_opt_blob(Some(file)).map_err(fail)?;
        Ok(UploadHandle {
            xhr,
            _listeners: vec![progress, done],
        })
    }
}

/// The file id, or why not: unreachable, or refused in words with what
/// to do.
fn outcome(xhr: &web_sys::XmlHttpRequest) -> Result<FileId, UploadFailure> {
    let status = xhr.status().unwrap_or(0);
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    let refused = |words: String| Err(UploadFailure::Refused(words));
    match status {
        200..=299 => serde_json::from_str::<Uploaded>(&body)
            .map(|u| u.id)
            .map_err(|_| {
                UploadFailure::Refused("The relay's answer was unreadable. Try again.".into())
            }),
        0 | 502..=504 => Err(UploadFailure::Unreachable),
        401 | 403 => {
            refused("The relay did not accept your session. Reload the page and try again.".into())
        }
        413 => refused(
            "This file is larger than the relay accepts, or your storage is full. \
                    Send a smaller file."
                .into(),
        ),
        422 => refused("The relay could not read this image. Send it in another format.".into()),
        429 => {
            let wait = xhr
                .get_response_header("Retry-After")
                .ok()
                .flatten()
                .map_or("a minute".to_string(), |s| format!("{s} seconds"));
            refused(format!(
                "Too many uploads just now. Wait {wait} and attach it again."
            ))
        }
        other => refused(format!(
            "The upload failed (HTTP {other}). Attach it again."
        )),
    }
}

/// `ws://host:port/ws` → `http://host:port` (and `wss:` → `https:`).
fn http_origin(ws: &str) -> Option<String> {
    let (scheme, rest) = ws.split_once("://")?;
    let host = rest.split('/').next()?;
    let scheme = match scheme {
        "wss" | "https" => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}"))
}
