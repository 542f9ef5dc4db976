//! An ordered, id-indexed collection of Graph objects with cursor paging. Owns ordering and
//! read-after-write "ghosts"; knows nothing about Graph semantics or HTTP.
//!
//! Paging is by cursor (the key of the last object served), so a page costs O(log n + top)
//! and deleting objects between pages neither skips nor repeats the others.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

use crate::snapshot::{object_id, Object};

/// Position of an object: `(order, seq)`. `order` is the insertion sequence, or a seeded hash
/// of the id when page order is shuffled; `seq` keeps keys unique and records insertion order.
pub(crate) type Key = (u64, u64);

#[derive(Debug, Clone, Default)]
pub(crate) struct Collection {
    items: BTreeMap<Key, Object>,
    index: HashMap<String, Key>,
    next_seq: u64,
    shuffle: Option<u64>,
    /// Deleted objects still visible to collection reads until their deadline.
    ghosts: BTreeMap<Key, (Object, Instant)>,
    /// Ghost keys in deadline order, to expire them in O(1) amortised per delete.
    ghost_queue: VecDeque<(Instant, Key)>,
}

/// FNV-1a over the id, mixed with the seed: a stable, seed-dependent order.
fn shuffled_order(seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Final avalanche so nearby ids spread.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Collection {
    pub(crate) fn from_objects(objects: Vec<Object>) -> Self {
        let mut c = Collection::default();
        for o in objects {
            c.insert(o);
        }
        c
    }

    fn key_for(&self, id: &str, seq: u64) -> Key {
        match self.shuffle {
            Some(seed) => (shuffled_order(seed, id), seq),
            None => (seq, seq),
        }
    }

    /// Inserts (or replaces, keeping its position) an object; objects without a string id are ignored.
    pub(crate) fn insert(&mut self, o: Object) {
        let Some(id) = object_id(&o).map(str::to_string) else {
            return;
        };
        if let Some(key) = self.index.get(&id) {
            self.items.insert(*key, o);
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.key_for(&id, seq);
        self.index.insert(id, key);
        self.items.insert(key, o);
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Object> {
        self.index.get(id).and_then(|k| self.items.get(k))
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Object> {
        let key = self.index.get(id)?;
        self.items.get_mut(key)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Removes an object; with `lag`, it stays visible to [`Collection::page`] until the lag ends.
    pub(crate) fn remove(&mut self, id: &str, lag: Option<Duration>) -> Option<Object> {
        let key = self.index.remove(id)?;
        let o = self.items.remove(&key)?;
        let now = Instant::now();
        while let Some((until, k)) = self.ghost_queue.front().copied() {
            if until > now {
                break;
            }
            self.ghost_queue.pop_front();
            if self.ghosts.get(&k).is_some_and(|(_, u)| *u == until) {
                self.ghosts.remove(&k);
            }
        }
        if let Some(lag) = lag {
            self.ghosts.insert(key, (o.clone(), now + lag));
            self.ghost_queue.push_back((now + lag, key));
        }
        Some(o)
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Objects in serving order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Object> {
        self.items.values()
    }

    /// Objects in insertion order (for export: independent of the page shuffle).
    pub(crate) fn in_insertion_order(&self) -> Vec<Object> {
        let mut v: Vec<(&Key, &Object)> = self.items.iter().collect();
        v.sort_by_key(|(k, _)| k.1);
        v.into_iter().map(|(_, o)| o.clone()).collect()
    }

    /// Re-keys every object for a page-order shuffle seed (`None` = insertion order).
    pub(crate) fn set_shuffle(&mut self, seed: Option<u64>) {
        if self.shuffle == seed {
            return;
        }
        self.shuffle = seed;
        let objects = self.in_insertion_order();
        self.items.clear();
        self.index.clear();
        self.ghosts.clear();
        self.ghost_queue.clear();
        self.next_seq = 0;
        for o in objects {
            self.insert(o);
        }
    }

    /// Up to `top` objects after `after` that pass `keep`, plus the cursor for the next page
    /// when more objects (matching or not yet examined) may follow.
    pub(crate) fn page(
        &self,
        after: Option<Key>,
        top: usize,
        mut keep: impl FnMut(&Object) -> bool,
    ) -> (Vec<&Object>, Option<Key>) {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let now = Instant::now();
        let mut live = self.items.range((lower, Bound::Unbounded)).peekable();
        let mut ghosts = self
            .ghosts
            .range((lower, Bound::Unbounded))
            .filter(|(_, (_, until))| *until > now)
            .map(|(k, (o, _))| (k, o))
            .peekable();
        let mut out = Vec::new();
        let mut last: Option<Key> = None;
        loop {
            let next = match (live.peek(), ghosts.peek()) {
                (None, None) => return (out, None),
                (Some((lk, _)), Some((gk, _))) => {
                    if lk <= gk {
                        live.next()
                    } else {
                        ghosts.next()
                    }
                }
                (Some(_), None) => live.next(),
                (None, Some(_)) => ghosts.next(),
            };
            let Some((key, o)) = next else {
                return (out, None);
            };
            if out.len() == top {
                // Something follows the full page: hand out a cursor.
                return (out, last);
            }
            last = Some(*key);
            if keep(o) {
                out.push(o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(id: &str) -> Object {
        json!({"id": id}).as_object().cloned().unwrap_or_default()
    }

    fn ids(v: &[&Object]) -> Vec<String> {
        v.iter()
            .filter_map(|o| object_id(o).map(str::to_string))
            .collect()
    }

    #[test]
    fn pages_cover_everything_once_even_with_deletes_between_pages() {
        let mut c = Collection::from_objects((0..10).map(|i| obj(&format!("u{i}"))).collect());
        let (p1, cur) = c.page(None, 4, |_| true);
        assert_eq!(ids(&p1), ["u0", "u1", "u2", "u3"]);
        let cur = cur.unwrap();
        c.remove("u1", None);
        c.remove("u5", None);
        let (p2, cur) = c.page(Some(cur), 4, |_| true);
        assert_eq!(ids(&p2), ["u4", "u6", "u7", "u8"]);
        let (p3, cur) = c.page(cur, 4, |_| true);
        assert_eq!(ids(&p3), ["u9"]);
        assert!(cur.is_none());
    }

    #[test]
    fn exact_fit_has_no_next_page() {
        let c = Collection::from_objects((0..4).map(|i| obj(&format!("u{i}"))).collect());
        let (p, cur) = c.page(None, 4, |_| true);
        assert_eq!(p.len(), 4);
        assert!(cur.is_none());
    }

    #[test]
    fn shuffle_changes_order_but_not_content() {
        let mut c = Collection::from_objects((0..50).map(|i| obj(&format!("u{i}"))).collect());
        let plain = ids(&c.page(None, 50, |_| true).0);
        c.set_shuffle(Some(7));
        let s7 = ids(&c.page(None, 50, |_| true).0);
        c.set_shuffle(Some(8));
        let s8 = ids(&c.page(None, 50, |_| true).0);
        assert_ne!(plain, s7);
        assert_ne!(s7, s8);
        let mut sorted = s7.clone();
        sorted.sort();
        let mut p = plain.clone();
        p.sort();
        assert_eq!(sorted, p);
        assert_eq!(
            ids(&c.in_insertion_order().iter().collect::<Vec<_>>()),
            plain
        );
    }

    #[test]
    fn ghosts_stay_listed_during_lag() {
        let mut c = Collection::from_objects((0..3).map(|i| obj(&format!("u{i}"))).collect());
        c.remove("u1", Some(Duration::from_secs(60)));
        assert!(c.get("u1").is_none());
        assert_eq!(ids(&c.page(None, 10, |_| true).0), ["u0", "u1", "u2"]);
        c.remove("u2", Some(Duration::ZERO));
        assert_eq!(ids(&c.page(None, 10, |_| true).0), ["u0", "u1"]);
    }
}
