//! The frame-rate ceiling of one connection and its flood close.
//!
//! Every frame a client sends is charged, whatever its kind: text, binary,
//! oversized, ping or pong. A frame over the budget is dropped with a
//! `rate_limited` answer; the drops themselves have a budget, counted over
//! time rather than in a row, so a client that keeps sending faster than the
//! ceiling is closed (4004) however it paces itself.

use std::time::Duration;

use super::rate::{Budget, Rate};

/// Frames of any kind per second per connection, and at once.
pub const FRAMES_PER_SEC: u32 = 30;
pub const FRAME_BURST: u32 = 120;
/// Dropped frames tolerated at once; beyond that, one more a second
/// ([`DROPS_FORGIVEN_EVERY`]). A client over the ceiling by more than one
/// frame a second is closed within two minutes, a flood at once.
pub const FLOOD_DROPS: u32 = 120;
pub const DROPS_FORGIVEN_EVERY: Duration = Duration::from_secs(1);

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Within the budget: handle it.
    Pass,
    /// Over the budget: answer `rate_limited` and drop it.
    Drop,
    /// Over the budget of drops too: close the connection (4004).
    Flood,
}

/// One connection's frame budget and its budget of dropped frames.
pub struct FrameGuard {
    frames: Rate,
    drops: Rate,
}

impl FrameGuard {
    pub fn new(frames: Budget, drops: Budget) -> Self {
        FrameGuard {
            frames: Rate::new(frames),
            drops: Rate::new(drops),
        }
    }

    /// The relay's ceiling: at least `send_rate` (`--rate-limit`) frames a
    /// second, and none when that is 0 (unlimited).
    pub fn for_send_rate(send_rate: u32) -> Self {
        if send_rate == 0 {
            return FrameGuard::new(Budget::UNLIMITED, Budget::UNLIMITED);
        }
        FrameGuard::new(
            Budget::per_second(FRAMES_PER_SEC.max(send_rate), FRAME_BURST),
            Budget::per(DROPS_FORGIVEN_EVERY, 1, FLOOD_DROPS),
        )
    }

    /// Charges one frame.
    pub fn admit(&self) -> Admit {
        if self.frames.allow() {
            Admit::Pass
        } else if self.drops.allow() {
            Admit::Drop
        } else {
            Admit::Flood
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_drops_then_the_flood_close() {
        let guard = FrameGuard::for_send_rate(5);
        let verdicts: Vec<Admit> = (0..FRAME_BURST + FLOOD_DROPS + 1)
            .map(|_| guard.admit())
            .collect();
        assert!(verdicts[..FRAME_BURST as usize]
            .iter()
            .all(|v| *v == Admit::Pass));
        assert!(verdicts[FRAME_BURST as usize..][..FLOOD_DROPS as usize]
            .iter()
            .all(|v| *v == Admit::Drop));
        assert_eq!(verdicts.last(), Some(&Admit::Flood));
    }

    /// The pacing that used to dodge the close: a frame passes after each
    /// refill, which reset a count of drops "in a row".
    #[tokio::test(start_paused = true)]
    async fn pacing_around_the_refill_does_not_dodge_the_close() {
        let guard = FrameGuard::for_send_rate(5);
        let refill = Duration::from_secs(1) / FRAMES_PER_SEC;
        let mut passed_after_drops = 0;
        for round in 0..200 {
            let verdicts: Vec<Admit> = (0..100).map(|_| guard.admit()).collect();
            if verdicts.contains(&Admit::Flood) {
                assert!(passed_after_drops > 0, "the pacing let frames through");
                assert!(round < 10, "closed only after {round} rounds");
                return;
            }
            if round > 0 && verdicts[0] == Admit::Pass {
                passed_after_drops += 1;
            }
            tokio::time::advance(refill).await;
        }
        panic!("a client sending 3000 frames a second was never closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_at_twice_the_ceiling_is_closed_within_seconds() {
        // Every other frame passes, so drops never come many in a row:
        // only counting them over time closes this client.
        let guard = FrameGuard::for_send_rate(5);
        let every = Duration::from_secs(1) / (2 * FRAMES_PER_SEC);
        for frame in 0..(2 * FRAMES_PER_SEC * 60) {
            if guard.admit() == Admit::Flood {
                let after = Duration::from_secs(1) * frame / (2 * FRAMES_PER_SEC);
                assert!(after < Duration::from_secs(20), "closed after {after:?}");
                return;
            }
            tokio::time::advance(every).await;
        }
        panic!("a client at twice the ceiling was never closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_at_the_ceiling_is_never_closed() {
        let guard = FrameGuard::for_send_rate(5);
        for _ in 0..(FRAMES_PER_SEC * 600) {
            assert_eq!(guard.admit(), Admit::Pass);
            tokio::time::advance(Duration::from_secs(1) / FRAMES_PER_SEC).await;
        }
    }

    #[test]
    fn no_ceiling_without_a_send_rate() {
        let guard = FrameGuard::for_send_rate(0);
        assert!((0..100_000).all(|_| guard.admit() == Admit::Pass));
    }
}
