//! Graph entity types, deserialised from Graph's JSON with Graph's property names.

use serde::{Deserialize, Serialize};

/// `organization` (<https://learn.microsoft.com/en-us/graph/api/resources/organization>).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `true` while directory synchronisation is on; `false` once it was turned off; `null` never.
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub verified_domains: Vec<VerifiedDomain>,
}

/// `verifiedDomain` complex type of `organization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    pub name: String,
    #[serde(default)]
    pub is_initial: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A string that many objects share word for word (a SKU id, a user type), kept once.
fn interned<'de, D: serde::Deserializer<'de>>(d: D) -> Result<crate::plan::SharedText, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    Ok(crate::plan::SharedText::new(&s))
}

/// [`interned`], optional (`null` and absent are `None`).
fn interned_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::plan::SharedText>, D::Error> {
    let s = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
    Ok(s.map(|s| crate::plan::SharedText::new(&s)))
}

/// `user` (<https://learn.microsoft.com/en-us/graph/api/resources/user>), with the
/// properties closeout selects. Also used for users in the recycle bin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: crate::plan::SharedText,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_principal_name: crate::plan::SharedText,
    // `displayName` is selected (for the state export and people reading the request log)
    // but not kept: nothing in a plan depends on it, and at 100,000 users it is megabytes.
    /// `Member` or `Guest` (one shared copy of each).
    #[serde(default, deserialize_with = "interned_opt")]
    pub user_type: Option<crate::plan::SharedText>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Set on users in the recycle bin.
    #[serde(default)]
    pub deleted_date_time: Option<String>,
}

impl User {
    /// `true` for `userType: Guest`.
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
    }

    /// `true` while the user is synchronised from on-premises Active Directory.
    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// The domain part of the userPrincipalName, lower-cased.
    pub fn upn_domain(&self) -> Option<String> {
        self.user_principal_name
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
    }
}

/// `assignedLicense` complex type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// One shared copy per SKU (a tenant has a few SKUs and up to 100,000s of users).
    #[serde(deserialize_with = "interned")]
    pub sku_id: crate::plan::SharedText,
    #[serde(default, deserialize_with = "null_as_default")]
    pub disabled_plans: Vec<String>,
}

/// An activated `directoryRole` and the ids of its members
/// (`GET /directoryRoles/{id}/members`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_template_id: String,
    #[serde(default, skip_deserializing)]
    pub members: Vec<String>,
}

/// `companySubscription` (<https://learn.microsoft.com/en-us/graph/api/resources/companysubscription>).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanySubscription {
    pub id: String,
    #[serde(default)]
    pub commerce_subscription_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_part_number: String,
    /// `Enabled`, `Warning`, `Suspended`, `LockedOut` or `Deleted`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default)]
    pub is_trial: Option<bool>,
    #[serde(default)]
    pub total_licenses: Option<i64>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub next_lifecycle_date_time: Option<String>,
    /// Who owns it: `User` for a self-service sign-up or purchase, null for the organization.
    #[serde(default)]
    pub owner_type: Option<String>,
}

impl CompanySubscription {
    /// Active or expired-but-usable: `Enabled` or `Warning` (must be cancelled).
    pub fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "Enabled" | "Warning")
    }

    /// Already `Deleted`.
    pub fn is_deleted(&self) -> bool {
        self.status == "Deleted"
    }

    /// A self-service (viral) sign-up product: its SKU is in
    /// [`super::SELF_SERVICE_SKUS`], or a user owns it (`ownerType` `User`). Nobody pays
    /// for these; they are deleted in the Entra admin center > Licenses > Self-service
    /// sign-up products (see [`super::self_service`]).
    pub fn is_self_service_or_free(&self) -> bool {
        super::is_self_service(&self.sku_part_number, self.owner_type.as_deref())
    }
}

/// `subscribedSku` (<https://learn.microsoft.com/en-us/graph/api/resources/subscribedsku>).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_part_number: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub capability_status: String,
    #[serde(default)]
    pub consumed_units: Option<i64>,
    /// "A list of all subscription IDs associated with this SKU": the `companySubscription`
    /// ids behind it (<https://learn.microsoft.com/en-us/graph/api/resources/subscribedsku>).
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscription_ids: Vec<String>,
}

impl SubscribedSku {
    /// `capabilityStatus` is `Deleted`.
    pub fn is_deleted(&self) -> bool {
        self.capability_status == "Deleted"
    }
}

/// `identitySecurityDefaultsEnforcementPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityDefaults {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub is_enabled: bool,
}

/// `conditionalAccessPolicy` (<https://learn.microsoft.com/en-us/graph/api/resources/conditionalaccesspolicy>).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessPolicy {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// `enabled`, `disabled` or `enabledForReportingButNotEnforced`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: String,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
}

impl ConditionalAccessPolicy {
    /// Requires multifactor authentication: `mfa` among `builtInControls`, or an
    /// `authenticationStrength`.
    pub fn requires_mfa(&self) -> bool {
        self.grant_controls.as_ref().is_some_and(|g| {
            g.built_in_controls
                .iter()
                .any(|c| c.eq_ignore_ascii_case("mfa"))
                || g.authentication_strength
                    .as_ref()
                    .is_some_and(|s| !s.is_null())
        })
    }

    /// In force or evaluated: `enabled` or `enabledForReportingButNotEnforced`.
    pub fn is_on(&self) -> bool {
        self.state == "enabled" || self.state == "enabledForReportingButNotEnforced"
    }
}

/// `conditionalAccessGrantControls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantControls {
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub built_in_controls: Vec<String>,
    #[serde(default)]
    pub authentication_strength: Option<serde_json::Value>,
}

/// `perUserMfaState` of `GET /beta/users/{id}/authentication/requirements`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PerUserMfaState {
    #[default]
    Disabled,
    Enabled,
    Enforced,
}

impl PerUserMfaState {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PerUserMfaState::Disabled => "disabled",
            PerUserMfaState::Enabled => "enabled",
            PerUserMfaState::Enforced => "enforced",
        }
    }
}

/// `application` (an app registration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub deleted_date_time: Option<String>,
}

/// `servicePrincipal` (an enterprise application).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub service_principal_type: Option<String>,
}

impl ServicePrincipal {
    /// Owned by Microsoft (first party): cannot be deleted, only disabled.
    pub fn is_first_party(&self) -> bool {
        self.app_owner_organization_id
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(super::MICROSOFT_FIRST_PARTY_TENANT_ID))
    }
}

/// `domain` (<https://learn.microsoft.com/en-us/graph/api/resources/domain>); the id is the domain name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub id: String,
    #[serde(default)]
    pub is_initial: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_verified: bool,
    #[serde(default)]
    pub authentication_type: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
