//! Step 2 through the billing channel: which subscriptions a commerce API cancels, which
//! only have their renewal turned off, and what the checklist says about the channel.
//! Pure: works on the commerce read in [`TenantState::commerce`] and the plan's time; no
//! HTTP. Graph stays the one place that decides whether a step is done (apply verifies).

use serde_json::{json, Value};

use super::diff::subscription_fields;
use super::spec::{BillingChannel, ClosureSpec};
use crate::model::{CommerceRead, CommerceSubscription, CompanySubscription, TenantState};
use crate::plan::{Action, ActionKind, Check, Fields, Step};

/// The checklist line's name.
pub const CHECK_NAME: &str = "billing channel";

fn channel_title(channel: &str) -> &'static str {
    match BillingChannel::from_name(channel) {
        Some(BillingChannel::PartnerCenter) => "Partner Center",
        Some(BillingChannel::Mca) => "Microsoft.Billing",
        _ => "the billing channel",
    }
}

/// `now < until`, both RFC 3339 (a missing or unreadable end: no window).
fn inside(until: Option<&str>, now: Option<time::OffsetDateTime>) -> bool {
    match (until.and_then(crate::commerce::parse_time), now) {
        (Some(u), Some(n)) => n < u,
        _ => false,
    }
}

/// The commerce subscription behind Graph's `s`, and how it was matched: by
/// `commerceSubscriptionId` (Partner Center's subscription id), else by `skuId` when
/// exactly one not yet matched commerce subscription has it.
fn matching(
    s: &CompanySubscription,
    subs: &[CommerceSubscription],
    taken: &[bool],
) -> Option<(usize, &'static str)> {
    if let Some(cid) = &s.commerce_subscription_id {
        if let Some(i) = subs.iter().position(|c| c.id.eq_ignore_ascii_case(cid)) {
            return Some((i, "commerceSubscriptionId"));
        }
    }
    let same_sku: Vec<usize> = subs
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            !taken[*i]
                && !c.expected_free
                && c.sku_id
                    .as_deref()
                    .is_some_and(|k| !s.sku_id.is_empty() && k.eq_ignore_ascii_case(&s.sku_id))
        })
        .map(|(i, _)| i)
        .collect();
    match same_sku.as_slice() {
        [one] => Some((*one, "skuId")),
        _ => None,
    }
}

fn commerce_fields(
    channel: &str,
    account: &str,
    c: &CommerceSubscription,
    matched_by: &str,
) -> Fields {
    let mut f = Fields::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            f.insert(k, v);
        }
    };
    put("channel", json!(channel));
    put("account", json!(account));
    put("subscriptionId", json!(c.id));
    put("displayName", json!(c.display_name));
    put("skuId", json!(c.sku_id));
    put("status", json!(c.status));
    put("autoRenew", json!(c.auto_renew));
    put("cancellationAllowedUntil", json!(c.cancel_until));
    put("termEndDate", json!(c.term_end));
    put("matchedBy", json!(matched_by));
    f
}

/// Rewrites step 2 of `actions` for the spec's billing channel, from the commerce read in
/// `state` at time `now` (the plan's `created_at`, RFC 3339), and returns the checklist
/// line about the channel (`None` with no channel or step 2 off).
///
/// Per active Graph subscription matched to a commerce subscription:
/// - inside its cancellation window and `billing.cancel: true`: its `cancel_subscription`
///   is automated and runs at the start of apply (no wait for step 1: the window may pass
///   during step 1's waits);
/// - otherwise: a `disable_auto_renew` (automated) before the `cancel_subscription`, which
///   stays for a person or the term's end, with that date in a warning.
///
/// Unmatched subscriptions stay manual and say so. Nothing falls back silently: without
/// the channel's API the checklist line is "not checked" with the reason.
pub fn apply_channel(
    actions: &mut Vec<Action>,
    state: &TenantState,
    spec: &ClosureSpec,
    now: &str,
) -> Option<Check> {
    if spec.billing.channel == BillingChannel::Manual || !spec.manual_actions.cancel_subscriptions {
        return None;
    }
    let requirement = format!(
        "{}: each active subscription is cancelled inside its window{} or has its renewal turned off through the API; Graph verifies each",
        channel_title(spec.billing.channel.as_str()),
        if spec.billing.cancel { "" } else { " (billing.cancel: true)" }
    );
    let (channel, account, subs) = match &state.commerce {
        CommerceRead::None => {
            return Some(Check::not_checked(
                CHECK_NAME,
                &requirement,
                &format!(
                    "{} was not read",
                    channel_title(spec.billing.channel.as_str())
                ),
            ))
        }
        CommerceRead::NotRead { reason, .. } => {
            let mut c = Check::not_checked(CHECK_NAME, &requirement, reason);
            c.blocking.push(
                "every subscription stays a manual action in this plan: no access to the channel's API".to_string(),
            );
            return Some(c);
        }
        CommerceRead::Read {
            channel,
            account,
            subscriptions,
        } => (channel.as_str(), account.as_str(), subscriptions),
    };
    let title = channel_title(channel);
    let now_t = crate::commerce::parse_time(now);
    let mut taken = vec![false; subs.len()];
    let mut lines: Vec<String> = Vec::new();
    let mut added: Vec<Action> = Vec::new();
    for a in actions
        .iter_mut()
        .filter(|a| a.kind == ActionKind::CancelSubscription)
    {
        let Some(s) = state.subscriptions.iter().find(|s| s.id == a.object_id) else {
            continue;
        };
        let Some((i, by)) = matching(s, subs, &taken) else {
            a.warnings.push(format!(
                "not found in {title} ({account}): cancel it in the admin center (was it bought through another channel?)"
            ));
            lines.push(format!("{} ({}): no match in {title}", a.name, s.id));
            continue;
        };
        taken[i] = true;
        let c = &subs[i];
        lines.push(format!(
            "{} ({}) = {title} subscription {} '{}' by {by}",
            a.name, s.id, c.id, c.display_name
        ));
        a.commerce = commerce_fields(channel, account, c, by);
        let term_end = c
            .term_end
            .clone()
            .unwrap_or_else(|| "its term's end".into());
        let in_window = inside(c.cancel_until.as_deref(), now_t);
        if !c.is_active() || (spec.billing.cancel && in_window) {
            a.automated = true;
            a.instructions = None;
            a.depends_on
                .retain(|d| d != &super::dag::step_dependency(Step::Users));
            a.warnings.push(if c.is_active() {
                format!(
                    "cancelled through {title} at the start of apply, inside its cancellation window (until {}); if the window has passed by then, apply turns renewal off instead and the subscription ends with its term on {term_end}",
                    c.cancel_until.as_deref().unwrap_or("")
                )
            } else {
                format!(
                    "already {} in {title}: apply verifies it in Graph",
                    c.status
                )
            });
            continue;
        }
        let why = if !spec.billing.cancel {
            "billing.cancel is false".to_string()
        } else {
            match &c.cancel_until {
                Some(u) => format!("its cancellation window ended at {u}"),
                None => format!("{title} does not allow cancelling it"),
            }
        };
        if c.auto_renew != Some(false) {
            let mut d = Action {
                address: Action::address_of(ActionKind::DisableAutoRenew, &s.id),
                kind: ActionKind::DisableAutoRenew,
                object_id: s.id.clone(),
                name: a.name.clone(),
                reason: format!(
                    "Renewal must be off so the subscription ends with its term ({why})."
                ),
                before: subscription_fields(s),
                after: Fields::new(),
                depends_on: Vec::new(),
                warnings: Vec::new(),
                instructions: None,
                automated: true,
                commerce: a.commerce.clone(),
            };
            d.warnings.push(format!(
                "turned off through {title} at the start of apply, then read back"
            ));
            a.depends_on.push(d.address.clone());
            added.push(d);
        }
        a.warnings.push(format!(
            "{why}: renewal is turned off through {title}; the subscription ends with its term on {term_end} and Graph then shows it Suspended (apply --wait waits until then), or cancel it in the admin center sooner"
        ));
    }
    actions.extend(added);
    for (i, c) in subs.iter().enumerate() {
        if taken[i] {
            continue;
        }
        if c.expected_free {
            lines.push(format!(
                "{} '{}': expected, cannot be cancelled; not a blocker (closing the billing account itself needs a support request)",
                c.id, c.display_name
            ));
        } else if c.is_active() {
            lines.push(format!(
                "{} '{}': in {title} but matched to no Graph subscription",
                c.id, c.display_name
            ));
        }
    }
    let mut check = Check::new(
        CHECK_NAME,
        &format!(
            "{requirement} ({title} account {account}, {} subscription(s) of this tenant)",
            subs.len()
        ),
        lines,
        0,
    );
    check.informational = true;
    check.passed = true;
    Some(check)
}
