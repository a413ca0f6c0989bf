//! Abuse limits: a token bucket for frame rates, buckets per key (client
//! IP for handshakes, room for messages), connection counting per IP and in
//! total, and which IP a request counts against.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use axum::http::HeaderMap;

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

    /// Whether the bucket has refilled completely: forgetting it then
    /// changes nothing.
    pub fn is_full(&self) -> bool {
        self.rate == 0.0
            || self.tokens + Instant::now().duration_since(self.last).as_secs_f64() * self.rate
                >= self.burst
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

/// One token bucket per key (client IP, room), created on first use and
/// forgotten once full again, so the map holds only recently busy keys.
pub struct KeyedLimiter<K> {
    /// The buckets of keys seen since they were last full.
    buckets: Mutex<HashMap<K, TokenBucket>>,
    rate: u32,
    burst: u32,
}

/// Keys above which [`KeyedLimiter::allow`] prunes full buckets itself,
/// rather than waiting for housekeeping, so a spray of distinct keys (IPv6
/// addresses) cannot grow the map without bound.
const KEYED_PRUNE_AT: usize = 65_536;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `rate` events per second per key, `2 × rate` in a burst; 0 = unlimited.
    pub fn new(rate: u32) -> Self {
        KeyedLimiter {
            buckets: Mutex::new(HashMap::new()),
            rate,
            burst: rate.saturating_mul(2),
        }
    }

    pub fn allow(&self, key: &K) -> bool {
        if self.rate == 0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap();
        if buckets.len() >= KEYED_PRUNE_AT && !buckets.contains_key(key) {
            buckets.retain(|_, bucket| !bucket.is_full());
        }
        buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst))
            .allow()
    }

    /// Forgets the buckets that have refilled.
    pub fn prune(&self) {
        self.buckets
            .lock()
            .unwrap()
            .retain(|_, bucket| !bucket.is_full());
    }

    /// Keys currently tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The IP a request counts against: the peer's, unless the peer is a
/// trusted proxy, in which case the right-most address of `X-Forwarded-For`
/// that is not itself a trusted proxy. Proxies append the address they saw,
/// so everything left of the last untrusted hop may be forged by the client.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map_while(|hop| hop.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
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

    #[tokio::test(start_paused = true)]
    async fn keyed_buckets_are_separate_and_forgotten_when_full() {
        let limiter = KeyedLimiter::new(1);
        assert!(limiter.allow(&"a") && limiter.allow(&"a"));
        assert!(!limiter.allow(&"a"));
        assert!(limiter.allow(&"b"));
        limiter.prune();
        assert_eq!(limiter.len(), 2);
        tokio::time::advance(Duration::from_secs(3)).await;
        limiter.prune();
        assert!(limiter.is_empty());
        assert!(KeyedLimiter::new(0).allow(&"c"));
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.1.1.1, 198.51.100.7, 10.0.0.9".parse().unwrap(),
        );
        // An untrusted peer cannot choose its address.
        assert_eq!(client_ip(peer, &headers, &[proxy]), peer);
        // Behind the proxy: the last hop the proxies did not add.
        assert_eq!(
            client_ip(proxy, &headers, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A trusted peer without the header counts as itself.
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(proxy, &headers, &[proxy]), proxy);
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
