//! One closure action: what it does to which object, and why.

use serde::{Deserialize, Serialize};

/// Microsoft's five closure steps ("Close your account"), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Step {
    /// 1. Delete users (and what stands before that: directory sync).
    Users = 1,
    /// 2. Cancel active subscriptions.
    CancelSubscriptions = 2,
    /// 3. Delete disabled subscriptions.
    DeleteSubscriptions = 3,
    /// 4. Disable multifactor authentication.
    Mfa = 4,
    /// 5. Delete the directory (and its prerequisites: applications, domains).
    DeleteDirectory = 5,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Users,
        Step::CancelSubscriptions,
        Step::DeleteSubscriptions,
        Step::Mfa,
        Step::DeleteDirectory,
    ];

    /// Microsoft's name for the step.
    pub fn title(self) -> &'static str {
        match self {
            Step::Users => "Delete users",
            Step::CancelSubscriptions => "Cancel active subscriptions",
            Step::DeleteSubscriptions => "Delete disabled subscriptions",
            Step::Mfa => "Disable multifactor authentication",
            Step::DeleteDirectory => "Delete the directory",
        }
    }

    /// The step number, 1 to 5.
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl From<Step> for u8 {
    fn from(s: Step) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for Step {
    type Error = String;
    fn try_from(n: u8) -> Result<Step, String> {
        Step::ALL
            .into_iter()
            .find(|s| s.number() == n)
            .ok_or_else(|| format!("step must be 1 to 5, not {n}"))
    }
}

/// What an action does. Each kind is safe to repeat: apply checks the object, then converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `PATCH /beta/organization/{id}` `{"onPremisesSyncEnabled": false}`.
    DisableDirectorySync,
    /// `DELETE /v1.0/users/{id}` (soft delete into the recycle bin).
    DeleteUser,
    /// `DELETE /v1.0/directory/deletedItems/{id}` (permanent).
    PurgeUser,
    /// Manual: cancel in the Microsoft 365 admin center.
    CancelSubscription,
    /// Manual: delete in the Microsoft 365 admin center once disabled.
    DeleteSubscription,
    /// `PATCH /v1.0/policies/identitySecurityDefaultsEnforcementPolicy` `{"isEnabled": false}`.
    DisableSecurityDefaults,
    /// `PATCH /v1.0/identity/conditionalAccess/policies/{id}` `{"state": "disabled"}`.
    DisableConditionalAccessPolicy,
    /// `PATCH /beta/users/{id}/authentication/requirements` `{"perUserMfaState": "disabled"}`.
    DisablePerUserMfa,
    /// `DELETE /v1.0/servicePrincipals/{id}`.
    DeleteServicePrincipal,
    /// `PATCH /v1.0/servicePrincipals/{id}` `{"accountEnabled": false}` (first-party apps).
    DisableServicePrincipal,
    /// `DELETE /v1.0/applications/{id}` (soft delete).
    DeleteApplication,
    /// `DELETE /v1.0/directory/deletedItems/{id}` for an application.
    PurgeApplication,
    /// `PATCH /v1.0/users/{id}` `{"userPrincipalName": "name@<initial domain>"}` for a
    /// kept user whose sign-in name uses a domain that will be removed.
    MoveUserToInitialDomain,
    /// `PATCH /v1.0/domains/{id}` `{"isDefault": true}` on the initial domain.
    SetDefaultDomain,
    /// `DELETE /v1.0/domains/{id}`.
    DeleteDomain,
    /// Manual: Entra admin center > Manage tenants > Delete.
    DeleteTenant,
    /// Manual: Entra admin center > Licenses > Self-service sign-up products > Delete, for a
    /// self-service (viral) `companySubscription` ([`crate::model::SELF_SERVICE_SKUS`] or
    /// `ownerType` `User`); verified by reading `GET /v1.0/directory/subscriptions`.
    DeleteSelfServiceProduct,
    /// Manual, by Microsoft support: a `subscribedSku` that is not `Deleted` and that no
    /// `companySubscription` explains (the object id is its `skuId`); verified by reading
    /// `GET /v1.0/subscribedSkus`.
    RemoveUnexplainedSku,
    /// `POST https://management.azure.com/subscriptions/{id}/providers/Microsoft.Subscription/cancel?api-version=2021-10-01`
    /// (Azure Resource Manager): an Azure subscription the identity owns, without resource
    /// groups, when the spec says `azure_subscriptions: cancel`.
    CancelAzureSubscription,
    /// Manual: cancel an Azure subscription in the Azure portal (closeout may not, or ARM
    /// refuses: resource groups, no Owner).
    CancelAzureSubscriptionInPortal,
    /// Manual: delete a cancelled (`Disabled`) Azure subscription in the Azure portal, or
    /// wait until Microsoft deletes it; verified by reading ARM.
    DeleteAzureSubscription,
    /// Through the billing channel's API: turn a subscription's renewal off, so it ends
    /// with its term. Partner Center: `PATCH /v1/customers/{customer}/subscriptions/{id}`
    /// with `autoRenewEnabled: false`; Microsoft.Billing: `PATCH .../billingSubscriptions/{name}`
    /// `{"properties":{"autoRenew":"Off"}}`. The object id is Graph's companySubscription id.
    DisableAutoRenew,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 22] = {
        use ActionKind::*;
        [
            DisableDirectorySync,
            DeleteUser,
            PurgeUser,
            CancelSubscription,
            DeleteSubscription,
            DisableSecurityDefaults,
            DisableConditionalAccessPolicy,
            DisablePerUserMfa,
            DeleteServicePrincipal,
            DisableServicePrincipal,
            DeleteApplication,
            PurgeApplication,
            MoveUserToInitialDomain,
            SetDefaultDomain,
            DeleteDomain,
            DeleteTenant,
            DeleteSelfServiceProduct,
            RemoveUnexplainedSku,
            CancelAzureSubscription,
            CancelAzureSubscriptionInPortal,
            DeleteAzureSubscription,
            DisableAutoRenew,
        ]
    };

    /// The kind with this snake_case name ([`ActionKind::as_str`]), if any.
    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind of id its object has: a domain name (`set_default_domain`, `delete_domain`)
    /// or a directory object id, a GUID (every other kind: users, applications, service
    /// principals, policies, subscriptions, the tenant).
    pub fn object_id_is_domain(self) -> bool {
        matches!(
            self,
            ActionKind::SetDefaultDomain | ActionKind::DeleteDomain
        )
    }

    /// `true` when `id` is the canonical spelling of this kind's object id
    /// ([`crate::ident::is_domain`] or [`crate::ident::is_guid`]).
    pub fn is_canonical_id(self, id: &str) -> bool {
        if self.object_id_is_domain() {
            crate::ident::is_domain(id)
        } else {
            crate::ident::is_guid(id)
        }
    }

    /// The canonical spelling of `id` for this kind's objects, when it can be spelt so.
    pub fn canonical_id(self, id: &str) -> Option<String> {
        if self.object_id_is_domain() {
            crate::ident::canonical_domain(id)
        } else {
            crate::ident::canonical_guid(id)
        }
    }

    /// The step the kind belongs to.
    pub fn step(self) -> Step {
        use ActionKind::*;
        match self {
            DisableDirectorySync | DeleteUser | PurgeUser => Step::Users,
            CancelSubscription
            | CancelAzureSubscription
            | CancelAzureSubscriptionInPortal
            | DisableAutoRenew => Step::CancelSubscriptions,
            DeleteSubscription
            | DeleteSelfServiceProduct
            | RemoveUnexplainedSku
            | DeleteAzureSubscription => Step::DeleteSubscriptions,
            DisableSecurityDefaults | DisableConditionalAccessPolicy | DisablePerUserMfa => {
                Step::Mfa
            }
            DeleteServicePrincipal
            | DisableServicePrincipal
            | DeleteApplication
            | PurgeApplication
            | MoveUserToInitialDomain
            | SetDefaultDomain
            | DeleteDomain
            | DeleteTenant => Step::DeleteDirectory,
        }
    }

    /// No API performs it: a person does it, and apply verifies it by reading the tenant.
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            ActionKind::CancelSubscription
                | ActionKind::DeleteSubscription
                | ActionKind::DeleteTenant
                | ActionKind::DeleteSelfServiceProduct
                | ActionKind::RemoveUnexplainedSku
                | ActionKind::CancelAzureSubscriptionInPortal
                | ActionKind::DeleteAzureSubscription
        )
    }

    /// The snake_case name used in addresses and files.
    pub fn as_str(self) -> &'static str {
        use ActionKind::*;
        match self {
            DisableDirectorySync => "disable_directory_sync",
            DeleteUser => "delete_user",
            PurgeUser => "purge_user",
            CancelSubscription => "cancel_subscription",
            DeleteSubscription => "delete_subscription",
            DisableSecurityDefaults => "disable_security_defaults",
            DisableConditionalAccessPolicy => "disable_conditional_access_policy",
            DisablePerUserMfa => "disable_per_user_mfa",
            DeleteServicePrincipal => "delete_service_principal",
            DisableServicePrincipal => "disable_service_principal",
            DeleteApplication => "delete_application",
            PurgeApplication => "purge_application",
            MoveUserToInitialDomain => "move_user_to_initial_domain",
            SetDefaultDomain => "set_default_domain",
            DeleteDomain => "delete_domain",
            DeleteTenant => "delete_tenant",
            DeleteSelfServiceProduct => "delete_self_service_product",
            RemoveUnexplainedSku => "remove_unexplained_sku",
            CancelAzureSubscription => "cancel_azure_subscription",
            CancelAzureSubscriptionInPortal => "cancel_azure_subscription_in_portal",
            DeleteAzureSubscription => "delete_azure_subscription",
            DisableAutoRenew => "disable_auto_renew",
        }
    }

    /// A short verb phrase for people, e.g. `delete user`.
    pub fn describe(self) -> &'static str {
        use ActionKind::*;
        match self {
            DisableDirectorySync => "turn off directory synchronization",
            DeleteUser => "delete user",
            PurgeUser => "purge deleted user",
            CancelSubscription => "cancel subscription",
            DeleteSubscription => "delete subscription",
            DisableSecurityDefaults => "turn off security defaults",
            DisableConditionalAccessPolicy => "disable conditional access policy",
            DisablePerUserMfa => "disable per-user MFA",
            DeleteServicePrincipal => "delete service principal",
            DisableServicePrincipal => "disable service principal",
            DeleteApplication => "delete app registration",
            PurgeApplication => "purge deleted app registration",
            MoveUserToInitialDomain => "change sign-in name to the initial domain",
            SetDefaultDomain => "make the initial domain the default",
            DeleteDomain => "remove domain",
            DeleteTenant => "delete the tenant",
            DeleteSelfServiceProduct => "delete self-service sign-up product",
            RemoveUnexplainedSku => "have Microsoft support remove SKU without a subscription",
            CancelAzureSubscription => "cancel Azure subscription",
            CancelAzureSubscriptionInPortal => "cancel Azure subscription in the Azure portal",
            DeleteAzureSubscription => "delete Azure subscription",
            DisableAutoRenew => "turn off the subscription's renewal",
        }
    }

    /// [`ActionKind::symbol`] of an action that is (or is not) automated: a manual kind
    /// automated through a commerce API changes an object (`~`).
    pub fn symbol_when(self, automated: bool) -> char {
        match self.symbol() {
            '!' if automated => '~',
            '~' | '-' if !automated => '!',
            s => s,
        }
    }

    /// Terraform-like symbol for renderers: `-` destroy, `~` update, `!` manual.
    pub fn symbol(self) -> char {
        use ActionKind::*;
        match self {
            _ if self.is_manual() => '!',
            DeleteUser
            | PurgeUser
            | DeleteServicePrincipal
            | DeleteApplication
            | PurgeApplication
            | DeleteDomain => '-',
            _ => '~',
        }
    }
}

/// One planned action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique within the plan: `<kind>.<object id>`, e.g. `delete_user.5f0c…`.
    pub address: super::SharedText,
    pub kind: ActionKind,
    /// Object id the action touches (user, subscription, policy, domain name, tenant id).
    pub object_id: super::SharedText,
    /// A person's name for the object: userPrincipalName, display name, SKU, domain.
    pub name: super::SharedText,
    /// Why the closure needs this action (shared between the actions that give the same
    /// reason).
    pub reason: super::SharedText,
    /// The object's fields the decision depended on, with Graph's property names, as read
    /// when planning. Apply compares them with the live object (drift detection).
    #[serde(default)]
    pub before: super::Fields,
    /// The fields after the action (`{"deleted": true}` for deletions).
    #[serde(default)]
    pub after: super::Fields,
    /// Addresses of actions that must finish first, or `step:N` for every action of step N.
    /// (A thin vector: one word, and no allocation when empty, as most are.)
    #[serde(default)]
    pub depends_on: thin_vec::ThinVec<super::SharedText>,
    /// Things a reviewer must know (e.g. a privileged role, the 72-hour sync delay).
    #[serde(default)]
    pub warnings: thin_vec::ThinVec<String>,
    /// For manual actions: where and how a person does it.
    #[serde(default)]
    pub instructions: Option<String>,
    /// An API performs it (Graph, Partner Center, Microsoft.Billing); `false`: a person does
    /// it and apply verifies it by reading the tenant. Recorded per action, not implied by
    /// the kind: a `cancel_subscription` is automated when a commerce API can cancel it.
    #[serde(default)]
    pub automated: bool,
    /// For an action through a commerce API: the commerce object and what the plan read of
    /// it (`channel`, the subscription's commerce id, its window and renewal), and how it
    /// was matched to Graph's `companySubscription` (`matchedBy`). Empty otherwise.
    #[serde(default)]
    pub commerce: super::Fields,
}

impl Action {
    /// A person does it (see [`Action::automated`]).
    pub fn is_manual(&self) -> bool {
        !self.automated
    }

    /// The step of the action.
    pub fn step(&self) -> Step {
        self.kind.step()
    }

    /// Builds the address of an action on an object.
    pub fn address_of(kind: ActionKind, object_id: &str) -> String {
        format!("{}.{}", kind.as_str(), object_id)
    }
}
