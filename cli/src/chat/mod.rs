//! `palaver chat`: the terminal client.
//!
//! Three tasks: one reads the socket, one reads stdin, and the driver (this
//! module's [`run`]) owns the [`Client`] model, the [`Reconnect`] state
//! machine and the socket's write half, and is the only one that prints.
//! The model decides everything a user sees (outbox, resend with the same
//! `client_id`, `since` on rejoin, which messages are new, scrollback); the
//! driver prints the [`Change`]s that [`Client::apply`] reports and does
//! the I/O and timing.
//!
//! With stdin a terminal, lines starting with `/` are commands. Otherwise
//! (a pipe) every line is sent as a message and the process exits once
//! stdin has ended and every message is acked by the relay; `--commands`
//! reads `/` commands from a pipe too (a script's replies and edits).
//! Messages show with their `#seq`, which `/reply`, `/edit`, `/delete`
//! and `/react` take (`actions`); edits, deletes and reactions print as
//! short `#seq` lines. Text is shown as written (Markdown source, plain).
//! `/search` and `/goto` (`search`) find messages and show one in its room.

mod actions;
mod notify;
mod output;
pub(crate) mod search;
pub(crate) mod token;
pub(crate) mod upload;

use std::{io::IsTerminal, time::Duration};

use anyhow::bail;
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use shared::{
    client::{Backoff, Change, Client, PendingState, Reconnect},
    ClientMsg, Nick, RoomName, ServerMsg, Text,
};
use tokio::{io::AsyncBufReadExt, net::TcpStream, sync::mpsc};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use output::Output;
use token::TokenSource;

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// How long one connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The relay's WebSocket URL.
    #[arg(default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Your nick (the relay makes up a guest nick without one).
    #[arg(long)]
    nick: Option<String>,
    /// The room to join first.
    #[arg(long, default_value = "general")]
    room: String,
    /// Print each message as one JSON line (the protocol's `message` frame).
    #[arg(long)]
    json: bool,
    /// Read `/` commands from a pipe too (they are always read from a
    /// terminal); messages then show their `#seq`, as in a terminal.
    #[arg(long)]
    commands: bool,
    /// On a terminal too, print lines as in a pipe instead of the
    /// full-screen UI (and keep `/upload`, which the UI lacks so far).
    #[arg(long)]
    plain: bool,
    /// Token mode: a shell command that prints a fresh connection token,
    /// run before each connection and when the relay warns that the token
    /// expires (the new one is sent in `reauth`).
    #[arg(long, env = "PALAVER_TOKEN_CMD")]
    token_cmd: Option<String>,
}

/// What the reader tasks tell the driver.
enum Event {
    /// A text frame from connection number `.0`.
    Frame(u64, String),
    /// Connection number `.0` ended, with a reason for the user.
    Closed(u64, String),
    Line(String),
    StdinDone,
}

pub async fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let room = RoomName::new(&args.room).map_err(|_| {
        anyhow::anyhow!(
            "{:?} is not a room name: use 1 to 32 letters, digits, - or _",
            args.room
        )
    })?;
    check_url(&args.url)?;
    // A terminal at both ends gets the full-screen UI (crate::tui).
    if crate::tui::wanted() && !args.json && !args.commands && !args.plain {
        let nick = args
            .nick
            .as_deref()
            .map(Nick::new)
            .transpose()
            .map_err(|_| {
                anyhow::anyhow!("not a nick: use 1 to 32 letters, digits, spaces, - _ . or '")
            })?;
        let options = crate::tui::Options {
            url: args.url.clone(),
            nick,
            room,
            token_cmd: args.token_cmd.clone(),
        };
        return crate::tui::run(options).await;
    }
    let mut driver = Driver::new(&args, room, interactive)?;
    driver.run().await
}

fn check_url(url: &str) -> anyhow::Result<()> {
    if url.starts_with("wss://") {
        bail!("{url}: this build speaks plain ws:// only; put the relay behind a local ws:// address or a TLS-terminating proxy");
    }
    if !url.starts_with("ws://") {
        bail!("{url}: expected a ws:// URL such as ws://127.0.0.1:8080/ws");
    }
    Ok(())
}

struct Driver {
    url: String,
    client: Client,
    reconnect: Reconnect,
    /// The room plain lines go to; `None` after leaving the last one.
    current: Option<RoomName>,
    out: Output,
    interactive: bool,
    /// Lines starting with `/` are commands (a terminal, or `--commands`).
    commands: bool,
    /// The socket's write half while connected.
    sink: Option<Sink>,
    /// Numbers connections, so events from an old one are ignored.
    conn: u64,
    /// Both reader tasks send here; the driver is the only receiver.
    events_tx: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    stdin_done: bool,
    /// A message was refused or a line could not be sent.
    failed: bool,
    /// `--token-cmd`, in token mode, and when to run it again.
    tokens: TokenSource,
    /// The last search's hits and a `/goto` on its way.
    search: search::SearchState,
}

impl Driver {
    fn new(args: &Args, room: RoomName, interactive: bool) -> anyhow::Result<Self> {
        let mut client = Client::new(&format!("cli-{}", random_hex()));
        if let Some(nick) = &args.nick {
            let nick = Nick::new(nick).map_err(|_| {
                anyhow::anyhow!(
                    "{nick:?} is not a nick: use 1 to 32 letters, digits, spaces, - _ . or '"
                )
            })?;
            client.set_nick(nick);
        }
        client.join(room.clone());
        client.set_active(Some(room.clone()));
        let (events_tx, events) = mpsc::channel(1024);
        Ok(Driver {
            url: args.url.clone(),
            client,
            reconnect: Reconnect::new(Backoff::default()),
            current: Some(room),
            out: Output::new(args.json, interactive, interactive || args.commands).with_base(
                upload::http_authority(&args.url)
                    .ok()
                    .map(|authority| format!("http://{authority}")),
            ),
            interactive,
            commands: interactive || args.commands,
            sink: None,
            conn: 0,
            events_tx,
            events,
            stdin_done: false,
            failed: false,
            tokens: TokenSource::new(args.token_cmd.clone()),
            search: search::SearchState::default(),
        })
    }

    async fn run(&mut self) -> anyhow::Result<std::process::ExitCode> {
        spawn_stdin(self.events_tx.clone());
        if self.interactive {
            self.out
                .status("type a message and press Enter; /help lists the commands");
        }
        loop {
            if !self.interactive && self.stdin_done && self.client.outbox().unacked() == 0 {
                break;
            }
            if self.sink.is_none() && self.reconnect.should_connect(now_ms()) {
                self.connect().await;
                continue;
            }
            if self.sink.is_some() {
                self.renew().await;
                // A queued message whose turn has come (the relay's rate).
                let frame = self.client.poll(now_ms());
                self.write(frame).await;
            }
            let now = now_ms();
            let outbox = self.client.wake_at().map(|at| at.saturating_sub(now));
            let wait = [
                self.reconnect.retry_in_ms(now),
                self.tokens.renewal.due_in_ms(now),
                outbox,
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_secs(3600), Duration::from_millis);
            let event = tokio::select! {
                event = self.events.recv() => event,
                () = tokio::time::sleep(wait) => continue,
            };
            match event {
                Some(Event::Frame(conn, text)) if conn == self.conn => self.on_frame(&text).await,
                Some(Event::Closed(conn, why)) if conn == self.conn => self.on_closed(&why),
                Some(Event::Frame(..) | Event::Closed(..)) => {}
                Some(Event::Line(line)) => {
                    if !self.on_line(line).await {
                        break;
                    }
                }
                Some(Event::StdinDone) => {
                    self.stdin_done = true;
                    if self.interactive {
                        break;
                    }
                }
                None => break,
            }
        }
        if let Some(mut sink) = self.sink.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        // Failed messages were reported when they failed.
        let pending = self.client.outbox().unacked();
        if pending > 0 {
            self.out.status(&format!(
                "{pending} message(s) were not acked by the relay and are lost"
            ));
        }
        Ok(if self.failed || pending > 0 {
            std::process::ExitCode::from(1)
        } else {
            std::process::ExitCode::SUCCESS
        })
    }

    async fn connect(&mut self) {
        self.reconnect.connecting();
        let attempt =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&self.url))
                .await;
        let ws = match attempt {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(err)) => return self.failed_to_connect(&err.to_string()),
            Err(_) => return self.failed_to_connect("no answer within 5 s"),
        };
        self.conn += 1;
        let (sink, mut stream) = ws.split();
        self.sink = Some(sink);
        let conn = self.conn;
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        if events
                            .send(Event::Frame(conn, text.as_str().to_owned()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) if !f.reason.is_empty() => {
                                format!("the relay closed the connection: {}", f.reason)
                            }
                            _ => "the relay closed the connection".to_owned(),
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break format!("connection lost: {err}"),
                    None => break "connection lost".to_owned(),
                }
            };
            let _ = events.send(Event::Closed(conn, why)).await;
        });
        // Only `hello`: on `welcome` the model returns the joins (each with
        // `since`, or without when the relay forgot us) and the outbox.
        let mut frames = self.client.connected();
        if let Some(fresh) = self.fresh_token().await {
            token::stamp_hello(&mut frames, &fresh);
        }
        self.write(frames).await;
    }

    /// A token from `--token-cmd`, if there is one; a failure is told.
    async fn fresh_token(&mut self) -> Option<String> {
        self.tokens.fresh().await.unwrap_or_else(|err| {
            self.out.status(&format!("{err:#}"));
            None
        })
    }

    /// Sends `reauth` with a fresh token when the renewal policy says so.
    async fn renew(&mut self) {
        match self.tokens.due().await {
            Ok(Some(token)) => self.write([ClientMsg::Reauth { token }]).await,
            Ok(None) => {}
            Err(err) => self.out.status(&format!("{err:#}")),
        }
    }

    fn failed_to_connect(&mut self, err: &str) {
        let retry_at = self.reconnect.closed(now_ms(), jitter());
        let wait = retry_at.map_or(0, |at| at.saturating_sub(now_ms()));
        self.out.status(&format!(
            "cannot reach {}: {err}. Is palaver-relay running there? Retrying in {:.1} s (Ctrl-C to stop)",
            self.url,
            wait as f64 / 1000.0
        ));
    }

    fn on_closed(&mut self, why: &str) {
        self.sink = None;
        self.client.disconnected();
        self.tokens.renewal.disconnected();
        let retry_at = self.reconnect.closed(now_ms(), jitter());
        let wait = retry_at.map_or(0, |at| at.saturating_sub(now_ms()));
        self.out.status(&format!(
            "{why}; reconnecting in {:.1} s (unsent messages are kept and resent)",
            wait as f64 / 1000.0
        ));
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

    async fn on_frame(&mut self, text: &str) {
        let msg = match ServerMsg::decode(text) {
            Ok(msg) => msg,
            Err(err) => {
                self.out.status(&format!(
                    "ignored a frame this client does not understand: {err}"
                ));
                return;
            }
        };
        // Token mode: the relay warns before the token expires; a fresh one
        // from --token-cmd keeps the connection (not a model change).
        if let ServerMsg::TokenExpiring { exp } = msg {
            self.tokens.renewal.expiring(exp, now_ms());
            self.renew().await;
            return;
        }
        if self.search_frame(&msg) {
            return;
        }
        // A `/goto`'s page is printed whole, not as the model's changes.
        let goto_page = self.goto_page(&msg);
        let applied = self.client.apply(msg, now_ms());
        for change in &applied.changes {
            let quiet = goto_page.is_some()
                && matches!(change, Change::Message { .. } | Change::History { .. });
            if !quiet {
                self.show(change);
            }
        }
        if let Some(page) = goto_page {
            self.show_goto_page(page);
        }
        let goto = self.goto_after(&applied.changes);
        self.write(applied.frames.into_iter().chain(goto)).await;
    }

    /// Prints what the model says changed: each message once (the model
    /// knows a redelivery, and a relay that numbered a room anew), presence
    /// and errors for the human.
    fn show(&mut self, change: &Change) {
        match change {
            Change::Welcome { user } => {
                self.reconnect.online();
                if self.interactive {
                    self.out.status(&format!(
                        "connected to {} as {}",
                        self.url,
                        user.nick.as_str()
                    ));
                }
            }
            Change::Joined { room } if self.interactive => {
                let here = self.client.room(room).map_or(0, |r| r.member_count());
                self.out.status(&format!("joined {room} ({here} here)"));
            }
            Change::Members {
                room,
                prefix,
                members,
                more,
            } if self.interactive => {
                let nicks: Vec<&str> = members.iter().map(|u| u.nick.as_str()).collect();
                let here = self.client.room(room).map_or(0, |r| r.member_count());
                let what = match prefix {
                    Some(prefix) => format!("matching {prefix}"),
                    None => "next page".to_owned(),
                };
                let more = if *more { " (/who for more)" } else { "" };
                self.out.status(&format!(
                    "in {room} ({here} here), {what}: {}{more}",
                    nicks.join(", ")
                ));
            }
            Change::Message { room, seq, .. } => {
                if let Some(m) = self.client.room(room).and_then(|r| r.message(*seq)) {
                    self.out.message(m);
                }
            }
            Change::History { room, count } => self
                .out
                .status(&format!("history of {room}: {count} older message(s)")),
            Change::Presence {
                room,
                event,
                user,
                old_nick,
            } if self.interactive => self.out.presence(room, *event, user, old_nick.as_deref()),
            Change::Failed { client_id } => {
                // A refused message stays failed in the outbox (it is not
                // resent); the exit code says something was not delivered.
                self.failed = true;
                if let Some(p) = self.client.outbox().get(client_id) {
                    let reason = match &p.state {
                        PendingState::Failed { reason, .. } => reason.as_str(),
                        _ => "",
                    };
                    self.out.status(&format!(
                        "the relay refused your message {:?}: {reason}",
                        p.text.as_ref().map_or("", |t| t.as_str())
                    ));
                }
            }
            Change::Notice(notice) => self.out.status(&format!("relay: {}", notice.message)),
            Change::Dropped { room } => {
                let mut status = format!("left {room} on another device");
                if self.current.as_ref() == Some(room) {
                    self.current = self.client.fallback_room();
                    self.client.set_active(self.current.clone());
                    if let Some(now) = &self.current {
                        status.push_str(&format!("; now talking in {now}"));
                    }
                }
                self.out.status(&status);
            }
            Change::Updated { room, seq } if self.commands => {
                if let Some(m) = self.client.room(room).and_then(|r| r.message(*seq)) {
                    self.out.update(m);
                }
            }
            _ => {}
        }
    }

    /// Handles one input line; false to quit.
    async fn on_line(&mut self, line: String) -> bool {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return true;
        }
        if self.commands {
            if let Some(command) = line.strip_prefix('/') {
                if !command.starts_with('/') {
                    return self.command(command).await;
                }
            }
        }
        let text = if self.commands {
            line.strip_prefix('/').unwrap_or(line)
        } else {
            line
        };
        self.say(text).await;
        true
    }

    async fn say(&mut self, text: &str) {
        let Some(room) = self.current.clone() else {
            self.failed = true;
            return self.out.status("you are in no room: /join ROOM first");
        };
        let text = match Text::new(text) {
            Ok(text) => text,
            Err(err) => {
                self.failed = true;
                return self.out.status(&format!("not sent: {err}"));
            }
        };
        let (_, frame) = self.client.send(&room, text, now_ms());
        self.write(frame).await;
    }

    async fn command(&mut self, command: &str) -> bool {
        let (name, arg) = command
            .split_once(char::is_whitespace)
            .map_or((command, ""), |(n, a)| (n, a.trim()));
        match name {
            "quit" | "q" => return false,
            "help" | "h" | "?" => self.out.status(&format!(
                "{HELP}\n{}\n{}\n{}",
                actions::HELP,
                search::HELP,
                notify::HELP
            )),
            "join" | "j" => match RoomName::new(arg) {
                Ok(room) => {
                    let frame = self.client.join(room.clone());
                    self.client.set_active(Some(room.clone()));
                    self.current = Some(room.clone());
                    if frame.is_none() && self.client.is_connected() {
                        self.out.status(&format!("now talking in {room}"));
                    }
                    self.write(frame).await;
                }
                Err(_) => self
                    .out
                    .status("usage: /join ROOM (1 to 32 letters, digits, - or _)"),
            },
            "leave" => {
                let Some(room) = self.current.take() else {
                    self.out.status("you are in no room");
                    return true;
                };
                let frame = self.client.leave(&room);
                self.current = self.client.rooms().first().map(|r| r.name().clone());
                self.client.set_active(self.current.clone());
                match &self.current {
                    Some(now) => self
                        .out
                        .status(&format!("left {room}; now talking in {now}")),
                    None => self
                        .out
                        .status(&format!("left {room}; /join ROOM to talk again")),
                }
                self.write(frame).await;
            }
            "nick" => match Nick::new(arg) {
                Ok(nick) => {
                    let frame = self.client.set_nick(nick);
                    self.write(frame).await;
                }
                Err(_) => self
                    .out
                    .status("usage: /nick NAME (1 to 32 letters, digits, spaces, - _ . or ')"),
            },
            "who" => self.who(arg).await,
            "notify" => self.notify(arg).await,
            "upload" | "up" => self.upload(arg).await,
            "history" => match self.current.clone() {
                Some(_) if !self.client.is_connected() => {
                    self.out.status("not connected; try again once connected")
                }
                Some(room) => match self.client.load_older(&room) {
                    Some(frame) => self.write([frame]).await,
                    None => self.out.status(&format!(
                        "no older messages in {room} (or a page is on its way)"
                    )),
                },
                None => self.out.status("you are in no room: /join ROOM first"),
            },
            _ if self.conversation_command(name, arg).await => {}
            _ if self.search_command(name, arg).await => {}
            _ => self.out.status(&format!(
                "unknown command /{name}; /help lists the commands"
            )),
        }
        true
    }
}

impl Driver {
    /// `/who`: the members loaded and the count, then the next page while
    /// the list is partial (a big room); `/who PREFIX` asks the relay for
    /// the members whose nick starts with PREFIX.
    async fn who(&mut self, prefix: &str) {
        let Some(name) = self.current.clone() else {
            return self.out.status("you are in no room: /join ROOM first");
        };
        if !prefix.is_empty() {
            let frame = self.client.search_members(&name, prefix);
            return self.write([frame]).await;
        }
        let Some(room) = self.client.room(&name) else {
            return self.out.status("you are in no room: /join ROOM first");
        };
        let nicks: Vec<&str> = room.members().iter().map(|u| u.nick.as_str()).collect();
        let count = room.member_count();
        self.out
            .status(&format!("in {name} ({count} here): {}", nicks.join(", ")));
        let more = self.client.more_members(&name);
        self.write(more).await;
    }
}

impl Driver {
    /// `/upload PATH [text]`: the file, then a message that posts it.
    async fn upload(&mut self, arg: &str) {
        let (path, text) = arg
            .split_once(char::is_whitespace)
            .map_or((arg, ""), |(p, t)| (p, t.trim()));
        if path.is_empty() {
            return self.out.status("usage: /upload PATH [text]");
        }
        let Some(room) = self.current.clone() else {
            self.failed = true;
            return self.out.status("you are in no room: /join ROOM first");
        };
        if !self.client.is_connected() {
            return self.out.status("not connected; try again once connected");
        }
        let text = match upload::message_text(text) {
            Ok(text) => text,
            Err(err) => {
                self.failed = true;
                return self.out.status(&format!("not sent: {err}"));
            }
        };
        let token = match self.tokens.is_set() {
            true => self.fresh_token().await,
            false => self.client.resume_token().map(str::to_owned),
        };
        let Some(token) = token else {
            return self.out.status("no credentials for an upload yet");
        };
        let path = std::path::Path::new(path);
        match upload::send_file(&mut self.client, &self.url, &token, &room, path, text).await {
            Ok((told, frame)) => {
                self.out.status(&told);
                self.write(frame).await;
            }
            Err(err) => {
                self.failed = true;
                self.out.status(&format!("not sent: {err:#}"));
            }
        }
    }
}

const HELP: &str = "commands:
  /join ROOM     join a room (or switch to it) and talk there
  /leave         leave the current room
  /nick NAME     change your nick
  /who [PREFIX]  who is in the current room (again: the next page of a big
                 room); with PREFIX, those whose nick starts with it
  /history       show older messages of the current room, a page at a time
  /upload PATH [TEXT]
                 send a file (with TEXT, if given) to the current room
  /quit          exit (also Ctrl-D)
  /help          this list
a line starting with // sends the rest, starting with /";

fn spawn_stdin(events: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if events.send(Event::Line(line)).await.is_err() {
                return;
            }
        }
        let _ = events.send(Event::StdinDone).await;
    });
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Uniform in [0, 1), for the reconnect backoff.
pub(crate) fn jitter() -> f64 {
    f64::from(getrandom::u32().unwrap_or(0)) / (f64::from(u32::MAX) + 1.0)
}

pub(crate) fn random_hex() -> String {
    format!("{:08x}", getrandom::u32().unwrap_or(0))
}
