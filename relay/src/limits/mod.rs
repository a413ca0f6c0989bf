//! Abuse limits: rate budgets, connection counting per client and in
//! total, and which client a request counts against.
//!
//! - `rate`: every rate limit, on governor's GCRA ([`Budget`], [`Rate`],
//!   [`KeyedRate`]).
//! - `addr`: the client's address behind trusted proxies; IPv6 by /64.
//! - `frames`: one connection's frame ceiling and its flood close.

mod addr;
mod frames;
mod rate;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

pub use addr::{client_ip, parse_trusted_proxy, ClientKey, TrustedProxies};
pub use frames::{Admit, FrameGuard};
pub use rate::{Budget, KeyedRate, Rate, TokioClock};

use crate::metrics::Metrics;

/// Counts open connections in total and per client IP.
pub struct ConnLimiter {
    /// Open connections per IP, and their total, updated together.
    counts: Mutex<(HashMap<ClientKey, u32>, u32)>,
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
    ip: ClientKey,
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

    pub fn acquire(self: &Arc<Self>, ip: ClientKey) -> Result<ConnSlot, Refused> {
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
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse().unwrap())
    }

    #[test]
    fn slots_are_counted_per_ip_and_freed_on_drop() {
        let limiter = Arc::new(ConnLimiter::new(3, 2, Arc::default()));
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        let first = limiter.acquire(a).unwrap();
        let _second = limiter.acquire(a).unwrap();
        assert_eq!(limiter.acquire(a).err(), Some(Refused::TooManyFromIp));
        let _third = limiter.acquire(b).unwrap();
        assert_eq!(limiter.acquire(b).err(), Some(Refused::TooManyTotal));
        drop(first);
        assert!(limiter.acquire(a).is_ok());
    }

    #[test]
    fn one_ipv6_64_is_one_client() {
        let limiter = Arc::new(ConnLimiter::new(0, 1, Arc::default()));
        let _first = limiter.acquire(key("2001:db8:0:1::1")).unwrap();
        assert_eq!(
            limiter.acquire(key("2001:db8:0:1::2")).err(),
            Some(Refused::TooManyFromIp)
        );
        assert!(limiter.acquire(key("2001:db8:0:2::1")).is_ok());
    }
}
