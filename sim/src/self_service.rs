//! The Entra admin center's "Self-service sign-up products" page and Microsoft support's
//! removal of a SKU that no subscription explains, as graph-sim plays them. Owns which
//! subscriptions the page lists; must not touch any other portal operation.
//!
//! "Delete a Microsoft Entra tenant", section "Remove self-service sign-up products"
//! (<https://learn.microsoft.com/en-us/entra/identity/users/directory-delete-howto>):
//! Licenses > Self-service sign-up products > Delete; the state becomes Deleted at once
//! ("immediate and irrevocable"). Its own copy of the part numbers: closeout's table
//! (`closeout::model::SELF_SERVICE_SKUS`) is checked against this one by a test, because
//! the simulator must not depend on the tool it tests.

/// `skuPartNumber`s of self-service sign-up ("viral") products, from "Product names and
/// service plan identifiers for licensing"
/// (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference>).
pub const SELF_SERVICE_SKU_PART_NUMBERS: &[&str] = &[
    "CCIBOTS_PRIVPREV_VIRAL",
    "FLOW_FREE",
    "MICROSOFT_BUSINESS_CENTER",
    "POWERAPPS_DEV",
    "POWERAPPS_VIRAL",
    "POWER_BI_STANDARD",
    "Power_Pages_vTrial_for_Makers",
    "RIGHTSMANAGEMENT_ADHOC",
    "STREAM",
    "TEAMS_EXPLORATORY",
    "WINDOWS_STORE",
];

/// Whether the admin center lists a subscription of this part number and `ownerType` on
/// its self-service sign-up products page: a viral SKU, or one a user owns.
pub fn is_self_service(sku_part_number: &str, owner_type: Option<&str>) -> bool {
    SELF_SERVICE_SKU_PART_NUMBERS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(sku_part_number))
        || owner_type.is_some_and(|o| o.eq_ignore_ascii_case("User"))
}
