//! Azure subscriptions in the plan: which are cancelled through Azure Resource Manager,
//! which in the Azure portal, and which wait to be deleted. Pure: no HTTP.
//!
//! Every subscription of the tenant that is not `Deleted` blocks the tenant's deletion
//! ("If you have an active or canceled Azure subscription associated with your Microsoft
//! Entra tenant, you can't delete the tenant":
//! <https://learn.microsoft.com/entra/identity/users/directory-delete-howto>).

use serde_json::json;

use super::dag::step_dependency;
use super::spec::ClosureSpec;
use crate::model::{AzureRead, AzureSubscription, TenantState};
use crate::plan::{Action, ActionKind, AzurePolicy, Fields, SharedText, Step};

/// Where people cancel and delete Azure subscriptions.
pub const AZURE_PORTAL_SUBSCRIPTIONS: &str =
    "Azure portal (https://portal.azure.com) > Subscriptions";

/// The fields of an Azure subscription that its cancel actions depended on: its `state`,
/// whether the identity owns it, and its resource groups (ARM refuses to cancel while any
/// exists).
pub fn azure_cancel_fields(s: &AzureSubscription) -> Fields {
    [
        ("state", json!(s.state)),
        ("owner", json!(s.owner)),
        ("resourceGroups", json!(s.resource_groups)),
    ]
    .into_iter()
    .collect()
}

/// The fields a delete action depends on: the `state` only.
pub fn azure_delete_fields(s: &AzureSubscription) -> Fields {
    [("state", json!(s.state))].into_iter().collect()
}

/// The live fields of Azure subscription `id` for an action of `kind`, as the planner
/// records them; `None` when ARM no longer lists it (deleted, which the plan's delete
/// action declares). When ARM could not be read at all, the state is shown as unknown, so
/// the drift check refuses the plan instead of taking every subscription for gone.
pub fn azure_object_fields(state: &TenantState, kind: ActionKind, id: &str) -> Option<Fields> {
    if !state.azure.was_read() {
        let why = match &state.azure.read {
            AzureRead::Unreadable(why) => why.clone(),
            AzureRead::DeclaredNone => "azure_subscriptions: none".to_string(),
            _ => "not read".to_string(),
        };
        return Some(
            [(
                "state",
                json!(format!(
                    "unknown: Azure Resource Manager could not be read ({why})"
                )),
            )]
            .into_iter()
            .collect(),
        );
    }
    let s = state.azure.subscription(id)?;
    Some(if kind == ActionKind::DeleteAzureSubscription {
        azure_delete_fields(s)
    } else {
        azure_cancel_fields(s)
    })
}

fn label(s: &AzureSubscription) -> String {
    if s.display_name.is_empty() {
        format!("Azure subscription {}", s.subscription_id)
    } else {
        format!(
            "{} (Azure subscription {})",
            s.display_name, s.subscription_id
        )
    }
}

fn action(kind: ActionKind, s: &AzureSubscription, reason: &str) -> Action {
    Action {
        address: SharedText::own(&Action::address_of(kind, &s.subscription_id)),
        kind,
        object_id: SharedText::own(&s.subscription_id),
        name: SharedText::own(&label(s)),
        reason: SharedText::new(reason),
        before: Fields::new(),
        after: Fields::new(),
        depends_on: Default::default(),
        warnings: Default::default(),
        instructions: None,
        automated: !kind.is_manual(),
        commerce: Fields::new(),
    }
}

/// Why closeout does not cancel `s` itself, or `None` when it does.
fn why_manual(s: &AzureSubscription, spec: &ClosureSpec) -> Option<String> {
    if spec.azure_subscriptions != AzurePolicy::Cancel {
        return Some("the closure spec does not say azure_subscriptions: cancel".into());
    }
    if !s.owner {
        return Some("the identity closeout signs in as is not Owner of it (only subscription owners can cancel)".into());
    }
    if !s.resource_groups_read {
        return Some("its resource groups could not be read".into());
    }
    if !s.resource_groups.is_empty() {
        return Some(format!(
            "it holds resource groups ({}): Azure Resource Manager refuses to cancel it with ResourcesExistingOnSubscription until every resource is deleted",
            s.resource_groups.join(", ")
        ));
    }
    None
}

/// The Azure subscription actions, appended to `out`.
pub(super) fn actions(state: &TenantState, spec: &ClosureSpec, out: &mut Vec<Action>) {
    if spec.azure_subscriptions == AzurePolicy::None {
        return;
    }
    for s in &state.azure.subscriptions {
        let mut cancel_address = None;
        if s.is_active() {
            let manual = why_manual(s, spec);
            let kind = if manual.is_some() {
                ActionKind::CancelAzureSubscriptionInPortal
            } else {
                ActionKind::CancelAzureSubscription
            };
            let mut a = action(
                kind,
                s,
                &format!("Azure subscription in state {}: active or cancelled Azure subscriptions block the tenant's deletion.", s.state),
            );
            a.before = azure_cancel_fields(s);
            a.after = [("state", json!("Disabled"))].into_iter().collect();
            a.depends_on.push(step_dependency(Step::Users).into());
            if !s.resource_groups.is_empty() {
                a.warnings.push(format!(
                    "resource groups: {}; cancelling stops and later deletes every resource in them",
                    s.resource_groups.join(", ")
                ));
            }
            if let Some(why) = manual {
                a.instructions = Some(format!(
                    "{AZURE_PORTAL_SUBSCRIPTIONS} > {} > Cancel subscription, signed in as a subscription Owner (closeout does not cancel it: {why}). closeout verifies its state becomes Disabled in GET /subscriptions?api-version=2022-12-01.",
                    s.subscription_id
                ));
            }
            cancel_address = Some(a.address.clone());
            out.push(a);
        }
        let mut d = action(
            ActionKind::DeleteAzureSubscription,
            s,
            "A cancelled (Disabled) Azure subscription still blocks the tenant's deletion until it is Deleted; no Azure Resource Manager operation deletes one.",
        );
        d.before = azure_delete_fields(s);
        d.after = [("state", json!("Deleted"))].into_iter().collect();
        if let Some(c) = cancel_address {
            d.depends_on.push(c);
        }
        d.instructions = Some(format!(
            "Wait until Microsoft deletes it (90 days after it was cancelled), or delete it yourself: {AZURE_PORTAL_SUBSCRIPTIONS} > {} > Delete subscription, once every resource is deleted and the portal offers it (7 days after cancelling; 3 days for free trial and pay-as-you-go subscriptions). closeout verifies it is gone by reading GET /subscriptions?api-version=2022-12-01.",
            s.subscription_id
        ));
        if s.is_disabled() {
            d.warnings.push(
                "cancelled before this plan: Azure Resource Manager gives no cancellation date, so from when the portal allows deleting it is unknown (7 days after the cancellation; 3 days for free trial and pay-as-you-go)".to_string(),
            );
        }
        out.push(d);
    }
}

/// The checklist line for Azure subscriptions.
pub(super) fn check(state: &TenantState) -> crate::plan::Check {
    use crate::plan::Check;
    const NAME: &str = "Azure subscriptions";
    const REQ: &str = "no Azure subscription (active or cancelled) left in the tenant, as Azure Resource Manager shows to an identity holding Reader at root scope /";
    let blocking: Vec<String> = state
        .azure
        .subscriptions
        .iter()
        .map(|s| {
            format!(
                "Azure subscription {} [{}] ({})",
                s.display_name, s.state, s.subscription_id
            )
        })
        .collect();
    if !blocking.is_empty() {
        // Known blockers fail the line whatever else is unknown.
        let more = blocking
            .len()
            .saturating_sub(super::preflight::BLOCKING_LIST_LIMIT);
        let mut b = blocking;
        b.truncate(super::preflight::BLOCKING_LIST_LIMIT);
        return Check::new(NAME, REQ, b, more);
    }
    match &state.azure.read {
        AzureRead::DeclaredNone => Check::new(
            NAME,
            "none: declared by the administrator in the closure spec (azure_subscriptions: none); Azure Resource Manager was not read",
            Vec::new(),
            0,
        ),
        AzureRead::NotRead => Check::not_checked(NAME, REQ, "Azure Resource Manager was not read"),
        AzureRead::Unreadable(why) => Check::not_checked(NAME, REQ, &format!("Azure Resource Manager could not be read: {why}")),
        AzureRead::Read { root_reader, why_incomplete } => {
            if *root_reader {
                Check::new(NAME, REQ, Vec::new(), 0)
            } else {
                Check::not_checked(
                    NAME,
                    REQ,
                    &format!(
                        "Azure Resource Manager lists no subscription, but that proves nothing: {}",
                        why_incomplete.as_deref().unwrap_or("the identity's root-scope role is unknown")
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AzureState;

    /// Every way of reading ARM, with and without subscriptions: the line passes only
    /// when ARM listed none to an identity with Reader at `/`, or the administrator
    /// declared none; it is "not checked" whenever nothing is known to block but the list
    /// cannot be proven complete.
    #[test]
    fn the_line_passes_only_on_proof_or_declaration() {
        let reads = [
            AzureRead::NotRead,
            AzureRead::DeclaredNone,
            AzureRead::Unreadable("403".into()),
            AzureRead::Read {
                root_reader: false,
                why_incomplete: Some("no role at /".into()),
            },
            AzureRead::Read {
                root_reader: false,
                why_incomplete: None,
            },
            AzureRead::Read {
                root_reader: true,
                why_incomplete: None,
            },
        ];
        for read in reads {
            for n in 0..3 {
                let subscriptions = (0..n)
                    .map(|i| AzureSubscription {
                        subscription_id: format!("00000000-0000-4000-8000-00000000000{i}"),
                        state: ["Enabled", "Disabled", "PastDue"][i].into(),
                        ..AzureSubscription::default()
                    })
                    .collect();
                let state = TenantState {
                    azure: AzureState {
                        read: read.clone(),
                        subscriptions,
                    },
                    ..TenantState::default()
                };
                let c = check(&state);
                let proven = matches!(
                    read,
                    AzureRead::Read {
                        root_reader: true,
                        ..
                    }
                ) || read == AzureRead::DeclaredNone;
                assert_eq!(c.passed, proven && n == 0, "{read:?} {n}");
                assert!(c.blocks() != c.passed, "{read:?} {n}");
                // Known blockers fail the line; without them, a list that proves nothing
                // (or none at all) is "not checked".
                assert_eq!(c.not_checked.is_some(), !proven && n == 0, "{read:?} {n}");
            }
        }
    }
}
