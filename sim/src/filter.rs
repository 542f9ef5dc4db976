//! `$filter` expressions as Graph's directory endpoints accept them: `eq`, `ne`, `in`,
//! `startsWith`, `endsWith`, `not`, `and`, `or`, parentheses, and `any()` lambdas over
//! collections. Owns parsing, schema checks and evaluation; which operators need the advanced
//! query parameters is decided here too ([`Expr::advanced_operator`]). Must not know about
//! routes, paging or the store.
//!
//! Pages: <https://learn.microsoft.com/graph/filter-query-parameter> (operators, lambdas,
//! GUID literals unquoted) and <https://learn.microsoft.com/graph/aad-advanced-queries>
//! ("The `in` operator is supported by default whenever `eq` operator is supported by
//! default"; "The `not` and `ne` negation operators are supported only with advanced query
//! parameters"; "The `endsWith` operator is supported only with advanced query parameters by
//! mail, otherMails, userPrincipalName, and proxyAddresses properties").

use serde_json::Value;

use crate::error::GraphError;
use crate::schema::hand::{is_extension_attribute, USER_FILTER_SUPPORT};
use crate::schema::{is_guid, Kind, Schema};
use crate::snapshot::Object;

/// A literal in a `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    /// An unquoted GUID (Edm.Guid literals are written without quotes).
    Guid(String),
    /// An unquoted Edm.DateTimeOffset (`2024-01-01T00:00:00Z`).
    DateTime(String),
}

impl Lit {
    fn edm(&self) -> &'static str {
        match self {
            Lit::Null => "null",
            Lit::Bool(_) => "Edm.Boolean",
            Lit::Int(_) => "Edm.Int32",
            Lit::Str(_) => "Edm.String",
            Lit::Guid(_) => "Edm.Guid",
            Lit::DateTime(_) => "Edm.DateTimeOffset",
        }
    }

    fn matches(&self, v: Option<&Value>) -> bool {
        match (self, v) {
            (Lit::Null, None | Some(Value::Null)) => true,
            (Lit::Bool(b), Some(Value::Bool(x))) => b == x,
            (Lit::Int(i), Some(Value::Number(n))) => n.as_i64() == Some(*i),
            (Lit::Str(s) | Lit::Guid(s), Some(Value::String(x))) => s.eq_ignore_ascii_case(x),
            (Lit::DateTime(s), Some(Value::String(x))) => same_instant(s, x),
            _ => false,
        }
    }
}

fn instant(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn same_instant(a: &str, b: &str) -> bool {
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// An order comparison (`gt`, `ge`, `lt`, `le`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Rel {
    fn name(self) -> &'static str {
        match self {
            Rel::Gt => "gt",
            Rel::Ge => "ge",
            Rel::Lt => "lt",
            Rel::Le => "le",
        }
    }

    fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Rel::Gt => o == Greater,
            Rel::Ge => o != Less,
            Rel::Lt => o == Less,
            Rel::Le => o != Greater,
        }
    }
}

/// A string function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
}

/// A parsed `$filter`. Property paths are names on the entity type; inside an `any()` body
/// they are relative to the lambda variable (`""` = the element itself).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(String, Lit),
    Ne(String, Lit),
    In(String, Vec<Lit>),
    Call(Func, String, String),
    Any(String, Box<Expr>),
    /// `prop gt|ge|lt|le literal`.
    Cmp(String, Rel, Lit),
    /// `collection/$count eq|ne N`: `true` = `eq`.
    Count(String, bool, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Comma,
    Str(String),
    Word(String),
}

fn unsupported(expr: &str) -> GraphError {
    GraphError::new(
        400,
        "BadRequest",
        format!("Invalid filter clause: syntax error in '{expr}'."),
    )
}

fn tokens(expr: &str) -> Result<Vec<Tok>, GraphError> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(unsupported(expr)),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"(),'".contains(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    whole: &'a str,
    /// The lambda variable inside an `any()` body.
    var: Option<String>,
}

impl Parser<'_> {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn next(&mut self) -> Result<Tok, GraphError> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| unsupported(self.whole))?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, t: Tok) -> Result<(), GraphError> {
        if self.next()? == t {
            Ok(())
        } else {
            Err(unsupported(self.whole))
        }
    }

    fn or(&mut self) -> Result<Expr, GraphError> {
        let mut e = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, GraphError> {
        let mut e = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, GraphError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    /// A property path: outside a lambda a plain name; inside, the variable or `var/name`.
    fn path(&self, word: &str) -> Result<String, GraphError> {
        let valid =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match &self.var {
            Some(v) if word == v => Ok(String::new()),
            Some(v) => match word.strip_prefix(&format!("{v}/")) {
                Some(rest) if valid(rest) => Ok(rest.to_string()),
                _ => Err(unsupported(self.whole)),
            },
            None if valid(word) => Ok(word.to_string()),
            None => Err(unsupported(self.whole)),
        }
    }

    fn literal(&mut self) -> Result<Lit, GraphError> {
        match self.next()? {
            Tok::Str(s) => Ok(Lit::Str(s)),
            Tok::Word(w) => match w.to_ascii_lowercase().as_str() {
                "null" => Ok(Lit::Null),
                "true" => Ok(Lit::Bool(true)),
                "false" => Ok(Lit::Bool(false)),
                _ if is_guid(&w) => Ok(Lit::Guid(w)),
                _ if crate::schema::is_date_time(&w) => Ok(Lit::DateTime(w)),
                _ => w.parse().map(Lit::Int).map_err(|_| unsupported(self.whole)),
            },
            _ => Err(unsupported(self.whole)),
        }
    }

    fn primary(&mut self) -> Result<Expr, GraphError> {
        match self.next()? {
            Tok::Open => {
                let e = self.or()?;
                self.expect(Tok::Close)?;
                Ok(e)
            }
            Tok::Word(w) => {
                let lower = w.to_ascii_lowercase();
                if (lower == "startswith" || lower == "endswith")
                    && self.toks.get(self.pos) == Some(&Tok::Open)
                {
                    self.pos += 1;
                    let Tok::Word(p) = self.next()? else {
                        return Err(unsupported(self.whole));
                    };
                    let p = self.path(&p)?;
                    self.expect(Tok::Comma)?;
                    let Lit::Str(s) = self.literal()? else {
                        return Err(unsupported(self.whole));
                    };
                    self.expect(Tok::Close)?;
                    let f = if lower == "startswith" {
                        Func::StartsWith
                    } else {
                        Func::EndsWith
                    };
                    return Ok(Expr::Call(f, p, s));
                }
                if let Some(coll) = lower.strip_suffix("/any").map(|_| &w[..w.len() - 4]) {
                    if self.var.is_some() {
                        return Err(unsupported(self.whole));
                    }
                    let coll = self.path(coll)?;
                    self.expect(Tok::Open)?;
                    let Tok::Word(head) = self.next()? else {
                        return Err(unsupported(self.whole));
                    };
                    let (var, rest) = head
                        .split_once(':')
                        .ok_or_else(|| unsupported(self.whole))?;
                    if !rest.is_empty() {
                        self.pos -= 1;
                        self.toks[self.pos] = Tok::Word(rest.to_string());
                    }
                    self.var = Some(var.to_string());
                    let body = self.or()?;
                    self.var = None;
                    self.expect(Tok::Close)?;
                    return Ok(Expr::Any(coll, Box::new(body)));
                }
                if let Some(coll) = w.strip_suffix("/$count") {
                    let coll = self.path(coll)?;
                    let eq = match self.next()? {
                        Tok::Word(op) if op.eq_ignore_ascii_case("eq") => true,
                        Tok::Word(op) if op.eq_ignore_ascii_case("ne") => false,
                        _ => return Err(unsupported(self.whole)),
                    };
                    let Lit::Int(n) = self.literal()? else {
                        return Err(unsupported(self.whole));
                    };
                    return Ok(Expr::Count(coll, eq, n));
                }
                let p = self.path(&w)?;
                match self.next()? {
                    Tok::Word(op) if op.eq_ignore_ascii_case("eq") => Ok(Expr::Eq(p, self.literal()?)),
                    Tok::Word(op) if op.eq_ignore_ascii_case("ne") => Ok(Expr::Ne(p, self.literal()?)),
                    Tok::Word(op)
                        if ["gt", "ge", "lt", "le"].iter().any(|r| op.eq_ignore_ascii_case(r)) =>
                    {
                        let rel = match op.to_ascii_lowercase().as_str() {
                            "gt" => Rel::Gt,
                            "ge" => Rel::Ge,
                            "lt" => Rel::Lt,
                            _ => Rel::Le,
                        };
                        Ok(Expr::Cmp(p, rel, self.literal()?))
                    }
                    Tok::Word(op) if op.eq_ignore_ascii_case("in") => {
                        self.expect(Tok::Open)?;
                        let mut lits = vec![self.literal()?];
                        loop {
                            match self.next()? {
                                Tok::Comma => lits.push(self.literal()?),
                                Tok::Close => break,
                                _ => return Err(unsupported(self.whole)),
                            }
                        }
                        Ok(Expr::In(p, lits))
                    }
                    Tok::Word(op) => Err(GraphError::unsupported_query(format!(
                        "Unsupported or invalid query filter clause specified for property '{p}': operator '{op}' is not supported by graph-sim."
                    ))),
                    _ => Err(unsupported(self.whole)),
                }
            }
            _ => Err(unsupported(self.whole)),
        }
    }
}

/// Parses a `$filter` value.
pub(crate) fn parse(expr: &str) -> Result<Expr, GraphError> {
    let mut p = Parser {
        toks: tokens(expr)?,
        pos: 0,
        whole: expr,
        var: None,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(unsupported(expr));
    }
    Ok(e)
}

/// Whether literal `lit` may be compared with a value of type `ty` (`collection`: the
/// property is a collection, which only `any()` may compare).
fn fits(schema: &Schema, ty: &str, collection: bool, lit: &Lit) -> bool {
    if collection {
        return false;
    }
    match (lit, ty) {
        (Lit::Null, _) => true,
        (Lit::Bool(_), t) => t == "Edm.Boolean",
        (Lit::Int(_), t) => t.starts_with("Edm.Int") || t == "Edm.Double",
        (Lit::Guid(_), t) => t == "Edm.Guid",
        (Lit::DateTime(_), t) => t == "Edm.DateTimeOffset",
        (Lit::Str(_), "Edm.String" | "Edm.DateTimeOffset") => true,
        (Lit::Str(s), t) => match schema.ty(t) {
            Some(def) if def.kind == Kind::Enum => {
                def.members.iter().any(|m| m.eq_ignore_ascii_case(s))
            }
            _ => false,
        },
    }
}

fn incompatible(ty: &str, lit: &Lit, op: &str) -> GraphError {
    GraphError::bad_request(format!(
        "A binary operator with incompatible types was detected. Found operand types '{ty}' and '{}' for operator kind '{op}'.",
        lit.edm()
    ))
}

impl Expr {
    /// The first operator that needs the advanced query parameters (`ne`, `not`,
    /// `endsWith`), if any.
    pub(crate) fn advanced_operator(&self) -> Option<&'static str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.advanced_operator().or_else(|| b.advanced_operator())
            }
            Expr::Not(_) => Some("not"),
            Expr::Ne(..) => Some("ne"),
            // "null values" are an advanced query wherever the page's tables allow them.
            Expr::Eq(_, Lit::Null) => Some("null"),
            Expr::In(_, lits) if lits.contains(&Lit::Null) => Some("null"),
            Expr::Call(Func::EndsWith, ..) => Some("endsWith"),
            Expr::Any(_, body) => body.advanced_operator(),
            // Order comparisons (createdDateTime ge ...) and collection counts
            // (assignedLicenses/$count eq 0) are advanced queries.
            Expr::Cmp(_, rel, _) => Some(rel.name()),
            Expr::Count(..) => Some("$count"),
            _ => None,
        }
    }

    /// The first operator that needs the advanced query parameters on entity type `ty` (names
    /// already resolved), or 400 `Request_UnsupportedQuery` when the page's table has no such
    /// query for the property. For `user` this follows the per-property table
    /// [`USER_FILTER_SUPPORT`] ("Support for filter by properties of Microsoft Entra ID
    /// (directory) objects", <https://learn.microsoft.com/graph/aad-advanced-queries>): for
    /// example `officeLocation eq 'x'` and `jobTitle eq null` need the advanced parameters,
    /// `createdDateTime ge ...` works by default, `startsWith(jobTitle,'a')` is refused. Other
    /// types use the operator rule of [`Expr::advanced_operator`].
    pub(crate) fn advanced_need(&self, ty: &str) -> Result<Option<&'static str>, GraphError> {
        if ty != "user" {
            return Ok(self.advanced_operator());
        }
        self.user_need(None)
    }

    /// [`Expr::advanced_need`] for users; `coll` is the collection property of an enclosing
    /// `any()` lambda (its element operators are looked up on that property).
    fn user_need(&self, coll: Option<&str>) -> Result<Option<&'static str>, GraphError> {
        // Column of the page's table: eq ne NOT ge le in startsWith null.
        let cell = |prop: &str, col: usize, op: &'static str| {
            let name = coll.unwrap_or(prop);
            let unsupported = || {
                GraphError::unsupported_query(format!(
                    "Unsupported or invalid query filter clause specified for property '{name}' of resource 'User'."
                ))
            };
            let row = USER_FILTER_SUPPORT
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(name))
                .map(|(_, cells)| cells.as_bytes());
            let Some(row) = row else {
                // Directory extension attributes filter with eq by default
                // (<https://learn.microsoft.com/graph/extensibility-overview>).
                return if is_extension_attribute(name) {
                    Ok((col != 0 && col != 5).then_some(op))
                } else {
                    Err(unsupported())
                };
            };
            // "The in operator is supported by default whenever eq operator is supported by
            // default"; "All properties that support the eq operator also support the ne or not
            // operators" (advanced).
            let c = match col {
                1 | 2 if row[0] != b'-' => b'A',
                5 if row[5] == b'-' => row[0],
                _ => row[col],
            };
            match c {
                b'D' => Ok(None),
                b'A' => Ok(Some(op)),
                _ => Err(unsupported()),
            }
        };
        let either = |a: Option<&'static str>, b: Option<&'static str>| a.or(b);
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => Ok(either(a.user_need(coll)?, b.user_need(coll)?)),
            Expr::Not(e) => {
                e.user_need(coll)?;
                Ok(Some("not"))
            }
            Expr::Eq(p, Lit::Null) => cell(p, 7, "null"),
            Expr::Ne(p, Lit::Null) => cell(p, 7, "null").map(|_| Some("ne")),
            Expr::Eq(p, _) => cell(p, 0, "eq"),
            Expr::Ne(p, _) => cell(p, 1, "ne"),
            Expr::In(p, lits) => {
                let null = if lits.contains(&Lit::Null) {
                    cell(p, 7, "null")?
                } else {
                    None
                };
                Ok(either(null, cell(p, 5, "in")?))
            }
            Expr::Call(Func::StartsWith, p, _) => cell(p, 6, "startsWith"),
            // endsWith: only mail, otherMails, userPrincipalName, proxyAddresses (checked in
            // `resolve`), always advanced.
            Expr::Call(Func::EndsWith, ..) => Ok(Some("endsWith")),
            Expr::Cmp(p, rel, _) => match rel {
                Rel::Ge | Rel::Gt => cell(p, 3, rel.name()),
                Rel::Le | Rel::Lt => cell(p, 4, rel.name()),
            },
            Expr::Count(..) => Ok(Some("$count")),
            Expr::Any(p, body) => body.user_need(Some(coll.unwrap_or(p))),
        }
    }

    /// Checks property names and literal types against entity type `ty` and rewrites names to
    /// the CSDL's spelling. `endsWith` only on the properties Graph indexes for it.
    pub(crate) fn resolve(&mut self, ty: &str) -> Result<(), GraphError> {
        self.resolve_in(Schema::get(), ty, None)
    }

    fn resolve_in(
        &mut self,
        s: &Schema,
        ty: &str,
        element: Option<&str>,
    ) -> Result<(), GraphError> {
        // Inside a lambda `""` is the element (of scalar type `element`); names are on `ty`.
        let typed = |name: &mut String| -> Result<Option<(String, bool)>, GraphError> {
            if name.is_empty() {
                return Ok(element.map(|e| (e.to_string(), false)));
            }
            *name = s.resolve(ty, name)?;
            Ok(s.property(ty, name).map(|p| (p.ty.clone(), p.collection)))
        };
        let check = |t: Option<(String, bool)>, lit: &Lit, op: &str| match t {
            Some((t, coll)) if !fits(s, &t, coll, lit) => Err(incompatible(&t, lit, op)),
            _ => Ok(()),
        };
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.resolve_in(s, ty, element)?;
                b.resolve_in(s, ty, element)
            }
            Expr::Not(e) => e.resolve_in(s, ty, element),
            Expr::Eq(p, lit) => check(typed(p)?, lit, "Equal"),
            Expr::Ne(p, lit) => check(typed(p)?, lit, "NotEqual"),
            Expr::In(p, lits) => {
                if let Some((t, coll)) = typed(p)? {
                    if let Some(bad) = lits.iter().find(|l| !fits(s, &t, coll, l)) {
                        return Err(incompatible(&t, bad, "In"));
                    }
                }
                Ok(())
            }
            Expr::Call(f, p, _) => {
                let func = if *f == Func::StartsWith {
                    "startsWith"
                } else {
                    "endsWith"
                };
                if let Some((t, coll)) = typed(p)? {
                    if coll || t != "Edm.String" {
                        return Err(GraphError::bad_request(format!(
                            "No function signature for the function with name '{func}' matches the specified arguments. The function signatures considered are: {func}(Edm.String Nullable=true, Edm.String Nullable=true)."
                        )));
                    }
                }
                let indexed = ["mail", "otherMails", "userPrincipalName", "proxyAddresses"];
                let name = if p.is_empty() { "" } else { p.as_str() };
                if *f == Func::EndsWith && element.is_none() && !indexed.contains(&name) {
                    return Err(GraphError::unsupported_query(format!(
                        "Unsupported or invalid query filter clause specified for property '{name}' of resource '{ty}'."
                    )));
                }
                Ok(())
            }
            Expr::Cmp(p, rel, lit) => {
                let op = match rel {
                    Rel::Gt => "GreaterThan",
                    Rel::Ge => "GreaterThanOrEqual",
                    Rel::Lt => "LessThan",
                    Rel::Le => "LessThanOrEqual",
                };
                match typed(p)? {
                    Some((t, coll))
                        if coll || matches!(lit, Lit::Null) || !fits(s, &t, coll, lit) =>
                    {
                        Err(incompatible(&t, lit, op))
                    }
                    _ => Ok(()),
                }
            }
            Expr::Count(p, _, _) => {
                *p = s.resolve(ty, p)?;
                match s.property(ty, p) {
                    Some(prop) if prop.collection => Ok(()),
                    _ => Err(GraphError::bad_request(format!(
                        "$count can only be applied to a collection; '{p}' is not one."
                    ))),
                }
            }
            Expr::Any(p, body) => {
                *p = s.resolve(ty, p)?;
                let prop = s.property(ty, p).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "The 'any' lambda needs a collection property; '{p}' is not one."
                    ))
                })?;
                if !prop.collection {
                    return Err(GraphError::bad_request(format!(
                        "The parent value for a property access of a property 'any' is not a single value. Property access can only be applied to a collection; '{p}' is not one."
                    )));
                }
                let elem_ty = prop.ty.clone();
                if elem_ty.starts_with("Edm.")
                    || s.ty(&elem_ty).is_some_and(|d| d.kind == Kind::Enum)
                {
                    body.resolve_in(s, &elem_ty, Some(&elem_ty))
                } else {
                    body.resolve_in(s, &elem_ty, None)
                }
            }
        }
    }

    /// Whether object `o` satisfies the expression (strings compare case-insensitively).
    pub(crate) fn matches(&self, o: &Object) -> bool {
        self.eval(&|name| o.get(name))
    }

    fn eval<'v>(&self, get: &dyn Fn(&str) -> Option<&'v Value>) -> bool {
        match self {
            Expr::And(a, b) => a.eval(get) && b.eval(get),
            Expr::Or(a, b) => a.eval(get) || b.eval(get),
            Expr::Not(e) => !e.eval(get),
            Expr::Eq(p, lit) => lit.matches(get(p)),
            Expr::Ne(p, lit) => !lit.matches(get(p)),
            Expr::In(p, lits) => lits.iter().any(|l| l.matches(get(p))),
            Expr::Call(f, p, s) => get(p).and_then(Value::as_str).is_some_and(|x| {
                let (x, s) = (x.to_ascii_lowercase(), s.to_ascii_lowercase());
                match f {
                    Func::StartsWith => x.starts_with(&s),
                    Func::EndsWith => x.ends_with(&s),
                }
            }),
            Expr::Cmp(p, rel, lit) => {
                let ord = match (get(p), lit) {
                    (Some(Value::String(x)), Lit::DateTime(y) | Lit::Str(y)) => {
                        match (instant(x), instant(y)) {
                            (Some(a), Some(b)) => Some(a.cmp(&b)),
                            _ => Some(x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase())),
                        }
                    }
                    (Some(Value::Number(x)), Lit::Int(y)) => x.as_i64().map(|x| x.cmp(y)),
                    _ => None,
                };
                ord.is_some_and(|o| rel.holds(o))
            }
            Expr::Count(p, eq, n) => {
                let len = match get(p) {
                    Some(Value::Array(a)) => a.len() as i64,
                    _ => 0,
                };
                (len == *n) == *eq
            }
            Expr::Any(p, body) => match get(p) {
                Some(Value::Array(items)) => items.iter().any(|item| {
                    body.eval(&|name| {
                        if name.is_empty() {
                            Some(item)
                        } else {
                            item.get(name)
                        }
                    })
                }),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_and_evaluates_graph_filters() {
        let u = obj(serde_json::json!({
            "userType": "Member", "displayName": "Ann", "mail": "ann@contoso.com",
            "accountEnabled": true,
            "assignedLicenses": [{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "disabledPlans": []}],
            "businessPhones": ["+1 555"],
        }));
        let ok = |f: &str| {
            let mut e = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            e.resolve("user").unwrap_or_else(|e| panic!("{f}: {e}"));
            e.matches(&u)
        };
        assert!(ok("userType eq 'member' and startsWith(displayName,'a')"));
        assert!(ok("userType eq 'Guest' or accountEnabled eq true"));
        assert!(ok("userType in ('Guest', 'Member')"));
        assert!(!ok(
            "(userType eq 'Guest' or displayName eq 'x') and accountEnabled eq true"
        ));
        assert!(ok(
            "assignedLicenses/any(x:x/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900)"
        ));
        assert!(!ok(
            "assignedLicenses/any(x:x/skuId eq 00000000-0000-0000-0000-000000000000)"
        ));
        assert!(ok("businessPhones/any(p:startswith(p, '+1'))"));
        assert!(ok("not(userType eq 'Guest')"));
        assert!(ok("endsWith(mail,'@contoso.com')"));
        assert!(!ok("assignedLicenses/$count eq 0"));
        assert!(ok("assignedLicenses/$count ne 0"));
        assert!(ok("businessPhones/$count eq 1"));
        assert_eq!(
            parse("assignedLicenses/$count eq 0")
                .unwrap()
                .advanced_operator(),
            Some("$count")
        );
        assert_eq!(
            parse("createdDateTime ge 2024-01-01T00:00:00Z")
                .unwrap()
                .advanced_operator(),
            Some("ge")
        );
        assert_eq!(
            parse("not(a eq 'b')").unwrap().advanced_operator(),
            Some("not")
        );
        assert_eq!(
            parse("a eq 'b' or c ne 'd'").unwrap().advanced_operator(),
            Some("ne")
        );
        assert_eq!(
            parse("a in ('b') or startsWith(c,'d')")
                .unwrap()
                .advanced_operator(),
            None
        );
        // Per-property rules of the page's user table, not per operator.
        let need = |f: &str| {
            let mut e = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            e.resolve("user").unwrap_or_else(|e| panic!("{f}: {e}"));
            e.advanced_need("user")
        };
        for (f, want) in [
            ("jobTitle eq null", Some("null")),
            ("userType eq null or accountEnabled eq true", Some("null")),
            ("officeLocation eq 'x'", Some("eq")),
            ("mobilePhone in ('1')", Some("in")),
            ("createdDateTime ge 2024-01-01T00:00:00Z", None),
            ("jobTitle le 'm'", None),
            ("accountEnabled ge true", Some("ge")),
            ("id in ('a', 'b')", None),
            ("userType in ('Guest')", None),
            ("startsWith(displayName,'a') or userType eq 'Guest'", None),
            (
                "assignedLicenses/any(x:x/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900)",
                None,
            ),
            ("proxyAddresses/any(p:startsWith(p,'smtp:'))", None),
            ("userType ne null", Some("ne")),
            ("not(displayName eq 'a')", Some("not")),
        ] {
            assert_eq!(need(f).unwrap(), want, "{f}");
        }
        for f in [
            "mail eq null",
            "displayName ge 'a'",
            "startsWith(jobTitle,'a')",
            "aboutMe eq 'x'",
            "accountEnabled eq null",
        ] {
            assert_eq!(need(f).unwrap_err().code, "Request_UnsupportedQuery", "{f}");
        }
        // Other entity types keep the operator rule, with null values advanced.
        let mut e = parse("displayName eq null").unwrap();
        e.resolve("application").unwrap();
        assert_eq!(e.advanced_need("application").unwrap(), Some("null"));
        for bad in [
            "userType eq",
            "userType eq 'x' and",
            "(userType eq 'x'",
            "a/b eq 'x'",
            "userType eq 'x",
        ] {
            assert_eq!(parse(bad).unwrap_err().status, 400, "{bad}");
        }
        let refused = |f: &str| {
            let mut e = parse(f).unwrap();
            e.resolve("user").unwrap_err()
        };
        assert_eq!(refused("userTyp eq null").code, "Request_BadRequest");
        assert!(refused("accountEnabled eq 'true'")
            .message
            .contains("incompatible types"));
        assert!(refused("assignedLicenses eq null")
            .message
            .contains("incompatible"));
        assert!(refused("assignedLicenses/any(x:x/skuId eq 'not-a-guid')")
            .message
            .contains("incompatible"));
        assert_eq!(
            refused("endsWith(displayName,'x')").code,
            "Request_UnsupportedQuery"
        );
        assert!(refused("startsWith(accountEnabled,'x')")
            .message
            .contains("startsWith"));
        assert!(refused("displayName/any(x:x eq 'a')")
            .message
            .contains("collection"));
        assert!(refused("createdDateTime ge 5")
            .message
            .contains("incompatible"));
        assert!(refused("displayName/$count eq 0")
            .message
            .contains("collection"));
    }
}
