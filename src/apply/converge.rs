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

/// Checks and converges one action. `state` is the tenant as read at the start of the apply.
pub async fn converge(
    client: &GraphClient,
    state: &TenantState,
    a: &Action,
) -> Result<Outcome, GraphError> {
    let id = a.object_id.as_str();
    match a.kind {
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
            if !state.users.iter().any(|u| u.id == id) {
                return Ok(Outcome::AlreadyDone);
            }
            delete(client, &format!("/v1.0/users/{id}")).await
        }
        ActionKind::PurgeUser => purge(client, id, &format!("/v1.0/users/{id}")).await,
        ActionKind::CancelSubscription | ActionKind::DeleteSubscription => {
            let sub = get_opt(client, &format!("/v1.0/directory/subscriptions/{id}")).await?;
            let status = sub
                .as_ref()
                .and_then(|s| s.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("Deleted")
                .to_string();
            let done = match a.kind {
                ActionKind::CancelSubscription => !matches!(status.as_str(), "Enabled" | "Warning"),
                _ => status == "Deleted",
            };
            Ok(if done {
                Outcome::Verified
            } else {
                Outcome::Pending(format!("subscription status is {status}"))
            })
        }
        ActionKind::DisableSecurityDefaults => {
            const P: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
            let live = client.get(P).await?;
            if live.get("isEnabled") == Some(&Value::Bool(false)) {
                return Ok(Outcome::AlreadyDone);
            }
            patch(client, P, json!({"isEnabled": false})).await
        }
        ActionKind::DisableConditionalAccessPolicy => {
            let p = format!("/v1.0/identity/conditionalAccess/policies/{id}");
            match get_opt(client, &p).await? {
                None => Ok(Outcome::AlreadyDone),
                Some(v) if v.get("state").and_then(Value::as_str) == Some("disabled") => {
                    Ok(Outcome::AlreadyDone)
                }
                Some(_) => patch(client, &p, json!({"state": "disabled"})).await,
            }
        }
        ActionKind::DisablePerUserMfa => {
            let p = format!("/beta/users/{id}/authentication/requirements");
            match get_opt(client, &p).await? {
                None => Ok(Outcome::AlreadyDone),
                Some(v) if v.get("perUserMfaState").and_then(Value::as_str) == Some("disabled") => {
                    Ok(Outcome::AlreadyDone)
                }
                Some(_) => patch(client, &p, json!({"perUserMfaState": "disabled"})).await,
            }
        }
        ActionKind::DeleteServicePrincipal => {
            delete(client, &format!("/v1.0/servicePrincipals/{id}")).await
        }
        ActionKind::DisableServicePrincipal => {
            let p = format!("/v1.0/servicePrincipals/{id}");
            match get_opt(client, &p).await? {
                None => Ok(Outcome::AlreadyDone),
                Some(v) if v.get("accountEnabled") == Some(&Value::Bool(false)) => {
                    Ok(Outcome::AlreadyDone)
                }
                Some(_) => patch(client, &p, json!({"accountEnabled": false})).await,
            }
        }
        ActionKind::DeleteApplication => delete(client, &format!("/v1.0/applications/{id}")).await,
        ActionKind::PurgeApplication => {
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
            if live
                .get("userPrincipalName")
                .map(|v| v.as_str().map(str::to_lowercase))
                == Some(target.as_str().map(str::to_lowercase))
            {
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
        ActionKind::DeleteDomain => delete(client, &format!("/v1.0/domains/{id}")).await,
        ActionKind::DeleteTenant => match client.get("/v1.0/organization").await {
            Err(e) if tenant_gone(&e) => Ok(Outcome::Verified),
            Err(e) => Err(e),
            Ok(_) => Ok(Outcome::Pending("the tenant still exists".to_string())),
        },
    }
}
