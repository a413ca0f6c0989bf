//! Which IRC nick each user is shown under, on one connection.
//!
//! Palaver identifies users by id and lets two of them share a nick; IRC
//! identifies them by nick. So each connection keeps its own table: a user
//! is shown under their nick while no one else here holds it, and under
//! `nick|abcd` (the first characters of their id, more if needed) when
//! someone does. The client's own nick is never given to anyone else. A
//! user keeps what they are shown under until they rename, so the client's
//! idea of who is who stays true.

use std::collections::HashMap;

use shared::{User, UserId};

use super::reply::{ident, irc_nick};

/// Users remembered; beyond, the table starts over (keeping the client).
const KNOWN_NICKS: usize = 4096;

#[derive(Default)]
pub struct Nicks {
    /// By user: their nick as IRC spells it, and what they are shown as.
    shown: HashMap<UserId, (String, String)>,
    /// By lowercased shown nick: who holds it.
    owners: HashMap<String, UserId>,
    /// The client's own id, whose nick no one else is shown under.
    me: Option<UserId>,
}

impl Nicks {
    /// Sets the client's own nick: it takes it from anyone shown under it
    /// (they get a new name the next time they are shown).
    pub fn set_me(&mut self, me: &User) {
        let nick = irc_nick(&me.nick);
        if let Some(holder) = self.owners.get(&nick.to_lowercase()).cloned() {
            if holder != me.id {
                self.shown.remove(&holder);
            }
        }
        self.me = Some(me.id.clone());
        self.put(&me.id, nick.clone(), nick);
    }

    /// What `user` is shown as, and what they were shown as before if that
    /// differs (a rename to announce with `NICK`).
    pub fn show(&mut self, user: &User) -> (String, Option<String>) {
        let base = irc_nick(&user.nick);
        if let Some((was_base, shown)) = self.shown.get(&user.id) {
            if *was_base == base {
                return (shown.clone(), None);
            }
        }
        if self.shown.len() >= KNOWN_NICKS {
            let me =
                (self.me.as_ref()).and_then(|id| Some((id.clone(), self.shown.get(id)?.clone())));
            self.shown.clear();
            self.owners.clear();
            if let Some((id, (base, shown))) = me {
                self.put(&id, base, shown);
            }
        }
        let shown = self.free_name(&base, &user.id);
        let old = self.put(&user.id, base, shown.clone());
        let old = old.filter(|old| *old != shown);
        (shown, old)
    }

    /// `base` if no one else holds it, else `base|` and as much of the id
    /// as makes it unique (a counter if the whole id does not).
    fn free_name(&self, base: &str, id: &UserId) -> String {
        let free = |name: &str| {
            self.owners
                .get(&name.to_lowercase())
                .is_none_or(|holder| holder == id)
        };
        if free(base) {
            return base.to_owned();
        }
        let tag = ident(id);
        let tag: Vec<char> = tag.chars().collect();
        for len in tag.len().clamp(1, 4)..=tag.len() {
            let name = format!("{base}|{}", tag[..len].iter().collect::<String>());
            if free(&name) {
                return name;
            }
        }
        (2..)
            .map(|n| format!("{base}|{n}"))
            .find(|name| free(name))
            .expect("some counter is free")
    }

    /// Records what `id` is shown as; returns what they were shown as.
    fn put(&mut self, id: &UserId, base: String, shown: String) -> Option<String> {
        let old = self.shown.insert(id.clone(), (base, shown.clone()));
        if let Some((_, old)) = &old {
            if self.owners.get(&old.to_lowercase()) == Some(id) {
                self.owners.remove(&old.to_lowercase());
            }
        }
        self.owners.insert(shown.to_lowercase(), id.clone());
        old.map(|(_, shown)| shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::user;

    #[test]
    fn two_users_with_one_nick_are_shown_apart_and_stay_so() {
        let mut nicks = Nicks::default();
        assert_eq!(nicks.show(&user("a1b2c3d4e5", "bob")).0, "bob");
        let (other, _) = nicks.show(&user("f6g7h8i9", "Bob"));
        assert_eq!(other, "Bob|f6g7", "IRC nicks ignore case");
        assert_eq!(nicks.show(&user("a1b2c3d4e5", "bob")).0, "bob", "stable");
        assert_eq!(nicks.show(&user("f6g7h8i9", "Bob")).0, "Bob|f6g7", "stable");
    }

    #[test]
    fn the_clients_own_nick_is_never_someone_elses() {
        let mut nicks = Nicks::default();
        nicks.set_me(&user("me", "ada"));
        assert_eq!(nicks.show(&user("other", "ada")).0, "ada|othe");
        assert_eq!(nicks.show(&user("me", "ada")).0, "ada");
        // A user shown as the nick the client then takes gives it up.
        assert_eq!(nicks.show(&user("zed", "zoe")).0, "zoe");
        nicks.set_me(&user("me", "zoe"));
        assert_eq!(nicks.show(&user("zed", "zoe")).0, "zoe|zed");
        assert_eq!(
            nicks.show(&user("x", "ada")).0,
            "ada",
            "the old nick is free again"
        );
    }

    #[test]
    fn a_rename_reports_the_old_name_once() {
        let mut nicks = Nicks::default();
        nicks.show(&user("u1", "carol"));
        assert_eq!(
            nicks.show(&user("u1", "carla")),
            ("carla".into(), Some("carol".into()))
        );
        assert_eq!(nicks.show(&user("u1", "carla")), ("carla".into(), None));
        // A rename onto a held nick is shown apart; the old one is freed.
        nicks.show(&user("u2", "dan"));
        assert_eq!(
            nicks.show(&user("u1", "dan")),
            ("dan|u1".into(), Some("carla".into()))
        );
        assert_eq!(nicks.show(&user("u3", "carla")).0, "carla");
    }

    #[test]
    fn ids_that_share_a_start_still_get_distinct_names() {
        let mut nicks = Nicks::default();
        let names: Vec<String> = ["abcdef1", "abcdef2", "abcd", "abcdef1x"]
            .iter()
            .map(|id| nicks.show(&user(id, "sam")).0)
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}
