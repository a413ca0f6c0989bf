//! The input line: the text being typed, a cursor in it, and the lines sent
//! before (Up and Down walk them, like a shell). Pure editing, no terminal:
//! the app maps keys to these methods and the view draws [`Input::text`].

/// Lines kept for Up/Down; older ones are dropped.
const HISTORY: usize = 200;

#[derive(Debug, Default, Clone)]
pub struct Input {
    /// The line as characters, so the cursor is an index that cannot split
    /// a UTF-8 sequence.
    chars: Vec<char>,
    /// Where the next character goes, `0..=chars.len()`.
    cursor: usize,
    /// Lines submitted, oldest first.
    history: Vec<String>,
    /// While walking the history: the index shown, and the line being typed
    /// before the walk started (Down past the newest brings it back).
    walk: Option<(usize, String)>,
}

impl Input {
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the whole line, the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.chars = text.chars().collect();
        self.cursor = self.chars.len();
    }

    /// Replaces characters `start..self.cursor()` with `with` (completion).
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        let start = start.min(self.cursor);
        self.chars.splice(start..self.cursor, with.chars());
        self.cursor = start + with.chars().count();
    }

    pub fn insert(&mut self, c: char) {
        // A single-line input: a pasted newline becomes a space.
        let c = if c == '\n' || c == '\r' { ' ' } else { c };
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(c);
        }
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.chars.len();
    }

    /// Ctrl-U: deletes from the start to the cursor.
    pub fn kill_to_start(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Ctrl-K: deletes from the cursor to the end.
    pub fn kill_to_end(&mut self) {
        self.chars.truncate(self.cursor);
    }

    /// Ctrl-W: deletes the word before the cursor (and the spaces after it).
    pub fn kill_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Enter: the line, now empty, and remembered for Up (unless blank or
    /// the same as the last one).
    pub fn submit(&mut self) -> String {
        let line = self.text();
        self.chars.clear();
        self.cursor = 0;
        self.walk = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        line
    }

    /// Up: the previous line sent (the line being typed is kept for Down).
    pub fn older(&mut self) {
        let index = match &self.walk {
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
            None if self.history.is_empty() => return,
            None => {
                self.walk = Some((self.history.len(), self.text()));
                self.history.len() - 1
            }
        };
        if let Some((i, _)) = &mut self.walk {
            *i = index;
        }
        let line = self.history[index].clone();
        self.set(&line);
    }

    /// Down: the next line sent, then back to what was being typed.
    pub fn newer(&mut self) {
        let Some((index, draft)) = self.walk.take() else {
            return;
        };
        if index + 1 < self.history.len() {
            let line = self.history[index + 1].clone();
            self.walk = Some((index + 1, draft));
            self.set(&line);
        } else {
            self.set(&draft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Input {
        let mut input = Input::default();
        input.insert_str(s);
        input
    }

    #[test]
    fn edits_at_the_cursor() {
        let mut input = typed("héllo");
        input.left();
        input.left();
        input.insert('X');
        assert_eq!(input.text(), "hélXlo");
        input.backspace();
        input.delete();
        assert_eq!(input.text(), "héllo".replacen("l", "", 1));
        input.home();
        input.delete();
        assert_eq!(input.text(), "élo");
        input.end();
        input.right();
        input.insert('!');
        assert_eq!(input.text(), "élo!");
    }

    #[test]
    fn kills_words_and_ends() {
        let mut input = typed("say hello  world");
        input.kill_word();
        assert_eq!(input.text(), "say hello  ");
        input.kill_word();
        assert_eq!(input.text(), "say ");
        input.home();
        input.right();
        input.kill_to_end();
        assert_eq!(input.text(), "s");
        input.kill_to_start();
        assert!(input.is_empty());
    }

    #[test]
    fn up_and_down_walk_the_lines_sent_and_keep_the_draft() {
        let mut input = typed("one");
        input.submit();
        input.insert_str("two");
        input.submit();
        input.insert_str("two");
        input.submit(); // a repeat is remembered once
        input.insert_str("draft");
        input.older();
        assert_eq!(input.text(), "two");
        input.older();
        assert_eq!(input.text(), "one");
        input.older();
        assert_eq!(input.text(), "one");
        input.newer();
        assert_eq!(input.text(), "two");
        input.newer();
        assert_eq!(input.text(), "draft");
        input.newer();
        assert_eq!(input.text(), "draft");
    }

    #[test]
    fn a_pasted_newline_stays_on_one_line() {
        assert_eq!(typed("a\nb").text(), "a b");
    }

    #[test]
    fn replaces_the_word_before_the_cursor() {
        let mut input = typed("hi @al there");
        for _ in 0..6 {
            input.left();
        }
        input.replace_before_cursor(3, "@alice ");
        assert_eq!(input.text(), "hi @alice  there");
        assert_eq!(input.cursor(), 10);
    }
}
