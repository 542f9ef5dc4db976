//! Partner Center REST as graph-sim serves it: `GET /v1/customers/{customer-tenant-id}/subscriptions`,
//! `GET` and `PATCH .../subscriptions/{id}`, with Partner Center's error body and request ids,
//! and only for tokens of Partner Center's audience from the partner's own tenant. Owns the
//! shapes and the PATCH rules; the state lives in [`super::Commerce`], changes go through the
//! store's op log ([`crate::store::Op::PartnerCenterPatch`]).
//!
//! Pages:
//! - list: <https://learn.microsoft.com/partner-center/developer/get-all-of-a-customer-s-subscriptions>
//!   (`{"totalCount","items","attributes":{"objectType":"Collection"}}`);
//! - resource, `attributes.etag`, `cancellationAllowedUntilDate`:
//!   <https://learn.microsoft.com/partner-center/developer/subscription-resources>;
//! - cancel = PATCH of "a full Subscription resource" with `status: deleted` and `If-Match`,
//!   answered 200 with the deleted resource; after the 7-day window "the API will throw an
//!   error": <https://learn.microsoft.com/partner-center/developer/cancel-an-azure-marketplace-subscription>;
//! - renewal: the same PATCH with `autoRenewEnabled`:
//!   <https://learn.microsoft.com/partner-center/developer/update-autorenew-for-an-azure-marketplace-subscription>;
//! - `suspended` is a different operation (fraud, non-payment; billing continues, reversible):
//!   <https://learn.microsoft.com/partner-center/developer/suspend-a-subscription>;
//! - errors: `{"code","description","data","source"}` and 412 "A precondition provided in the
//!   request (such as an if-match header) does not match the resource's current state":
//!   <https://learn.microsoft.com/partner-center/developer/error-codes>;
//! - request ids: `MS-RequestId`, `MS-CorrelationId` echoed on the response
//!   (<https://learn.microsoft.com/partner-center/developer/headers>).
//!
//! The exact `code` values of these refusals are not documented; graph-sim's are descriptive
//! strings (clients must branch on the HTTP status, not on them).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::{now_ms, parse_date, Commerce, CommerceRequest, PartnerSubscription};
use crate::error::GraphError;
use crate::store::{Op, OpError, Store};
use crate::wire::GraphResponse;

/// Statuses a PATCH may ask for.
const WRITABLE_STATUSES: &[&str] = &["active", "suspended", "deleted"];

/// Keys a PATCH body must carry to be "a full Subscription resource".
const FULL_RESOURCE_KEYS: &[&str] = &["id", "offerId", "quantity", "status", "autoRenewEnabled"];

/// Keys a PATCH may change; a change to any other key is refused (graph-sim models only these).
const CHANGEABLE_KEYS: &[&str] = &["status", "autoRenewEnabled"];

fn pc(status: u16, code: &str, message: impl Into<String>) -> GraphError {
    GraphError::new(status, code, message)
}

/// The subscription's current etag: derived from its id and version (opaque to clients).
pub(crate) fn refresh_etag(s: &mut PartnerSubscription) {
    let id = s
        .resource
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let given = s
        .resource
        .get("attributes")
        .and_then(|a| a.get("etag"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let etag = match (s.version, given) {
        (0, Some(e)) => e,
        (v, _) => URL_SAFE_NO_PAD.encode(format!("{id}:{v}")),
    };
    if let Some(a) = s
        .resource
        .get_mut("attributes")
        .and_then(Value::as_object_mut)
    {
        a.insert("etag".into(), Value::String(etag));
    }
}

fn etag_of(s: &PartnerSubscription) -> String {
    s.resource
        .get("attributes")
        .and_then(|a| a.get("etag"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `If-Match` without `W/` and quotes.
fn bare_etag(v: &str) -> &str {
    let v = v.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

impl Commerce {
    fn pc_find_mut(&mut self, id: &str) -> Option<&mut PartnerSubscription> {
        self.partner_center
            .as_mut()?
            .subscriptions
            .iter_mut()
            .find(|s| {
                s.resource
                    .get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(id))
            })
    }

    /// Applies a validated PATCH: `etag` must be the current one (412), a `deleted` status
    /// only inside the window at `at_ms` (400), nothing changes once deleted (409).
    pub(crate) fn partner_patch(
        &mut self,
        id: &str,
        etag: &str,
        status: Option<&str>,
        auto_renew: Option<bool>,
        at_ms: u64,
    ) -> Result<(), GraphError> {
        let s = self
            .pc_find_mut(id)
            .ok_or_else(|| not_found_subscription(id))?;
        if bare_etag(etag) != etag_of(s) {
            return Err(pc(
                412,
                "PreconditionFailed",
                "The If-Match etag does not match the subscription's current etag: it was changed since it was read. Read it again.",
            ));
        }
        let current = s
            .resource
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if current == "deleted" {
            return Err(pc(
                409,
                "SubscriptionDeleted",
                format!("Subscription {id} is deleted; it can't be changed."),
            ));
        }
        if let Some(st) = status.filter(|st| *st != current) {
            if !WRITABLE_STATUSES.contains(&st) {
                return Err(pc(
                    400,
                    "InvalidSubscriptionStatus",
                    format!("status {st:?} can't be set; use one of active, suspended, deleted"),
                ));
            }
            if st == "deleted" {
                let until = s
                    .resource
                    .get("cancellationAllowedUntilDate")
                    .and_then(Value::as_str)
                    .and_then(parse_date);
                match until {
                    Some(u) if at_ms <= u => {}
                    Some(_) => {
                        return Err(pc(
                            400,
                            "CancellationWindowExpired",
                            format!(
                                "Subscription {id} can no longer be canceled: its cancellation window ended at {}. Turn off auto-renew to end it at the term's end.",
                                s.resource["cancellationAllowedUntilDate"].as_str().unwrap_or("")
                            ),
                        ))
                    }
                    None => {
                        return Err(pc(
                            400,
                            "CancellationNotAllowed",
                            format!("Subscription {id} is not allowed to be canceled (cancellationAllowedUntilDate is null)."),
                        ))
                    }
                }
            }
        }
        let ignores = s.ignores_auto_renew_change;
        if let Some(st) = status {
            s.resource
                .insert("status".into(), Value::String(st.to_string()));
            if st == "deleted" {
                s.resource
                    .insert("autoRenewEnabled".into(), Value::Bool(false));
            }
        }
        if let Some(a) = auto_renew {
            if !ignores && status != Some("deleted") {
                s.resource.insert("autoRenewEnabled".into(), Value::Bool(a));
            }
        }
        s.version += 1;
        refresh_etag(s);
        if status == Some("deleted") && current != "deleted" {
            self.cancelled(id, at_ms);
        }
        Ok(())
    }
}

fn not_found_subscription(id: &str) -> GraphError {
    pc(
        404,
        "SubscriptionNotFound",
        format!("Subscription {id} was not found for this customer."),
    )
}

/// Partner Center's error body (<https://learn.microsoft.com/partner-center/developer/error-codes>).
fn error_body(e: &GraphError) -> Value {
    json!({
        "code": e.code,
        "description": e.message,
        "data": [],
        "source": "PartnerFD",
        "attributes": {"objectType": "Error"},
    })
}

fn respond(status: u16, body: Value, ids: &[(String, String)]) -> GraphResponse {
    GraphResponse {
        status,
        headers: ids.to_vec(),
        body: Some(body),
    }
}

/// Answers one Partner Center request (path under `/v1/`).
pub(crate) fn handle(store: &Store, r: &CommerceRequest<'_>) -> GraphResponse {
    let ids = vec![
        (
            "MS-RequestId".to_string(),
            r.header("ms-requestid")
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string),
        ),
        (
            "MS-CorrelationId".to_string(),
            r.header("ms-correlationid")
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string),
        ),
    ];
    match answer(store, r) {
        Ok(mut resp) => {
            resp.headers.extend(ids);
            resp
        }
        Err(e) => {
            let mut resp = respond(e.status, error_body(&e), &ids);
            if e.status == 401 {
                resp.headers
                    .push(("WWW-Authenticate".into(), "Bearer".into()));
            }
            resp
        }
    }
}

fn answer(store: &Store, r: &CommerceRequest<'_>) -> Result<GraphResponse, GraphError> {
    let token = r.bearer().ok_or_else(|| {
        pc(
            401,
            "Unauthorized",
            "Authorization header is missing or is not a bearer token.",
        )
    })?;
    let grants = crate::token::read_partner_center(token, now_ms() / 1000)
        .map_err(|e| pc(401, "Unauthorized", e.message))?;
    let segs: Vec<String> = r
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| crate::query::decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (customer, rest) = match segs.as_slice() {
        [v, customers, c, subscriptions, rest @ ..]
            if v.eq_ignore_ascii_case("v1")
                && customers.eq_ignore_ascii_case("customers")
                && subscriptions.eq_ignore_ascii_case("subscriptions") =>
        {
            (*c, rest)
        }
        _ => {
            return Err(pc(
                404,
                "NotFound",
                format!("graph-sim serves no Partner Center resource at {}", r.path),
            ))
        }
    };
    // Who may call: the partner's own tenant (and its admin agent apps, when listed).
    store.read(|t| -> Result<(), GraphError> {
        let Some(p) = &t.commerce.partner_center else {
            return Err(pc(
                403,
                "Forbidden",
                "The caller's tenant is not this customer's partner.",
            ));
        };
        let tid = grants.tenant_id.as_deref().unwrap_or("");
        if !tid.eq_ignore_ascii_case(&p.partner_tenant_id) {
            return Err(pc(
                403,
                "Forbidden",
                format!("Tenant {tid} is not this customer's partner: sign in to the partner's own tenant."),
            ));
        }
        if !p.admin_agent_app_ids.is_empty()
            && !grants.app_id.as_deref().is_some_and(|a| {
                p.admin_agent_app_ids
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(a))
            })
        {
            return Err(pc(
                403,
                "Forbidden",
                "The application is not one of the partner's admin agent apps in Partner Center.",
            ));
        }
        if !p
            .customer_tenant_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(customer))
        {
            return Err(pc(
                404,
                "CustomerNotFound",
                format!("Customer {customer} was not found among the partner's customers."),
            ));
        }
        Ok(())
    })?;
    match (r.method, rest) {
        ("GET", []) => store.read(|t| {
            let p = t.commerce.partner_center.as_ref();
            let items: Vec<Value> = p
                .map(|p| {
                    p.subscriptions
                        .iter()
                        .map(|s| Value::Object(s.resource.clone()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(GraphResponse::ok(json!({
                "totalCount": items.len(),
                "items": items,
                "links": {"self": {"uri": format!("/customers/{customer}/subscriptions"), "method": "GET", "headers": []}},
                "attributes": {"objectType": "Collection"},
            })))
        }),
        ("GET", [id]) => read_one(store, id),
        ("PATCH", [id]) => patch(store, r, id),
        (_, [] | [_]) => Err(pc(
            405,
            "MethodNotAllowed",
            format!("{} is not allowed on this resource", r.method),
        )),
        _ => Err(pc(404, "NotFound", format!("no resource at {}", r.path))),
    }
}

fn read_one(store: &Store, id: &str) -> Result<GraphResponse, GraphError> {
    store.read(|t| {
        let s = t
            .commerce
            .partner_center
            .as_ref()
            .and_then(|p| {
                p.subscriptions.iter().find(|s| {
                    s.resource
                        .get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
                })
            })
            .ok_or_else(|| not_found_subscription(id))?;
        let mut resp = GraphResponse::ok(Value::Object(s.resource.clone()));
        resp.headers
            .push(("ETag".into(), format!("\"{}\"", etag_of(s))));
        Ok(resp)
    })
}

fn patch(store: &Store, r: &CommerceRequest<'_>, id: &str) -> Result<GraphResponse, GraphError> {
    let Some(if_match) = r.header("if-match").filter(|v| !v.trim().is_empty()) else {
        return Err(pc(
            412,
            "PreconditionFailed",
            "The If-Match header is required: send the etag of the subscription as read.",
        ));
    };
    let body: Value = serde_json::from_slice(r.body).map_err(|e| {
        pc(
            400,
            "InvalidRequestBody",
            format!("The body is not JSON: {e}"),
        )
    })?;
    let Some(body) = body.as_object() else {
        return Err(pc(
            400,
            "InvalidRequestBody",
            "The body must be a Subscription resource.",
        ));
    };
    let missing: Vec<&str> = FULL_RESOURCE_KEYS
        .iter()
        .copied()
        .filter(|k| !body.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(pc(
            400,
            "InvalidRequestBody",
            format!(
                "A full Subscription resource is required in the request body; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    if !body["id"]
        .as_str()
        .is_some_and(|b| b.eq_ignore_ascii_case(id))
    {
        return Err(pc(
            400,
            "InvalidRequestBody",
            format!(
                "The body's id {} is not the subscription {id} of the URL.",
                body["id"]
            ),
        ));
    }
    let current = read_one(store, id)?
        .body
        .and_then(|b| b.as_object().cloned())
        .unwrap_or_default();
    for (k, v) in body {
        if CHANGEABLE_KEYS.contains(&k.as_str()) || k == "attributes" || k == "links" {
            continue;
        }
        if current.get(k).is_some_and(|c| c != v) {
            return Err(pc(
                400,
                "UnsupportedChange",
                format!("graph-sim changes only status and autoRenewEnabled; {k} differs from the subscription's"),
            ));
        }
    }
    let status = match body.get("status") {
        Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
        _ => return Err(pc(400, "InvalidRequestBody", "status must be a string")),
    };
    let auto_renew = match body.get("autoRenewEnabled") {
        Some(Value::Bool(b)) => Some(*b),
        _ => {
            return Err(pc(
                400,
                "InvalidRequestBody",
                "autoRenewEnabled must be a boolean",
            ))
        }
    };
    let op = Op::PartnerCenterPatch {
        id: id.to_string(),
        etag: bare_etag(if_match).to_string(),
        status,
        auto_renew,
        at_ms: now_ms(),
    };
    match store.execute(op) {
        Ok(()) => read_one(store, id),
        Err(OpError::Graph(e)) => Err(e),
        Err(OpError::Portal(p)) => Err(pc(500, "InternalServerError", p.to_string())),
    }
}
