//! One action against the tenant: check, then converge. Every function is safe to repeat:
//! an object already in the target state is recorded as such without a write.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::graph::{GraphClient, GraphError};
use crate::model::TenantState;
use crate::plan::{Action, ActionKind};

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// closeout changed the tenant.
    Done,
    /// The object was already in the target state; nothing was written.
    AlreadyDone,
    /// A manual action, verified done by reading the tenant.
    Verified,
    /// A manual action not done yet (as read now).
    Pending(String),
    /// Graph refused or failed.
    Failed(Failure),
    /// Not attempted because a prerequisite failed or waits on a person.
    Skipped { because: String },
    /// Stopped by Ctrl-C: `started` actions may have changed the tenant (uncertain, checked
    /// on resume), the others did not start.
    Interrupted { started: bool },
}

/// Why an action failed: the message and, when Graph answered, its `error.code` and the
/// `request-id` to quote to Microsoft support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub code: Option<String>,
    pub request_id: Option<String>,
}

impl Failure {
    /// A failure closeout itself detected (no Graph error).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: None,
            request_id: None,
        }
    }
}

impl From<&GraphError> for Failure {
    fn from(e: &GraphError) -> Failure {
        Failure {
            message: e.to_string(),
            code: e.code().map(str::to_string),
            request_id: e.request_id().map(str::to_string),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Outcome {
    /// The outcome's name in the journal and in JSON reports: `done`, `already_done`,
    /// `verified`, `pending`, `failed`, `skipped`, `interrupted`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::AlreadyDone => "already_done",
            Outcome::Verified => "verified",
            Outcome::Pending(_) => "pending",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Interrupted { .. } => "interrupted",
        }
    }

    /// Lets dependents proceed.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Done | Outcome::AlreadyDone | Outcome::Verified
        )
    }
}

/// `true` when an error from reading the organization means the tenant no longer exists.
/// graph-sim and Graph answer a deleted tenant's requests with 401/400/404 and a code naming
/// the missing tenant or identity.
pub fn tenant_gone(e: &GraphError) -> bool {
    matches!(e.status(), Some(400 | 401 | 403 | 404))
        && e.code().is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("tenant") || c.contains("identitynotfound") || c == "directory_notfound"
        })
}

async fn delete(client: &GraphClient, path: &str) -> Result<Outcome, GraphError> {
    match client.request(Method::DELETE, path, None).await {
        Ok(_) => Ok(Outcome::Done),
        Err(e) if e.is_not_found() => Ok(Outcome::AlreadyDone),
        Err(e) => Err(e),
    }
}

async fn patch(client: &GraphClient, path: &str, body: Value) -> Result<Outcome, GraphError> {
    client.request(Method::PATCH, path, Some(&body)).await?;
    Ok(Outcome::Done)
}

async fn get_opt(client: &GraphClient, path: &str) -> Result<Option<Value>, GraphError> {
    match client.get(path).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Purges a deleted object from the recycle bin. A 404 right after the soft delete may be
/// replication lag, so it is re-checked a few times before being taken as "already purged".
async fn purge(client: &GraphClient, id: &str, active_path: &str) -> Result<Outcome, GraphError> {
    let path = format!("/v1.0/directory/deletedItems/{id}");
    for attempt in 0..6u32 {
        match client.request(Method::DELETE, &path, None).await {
            Ok(_) => return Ok(Outcome::Done),
            Err(e) if e.is_not_found() => {
                // Not in the recycle bin: purged already, or the delete has not replicated.
                if get_opt(client, active_path).await?.is_none() && attempt >= 1 {
                    return Ok(Outcome::AlreadyDone);
                }
                client
                    .pause(Duration::from_millis(200 * (1 << attempt)), &path)
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome::Failed(Failure::new(format!(
        "{path}: the object is neither in the recycle bin nor purged after repeated checks (replication lag?); apply again"
    ))))
}

/// Checks and converges one action. `state` is the tenant as read at the start of the apply;
/// `arm` is Azure Resource Manager, for the Azure subscription kinds.
pub async fn converge(
    client: &GraphClient,
    arm: Option<&crate::arm::ArmClient>,
    state: &TenantState,
    a: &Action,
) -> Result<Outcome, GraphError> {
    let id = a.object_id.as_str();
    match a.kind {
        ActionKind::CancelAzureSubscription
        | ActionKind::CancelAzureSubscriptionInPortal
        | ActionKind::DeleteAzureSubscription => {
            let Some(arm) = arm else {
                return Ok(Outcome::Failed(Failure::new(
                    "no Azure Resource Manager connection: this action needs one",
                )));
            };
            super::azure::converge(arm, state, a).await
        }
        ActionKind::DisableDirectorySync => {
            if state.organization.on_premises_sync_enabled != Some(true) {
                return Ok(Outcome::AlreadyDone);
            }
            patch(
                client,
                &format!("/beta/organization/{id}"),
                json!({"onPremisesSyncEnabled": false}),
            )
            .await
        }
        ActionKind::DeleteUser => {
            let Some(user) = state.user(id) else {
                return Ok(Outcome::AlreadyDone);
            };
            match delete(client, &format!("/v1.0/users/{id}")).await {
                // Turning directory sync off takes Microsoft up to 72 hours; until then
                // synced users are refused with 400. That is waiting, not failure.
                Err(e) if e.status() == Some(400) && user.is_synced() => Ok(Outcome::Pending(format!(
                    "Graph still treats this user as synchronized from on-premises ({}; request-id {}): turning directory sync off can take up to 72 hours; apply again later",
                    e.code().unwrap_or(""),
                    e.request_id().unwrap_or("none")
                ))),
                other => other,
            }
        }
        ActionKind::PurgeUser => {
            let active = state.user(id).is_some();
            let binned = state.deleted_user(id).is_some();
            if !active && !binned {
                return Ok(Outcome::AlreadyDone);
            }
            purge(client, id, &format!("/v1.0/users/{id}")).await
        }
        ActionKind::CancelSubscription | ActionKind::DeleteSubscription => {
            verify_subscription(client, a.kind, id).await
        }
        // Only through a commerce client (apply::commerce); without one, nothing to write.
        ActionKind::DisableAutoRenew => Ok(Outcome::Pending(
            "turning renewal off needs the billing channel's API, which this run has no access to"
                .to_string(),
        )),
        ActionKind::DisableSecurityDefaults => {
            if !state.security_defaults.is_enabled {
                return Ok(Outcome::AlreadyDone);
            }
            patch(
                client,
                "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
                json!({"isEnabled": false}),
            )
            .await
        }
        ActionKind::DisableConditionalAccessPolicy => {
            match state
                .conditional_access_policies
                .iter()
                .find(|p| p.id == id)
            {
                None => Ok(Outcome::AlreadyDone),
                Some(p) if p.state == "disabled" => Ok(Outcome::AlreadyDone),
                Some(_) => {
                    patch(
                        client,
                        &format!("/v1.0/identity/conditionalAccess/policies/{id}"),
                        json!({"state": "disabled"}),
                    )
                    .await
                }
            }
        }
        ActionKind::DisablePerUserMfa => {
            // The tenant read covers the plan's kept users; anyone else is already gone.
            if state.per_user_mfa_of(id) == crate::model::PerUserMfaState::Disabled {
                return Ok(Outcome::AlreadyDone);
            }
            patch(
                client,
                &format!("/beta/users/{id}/authentication/requirements"),
                json!({"perUserMfaState": "disabled"}),
            )
            .await
        }
        ActionKind::DeleteServicePrincipal => {
            if !state.service_principals.iter().any(|sp| sp.id == id) {
                return Ok(Outcome::AlreadyDone);
            }
            delete(client, &format!("/v1.0/servicePrincipals/{id}")).await
        }
        ActionKind::DisableServicePrincipal => {
            match state.service_principals.iter().find(|sp| sp.id == id) {
                None => Ok(Outcome::AlreadyDone),
                Some(sp) if sp.account_enabled == Some(false) => Ok(Outcome::AlreadyDone),
                Some(_) => {
                    patch(
                        client,
                        &format!("/v1.0/servicePrincipals/{id}"),
                        json!({"accountEnabled": false}),
                    )
                    .await
                }
            }
        }
        ActionKind::DeleteApplication => {
            if !state.applications.iter().any(|a| a.id == id) {
                return Ok(Outcome::AlreadyDone);
            }
            delete(client, &format!("/v1.0/applications/{id}")).await
        }
        ActionKind::PurgeApplication => {
            let active = state.applications.iter().any(|a| a.id == id);
            let binned = state.deleted_applications.iter().any(|a| a.id == id);
            if !active && !binned {
                return Ok(Outcome::AlreadyDone);
            }
            purge(client, id, &format!("/v1.0/applications/{id}")).await
        }
        ActionKind::MoveUserToInitialDomain => {
            let p = format!("/v1.0/users/{id}");
            let target = a
                .after
                .get("userPrincipalName")
                .cloned()
                .unwrap_or(Value::Null);
            let live = client
                .get(&format!("{p}?$select=id,userPrincipalName"))
                .await?;
            let same = match (live.get("userPrincipalName"), &target) {
                (Some(Value::String(a)), Value::String(b)) => crate::ident::same_upn(a, b),
                (Some(a), b) => a == b,
                (None, _) => false,
            };
            if same {
                return Ok(Outcome::AlreadyDone);
            }
            patch(client, &p, json!({ "userPrincipalName": target })).await
        }
        ActionKind::SetDefaultDomain => {
            let p = format!("/v1.0/domains/{id}");
            let live = client.get(&p).await?;
            if live.get("isDefault") == Some(&Value::Bool(true)) {
                return Ok(Outcome::AlreadyDone);
            }
            patch(client, &p, json!({"isDefault": true})).await
        }
        ActionKind::DeleteDomain => {
            if !state.domains.iter().any(|d| d.id.eq_ignore_ascii_case(id)) {
                return Ok(Outcome::AlreadyDone);
            }
            delete(client, &format!("/v1.0/domains/{id}")).await
        }
        ActionKind::DeleteTenant => match client.get("/v1.0/organization").await {
            Err(e) if tenant_gone(&e) => Ok(Outcome::Verified),
            Err(e) => Err(e),
            Ok(_) => Ok(Outcome::Pending("the tenant still exists".to_string())),
        },
        // Deleted in the Entra admin center: the same reading as a subscription's deletion
        // (status Deleted, and the SKU agrees when nothing else keeps it alive).
        ActionKind::DeleteSelfServiceProduct => {
            verify_subscription(client, ActionKind::DeleteSubscription, id).await
        }
        ActionKind::RemoveUnexplainedSku => verify_sku_removed(client, id).await,
    }
}

/// Verifies that Microsoft support removed the SKU whose `skuId` is `sku_id`: in
/// `GET /v1.0/subscribedSkus` it is `Deleted` or no longer listed.
/// <https://learn.microsoft.com/en-us/graph/api/subscribedsku-list>
async fn verify_sku_removed(client: &GraphClient, sku_id: &str) -> Result<Outcome, GraphError> {
    let skus = client.get_all("/v1.0/subscribedSkus").await?;
    let status = skus
        .iter()
        .find(|k| {
            k.get("skuId")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(sku_id))
        })
        .map(|k| {
            k.get("capabilityStatus")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        });
    Ok(match status.as_deref() {
        None | Some("Deleted") => Outcome::Verified,
        Some(other) => Outcome::Pending(format!(
            "subscribedSkus still lists SKU {sku_id} as {other}; Microsoft support has not removed it yet"
        )),
    })
}

/// Verifies a subscription's manual action by reading `GET /v1.0/directory/subscriptions`
/// and cross-checking `GET /v1.0/subscribedSkus`: the subscription's status must have moved
/// (cancel: no longer `Enabled`/`Warning`; delete: `Deleted`), and when no other
/// subscription keeps its SKU alive, the SKU's `capabilityStatus` must agree.
/// <https://learn.microsoft.com/en-us/graph/api/resources/companysubscription>,
/// <https://learn.microsoft.com/en-us/graph/api/resources/subscribedsku>
pub(crate) async fn verify_subscription(
    client: &GraphClient,
    kind: ActionKind,
    id: &str,
) -> Result<Outcome, GraphError> {
    let subs = client.get_all("/v1.0/directory/subscriptions").await?;
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let this = subs.iter().find(|s| str_of(s, "id") == id);
    let status = this.map_or("Deleted".to_string(), |s| str_of(s, "status"));
    let sku_id = this.map(|s| str_of(s, "skuId")).unwrap_or_default();
    let cancel = kind == ActionKind::CancelSubscription;
    let moved = if cancel {
        !matches!(status.as_str(), "Enabled" | "Warning")
    } else {
        status == "Deleted"
    };
    if !moved {
        return Ok(Outcome::Pending(format!("subscription status is {status}")));
    }
    if sku_id.is_empty() {
        return Ok(Outcome::Verified);
    }
    let others_alive = subs.iter().any(|s| {
        str_of(s, "id") != id
            && str_of(s, "skuId") == sku_id
            && if cancel {
                matches!(str_of(s, "status").as_str(), "Enabled" | "Warning")
            } else {
                str_of(s, "status") != "Deleted"
            }
    });
    if others_alive {
        return Ok(Outcome::Verified);
    }
    let skus = client.get_all("/v1.0/subscribedSkus").await?;
    let capability = skus
        .iter()
        .find(|k| str_of(k, "skuId") == sku_id)
        .map(|k| str_of(k, "capabilityStatus"));
    let agrees = match capability.as_deref() {
        None => true,
        Some(c) if cancel => !matches!(c, "Enabled" | "Warning"),
        Some(c) => c == "Deleted",
    };
    Ok(if agrees {
        Outcome::Verified
    } else {
        Outcome::Pending(format!(
            "the subscription is {status} but subscribedSkus still shows SKU {sku_id} as {}; waiting for Graph to catch up",
            capability.unwrap_or_default()
        ))
    })
}
