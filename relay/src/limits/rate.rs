//! Rate limits: every one in the relay is governor's GCRA behind the two
//! types here, built from one [`Budget`].
//!
//! - [`Rate`]: one budget for one thing (a connection's sends, its frames,
//!   its dropped frames). About 40 bytes, so every connection can own some.
//! - [`KeyedRate`]: one budget per key (a client's address, a room), keys
//!   created on first use and forgotten once their budget is full again.
//!
//! Budgets for more kinds of frames (typing, joins, nick changes) are more
//! `Budget`s and one more `Rate` or `KeyedRate` each; nothing here changes.
//!
//! governor reads time from [`TokioClock`], tokio's clock, so a test on a
//! paused runtime refills a budget by advancing time, not by waiting.

use std::{
    hash::Hash,
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use governor::{
    clock::Clock,
    state::{keyed::DashMapStateStore, InMemoryState, NotKeyed},
    Quota, RateLimiter,
};

/// governor's clock, read from tokio's: the same time the rest of the relay
/// sees, paused and advanced with it in tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// How many events a limit allows: `burst` at once, then one every
/// `period / count`. Unlimited when the configured rate is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(Option<Quota>);

impl Budget {
    pub const UNLIMITED: Budget = Budget(None);

    /// `rate` a second on average, `burst` at once (at least 1); a rate of
    /// 0 is unlimited.
    pub fn per_second(rate: u32, burst: u32) -> Budget {
        Budget::per(Duration::from_secs(1), rate, burst)
    }

    /// `count` per `period` on average, `burst` at once (at least 1); a
    /// count of 0 or a zero period is unlimited.
    pub fn per(period: Duration, count: u32, burst: u32) -> Budget {
        if count == 0 || period.is_zero() {
            return Budget::UNLIMITED;
        }
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        // A period shorter than a nanosecond per event is unlimited in practice.
        Budget(Quota::with_period(period / count).map(|quota| quota.allow_burst(burst)))
    }

    pub fn is_unlimited(&self) -> bool {
        self.0.is_none()
    }
}

/// One budget for one thing, e.g. one connection's frames.
pub struct Rate(Option<RateLimiter<NotKeyed, InMemoryState, TokioClock>>);

impl Rate {
    pub fn new(budget: Budget) -> Rate {
        Rate(
            budget
                .0
                .map(|quota| RateLimiter::direct_with_clock(quota, TokioClock)),
        )
    }

    /// Spends one event of the budget if there is one.
    pub fn allow(&self) -> bool {
        self.check().is_ok()
    }

    /// Spends one event of the budget if there is one; otherwise says how
    /// long until there is (what a `rate_limited` error's `retry_after_ms`
    /// tells the client).
    pub fn check(&self) -> Result<(), Duration> {
        match &self.0 {
            None => Ok(()),
            Some(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(TokioClock.now())),
        }
    }
}

/// Keys above which [`KeyedRate::allow`] forgets full budgets itself rather
/// than waiting for housekeeping, so a spray of distinct keys (addresses,
/// room names) cannot grow the map without bound.
const PRUNE_AT: usize = 65_536;
/// Calls to [`KeyedRate::allow`] between two looks at the map's size
/// (counting it visits every shard of the map).
const SIZE_CHECK_EVERY: u32 = 1024;

/// One budget per key, each created on first use and forgotten by
/// [`KeyedRate::prune`] once full again: the map holds only busy keys.
pub struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: Option<RateLimiter<K, DashMapStateStore<K>, TokioClock>>,
    calls: AtomicU32,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    pub fn new(budget: Budget) -> Self {
        KeyedRate {
            limiter: budget
                .0
                .map(|quota| RateLimiter::dashmap_with_clock(quota, TokioClock)),
            calls: AtomicU32::new(0),
        }
    }

    /// Spends one event of `key`'s budget if there is one.
    pub fn allow(&self, key: &K) -> bool {
        self.check(key).is_ok()
    }

    /// Spends one event of `key`'s budget if there is one; otherwise says
    /// how long until there is.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SIZE_CHECK_EVERY)
            && limiter.len() >= PRUNE_AT
        {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(TokioClock.now()))
    }

    /// Forgets the keys whose budget is full again.
    pub fn prune(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.limiter.as_ref().map_or(0, |limiter| limiter.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_rate_allows_a_burst_then_the_rate() {
        let rate = Rate::new(Budget::per_second(2, 3));
        assert_eq!((0..5).filter(|_| rate.allow()).count(), 3);
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!((0..5).filter(|_| rate.allow()).count(), 2);
    }

    #[test]
    fn zero_is_unlimited() {
        let rate = Rate::new(Budget::per_second(0, 0));
        assert!((0..10_000).all(|_| rate.allow()));
        let keyed = KeyedRate::new(Budget::per_second(0, 5));
        assert!((0..10_000).all(|_| keyed.allow(&"k")));
        assert!(keyed.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_per_minute_refills_over_the_minute() {
        let rate = Rate::new(Budget::per(Duration::from_secs(60), 6, 2));
        assert!(rate.allow() && rate.allow());
        assert!(!rate.allow());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!rate.allow());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(rate.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn keyed_budgets_are_separate_and_forgotten_when_full() {
        let limiter = KeyedRate::new(Budget::per_second(1, 2));
        assert!(limiter.allow(&"a") && limiter.allow(&"a"));
        assert!(!limiter.allow(&"a"));
        assert!(limiter.allow(&"b"));
        limiter.prune();
        assert_eq!(limiter.len(), 2);
        tokio::time::advance(Duration::from_secs(3)).await;
        limiter.prune();
        assert!(limiter.is_empty());
    }
}
