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

/// Handles one Graph request against the store.
pub(crate) fn handle(store: &Store, req: &GraphRequest) -> Outcome {
    let seg: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| query::decode(s, false))
        .collect();
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
