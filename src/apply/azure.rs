//! Apply's Azure subscription actions through Azure Resource Manager: cancel (the one
//! write), and verifying the manual cancel and delete by reading ARM. Check, then
//! converge: a subscription already cancelled is not cancelled again.
//!
//! - `GET /subscriptions/{id}?api-version=2022-12-01`
//!   (<https://learn.microsoft.com/rest/api/resources/subscriptions/get>): 404
//!   `SubscriptionNotFound` once it is gone (or when the identity lost sight of it: the
//!   checklist, which needs root-scope Reader, is what proves the tenant free of them);
//! - `POST /subscriptions/{id}/providers/Microsoft.Subscription/cancel?api-version=2021-10-01`.

use serde_json::Value;

use super::converge::{Failure, Outcome};
use crate::arm::{cancel_subscription, ArmClient, ArmError};
use crate::model::TenantState;
use crate::plan::{Action, ActionKind};

/// The subscription's `state` as ARM shows it now; `None` when ARM no longer knows it.
async fn live_state(arm: &ArmClient, id: &str) -> Result<Option<String>, ArmError> {
    match arm
        .get(&format!(
            "/subscriptions/{id}?api-version={}",
            crate::arm::subscriptions::SUBSCRIPTIONS_API
        ))
        .await
    {
        Ok(v) => Ok(Some(
            v.get("state")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn active(state: &str) -> bool {
    matches!(state, "Enabled" | "Warned" | "PastDue")
}

/// Checks and converges one Azure subscription action.
pub(super) async fn converge(
    arm: &ArmClient,
    state: &TenantState,
    a: &Action,
) -> Result<Outcome, ArmError> {
    let id = a.object_id.as_str();
    match a.kind {
        ActionKind::CancelAzureSubscription => {
            if state.azure.subscription(id).is_none_or(|s| !s.is_active()) {
                return Ok(Outcome::AlreadyDone);
            }
            match cancel_subscription(arm, id).await {
                Ok(()) => Ok(Outcome::Done),
                Err(e) => Ok(Outcome::Failed(Failure::from(&e))),
            }
        }
        ActionKind::CancelAzureSubscriptionInPortal => match live_state(arm, id).await? {
            Some(s) if active(&s) => Ok(Outcome::Pending(format!(
                "Azure subscription state is {s}: cancel it in the Azure portal"
            ))),
            _ => Ok(Outcome::Verified),
        },
        _ => match live_state(arm, id).await? {
            None => Ok(Outcome::Verified),
            Some(s) if s == "Deleted" => Ok(Outcome::Verified),
            Some(s) => Ok(Outcome::Pending(format!(
                "Azure subscription state is {s}: it blocks the tenant's deletion until Microsoft deletes it (90 days after the cancellation) or someone deletes it in the Azure portal (7 days after the cancellation; 3 for free trial and pay-as-you-go)"
            ))),
        },
    }
}

/// A pending deletion of an Azure subscription closeout cancelled at `cancelled_at`
/// (RFC 3339) says from when the Azure portal allows deleting it: 7 days after the
/// cancellation, 3 for free trial and pay-as-you-go
/// (<https://learn.microsoft.com/entra/identity/users/directory-delete-howto>).
pub(super) fn with_deletion_date(o: Outcome, cancelled_at: Option<&str>) -> Outcome {
    use time::format_description::well_known::Rfc3339;
    let (Outcome::Pending(why), Some(at)) = (&o, cancelled_at) else {
        return o;
    };
    let Ok(t) = time::OffsetDateTime::parse(at, &Rfc3339) else {
        return o;
    };
    let day = |d: i64| {
        (t + time::Duration::days(d))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    Outcome::Pending(format!(
        "{why}. closeout cancelled it at {at}: the Azure portal allows deleting it from {} ({} for free trial and pay-as-you-go)",
        day(7),
        day(3)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deletion_date_is_seven_days_after_closeout_cancelled() {
        let o = with_deletion_date(
            Outcome::Pending("state is Disabled".into()),
            Some("2026-12-01T10:00:00Z"),
        );
        assert_eq!(
            o,
            Outcome::Pending("state is Disabled. closeout cancelled it at 2026-12-01T10:00:00Z: the Azure portal allows deleting it from 2026-12-08T10:00:00Z (2026-12-04T10:00:00Z for free trial and pay-as-you-go)".into())
        );
        assert_eq!(
            with_deletion_date(Outcome::Verified, Some("2026-12-01T10:00:00Z")),
            Outcome::Verified
        );
        let unknown = Outcome::Pending("x".into());
        assert_eq!(with_deletion_date(unknown.clone(), None), unknown);
    }
}
