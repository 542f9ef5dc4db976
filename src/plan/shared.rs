//! [`SharedText`]: a string that many actions of a plan carry word for word (the reason of
//! every `delete_user`, of every `purge_user`), kept once in memory. A 100,000-user plan
//! holds 200,000 reasons but a few dozen distinct ones; stored per action they cost about
//! 20 MB. Must not know about files or HTTP.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Distinct texts at most kept by the interner; beyond it, texts are stored per value
/// (still correct, only not shared: a plan whose reasons are all different).
const INTERNED_MAX: usize = 4096;

fn interner() -> &'static Mutex<HashSet<Arc<str>>> {
    static TABLE: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// An immutable string shared between equal values (through a process-wide table of at
/// most [`INTERNED_MAX`] texts). Compares, hashes, displays and serializes as the `str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedText(Arc<str>);

impl SharedText {
    /// The text, shared with every equal text made before it.
    pub fn new(text: &str) -> SharedText {
        let mut table = interner().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = table.get(text) {
            return SharedText(Arc::clone(t));
        }
        let t: Arc<str> = Arc::from(text);
        if table.len() < INTERNED_MAX {
            table.insert(Arc::clone(&t));
        }
        SharedText(t)
    }

    /// The text, in an allocation of its own (not looked up or kept in the shared table):
    /// for texts each object has its own of (ids, names), shared by cloning.
    pub fn own(text: &str) -> SharedText {
        SharedText(Arc::from(text))
    }

    /// The text as a `str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SharedText {
    fn default() -> SharedText {
        SharedText::new("")
    }
}

impl Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// Conversions make a text of its own ([`SharedText::own`]); texts meant to be shared go
/// through [`SharedText::new`].
impl From<&str> for SharedText {
    fn from(s: &str) -> SharedText {
        SharedText::own(s)
    }
}

impl From<String> for SharedText {
    fn from(s: String) -> SharedText {
        SharedText::own(&s)
    }
}

impl From<&String> for SharedText {
    fn from(s: &String) -> SharedText {
        SharedText::own(s)
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedText {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<SharedText> for String {
    fn eq(&self, other: &SharedText) -> bool {
        self.as_str() == &*other.0
    }
}

impl PartialEq<SharedText> for str {
    fn eq(&self, other: &SharedText) -> bool {
        self == &*other.0
    }
}

impl std::borrow::Borrow<str> for SharedText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedText, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(SharedText::own(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let a = SharedText::new("Only the kept Global Administrator may remain (shared test).");
        let b = SharedText::new(&String::from(
            "Only the kept Global Administrator may remain (shared test).",
        ));
        assert!(!Arc::ptr_eq(
            &a.0,
            &SharedText::from("Only the kept Global Administrator may remain (shared test).").0
        ));
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let c = SharedText::new("another reason (shared test)");
        assert!(!Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(c, "another reason (shared test)");
    }

    #[test]
    fn serializes_as_the_plain_string() {
        let a = SharedText::new("why \"quoted\"");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#""why \"quoted\"""#);
        let back: SharedText = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
