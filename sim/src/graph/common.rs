//! What every Graph area shares: the request context, how an entity set is served (projection,
//! paging, `@odata.context`), JSON bodies, and running a store operation. Must not import an
//! area, the router, `$batch` or the server.

use serde_json::{Map, Value};

use crate::collection::Collection;
use crate::error::GraphError;
use crate::query::{self, encode_skiptoken, Query};
use crate::schema::{hand, Property, Schema};
use crate::snapshot::Object;
use crate::store::{Op, OpError, Store};
use crate::wire::{GraphRequest, GraphResponse, Outcome};

/// One request as an area sees it: the store, the request, its parsed query and its path.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub req: &'a GraphRequest,
    pub q: Query,
    /// Decoded path segments after the version, as sent.
    pub seg: Vec<String>,
    /// The same, lower-cased (Graph's segments are case-insensitive).
    pub low: Vec<String>,
}

impl Ctx<'_> {
    /// Upper-case method.
    pub fn method(&self) -> &str {
        &self.req.method
    }

    /// Whether this is a `beta` request.
    pub fn beta(&self) -> bool {
        self.req.version == "beta"
    }

    /// The lower-cased segments as `&str`s, for matching.
    pub fn path(&self) -> Vec<&str> {
        self.low.iter().map(String::as_str).collect()
    }

    /// 400 "Resource not found for the segment" naming the last segment (the one an area
    /// did not resolve).
    pub fn unknown(&self) -> GraphError {
        GraphError::unknown_segment(self.seg.last().map_or("", String::as_str))
    }
}

/// How a collection is served.
pub(crate) struct EntitySet {
    /// `@odata.context` fragment, e.g. `users`.
    pub context: &'static str,
    /// The entity type of its members, as the CSDL names it (`user`, `domain`, ...).
    pub ty: &'static str,
    /// `@odata.type` to stamp on each item (polymorphic collections only).
    pub odata_type: Option<&'static str>,
    /// Whether `$filter` / `$top` are accepted.
    pub queryable: bool,
}

impl EntitySet {
    /// A collection of `ty` without `@odata.type` stamping.
    pub const fn plain(context: &'static str, ty: &'static str, queryable: bool) -> EntitySet {
        EntitySet {
            context,
            ty,
            odata_type: None,
            queryable,
        }
    }
}

/// `https://graph.microsoft.com/{version}/$metadata#{fragment}`.
pub(crate) fn context_url(version: &str, fragment: &str) -> String {
    format!("https://graph.microsoft.com/{version}/$metadata#{fragment}")
}

/// The value served for property `p`: the object's (keys matched case-insensitively), else
/// `[]` for a collection (Graph never serves a null collection), `null` for a nullable
/// property, nothing for a non-nullable one graph-sim has no value for.
fn served_value(o: &Object, p: &Property) -> Option<Value> {
    let v = o
        .get(&p.name)
        .or_else(|| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&p.name))
                .map(|(_, v)| v)
        })
        .cloned();
    match v {
        Some(Value::Null) | None if p.collection => Some(Value::Array(Vec::new())),
        Some(v) => Some(v),
        None if p.nullable => Some(Value::Null),
        None => None,
    }
}

/// Shapes one object for output: exactly the `$select`ed properties (already resolved to
/// the CSDL's names), or the type's default set, or every structural property plus the
/// extension attributes an open type carries. Properties outside the schema are never
/// served (<https://learn.microsoft.com/graph/query-parameters#select-parameter>).
pub(crate) fn project(o: &Object, select: Option<&[String]>, set: &EntitySet) -> Value {
    let schema = Schema::get();
    let ty = set.ty;
    let mut out = Map::new();
    if let Some(t) = set.odata_type {
        out.insert("@odata.type".into(), Value::String(t.into()));
    }
    let mut put = |name: &str| match schema.property(ty, name) {
        Some(p) => {
            if let Some(v) = served_value(o, p) {
                out.insert(p.name.clone(), v);
            }
        }
        // An extension attribute: its value, or null when this object has none.
        None => {
            out.insert(
                name.to_string(),
                o.get(name).cloned().unwrap_or(Value::Null),
            );
        }
    };
    match select {
        Some(props) => props.iter().for_each(|p| put(p)),
        None => match hand::default_properties(ty) {
            Some(defaults) => defaults.iter().for_each(|p| put(p)),
            None => {
                for p in schema.properties(ty) {
                    put(&p.name);
                }
                if schema.is_open(ty) {
                    for k in o.keys().filter(|k| hand::is_extension_attribute(k)) {
                        put(k);
                    }
                }
            }
        },
    }
    Value::Object(out)
}

fn context_fragment(set: &EntitySet, q: &Query) -> String {
    match &q.select {
        Some(props) => format!("{}({})", set.context, props.join(",")),
        None => set.context.to_string(),
    }
}

/// Serves one page of a collection with `$select`, `$top`, `$skiptoken`, `$filter`, `$count`.
pub(crate) fn list(ctx: &Ctx, set: &EntitySet, collection: &Collection) -> Outcome {
    let q = &query::resolve(&ctx.q, set.ty)?;
    let req = ctx.req;
    if !set.queryable
        && (q.top.is_some() || q.filter.is_some() || !q.orderby.is_empty() || !q.search.is_empty())
    {
        return Err(GraphError::unsupported_query(
            "The query specified in the URI is not valid for this resource.",
        ));
    }
    let (items, next) = if q.orderby.is_empty() {
        collection.page(q.after, q.page_size(), |o| q.matches(o))
    } else {
        sorted_page(q, collection)
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context_url(&req.version, &context_fragment(set, q))),
    );
    if q.serves_count() {
        let n = collection.iter().filter(|o| q.matches(o)).count();
        body.insert("@odata.count".into(), Value::from(n));
    }
    if let Some(key) = next {
        let mut params = q.passthrough.clone();
        params.push(format!("$skiptoken={}", encode_skiptoken(key)));
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!(
                "{}/{}/{}?{}",
                req.origin,
                req.version,
                req.path,
                params.join("&")
            )),
        );
    }
    let value: Vec<Value> = items
        .into_iter()
        .map(|o| project(o, q.select.as_deref(), set))
        .collect();
    body.insert("value".into(), Value::Array(value));
    Ok(GraphResponse::ok(Value::Object(body)))
}

/// `GET {collection}/$count`: the number of matching objects as `text/plain`. Needs
/// `ConsistencyLevel: eventual`, else 400 `Request_BadRequest` "$count is not currently
/// supported." (<https://learn.microsoft.com/graph/aad-advanced-queries>, "Error handling").
pub(crate) fn count(ctx: &Ctx, set: &EntitySet, collection: &Collection) -> Outcome {
    only(ctx.method(), &["GET"])?;
    if !ctx.q.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    let q = query::resolve(&ctx.q, set.ty)?;
    let n = collection.iter().filter(|o| q.matches(o)).count();
    Ok(GraphResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: Some(Value::from(n)),
    })
}

/// Marks a `$skiptoken` cursor as an offset into a sorted result (`$orderby`), not a key.
const SORTED: u64 = u64::MAX;

/// One page of the matching objects sorted by `$orderby` (strings case-insensitively, nulls
/// last); the cursor is the offset of the next page.
fn sorted_page<'c>(
    q: &Query,
    collection: &'c Collection,
) -> (Vec<&'c Object>, Option<crate::collection::Key>) {
    let mut all: Vec<&Object> = collection.iter().filter(|o| q.matches(o)).collect();
    let key = |o: &Object, p: &str| {
        o.get(p).map(|v| match v {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })
    };
    all.sort_by(|a, b| {
        for (p, desc) in &q.orderby {
            let (x, y) = (key(a, p), key(b, p));
            let ord = match (x, y) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    let start = match q.after {
        Some((SORTED, offset)) => offset as usize,
        _ => 0,
    };
    let end = (start + q.page_size()).min(all.len());
    let next = (end < all.len()).then_some((SORTED, end as u64));
    (
        all.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
        next,
    )
}

/// Serves one object with `$select` (or the set's defaults) and its `@odata.context`.
pub(crate) fn entity(ctx: &Ctx, set: &EntitySet, o: &Object) -> Outcome {
    let q = &query::resolve(&ctx.q, set.ty)?;
    let mut v = project(o, q.select.as_deref(), set);
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert(
            "@odata.context".into(),
            Value::String(context_url(
                &ctx.req.version,
                &format!("{}/$entity", context_fragment(set, q)),
            )),
        );
        out.append(m);
        v = Value::Object(out);
    }
    Ok(GraphResponse::ok(v))
}

/// The request body as a JSON object. Graph reads a body only with `Content-Type:
/// application/json` (parameters such as `charset` allowed); otherwise, or when the body is
/// not a JSON object, 400 `BadRequest` "Unable to read JSON request payload. Please ensure
/// Content-Type header is set and payload is of valid JSON format." (the message names the
/// header itself; <https://learn.microsoft.com/graph/api/user-update>, "Request headers":
/// `Content-Type: application/json. Required.`).
pub(crate) fn json_body(ctx: &Ctx, ty: &str) -> Result<Object, GraphError> {
    let unreadable = || {
        GraphError::new(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    };
    let json = ctx.req.content_type.as_deref().is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err(unreadable());
    }
    let body = serde_json::from_slice::<Value>(&ctx.req.body)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .ok_or_else(unreadable)?;
    check_patch(&body, ty, ctx.beta())?;
    // Stored under the CSDL's spelling (Graph matches names case-insensitively).
    let schema = Schema::get();
    Ok(body
        .into_iter()
        .map(|(k, v)| match schema.property(ty, &k) {
            Some(p) if !k.contains('@') => (p.name.clone(), v),
            _ => (k, v),
        })
        .collect())
}

/// A PATCH body against the schema: every property exists on `ty` (or is an extension
/// attribute of an open type), is not read-only, and has a value of its declared type.
/// Refusals are 400 `Request_BadRequest`, as Graph answers them
/// (<https://learn.microsoft.com/graph/api/user-update>: "only the properties you provide
/// are updated"; read-only properties per [`hand::READ_ONLY`]).
pub(crate) fn check_patch(body: &Object, ty: &str, beta: bool) -> Result<(), GraphError> {
    let schema = Schema::get();
    for (k, v) in body {
        // Annotations (`@odata.type`, `name@odata.bind`) are not properties.
        if k.contains('@') {
            continue;
        }
        let name = schema.resolve(ty, k)?;
        if hand::is_read_only(ty, &name, beta) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        if let Some(p) = schema.property(ty, &name) {
            schema.check_value(p, v).map_err(|why| {
                GraphError::bad_request(format!(
                    "Invalid value specified for property '{name}' of resource '{ty}': {why}."
                ))
            })?;
        }
    }
    Ok(())
}

/// Runs one mutation: 204, or the Graph error the store refused it with.
pub(crate) fn run(store: &Store, op: Op) -> Outcome {
    match store.execute(op) {
        Ok(()) => Ok(GraphResponse::no_content()),
        Err(OpError::Graph(e)) => Err(e),
        Err(OpError::Portal(p)) => Err(GraphError::new(500, "UnknownError", p.to_string())),
    }
}

/// 405 unless `method` is one of `allowed`.
pub(crate) fn only(method: &str, allowed: &[&str]) -> Result<(), GraphError> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

/// Single-object reads accept `$select` only.
pub(crate) fn select_only(q: &Query) -> Result<(), GraphError> {
    if q.has_collection_options() {
        return Err(GraphError::unsupported_query(
            "The query specified in the URI is not valid for this resource.",
        ));
    }
    Ok(())
}
