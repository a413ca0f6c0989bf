//! The connection state machine: when to open a socket, and when to try again.
//!
//! It owns no socket and no timer. The driver (the web app's socket service,
//! the terminal client's task) tells it what happened (`connecting`,
//! `online`, `closed`, the network came back, the tab became visible) and
//! asks it what to do (`should_connect(now)`, `retry_in_ms(now)`). Time is a
//! plain `now` in milliseconds and jitter is a number the caller draws, so
//! every decision is reproducible in a test.

/// Where the connection stands, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// A socket is being opened. `attempt` counts the failed tries before
    /// this one (0 for the first).
    Connecting { attempt: u32 },
    /// The relay answered with `welcome`; frames flow.
    Online,
    /// The last socket closed or failed; the next try is at `retry_at`
    /// (milliseconds, the caller's clock). `attempt` is the number of
    /// consecutive failures so far (1 after the first).
    Reconnecting { attempt: u32, retry_at: u64 },
    /// The network is known to be down (the browser said so): nothing is
    /// tried until it comes back.
    Offline,
}

/// Exponential backoff with jitter: the n-th retry waits about
/// `base_ms * 2^(n-1)`, never more than `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s, ... capped at 30 s (each scaled down by jitter).
    fn default() -> Self {
        Backoff {
            base_ms: 1_000,
            max_ms: 30_000,
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1-based). `jitter` is a
    /// uniform random number in `[0, 1)`; the wait lies in the upper half of
    /// the exponential step ("equal jitter"), so clients that lost the same
    /// relay at once spread out but none waits longer than `max_ms`.
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> u64 {
        let exp = attempt.saturating_sub(1).min(32);
        let step = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = step / 2;
        half + ((step - half) as f64 * jitter) as u64
    }
}

/// Drives [`ConnState`] from events. See the module docs.
#[derive(Debug, Clone)]
pub struct Reconnect {
    state: ConnState,
    backoff: Backoff,
    /// Consecutive failures since the last time the relay said `welcome`.
    failures: u32,
    /// Whether the network is believed to be up (browsers know; terminals
    /// assume yes).
    network_up: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect::new(Backoff::default())
    }
}

impl Reconnect {
    /// Starts due to connect at once (`Reconnecting` with `retry_at` 0).
    pub fn new(backoff: Backoff) -> Self {
        Reconnect {
            state: ConnState::Reconnecting {
                attempt: 0,
                retry_at: 0,
            },
            backoff,
            failures: 0,
            network_up: true,
        }
    }

    pub fn state(&self) -> ConnState {
        self.state
    }

    pub fn is_online(&self) -> bool {
        self.state == ConnState::Online
    }

    /// True when the driver should open a socket now.
    pub fn should_connect(&self, now_ms: u64) -> bool {
        matches!(self.state, ConnState::Reconnecting { retry_at, .. } if now_ms >= retry_at)
    }

    /// How long until the next try, for "reconnecting in 4 s" and for the
    /// driver's timer. `None` unless waiting to retry.
    pub fn retry_in_ms(&self, now_ms: u64) -> Option<u64> {
        match self.state {
            ConnState::Reconnecting { retry_at, .. } => Some(retry_at.saturating_sub(now_ms)),
            _ => None,
        }
    }

    /// The driver is opening a socket.
    pub fn connecting(&mut self) {
        self.state = ConnState::Connecting {
            attempt: self.failures,
        };
    }

    /// The relay said `welcome`: the connection works, backoff starts over.
    pub fn online(&mut self) {
        self.failures = 0;
        self.state = ConnState::Online;
    }

    /// The socket closed or failed to open. Returns when to try again (or
    /// `None` when the network is down and nothing will be tried until
    /// [`Reconnect::network_online`]). `jitter` is uniform in `[0, 1)`.
    pub fn closed(&mut self, now_ms: u64, jitter: f64) -> Option<u64> {
        self.failures = self.failures.saturating_add(1);
        if !self.network_up {
            self.state = ConnState::Offline;
            return None;
        }
        let retry_at = now_ms + self.backoff.delay_ms(self.failures, jitter);
        self.state = ConnState::Reconnecting {
            attempt: self.failures,
            retry_at,
        };
        Some(retry_at)
    }

    /// The browser reports the network gone. An open socket will fail on its
    /// own; a pending retry is dropped.
    pub fn network_offline(&mut self) {
        self.network_up = false;
        if let ConnState::Reconnecting { .. } = self.state {
            self.state = ConnState::Offline;
        }
    }

    /// The browser reports the network back: try at once.
    pub fn network_online(&mut self, now_ms: u64) {
        self.network_up = true;
        self.retry_now(now_ms);
    }

    /// The tab became visible again (or the user clicked "retry"): a
    /// waiting retry happens at once instead of after the backoff.
    pub fn wake(&mut self, now_ms: u64) {
        if self.network_up {
            self.retry_now(now_ms);
        }
    }

    fn retry_now(&mut self, now_ms: u64) {
        if matches!(
            self.state,
            ConnState::Reconnecting { .. } | ConnState::Offline
        ) {
            self.state = ConnState::Reconnecting {
                attempt: self.failures,
                retry_at: now_ms,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_near_thirty_seconds() {
        let b = Backoff::default();
        // Without jitter the wait is half the step; with maximal jitter the
        // whole step.
        assert_eq!(b.delay_ms(1, 0.0), 500);
        assert_eq!(b.delay_ms(1, 0.999_999), 999);
        assert_eq!(b.delay_ms(2, 0.0), 1_000);
        assert_eq!(b.delay_ms(3, 0.5), 3_000);
        for attempt in 6..200 {
            let d = b.delay_ms(attempt, 0.999_999);
            assert!((15_000..=30_000).contains(&d), "{attempt}: {d}");
        }
        assert_eq!(b.delay_ms(u32::MAX, 1.0), 30_000);
        // Bad jitter cannot produce a bad delay.
        assert_eq!(b.delay_ms(1, f64::NAN), 500);
        assert_eq!(b.delay_ms(1, -3.0), 500);
    }

    #[test]
    fn failures_back_off_and_welcome_resets() {
        let mut r = Reconnect::default();
        assert!(r.should_connect(0));
        r.connecting();
        assert_eq!(r.state(), ConnState::Connecting { attempt: 0 });
        assert_eq!(r.closed(10_000, 0.0), Some(10_500));
        assert!(!r.should_connect(10_499));
        assert!(r.should_connect(10_500));
        assert_eq!(r.retry_in_ms(10_100), Some(400));
        r.connecting();
        assert_eq!(r.closed(20_000, 0.0), Some(21_000));
        r.connecting();
        assert_eq!(r.state(), ConnState::Connecting { attempt: 2 });
        r.online();
        assert!(r.is_online());
        assert!(!r.should_connect(u64::MAX));
        // After a working connection the first retry is quick again.
        assert_eq!(r.closed(50_000, 0.0), Some(50_500));
    }

    #[test]
    fn network_back_and_visible_tab_retry_at_once() {
        let mut r = Reconnect::default();
        r.connecting();
        for _ in 0..10 {
            r.closed(0, 0.5);
            r.connecting();
        }
        let retry_at = r.closed(1_000, 0.5).unwrap();
        assert!(retry_at > 20_000);
        r.wake(2_000);
        assert!(r.should_connect(2_000));

        r.connecting();
        r.network_offline();
        assert_eq!(r.closed(3_000, 0.5), None);
        assert_eq!(r.state(), ConnState::Offline);
        r.wake(4_000);
        assert!(!r.should_connect(u64::MAX), "no tries while offline");
        r.network_online(5_000);
        assert!(r.should_connect(5_000));
    }

    #[test]
    fn waking_an_online_connection_changes_nothing() {
        let mut r = Reconnect::default();
        r.connecting();
        r.online();
        r.wake(1);
        r.network_online(1);
        assert_eq!(r.state(), ConnState::Online);
    }
}
