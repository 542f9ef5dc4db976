//! The ARM client: ARM's service root (`https://management.azure.com` in the global cloud),
//! its `nextLink` paging and its error hints. Transport, token, retries, URL policy and
//! bounds are the protocol core's; this file knows no ARM route but the shape of ARM's
//! answers.
//!
//! ARM errors are `{"error":{"code","message"}}` with `x-ms-request-id` and
//! `x-ms-correlation-request-id` headers
//! (<https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling>,
//! <https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/common-api-details.md>);
//! the core reads both. Collections page with `nextLink`, an opaque absolute URL that is
//! followed only under ARM's own root (the Graph token never goes there, nor the ARM token
//! anywhere else).

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::protocol::auth::TokenProvider;
use crate::protocol::{
    ApiError, Audience, ClientStats, Core, CoreOptions, Replay, Response, ServiceRoot, WaitReporter,
};

/// ARM's errors are the protocol core's.
pub use crate::protocol::ServiceError as ArmError;

/// What to do next for an ARM error, where closeout knows.
fn hint(api: &ApiError) -> Option<String> {
    match (api.status, api.code.as_str()) {
        (401, "InvalidAuthenticationTokenAudience") => Some("the token is not for Azure Resource Manager: give CLOSEOUT_ARM_ACCESS_TOKEN a token for https://management.azure.com (or sign in with a credential, which asks for one)".into()),
        (401, _) => Some("the Azure Resource Manager token is missing, expired or for another tenant: sign in again (see --auth; CLOSEOUT_ARM_ACCESS_TOKEN is not refreshed)".into()),
        (403, _) => Some("the identity lacks an Azure role for this call: Reader at root scope (/) to see every subscription, Owner on a subscription to cancel it (README, \"Azure Resource Manager access\")".into()),
        (400, "ResourcesExistingOnSubscription") => Some("ARM cancels only empty subscriptions: delete its resource groups first, or cancel it in the Azure portal".into()),
        (429, _) => Some("Azure Resource Manager throttled the request; closeout retried until its limit. Run again later".into()),
        (500 | 502 | 503 | 504 | 408, _) => Some("Azure Resource Manager is unavailable; closeout retried until its limit. Run again later".into()),
        _ => None,
    }
}

/// An Azure Resource Manager client bound to one service root. Clones share the connection
/// pool and the token.
#[derive(Clone)]
pub struct ArmClient {
    core: Arc<Core>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for the ARM service root `base_url` (e.g. `https://management.azure.com`,
    /// [`crate::protocol::auth::Cloud::arm_url`]), signing every request with `tokens`'
    /// token for [`Audience::Arm`] only. `options` are the core's (timeouts, retries,
    /// deadline, bounds); requests are paced by [`arm_pacer`] (ARM's documented token
    /// buckets), and a 429's `Retry-After` pauses it.
    ///
    /// # Errors
    /// [`ArmError::BadUrl`] for an unparsable URL or plain `http://` off loopback;
    /// [`ArmError::Local`] when TLS cannot be set up.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenProvider>,
        options: CoreOptions,
    ) -> Result<ArmClient, ArmError> {
        let root = ServiceRoot::new(Audience::Arm, base_url)?;
        Ok(ArmClient {
            core: Arc::new(Core::new(
                root,
                tokens,
                options,
                Some(Arc::new(arm_pacer())),
                hint,
            )?),
        })
    }

    /// The service root, e.g. `https://management.azure.com`.
    pub fn base_url(&self) -> &str {
        self.core.root().url().as_str()
    }

    /// A current ARM access token, for reading its claims. Never log or store it.
    pub async fn access_token(
        &self,
    ) -> Result<crate::protocol::auth::Bearer, crate::protocol::auth::AuthError> {
        self.core.access_token().await
    }

    /// What this client sent and received so far.
    pub fn stats(&self) -> ClientStats {
        self.core.stats()
    }

    /// This client telling `reporter` about long waits.
    pub fn with_wait_reporter(self, reporter: Arc<dyn WaitReporter>) -> ArmClient {
        self.core.set_wait_reporter(reporter);
        self
    }

    /// `GET` one resource (`path` with its `api-version` query, composed by closeout).
    ///
    /// # Errors
    /// [`ArmError::Api`] for a non-2xx answer (code, message, `x-ms-request-id`);
    /// [`ArmError::Decode`] for an empty body; transport and policy errors of the core.
    pub async fn get(&self, path: &str) -> Result<Value, ArmError> {
        let url = self.core.url_for(path)?;
        let r = self
            .core
            .send(Method::GET, &url, None, &[], Replay::Repeatable, None)
            .await?;
        r.body.ok_or_else(|| ArmError::Decode {
            method: "GET".into(),
            path: path.to_string(),
            message: "empty body".into(),
        })
    }

    /// `GET` a collection, following `nextLink` (under the URL policy) until it is absent,
    /// and returns every page's `value` items.
    /// <https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/resource-api-reference.md>
    ///
    /// # Errors
    /// As [`ArmClient::get`], plus [`ArmError::PagingLoop`] / [`ArmError::PagingRunaway`].
    pub async fn get_all(&self, path: &str) -> Result<Vec<Value>, ArmError> {
        let mut out = Vec::new();
        self.core
            .for_each_page(path, "nextLink", &[], |items| {
                out.extend(items);
                Ok(())
            })
            .await?;
        Ok(out)
    }

    /// `POST` an action (`/subscriptions/{id}/providers/Microsoft.Subscription/cancel?...`).
    /// Sent once: it is re-sent only when it surely never reached ARM or was refused
    /// unprocessed (429); callers re-read the resource to learn an unknown outcome.
    ///
    /// # Errors
    /// As [`ArmClient::get`].
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Response, ArmError> {
        let url = self.core.url_for(path)?;
        self.core
            .send(Method::POST, &url, body, &[], Replay::Once, None)
            .await
    }
}

/// Azure Resource Manager's documented quota per principal and subscription (token bucket
/// since 2024: reads 250 at once then 25 per second; writes and deletes 200 then 10 per
/// second), the pacing of every ARM client (Microsoft.Billing's too).
/// <https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling>
pub fn arm_pacer() -> crate::protocol::bucket::BucketPacer {
    use crate::protocol::bucket::{BucketPacer, Quota};
    BucketPacer::new(
        Quota {
            capacity: 250.0,
            refill_per_s: 25.0,
        },
        Quota {
            capacity: 200.0,
            refill_per_s: 10.0,
        },
    )
}
