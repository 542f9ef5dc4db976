//! Which Microsoft products are self-service ("viral") sign-ups: the one documented table of
//! SKU part numbers, and the `ownerType` rule. Pure data: it reads no tenant and knows
//! nothing about plans.
//!
//! Sources:
//! * "Delete a Microsoft Entra tenant", section "Remove self-service sign-up products"
//!   (<https://learn.microsoft.com/en-us/entra/identity/users/directory-delete-howto>):
//!   these products "block directory deletions until the products are fully deleted from
//!   the organization"; examples Power BI, Azure RMS, Power Apps, Dynamics 365.
//! * "What is self-service sign-up for Microsoft 365?"
//!   (<https://learn.microsoft.com/en-us/microsoft-365/admin/misc/self-service-sign-up>):
//!   the programs (Power BI, RMS for individuals, Power Apps, Power Automate, Power Virtual
//!   Agents, Stream, Teams Exploratory, ...).
//! * The SKU part numbers: "Product names and service plan identifiers for licensing"
//!   (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference>).
//! * `companySubscription.ownerType`: "Indicates the entity that ownerId belongs to, for
//!   example, 'User'" (<https://learn.microsoft.com/en-us/graph/api/resources/companysubscription>):
//!   a subscription a user owns is a self-service sign-up or purchase, whatever its SKU.

/// One self-service sign-up product: its `skuPartNumber` (as `subscribedSku` and
/// `companySubscription` spell it) and the product's name in the admin centers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfServiceSku {
    pub sku_part_number: &'static str,
    pub product: &'static str,
}

/// The self-service (viral) SKUs closeout recognises by part number, compared without
/// regard to case. Keep it sorted by part number; each entry is in the licensing reference
/// above.
pub const SELF_SERVICE_SKUS: &[SelfServiceSku] = &[
    SelfServiceSku {
        sku_part_number: "CCIBOTS_PRIVPREV_VIRAL",
        product: "Power Virtual Agents Viral Trial",
    },
    SelfServiceSku {
        sku_part_number: "FLOW_FREE",
        product: "Microsoft Power Automate Free",
    },
    SelfServiceSku {
        sku_part_number: "MICROSOFT_BUSINESS_CENTER",
        product: "Microsoft Business Center",
    },
    SelfServiceSku {
        sku_part_number: "POWERAPPS_DEV",
        product: "Microsoft Power Apps for Developer",
    },
    SelfServiceSku {
        sku_part_number: "POWERAPPS_VIRAL",
        product: "Microsoft Power Apps Plan 2 Trial",
    },
    SelfServiceSku {
        sku_part_number: "POWER_BI_STANDARD",
        product: "Microsoft Fabric (Free), formerly Power BI (free)",
    },
    SelfServiceSku {
        sku_part_number: "Power_Pages_vTrial_for_Makers",
        product: "Power Pages vTrial for Makers",
    },
    SelfServiceSku {
        sku_part_number: "RIGHTSMANAGEMENT_ADHOC",
        product: "Rights Management Adhoc",
    },
    SelfServiceSku {
        sku_part_number: "STREAM",
        product: "Microsoft Stream (trial)",
    },
    SelfServiceSku {
        sku_part_number: "TEAMS_EXPLORATORY",
        product: "Microsoft Teams Exploratory",
    },
    SelfServiceSku {
        sku_part_number: "WINDOWS_STORE",
        product: "Windows Store for Business",
    },
];

/// The table's entry for `sku_part_number` (case-insensitive), if it is a self-service SKU.
pub fn self_service_sku(sku_part_number: &str) -> Option<&'static SelfServiceSku> {
    SELF_SERVICE_SKUS
        .iter()
        .find(|s| s.sku_part_number.eq_ignore_ascii_case(sku_part_number))
}

/// Whether a subscription with this `skuPartNumber` and `ownerType` is a self-service
/// sign-up product: its part number is in [`SELF_SERVICE_SKUS`], or a user owns it
/// (`ownerType` `User`, case-insensitive).
pub fn is_self_service(sku_part_number: &str, owner_type: Option<&str>) -> bool {
    self_service_sku(sku_part_number).is_some()
        || owner_type.is_some_and(|o| o.eq_ignore_ascii_case("User"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_has_no_duplicates() {
        let names: Vec<String> = SELF_SERVICE_SKUS
            .iter()
            .map(|s| s.sku_part_number.to_ascii_uppercase())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn part_number_or_user_owner_makes_a_self_service_product() {
        assert!(is_self_service("flow_free", None));
        assert!(is_self_service("POWER_BI_PRO", Some("User")));
        assert!(!is_self_service("ENTERPRISEPACK", None));
        assert!(!is_self_service("ENTERPRISEPACK", Some("Company")));
    }
}
