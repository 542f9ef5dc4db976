//! Self-service sign-up products and SKUs no subscription explains (issue 13 point 3):
//! their manual actions and their lines of the pre-flight checklist. Pure, like the rest of
//! the planner; must not plan the other subscriptions (`diff.rs` does).
//!
//! * A self-service ("viral") product is a `companySubscription` whose SKU is in
//!   [`crate::model::SELF_SERVICE_SKUS`] or whose `ownerType` is `User`. "These self-service
//!   products block directory deletions until the products are fully deleted from the
//!   organization"; an administrator deletes them in the Entra admin center, at once and
//!   irrevocably, and no API does
//!   (<https://learn.microsoft.com/en-us/entra/identity/users/directory-delete-howto>).
//! * Every `subscribedSku` that is not `Deleted` must be explained by a
//!   `companySubscription` that is not `Deleted` either: one listed in its
//!   `subscriptionIds`, or one of the same `skuId`
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/subscribedsku>). A SKU nothing
//!   explains (typically `LockedOut`, "the customer canceled their subscription") cannot be
//!   seen nor deleted in the admin center, blocks the deletion all the same, and only
//!   Microsoft support removes it (observed: MicrosoftDocs/microsoft-365-docs issue 9087;
//!   the deletion article's "contact Microsoft support").

use serde_json::json;

use super::preflight::BLOCKING_LIST_LIMIT;
use super::spec::ClosureSpec;
use crate::model::{self_service_sku, CompanySubscription, SubscribedSku, TenantState};
use crate::plan::{Action, ActionKind, Check, Fields, SharedText};

/// Where an administrator deletes self-service sign-up products.
const ENTRA_SELF_SERVICE_PRODUCTS: &str = "Microsoft Entra admin center (https://entra.microsoft.com) > Identity > Billing > Licenses > Self-service sign-up products";
/// The other place (Billing Administrator or more), from "Manage self-service sign-up
/// subscriptions" (<https://learn.microsoft.com/en-us/microsoft-365/commerce/subscriptions/manage-self-service-signup-subscriptions>).
const M365_FREE_PRODUCTS: &str =
    "Microsoft 365 admin center (https://admin.microsoft.com) > Billing > Your products > filter Free";
/// Where an administrator opens a Microsoft support request.
const SUPPORT_REQUEST: &str =
    "Microsoft 365 admin center (https://admin.microsoft.com) > Support > New service request";

/// The self-service sign-up products of `state` that are not `Deleted`, in id order.
pub fn self_service_products(state: &TenantState) -> impl Iterator<Item = &CompanySubscription> {
    state
        .subscriptions
        .iter()
        .filter(|s| !s.is_deleted() && s.is_self_service_or_free())
}

/// Whether a `companySubscription` that is not `Deleted` explains `sku`: one listed in its
/// `subscriptionIds` (by `id` or `commerceSubscriptionId`), or one of the same `skuId`.
pub fn is_explained(state: &TenantState, sku: &SubscribedSku) -> bool {
    state
        .subscriptions
        .iter()
        .filter(|s| !s.is_deleted())
        .any(|s| {
            sku.subscription_ids.iter().any(|id| {
                id.eq_ignore_ascii_case(&s.id)
                    || s.commerce_subscription_id
                        .as_deref()
                        .is_some_and(|c| id.eq_ignore_ascii_case(c))
            }) || (!sku.sku_id.is_empty() && s.sku_id.eq_ignore_ascii_case(&sku.sku_id))
        })
}

/// The `subscribedSkus` that are not `Deleted` and that no `companySubscription` explains
/// ([`is_explained`]), in id order.
pub fn unexplained_skus(state: &TenantState) -> impl Iterator<Item = &SubscribedSku> {
    state
        .subscribed_skus
        .iter()
        .filter(move |k| !k.is_deleted() && !is_explained(state, k))
}

/// The fields of a self-service product its deletion was decided from.
pub fn self_service_fields(s: &CompanySubscription) -> Fields {
    [
        ("skuPartNumber", json!(s.sku_part_number)),
        ("skuId", json!(s.sku_id)),
        ("status", json!(s.status)),
        ("ownerType", json!(s.owner_type)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The fields of a SKU no subscription explains.
pub fn sku_fields(k: &SubscribedSku) -> Fields {
    [
        ("skuPartNumber", json!(k.sku_part_number)),
        ("capabilityStatus", json!(k.capability_status)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The live fields of the object of a [`ActionKind::DeleteSelfServiceProduct`] or
/// [`ActionKind::RemoveUnexplainedSku`] action (`None` when it is no longer listed, or for
/// other kinds). A SKU is looked up by its `skuId`.
pub fn object_fields(state: &TenantState, kind: ActionKind, id: &str) -> Option<Fields> {
    match kind {
        ActionKind::DeleteSelfServiceProduct => state
            .subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(self_service_fields),
        ActionKind::RemoveUnexplainedSku => state
            .subscribed_skus
            .iter()
            .find(|k| k.sku_id.eq_ignore_ascii_case(id))
            .map(sku_fields),
        _ => None,
    }
}

fn new_action(kind: ActionKind, object_id: &str, name: String, reason: String) -> Action {
    Action {
        address: SharedText::own(&Action::address_of(kind, object_id)),
        kind,
        object_id: SharedText::own(object_id),
        name: SharedText::own(&name),
        reason: SharedText::new(&reason),
        before: Fields::new(),
        after: Fields::new(),
        depends_on: Default::default(),
        warnings: Default::default(),
        instructions: None,
        automated: !kind.is_manual(),
        commerce: Fields::new(),
    }
}

fn product_name(part_number: &str) -> String {
    match self_service_sku(part_number) {
        Some(s) => format!("{part_number} ({})", s.product),
        None => part_number.to_string(),
    }
}

/// Appends the manual actions: one [`ActionKind::DeleteSelfServiceProduct`] per
/// self-service product and one [`ActionKind::RemoveUnexplainedSku`] per SKU nothing
/// explains (both only when the spec lets closeout plan subscription deletions).
pub(crate) fn actions(state: &TenantState, spec: &ClosureSpec, out: &mut Vec<Action>) {
    if !spec.manual_actions.delete_subscriptions {
        return;
    }
    for s in self_service_products(state) {
        let owner = if s
            .owner_type
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("User"))
        {
            ", signed up for by a user"
        } else {
            ""
        };
        let mut a = new_action(
            ActionKind::DeleteSelfServiceProduct,
            &s.id,
            format!("{} ({}{owner})", s.sku_part_number, s.status),
            "Self-service sign-up products block the tenant's deletion until they are deleted; Graph can read them but no API deletes them.".to_string(),
        );
        a.before = self_service_fields(s);
        a.after = [("status".to_string(), json!("Deleted"))]
            .into_iter()
            .collect();
        a.instructions = Some(format!(
            "{ENTRA_SELF_SERVICE_PRODUCTS} > {} > Delete (Global Administrator); or {M365_FREE_PRODUCTS} > {} > Delete subscription (Billing Administrator or more). closeout verifies the status becomes Deleted in GET /v1.0/directory/subscriptions/{}.",
            product_name(&s.sku_part_number),
            s.sku_part_number,
            s.id
        ));
        a.warnings.push(
            "deleting a self-service product deletes its data at once and irrevocably (Microsoft: \"immediate and irrevocable\")".to_string(),
        );
        out.push(a);
    }
    for k in unexplained_skus(state) {
        let mut a = new_action(
            ActionKind::RemoveUnexplainedSku,
            &k.sku_id,
            format!("{} ({}, only in subscribedSkus)", k.sku_part_number, k.capability_status),
            format!(
                "GET /v1.0/subscribedSkus lists this SKU as {}, but no companySubscription in GET /v1.0/directory/subscriptions is behind it: the admin center can neither show nor delete it, it blocks the tenant's deletion, and only Microsoft support can remove it.",
                k.capability_status
            ),
        );
        a.before = sku_fields(k);
        a.after = [("capabilityStatus".to_string(), json!("Deleted"))]
            .into_iter()
            .collect();
        let first = if self_service_sku(&k.sku_part_number).is_some() {
            format!(
                "It is a self-service sign-up product: look for it first in {ENTRA_SELF_SERVICE_PRODUCTS} and delete it there. If it is not listed, open"
            )
        } else {
            "Open".to_string()
        };
        a.instructions = Some(format!(
            "{first} a Microsoft support request ({SUPPORT_REQUEST}) asking Microsoft to remove the {} SKU (skuId {}, subscribedSku id {}, capabilityStatus {}) that subscribedSkus lists without any subscription behind it, because it blocks deleting the tenant. closeout verifies it by reading GET /v1.0/subscribedSkus: its capabilityStatus must become Deleted, or the SKU must no longer be listed.",
            k.sku_part_number, k.sku_id, k.id, k.capability_status
        ));
        out.push(a);
    }
}

fn line(name: &str, requirement: &str, mut blocking: Vec<String>) -> Check {
    let more = blocking.len().saturating_sub(BLOCKING_LIST_LIMIT);
    blocking.truncate(BLOCKING_LIST_LIMIT);
    Check::new(name, requirement, blocking, more)
}

/// The checklist lines of this module: "self-service products" and "SKUs without a
/// subscription" (both block the deletion path until they pass).
pub fn checks(state: &TenantState) -> Vec<Check> {
    let products = self_service_products(state)
        .map(|s| {
            format!(
                "self-service product {} [{}] ({})",
                s.sku_part_number, s.status, s.id
            )
        })
        .collect();
    let skus = unexplained_skus(state)
        .map(|k| {
            format!(
                "SKU {} [{}] (skuId {}): only subscribedSkus shows it; Microsoft support removes it",
                k.sku_part_number, k.capability_status, k.sku_id
            )
        })
        .collect();
    vec![
        line(
            "self-service products",
            "no self-service sign-up product left (deleted in the Entra admin center)",
            products,
        ),
        line(
            "SKUs without a subscription",
            "every subscribedSku not Deleted is explained by a companySubscription",
            skus,
        ),
    ]
}
