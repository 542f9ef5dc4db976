//! `--redact`: replaces the names of people and things (userPrincipalNames, display names,
//! domain names, the tenant's name) with stable short hashes in rendered output, so a plan
//! can be discussed in a public pull request. Object ids are kept: they identify objects
//! to the tenant's administrators and mean nothing to anyone else.
//!
//! A name becomes `redacted:` followed by 8 hex digits of SHA-256 over the tenant id and the
//! lower-cased name: the same name gives the same token in every plan of the tenant
//! (userPrincipalNames compare case-insensitively, so case does not change the token), and
//! the same name in two tenants gives different tokens. It is a pseudonym, not encryption:
//! a reader who guesses a name and knows the tenant id can confirm the guess.

use std::borrow::Cow;
use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use sha2::{Digest, Sha256};

use crate::plan::{Action, ActionKind, Plan};

/// Properties in `before`/`after` whose string values are names to redact.
pub const NAME_PROPERTIES: &[&str] =
    &["userPrincipalName", "displayName", "mail", "name", "domain"];

/// Names shorter than this are only replaced where they are a whole field, never inside
/// free text (a two-letter display name would otherwise eat parts of words).
const MIN_TEXT_PATTERN: usize = 4;

/// The names a [`Redactor`] finds, collected from a plan's header and then action by
/// action, so a plan file can be redacted without holding its actions (read once for the
/// names, once for the view).
pub struct Names {
    salt: String,
    /// The names to find in free text, lower-cased, each once, in the order first seen.
    patterns: Vec<String>,
    seen: HashSet<String>,
}

impl Names {
    /// The names of `plan`'s header: the tenant's name and initial domain, the kept users
    /// (not its actions: [`Names::add`]).
    pub fn of_header(plan: &Plan) -> Names {
        let mut n = Names {
            salt: plan.tenant.id.to_lowercase(),
            patterns: Vec::new(),
            seen: HashSet::new(),
        };
        n.push(&plan.tenant.display_name);
        n.push(&plan.tenant.initial_domain);
        for k in &plan.keep {
            n.push(&k.user_principal_name);
        }
        n
    }

    /// The names of one action.
    pub fn add(&mut self, a: &Action) {
        if is_sensitive_name(a.kind) {
            self.push(&a.name);
        }
        for fields in [&a.before, &a.after] {
            for key in NAME_PROPERTIES {
                if let Some(serde_json::Value::String(s)) = fields.get(key) {
                    self.push(s);
                }
            }
        }
    }

    /// Names with an `@` (userPrincipalNames, the bulk of a large plan) are found in text
    /// as words, see [`Redactor::text`]; the automaton holds the others.
    fn push(&mut self, name: &str) {
        if name.chars().count() >= MIN_TEXT_PATTERN && !name.contains('@') {
            let n = name.to_lowercase();
            if self.seen.insert(n.clone()) {
                self.patterns.push(n);
            }
        }
    }

    /// The redactor of the names collected.
    pub fn redactor(self) -> Redactor {
        let matcher = if self.patterns.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&self.patterns)
                .ok()
        };
        Redactor {
            salt: self.salt,
            matcher,
        }
    }
}

/// Replaces a plan's names with stable tokens.
pub struct Redactor {
    salt: String,
    /// Every name of the plan, to find inside free text (warnings, checklist entries).
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for `plan`: collects the tenant's name and domains, the kept users, every
    /// action's object name (but Microsoft's own service principals, subscriptions'
    /// SKU labels and security defaults, which name no one) and name-like `before`/`after`
    /// values ([`Names`]).
    pub fn new(plan: &Plan) -> Redactor {
        let mut names = Names::of_header(plan);
        for a in &plan.actions {
            names.add(a);
        }
        names.redactor()
    }

    /// The token for a name: `redacted:` and 8 hex digits.
    pub fn token(&self, name: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update(b"\0");
        h.update(name.to_lowercase().as_bytes());
        let d = h.finalize();
        format!("redacted:{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    }

    /// Replaces every name inside `text` with its token: each word containing an `@` (a
    /// userPrincipalName or mail address, known to the plan or not), then every other
    /// name of the plan where it stands as whole words.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let words = self.at_words(text);
        let Some(m) = &self.matcher else {
            return words;
        };
        let mut out = String::new();
        let mut last = 0;
        let src = words.as_ref();
        for hit in m.find_iter(src) {
            let (s, e) = (hit.start(), hit.end());
            let before = src[..s].chars().next_back();
            let after = src[e..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if word(before) || word(after) {
                continue;
            }
            out.push_str(&src[last..s]);
            out.push_str(&self.token(&src[s..e]));
            last = e;
        }
        if last == 0 {
            return words;
        }
        out.push_str(&src[last..]);
        Cow::Owned(out)
    }

    /// Replaces each whitespace-separated word containing an `@` (less surrounding
    /// punctuation) with its token.
    fn at_words<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains('@') {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, word) in text
            .split_whitespace()
            .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
        {
            if !word.contains('@') {
                continue;
            }
            let lead = word.len() - word.trim_start_matches(['(', '[', '"', '\'']).len();
            let core = word[lead..].trim_end_matches(['.', ',', ';', ':', ')', ']', '"', '\'']);
            let (s, e) = (start + lead, start + lead + core.len());
            out.push_str(&text[last..s]);
            out.push_str(&self.token(core));
            last = e;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }
}

/// Whether an action's object id is a name: Graph identifies a domain by its name.
pub fn id_is_a_name(kind: ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::DeleteDomain | ActionKind::SetDefaultDomain
    )
}

impl Redactor {
    /// An action's object id: kept, but for domains, whose id is their name.
    pub fn object_id<'a>(&self, kind: ActionKind, id: &'a str) -> Cow<'a, str> {
        if id_is_a_name(kind) {
            Cow::Owned(self.token(id))
        } else {
            Cow::Borrowed(id)
        }
    }

    /// An action address (`kind.object id`) or a `step:N` dependency, with the object id
    /// redacted where it is a name.
    pub fn address<'a>(&self, address: &'a str) -> Cow<'a, str> {
        let Some((kind, id)) = address.split_once('.') else {
            return Cow::Borrowed(address);
        };
        let named = [ActionKind::DeleteDomain, ActionKind::SetDefaultDomain]
            .iter()
            .any(|k| k.as_str() == kind);
        if named {
            Cow::Owned(format!("{kind}.{}", self.token(id)))
        } else {
            Cow::Borrowed(address)
        }
    }
}

/// Whether an action's object name identifies a person or the customer. Subscription
/// labels (SKU, status, licences), security defaults and Microsoft's own service
/// principals name no one and stay readable.
pub fn is_sensitive_name(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::CancelSubscription
            | ActionKind::DeleteSubscription
            | ActionKind::DeleteSelfServiceProduct
            | ActionKind::RemoveUnexplainedSku
            | ActionKind::DisableSecurityDefaults
            | ActionKind::DisableServicePrincipal
    )
}
