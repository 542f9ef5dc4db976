//! The Partner Center client (CSP partners): a customer's subscriptions, their
//! cancellation inside the window and turning their renewal off. Owns Partner Center's
//! routes and shapes; transport, token, retries, URL policy, bounds and redaction are the
//! protocol core's. Must not touch Graph or decide what a plan contains.
//!
//! Routes (base `https://api.partnercenter.microsoft.com`, token audience
//! `https://api.partnercenter.microsoft.com/.default`, the partner's own credential):
//! - `GET /v1/customers/{customer-tenant-id}/subscriptions` ->
//!   `{"totalCount":N,"items":[Subscription...]}`
//!   (<https://learn.microsoft.com/en-us/partner-center/developer/get-all-of-a-customer-s-subscriptions>);
//! - `GET /v1/customers/{customer-tenant-id}/subscriptions/{id}`;
//! - `PATCH` of the same URL with the whole Subscription resource, `status: "deleted"` to
//!   cancel (only inside `cancellationAllowedUntilDate`: "After the cancellation window has
//!   passed, subscriptions can no longer be canceled and the API will throw an error"), or
//!   `autoRenewEnabled: false`, with `If-Match: <attributes.etag>`
//!   (<https://learn.microsoft.com/en-us/partner-center/developer/cancel-an-azure-marketplace-subscription>,
//!   <https://learn.microsoft.com/en-us/partner-center/developer/update-autorenew-for-an-azure-marketplace-subscription>).
//!
//! `suspended` is never written: it is for fraud or non-payment, keeps billing and is
//! reversible (<https://learn.microsoft.com/en-us/partner-center/developer/suspend-a-subscription>).

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::model::CommerceSubscription;
use crate::protocol::auth::TokenProvider;
use crate::protocol::{ApiError, Audience, Core, CoreOptions, Replay, ServiceError, ServiceRoot};

/// Partner Center's service root.
pub const PARTNER_CENTER_URL: &str = "https://api.partnercenter.microsoft.com";

fn hint(api: &ApiError) -> Option<String> {
    match api.status {
        401 => Some("the Partner Center token is missing, expired or not for https://api.partnercenter.microsoft.com: sign in with the partner's credential (CLOSEOUT_PARTNER_TENANT_ID, CLOSEOUT_PARTNER_CLIENT_ID, or CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN with --auth token)".into()),
        403 => Some("the partner's app lacks access to this customer: it must be the partner's admin agent app (README, \"Billing channels\")".into()),
        404 => Some("Partner Center does not know this customer or subscription for this partner: check billing.customer_tenant_id".into()),
        429 => Some("Partner Center throttled the request (500 requests per minute per tenant); closeout retried until its limit. Run again later".into()),
        _ => None,
    }
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// `PATCH ... status: deleted` answered 200 with `status: deleted`.
    Done,
    /// The subscription was already `deleted`.
    AlreadyDone,
    /// The window had passed (its end, or `None` when the API says it cannot be
    /// cancelled): nothing was written.
    WindowPassed(Option<String>),
}

/// A Partner Center client for one customer. Clones share the connection pool and token.
#[derive(Clone)]
pub struct PartnerCenterClient {
    core: Arc<Core>,
    customer: String,
}

impl std::fmt::Debug for PartnerCenterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenterClient")
            .field("core", &self.core)
            .field("customer", &self.customer)
            .finish()
    }
}

impl PartnerCenterClient {
    /// A client for `base_url` (`--partner-center-url`, default [`PARTNER_CENTER_URL`])
    /// and the customer `customer_tenant_id` (a GUID), signing with `tokens`' token for
    /// [`Audience::PartnerCenter`] only.
    ///
    /// # Errors
    /// [`ServiceError::BadUrl`] for an unparsable URL or plain http off loopback;
    /// [`ServiceError::Local`] for a customer id that is not a GUID or when TLS cannot be
    /// set up.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenProvider>,
        options: CoreOptions,
        customer_tenant_id: &str,
    ) -> Result<PartnerCenterClient, ServiceError> {
        let customer = crate::ident::canonical_guid(customer_tenant_id).ok_or_else(|| {
            ServiceError::Local("the Partner Center customer tenant id is not a GUID".into())
        })?;
        let root = ServiceRoot::new(Audience::PartnerCenter, base_url)?;
        Ok(PartnerCenterClient {
            core: Arc::new(Core::new(
                root,
                tokens,
                options,
                Some(Arc::new(partner_center_pacer())),
                hint,
            )?),
            customer,
        })
    }

    /// The customer tenant id.
    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// Stops waits and retries when `token` fires.
    pub fn set_cancellation(&self, token: tokio_util::sync::CancellationToken) {
        self.core.set_cancellation(token);
    }

    fn path(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("/v1/customers/{}/subscriptions/{id}", self.customer),
            None => format!("/v1/customers/{}/subscriptions", self.customer),
        }
    }

    /// Every subscription of the customer (`items`), as Partner Center sends them.
    ///
    /// # Errors
    /// The core's ([`ServiceError::Api`] with Partner Center's code and request id).
    pub async fn list(&self) -> Result<Vec<Value>, ServiceError> {
        let url = self.core.url_for(&self.path(None))?;
        let r = self
            .core
            .send(Method::GET, &url, None, &[], Replay::Repeatable, None)
            .await?;
        Ok(r.body
            .and_then(|b| b.get("items").and_then(Value::as_array).cloned())
            .unwrap_or_default())
    }

    /// One subscription resource; `Ok(None)` for 404.
    ///
    /// # Errors
    /// As [`PartnerCenterClient::list`].
    pub async fn get(&self, id: &str) -> Result<Option<Value>, ServiceError> {
        check_id(id)?;
        let url = self.core.url_for(&self.path(Some(id)))?;
        match self
            .core
            .send(Method::GET, &url, None, &[], Replay::Repeatable, None)
            .await
        {
            Ok(r) => Ok(r.body),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH`es the whole resource with `If-Match: <attributes.etag>`. Sent once: an
    /// unknown outcome is learnt by reading the resource again (callers do).
    async fn patch(&self, id: &str, resource: &Value) -> Result<Value, ServiceError> {
        let url = self.core.url_for(&self.path(Some(id)))?;
        let etag = resource
            .pointer("/attributes/etag")
            .and_then(Value::as_str)
            .unwrap_or("*")
            .to_string();
        crate::protocol::check_header_value("the subscription's etag", &etag)?;
        let r = self
            .core
            .send(
                Method::PATCH,
                &url,
                Some(resource),
                &[("If-Match", etag.as_str())],
                Replay::Once,
                None,
            )
            .await?;
        Ok(r.body.unwrap_or(Value::Null))
    }

    /// Cancels subscription `id` if `now` is inside its `cancellationAllowedUntilDate`:
    /// reads it, sets `status: deleted` on the whole resource and `PATCH`es it with its
    /// etag. A 412 (the resource changed since it was read) re-reads once and re-checks the
    /// status and the window before the one second `PATCH`.
    ///
    /// # Errors
    /// The core's; [`ServiceError::Local`] when the subscription does not exist or the
    /// answer does not say `deleted`.
    pub async fn cancel(
        &self,
        id: &str,
        now: time::OffsetDateTime,
    ) -> Result<Cancelled, ServiceError> {
        let mut reread = false;
        loop {
            let Some(mut resource) = self.get(id).await? else {
                return Err(ServiceError::Local(format!(
                    "Partner Center has no subscription {id} for customer {}",
                    self.customer
                )));
            };
            let s = parse(&resource);
            if s.status.eq_ignore_ascii_case("deleted") {
                return Ok(Cancelled::AlreadyDone);
            }
            if !inside(s.cancel_until.as_deref(), now) {
                return Ok(Cancelled::WindowPassed(s.cancel_until));
            }
            resource["status"] = Value::from("deleted");
            match self.patch(id, &resource).await {
                Ok(answer) => {
                    let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
                    return if status.eq_ignore_ascii_case("deleted") {
                        Ok(Cancelled::Done)
                    } else {
                        Err(ServiceError::Local(format!(
                            "Partner Center answered the cancellation of {id} with status '{}', not 'deleted'",
                            crate::protocol::redact::server_text(status, 40)
                        )))
                    };
                }
                Err(e) if e.status() == Some(412) && !reread => reread = true,
                Err(e) => return Err(e),
            }
        }
    }

    /// Turns renewal off (`autoRenewEnabled: false` on the whole resource), then reads it
    /// back: a known issue reports the flag not changing for some offers
    /// (microsoft/Partner-Center-PowerShell#115). `Ok(true)` when it was already off.
    ///
    /// # Errors
    /// The core's; [`ServiceError::Local`] when the subscription does not exist or the flag
    /// reads back `true`.
    pub async fn disable_auto_renew(&self, id: &str) -> Result<bool, ServiceError> {
        let mut reread = false;
        loop {
            let Some(mut resource) = self.get(id).await? else {
                return Err(ServiceError::Local(format!(
                    "Partner Center has no subscription {id} for customer {}",
                    self.customer
                )));
            };
            if resource.get("autoRenewEnabled") == Some(&Value::Bool(false)) {
                return Ok(true);
            }
            resource["autoRenewEnabled"] = Value::Bool(false);
            match self.patch(id, &resource).await {
                Ok(_) => break,
                Err(e) if e.status() == Some(412) && !reread => reread = true,
                Err(e) => return Err(e),
            }
        }
        let back = self.get(id).await?;
        if back.as_ref().and_then(|b| b.get("autoRenewEnabled")) == Some(&Value::Bool(false)) {
            Ok(false)
        } else {
            Err(ServiceError::Local(format!(
                "Partner Center accepted autoRenewEnabled: false for subscription {id}, but reading it back still shows renewal on (a known issue for some offers): turn it off in Partner Center"
            )))
        }
    }
}

/// A subscription id closeout puts in a path: a GUID (Partner Center's ids are GUIDs).
fn check_id(id: &str) -> Result<(), ServiceError> {
    if crate::ident::is_guid(&id.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(ServiceError::Local(format!(
            "'{}' is not a Partner Center subscription id (a GUID)",
            crate::input::excerpt(id)
        )))
    }
}

/// `true` when `now` is before `until` (RFC 3339); `None` or an unparsable date: no
/// window (Partner Center sends null "for subscriptions that are not allowed to be
/// cancelled").
pub fn inside(until: Option<&str>, now: time::OffsetDateTime) -> bool {
    until
        .and_then(super::parse_time)
        .is_some_and(|until| now < until)
}

/// The fields closeout uses of a Partner Center Subscription resource
/// (<https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources>).
pub fn parse(v: &Value) -> CommerceSubscription {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|x| crate::protocol::redact::server_text(x, 200))
    };
    CommerceSubscription {
        id: s("id").unwrap_or_default().to_ascii_lowercase(),
        display_name: s("friendlyName")
            .filter(|n| !n.is_empty())
            .or_else(|| s("offerName"))
            .unwrap_or_default(),
        sku_id: s("skuId").map(|x| x.to_ascii_lowercase()),
        status: s("status").unwrap_or_default(),
        auto_renew: v.get("autoRenewEnabled").and_then(Value::as_bool),
        cancel_until: s("cancellationAllowedUntilDate"),
        term_end: s("commitmentEndDate"),
        expected_free: false,
    }
}

/// Partner Center's documented quota, "500 requests per minute per tenant identifier" for
/// every request, as a token bucket (500 at once, then 500 a minute).
/// (the subscription resources page of the Partner Center REST reference;
/// <https://learn.microsoft.com/partner-center/developer/api-throttling-guidance> says how
/// Partner Center throttles).
fn partner_center_pacer() -> crate::protocol::bucket::BucketPacer {
    crate::protocol::bucket::BucketPacer::shared(crate::protocol::bucket::Quota {
        capacity: 500.0,
        refill_per_s: 500.0 / 60.0,
    })
}
