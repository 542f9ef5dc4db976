//! Canonical identifiers: the one spelling of each kind of id closeout writes and requires
//! (directory object ids as lower-case hyphenated GUIDs, domain names as lower-case ASCII /
//! punycode), and the one comparison of userPrincipalNames (case-insensitive). Knows nothing
//! about files or HTTP; the plan file layer requires these spellings, apply's guards and the
//! model compare through [`same_upn`].

use std::cmp::Ordering;

/// `true` when `s` is a directory object id in its canonical spelling: a GUID of 36
/// characters, `8-4-4-4-12` lower-case hexadecimal digits, no braces, no spaces (the form
/// Microsoft Graph returns in `id`, see
/// <https://learn.microsoft.com/en-us/graph/api/resources/directoryobject>).
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// The canonical spelling of a GUID written in any accepted form (upper case, braces), or
/// `None` when `s` is not a GUID at all.
pub fn canonical_guid(s: &str) -> Option<String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let lower = inner.to_ascii_lowercase();
    is_guid(&lower).then_some(lower)
}

/// `true` when `s` is a domain name in its canonical spelling: lower-case ASCII, labels of
/// letters, digits and hyphens (IDNA names in their punycode `xn--` form, and only when that
/// punycode decodes), at least two labels, no trailing dot. This is the form Graph returns as
/// a domain's `id` (<https://learn.microsoft.com/en-us/graph/api/resources/domain>).
pub fn is_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 || !s.contains('.') {
        return false;
    }
    let labels_ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    });
    // The URL standard's host parser applies IDNA (UTS #46): a canonical name parses to
    // itself; a bad punycode label fails to parse.
    labels_ok && matches!(url::Host::parse(s), Ok(url::Host::Domain(d)) if d == s)
}

/// The canonical spelling of a domain name written in any form a person might use (upper
/// case, Unicode), or `None` when it is no domain name.
pub fn canonical_domain(s: &str) -> Option<String> {
    match url::Host::parse(s) {
        Ok(url::Host::Domain(d)) if is_domain(&d) => Some(d),
        _ => None,
    }
}

/// Whether two userPrincipalNames name the same account. Entra ID compares sign-in names
/// case-insensitively; every comparison of UPNs in closeout (kept users, guards, drift,
/// journal) goes through this function. Compares Unicode simple lower case, char by char,
/// without allocating.
pub fn same_upn(a: &str, b: &str) -> bool {
    cmp_upn(a, b) == Ordering::Equal
}

/// The order of userPrincipalNames that [`same_upn`] is the equality of (for sorting).
pub fn cmp_upn(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_have_one_spelling() {
        assert!(is_guid("0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd"));
        for bad in [
            "0A7CD3EA-D201-4AE7-918F-AFBE0EA70BDD",
            "{0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd}",
            " 0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd",
            "0a7cd3ead2014ae7918fafbe0ea70bdd",
            "0a7cd3ea-d201-4ae7-918f-afbe0ea70bdg",
            "",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
        assert_eq!(
            canonical_guid("{0A7CD3EA-D201-4AE7-918F-AFBE0EA70BDD}").as_deref(),
            Some("0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd")
        );
    }

    #[test]
    fn domains_have_one_spelling() {
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(is_domain("xn--mller-kva.de"));
        for bad in [
            "Contoso.com",
            "contoso.com.",
            " contoso.com",
            "müller.de",
            "contoso",
            "xn--zz-zzzzzzz-.de",
            "con_toso.com",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
        assert_eq!(
            canonical_domain("Müller.DE").as_deref(),
            Some("xn--mller-kva.de")
        );
    }

    #[test]
    fn upns_compare_case_insensitively() {
        assert!(same_upn("Admin@Contoso.com", "admin@contoso.COM"));
        assert!(same_upn("ÄNNE@x.de", "änne@x.de"));
        assert!(!same_upn("admin@contoso.com", "admin@contoso.co"));
        assert_eq!(cmp_upn("b@x", "A@x"), Ordering::Greater);
    }
}
