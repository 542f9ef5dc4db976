//! Microsoft.Billing (MCA) as graph-sim serves it under ARM's paths: billing accounts,
//! billing subscriptions, `PATCH autoRenew`, `DELETE` as a long-running operation polled at
//! its `Location`. Tokens must be for ARM's audience ([`crate::token::read_arm`]); what a
//! caller may do comes from the billing roles of the snapshot. Owns the shapes and rules;
//! state is in [`super::Commerce`], changes go through the store's op log.
//!
//! Pages (Azure/azure-rest-api-specs, `specification/billing/resource-manager/Microsoft.Billing/stable/2024-04-01/`):
//! - `GET /providers/Microsoft.Billing/billingAccounts` (`billingAccount.json`,
//!   <https://learn.microsoft.com/rest/api/billing/billing-accounts/list>): only accounts the
//!   caller holds a billing role on;
//! - `GET .../billingAccounts/{a}/billingSubscriptions` (`BillingSubscriptions_ListByBillingAccount`,
//!   `includeDeleted`), `GET`/`PATCH .../billingSubscriptions/{name}` (`BillingSubscriptions_Update`,
//!   200 with the resource; `examples/billingSubscriptionsUpdate.json`);
//! - `DELETE .../billingSubscriptions/{name}` (`BillingSubscriptions_Delete`): 202 with
//!   `Location: .../operationResults/cancelBillingSubscription_{name}:{guid}?api-version=2024-04-01`
//!   and `Retry-After: 10` (`examples/billingSubscriptionsDelete.json`); polling the
//!   `Location` answers 202 until done, then 200 (`final-state-via: location`);
//! - roles: billing account/profile owner or contributor may "cancel, turn off auto renewal";
//!   readers may read (<https://learn.microsoft.com/azure/cost-management-billing/manage/understand-mca-roles>);
//! - "Microsoft Entra ID Free" cannot be cancelled
//!   (<https://learn.microsoft.com/azure/cost-management-billing/manage/microsoft-entra-id-free>):
//!   graph-sim refuses a DELETE of any subscription whose `systemOverrides.cancellation` is
//!   `NotAllowed` or that has no `cancellationAllowedEndDate`;
//! - errors `{"error":{"code","message"}}` with `x-ms-request-id`, `x-ms-correlation-request-id`
//!   (<https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/common-api-details.md>);
//!   a missing `api-version` is 400 `MissingApiVersionParameter`, an unknown one 400
//!   `NoRegisteredProviderFound` "... The supported api-versions are '...'" (ARM's answer,
//!   quoted in Azure/azure-cli#28496).
//!
//! The `code` of a refused cancellation is not documented; graph-sim's are descriptive.

use serde_json::{json, Value};

use super::{
    now_ms, parse_date, BillingAccount, BillingOperation, BillingSubscription, Commerce,
    CommerceRequest,
};
use crate::error::GraphError;
use crate::store::{Op, OpError, Store};
use crate::wire::GraphResponse;

/// The api-versions graph-sim serves Microsoft.Billing in (the shapes are 2024-04-01's).
pub const API_VERSIONS: &[&str] = &["2024-04-01"];

fn arm(status: u16, code: &str, message: impl Into<String>) -> GraphError {
    GraphError::new(status, code, message)
}

pub(crate) fn not_found_operation(id: &str) -> GraphError {
    arm(
        404,
        "ResourceNotFound",
        format!("The operation '{id}' was not found."),
    )
}

fn account_id(a: &str) -> String {
    format!("/providers/Microsoft.Billing/billingAccounts/{a}")
}

fn account_json(a: &BillingAccount) -> Value {
    let mut props = a.properties.clone();
    props.insert("hasReadAccess".into(), Value::Bool(true));
    json!({
        "id": account_id(&a.name),
        "name": a.name,
        "type": "Microsoft.Billing/billingAccounts",
        "properties": props,
    })
}

fn subscription_json(a: &BillingAccount, s: &BillingSubscription) -> Value {
    json!({
        "id": format!("{}/billingSubscriptions/{}", account_id(&a.name), s.name),
        "name": s.name,
        "type": "Microsoft.Billing/billingAccounts/billingSubscriptions",
        "properties": s.properties,
    })
}

/// What a principal may do with a billing subscription (or an account, `sub = None`).
fn access(a: &BillingAccount, sub: Option<&BillingSubscription>, who: Option<&str>) -> Access {
    let mut out = Access::None;
    let mut see = |writes: bool| {
        out = if writes || out == Access::Write {
            Access::Write
        } else {
            Access::Read
        }
    };
    for r in a.role_assignments.iter().filter(|r| r.is_for(who)) {
        see(r.writes());
    }
    for p in &a.billing_profiles {
        let applies = match sub {
            // Profile roles reach the subscriptions billed to that profile.
            Some(s) => s
                .billing_profile
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&p.name)),
            // A profile role makes the account visible.
            None => true,
        };
        if applies {
            for r in p.role_assignments.iter().filter(|r| r.is_for(who)) {
                see(r.writes());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    None,
    Read,
    Write,
}

fn forbidden(who: Option<&str>, action: &str, scope: &str) -> GraphError {
    arm(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{}' does not have authorization to perform action '{action}' over scope '{scope}': it needs a billing role (owner or contributor to change) on the billing account or billing profile.",
            who.unwrap_or("")
        ),
    )
}

impl Commerce {
    fn account_mut(&mut self, account: &str) -> Option<&mut BillingAccount> {
        self.billing
            .as_mut()?
            .accounts
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(account))
    }

    /// `PATCH {"properties":{"autoRenew": On|Off}}`.
    pub(crate) fn billing_patch(
        &mut self,
        account: &str,
        name: &str,
        auto_renew: &str,
    ) -> Result<(), GraphError> {
        let a = self
            .account_mut(account)
            .ok_or_else(|| not_found_account(account))?;
        let s = a
            .subscriptions
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| not_found_subscription(name))?;
        locked(s)?;
        s.properties
            .insert("autoRenew".into(), Value::String(auto_renew.to_string()));
        Ok(())
    }

    /// `DELETE`: starts operation `operation` at `at_ms` if the subscription may be cancelled.
    pub(crate) fn billing_cancel(
        &mut self,
        account: &str,
        name: &str,
        operation: &str,
        at_ms: u64,
    ) -> Result<(), GraphError> {
        let a = self
            .account_mut(account)
            .ok_or_else(|| not_found_account(account))?;
        let acct_name = a.name.clone();
        let s = a
            .subscriptions
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| not_found_subscription(name))?;
        locked(s)?;
        let status = s
            .properties
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !matches!(status, "Active" | "AutoRenew" | "Warned" | "Expiring") {
            return Err(arm(
                400,
                "BillingSubscriptionNotActive",
                format!("Billing subscription {name} is {status}; only an active subscription can be cancelled."),
            ));
        }
        let overrides = s.properties.get("systemOverrides");
        let allowed = overrides
            .and_then(|o| o.get("cancellation"))
            .and_then(Value::as_str)
            != Some("NotAllowed");
        let until = overrides
            .and_then(|o| o.get("cancellationAllowedEndDate"))
            .and_then(Value::as_str);
        match (allowed, until.and_then(parse_date)) {
            (true, Some(u)) if at_ms <= u => {}
            (true, Some(_)) => {
                return Err(arm(
                    400,
                    "CancellationWindowExpired",
                    format!(
                        "Billing subscription {name} can no longer be cancelled: self-serve cancellation ended at {}. Turn off auto-renew instead.",
                        until.unwrap_or("")
                    ),
                ))
            }
            _ => {
                return Err(arm(
                    400,
                    "CancellationNotAllowed",
                    format!("Billing subscription {name} can't be cancelled (systemOverrides.cancellation is NotAllowed or there is no cancellation window)."),
                ))
            }
        }
        s.properties.insert(
            "operationStatus".into(),
            Value::String("LockedForUpdate".into()),
        );
        let sub_name = s.name.clone();
        let b = self.billing.get_or_insert_with(Default::default);
        b.operations.push(BillingOperation {
            id: operation.to_string(),
            account: acct_name,
            subscription: sub_name,
            started_ms: at_ms,
            done_ms: None,
        });
        Ok(())
    }
}

fn locked(s: &BillingSubscription) -> Result<(), GraphError> {
    if s.properties.get("operationStatus").and_then(Value::as_str) == Some("LockedForUpdate") {
        return Err(arm(
            409,
            "BillingSubscriptionLockedForUpdate",
            format!(
                "Billing subscription {} is locked by an operation in progress (operationStatus LockedForUpdate); write operations are blocked until it ends.",
                s.name
            ),
        ));
    }
    Ok(())
}

fn not_found_account(a: &str) -> GraphError {
    arm(
        404,
        "BillingAccountNotFound",
        format!("The billing account '{a}' was not found."),
    )
}

fn not_found_subscription(n: &str) -> GraphError {
    arm(
        404,
        "BillingSubscriptionNotFound",
        format!("The billing subscription '{n}' was not found."),
    )
}

/// Answers one Microsoft.Billing request (path under `/providers/Microsoft.Billing/`).
pub(crate) fn handle(store: &Store, r: &CommerceRequest<'_>) -> GraphResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let correlation = r
        .header("x-ms-correlation-request-id")
        .or(r.header("x-ms-client-request-id"))
        .map_or_else(|| request_id.clone(), str::to_string);
    let ids = vec![
        ("x-ms-request-id".to_string(), request_id),
        ("x-ms-correlation-request-id".to_string(), correlation),
    ];
    let mut resp = match answer(store, r) {
        Ok(resp) => resp,
        Err(e) => GraphResponse {
            status: e.status,
            headers: Vec::new(),
            body: Some(json!({"error": {"code": e.code, "message": e.message}})),
        },
    };
    resp.headers.extend(ids);
    resp
}

fn answer(store: &Store, r: &CommerceRequest<'_>) -> Result<GraphResponse, GraphError> {
    let token = r.bearer().ok_or_else(|| {
        arm(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    })?;
    let grants = crate::token::read_arm(token, now_ms() / 1000)?;
    let who = grants.object_id.or(grants.app_id);
    let who = who.as_deref();
    let version = r
        .query_param("api-version")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            arm(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        })?;
    let segs: Vec<String> = r
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| crate::query::decode(s, false))
        .collect();
    let low: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let low: Vec<&str> = low.iter().map(String::as_str).collect();
    // segs[0..2] = providers, Microsoft.Billing.
    let rest = &low[2.min(low.len())..];
    let resource_type = match rest {
        ["billingaccounts"] | ["billingaccounts", _] => "billingAccounts",
        ["billingaccounts", _, "billingsubscriptions", ..] => "billingAccounts/billingSubscriptions",
        ["billingaccounts", _, "operationresults", _] => "billingAccounts/operationResults",
        _ => {
            return Err(arm(
                400,
                "InvalidResourceType",
                format!(
                    "The resource type '{}' could not be found in the namespace 'Microsoft.Billing' for api version '{version}'.",
                    rest.iter().step_by(2).copied().collect::<Vec<_>>().join("/")
                ),
            ))
        }
    };
    if !API_VERSIONS.contains(&version) {
        return Err(arm(
            400,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'global' and API version '{version}' for type '{resource_type}'. The supported api-versions are '{}'. The supported locations are ', global'.",
                API_VERSIONS.join(", ")
            ),
        ));
    }
    let account = segs.get(3).cloned().unwrap_or_default();
    match (r.method, rest) {
        ("GET", ["billingaccounts"]) => store.read(|t| {
            let v: Vec<Value> = t
                .commerce
                .billing
                .iter()
                .flat_map(|b| &b.accounts)
                .filter(|a| access(a, None, who) != Access::None)
                .map(account_json)
                .collect();
            Ok(GraphResponse::ok(json!({ "value": v })))
        }),
        ("GET", ["billingaccounts", _]) => store.read(|t| {
            let a = find_account(&t.commerce, &account)?;
            if access(a, None, who) == Access::None {
                return Err(forbidden(
                    who,
                    "Microsoft.Billing/billingAccounts/read",
                    &account_id(&a.name),
                ));
            }
            Ok(GraphResponse::ok(account_json(a)))
        }),
        ("GET", ["billingaccounts", _, "billingsubscriptions"]) => {
            let include_deleted = r
                .query_param("includeDeleted")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            store.read(|t| {
                let a = find_account(&t.commerce, &account)?;
                if access(a, None, who) == Access::None {
                    return Err(forbidden(
                        who,
                        "Microsoft.Billing/billingAccounts/billingSubscriptions/read",
                        &account_id(&a.name),
                    ));
                }
                let v: Vec<Value> = a
                    .subscriptions
                    .iter()
                    .filter(|s| access(a, Some(s), who) != Access::None)
                    .filter(|s| {
                        include_deleted
                            || s.properties.get("status").and_then(Value::as_str) != Some("Deleted")
                    })
                    .map(|s| subscription_json(a, s))
                    .collect();
                Ok(GraphResponse::ok(
                    json!({ "value": v, "totalCount": v.len() }),
                ))
            })
        }
        ("GET", ["billingaccounts", _, "billingsubscriptions", _]) => {
            read_subscription(store, &account, &segs[5], who, Access::Read).map(GraphResponse::ok)
        }
        ("PATCH", ["billingaccounts", _, "billingsubscriptions", _]) => {
            read_subscription(store, &account, &segs[5], who, Access::Write)?;
            let body: Value = serde_json::from_slice(r.body).map_err(|e| {
                arm(
                    400,
                    "InvalidRequestContent",
                    format!("The request content is not valid JSON: {e}"),
                )
            })?;
            let props = body.get("properties").and_then(Value::as_object);
            let auto_renew = props
                .and_then(|p| p.get("autoRenew"))
                .and_then(Value::as_str);
            let Some(auto_renew @ ("On" | "Off")) = auto_renew else {
                return Err(arm(
                    400,
                    "InvalidRequestContent",
                    "The body must be {\"properties\":{\"autoRenew\":\"On\"|\"Off\"}}.",
                ));
            };
            if let Some(other) = props.and_then(|p| p.keys().find(|k| *k != "autoRenew")) {
                return Err(arm(
                    400,
                    "InvalidRequestContent",
                    format!("graph-sim updates only properties.autoRenew; {other} was sent"),
                ));
            }
            execute(
                store,
                Op::BillingPatch {
                    account: account.clone(),
                    name: segs[5].clone(),
                    auto_renew: auto_renew.to_string(),
                },
            )?;
            read_subscription(store, &account, &segs[5], who, Access::Read).map(GraphResponse::ok)
        }
        ("DELETE", ["billingaccounts", _, "billingsubscriptions", _]) => {
            read_subscription(store, &account, &segs[5], who, Access::Write)?;
            let canonical = store.read(|t| {
                find_account(&t.commerce, &account).map(|a| {
                    let s = a
                        .subscriptions
                        .iter()
                        .find(|s| s.name.eq_ignore_ascii_case(&segs[5]))
                        .map_or_else(|| segs[5].clone(), |s| s.name.clone());
                    (a.name.clone(), s)
                })
            })?;
            let operation = format!(
                "cancelBillingSubscription_{}:{}",
                canonical.1,
                uuid::Uuid::new_v4()
            );
            execute(
                store,
                Op::BillingCancel {
                    account: canonical.0.clone(),
                    name: canonical.1,
                    operation: operation.clone(),
                    at_ms: now_ms(),
                },
            )?;
            Ok(accepted(store, r, &canonical.0, &operation))
        }
        ("GET", ["billingaccounts", _, "operationresults", _]) => {
            let id = segs[5].clone();
            let (op, done) = store.read(|t| {
                let b = t.commerce.billing.as_ref();
                let op = b
                    .and_then(|b| b.operations.iter().find(|o| o.id == id))
                    .cloned()
                    .ok_or_else(|| not_found_operation(&id))?;
                Ok::<_, GraphError>((op.clone(), op.done_ms.is_some()))
            })?;
            if !op.account.eq_ignore_ascii_case(&account) {
                return Err(not_found_operation(&id));
            }
            read_subscription(store, &op.account, &op.subscription, who, Access::Read)?;
            let finish = !done && store.configure_commerce(|c| c.poll(&id));
            if finish {
                execute(
                    store,
                    Op::BillingOperationDone {
                        operation: id.clone(),
                        at_ms: now_ms(),
                    },
                )?;
            }
            if done || finish {
                read_subscription(store, &op.account, &op.subscription, who, Access::Read)
                    .map(GraphResponse::ok)
            } else {
                Ok(accepted(store, r, &op.account, &id))
            }
        }
        _ => Err(arm(
            405,
            "HttpMethodNotSupported",
            format!(
                "The HTTP method '{}' is not supported for '{}'.",
                r.method, r.path
            ),
        )),
    }
}

fn execute(store: &Store, op: Op) -> Result<(), GraphError> {
    match store.execute(op) {
        Ok(()) => Ok(()),
        Err(OpError::Graph(e)) => Err(e),
        Err(OpError::Portal(p)) => Err(arm(500, "InternalServerError", p.to_string())),
    }
}

/// 202 with `Location` (the operation's result URL on this server) and `Retry-After`.
fn accepted(
    store: &Store,
    r: &CommerceRequest<'_>,
    account: &str,
    operation: &str,
) -> GraphResponse {
    let (seconds, fractional) = store.read(|t| {
        (
            t.commerce.config.retry_after_s,
            t.commerce.config.fractional_retry_after,
        )
    });
    GraphResponse {
        status: 202,
        headers: vec![
            (
                "Location".into(),
                format!(
                    "{}{}/operationResults/{}?api-version={}",
                    r.origin,
                    account_id(&encode_segment(account)),
                    encode_segment(operation),
                    API_VERSIONS[0]
                ),
            ),
            (
                "Retry-After".into(),
                crate::throttle::format_seconds(seconds, fractional),
            ),
        ],
        body: None,
    }
}

fn find_account<'a>(c: &'a Commerce, account: &str) -> Result<&'a BillingAccount, GraphError> {
    c.billing
        .iter()
        .flat_map(|b| &b.accounts)
        .find(|a| a.name.eq_ignore_ascii_case(account))
        .ok_or_else(|| not_found_account(account))
}

/// Reads a billing subscription as the caller may: 404 unknown, 403 without `need`.
fn read_subscription(
    store: &Store,
    account: &str,
    name: &str,
    who: Option<&str>,
    need: Access,
) -> Result<Value, GraphError> {
    store.read(|t| {
        let a = find_account(&t.commerce, account)?;
        let s = a
            .subscriptions
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| not_found_subscription(name))?;
        let has = access(a, Some(s), who);
        let ok = match need {
            Access::Write => has == Access::Write,
            _ => has != Access::None,
        };
        if !ok {
            let action = if need == Access::Write {
                "Microsoft.Billing/billingAccounts/billingSubscriptions/write"
            } else {
                "Microsoft.Billing/billingAccounts/billingSubscriptions/read"
            };
            return Err(forbidden(
                who,
                action,
                &format!("{}/billingSubscriptions/{}", account_id(&a.name), s.name),
            ));
        }
        Ok(subscription_json(a, s))
    })
}

/// A path segment percent-encoded (RFC 3986 `pchar`: unreserved, `:` and `@` kept).
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
