//! When the outbox may write its next `send`.
//!
//! The relay limits each connection's sends (`welcome` announces
//! `rate_per_sec` and `rate_burst`) and refuses the excess with
//! `rate_limited`. A person who pastes 30 lines must never see one of
//! them refused, so the client keeps the same budget itself and waits
//! rather than sending into a refusal. It mirrors the relay's limiter (a
//! GCRA: `burst` sends at once, then one every `1000 / rate` ms) with one
//! send of the burst held back, so frames that the network delivers
//! closer together than they were written still fit the relay's budget.
//!
//! When a refusal comes anyway (another client shares the room's budget,
//! or an older relay counts differently), its `retry_after_ms` (or one
//! interval, from a relay that does not say) blocks every send until then.
//!
//! Time is the caller's clock in Unix milliseconds, as everywhere in the
//! client model.

use crate::protocol::Limits;

/// The client's copy of the relay's send budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pacer {
    /// Milliseconds between sends at the sustained rate; 0: unlimited.
    interval_ms: u64,
    /// How far ahead of `now` the budget may run: the burst, in ms.
    tolerance_ms: u64,
    /// GCRA's theoretical arrival time of the next send.
    tat_ms: u64,
    /// No send before this (a `rate_limited` asked us to wait).
    blocked_until_ms: u64,
}

/// What a refusal without `retry_after_ms` makes the client wait when the
/// relay announced no rate (it still refused: give it a moment).
const DEFAULT_WAIT_MS: u64 = 1_000;

impl Pacer {
    /// A full budget for a fresh connection with these limits (the relay's
    /// budget is per connection, so every `welcome` starts a new one).
    pub fn new(limits: &Limits) -> Pacer {
        if limits.rate_per_sec == 0 {
            return Pacer::default();
        }
        let interval_ms = 1_000_u64.div_ceil(u64::from(limits.rate_per_sec));
        // One send of the relay's burst held back as margin.
        let burst = u64::from(limits.rate_burst.max(2)) - 1;
        Pacer {
            interval_ms,
            tolerance_ms: interval_ms * (burst - 1),
            tat_ms: 0,
            blocked_until_ms: 0,
        }
    }

    /// The earliest time a send fits the budget.
    pub fn ready_at(&self) -> u64 {
        let budget = self.tat_ms.saturating_sub(self.tolerance_ms);
        budget.max(self.blocked_until_ms)
    }

    /// Whether a send fits the budget at `now_ms`.
    pub fn ready(&self, now_ms: u64) -> bool {
        self.ready_at() <= now_ms
    }

    /// A send was written at `now_ms`: it spends one of the budget.
    pub fn spend(&mut self, now_ms: u64) {
        if self.interval_ms > 0 {
            self.tat_ms = self.tat_ms.max(now_ms) + self.interval_ms;
        }
    }

    /// The relay refused a send with `rate_limited` at `now_ms`: nothing is
    /// sent before `retry_after_ms` (or one interval) has passed, and the
    /// budget counts as spent until then.
    pub fn refused(&mut self, now_ms: u64, retry_after_ms: Option<u64>) {
        let wait = retry_after_ms.unwrap_or(if self.interval_ms > 0 {
            self.interval_ms
        } else {
            DEFAULT_WAIT_MS
        });
        self.blocked_until_ms = self.blocked_until_ms.max(now_ms + wait);
        // The relay's budget is empty now: start again from a single send.
        self.tat_ms = self.tat_ms.max(now_ms + wait + self.tolerance_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate_per_sec: u32, rate_burst: u32) -> Limits {
        Limits {
            max_text_chars: 4000,
            max_frame_bytes: 32768,
            rate_per_sec,
            rate_burst,
            max_rooms: 50,
            max_history_page: 100,
        }
    }

    /// Sends `n` as early as the pacer allows from `start`; their times.
    fn send_times(pacer: &mut Pacer, start: u64, n: usize) -> Vec<u64> {
        let mut times = Vec::new();
        let mut now = start;
        while times.len() < n {
            now = now.max(pacer.ready_at());
            assert!(pacer.ready(now));
            pacer.spend(now);
            times.push(now);
        }
        times
    }

    #[test]
    fn a_paste_goes_out_in_a_burst_one_short_of_the_relays_then_at_the_rate() {
        let mut pacer = Pacer::new(&limits(5, 10));
        let times = send_times(&mut pacer, 1_000, 14);
        // Nine at once (the relay's burst of ten, one held back)...
        assert_eq!(&times[..9], &[1_000; 9]);
        // ...then one every 200 ms.
        assert_eq!(&times[9..], &[1_200, 1_400, 1_600, 1_800, 2_000]);
    }

    #[test]
    fn a_budget_refills_while_the_user_is_quiet() {
        let mut pacer = Pacer::new(&limits(5, 10));
        send_times(&mut pacer, 1_000, 9);
        assert!(!pacer.ready(1_000));
        // Ten seconds later the whole burst is back.
        let times = send_times(&mut pacer, 11_000, 9);
        assert_eq!(times, [11_000; 9]);
    }

    #[test]
    fn never_faster_than_the_relay_allows_over_any_window() {
        // The relay's GCRA at 5/s with a burst of 10 accepts at most
        // 10 + 5 * t sends in any t seconds.
        let mut pacer = Pacer::new(&limits(5, 10));
        let times = send_times(&mut pacer, 0, 200);
        for (i, &start) in times.iter().enumerate() {
            for (j, &end) in times.iter().enumerate().skip(i) {
                let allowed = 10 + (end - start) * 5 / 1_000;
                assert!((j - i + 1) as u64 <= allowed, "{i}..={j}");
            }
        }
    }

    #[test]
    fn a_refusal_blocks_until_retry_after_then_sends_one_at_a_time() {
        let mut pacer = Pacer::new(&limits(5, 10));
        pacer.refused(1_000, Some(750));
        assert!(!pacer.ready(1_749));
        assert!(pacer.ready(1_750));
        pacer.spend(1_750);
        assert_eq!(pacer.ready_at(), 1_950);
    }

    #[test]
    fn a_refusal_without_retry_after_waits_one_interval() {
        let mut pacer = Pacer::new(&limits(4, 8));
        pacer.refused(1_000, None);
        assert_eq!(pacer.ready_at(), 1_250);
    }

    #[test]
    fn an_unlimited_relay_is_never_waited_for_unless_it_refuses() {
        let mut pacer = Pacer::new(&limits(0, 0));
        assert_eq!(send_times(&mut pacer, 5, 100), vec![5; 100]);
        pacer.refused(10, None);
        assert_eq!(pacer.ready_at(), 10 + DEFAULT_WAIT_MS);
    }

    #[test]
    fn a_burst_of_one_paces_every_send() {
        let mut pacer = Pacer::new(&limits(10, 1));
        assert_eq!(send_times(&mut pacer, 0, 3), [0, 100, 200]);
    }
}
