//! A connection's budgets per frame kind (docs/SECURITY.md, "Budgets per
//! frame kind"), on top of the frame-rate ceiling every frame passes.
//!
//! - `typing`: at most one broadcast per room per `--typing-every-ms`; the
//!   others are dropped without an answer (a person would not notice:
//!   clients show one `typing` for a few seconds).
//! - `join` and `leave` together, and `nick`: a budget per minute, refused
//!   with `rate_limited` beyond it.
//!
//! The per-minute budgets are `limits::Rate`s (governor's GCRA), like
//! every other rate limit of the relay.

use std::{collections::HashMap, time::Duration};

use shared::RoomName;
use tokio::time::Instant;

use crate::{
    config::Config,
    limits::{Budget, Rate},
};

pub(super) struct Budgets {
    typing_every: Duration,
    /// When each room last had this connection's typing broadcast.
    last_typing: HashMap<RoomName, Instant>,
    joins: Rate,
    nicks: Rate,
}

impl Budgets {
    pub fn new(config: &Config) -> Self {
        Budgets {
            typing_every: Duration::from_millis(config.typing_every_ms),
            last_typing: HashMap::new(),
            joins: per_minute(config.joins_per_minute),
            nicks: per_minute(config.nicks_per_minute),
        }
    }

    /// Whether this `typing` in `room` is broadcast; false: it falls within
    /// the previous one's interval and is coalesced into it.
    pub fn typing(&mut self, room: &RoomName) -> bool {
        let now = Instant::now();
        match self.last_typing.get_mut(room) {
            Some(last) if now.duration_since(*last) < self.typing_every => false,
            Some(last) => {
                *last = now;
                true
            }
            None => {
                self.last_typing.insert(room.clone(), now);
                true
            }
        }
    }

    /// The connection left the room: its typing entry goes too.
    pub fn left(&mut self, room: &RoomName) {
        self.last_typing.remove(room);
    }

    /// Takes one `join` or `leave` from the budget, if there is one;
    /// otherwise says how long until there is.
    pub fn join_or_leave(&mut self) -> Result<(), Duration> {
        self.joins.check()
    }

    /// Takes one `nick` from the budget, if there is one; otherwise says
    /// how long until there is.
    pub fn nick(&mut self) -> Result<(), Duration> {
        self.nicks.check()
    }
}

/// `per_minute` events in a burst, refilled evenly over a minute (the
/// governor-based limiter every rate limit uses); 0 allows everything.
fn per_minute(per_minute: u32) -> Rate {
    Rate::new(Budget::per(Duration::from_secs(60), per_minute, per_minute))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        use clap::Parser;
        let mut all = vec!["palaver-relay"];
        all.extend_from_slice(args);
        Config::parse_from(all)
    }

    #[tokio::test(start_paused = true)]
    async fn typing_is_broadcast_once_per_interval_per_room() {
        let mut budgets = Budgets::new(&config(&[]));
        let (a, b) = (RoomName::new("a").unwrap(), RoomName::new("b").unwrap());
        // 30 a second for 4 s: one broadcast every 2 s per room.
        let mut sent = 0;
        for _ in 0..120 {
            sent += usize::from(budgets.typing(&a));
            tokio::time::advance(Duration::from_millis(33)).await;
        }
        assert_eq!(sent, 2);
        assert!(budgets.typing(&b), "another room has its own interval");
        budgets.left(&b);
        assert!(budgets.typing(&b), "a left room starts afresh");
    }

    #[tokio::test(start_paused = true)]
    async fn joins_and_nicks_have_a_budget_per_minute() {
        let mut budgets = Budgets::new(&config(&[
            "--joins-per-minute",
            "6",
            "--nicks-per-minute",
            "2",
        ]));
        assert_eq!(
            (0..10).filter(|_| budgets.join_or_leave().is_ok()).count(),
            6
        );
        assert_eq!((0..10).filter(|_| budgets.nick().is_ok()).count(), 2);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            budgets.join_or_leave(),
            Err(Duration::from_secs(6)),
            "one join comes back every 10 s: the refusal says when"
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(budgets.join_or_leave(), Ok(()));
        assert!(budgets.join_or_leave().is_err());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(budgets.nick().is_ok(), "one nick comes back every 30 s");
        let mut free = Budgets::new(&config(&[
            "--joins-per-minute",
            "0",
            "--typing-every-ms",
            "0",
        ]));
        assert!((0..1000).all(|_| free.join_or_leave().is_ok()));
        let room = RoomName::new("a").unwrap();
        assert!((0..1000).all(|_| free.typing(&room)));
    }
}
