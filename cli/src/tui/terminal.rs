//! Taking over the terminal and giving it back: raw mode, the alternate
//! screen, mouse and bracketed-paste reporting on the way in; all of it
//! undone on the way out, whether the UI ends normally, with an error
//! (the [`Guard`] is dropped) or with a panic (the hook restores before
//! the panic message prints, so it is readable on the normal screen).
//! Ctrl-C arrives as a key in raw mode and quits through the app.

use std::io::{self, Stdout};

use crossterm::{
    cursor::Show,
    event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture},
    execute,
    terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen},
};
use ratatui::{backend::CrosstermBackend, Terminal};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// The terminal while the UI owns it; dropping it restores the terminal.
pub struct Guard {
    pub terminal: Term,
}

pub fn enter() -> io::Result<Guard> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    // From here on an error must restore what was already changed.
    let setup = execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )
    .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
    match setup {
        Ok(terminal) => Ok(Guard { terminal }),
        Err(err) => {
            restore();
            Err(err)
        }
    }
}

/// Undoes [`enter`]; safe to call twice (the panic hook and the guard).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}
