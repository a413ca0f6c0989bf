//! When a client in token mode fetches a fresh token, decided from the clock
//! alone.
//!
//! In token mode a connection lives as long as its token: the relay sends
//! `token_expiring` shortly before `exp`, and closes the connection (4005)
//! at `exp` unless a `reauth` brought a fresh token. The driver owns the
//! way to get one (the web app fetches `token_url`, `palaver chat` runs
//! `--token-cmd`); this policy says when: at once when warned, again every
//! [`RETRY_MS`] while fetches fail and the token has not expired, and never
//! more often than [`MIN_GAP_MS`], so a login service that hands out
//! tokens with less than the warning time left is not asked in a loop.

/// A failed fetch is tried again this much later, until the token expires.
pub const RETRY_MS: u64 = 5_000;
/// Two fetches start at least this far apart.
pub const MIN_GAP_MS: u64 = 10_000;

/// The renewal clock of one connection. Times are the driver's clock in
/// milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewal {
    /// When the next fetch should start, if one is wanted.
    due: Option<u64>,
    /// A fetch is running: no second one starts meanwhile.
    fetching: bool,
    /// When the last fetch started.
    last_start: Option<u64>,
    /// The current token's `exp` in milliseconds, as the relay announced:
    /// retrying past it is pointless (the relay closed the connection).
    deadline: Option<u64>,
}

impl Renewal {
    /// The relay sent `token_expiring` with `exp` (Unix seconds).
    pub fn expiring(&mut self, exp_secs: u64, now_ms: u64) {
        self.deadline = Some(exp_secs.saturating_mul(1000));
        let earliest = self
            .last_start
            .map_or(now_ms, |last| last.saturating_add(MIN_GAP_MS));
        self.due = Some(now_ms.max(earliest));
    }

    /// Whether to start a fetch now; if so, it counts as started.
    pub fn poll(&mut self, now_ms: u64) -> bool {
        match self.due {
            Some(due) if !self.fetching && now_ms >= due => {
                self.due = None;
                self.fetching = true;
                self.last_start = Some(now_ms);
                true
            }
            _ => false,
        }
    }

    /// The fetch started by [`Renewal::poll`] ended. After a failure another
    /// one is due [`RETRY_MS`] later, if that is before the token expires.
    pub fn fetched(&mut self, ok: bool, now_ms: u64) {
        self.fetching = false;
        if ok {
            return;
        }
        let retry_at = now_ms.saturating_add(RETRY_MS);
        if self.deadline.is_some_and(|deadline| retry_at < deadline) {
            self.due = Some(retry_at);
        }
    }

    /// The connection ended: the next one starts with a token of its own,
    /// so nothing stays due. (A fetch still running ends with `fetched`.)
    pub fn disconnected(&mut self) {
        self.due = None;
        self.deadline = None;
    }

    /// How long until a fetch is due, for the driver's timer; `None` when
    /// none is wanted (or one is running).
    pub fn due_in_ms(&self, now_ms: u64) -> Option<u64> {
        match self.due {
            Some(due) if !self.fetching => Some(due.saturating_sub(now_ms)),
            _ => None,
        }
    }

    /// Whether a fetch is wanted or running (for a status line).
    pub fn pending(&self) -> bool {
        self.due.is_some() || self.fetching
    }
}

/// The token in a token URL's answer: the `token` field of a JSON object,
/// or else the whole body, trimmed. `None` when that is empty or not a
/// plausible token (a JWT has no spaces or control characters).
pub fn token_from_body(body: &str) -> Option<String> {
    let body = body.trim();
    let token = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => object.get("token")?.as_str()?.trim().to_string(),
        _ => body.to_string(),
    };
    let plausible = !token.is_empty()
        && token.len() <= 16 * 1024
        && !token.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp` 100 s after the clock's zero, in seconds.
    const EXP: u64 = 100;

    #[test]
    fn a_warning_makes_a_fetch_due_at_once_and_only_one_runs() {
        let mut renewal = Renewal::default();
        assert!(!renewal.poll(0), "nothing is due before a warning");
        renewal.expiring(EXP, 1_000);
        assert!(renewal.pending());
        assert_eq!(renewal.due_in_ms(1_000), Some(0));
        assert!(renewal.poll(1_000));
        assert_eq!(renewal.due_in_ms(1_001), None, "one fetch at a time");
        assert!(!renewal.poll(1_001), "one fetch at a time");
        renewal.fetched(true, 1_200);
        assert!(!renewal.pending());
        assert!(!renewal.poll(60_000), "a successful fetch wants no other");
    }

    #[test]
    fn a_failed_fetch_is_retried_until_the_token_expires() {
        let mut renewal = Renewal::default();
        renewal.expiring(EXP, 90_000);
        assert!(renewal.poll(90_000));
        renewal.fetched(false, 90_500);
        assert_eq!(renewal.due_in_ms(90_500), Some(RETRY_MS));
        assert!(!renewal.poll(90_500 + RETRY_MS - 1));
        assert!(renewal.poll(90_500 + RETRY_MS));
        // The next retry would come after exp: pointless, none is due.
        renewal.fetched(false, 96_000);
        assert!(!renewal.pending());
        assert!(!renewal.poll(200_000));
    }

    #[test]
    fn warnings_in_a_row_do_not_fetch_more_often_than_the_gap() {
        let mut renewal = Renewal::default();
        renewal.expiring(EXP, 0);
        assert!(renewal.poll(0));
        renewal.fetched(true, 100);
        // The fresh token is short too: the relay warns again at once.
        renewal.expiring(EXP + 5, 200);
        assert!(!renewal.poll(200));
        assert!(!renewal.poll(MIN_GAP_MS - 1));
        assert!(renewal.poll(MIN_GAP_MS));
    }

    #[test]
    fn a_disconnect_drops_what_was_due() {
        let mut renewal = Renewal::default();
        renewal.expiring(EXP, 0);
        renewal.disconnected();
        assert!(!renewal.poll(1));
        assert!(!renewal.pending());
    }

    #[test]
    fn a_token_url_may_answer_json_or_the_bare_token() {
        assert_eq!(
            token_from_body("  abc.def.ghi\n").as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            token_from_body(r#"{"token":"abc.def.ghi","expires_in":300}"#).as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(token_from_body(""), None);
        assert_eq!(token_from_body(r#"{"error":"login required"}"#), None);
        assert_eq!(token_from_body("<html>login</html> page"), None);
    }
}
