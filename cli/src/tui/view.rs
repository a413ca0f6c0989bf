//! Drawing: the app's state as one ratatui frame. A title bar; the room
//! list (unread and mention counts), the messages with a typing line under
//! them, and the member list side by side; a status line; the input line.
//! Narrow terminals drop the member list, then the room list.

use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::Style,
    text::{Line, Span},
    widgets::{Block, Paragraph, Wrap},
    Frame,
};
use shared::RoomName;
use unicode_width::UnicodeWidthStr;

use super::{app::App, commands::HELP, lines::message_lines};

/// Columns of the room and member lists, borders included.
const SIDE: u16 = 20;

/// Where everything goes on a terminal of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub title: Rect,
    /// Empty (zero width) on a narrow terminal.
    pub rooms: Rect,
    pub messages: Rect,
    pub typing: Rect,
    /// Empty (zero width) on a narrow terminal.
    pub members: Rect,
    pub status: Rect,
    pub input: Rect,
}

impl Panes {
    /// The message pane inside its border: where message lines go.
    pub fn messages_inner(&self) -> Rect {
        Block::bordered().inner(self.messages)
    }
}

pub fn layout((columns, rows): (u16, u16)) -> Panes {
    let area = Rect::new(0, 0, columns, rows);
    let [title, body, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    // The messages keep at least 40 columns: the member list goes first,
    // then the room list.
    let (rooms_w, members_w) = match columns {
        c if c >= 2 * SIDE + 40 => (SIDE, SIDE),
        c if c >= SIDE + 30 => (SIDE, 0),
        _ => (0, 0),
    };
    let [rooms, center, members] = Layout::horizontal([
        Constraint::Length(rooms_w),
        Constraint::Min(1),
        Constraint::Length(members_w),
    ])
    .areas(body);
    let [messages, typing] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(1)]).areas(center);
    Panes {
        title,
        rooms,
        messages,
        typing,
        members,
        status,
        input,
    }
}

pub fn render(frame: &mut Frame, app: &App, now: u64) {
    let panes = layout((frame.area().width, frame.area().height));
    let theme = app.theme;
    let room = app.current();

    let who = app.client.me().map_or("…", |u| u.nick.as_str());
    let state = if app.online { "online" } else { "offline" };
    let title = format!(" palaver · {who} · {} · {state}", app.url);
    frame.render_widget(Paragraph::new(title).style(theme.selected()), panes.title);

    if panes.rooms.width > 0 {
        let inner_w = usize::from(panes.rooms.width.saturating_sub(2));
        let lines: Vec<Line> = app
            .client
            .rooms()
            .iter()
            .map(|r| room_line(app, r, room.as_ref(), inner_w))
            .collect();
        let block = Block::bordered()
            .title(" Rooms ")
            .border_style(theme.border());
        frame.render_widget(Paragraph::new(lines).block(block), panes.rooms);
    }

    let title = room
        .as_ref()
        .map_or(" no room ".to_owned(), |r| format!(" {r} "));
    let block = Block::bordered().title(title).border_style(theme.border());
    let inner = block.inner(panes.messages);
    frame.render_widget(block, panes.messages);
    if app.help {
        frame.render_widget(Paragraph::new(HELP), inner);
    } else if app.search.open {
        let hits = super::search::hit_lines(&app.search, theme);
        frame.render_widget(Paragraph::new(hits).wrap(Wrap { trim: false }), inner);
    } else {
        let lines = message_lines(app, inner.width, now);
        let height = usize::from(inner.height);
        let scroll = app.scroll.min(lines.len().saturating_sub(height));
        let end = lines.len() - scroll;
        let start = end.saturating_sub(height);
        // Like every chat, the newest line sits at the bottom of the pane.
        let shown = (end - start) as u16;
        let bottom = Rect {
            y: inner.y + inner.height.saturating_sub(shown),
            height: shown.min(inner.height),
            ..inner
        };
        frame.render_widget(Paragraph::new(lines[start..end].to_vec()), bottom);
    }

    let typing = room
        .as_ref()
        .and_then(|r| app.client.room(r))
        .map(|r| {
            let me = app.client.me().map(|u| &u.id);
            r.typing(now)
                .into_iter()
                .filter(|u| Some(&u.id) != me)
                .map(|u| u.nick.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let typing = match typing.as_slice() {
        [] if app.scroll > 0 => format!(" ↑ scrolled up {} lines (PageDown)", app.scroll),
        [] => String::new(),
        [one] => format!(" {one} is typing…"),
        [a, b] => format!(" {a} and {b} are typing…"),
        many => format!(" {} people are typing…", many.len()),
    };
    frame.render_widget(Paragraph::new(typing).style(theme.dim()), panes.typing);

    if panes.members.width > 0 {
        let state = room.as_ref().and_then(|r| app.client.room(r));
        let count = state.map_or(0, |r| r.member_count());
        let lines: Vec<Line> = state
            .map(|r| r.members())
            .unwrap_or_default()
            .into_iter()
            .map(|u| Line::styled(u.nick.as_str().to_owned(), theme.nick(u.nick.as_str())))
            .collect();
        let block = Block::bordered()
            .title(format!(" Members ({count}) "))
            .border_style(theme.border());
        frame.render_widget(Paragraph::new(lines).block(block), panes.members);
    }

    frame.render_widget(
        Paragraph::new(app.status.as_str()).style(theme.dim()),
        panes.status,
    );

    let (shown, cursor_x) = input_window(app, panes.input.width);
    frame.render_widget(Paragraph::new(shown), panes.input);
    frame.set_cursor_position((panes.input.x + cursor_x, panes.input.y));
}

/// One room in the list: its name, then its unread count and `@` mention
/// count at the right.
fn room_line(
    app: &App,
    room: &shared::client::Room,
    current: Option<&RoomName>,
    width: usize,
) -> Line<'static> {
    let theme = app.theme;
    let mut counts = Vec::new();
    if room.unread() > 0 {
        counts.push(Span::styled(format!(" {}", room.unread()), theme.unread()));
    }
    if room.mentions() > 0 {
        counts.push(Span::styled(
            format!(" @{}", room.mentions()),
            theme.mention(),
        ));
    }
    let counts_w: usize = counts.iter().map(|s| s.content.width()).sum();
    let name: String = room
        .name()
        .as_str()
        .chars()
        .take(width.saturating_sub(counts_w))
        .collect();
    let pad = width.saturating_sub(name.width() + counts_w);
    let style = match (Some(room.name()) == current, room.unread() > 0) {
        (true, _) => theme.selected(),
        (false, true) => theme.unread(),
        _ => Style::new(),
    };
    let mut spans = vec![Span::styled(format!("{name}{}", " ".repeat(pad)), style)];
    spans.extend(counts);
    Line::from(spans)
}

/// The part of the input line that fits `width` columns with the cursor
/// in view, after a `> ` prompt, and the cursor's column.
fn input_window(app: &App, width: u16) -> (String, u16) {
    const PROMPT: &str = "> ";
    let chars: Vec<char> = app.input.text().chars().collect();
    let cursor = app.input.cursor();
    let room = usize::from(width).saturating_sub(PROMPT.len() + 1).max(1);
    let mut start = 0;
    while chars[start..cursor].iter().collect::<String>().width() > room {
        start += 1;
    }
    let mut shown: String = PROMPT.to_owned();
    let mut used = 0;
    for c in &chars[start..] {
        let w = unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
        if used + w > room {
            break;
        }
        shown.push(*c);
        used += w;
    }
    let before: String = chars[start..cursor].iter().collect();
    (shown, (PROMPT.len() + before.width()) as u16)
}

/// The room at a click on the room list, if the click was on one.
pub fn room_at(app: &App, column: u16, row: u16) -> Option<RoomName> {
    let inner = Block::bordered().inner(layout(app.size).rooms);
    let inside = column >= inner.x
        && column < inner.x + inner.width
        && row >= inner.y
        && row < inner.y + inner.height;
    if !inside {
        return None;
    }
    let index = usize::from(row - inner.y);
    app.client.rooms().get(index).map(|r| r.name().clone())
}
