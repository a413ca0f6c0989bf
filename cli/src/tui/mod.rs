//! `palaver chat` on a terminal: a full-screen UI (ratatui on crossterm).
//! `palaver chat` picks it when stdin and stdout are both terminals and
//! neither `--json` nor `--commands` asks for lines; otherwise the line
//! client (`crate::chat`) runs as before.
//!
//! The same split as the line client, one more input: the shared
//! [`Client`] model decides what is shown (rooms, unread and mention
//! counts, outbox, history paging, typing); [`app`] adds the terminal's own
//! state and is the reducer every input goes through; [`view`] (with
//! [`lines`] and [`theme`]) draws it; this module is the driver, the only
//! place with I/O: the socket, the terminal's events, the clock, signals.
//!
//! - [`input`]: the input line's editing and its history of lines sent.
//! - [`complete`]: Tab completion of `/commands` and `@nicks`.
//! - [`commands`]: the `/commands`, as calls into the model.
//! - [`terminal`]: raw mode and the alternate screen in, and out again on
//!   exit, error, panic or signal.

mod app;
mod commands;
mod complete;
mod input;
mod lines;
mod search;
mod terminal;
mod theme;
mod view;

#[cfg(test)]
mod tests;

use std::{io::IsTerminal, time::Duration};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use shared::{
    client::{Backoff, Client, Reconnect},
    ClientMsg, Nick, RoomName, ServerMsg,
};
use tokio::{
    net::TcpStream,
    signal::unix::{signal, SignalKind},
    sync::mpsc,
};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::chat::{
    token::{self, TokenSource},
    upload,
};

use app::App;
use theme::Theme;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Socket, Message>;

/// How long one connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Redraw at least this often, so typing lines and times age on screen.
const TICK: Duration = Duration::from_secs(1);

/// What `palaver chat` hands the UI.
pub struct Options {
    pub url: String,
    pub nick: Option<Nick>,
    pub room: RoomName,
    pub token_cmd: Option<String>,
}

/// True when the UI should run: both ends of the conversation with the
/// user are a terminal.
pub fn wanted() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// What the socket tasks tell the driver.
enum Event {
    /// Connection attempt number `.0` opened.
    Opened(u64, Box<Socket>),
    /// Connection attempt number `.0` failed, with a reason for the user.
    Failed(u64, String),
    /// A text frame from connection number `.0`.
    Frame(u64, String),
    /// Connection number `.0` ended, with a reason for the user.
    Closed(u64, String),
}

pub async fn run(options: Options) -> anyhow::Result<std::process::ExitCode> {
    let mut client = Client::new(&format!("tui-{}", super::chat::random_hex()));
    if let Some(nick) = options.nick {
        client.set_nick(nick);
    }
    client.join(options.room.clone());
    client.set_view(Some(options.room), true);
    let mut guard = terminal::enter()?;
    let size = guard.terminal.size()?;
    let mut app = App::new(
        client,
        &options.url,
        Theme::from_env(),
        (size.width, size.height),
    );
    app.tz_offset_ms = i64::from(chrono::Local::now().offset().local_minus_utc()) * 1000;
    let (events_tx, events) = mpsc::channel(1024);
    let mut driver = Driver {
        url: options.url,
        app,
        reconnect: Reconnect::new(Backoff::default()),
        sink: None,
        conn: 0,
        events_tx,
        events,
        tokens: TokenSource::new(options.token_cmd),
    };
    let result = driver.run(&mut guard.terminal).await;
    drop(guard);
    if let Some(mut sink) = driver.sink.take() {
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    }
    let pending = driver.app.client.outbox().unacked();
    if pending > 0 {
        eprintln!("palaver: {pending} message(s) were not acked by the relay and are lost");
    }
    result?;
    Ok(std::process::ExitCode::SUCCESS)
}

struct Driver {
    url: String,
    app: App,
    reconnect: Reconnect,
    /// The socket's write half while connected.
    sink: Option<Sink>,
    /// Numbers connection attempts, so events from an old one are ignored.
    conn: u64,
    /// The socket tasks send here; the driver is the only receiver.
    events_tx: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    /// `--token-cmd`, in token mode, and when to run it again.
    tokens: TokenSource,
}

impl Driver {
    async fn run(&mut self, terminal: &mut terminal::Term) -> anyhow::Result<()> {
        let mut keys = EventStream::new();
        let mut term = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        while !self.app.quit {
            let now = now_ms();
            if self.sink.is_none() && self.reconnect.should_connect(now) {
                self.connect();
            }
            if self.sink.is_some() {
                self.renew().await;
                let frame = self.app.client.poll(now);
                self.write(frame).await;
            }
            terminal.draw(|frame| view::render(frame, &self.app, now))?;
            let outbox = self.app.client.wake_at().map(|at| at.saturating_sub(now));
            let wait = [
                self.reconnect.retry_in_ms(now),
                self.tokens.renewal.due_in_ms(now),
                outbox,
            ]
            .into_iter()
            .flatten()
            .map(Duration::from_millis)
            .fold(TICK, Duration::min);
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => break,
                },
                input = keys.next() => match input {
                    Some(Ok(input)) => self.on_input(input).await,
                    Some(Err(err)) => return Err(err.into()),
                    None => break,
                },
                _ = term.recv() => break,
                _ = hangup.recv() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        Ok(())
    }

    async fn on_input(&mut self, input: TermEvent) {
        let now = now_ms();
        let frames = match input {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => self.app.key(key, now),
            TermEvent::Mouse(mouse) => self.app.mouse(mouse, now),
            TermEvent::Paste(text) => {
                self.app.paste(&text);
                Vec::new()
            }
            TermEvent::Resize(columns, rows) => {
                self.app.resize(columns, rows, now);
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.write(frames).await;
        if let Some(request) = self.app.upload.take() {
            self.upload(request).await;
        }
    }

    /// Uploads the file of an `/upload` and queues its message in the
    /// outbox (sent in order, again after a reconnect, like any message).
    /// The screen waits meanwhile: the status line says so.
    async fn upload(&mut self, request: app::UploadRequest) {
        let token = match self.tokens.is_set() {
            true => self.fresh_token().await,
            false => self.app.client.resume_token().map(str::to_owned),
        };
        let Some(token) = token else {
            self.app.status = "no credentials for an upload yet".into();
            return;
        };
        let text = match upload::message_text(&request.text) {
            Ok(text) => text,
            Err(err) => {
                self.app.status = format!("not sent: {err}");
                return;
            }
        };
        let path = std::path::Path::new(&request.path);
        let client = &mut self.app.client;
        match upload::send_file(client, &self.url, &token, &request.room, path, text).await {
            Ok((told, frame)) => {
                self.app.status = told;
                self.write(frame).await;
            }
            Err(err) => self.app.status = format!("not sent: {err:#}"),
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Opened(conn, socket) if conn == self.conn => self.opened(*socket).await,
            Event::Failed(conn, why) if conn == self.conn => {
                let retry = self.closed();
                self.app.status = format!(
                    "cannot reach {}: {why}. Is palaver-relay running there? Retrying in {:.1} s (Ctrl-C to stop)",
                    self.url,
                    retry as f64 / 1000.0
                );
            }
            Event::Frame(conn, text) if conn == self.conn => self.on_frame(&text).await,
            Event::Closed(conn, why) if conn == self.conn => {
                self.sink = None;
                self.tokens.renewal.disconnected();
                let retry = self.closed();
                self.app.disconnected(&why, retry);
            }
            _ => {}
        }
    }

    /// Asks the backoff when to retry; milliseconds from now.
    fn closed(&mut self) -> u64 {
        let retry_at = self.reconnect.closed(now_ms(), super::chat::jitter());
        retry_at.map_or(0, |at| at.saturating_sub(now_ms()))
    }

    /// Opens a socket in a task, so the UI keeps answering while it dials.
    fn connect(&mut self) {
        self.reconnect.connecting();
        self.conn += 1;
        let (conn, url, events) = (self.conn, self.url.clone(), self.events_tx.clone());
        self.app.status = format!("connecting to {url}…");
        tokio::spawn(async move {
            let attempt =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url)).await;
            let event = match attempt {
                Ok(Ok((ws, _))) => Event::Opened(conn, Box::new(ws)),
                Ok(Err(err)) => Event::Failed(conn, err.to_string()),
                Err(_) => Event::Failed(conn, "no answer within 5 s".into()),
            };
            let _ = events.send(event).await;
        });
    }

    async fn opened(&mut self, socket: Socket) {
        let (sink, mut stream) = socket.split();
        self.sink = Some(sink);
        let conn = self.conn;
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let frame = Event::Frame(conn, text.as_str().to_owned());
                        if events.send(frame).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(Some(f)))) if !f.reason.is_empty() => {
                        break format!("the relay closed the connection: {}", f.reason)
                    }
                    Some(Ok(Message::Close(_))) => break "the relay closed the connection".into(),
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break format!("connection lost: {err}"),
                    None => break "connection lost".into(),
                }
            };
            let _ = events.send(Event::Closed(conn, why)).await;
        });
        // Only `hello`: on `welcome` the model returns the joins and the
        // outbox.
        let mut frames = self.app.client.connected();
        if let Some(fresh) = self.fresh_token().await {
            token::stamp_hello(&mut frames, &fresh);
        }
        self.write(frames).await;
    }

    async fn on_frame(&mut self, text: &str) {
        let msg = match ServerMsg::decode(text) {
            Ok(msg) => msg,
            Err(err) => {
                self.app.status = format!("ignored a frame this client does not understand: {err}");
                return;
            }
        };
        if let ServerMsg::TokenExpiring { exp } = msg {
            self.tokens.renewal.expiring(exp, now_ms());
            return self.renew().await;
        }
        if matches!(msg, ServerMsg::Welcome { .. }) {
            self.reconnect.online();
        }
        let frames = self.app.frame(msg, now_ms());
        self.write(frames).await;
    }

    /// A token from `--token-cmd`, if there is one; a failure is told.
    async fn fresh_token(&mut self) -> Option<String> {
        self.tokens.fresh().await.unwrap_or_else(|err| {
            self.app.status = format!("{err:#}");
            None
        })
    }

    /// Sends `reauth` with a fresh token when the renewal policy says so.
    async fn renew(&mut self) {
        match self.tokens.due().await {
            Ok(Some(token)) => self.write([ClientMsg::Reauth { token }]).await,
            Ok(None) => {}
            Err(err) => self.app.status = format!("{err:#}"),
        }
    }

    /// Writes frames; a failed write is reported by the reader as a close.
    async fn write(&mut self, frames: impl IntoIterator<Item = ClientMsg>) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        for frame in frames {
            if sink
                .feed(Message::Text(frame.encode().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = sink.flush().await;
    }
}

pub fn now_ms() -> u64 {
    super::chat::now_ms()
}
