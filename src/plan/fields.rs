//! [`Fields`]: an object's fields by Graph property name, as an action records them
//! (`before`, `after`) and as drift reads them live. A small sorted vector instead of a
//! `BTreeMap<String, Value>`: a plan of a large tenant holds hundreds of thousands of these,
//! most with one to six entries, and a B-tree leaf costs over a kilobyte whatever it holds.
//! Must not know about files or HTTP.

use std::borrow::Cow;

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

/// A property name: static for the names closeout writes, owned otherwise.
fn name_of(key: &str) -> Cow<'static, str> {
    match KNOWN.binary_search(&key) {
        Ok(i) => Cow::Borrowed(KNOWN[i]),
        Err(_) => Cow::Owned(key.to_string()),
    }
}

/// Field values by property name, iterated in ascending byte order of the names (the order
/// of a `BTreeMap<String, Value>`, so files and JSON output are unchanged). Each name at
/// most once.
///
/// The few one-field sets that nearly every action of a large plan records (`deleted: true`
/// after a deletion, `deleted: false` before a purge, `purged: true` after it) are one
/// static copy shared by all of them ([`Fields::shrink_to_fit`] finds them); the first
/// change to such a set makes it the action's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields(Cow<'static, [(Cow<'static, str>, Value)]>);

type Entry = (Cow<'static, str>, Value);

/// The shared one-field sets (see [`Fields`]).
static COMMON: [[Entry; 1]; 5] = [
    [(Cow::Borrowed("deleted"), Value::Bool(true))],
    [(Cow::Borrowed("deleted"), Value::Bool(false))],
    [(Cow::Borrowed("purged"), Value::Bool(true))],
    [(Cow::Borrowed("exists"), Value::Bool(false))],
    [(Cow::Borrowed("exists"), Value::Bool(true))],
];

impl Default for Fields {
    fn default() -> Fields {
        Fields::new()
    }
}

impl Fields {
    /// No fields.
    pub fn new() -> Fields {
        Fields(Cow::Borrowed(&[]))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The value of `key`, if recorded.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The value of `key`, mutable, if recorded.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.find(key).ok().map(|i| &mut self.0.to_mut()[i].1)
    }

    /// `true` when `key` is recorded.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: impl AsRef<str>, value: Value) -> Option<Value> {
        let key = key.as_ref();
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.0.to_mut()[i].1, value)),
            Err(i) => {
                self.0.to_mut().insert(i, (name_of(key), value));
                None
            }
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when no field is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// The values, in name order.
    pub fn values(&self) -> impl Iterator<Item = &Value> + '_ {
        self.0.iter().map(|(_, v)| v)
    }

    /// Frees spare capacity (a plan keeps its fields for its whole life), and shares one of
    /// the common one-field sets instead of holding a copy.
    pub fn shrink_to_fit(&mut self) {
        if let Some(common) = COMMON.iter().find(|c| c[..] == self.0[..]) {
            self.0 = Cow::Borrowed(&common[..]);
        } else if let Cow::Owned(v) = &mut self.0 {
            v.shrink_to_fit();
        }
    }
}

impl<K: AsRef<str>> FromIterator<(K, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Fields {
        let iter = iter.into_iter();
        let mut f = Fields(Cow::Owned(Vec::with_capacity(iter.size_hint().0)));
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
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Cow<'static, str>, Value)>,
        fn(&'a (Cow<'static, str>, Value)) -> (&'a str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
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
        assert!(matches!(g.0[0].0, Cow::Owned(_)) && matches!(g.0[1].0, Cow::Borrowed(_)));
    }

    #[test]
    fn common_sets_are_shared_until_changed() {
        let a: Fields = [("deleted", json!(true))].into_iter().collect();
        let b: Fields = [("deleted", json!(true))].into_iter().collect();
        assert!(matches!(a.0, Cow::Borrowed(_)) && matches!(b.0, Cow::Borrowed(_)));
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"deleted":true}"#);
        let mut c = a.clone();
        c.insert("purged", json!(true));
        assert!(matches!(c.0, Cow::Owned(_)));
        assert_eq!(a.len(), 1);
        assert_eq!(c.len(), 2);
        let mut d = b.clone();
        *d.get_mut("deleted").unwrap() = json!(false);
        assert_eq!(d["deleted"], json!(false));
        assert_eq!(b["deleted"], json!(true));
        let other: Fields = [("deleted", json!("yes"))].into_iter().collect();
        assert!(matches!(other.0, Cow::Owned(_)));
    }
}
