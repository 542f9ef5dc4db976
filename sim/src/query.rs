//! OData query options as Graph's directory endpoints accept them: `$select`, `$top`,
//! `$skiptoken`, `$filter` ([`crate::filter`]), `$count`, `$orderby`, `$search`. Owns parsing,
//! the rules on when the advanced query parameters (`ConsistencyLevel: eventual` and
//! `$count=true`) are needed, and validation against the schema.
//!
//! Pages: <https://learn.microsoft.com/graph/paging>; options:
//! <https://learn.microsoft.com/graph/query-parameters>; advanced queries:
//! <https://learn.microsoft.com/graph/aad-advanced-queries>.

use serde_json::Value;

use crate::collection::Key;
use crate::error::GraphError;
use crate::filter::{self, Expr};
use crate::schema::Schema;
use crate::snapshot::Object;

/// Default page size of directory collections.
pub(crate) const DEFAULT_TOP: usize = 100;
/// Largest `$top` directory collections accept.
pub(crate) const MAX_TOP: usize = 999;

/// Percent-decodes a URL component (`+` is a space in query strings).
pub(crate) fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    /// `$select`, as written (property names).
    pub select: Option<Vec<String>>,
    /// `$top` (validated 1..=999).
    pub top: Option<usize>,
    /// Decoded `$skiptoken` cursor.
    pub after: Option<Key>,
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$count=true` as sent (honoured only with `ConsistencyLevel: eventual`).
    pub count: bool,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// `$orderby`: property names, `true` = descending.
    pub orderby: Vec<(String, bool)>,
    /// `$search`: `"property:term"` clauses, all of which must hold.
    pub search: Vec<(String, String)>,
    /// The raw `name=value` pairs other than `$skiptoken`, to rebuild `@odata.nextLink`.
    pub passthrough: Vec<String>,
}

const SKIPTOKEN_PREFIX: &str = "RFNwdAIA";

/// Encodes a page cursor as an opaque `$skiptoken`.
pub(crate) fn encode_skiptoken(key: Key) -> String {
    format!("{SKIPTOKEN_PREFIX}{:016x}{:016x}", key.0, key.1)
}

fn decode_skiptoken(token: &str) -> Option<Key> {
    let hex = token.strip_prefix(SKIPTOKEN_PREFIX)?;
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let a = u64::from_str_radix(&hex[..16], 16).ok()?;
    let b = u64::from_str_radix(&hex[16..], 16).ok()?;
    Some((a, b))
}

/// Parses a raw query string. `eventual`: the request carries `ConsistencyLevel: eventual`
/// (needed by `$count` and advanced filters).
pub(crate) fn parse(raw: Option<&str>, eventual: bool) -> Result<Query, GraphError> {
    let mut q = Query {
        eventual,
        ..Query::default()
    };
    let Some(raw) = raw else { return Ok(q) };
    let mut seen: Vec<String> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k, true);
        let value = decode(v, true);
        let name = key.trim_start_matches('$').to_ascii_lowercase();
        let is_option = key.starts_with('$')
            || matches!(
                name.as_str(),
                "select" | "top" | "skiptoken" | "filter" | "count" | "orderby" | "search"
            );
        if !is_option {
            // Graph ignores query parameters that are not OData system query options.
            q.passthrough.push(pair.to_string());
            continue;
        }
        if seen.contains(&name) {
            return Err(GraphError::new(
                400,
                "BadRequest",
                format!("Query option '${name}' was specified more than once, but it must be specified at most once."),
            ));
        }
        seen.push(name.clone());
        if name != "skiptoken" {
            q.passthrough.push(pair.to_string());
        }
        match name.as_str() {
            "select" => {
                let props: Vec<String> = value
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect();
                if props.is_empty() {
                    return Err(GraphError::new(
                        400,
                        "BadRequest",
                        "Invalid $select: empty list.",
                    ));
                }
                q.select = Some(props);
            }
            "top" => {
                let n: Option<i64> = value.trim().parse().ok();
                match n {
                    Some(n) if (1..=MAX_TOP as i64).contains(&n) => q.top = Some(n as usize),
                    Some(n) => {
                        return Err(GraphError::unsupported_query(format!(
                            "Invalid page size specified: '{n}'. Must be between 1 and {MAX_TOP} inclusive."
                        )))
                    }
                    None => {
                        return Err(GraphError::new(
                            400,
                            "BadRequest",
                            format!("Invalid $top value '{value}'. The value must be a non-negative integer."),
                        ))
                    }
                }
            }
            "skiptoken" => {
                q.after = Some(decode_skiptoken(&value).ok_or_else(|| {
                    GraphError::new(
                        400,
                        "Directory_ExpiredPageToken",
                        "The specified page token value has expired and can no longer be included in your request.",
                    )
                })?);
            }
            "count" => match value.as_str() {
                "true" => q.count = true,
                "false" => q.count = false,
                _ => {
                    return Err(GraphError::new(
                        400,
                        "BadRequest",
                        format!("Invalid value '{value}' for $count; expected true or false."),
                    ))
                }
            },
            "filter" => q.filter = Some(filter::parse(&value)?),
            "orderby" => {
                for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let mut words = item.split_whitespace();
                    let name = words.next().unwrap_or_default().to_string();
                    let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => {
                            return Err(GraphError::new(
                                400,
                                "BadRequest",
                                format!("Invalid $orderby direction '{other}'."),
                            ))
                        }
                    };
                    q.orderby.push((name, desc));
                }
            }
            "search" => q.search = parse_search(&value)?,
            other => {
                return Err(GraphError::unsupported_query(format!(
                    "Query option '${other}' is not supported by graph-sim on this resource."
                )))
            }
        }
    }
    if !q.search.is_empty() && !eventual {
        // <https://learn.microsoft.com/graph/aad-advanced-queries>, "Error handling".
        return Err(GraphError::unsupported_query(
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    Ok(q)
}

/// `$search="displayName:ann" AND "mail:contoso"` (quotes required; `AND` between clauses).
fn parse_search(value: &str) -> Result<Vec<(String, String)>, GraphError> {
    let bad = || {
        GraphError::new(
            400,
            "Request_UnsupportedQuery",
            format!("Syntax error: invalid $search value '{value}'. Use \"property:term\"."),
        )
    };
    let mut out = Vec::new();
    for clause in value.split(" AND ") {
        let c = clause.trim();
        let inner = c
            .strip_prefix('"')
            .and_then(|c| c.strip_suffix('"'))
            .ok_or_else(bad)?;
        let (p, t) = inner.split_once(':').ok_or_else(bad)?;
        out.push((p.trim().to_string(), t.trim().to_string()));
    }
    Ok(out)
}

impl Query {
    /// Whether the advanced query parameters are both present.
    pub(crate) fn advanced(&self) -> bool {
        self.eventual && self.count
    }

    /// `@odata.count` is served only with `ConsistencyLevel: eventual`; without it Graph
    /// "silently ignores the `$count` query parameter"
    /// (<https://learn.microsoft.com/graph/aad-advanced-queries>, "Error handling").
    pub(crate) fn serves_count(&self) -> bool {
        self.count && self.eventual
    }

    /// Whether any option beyond `$select` was given (single-object reads refuse them).
    pub(crate) fn has_collection_options(&self) -> bool {
        self.top.is_some()
            || self.filter.is_some()
            || self.after.is_some()
            || self.count
            || !self.orderby.is_empty()
            || !self.search.is_empty()
    }

    /// Whether `o` passes `$filter` and `$search`.
    pub(crate) fn matches(&self, o: &Object) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(o))
            && self.search.iter().all(|(p, term)| {
                o.get(p).and_then(Value::as_str).is_some_and(|v| {
                    let (v, term) = (v.to_ascii_lowercase(), term.to_ascii_lowercase());
                    // Tokenized prefix match: the term starts a word of the value.
                    v.split(|c: char| !c.is_alphanumeric())
                        .any(|w| w.starts_with(&term))
                        || v.starts_with(&term)
                })
            })
    }

    /// Page size to serve.
    pub(crate) fn page_size(&self) -> usize {
        self.top.unwrap_or(DEFAULT_TOP)
    }
}

/// `$orderby` support on directory objects (<https://learn.microsoft.com/graph/aad-advanced-queries>,
/// "Support for sorting by properties"): `true` = works by default, `false` = advanced only.
fn orderby_support(ty: &str, prop: &str) -> Option<bool> {
    match (ty, prop) {
        ("user", "displayName" | "userPrincipalName") => Some(true),
        ("user", "createdDateTime" | "deletedDateTime") => Some(false),
        (
            "application" | "servicePrincipal",
            "displayName" | "createdDateTime" | "deletedDateTime",
        ) => Some(false),
        _ => None,
    }
}

/// Checks a query against entity type `ty` and returns it with property names spelled as
/// the CSDL spells them: every `$select`, `$filter`, `$orderby` and `$search` property must
/// exist (else 400 `Request_BadRequest` "Could not find a property named ..."), `$filter`
/// literals must fit their property's type, and the operators and sorts that need the
/// advanced query parameters are refused without them
/// (<https://learn.microsoft.com/graph/aad-advanced-queries>).
pub(crate) fn resolve(q: &Query, ty: &str) -> Result<Query, GraphError> {
    let schema = Schema::get();
    let mut out = q.clone();
    if let Some(select) = &mut out.select {
        for p in select.iter_mut().filter(|p| p.as_str() != "*") {
            *p = schema.resolve(ty, p)?;
        }
        if select.iter().any(|p| p == "*") {
            out.select = None;
        }
    }
    if let Some(f) = &mut out.filter {
        f.resolve(ty)?;
        if let Some(op) = f.advanced_need(ty)? {
            if !q.advanced() {
                return Err(GraphError::unsupported_query(format!(
                    "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
                )));
            }
        }
    }
    for (p, _) in &mut out.orderby {
        *p = schema.resolve(ty, p)?;
        let by_default = orderby_support(ty, p).ok_or_else(|| {
            GraphError::unsupported_query("Sorting not supported for current query.")
        })?;
        if !(by_default || q.advanced()) {
            return Err(GraphError::unsupported_query(
                "Sorting not supported for current query.",
            ));
        }
    }
    // "Using $filter and $orderby in the same query is supported only with advanced queries."
    if !out.orderby.is_empty() && out.filter.is_some() && !q.advanced() {
        return Err(GraphError::unsupported_query(
            "Sorting not supported for current query.",
        ));
    }
    for (p, _) in &mut out.search {
        *p = schema.resolve(ty, p)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_bounds() {
        assert_eq!(parse(Some("$top=999"), false).unwrap().top, Some(999));
        let e = parse(Some("$top=1000"), false).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "Request_UnsupportedQuery")
        );
        assert!(e.message.contains("Invalid page size specified: '1000'"));
        assert_eq!(parse(Some("$top=0"), false).unwrap_err().status, 400);
        assert_eq!(parse(Some("$top=x"), false).unwrap_err().status, 400);
    }

    #[test]
    fn select_and_decoding() {
        let q = parse(Some("%24select=id%2CdisplayName&$top=5"), false).unwrap();
        assert_eq!(q.select.unwrap(), ["id", "displayName"]);
        assert_eq!(q.top, Some(5));
    }

    #[test]
    fn skiptoken_round_trips_and_rejects_garbage() {
        let t = encode_skiptoken((3, 4));
        let q = parse(Some(&format!("$skiptoken={t}")), false).unwrap();
        assert_eq!(q.after, Some((3, 4)));
        assert_eq!(
            parse(Some("$skiptoken=zzz"), false).unwrap_err().code,
            "Directory_ExpiredPageToken"
        );
    }

    #[test]
    fn advanced_query_parameters() {
        let user = |raw: &str, eventual: bool| resolve(&parse(Some(raw), eventual)?, "user");
        assert!(user(
            "$filter=userType eq 'Guest' or startsWith(displayName,'a')",
            false
        )
        .is_ok());
        assert!(user("$filter=userType in ('Guest','Member')", false).is_ok());
        for needs in [
            "$filter=userType ne 'Guest'",
            "$filter=not(userType eq 'Guest')",
            "$filter=endsWith(mail,'@x.com')",
            "$orderby=createdDateTime",
            "$orderby=displayName&$filter=userType eq 'Guest'",
        ] {
            let e = user(needs, false).unwrap_err();
            assert_eq!(e.code, "Request_UnsupportedQuery", "{needs}");
            // The header alone or $count=true alone is not enough.
            assert!(user(needs, true).is_err(), "{needs}");
            assert!(
                user(&format!("{needs}&$count=true"), false).is_err(),
                "{needs}"
            );
            assert!(
                user(&format!("{needs}&$count=true"), true).is_ok(),
                "{needs}"
            );
        }
        assert!(user("$orderby=displayName desc,userPrincipalName", false).is_ok());
        assert!(
            user("$orderby=jobTitle&$count=true", true).is_err(),
            "not sortable at all"
        );
        // $count=true without the header is ignored, not refused.
        let q = parse(Some("$count=true"), false).unwrap();
        assert!(!q.serves_count());
        assert!(parse(Some("$count=true"), true).unwrap().serves_count());
        assert_eq!(
            parse(Some("$search=\"displayName:ann\""), false)
                .unwrap_err()
                .code,
            "Request_UnsupportedQuery"
        );
        assert!(user("$search=\"displayName:ann\"", true).is_ok());
        assert!(user("$search=\"displayNme:ann\"", true).is_err());
    }

    #[test]
    fn unknown_dollar_option_is_rejected_plain_params_ignored() {
        assert_eq!(
            parse(Some("$expand=manager"), false).unwrap_err().status,
            400
        );
        assert!(parse(Some("foo=bar"), false).is_ok());
    }
}
