//! One automated step-2 action through the billing channel's API: a cancellation inside
//! its window, or turning renewal off, then verification in Graph
//! (`/directory/subscriptions`, `subscribedSkus`). A commerce call succeeding is not the
//! step being done: Graph decides. Knows no plan layout and never prints.
//!
//! A window that has passed by apply time is not drift: the cancellation falls back to
//! turning renewal off, and the action waits for the term's end (pending, with the date).
//! A long-running Microsoft.Billing cancellation journals its `Location` before the first
//! poll ([`Record::Operation`]), so a re-run after Ctrl-C or a crash polls it again
//! instead of sending a second `DELETE`.

use serde_json::Value;

use super::converge::{verify_subscription, Failure, Outcome};
use super::journal::{Journal, Record};
use crate::commerce::billing::{CancelStarted, Poll};
use crate::commerce::partner_center::Cancelled;
use crate::commerce::Commerce;
use crate::graph::{GraphClient, GraphError};
use crate::plan::{Action, ActionKind};

/// `true` for the actions this module performs: automated `cancel_subscription` and
/// `disable_auto_renew`.
pub fn is_commerce(a: &Action) -> bool {
    match a.kind {
        ActionKind::DisableAutoRenew => true,
        ActionKind::CancelSubscription => a.automated,
        _ => false,
    }
}

fn field<'a>(a: &'a Action, k: &str) -> &'a str {
    a.commerce.get(k).and_then(Value::as_str).unwrap_or("")
}

fn title(c: &Commerce) -> &'static str {
    match c {
        Commerce::PartnerCenter(_) => "Partner Center",
        Commerce::Mca { .. } => "Microsoft.Billing",
    }
}

/// Performs `a` through `commerce` (`Err(reason)`: the channel could not be set up),
/// then verifies it in Graph. `operation` is a `Location` an earlier run journalled for
/// this address.
///
/// # Errors
/// [`GraphError`] (the protocol core's errors, Graph's or the commerce service's).
pub async fn converge(
    client: &GraphClient,
    commerce: Result<&Commerce, &str>,
    a: &Action,
    journal: Option<&Journal>,
    operation: Option<String>,
) -> Result<Outcome, GraphError> {
    let c = match commerce {
        Ok(c) => c,
        Err(reason) => {
            return Ok(Outcome::Failed(Failure::new(format!(
                "the plan automates this through {}, but this run cannot reach it: {reason}",
                field(a, "channel")
            ))))
        }
    };
    let id = field(a, "subscriptionId");
    let account = field(a, "account");
    let service = title(c);
    if a.kind == ActionKind::DisableAutoRenew {
        let was_off = disable_auto_renew(c, account, id).await?;
        return Ok(if was_off {
            Outcome::AlreadyDone
        } else {
            Outcome::Done
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let cancelled = match c {
        Commerce::PartnerCenter(pc) => match pc.cancel(id, now).await? {
            Cancelled::Done | Cancelled::AlreadyDone => true,
            Cancelled::WindowPassed(_) => false,
        },
        Commerce::Mca { client: b, .. } => {
            let location = match operation {
                Some(l) => Some(l),
                None => {
                    let live = b.get(account, id).await?;
                    match live {
                        None => None,
                        Some(s) if !s.is_active() => None,
                        Some(s)
                            if !crate::commerce::partner_center::inside(
                                s.cancel_until.as_deref(),
                                now,
                            ) =>
                        {
                            return fallback(client, c, a, s.cancel_until.as_deref()).await;
                        }
                        Some(_) => match b.start_cancel(account, id).await? {
                            CancelStarted::Done | CancelStarted::Gone => None,
                            CancelStarted::Accepted {
                                location,
                                retry_after,
                            } => {
                                if let Some(j) = journal {
                                    j.append(&Record::Operation {
                                        address: a.address.to_string(),
                                        location: location.clone(),
                                        at: super::now_rfc3339(),
                                    })
                                    .await
                                    .map_err(|e| GraphError::Local(format!(
                                        "the cancellation started, but the journal could not record its operation: {e}"
                                    )))?;
                                }
                                b.pause(retry_after, "waiting for the cancellation").await?;
                                Some(location)
                            }
                        },
                    }
                }
            };
            if let Some(l) = location {
                loop {
                    match b.poll(&l).await {
                        Ok(Poll::Running(wait)) => {
                            b.pause(wait, "waiting for the cancellation").await?
                        }
                        Ok(Poll::Succeeded) => break,
                        Ok(Poll::Failed(why)) => {
                            return Ok(Outcome::Failed(Failure::new(format!(
                                "{service} reports the cancellation of {id} failed: {why}"
                            ))))
                        }
                        // The operation is no longer known: what the subscription says decides.
                        Err(e) if e.is_not_found() => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            true
        }
    };
    if !cancelled {
        return fallback(client, c, a, Some(field(a, "cancellationAllowedUntil"))).await;
    }
    Ok(
        match verify_subscription(client, ActionKind::CancelSubscription, &a.object_id).await? {
            Outcome::Pending(why) => Outcome::Pending(format!(
                "{service} cancelled it, but Graph does not show it yet ({why}); apply --wait waits for the directory to catch up, and a cancellation that never shows up in Graph stays pending here"
            )),
            other => other,
        },
    )
}

async fn disable_auto_renew(c: &Commerce, account: &str, id: &str) -> Result<bool, GraphError> {
    match c {
        Commerce::PartnerCenter(pc) => pc.disable_auto_renew(id).await,
        Commerce::Mca { client, .. } => client.disable_auto_renew(account, id).await,
    }
}

/// The window passed before apply reached the cancellation: not drift. Renewal is turned
/// off instead and the action waits for the term's end (or for a person: Graph decides).
async fn fallback(
    client: &GraphClient,
    c: &Commerce,
    a: &Action,
    until: Option<&str>,
) -> Result<Outcome, GraphError> {
    let (account, id) = (field(a, "account"), field(a, "subscriptionId"));
    disable_auto_renew(c, account, id).await?;
    if let Outcome::Verified =
        verify_subscription(client, ActionKind::CancelSubscription, &a.object_id).await?
    {
        return Ok(Outcome::Verified);
    }
    let term_end = match field(a, "termEndDate") {
        "" => "its term's end".to_string(),
        t => t.to_string(),
    };
    Ok(Outcome::Pending(format!(
        "the cancellation window ended{} before apply reached it (not drift): renewal was turned off through {} instead; the subscription ends with its term on {term_end}",
        until
            .filter(|u| !u.is_empty())
            .map(|u| format!(" at {u}"))
            .unwrap_or_default(),
        title(c)
    )))
}

#[cfg(test)]
mod tests {
    use super::super::journal::{self, Journal, Record};

    #[tokio::test]
    async fn a_journalled_operation_is_found_by_the_next_run_until_a_success_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let loc = "https://management.azure.com/providers/Microsoft.Billing/billingAccounts/a/operationResults/cancelBillingSubscription_b:1?api-version=2024-04-01";
        {
            let (j, _) = Journal::open(&path).unwrap();
            for r in [
                Record::Intent {
                    address: "cancel_subscription.s".into(),
                    at: "t".into(),
                },
                Record::Operation {
                    address: "cancel_subscription.s".into(),
                    location: loc.into(),
                    at: "t".into(),
                },
            ] {
                j.append(&r).await.unwrap();
            }
        }
        // Killed while polling: the next run sees the operation (and the uncertain intent).
        let (state, _) = journal::read(&path).unwrap();
        assert_eq!(
            state
                .operations
                .get("cancel_subscription.s")
                .map(String::as_str),
            Some(loc)
        );
        assert!(state.uncertain.contains("cancel_subscription.s"));
        // A pending outcome (Graph not caught up) keeps it; a success forgets it.
        {
            let (j, _) = Journal::open(&path).unwrap();
            for outcome in ["pending", "verified"] {
                j.append(&Record::Outcome {
                    address: "cancel_subscription.s".into(),
                    outcome: outcome.into(),
                    detail: None,
                    at: "t".into(),
                })
                .await
                .unwrap();
                let (state, _) = journal::read(&path).unwrap();
                assert_eq!(
                    state.operations.contains_key("cancel_subscription.s"),
                    outcome == "pending"
                );
            }
        }
    }
}
