//! The message pane's lines: the shared model's [`timeline`] rows as
//! styled terminal lines, wrapped to the pane's width. A pure function of
//! the app, so the reducer counts lines (for scrolling and paging into
//! history) with the same code that draws them.

use ratatui::{
    style::Style,
    text::{Line, Span},
};
use shared::client::{page_timeline, timeline, DayLabel, Dir, Row, RowStatus, TimeZone};
use shared::ChatMessage;
use unicode_width::UnicodeWidthChar;

use super::app::App;
use crate::chat::upload;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Every line of the room on screen, oldest first, at most `width` columns.
pub fn message_lines(app: &App, width: u16, now: u64) -> Vec<Line<'static>> {
    message_lines_marked(app, width, now).0
}

/// [`message_lines`], and the index of the first line of the row a
/// `/goto` marked, if it is in the room on screen.
pub fn message_lines_marked(
    app: &App,
    width: u16,
    now: u64,
) -> (Vec<Line<'static>>, Option<usize>) {
    let marked = app
        .current()
        .and_then(|room| app.search.mark.as_ref().filter(|(r, _)| *r == room))
        .map(|(_, seq)| *seq);
    message_lines_finding(app, width, now, |seq| Some(seq) == marked)
}

/// [`message_lines`], and the index of the first line of the first row
/// whose seq is `found`, if one is shown. The room on screen shows its
/// detached window (`search`'s `/goto`) while it has one, else its live
/// messages.
pub fn message_lines_finding(
    app: &App,
    width: u16,
    now: u64,
    found: impl Fn(u64) -> bool,
) -> (Vec<Line<'static>>, Option<usize>) {
    let theme = app.theme;
    let Some(room) = app.current() else {
        let none = Line::styled("you are in no room: /join ROOM", theme.dim());
        return (vec![none], None);
    };
    let Some(state) = app.client.room(&room) else {
        return (Vec::new(), None);
    };
    let marked = app
        .search
        .mark
        .as_ref()
        .filter(|(r, _)| *r == room)
        .map(|(_, seq)| *seq);
    let window = app.search.window_of(&room);
    let mut mark = None;
    // Files' URLs are relative to the relay's HTTP address.
    let base = upload::http_authority(&app.url)
        .map(|authority| format!("http://{authority}"))
        .unwrap_or_default();
    let (at_start, loading_older) = match window {
        Some(w) => (w.at_start(), w.loading() == Some(Dir::Older)),
        None => (state.at_start(), state.is_loading_history()),
    };
    let head = if window.is_some_and(|w| !w.is_loaded()) {
        "── loading the messages around the search hit… ──".to_owned()
    } else if at_start {
        format!("── beginning of #{room} ──")
    } else if loading_older {
        "── loading older messages… ──".to_owned()
    } else {
        "── PageUp for older messages ──".to_owned()
    };
    let mut lines = vec![Line::styled(head, theme.dim())];
    let tz = TimeZone {
        now_ms: now,
        offset_ms: app.tz_offset_ms,
    };
    let rows = match window {
        Some(w) => {
            let page: Vec<ChatMessage> = w.messages().cloned().collect();
            page_timeline(app.client.me(), &room, &page, tz)
        }
        None => timeline(&app.client, &room, tz),
    };
    for row in rows {
        if let Some(day) = row.day {
            let label = match day {
                DayLabel::Today => "today".to_owned(),
                DayLabel::Yesterday => "yesterday".to_owned(),
                DayLabel::Date(ts) => date(ts, app.tz_offset_ms),
            };
            lines.push(Line::styled(format!("── {label} ──"), theme.dim()));
        }
        if row.gap_before {
            lines.push(Line::styled("… messages missing here …", theme.dim()));
        }
        let mut spans = row_spans(app, &row);
        if mark.is_none() && row.seq.is_some_and(&found) {
            mark = Some(lines.len());
        }
        if row.seq.is_some() && row.seq == marked {
            spans.insert(0, Span::styled("> ", theme.hit()));
        }
        lines.extend(wrap(spans, width));
        for file in &row.attachments {
            let note = upload::file_note(file, &base);
            lines.extend(wrap(
                vec![Span::styled(format!("  ↳{note}"), theme.dim())],
                width,
            ));
        }
    }
    // A window reads on below until it meets the live messages.
    if let Some(w) = window.filter(|w| w.is_loaded()) {
        let foot = match w.loading() {
            Some(Dir::Newer) => "── loading newer messages… ──",
            _ => "── PageDown for newer messages · End: the latest ──",
        };
        lines.push(Line::styled(foot, theme.dim()));
    }
    (lines, mark)
}

fn row_spans(app: &App, row: &Row) -> Vec<Span<'static>> {
    let theme = app.theme;
    let seq = row.seq.map_or_else(|| "#…".to_owned(), |s| format!("#{s}"));
    let mut spans = vec![
        Span::styled(
            format!("{} {seq} ", clock(row.ts, app.tz_offset_ms)),
            theme.dim(),
        ),
        Span::styled(row.from.clone(), theme.nick(&row.from)),
    ];
    if let Some(to) = row.reply_to {
        spans.push(Span::styled(format!(" (re #{to})"), theme.dim()));
    }
    spans.push(Span::raw(": "));
    let text_style = match (&row.status, row.mentions_me, row.deleted) {
        (RowStatus::Failed(_), ..) => theme.error(),
        (_, _, true) | (RowStatus::Pending, ..) => theme.dim(),
        (_, true, _) => theme.mention(),
        _ => Style::new(),
    };
    spans.push(Span::styled(row.text.clone(), text_style));
    if row.edited_ts.is_some() && !row.deleted {
        spans.push(Span::styled(" (edited)", theme.dim()));
    }
    for r in &row.reactions {
        let mine = if r.mine { "*" } else { "" };
        spans.push(Span::styled(
            format!(" [{}{} {}]", mine, r.emoji.as_str(), r.count),
            theme.dim(),
        ));
    }
    match &row.status {
        RowStatus::Pending => spans.push(Span::styled(" (sending)", theme.dim())),
        RowStatus::Failed(why) => {
            spans.push(Span::styled(format!(" (not sent: {why})"), theme.error()))
        }
        RowStatus::Stored if row.changing => spans.push(Span::styled(" (saving)", theme.dim())),
        RowStatus::Stored => {}
    }
    spans
}

/// Breaks styled text into lines of at most `width` columns (by character,
/// so a long word or URL still fits), and at every newline in the text.
pub fn wrap(spans: Vec<Span<'static>>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut lines = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if c == '\n' || used + w > width {
                if !piece.is_empty() {
                    line.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                lines.push(Line::from(std::mem::take(&mut line)));
                used = 0;
                if c == '\n' {
                    continue;
                }
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            line.push(Span::styled(piece, span.style));
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

/// `HH:MM` of a Unix-millisecond time at the given offset.
fn clock(ts: u64, offset_ms: i64) -> String {
    let minutes = (ts as i64 + offset_ms).rem_euclid(DAY_MS) / 60_000;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `YYYY-MM-DD` of a Unix-millisecond time at the given offset.
fn date(ts: u64, offset_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts as i64 + offset_ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_at_the_width_and_at_newlines() {
        let lines = wrap(vec![Span::raw("12:00 "), Span::raw("abcdefgh\nij")], 5);
        assert_eq!(texts(&lines), ["12:00", " abcd", "efgh", "ij"]);
        // Wide characters take two columns and are never split.
        assert_eq!(texts(&wrap(vec![Span::raw("日本語")], 5)), ["日本", "語"]);
        assert_eq!(texts(&wrap(vec![], 5)), [""]);
    }

    #[test]
    fn clock_and_date_use_the_offset() {
        assert_eq!(clock(0, 0), "00:00");
        assert_eq!(clock(0, 2 * 3_600_000 + 5 * 60_000), "02:05");
        assert_eq!(clock(0, -60_000), "23:59");
        assert_eq!(date(0, -60_000), "1969-12-31");
    }
}
