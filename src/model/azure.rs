//! Azure subscriptions as closeout understands them (read through Azure Resource Manager),
//! and what closeout could prove about seeing them all. Pure data: no I/O, no URLs.
//! Shapes: `GET /subscriptions?api-version=2022-12-01`
//! (<https://learn.microsoft.com/rest/api/resources/subscriptions/list>).

use serde::{Deserialize, Serialize};

/// How the tenant's Azure subscriptions are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AzureRead {
    /// Not read (no ARM connection asked for, e.g. a library caller).
    #[default]
    NotRead,
    /// The closure spec says `azure_subscriptions: none`: the administrator declares the
    /// tenant never had Azure; ARM was not asked.
    DeclaredNone,
    /// ARM could not be read: why (no token, 401/403, unreachable).
    Unreadable(String),
    /// ARM listed the subscriptions. `root_reader` is `true` only when the identity
    /// verifiably holds Reader (or a role that includes it) at root scope `/`, so the list
    /// is complete; otherwise `why_incomplete` says what is missing.
    Read {
        root_reader: bool,
        why_incomplete: Option<String>,
    },
}

/// One Azure subscription (`Subscription` in ARM's `subscriptions.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureSubscription {
    /// `subscriptionId` (a GUID).
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: String,
    /// `Enabled`, `Warned`, `PastDue`, `Disabled` or `Deleted`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tenant_id: String,
    /// The identity holds Owner on it (role assignments at or above the subscription):
    /// only subscription owners can cancel
    /// (<https://learn.microsoft.com/azure/cost-management-billing/manage/cancel-azure-subscription>).
    #[serde(default)]
    pub owner: bool,
    /// Names of its resource groups (ARM refuses to cancel while any exists).
    #[serde(default)]
    pub resource_groups: Vec<String>,
    /// `false` when its resource groups could not be listed.
    #[serde(default)]
    pub resource_groups_read: bool,
}

impl AzureSubscription {
    /// `Enabled`, `Warned` or `PastDue`: must be cancelled.
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "Enabled" | "Warned" | "PastDue")
    }

    /// `Disabled` (cancelled): pending until Microsoft deletes it, or deleted by hand.
    pub fn is_disabled(&self) -> bool {
        self.state == "Disabled"
    }
}

/// The tenant's Azure side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureState {
    pub read: AzureRead,
    /// Subscriptions of this tenant (`tenantId` equal to the tenant's) not `Deleted`,
    /// sorted by id.
    pub subscriptions: Vec<AzureSubscription>,
}

impl AzureState {
    /// The subscription with this id (case-insensitive).
    pub fn subscription(&self, id: &str) -> Option<&AzureSubscription> {
        self.subscriptions
            .iter()
            .find(|s| s.subscription_id.eq_ignore_ascii_case(id))
    }

    /// `true` when ARM answered the list (complete or not).
    pub fn was_read(&self) -> bool {
        matches!(self.read, AzureRead::Read { .. })
    }
}
