//! The tenant as closeout understands it: Graph entities read into typed values.
//! Pure data: no I/O, no URLs, no knowledge of plans. Property names follow Graph's v1.0
//! schema (`sim/schema/v1.0-Prod.csdl.gz`); properties closeout does not use
//! are not kept.

mod azure;
mod commerce;
mod entities;
mod self_service;
pub mod usage;

pub use commerce::{CommerceRead, CommerceSubscription};

pub use azure::{AzureRead, AzureState, AzureSubscription};

pub use entities::*;
pub use self_service::{is_self_service, self_service_sku, SelfServiceSku, SELF_SERVICE_SKUS};

use std::collections::BTreeMap;

/// Role template id of the Global Administrator directory role.
/// <https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference#global-administrator>
pub const GLOBAL_ADMINISTRATOR_TEMPLATE_ID: &str = "62e90394-69f5-4237-9190-012177145e10";

/// `appOwnerOrganizationId` of Microsoft's own (first-party) applications.
pub const MICROSOFT_FIRST_PARTY_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Role template ids of the directory roles Microsoft marks as privileged; deleting a user
/// holding one needs a privileged role on the caller, not only `User.DeleteRestore.All`.
/// <https://learn.microsoft.com/en-us/graph/api/user-delete>
pub const PRIVILEGED_ROLE_TEMPLATE_IDS: &[&str] = &[
    GLOBAL_ADMINISTRATOR_TEMPLATE_ID,
    "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", // Privileged Authentication Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
    "c4e39bd9-1100-46d3-8c65-fb160da0071f", // Authentication Administrator
    "729827e3-9c14-49f7-bb1b-9608f156bbb8", // Helpdesk Administrator
    "966707d0-3269-4727-9be2-8c3a10f19b9d", // Password Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", // Conditional Access Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
];

/// Everything closeout reads from a tenant, as of one refresh.
///
/// Collections are kept sorted by object id so that two reads of the same tenant compare
/// equal whatever order Graph's pages arrived in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantState {
    pub organization: Organization,
    pub users: Vec<User>,
    /// `GET /v1.0/directory/deletedItems/microsoft.graph.user`: the recycle bin.
    pub deleted_users: Vec<User>,
    pub directory_roles: Vec<DirectoryRole>,
    pub subscriptions: Vec<CompanySubscription>,
    pub subscribed_skus: Vec<SubscribedSku>,
    pub security_defaults: SecurityDefaults,
    pub conditional_access_policies: Vec<ConditionalAccessPolicy>,
    /// `perUserMfaState` by user id; users absent from the map are `disabled`.
    pub per_user_mfa: BTreeMap<String, PerUserMfaState>,
    pub applications: Vec<Application>,
    pub deleted_applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub domains: Vec<Domain>,
    /// Azure subscriptions, read through Azure Resource Manager (not Graph).
    pub azure: AzureState,
    /// The billing channel's view of the subscriptions (Partner Center, Microsoft.Billing).
    pub commerce: CommerceRead,
}

impl TenantState {
    /// Sorts every collection by object id (and role members), making the value canonical.
    pub fn normalize(&mut self) {
        self.users.sort_by(|a, b| a.id.cmp(&b.id));
        self.deleted_users.sort_by(|a, b| a.id.cmp(&b.id));
        self.directory_roles.sort_by(|a, b| a.id.cmp(&b.id));
        for role in &mut self.directory_roles {
            role.members.sort();
            role.members.dedup();
        }
        self.subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        self.subscribed_skus.sort_by(|a, b| a.id.cmp(&b.id));
        self.conditional_access_policies
            .sort_by(|a, b| a.id.cmp(&b.id));
        self.applications.sort_by(|a, b| a.id.cmp(&b.id));
        self.deleted_applications.sort_by(|a, b| a.id.cmp(&b.id));
        self.service_principals.sort_by(|a, b| a.id.cmp(&b.id));
        self.domains.sort_by(|a, b| a.id.cmp(&b.id));
        self.azure
            .subscriptions
            .sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
        self.organization
            .verified_domains
            .sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The initial `*.onmicrosoft.com` domain, which can never be removed.
    pub fn initial_domain(&self) -> Option<&str> {
        self.organization
            .verified_domains
            .iter()
            .find(|d| d.is_initial)
            .map(|d| d.name.as_str())
            .or_else(|| {
                self.domains
                    .iter()
                    .find(|d| d.is_initial)
                    .map(|d| d.id.as_str())
            })
    }

    /// Ids of the users holding the Global Administrator role.
    pub fn global_administrators(&self) -> Vec<&str> {
        self.role_members(GLOBAL_ADMINISTRATOR_TEMPLATE_ID)
    }

    /// Ids of the members of the activated role with this template id.
    pub fn role_members(&self, template_id: &str) -> Vec<&str> {
        self.directory_roles
            .iter()
            .filter(|r| r.role_template_id.eq_ignore_ascii_case(template_id))
            .flat_map(|r| r.members.iter().map(String::as_str))
            .collect()
    }

    /// Display names of the directory roles a user holds, sorted.
    pub fn roles_of(&self, user_id: &str) -> Vec<&DirectoryRole> {
        let mut roles: Vec<&DirectoryRole> = self
            .directory_roles
            .iter()
            .filter(|r| r.members.iter().any(|m| m == user_id))
            .collect();
        roles.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        roles
    }

    /// The active user with this object id, by binary search (the state must be
    /// [normalized](TenantState::normalize); ids as Graph spells them).
    pub fn user(&self, id: &str) -> Option<&User> {
        by_id(&self.users, id, |u| u.id.as_str())
    }

    /// The user in the recycle bin with this object id (binary search, like [`TenantState::user`]).
    pub fn deleted_user(&self, id: &str) -> Option<&User> {
        by_id(&self.deleted_users, id, |u| u.id.as_str())
    }

    /// Finds an active user by object id or by userPrincipalName (case-insensitive).
    pub fn find_user(&self, id_or_upn: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(id_or_upn)
                || crate::ident::same_upn(&u.user_principal_name, id_or_upn)
        })
    }

    /// Finds a kept user: like [`TenantState::find_user`], and when a userPrincipalName's
    /// domain no longer belongs to the tenant, a Global Administrator with the same name on
    /// the initial domain (closeout moves the kept administrator there before it removes a
    /// custom domain).
    pub fn find_kept_user(&self, id_or_upn: &str) -> Option<&User> {
        if let Some(u) = self.find_user(id_or_upn) {
            return Some(u);
        }
        let (local, domain) = id_or_upn.rsplit_once('@')?;
        let domain_gone = !self
            .domains
            .iter()
            .any(|d| d.id.eq_ignore_ascii_case(domain));
        let initial = self.initial_domain()?;
        if domain_gone && !domain.eq_ignore_ascii_case(initial) {
            // Only a Global Administrator: the one closeout moved so it could remove the
            // domain. Anyone else is more likely a typo, which must not keep a stranger.
            return self
                .find_user(&format!("{local}@{initial}"))
                .filter(|u| self.global_administrators().contains(&u.id.as_str()));
        }
        None
    }

    /// The per-user MFA state of a user (`disabled` when Graph has no entry).
    pub fn per_user_mfa_of(&self, user_id: &str) -> PerUserMfaState {
        self.per_user_mfa
            .get(user_id)
            .copied()
            .unwrap_or(PerUserMfaState::Disabled)
    }
}

/// Binary search in a collection sorted by id; falls back to a case-insensitive scan only
/// when the exact id is absent and the collection holds ids of another case.
fn by_id<'a, T>(items: &'a [T], id: &str, key: impl Fn(&T) -> &str) -> Option<&'a T> {
    match items.binary_search_by(|x| key(x).cmp(id)) {
        Ok(i) => Some(&items[i]),
        Err(_) if id.bytes().any(|b| b.is_ascii_uppercase()) => {
            items.iter().find(|x| key(x).eq_ignore_ascii_case(id))
        }
        Err(_) => None,
    }
}
