//! OData query options as Graph's directory endpoints accept them: `$select`, `$top`,
//! `$skiptoken`, `$filter` (a subset), `$count`. Owns parsing and validation only.
//!
//! Pages: <https://learn.microsoft.com/graph/paging>; options:
//! <https://learn.microsoft.com/graph/query-parameters>; advanced queries:
//! <https://learn.microsoft.com/graph/aad-advanced-queries>.

use serde_json::Value;

use crate::collection::Key;
use crate::error::GraphError;
use crate::schema::{Kind, Schema};
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

/// A comparison in `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    Eq(String, Value),
    Ne(String, Value),
    StartsWith(String, String),
    EndsWith(String, String),
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
    /// `$filter` clauses, all of which must hold.
    pub filter: Vec<Clause>,
    /// `$count=true`.
    pub count: bool,
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
    let mut q = Query::default();
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
                "select" | "top" | "skiptoken" | "filter" | "count"
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
            "filter" => q.filter = parse_filter(&value)?,
            other => {
                return Err(GraphError::unsupported_query(format!(
                    "Query option '${other}' is not supported by graph-sim on this resource."
                )))
            }
        }
    }
    if q.count && !eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    let advanced = q
        .filter
        .iter()
        .any(|c| matches!(c, Clause::Ne(..) | Clause::EndsWith(..)));
    if advanced && !(eventual && q.count) {
        let prop = q
            .filter
            .iter()
            .find_map(|c| match c {
                Clause::Ne(p, _) | Clause::EndsWith(p, _) => Some(p.clone()),
                _ => None,
            })
            .unwrap_or_default();
        return Err(GraphError::unsupported_query(format!(
            "Unsupported or invalid query filter clause specified for property '{prop}'. \
             This clause needs the ConsistencyLevel: eventual header and $count=true."
        )));
    }
    Ok(q)
}

fn unsupported_filter(expr: &str) -> GraphError {
    GraphError::unsupported_query(format!("Unsupported query filter: '{expr}'."))
}

fn parse_literal(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(Value::String(inner.replace("''", "'")));
    }
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => s.parse::<i64>().ok().map(Value::from),
    }
}

fn is_property(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits on ` and ` outside quotes; `or`, `not`, lambdas and nested paths are unsupported.
fn parse_filter(expr: &str) -> Result<Vec<Clause>, GraphError> {
    let mut parts = Vec::new();
    let mut in_quote = false;
    let mut start = 0;
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_quote = !in_quote;
        } else if !in_quote && expr[i..].to_ascii_lowercase().starts_with(" and ") {
            parts.push(&expr[start..i]);
            i += 5;
            start = i;
            continue;
        } else if !in_quote
            && (expr[i..].to_ascii_lowercase().starts_with(" or ")
                || expr[i..].to_ascii_lowercase().starts_with("not ")
                || bytes[i] == b'/')
        {
            return Err(unsupported_filter(expr));
        }
        i += 1;
    }
    if in_quote {
        return Err(unsupported_filter(expr));
    }
    parts.push(&expr[start..]);
    parts
        .into_iter()
        .map(|p| parse_clause(p.trim(), expr))
        .collect()
}

fn parse_clause(p: &str, whole: &str) -> Result<Clause, GraphError> {
    let lower = p.to_ascii_lowercase();
    for (func, is_starts) in [("startswith(", true), ("endswith(", false)] {
        if lower.starts_with(func) && p.ends_with(')') {
            let args = &p[func.len()..p.len() - 1];
            let (prop, lit) = args
                .split_once(',')
                .ok_or_else(|| unsupported_filter(whole))?;
            let prop = prop.trim();
            let Some(Value::String(lit)) = parse_literal(lit) else {
                return Err(unsupported_filter(whole));
            };
            if !is_property(prop) {
                return Err(unsupported_filter(whole));
            }
            return Ok(if is_starts {
                Clause::StartsWith(prop.to_string(), lit)
            } else {
                Clause::EndsWith(prop.to_string(), lit)
            });
        }
    }
    let mut it = p.splitn(3, ' ');
    let (Some(prop), Some(op), Some(lit)) = (it.next(), it.next(), it.next()) else {
        return Err(unsupported_filter(whole));
    };
    let Some(value) = parse_literal(lit) else {
        return Err(unsupported_filter(whole));
    };
    if !is_property(prop) {
        return Err(unsupported_filter(whole));
    }
    match op.to_ascii_lowercase().as_str() {
        "eq" => Ok(Clause::Eq(prop.to_string(), value)),
        "ne" => Ok(Clause::Ne(prop.to_string(), value)),
        _ => Err(unsupported_filter(whole)),
    }
}

fn values_equal(a: Option<&Value>, b: &Value) -> bool {
    match (a, b) {
        (None | Some(Value::Null), Value::Null) => true,
        (Some(Value::String(x)), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Some(x), y) => x == y,
        (None, _) => false,
    }
}

impl Query {
    /// Whether `o` passes every `$filter` clause.
    pub(crate) fn matches(&self, o: &Object) -> bool {
        self.filter.iter().all(|c| match c {
            Clause::Eq(p, v) => values_equal(o.get(p), v),
            Clause::Ne(p, v) => !values_equal(o.get(p), v),
            Clause::StartsWith(p, s) => o
                .get(p)
                .and_then(Value::as_str)
                .is_some_and(|x| x.to_ascii_lowercase().starts_with(&s.to_ascii_lowercase())),
            Clause::EndsWith(p, s) => o
                .get(p)
                .and_then(Value::as_str)
                .is_some_and(|x| x.to_ascii_lowercase().ends_with(&s.to_ascii_lowercase())),
        })
    }

    /// Page size to serve.
    pub(crate) fn page_size(&self) -> usize {
        self.top.unwrap_or(DEFAULT_TOP)
    }
}

/// Checks a query against entity type `ty` and returns it with property names spelled as
/// the CSDL spells them: every `$select` and `$filter` property must exist (else 400
/// `Request_BadRequest` "Could not find a property named ..."), and each `$filter` literal
/// must fit its property's type (OData: "A binary operator with incompatible types was
/// detected."; <https://learn.microsoft.com/graph/filter-query-parameter>).
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
    for clause in &mut out.filter {
        let (name, literal, op) = match clause {
            Clause::Eq(p, v) => (p, v.clone(), "Equal"),
            Clause::Ne(p, v) => (p, v.clone(), "NotEqual"),
            Clause::StartsWith(p, s) | Clause::EndsWith(p, s) => {
                (p, Value::String(s.clone()), "startswith")
            }
        };
        *name = schema.resolve(ty, name)?;
        let Some(prop) = schema.property(ty, name) else {
            continue; // an extension attribute: untyped here
        };
        let literal_type = match &literal {
            Value::Null => None,
            Value::Bool(_) => Some("Edm.Boolean"),
            Value::String(_) => Some("Edm.String"),
            _ => Some("Edm.Int32"),
        };
        let fits = match (literal_type, prop.ty.as_str()) {
            _ if prop.collection => false,
            (None, _) => op != "startswith",
            (Some("Edm.Boolean"), t) => t == "Edm.Boolean",
            (Some("Edm.Int32"), t) => t.starts_with("Edm.Int") || t == "Edm.Double",
            (Some(_), "Edm.Boolean") => false,
            (Some(_), t) if t.starts_with("Edm.Int") || t == "Edm.Double" => false,
            // Strings compare with strings, GUIDs, dates and enum members.
            (Some(_), t) => {
                op == "startswith" && t == "Edm.String"
                    || op != "startswith"
                        && match schema.ty(t) {
                            Some(def) if def.kind == Kind::Enum => {
                                literal.as_str().is_some_and(|v| {
                                    def.members.iter().any(|m| m.eq_ignore_ascii_case(v))
                                })
                            }
                            Some(_) => false,
                            None => true,
                        }
            }
        };
        if !fits {
            let shown = if prop.collection {
                format!("Collection({})", prop.ty)
            } else {
                prop.ty.clone()
            };
            return Err(GraphError::bad_request(format!(
                "A binary operator with incompatible types was detected. Found operand types '{shown}' and '{}' for operator kind '{op}'.",
                literal_type.unwrap_or("null")
            )));
        }
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
    fn filter_subset() {
        let q = parse(
            Some("$filter=userType eq 'Guest' and startswith(displayName,'a')"),
            false,
        )
        .unwrap();
        let o: Object =
            serde_json::from_str(r#"{"userType":"guest","displayName":"Ann"}"#).unwrap();
        assert!(q.matches(&o));
        assert_eq!(
            parse(Some("$filter=a eq 'x' or b eq 'y'"), false)
                .unwrap_err()
                .code,
            "Request_UnsupportedQuery"
        );
        assert_eq!(
            parse(Some("$filter=userType ne 'Guest'"), false)
                .unwrap_err()
                .code,
            "Request_UnsupportedQuery"
        );
        assert!(parse(Some("$filter=userType ne 'Guest'&$count=true"), true).is_ok());
        assert!(parse(Some("$count=true"), false).is_err());
    }

    #[test]
    fn unknown_dollar_option_is_rejected_plain_params_ignored() {
        assert_eq!(
            parse(Some("$orderby=displayName"), false)
                .unwrap_err()
                .status,
            400
        );
        assert!(parse(Some("foo=bar"), false).is_ok());
    }
}
