//! A map whose idle entries age out: per-room state that must not outlive
//! the room's activity.
//!
//! Two generations: entries used since the last [`Aging::sweep`] are in
//! `current`, the others in `old`. A sweep drops `old` (memory and all) and
//! makes `current` the new `old`; using an old entry moves it back. So an
//! entry unused for a whole sweep period is gone one or two periods after
//! its last use, at the cost of one move per entry per period.

use std::{borrow::Borrow, collections::HashMap, hash::Hash};

pub struct Aging<K, V> {
    current: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K, V> Default for Aging<K, V> {
    fn default() -> Self {
        Aging {
            current: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Aging<K, V> {
    /// The entry of `key`, now counted as used.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.current.contains_key(key) {
            let (key, value) = self.old.remove_entry(key)?;
            self.current.insert(key, value);
        }
        self.current.get_mut(key)
    }

    /// The entry of `key` (made by `make` if there is none), now used.
    pub fn get_or_insert_with(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        if self.get_mut(key).is_none() {
            self.current.insert(key.clone(), make());
        }
        self.current.get_mut(key).expect("just inserted")
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.old.remove(&key);
        self.current.insert(key, value);
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.current.remove(key).or_else(|| self.old.remove(key))
    }

    /// Drops the entries unused since the previous sweep.
    pub fn sweep(&mut self) {
        self.sweep_keeping(|_| false);
    }

    /// Drops the entries unused since the previous sweep, except those
    /// `keep` says are still in use (they count as used).
    pub fn sweep_keeping(&mut self, keep: impl Fn(&V) -> bool) {
        let kept: HashMap<K, V> = self.old.drain().filter(|(_, v)| keep(v)).collect();
        self.old = std::mem::replace(&mut self.current, kept);
    }

    pub fn clear(&mut self) {
        self.current = HashMap::new();
        self.old = HashMap::new();
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_unused_for_a_whole_period_go() {
        let mut map: Aging<String, u32> = Aging::default();
        map.insert("busy".into(), 1);
        map.insert("idle".into(), 2);
        map.sweep();
        assert_eq!(map.len(), 2, "both were used in the last period");
        *map.get_mut("busy").unwrap() += 1;
        map.sweep();
        assert_eq!(map.len(), 1);
        assert_eq!(map.get_mut("busy"), Some(&mut 2));
        assert_eq!(map.get_mut("idle"), None);
        *map.get_or_insert_with(&"new".to_string(), || 7) += 1;
        assert_eq!(map.get_mut("new"), Some(&mut 8));
        map.sweep();
        map.sweep();
        assert!(map.is_empty());

        map.insert("held".into(), 1);
        map.insert("free".into(), 2);
        map.sweep();
        map.sweep_keeping(|v| *v == 1);
        map.sweep_keeping(|v| *v == 1);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get_mut("held"), Some(&mut 1));
    }
}
