//! Admin routes under `/_sim/` (not Graph): portal operations, the request log, the current
//! snapshot. They let tests and `closeout sim` act on an external graph-sim.

use serde_json::{json, Value};

use crate::state::Shared;
use crate::wire::{portal_error, GraphResponse};

fn ok(body: Value) -> GraphResponse {
    GraphResponse {
        status: 200,
        headers: Vec::new(),
        body: Some(body),
    }
}

fn not_found(what: &str) -> GraphResponse {
    GraphResponse {
        status: 404,
        headers: Vec::new(),
        body: Some(
            json!({"error": {"code": "NotFound", "message": format!("no admin route {what}")}}),
        ),
    }
}

fn done(r: Result<(), crate::error::PortalError>) -> GraphResponse {
    match r {
        Ok(()) => GraphResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        },
        Err(e) => portal_error(&e),
    }
}

/// `path` is what follows `/_sim/`.
pub(crate) fn handle(shared: &Shared, method: &str, path: &str) -> GraphResponse {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let store = &shared.store;
    match (method, segments.as_slice()) {
        ("POST", ["portal", "subscriptions", id, "cancel"]) => {
            done(store.portal_cancel_subscription(id))
        }
        ("POST", ["portal", "subscriptions", id, "delete"]) => {
            done(store.portal_delete_subscription(id))
        }
        ("POST", ["portal", "subscriptions", id, "support-delete"]) => {
            done(store.portal_support_delete_subscription(id))
        }
        ("POST", ["portal", "subscriptions", id, "remove-self-service"]) => {
            done(store.portal_remove_self_service_product(id))
        }
        ("POST", ["portal", "subscribedSkus", sku_id, "support-remove"]) => {
            done(store.portal_support_remove_sku(sku_id))
        }
        ("POST", ["portal", "tenant", "delete"]) => done(store.portal_delete_tenant()),
        ("GET", ["portal", "tenant", "blockers"]) => {
            ok(json!({"blockers": store.tenant_deletion_blockers()}))
        }
        ("GET", ["log"]) => ok(serde_json::to_value(shared.log_snapshot()).unwrap_or(Value::Null)),
        ("GET", ["snapshot"]) => ok(serde_json::to_value(store.snapshot()).unwrap_or(Value::Null)),
        _ => not_found(&format!("{method} /_sim/{path}")),
    }
}
