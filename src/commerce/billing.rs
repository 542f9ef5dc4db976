//! The Microsoft.Billing client for Microsoft Customer Agreement (MCA) accounts: billing
//! accounts, the tenant's billingSubscriptions, turning renewal off, and cancellation as a
//! long-running operation. Owns Microsoft.Billing's routes and shapes (api-version
//! 2024-04-01) under Azure Resource Manager's root; transport, token (audience
//! `https://management.azure.com/.default`), retries, URL policy, bounds and redaction are
//! the protocol core's. Must not touch Graph or decide what a plan contains.
//!
//! - `GET /providers/Microsoft.Billing/billingAccounts`
//!   (<https://learn.microsoft.com/en-us/rest/api/billing/billing-accounts/list>);
//! - `GET .../billingAccounts/{account}/billingSubscriptions`, `nextLink` paging
//!   (<https://learn.microsoft.com/en-us/rest/api/billing/billing-subscriptions/list-by-billing-account>);
//! - `PATCH .../billingSubscriptions/{name}` `{"properties":{"autoRenew":"Off"}}`: 200, or
//!   202 with `Location`/`Retry-After`
//!   (<https://learn.microsoft.com/en-us/rest/api/billing/billing-subscriptions/update>);
//! - `DELETE .../billingSubscriptions/{name}`: "Cancels a billing subscription", 202 with
//!   `Location` and `Retry-After` (or 204), `final-state-via: location`
//!   (<https://learn.microsoft.com/en-us/rest/api/billing/billing-subscriptions/delete>).
//!   The docs do not confirm it for every seat-based product bought in the Microsoft 365
//!   admin center, so closeout verifies the outcome in Graph.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::model::CommerceSubscription;
use crate::protocol::auth::TokenProvider;
use crate::protocol::{ApiError, Audience, Core, CoreOptions, Replay, ServiceError, ServiceRoot};

/// The Microsoft.Billing api-version closeout speaks.
pub const API_VERSION: &str = "2024-04-01";

fn hint(api: &ApiError) -> Option<String> {
    match api.status {
        401 => Some("the Azure Resource Manager token is missing or expired: sign in again (see --auth; CLOSEOUT_ARM_ACCESS_TOKEN is not refreshed)".into()),
        403 => Some("cancelling or turning off renewal needs the billing account or billing profile owner or contributor role (README, \"Billing channels\")".into()),
        _ => None,
    }
}

/// How a cancellation started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelStarted {
    /// 200/204: done at once.
    Done,
    /// 202: poll this `Location` (already checked against the ARM root) after
    /// `retry_after`.
    Accepted {
        location: String,
        retry_after: Duration,
    },
    /// 404: the billing subscription is gone.
    Gone,
}

/// One poll of a long-running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Still running (202): ask again after this long.
    Running(Duration),
    /// Finished (200/204, or a body whose `status` is `Succeeded`).
    Succeeded,
    /// Finished otherwise: the operation's status or error, as the service said it.
    Failed(String),
}

/// A Microsoft.Billing client. Clones share the connection pool and the token.
#[derive(Clone)]
pub struct BillingClient {
    core: Arc<Core>,
}

impl std::fmt::Debug for BillingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingClient")
            .field("core", &self.core)
            .finish()
    }
}

/// A billing account or subscription name closeout puts in a path: no separators, no
/// control characters, bounded.
fn check_name(what: &str, name: &str) -> Result<(), ServiceError> {
    let bad = name.is_empty()
        || name.len() > 400
        || name.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '?' | '#' | '\\' | '%') || c.is_whitespace()
        });
    if bad {
        return Err(ServiceError::Local(format!(
            "'{}' is not a {what} name",
            crate::input::excerpt(name)
        )));
    }
    Ok(())
}

impl BillingClient {
    /// A client for the ARM root `base_url` (`--arm-url`, else the cloud's), signing with
    /// `tokens`' token for [`Audience::Arm`] only.
    ///
    /// # Errors
    /// [`ServiceError::BadUrl`]; [`ServiceError::Local`] when TLS cannot be set up.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenProvider>,
        options: CoreOptions,
    ) -> Result<BillingClient, ServiceError> {
        let root = ServiceRoot::new(Audience::Arm, base_url)?;
        Ok(BillingClient {
            core: Arc::new(Core::new(
                root,
                tokens,
                options,
                Some(Arc::new(crate::arm::arm_pacer())),
                hint,
            )?),
        })
    }

    /// Waits `d` (cancellable, like every wait of the core).
    ///
    /// # Errors
    /// [`ServiceError::Cancelled`] on Ctrl-C.
    pub async fn pause(&self, d: Duration, what: &str) -> Result<(), ServiceError> {
        self.core.pause(d, what).await
    }

    /// Stops waits and retries when `token` fires.
    pub fn set_cancellation(&self, token: tokio_util::sync::CancellationToken) {
        self.core.set_cancellation(token);
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        replay: Replay,
    ) -> Result<crate::protocol::Response, ServiceError> {
        let url = self.core.url_for(path)?;
        self.core.send(method, &url, body, &[], replay, None).await
    }

    async fn get_all(&self, path: &str) -> Result<Vec<Value>, ServiceError> {
        let mut out = Vec::new();
        self.core
            .for_each_page(path, "nextLink", &[], |items| {
                out.extend(items);
                Ok(())
            })
            .await?;
        Ok(out)
    }

    /// The Microsoft Customer Agreement billing account: `account` when given (checked to
    /// exist), else the one MCA account the identity sees.
    ///
    /// # Errors
    /// [`ServiceError::Local`] when none or several are found (naming them: set
    /// `billing.billing_account`); the core's.
    pub async fn account(&self, account: Option<&str>) -> Result<String, ServiceError> {
        if let Some(a) = account {
            check_name("billing account", a)?;
            self.send(
                Method::GET,
                &format!(
                    "/providers/Microsoft.Billing/billingAccounts/{a}?api-version={API_VERSION}"
                ),
                None,
                Replay::Repeatable,
            )
            .await?;
            return Ok(a.to_string());
        }
        let all = self
            .get_all(&format!(
                "/providers/Microsoft.Billing/billingAccounts?api-version={API_VERSION}"
            ))
            .await?;
        let mca: Vec<String> = all
            .iter()
            .filter(|a| {
                a.pointer("/properties/agreementType")
                    .and_then(Value::as_str)
                    == Some("MicrosoftCustomerAgreement")
            })
            .filter_map(|a| a.get("name").and_then(Value::as_str))
            .map(|n| crate::protocol::redact::server_text(n, 200))
            .collect();
        match mca.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ServiceError::Local(
                "no Microsoft Customer Agreement billing account is visible to this identity (it needs a billing role on it)".into(),
            )),
            many => Err(ServiceError::Local(format!(
                "{} Microsoft Customer Agreement billing accounts are visible ({}): name one as billing.billing_account in the closure spec",
                many.len(),
                many.join(", ")
            ))),
        }
    }

    /// The billing account's billingSubscriptions provisioned in (or for) `tenant_id`:
    /// `provisioningTenantId`, `beneficiaryTenantId` or `beneficiary.tenantId` equal to it.
    ///
    /// # Errors
    /// The core's.
    pub async fn subscriptions(
        &self,
        account: &str,
        tenant_id: &str,
    ) -> Result<Vec<CommerceSubscription>, ServiceError> {
        check_name("billing account", account)?;
        let all = self
            .get_all(&format!(
                "/providers/Microsoft.Billing/billingAccounts/{account}/billingSubscriptions?api-version={API_VERSION}"
            ))
            .await?;
        let tenant = tenant_id.to_ascii_lowercase();
        Ok(all
            .iter()
            .filter(|s| {
                [
                    "/properties/provisioningTenantId",
                    "/properties/beneficiaryTenantId",
                    "/properties/beneficiary/tenantId",
                ]
                .iter()
                .any(|p| {
                    s.pointer(p)
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(&tenant))
                })
            })
            .map(parse)
            .collect())
    }

    fn subscription_path(account: &str, name: &str) -> Result<String, ServiceError> {
        check_name("billing account", account)?;
        check_name("billing subscription", name)?;
        Ok(format!(
            "/providers/Microsoft.Billing/billingAccounts/{account}/billingSubscriptions/{name}?api-version={API_VERSION}"
        ))
    }

    /// One billing subscription; `Ok(None)` for 404.
    ///
    /// # Errors
    /// The core's.
    pub async fn get(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Option<CommerceSubscription>, ServiceError> {
        let path = Self::subscription_path(account, name)?;
        match self
            .send(Method::GET, &path, None, Replay::Repeatable)
            .await
        {
            Ok(r) => Ok(r.body.as_ref().map(parse)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Turns renewal off and reads it back (`Ok(true)` when it was off already). A 202 is
    /// polled at its `Location` until done.
    ///
    /// # Errors
    /// The core's; [`ServiceError::Local`] when it reads back `On` or the operation fails.
    pub async fn disable_auto_renew(
        &self,
        account: &str,
        name: &str,
    ) -> Result<bool, ServiceError> {
        if self.get(account, name).await?.and_then(|s| s.auto_renew) == Some(false) {
            return Ok(true);
        }
        let path = Self::subscription_path(account, name)?;
        // Absolute values: sending it again changes nothing.
        let r = self
            .send(
                Method::PATCH,
                &path,
                Some(&json!({"properties": {"autoRenew": "Off"}})),
                Replay::Repeatable,
            )
            .await?;
        if r.status == 202 {
            if let Some(loc) = &r.location {
                let loc = self.checked_location(loc)?;
                let mut wait = r.retry_after.unwrap_or(Duration::from_secs(10));
                loop {
                    self.core
                        .pause(wait, "waiting for Microsoft.Billing")
                        .await?;
                    match self.poll(&loc).await? {
                        Poll::Running(d) => wait = d,
                        Poll::Succeeded => break,
                        Poll::Failed(why) => {
                            return Err(ServiceError::Local(format!(
                                "turning renewal off failed: {why}"
                            )))
                        }
                    }
                }
            }
        }
        match self.get(account, name).await? {
            Some(s) if s.auto_renew == Some(false) => Ok(false),
            _ => Err(ServiceError::Local(format!(
                "Microsoft.Billing accepted autoRenew Off for {name}, but reading it back still shows renewal on"
            ))),
        }
    }

    fn checked_location(&self, location: &str) -> Result<String, ServiceError> {
        // Only a URL under the ARM root receives the ARM token.
        Ok(self.core.url_for(location)?.to_string())
    }

    /// Starts the cancellation (`DELETE`, no body). Sent once: a repeat could start a
    /// second operation, so an unknown outcome is an error for the caller to check.
    ///
    /// # Errors
    /// The core's; [`ServiceError::Local`] for a 202 without a usable `Location`.
    pub async fn start_cancel(
        &self,
        account: &str,
        name: &str,
    ) -> Result<CancelStarted, ServiceError> {
        let path = Self::subscription_path(account, name)?;
        match self.send(Method::DELETE, &path, None, Replay::Once).await {
            Ok(r) if r.status == 202 => {
                let loc = r.location.as_deref().ok_or_else(|| {
                    ServiceError::Local("Microsoft.Billing answered 202 to the cancellation without a Location to poll".into())
                })?;
                Ok(CancelStarted::Accepted {
                    location: self.checked_location(loc)?,
                    retry_after: r.retry_after.unwrap_or(Duration::from_secs(10)),
                })
            }
            Ok(_) => Ok(CancelStarted::Done),
            Err(e) if e.is_not_found() => Ok(CancelStarted::Gone),
            Err(e) => Err(e),
        }
    }

    /// Polls a long-running operation's `Location` once (ARM's rules: 202 = running, 200
    /// or 204 = done; a body's `status` `Failed`/`Canceled` or an `error` = failed).
    /// <https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/async-api-reference.md>
    ///
    /// # Errors
    /// The core's (a Location off the ARM root is refused by the URL policy).
    pub async fn poll(&self, location: &str) -> Result<Poll, ServiceError> {
        let r = self
            .send(Method::GET, location, None, Replay::Repeatable)
            .await?;
        if r.status == 202 {
            return Ok(Poll::Running(
                r.retry_after.unwrap_or(Duration::from_secs(10)),
            ));
        }
        let status = r
            .body
            .as_ref()
            .and_then(|b| b.get("status").and_then(Value::as_str))
            .unwrap_or("Succeeded");
        Ok(match status.to_ascii_lowercase().as_str() {
            "failed" | "canceled" | "cancelled" => {
                Poll::Failed(crate::protocol::redact::server_text(
                    &r.body.map(|b| b.to_string()).unwrap_or_default(),
                    300,
                ))
            }
            "succeeded" => Poll::Succeeded,
            _ => Poll::Running(r.retry_after.unwrap_or(Duration::from_secs(10))),
        })
    }
}

/// The fields closeout uses of a billingSubscription (`BillingSubscriptionProperties`).
pub fn parse(v: &Value) -> CommerceSubscription {
    let p = |k: &str| {
        v.pointer(k)
            .and_then(Value::as_str)
            .map(|x| crate::protocol::redact::server_text(x, 200))
    };
    let display = p("/properties/displayName")
        .or_else(|| p("/properties/skuDescription"))
        .unwrap_or_default();
    let free = display.to_ascii_lowercase().contains("entra id free");
    CommerceSubscription {
        id: p("/name").unwrap_or_default(),
        display_name: display,
        sku_id: p("/properties/skuId").map(|s| s.to_ascii_lowercase()),
        status: p("/properties/status").unwrap_or_default(),
        auto_renew: p("/properties/autoRenew").map(|a| a.eq_ignore_ascii_case("on")),
        cancel_until: p("/properties/systemOverrides/cancellationAllowedEndDate"),
        term_end: p("/properties/termEndDate"),
        expected_free: free,
    }
}
