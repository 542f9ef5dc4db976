//! The router above the Graph areas: splits one request's path, parses its query, and hands
//! it to the area that owns the resource (one module per Graph area). Shared by top-level
//! requests and `$batch` items. Knows nothing about sockets, throttling or faults; adding a
//! route means touching one area (and, for its permission, [`crate::permissions`]).

mod applications;
mod common;
mod directory_roles;
mod domains;
mod organization;
mod policies;
mod subscriptions;
mod users;

use serde_json::{json, Value};

use crate::error::GraphError;
use crate::query;
use crate::store::Store;
use crate::wire::{GraphRequest, GraphResponse, Outcome};
use common::{context_url, only, Ctx};

/// Entity sets and singletons the service root lists.
const ROOTS: &[&str] = &[
    "organization",
    "users",
    "applications",
    "servicePrincipals",
    "domains",
    "directoryRoles",
    "subscribedSkus",
    "directory",
    "policies",
    "identity",
];

/// Resolves key segments: `users('id')`, `users(userPrincipalName='upn')`,
/// `directoryRoles(roleTemplateId='guid')`, `applications(appId='guid')`,
/// `servicePrincipals(appId='guid')` become `[set, id]`
/// (<https://learn.microsoft.com/graph/api/user-get> "userPrincipalName" key;
/// <https://learn.microsoft.com/graph/api/directoryrole-get> "roleTemplateId";
/// <https://learn.microsoft.com/graph/api/application-get> and
/// <https://learn.microsoft.com/graph/api/serviceprincipal-get> "appId").
/// `None` when the segment has no parenthesised key.
fn alternate_key(
    store: &Store,
    segment: &str,
    caller: Option<&str>,
) -> Result<Option<(String, String)>, GraphError> {
    let Some((set, rest)) = segment.split_once('(') else {
        return Ok(None);
    };
    let inner = rest
        .strip_suffix(')')
        .ok_or_else(|| GraphError::unknown_segment(segment))?;
    let (key, value) = match inner.split_once('=') {
        Some((k, v)) => (Some(k.trim()), v.trim()),
        None => (None, inner.trim()),
    };
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map(|v| v.replace("''", "'"))
        .ok_or_else(|| GraphError::unknown_segment(segment))?;
    let lower_set = set.to_ascii_lowercase();
    let lower_key = key.map(str::to_ascii_lowercase);
    let id = match (lower_set.as_str(), lower_key.as_deref()) {
        (_, None) | ("users", Some("userprincipalname")) => value,
        ("directoryroles", Some("roletemplateid")) => store
            .read(|t| {
                t.directory_roles
                    .iter()
                    .find(|r| {
                        crate::snapshot::str_prop(&r.object, "roleTemplateId")
                            .is_some_and(|x| x.eq_ignore_ascii_case(&value))
                    })
                    .and_then(|r| crate::snapshot::object_id(&r.object).map(str::to_string))
            })
            .ok_or_else(|| GraphError::not_found(&value))?,
        // The calling app's own service principal is not in the snapshot: its appId
        // resolves to [`CALLER`], whose memberOf is the token's `wids`.
        ("serviceprincipals", Some("appid"))
            if caller.is_some_and(|c| c.eq_ignore_ascii_case(&value)) =>
        {
            applications::CALLER.to_string()
        }
        ("applications" | "serviceprincipals", Some("appid")) => store
            .read(|t| {
                let c = if lower_set == "applications" {
                    &t.applications
                } else {
                    &t.service_principals
                };
                c.iter()
                    .find(|o| {
                        crate::snapshot::str_prop(o, "appId")
                            .is_some_and(|x| x.eq_ignore_ascii_case(&value))
                    })
                    .and_then(|o| crate::snapshot::object_id(o).map(str::to_string))
            })
            .ok_or_else(|| GraphError::not_found(&value))?,
        _ => return Err(GraphError::unknown_segment(segment)),
    };
    Ok(Some((set.to_string(), id)))
}

/// Handles one Graph request against the store.
pub(crate) fn handle(store: &Store, req: &GraphRequest) -> Outcome {
    let mut seg: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| query::decode(s, false))
        .collect();
    // Permissions first, as Graph checks them before the resource (a 403 even for an
    // object that does not exist); a parenthesised key counts as `{id}`.
    let mut shape: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    if let Some((set, _)) = shape
        .first()
        .and_then(|f| f.split_once('('))
        .map(|(a, b)| (a.to_string(), b.to_string()))
    {
        shape.splice(0..1, [set, "{id}".to_string()]);
    }
    let key = crate::permissions::route_key(&shape.iter().map(String::as_str).collect::<Vec<_>>());
    crate::permissions::check(&req.grants, &req.method, &key)?;
    if let Some(first) = seg.first().cloned() {
        if let Some((set, key)) = alternate_key(store, &first, req.grants.app_id.as_deref())? {
            seg.splice(0..1, [set, key]);
        }
    }
    let low: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    let q = query::parse(req.query.as_deref(), req.eventual)?;
    let ctx = Ctx {
        store,
        req,
        q,
        seg,
        low,
    };
    let first = ctx.low.first().map_or("", String::as_str);
    let second = ctx.low.get(1).map_or("", String::as_str);
    match (first, second) {
        ("", _) => {
            only(ctx.method(), &["GET"])?;
            let sets: Vec<Value> = ROOTS
                .iter()
                .map(|n| json!({"name": n, "kind": "EntitySet", "url": n}))
                .collect();
            Ok(GraphResponse::ok(json!({
                "@odata.context": context_url(&req.version, ""),
                "value": sets,
            })))
        }
        ("organization", _) => organization::handle(&ctx),
        ("users", _) => users::handle(&ctx),
        ("directory", "deleteditems") => users::deleted_items(&ctx),
        ("directory", "subscriptions") => subscriptions::company_subscriptions(&ctx),
        ("subscribedskus", _) => subscriptions::subscribed_skus(&ctx),
        ("directoryroles", _) => directory_roles::handle(&ctx),
        ("policies", _) => policies::security_defaults(&ctx),
        ("identity", _) => policies::conditional_access(&ctx),
        ("applications", _) => applications::applications(&ctx),
        ("serviceprincipals", _) => applications::service_principals(&ctx),
        ("domains", _) => domains::handle(&ctx),
        // A known root with an unknown child names the last segment, as Graph does.
        ("directory", _) => Err(ctx.unknown()),
        _ => Err(GraphError::unknown_segment(&ctx.seg[0])),
    }
}
