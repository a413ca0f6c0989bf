//! Abuse limits: a token bucket for frame rates, and connection counting
//! per IP and in total.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use crate::metrics::Metrics;

/// Allows `rate` events per second on average and `burst` at once. A rate
/// of 0 allows everything.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts open connections in total and per client IP.
pub struct ConnLimiter {
    /// Open connections per IP, and their total, updated together.
    counts: Mutex<(HashMap<IpAddr, u32>, u32)>,
    max_total: u32,
    max_per_ip: u32,
    metrics: Arc<Metrics>,
}

/// Why a connection was refused before the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyTotal,
    TooManyFromIp,
}

/// Holds one connection's place; dropping it frees the place.
pub struct ConnSlot {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnLimiter {
    pub fn new(max_total: u32, max_per_ip: u32, metrics: Arc<Metrics>) -> Self {
        ConnLimiter {
            counts: Mutex::new((HashMap::new(), 0)),
            max_total,
            max_per_ip,
            metrics,
        }
    }

    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, Refused> {
        let mut guard = self.counts.lock().unwrap();
        let (per_ip, total) = &mut *guard;
        if self.max_total != 0 && *total >= self.max_total {
            return Err(Refused::TooManyTotal);
        }
        let count = per_ip.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *count >= self.max_per_ip {
            return Err(Refused::TooManyFromIp);
        }
        *count += 1;
        *total += 1;
        self.metrics.connections.inc();
        self.metrics.connections_total.inc();
        Ok(ConnSlot {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut guard = self.limiter.counts.lock().unwrap();
        let (per_ip, total) = &mut *guard;
        *total -= 1;
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.limiter.metrics.connections.sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(2, 3);
        assert_eq!((0..5).filter(|_| bucket.allow()).count(), 3);
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!((0..5).filter(|_| bucket.allow()).count(), 2);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut bucket = TokenBucket::new(0, 0);
        assert!((0..10_000).all(|_| bucket.allow()));
    }

    #[test]
    fn slots_are_counted_per_ip_and_freed_on_drop() {
        let limiter = Arc::new(ConnLimiter::new(3, 2, Arc::default()));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limiter.acquire(a).unwrap();
        let _second = limiter.acquire(a).unwrap();
        assert_eq!(limiter.acquire(a).err(), Some(Refused::TooManyFromIp));
        let _third = limiter.acquire(b).unwrap();
        assert_eq!(limiter.acquire(b).err(), Some(Refused::TooManyTotal));
        drop(first);
        assert!(limiter.acquire(a).is_ok());
    }
}
