//! A real WebSocket client speaking protocol v1 through the `shared` types.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use shared::{
    protocol::PresenceEvent, ChatMessage, ClientId, ClientMsg, ErrorCode, Nick, RoomName,
    ServerMsg, Text, User,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::WAIT;

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Set after `welcome`.
    pub user: Option<User>,
    pub resume: Option<String>,
}

pub fn room(name: &str) -> RoomName {
    RoomName::new(name).expect("test room names are valid")
}

/// The messages of a `joined` or `history` frame.
pub fn history_of(msg: &ServerMsg) -> Vec<ChatMessage> {
    match msg {
        ServerMsg::Joined { history, .. } => history.clone(),
        ServerMsg::History { messages, .. } => messages.clone(),
        other => panic!("no history in {other:?}"),
    }
}

/// The seqs of a `joined` or `history` frame, in order.
pub fn history_seqs(msg: &ServerMsg) -> Vec<u64> {
    history_of(msg).iter().map(|m| m.seq).collect()
}

/// Connects `n` clients named `{prefix}{i:04}` and joins each to `name`,
/// 32 at a time; returns them with their `joined` frames, in order. (A
/// relay that takes this many from 127.0.0.1 has its per-IP limits off.)
pub async fn crowd(url: &str, name: &str, prefix: &str, n: usize) -> Vec<(Client, ServerMsg)> {
    stream::iter(0..n)
        .map(|i| {
            let url = url.to_string();
            let nick = format!("{prefix}{i:04}");
            let name = name.to_string();
            async move {
                let mut client = Client::hello(&url, &nick).await.unwrap();
                let joined = client.join(&name, None).await.unwrap();
                (client, joined)
            }
        })
        .buffered(32)
        .collect()
        .await
}

impl Client {
    /// Connects without sending anything.
    pub async fn connect(url: &str) -> anyhow::Result<Client> {
        Self::connect_with_origin(url, None).await
    }

    pub async fn connect_with_origin(url: &str, origin: Option<&str>) -> anyhow::Result<Client> {
        match origin {
            Some(origin) => Self::connect_with_headers(url, &[("origin", origin)]).await,
            None => Self::connect_with_headers(url, &[]).await,
        }
    }

    /// Connects with extra handshake headers (`origin`, `x-forwarded-for`).
    pub async fn connect_with_headers(
        url: &str,
        headers: &[(&'static str, &str)],
    ) -> anyhow::Result<Client> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value)?);
        }
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(request, None, true),
        )
        .await
        .context("connect timed out")??;
        Ok(Client {
            ws,
            user: None,
            resume: None,
        })
    }

    /// Connects, says hello and waits for `welcome`.
    pub async fn hello(url: &str, nick: &str) -> anyhow::Result<Client> {
        let mut client = Self::connect(url).await?;
        client.login(Some(nick), None).await?;
        Ok(client)
    }

    pub async fn login(
        &mut self,
        nick: Option<&str>,
        resume: Option<String>,
    ) -> anyhow::Result<User> {
        self.send(&ClientMsg::Hello {
            nick: nick.map(|n| Nick::new(n).expect("test nicks are valid")),
            resume,
            token: None,
        })
        .await?;
        match self.recv().await? {
            ServerMsg::Welcome { user, resume, .. } => {
                self.user = Some(user.clone());
                self.resume = Some(resume);
                Ok(user)
            }
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// Token mode: sends `hello` with this token and returns the next frame
    /// (`welcome`, or the `error` that refuses the token).
    pub async fn hello_with_token(&mut self, token: &str) -> anyhow::Result<ServerMsg> {
        self.send(&ClientMsg::Hello {
            nick: None,
            resume: None,
            token: Some(token.to_string()),
        })
        .await?;
        let reply = self.recv().await?;
        if let ServerMsg::Welcome { user, resume, .. } = &reply {
            self.user = Some(user.clone());
            self.resume = Some(resume.clone());
        }
        Ok(reply)
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.send_raw(Message::Text(msg.encode().into())).await
    }

    pub async fn send_raw(&mut self, msg: Message) -> anyhow::Result<()> {
        self.ws.send(msg).await.context("send failed")
    }

    /// Joins and returns the `joined` frame's members and history.
    pub async fn join(&mut self, name: &str, since: Option<u64>) -> anyhow::Result<ServerMsg> {
        self.send(&ClientMsg::Join {
            room: room(name),
            since,
        })
        .await?;
        self.recv_until(|m| matches!(m, ServerMsg::Joined { .. }))
            .await
    }

    pub async fn say(&mut self, name: &str, text: &str, client_id: &str) -> anyhow::Result<()> {
        self.send(&ClientMsg::Send {
            reply_to: None,
            attachments: Vec::new(),
            room: room(name),
            text: Text::new(text).expect("test texts are valid"),
            client_id: ClientId::new(client_id).expect("test ids are valid"),
        })
        .await
    }

    /// Sends and waits for the ack; returns its seq.
    pub async fn say_acked(
        &mut self,
        name: &str,
        text: &str,
        client_id: &str,
    ) -> anyhow::Result<u64> {
        self.say(name, text, client_id).await?;
        let id = client_id.to_string();
        match self
            .recv_until(|m| match m {
                ServerMsg::Ack { client_id, .. } => client_id.as_str() == id,
                ServerMsg::Error { reference, .. } => reference.as_deref() == Some(id.as_str()),
                _ => false,
            })
            .await?
        {
            ServerMsg::Ack { seq, .. } => Ok(seq),
            other => bail!("expected an ack, got {other:?}"),
        }
    }

    /// Sends `search` and waits for its answer: `search_results`, or the
    /// `error` refusing it.
    pub async fn search(
        &mut self,
        q: &str,
        room: Option<&str>,
        before: Option<String>,
        limit: Option<u32>,
    ) -> anyhow::Result<ServerMsg> {
        self.send(&ClientMsg::Search {
            q: q.into(),
            room: room.map(self::room),
            from: None,
            before,
            limit,
        })
        .await?;
        self.recv_until(|m| matches!(m, ServerMsg::SearchResults { .. } | ServerMsg::Error { .. }))
            .await
    }

    /// Asks for a page of scrollback and waits for it.
    pub async fn history(
        &mut self,
        name: &str,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> anyhow::Result<ServerMsg> {
        self.send(&ClientMsg::History {
            room: room(name),
            before,
            limit,
            around: None,
            after: None,
        })
        .await?;
        self.recv_until(|m| matches!(m, ServerMsg::History { .. }))
            .await
    }

    /// Sends `history` with `after` (the oldest `limit` messages newer
    /// than `after`) and waits for the page.
    pub async fn history_after(
        &mut self,
        name: &str,
        after: u64,
        limit: Option<u32>,
    ) -> anyhow::Result<ServerMsg> {
        self.send(&ClientMsg::History {
            room: room(name),
            before: None,
            limit,
            around: None,
            after: Some(after),
        })
        .await?;
        self.recv_until(|m| matches!(m, ServerMsg::History { .. }))
            .await
    }

    /// Sends `nick`.
    pub async fn rename(&mut self, nick: &str) -> anyhow::Result<()> {
        self.send(&ClientMsg::Nick {
            nick: Nick::new(nick).expect("test nicks are valid"),
        })
        .await
    }

    /// Waits for a `presence` frame of `event`, skipping other frames.
    pub async fn recv_presence(&mut self, event: PresenceEvent) -> anyhow::Result<ServerMsg> {
        self.recv_until(|m| matches!(m, ServerMsg::Presence { event: e, .. } if *e == event))
            .await
    }

    /// Asks for `pages` full pages of `room`'s history and reads none of
    /// the answers: a client that lets its queue fill.
    pub async fn request_history_pages(&mut self, name: &str, pages: usize) -> anyhow::Result<()> {
        for _ in 0..pages {
            self.send(&ClientMsg::History {
                room: room(name),
                before: None,
                limit: Some(100),
                around: None,
                after: None,
            })
            .await?;
        }
        Ok(())
    }

    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> anyhow::Result<ServerMsg> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame within {wait:?}"))?;
            match next {
                None => bail!("connection closed"),
                Some(Err(err)) => bail!("connection failed: {err}"),
                Some(Ok(Message::Text(text))) => {
                    return ServerMsg::decode(&text)
                        .with_context(|| format!("relay sent an unparsable frame: {text}"))
                }
                Some(Ok(Message::Close(frame))) => bail!("connection closed: {frame:?}"),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Frames until one matches, within [`WAIT`]; the others are dropped.
    pub async fn recv_until(
        &mut self,
        mut pred: impl FnMut(&ServerMsg) -> bool,
    ) -> anyhow::Result<ServerMsg> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.recv_within(left).await?;
            if pred(&msg) {
                return Ok(msg);
            }
        }
    }

    /// A ping and its pong, every frame before the pong dropped: once it
    /// returns, the relay has handled every frame sent before it.
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        self.send(&ClientMsg::Ping).await?;
        self.recv_until(|m| matches!(m, ServerMsg::Pong)).await?;
        Ok(())
    }

    /// The next chat message this client is sent (other frames skipped).
    pub async fn next_message(&mut self) -> anyhow::Result<shared::ChatMessage> {
        match self
            .recv_until(|m| matches!(m, ServerMsg::Message(_)))
            .await?
        {
            ServerMsg::Message(m) => Ok(m),
            _ => unreachable!("recv_until returns what matched"),
        }
    }

    /// Waits for an `error` frame and returns its code and ref.
    /// Waits for the `message` whose client id is `client_id`.
    pub async fn message_with_client_id(
        &mut self,
        client_id: &str,
    ) -> anyhow::Result<shared::ChatMessage> {
        match self
            .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.client_id.as_ref().is_some_and(|c| c.as_str() == client_id)))
            .await?
        {
            ServerMsg::Message(message) => Ok(message),
            other => bail!("expected a message, got {other:?}"),
        }
    }

    pub async fn expect_error(&mut self) -> anyhow::Result<(ErrorCode, Option<String>)> {
        match self
            .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
            .await?
        {
            ServerMsg::Error {
                code, reference, ..
            } => Ok((code, reference)),
            _ => unreachable!(),
        }
    }

    /// Waits for the relay to close the connection; returns the close code.
    pub async fn expect_close(&mut self) -> anyhow::Result<u16> {
        self.expect_close_within(WAIT).await
    }

    /// Like [`Client::expect_close`], with its own bound.
    pub async fn expect_close_within(&mut self, wait: Duration) -> anyhow::Result<u16> {
        match self.expect_end_within(wait).await? {
            Some(code) => Ok(code),
            None => bail!("the connection ended without a close frame"),
        }
    }

    /// Waits for the connection to end: `Some(code)` for a close frame,
    /// `None` when it ended without one (a TCP reset, as when the relay
    /// closes a socket with unread data in it). An error only when it is
    /// still open after `wait`.
    pub async fn expect_end_within(&mut self, wait: Duration) -> anyhow::Result<Option<u16>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("the relay did not close the connection within {wait:?}"))?;
            match next {
                Some(Ok(Message::Close(Some(frame)))) => return Ok(Some(frame.code.into())),
                Some(Ok(Message::Close(None))) | Some(Err(_)) | None => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame of any kind, pings included (which this client
    /// answers as it reads, like a browser), within `wait`.
    pub async fn recv_raw_within(&mut self, wait: Duration) -> anyhow::Result<Message> {
        match tokio::time::timeout(wait, self.ws.next()).await {
            Err(_) => bail!("no frame within {wait:?}"),
            Ok(None) => bail!("connection closed"),
            Ok(Some(frame)) => Ok(frame?),
        }
    }

    /// Stops reading: the socket stays open but nothing is consumed.
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }
}

/// A user with a message in flight: online in `general`, having sent one
/// message that was stored but whose `ack` counts as lost, so the client
/// will send it again. What the identity tests carry across a crash.
pub struct InFlight {
    pub identity: User,
    /// The resume token from `welcome`.
    pub token: String,
    /// Where the message was stored.
    pub seq: u64,
}

impl InFlight {
    const ROOM: &'static str = "general";
    const TEXT: &'static str = "in flight";
    const CLIENT_ID: &'static str = "f-1";

    /// `alice` on the relay at `url`, with her message in flight.
    pub async fn start(url: &str) -> anyhow::Result<(Client, InFlight)> {
        let mut client = Client::hello(url, "alice").await?;
        let identity = client.user.clone().context("welcomed")?;
        let token = client.resume.clone().context("a resume token")?;
        client.join(Self::ROOM, None).await?;
        let seq = client
            .say_acked(Self::ROOM, Self::TEXT, Self::CLIENT_ID)
            .await?;
        Ok((
            client,
            InFlight {
                identity,
                token,
                seq,
            },
        ))
    }

    /// Resumes on the relay at `url` with the token, checks that it is the
    /// same identity, and sends the message again: returns the client and
    /// the seq the relay answered (the original one when it recognised the
    /// resend).
    pub async fn resume(&self, url: &str) -> anyhow::Result<(Client, u64)> {
        let mut client = Client::connect(url).await?;
        let user = client.login(None, Some(self.token.clone())).await?;
        anyhow::ensure!(
            user == self.identity,
            "resumed as {user:?}, not {:?}",
            self.identity
        );
        client.join(Self::ROOM, None).await?;
        let seq = client
            .say_acked(Self::ROOM, Self::TEXT, Self::CLIENT_ID)
            .await?;
        Ok((client, seq))
    }
}
