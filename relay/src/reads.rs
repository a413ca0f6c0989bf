//! What a short `join` or `history` frame may cost: read amplification.
//!
//! A 60-byte `history` request can be answered with a page of up to
//! 1.6 MB, and in cluster mode each `join` or `history` costs three
//! JetStream API calls and a temporary consumer. Two bounds:
//!
//! - [`ReadBudget`], per connection: bytes of `joined` and `history`
//!   replies per second (`--read-bytes-per-sec`, burst
//!   `--read-bytes-burst`). The budget is charged after the reply is built
//!   (its size is only known then) and may go into debt by one reply; a
//!   request while in debt is refused with `rate_limited` saying how long
//!   to wait.
//! - [`ReadGate`], per relay: store reads running at once
//!   (`--max-store-reads`). A read beyond waits its turn at most
//!   [`QUEUE_WAIT`], then is refused with `unavailable`.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::Semaphore, time::Instant};

use crate::store::StoreError;

/// How long a read waits for a free slot before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// A connection's budget of reply bytes for `joined` and `history`.
pub struct ReadBudget {
    /// Bytes per second; 0 = unlimited.
    rate: f64,
    burst: f64,
    /// Bytes left; negative after a reply larger than what was left.
    level: f64,
    last: Instant,
}

impl ReadBudget {
    pub fn new(bytes_per_sec: u64, burst: u64) -> Self {
        let burst = burst.max(bytes_per_sec) as f64;
        ReadBudget {
            rate: bytes_per_sec as f64,
            burst,
            level: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.level = (self.level + refill).min(self.burst);
        self.last = now;
    }

    /// Whether a read may start now; if not, how long until it may.
    pub fn check(&mut self) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        self.refill();
        if self.level > 0.0 {
            Ok(())
        } else {
            let wait = (1.0 - self.level) / self.rate;
            Err(Duration::from_secs_f64(wait))
        }
    }

    /// Counts a reply of `bytes` against the budget.
    pub fn charge(&mut self, bytes: usize) {
        if self.rate != 0.0 {
            self.refill();
            self.level -= bytes as f64;
        }
    }

    /// The sustained rate, for messages.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }
}

/// The relay's cap on store reads running at once.
pub struct ReadGate {
    /// `None`: no cap.
    slots: Option<Arc<Semaphore>>,
}

/// Why a gated read gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the relay is busy reading history; try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReadGate {
    /// At most `max` reads at once; 0 = no cap.
    pub fn new(max: usize) -> Self {
        ReadGate {
            slots: (max > 0).then(|| Arc::new(Semaphore::new(max))),
        }
    }

    /// Runs `read` once a slot is free, waiting at most [`QUEUE_WAIT`].
    pub async fn run<T>(
        &self,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ReadError> {
        let _slot = match &self.slots {
            Some(slots) => match tokio::time::timeout(QUEUE_WAIT, slots.acquire()).await {
                Ok(Ok(slot)) => Some(slot),
                _ => return Err(ReadError::Busy),
            },
            None => None,
        };
        Ok(read.await?)
    }

    /// Reads running now (for `/metrics`).
    pub fn in_flight(&self, max: usize) -> usize {
        self.slots
            .as_ref()
            .map_or(0, |slots| max.saturating_sub(slots.available_permits()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_allows_a_burst_then_its_rate_with_one_reply_of_debt() {
        let mut budget = ReadBudget::new(1000, 4000);
        for _ in 0..3 {
            assert!(budget.check().is_ok());
            budget.charge(1500);
        }
        // 4000 - 4500: in debt by 500 bytes, half a second at 1000/s.
        let wait = budget.check().unwrap_err();
        assert!(wait > Duration::from_millis(490) && wait < Duration::from_millis(510));
        tokio::time::advance(wait).await;
        assert!(budget.check().is_ok());
        let mut unlimited = ReadBudget::new(0, 0);
        unlimited.charge(usize::MAX);
        assert!(unlimited.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn reads_beyond_the_cap_wait_a_bounded_time_then_are_refused() {
        let gate = Arc::new(ReadGate::new(1));
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(async {
                    let _ = held.await;
                    Ok(1)
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(gate.in_flight(1), 1);
        let started = Instant::now();
        let second = gate.run(async { Ok(2) }).await;
        assert!(matches!(second, Err(ReadError::Busy)), "{second:?}");
        assert_eq!(started.elapsed(), QUEUE_WAIT);
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(gate.run(async { Ok(3) }).await.unwrap(), 3);
        assert_eq!(ReadGate::new(0).run(async { Ok(4) }).await.unwrap(), 4);
    }
}
