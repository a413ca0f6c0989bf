//! Chromium's DevTools protocol over its own WebSocket, for what
//! chromedriver's `goog/cdp/execute` cannot do: events (a service worker's
//! registration id comes only in `ServiceWorker.workerRegistrationUpdated`)
//! and sessions on other targets (a tab, the service worker itself).
//!
//! The browser writes its DevTools address into the profile's
//! `DevToolsActivePort` when chromedriver starts it; [`DevTools::open`]
//! connects there. Calls and events share one socket: a call reads until
//! its answer and keeps the events it passes for [`DevTools::event`].

use std::{collections::VecDeque, path::Path};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::WAIT;

pub struct DevTools {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events read while waiting for an answer, oldest first.
    events: VecDeque<Value>,
}

impl DevTools {
    /// Connects to the browser of the Chromium profile in `profile`.
    pub async fn open(profile: &Path) -> anyhow::Result<DevTools> {
        let file = profile.join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + WAIT;
        let text = loop {
            match std::fs::read_to_string(&file) {
                Ok(text) if text.lines().count() >= 2 => break text,
                _ if tokio::time::Instant::now() > deadline => {
                    bail!("no {} within {WAIT:?}", file.display())
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        let mut lines = text.lines();
        let port = lines.next().context("a port")?.trim();
        let path = lines.next().context("a path")?.trim();
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
            .await
            .context("connect to DevTools")?;
        Ok(DevTools {
            socket,
            next_id: 0,
            events: VecDeque::new(),
        })
    }

    /// Runs `method` (on the target of `session`, or the browser), and
    /// returns its result; a DevTools error is an error.
    pub async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut frame = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            frame["sessionId"] = session.into();
        }
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.read(deadline).await?;
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    bail!("{method}: {error}");
                }
                return Ok(value["result"].clone());
            }
            if value.get("method").is_some() {
                self.events.push_back(value);
            }
        }
    }

    /// The first event (kept or new) that `check` accepts, within [`WAIT`];
    /// the events before it are dropped.
    pub async fn event(&mut self, check: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        while let Some(event) = self.events.pop_front() {
            if check(&event) {
                return Ok(event);
            }
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.read(deadline).await?;
            if value.get("method").is_some() && check(&value) {
                return Ok(value);
            }
        }
    }

    async fn read(&mut self, deadline: tokio::time::Instant) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .context("DevTools said nothing within the wait")?
                .context("DevTools closed")??;
            if let Message::Text(text) = message {
                return Ok(serde_json::from_str(&text)?);
            }
        }
    }

    /// The first target of `kind` ("page", "service_worker") whose URL
    /// starts with `url`: its id and browser context.
    pub async fn target(&mut self, kind: &str, url: &str) -> anyhow::Result<(String, String)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let targets = self.call(None, "Target.getTargets", json!({})).await?;
            let found = targets["targetInfos"].as_array().and_then(|all| {
                all.iter().find(|t| {
                    t["type"] == kind && t["url"].as_str().is_some_and(|u| u.starts_with(url))
                })
            });
            if let Some(t) = found {
                return Ok((
                    t["targetId"].as_str().unwrap_or_default().to_string(),
                    t["browserContextId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no {kind} target at {url} within {WAIT:?}: {targets}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A session on `target` (flat: its commands go through this socket).
    pub async fn attach(&mut self, target: &str) -> anyhow::Result<String> {
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        Ok(attached["sessionId"]
            .as_str()
            .context("a session id")?
            .to_string())
    }

    /// Evaluates `expression` (awaiting a promise) in the target of
    /// `session`; its value as JSON.
    pub async fn eval(&mut self, session: &str, expression: &str) -> anyhow::Result<Value> {
        let out = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await?;
        if let Some(exception) = out.get("exceptionDetails") {
            bail!("{expression}: {exception}");
        }
        Ok(out["result"]["value"].clone())
    }
}
