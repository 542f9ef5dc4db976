//! Step 2 through the billing channel: which subscriptions a commerce API cancels, which
//! only have their renewal turned off, and what the checklist says about the channel.
//! Pure: works on the commerce read in [`TenantState::commerce`] and the plan's time; no
//! HTTP. Graph stays the one place that decides whether a step is done (apply verifies).

use serde_json::{json, Value};

use super::diff::subscription_fields;
use super::spec::{BillingChannel, ClosureSpec};
use crate::model::{CommerceRead, CommerceSubscription, CompanySubscription, TenantState};
use crate::plan::{Action, ActionKind, Check, Fields, SharedText, Step};

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
        let Some(s) = state.subscriptions.iter().find(|s| s.id == *a.object_id) else {
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
                address: SharedText::own(&Action::address_of(ActionKind::DisableAutoRenew, &s.id)),
                kind: ActionKind::DisableAutoRenew,
                object_id: SharedText::own(&s.id),
                name: a.name.clone(),
                reason: format!(
                    "Renewal must be off so the subscription ends with its term ({why})."
                )
                .into(),
                before: subscription_fields(s),
                after: Fields::new(),
                depends_on: Default::default(),
                warnings: Default::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::planner::{plan, Billing};

    const GA: &str = "99999999-9999-9999-9999-999999999999";
    const T: &str = "0b5c3c61-6a4a-4c56-9c0e-1a2b3c4d5e6f";
    const NOW: &str = "2026-12-01T12:00:00Z";
    const S_IN: &str = "11111111-1111-1111-1111-111111111111";
    const S_OUT: &str = "22222222-2222-2222-2222-222222222222";
    const C_IN: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    const C_OUT: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";

    fn tenant(commerce: CommerceRead) -> TenantState {
        let admin = User {
            id: GA.into(),
            user_principal_name: "admin@t.onmicrosoft.com".into(),
            account_enabled: Some(true),
            ..User::default()
        };
        let sub = |id: &str, cid: Option<&str>, sku: &str| CompanySubscription {
            id: id.into(),
            commerce_subscription_id: cid.map(str::to_string),
            sku_id: sku.into(),
            sku_part_number: "SPE_E5".into(),
            status: "Enabled".into(),
            ..CompanySubscription::default()
        };
        let mut t = TenantState {
            organization: Organization {
                id: T.into(),
                display_name: Some("T".into()),
                verified_domains: vec![VerifiedDomain {
                    name: "t.onmicrosoft.com".into(),
                    is_initial: true,
                    ..VerifiedDomain::default()
                }],
                ..Organization::default()
            },
            users: vec![admin],
            directory_roles: vec![DirectoryRole {
                id: "r".into(),
                display_name: "Global Administrator".into(),
                role_template_id: GLOBAL_ADMINISTRATOR_TEMPLATE_ID.into(),
                members: vec![GA.into()],
            }],
            subscriptions: vec![sub(S_IN, Some(C_IN), "sku-in"), sub(S_OUT, None, "sku-out")],
            domains: vec![Domain {
                id: "t.onmicrosoft.com".into(),
                is_initial: true,
                is_default: true,
                ..Domain::default()
            }],
            commerce,
            ..TenantState::default()
        };
        t.normalize();
        t
    }

    fn commerce_sub(id: &str, sku: Option<&str>, until: &str, name: &str) -> CommerceSubscription {
        CommerceSubscription {
            id: id.into(),
            display_name: name.into(),
            sku_id: sku.map(str::to_string),
            status: "active".into(),
            auto_renew: Some(true),
            cancel_until: Some(until.into()),
            term_end: Some("2027-11-30T00:00:00Z".into()),
            expected_free: false,
        }
    }

    fn read(channel: &str, subs: Vec<CommerceSubscription>) -> CommerceRead {
        CommerceRead::Read {
            channel: channel.into(),
            account: T.into(),
            subscriptions: subs,
        }
    }

    fn spec(channel: BillingChannel, cancel: bool) -> ClosureSpec {
        ClosureSpec {
            keep: vec![GA.into()],
            billing: Billing {
                channel,
                cancel,
                ..Billing::default()
            },
            ..ClosureSpec::default()
        }
    }

    fn address(kind: ActionKind, id: &str) -> String {
        Action::address_of(kind, id)
    }

    #[test]
    fn in_window_cancels_at_the_start_of_apply_and_out_of_window_turns_renewal_off() {
        let t = tenant(read(
            "partner_center",
            vec![
                commerce_sub(C_IN, None, "2026-12-05T00:00:00Z", "Microsoft 365 E5"),
                // Matched by skuId (no commerceSubscriptionId on Graph's side); window over.
                commerce_sub(C_OUT, Some("sku-out"), "2026-11-20T00:00:00Z", "E5 yearly"),
            ],
        ));
        let p = plan(
            &t,
            &spec(BillingChannel::PartnerCenter, true),
            String::new(),
            NOW.into(),
        )
        .unwrap();
        assert_eq!(p.target.billing, BillingChannel::PartnerCenter);
        let cancel_in = p
            .action(&address(ActionKind::CancelSubscription, S_IN))
            .unwrap();
        assert!(cancel_in.automated);
        assert!(
            cancel_in.depends_on.is_empty(),
            "{:?}",
            cancel_in.depends_on
        );
        assert_eq!(
            cancel_in.commerce.get("matchedBy"),
            Some(&json!("commerceSubscriptionId"))
        );
        assert_eq!(cancel_in.commerce.get("subscriptionId"), Some(&json!(C_IN)));
        assert!(p
            .action(&address(ActionKind::DisableAutoRenew, S_IN))
            .is_none());

        let renew = p
            .action(&address(ActionKind::DisableAutoRenew, S_OUT))
            .unwrap();
        assert!(renew.automated && renew.depends_on.is_empty());
        assert_eq!(renew.commerce.get("matchedBy"), Some(&json!("skuId")));
        let cancel_out = p
            .action(&address(ActionKind::CancelSubscription, S_OUT))
            .unwrap();
        assert!(!cancel_out.automated && cancel_out.instructions.is_some());
        // A CSP customer's manual cancellation is the partner's, in Partner Center.
        let how = cancel_out.instructions.as_deref().unwrap_or_default();
        assert!(how.contains("Partner Center"), "{how}");
        assert!(!how.contains("Microsoft 365 admin center"), "{how}");
        assert!(cancel_out.depends_on.contains(&renew.address));
        assert!(
            cancel_out
                .warnings
                .iter()
                .any(|w| w.contains("ended at 2026-11-20T00:00:00Z") && w.contains("2027-11-30")),
            "{:?}",
            cancel_out.warnings
        );
        let check = p.preflight.iter().find(|c| c.name == CHECK_NAME).unwrap();
        assert!(check.informational && !check.blocks());
        assert!(check
            .blocking
            .iter()
            .any(|l| l.contains(C_IN) && l.contains("commerceSubscriptionId")));
        // The DAG holds and the plan file reads back byte for byte.
        ActionGraph::build(&p.actions).unwrap();
        let mut p = p;
        let bytes = crate::planfile::seal(&mut p);
        let back = crate::planfile::parse(std::path::Path::new("p.yaml"), &bytes).unwrap();
        assert_eq!(back.actions, p.actions);
        assert_eq!(back.target, p.target);
    }

    use crate::planner::ActionGraph;

    #[test]
    fn cancel_false_only_turns_renewal_off_even_inside_the_window() {
        let t = tenant(read(
            "partner_center",
            vec![commerce_sub(C_IN, None, "2026-12-05T00:00:00Z", "E5")],
        ));
        let p = plan(
            &t,
            &spec(BillingChannel::PartnerCenter, false),
            String::new(),
            NOW.into(),
        )
        .unwrap();
        assert!(
            !p.action(&address(ActionKind::CancelSubscription, S_IN))
                .unwrap()
                .automated
        );
        assert!(p
            .action(&address(ActionKind::DisableAutoRenew, S_IN))
            .is_some());
        // The unmatched Graph subscription stays manual and says so.
        let other = p
            .action(&address(ActionKind::CancelSubscription, S_OUT))
            .unwrap();
        assert!(!other.automated);
        assert!(other
            .warnings
            .iter()
            .any(|w| w.contains("not found in Partner Center")));
    }

    #[test]
    fn mca_entra_id_free_is_expected_not_a_blocker() {
        let mut free = commerce_sub("free", None, "", "Microsoft Entra ID Free");
        free.cancel_until = None;
        free.expected_free = true;
        let t = tenant(read(
            "mca",
            vec![
                commerce_sub("bs-in", Some("sku-in"), "2026-12-05T00:00:00Z", "E5"),
                free,
            ],
        ));
        let p = plan(
            &t,
            &spec(BillingChannel::Mca, true),
            String::new(),
            NOW.into(),
        )
        .unwrap();
        let c = p
            .action(&address(ActionKind::CancelSubscription, S_IN))
            .unwrap();
        assert!(c.automated);
        assert_eq!(c.commerce.get("matchedBy"), Some(&json!("skuId")));
        let check = p.preflight.iter().find(|c| c.name == CHECK_NAME).unwrap();
        assert!(!check.blocks());
        assert!(check
            .blocking
            .iter()
            .any(|l| l.contains("Entra ID Free") && l.contains("not a blocker")));
    }

    #[test]
    fn no_access_is_a_not_checked_line_and_step_2_off_reads_nothing() {
        let t = tenant(CommerceRead::NotRead {
            channel: "partner_center".into(),
            reason: "Partner Center answered 401".into(),
        });
        let p = plan(
            &t,
            &spec(BillingChannel::PartnerCenter, true),
            String::new(),
            NOW.into(),
        )
        .unwrap();
        let check = p.preflight.iter().find(|c| c.name == CHECK_NAME).unwrap();
        assert_eq!(
            check.not_checked.as_deref(),
            Some("Partner Center answered 401")
        );
        assert!(check.blocks());
        assert!(p
            .actions
            .iter()
            .all(|a| a.kind != ActionKind::DisableAutoRenew
                && (a.kind != ActionKind::CancelSubscription || !a.automated)));
        let mut off = spec(BillingChannel::PartnerCenter, true);
        off.manual_actions.cancel_subscriptions = false;
        let p = plan(&t, &off, String::new(), NOW.into()).unwrap();
        assert!(p.preflight.iter().all(|c| c.name != CHECK_NAME));
        assert!(p
            .actions
            .iter()
            .all(|a| a.step() != Step::CancelSubscriptions));
    }
}
