//! Whether an open connection is still alive, decided from the clock alone.
//!
//! A browser or OS may not notice a dead TCP connection for minutes (a
//! laptop waking from sleep, a proxy that dropped it). The driver calls
//! [`Liveness::tick`] on its timer while online: an idle connection gets an
//! app-level `ping` every [`PING_EVERY_MS`] (which also keeps proxies from
//! closing it), and one that heard nothing for [`PONG_WAIT_MS`] after a ping
//! is declared dead, so the driver closes it and reconnects.

/// An app-level `ping` this often keeps idle connections (and proxies) alive.
pub const PING_EVERY_MS: u64 = 25_000;
/// A `ping` unanswered (nothing at all heard) for this long means the
/// connection is dead. Measured from the ping, not from the last frame, so a
/// background tab whose timers the browser slows down is not mistaken for a
/// dead one.
pub const PONG_WAIT_MS: u64 = 15_000;

/// What the driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Nothing.
    Idle,
    /// Write a `ping`.
    Ping,
    /// Nothing was heard since a ping long ago: close and reconnect.
    Dead,
}

/// The ping/pong clock of one client. Times are the driver's clock in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    last_ping: u64,
    last_heard: u64,
}

impl Liveness {
    pub fn new(now_ms: u64) -> Self {
        Liveness {
            last_ping: now_ms,
            last_heard: now_ms,
        }
    }

    /// A socket was opened: it counts as heard from now.
    pub fn opened(&mut self, now_ms: u64) {
        self.last_heard = now_ms;
    }

    /// Any frame arrived from the relay.
    pub fn heard(&mut self, now_ms: u64) {
        self.last_heard = now_ms;
    }

    /// Called on the driver's timer while the connection is online. A
    /// [`Beat::Ping`] is recorded as sent.
    pub fn tick(&mut self, now_ms: u64) -> Beat {
        let pinged = self.last_ping;
        if pinged > self.last_heard && now_ms >= pinged + PONG_WAIT_MS {
            Beat::Dead
        } else if now_ms >= pinged + PING_EVERY_MS {
            self.last_ping = now_ms;
            Beat::Ping
        } else {
            Beat::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_is_pinged_then_declared_dead_if_silent() {
        let mut live = Liveness::new(0);
        assert_eq!(live.tick(PING_EVERY_MS - 1), Beat::Idle);
        assert_eq!(live.tick(PING_EVERY_MS), Beat::Ping);
        assert_eq!(live.tick(PING_EVERY_MS + PONG_WAIT_MS - 1), Beat::Idle);
        assert_eq!(live.tick(PING_EVERY_MS + PONG_WAIT_MS), Beat::Dead);
    }

    #[test]
    fn any_frame_after_the_ping_keeps_it_alive() {
        let mut live = Liveness::new(0);
        assert_eq!(live.tick(PING_EVERY_MS), Beat::Ping);
        live.heard(PING_EVERY_MS + 10);
        assert_eq!(live.tick(PING_EVERY_MS + PONG_WAIT_MS), Beat::Idle);
        assert_eq!(live.tick(2 * PING_EVERY_MS), Beat::Ping);
    }

    #[test]
    fn a_slow_timer_is_not_a_dead_connection() {
        // A background tab's timer fired once, very late: that ping is new,
        // and the connection gets the full wait to answer it.
        let mut live = Liveness::new(0);
        live.heard(1_000);
        assert_eq!(live.tick(10 * PING_EVERY_MS), Beat::Ping);
        assert_eq!(live.tick(10 * PING_EVERY_MS + 1), Beat::Idle);
    }
}
