//! [`Fields`]: an object's fields by Graph property name, as an action records them
//! (`before`, `after`) and as drift reads them live. A small sorted vector instead of a
//! `BTreeMap<String, Value>`: a plan of a large tenant holds hundreds of thousands of these,
//! most with one to six entries, and a B-tree leaf costs over a kilobyte whatever it holds.
//! Must not know about files or HTTP.

use thin_vec::ThinVec;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The property names closeout's planner records; a name read from a plan file that is one
/// of these shares the static string instead of allocating its own.
const KNOWN: &[&str] = &[
    "accountEnabled",
    "appId",
    "appOwnerOrganizationId",
    "assignedLicenses",
    "authenticationType",
    "deleted",
    "deletedDateTime",
    "directoryRoles",
    "displayName",
    "exists",
    "isDefault",
    "isEnabled",
    "isTrial",
    "isVerified",
    "nextLifecycleDateTime",
    "onPremisesSyncEnabled",
    "perUserMfaState",
    "purged",
    "requiresMfa",
    "skuId",
    "skuPartNumber",
    "state",
    "status",
    "totalLicenses",
    "userPrincipalName",
    "userType",
];

/// Property names that are not closeout's (read from a plan file's `commerce:` or a future
/// field), each kept once for the life of the process: by name, and in the order first
/// seen (name `KNOWN.len() + i` is `names[i]`). Bounded by the input: a plan file is at
/// most 1 GiB, and its reader refuses what closeout does not write.
#[derive(Default)]
struct Others {
    ids: std::collections::HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

fn other_names() -> &'static std::sync::RwLock<Others> {
    static TABLE: std::sync::OnceLock<std::sync::RwLock<Others>> = std::sync::OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// A property name as a number (four bytes in each entry instead of a sixteen-byte string
/// reference: the six fields of each of 100,000 deleted users fit jemalloc's 256-byte
/// class instead of its 320-byte one): closeout's own names by their place in [`KNOWN`],
/// any other name once per process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Name(u32);

impl Name {
    fn of(key: &str) -> Name {
        if let Ok(i) = KNOWN.binary_search(&key) {
            return Name(i as u32);
        }
        let table = other_names();
        if let Some(&i) = table.read().unwrap_or_else(|p| p.into_inner()).ids.get(key) {
            return Name(i);
        }
        let mut t = table.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = t.ids.get(key) {
            return Name(i);
        }
        let k: &'static str = Box::leak(key.to_string().into_boxed_str());
        let i = (KNOWN.len() + t.names.len()) as u32;
        t.names.push(k);
        t.ids.insert(k, i);
        Name(i)
    }

    /// A name known at compile time (one of [`KNOWN`]).
    const fn known(i: usize) -> Name {
        Name(i as u32)
    }

    fn as_str(self) -> &'static str {
        match KNOWN.get(self.0 as usize) {
            Some(k) => k,
            None => {
                other_names()
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .names[self.0 as usize - KNOWN.len()]
            }
        }
    }
}

type Entry = (Name, Value);

/// The shared one-field sets (see [`Fields`]).
static COMMON: [[Entry; 1]; 5] = [
    [(DELETED, Value::Bool(true))],
    [(DELETED, Value::Bool(false))],
    [(PURGED, Value::Bool(true))],
    [(EXISTS, Value::Bool(false))],
    [(EXISTS, Value::Bool(true))],
];

/// The names of [`COMMON`]'s sets (their places in [`KNOWN`]; a test holds them to it).
const DELETED: Name = Name::known(5);
const EXISTS: Name = Name::known(9);
const PURGED: Name = Name::known(17);

/// Where the entries are: one of the [`COMMON`] sets, or the value's own (a thin vector:
/// one word, no allocation when empty). Two words in all.
#[derive(Clone)]
enum Store {
    Common(&'static [Entry; 1]),
    Own(ThinVec<Entry>),
}

/// Field values by property name, iterated in ascending byte order of the names (the order
/// of a `BTreeMap<String, Value>`, so files and JSON output are unchanged). Each name at
/// most once.
///
/// The few one-field sets that nearly every action of a large plan records (`deleted: true`
/// after a deletion, `deleted: false` before a purge, `purged: true` after it) are one
/// static copy shared by all of them ([`Fields::shrink_to_fit`] finds them); the first
/// change to such a set makes it the action's own.
#[derive(Clone)]
pub struct Fields(Store);

impl Default for Fields {
    fn default() -> Fields {
        Fields::new()
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.entries() == other.entries()
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Fields {
    /// No fields.
    pub fn new() -> Fields {
        Fields(Store::Own(ThinVec::new()))
    }

    fn entries(&self) -> &[Entry] {
        match &self.0 {
            Store::Common(c) => &c[..],
            Store::Own(v) => v,
        }
    }

    /// The entries as this value's own, copied out of a shared set first.
    fn own(&mut self) -> &mut ThinVec<Entry> {
        if let Store::Common(c) = self.0 {
            self.0 = Store::Own(c.iter().cloned().collect());
        }
        match &mut self.0 {
            Store::Own(v) => v,
            Store::Common(_) => unreachable!("made own above"),
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries()
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`, if recorded.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries()[i].1)
    }

    /// The value of `key`, mutable, if recorded.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.find(key).ok()?;
        Some(&mut self.own()[i].1)
    }

    /// `true` when `key` is recorded.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: impl AsRef<str>, value: Value) -> Option<Value> {
        let key = key.as_ref();
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.own()[i].1, value)),
            Err(i) => {
                let name = Name::of(key);
                self.own().insert(i, (name, value));
                None
            }
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// `true` when no field is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.entries().iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries().iter().map(|(k, _)| k.as_str())
    }

    /// The values, in name order.
    pub fn values(&self) -> impl Iterator<Item = &Value> + '_ {
        self.entries().iter().map(|(_, v)| v)
    }

    /// Frees spare capacity (a plan keeps its fields for its whole life), and shares one of
    /// the common one-field sets instead of holding a copy.
    pub fn shrink_to_fit(&mut self) {
        if let Some(common) = COMMON.iter().find(|c| c[..] == *self.entries()) {
            self.0 = Store::Common(common);
        } else if let Store::Own(v) = &mut self.0 {
            v.shrink_to_fit();
        }
    }
}

impl<K: AsRef<str>> FromIterator<(K, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Fields {
        let iter = iter.into_iter();
        let mut f = Fields(Store::Own(ThinVec::with_capacity(iter.size_hint().0)));
        for (k, v) in iter {
            f.insert(k, v);
        }
        f.shrink_to_fit();
        f
    }
}

impl<K: AsRef<str>> Extend<(K, Value)> for Fields {
    /// Inserts each pair ([`Fields::insert`]: a later value for a name replaces an earlier).
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        Iter(self.entries().iter())
    }
}

/// `(name, value)` of a [`Fields`], in name order.
pub struct Iter<'a>(std::slice::Iter<'a, Entry>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;
    /// Panics when `key` is not recorded (like a map's index).
    fn index(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no field {key:?} recorded"))
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        let m = std::collections::BTreeMap::<String, Value>::deserialize(d)?;
        Ok(m.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_names_are_sorted_for_binary_search() {
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            [DELETED, EXISTS, PURGED].map(Name::as_str),
            ["deleted", "exists", "purged"]
        );
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn order_and_json_are_those_of_a_btreemap() {
        let pairs = [
            ("userType", json!("Member")),
            ("Zeta", json!(1)),
            ("accountEnabled", json!(true)),
            ("assignedLicenses", json!(["a", "b"])),
            ("custom", json!(null)),
        ];
        let f: Fields = pairs.iter().cloned().collect();
        let m: std::collections::BTreeMap<String, Value> = pairs
            .iter()
            .cloned()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            serde_json::to_string(&m).unwrap()
        );
        assert!(f.keys().eq(m.keys().map(String::as_str)));
        let back: Fields = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(f["accountEnabled"], json!(true));
        assert!(f.get("missing").is_none());
        let mut g = f.clone();
        assert_eq!(g.insert("Zeta", json!(2)), Some(json!(1)));
        assert_eq!(g.len(), f.len());
        // A name that is not closeout's is kept once: both sets point at the same copy.
        let h: Fields = [("Zeta", json!(0))].into_iter().collect();
        assert_eq!(g.entries()[0].0, h.entries()[0].0);
        assert!(std::ptr::eq(
            g.entries()[0].0.as_str(),
            h.entries()[0].0.as_str()
        ));
    }

    #[test]
    fn common_sets_are_shared_until_changed() {
        let a: Fields = [("deleted", json!(true))].into_iter().collect();
        let b: Fields = [("deleted", json!(true))].into_iter().collect();
        assert!(matches!(a.0, Store::Common(_)) && matches!(b.0, Store::Common(_)));
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"deleted":true}"#);
        let mut c = a.clone();
        c.insert("purged", json!(true));
        assert!(matches!(c.0, Store::Own(_)));
        assert_eq!(a.len(), 1);
        assert_eq!(c.len(), 2);
        let mut d = b.clone();
        *d.get_mut("deleted").unwrap() = json!(false);
        assert_eq!(d["deleted"], json!(false));
        assert_eq!(b["deleted"], json!(true));
        let other: Fields = [("deleted", json!("yes"))].into_iter().collect();
        assert!(matches!(other.0, Store::Own(_)));
    }
}
