//! The TUI's styles. Colour is optional: with `NO_COLOR` set (to anything
//! but the empty string, see no-color.org) every style keeps only its
//! modifiers (bold, dim, reversed, underlined), so the screen still shows
//! the room on screen, mentions and pending messages apart.

use ratatui::style::{Color, Modifier, Style};

/// Nick colours, picked by a hash of the nick so each person keeps one.
const NICK_COLORS: [Color; 6] = [
    Color::Cyan,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
    Color::LightGreen,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set and not empty.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn nick(self, nick: &str) -> Style {
        let hash = nick
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        self.fg(NICK_COLORS[hash as usize % NICK_COLORS.len()])
            .add_modifier(Modifier::BOLD)
    }

    /// A message that mentions us, and a room's mention count.
    pub fn mention(self) -> Style {
        let style = self.fg(Color::Yellow).add_modifier(Modifier::BOLD);
        if self.color {
            style
        } else {
            style.add_modifier(Modifier::UNDERLINED)
        }
    }

    /// Times, `#seq`s, dividers, the typing line.
    /// A search hit's matched words; and the row a `/goto` shows.
    pub fn hit(self) -> Style {
        Style::new()
            .add_modifier(Modifier::BOLD)
            .add_modifier(Modifier::UNDERLINED)
    }

    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::DIM)
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The room on screen in the room list, and the title bar.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A room with unread messages.
    pub fn unread(self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }

    pub fn border(self) -> Style {
        self.fg(Color::DarkGray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_colour_only_modifiers_remain() {
        let plain = Theme { color: false };
        for style in [
            plain.nick("alice"),
            plain.mention(),
            plain.dim(),
            plain.error(),
            plain.unread(),
            plain.border(),
        ] {
            assert_eq!((style.fg, style.bg), (None, None), "{style:?}");
        }
        assert!(Theme { color: true }.nick("alice").fg.is_some());
        assert_eq!(
            Theme { color: true }.nick("alice"),
            Theme { color: true }.nick("alice")
        );
    }
}
