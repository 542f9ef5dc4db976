//! The closure spec: the declared target of a closure (which users stay, what happens to
//! the recycle bin and to applications).

/// What to do with app registrations and service principals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApplicationPolicy {
    /// Delete app registrations and the tenant's own service principals; disable
    /// Microsoft first-party ones (they cannot be deleted). The tenant can then be deleted.
    #[default]
    Delete,
    /// Leave applications alone (the pre-flight checklist will still report them).
    Keep,
}

/// Which manual actions to plan. An operator who only empties a tenant (and lets someone
/// else delete it) turns `delete_tenant` off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualActions {
    pub cancel_subscriptions: bool,
    pub delete_subscriptions: bool,
    pub delete_tenant: bool,
}

impl Default for ManualActions {
    fn default() -> Self {
        ManualActions {
            cancel_subscriptions: true,
            delete_subscriptions: true,
            delete_tenant: true,
        }
    }
}

/// How the tenant's subscriptions were bought, and so which API (if any) cancels them or
/// turns their renewal off (the closure spec's `billing:` mapping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingChannel {
    /// No API: a person cancels in the Microsoft 365 admin center (direct, MOSA purchases).
    #[default]
    Manual,
    /// A CSP partner's Partner Center (`https://api.partnercenter.microsoft.com`).
    PartnerCenter,
    /// A Microsoft Customer Agreement billing account (Microsoft.Billing under ARM).
    Mca,
}

impl BillingChannel {
    /// The spec's and plan file's name: `manual`, `partner_center`, `mca`.
    pub fn as_str(self) -> &'static str {
        match self {
            BillingChannel::Manual => "manual",
            BillingChannel::PartnerCenter => "partner_center",
            BillingChannel::Mca => "mca",
        }
    }

    /// The channel named `s` ([`BillingChannel::as_str`]).
    pub fn from_name(s: &str) -> Option<BillingChannel> {
        [
            BillingChannel::Manual,
            BillingChannel::PartnerCenter,
            BillingChannel::Mca,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// The closure spec's `billing:` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Billing {
    pub channel: BillingChannel,
    /// Partner Center: the customer's tenant id (the tenant being closed), a GUID.
    pub customer_tenant_id: Option<String>,
    /// MCA: the billing account's `name`; `None` = discovered through
    /// `GET /providers/Microsoft.Billing/billingAccounts`.
    pub billing_account: Option<String>,
    /// Also cancel inside each subscription's cancellation window (default `false`: only
    /// turn renewal off).
    pub cancel: bool,
}

/// The closure target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureSpec {
    /// Users that remain: userPrincipalName (case-insensitive) or object id. At least one
    /// must be a Global Administrator.
    pub keep: Vec<String>,
    /// Purge deleted users and applications from the recycle bin (default `true`).
    pub purge_recycle_bin: bool,
    pub applications: ApplicationPolicy,
    pub manual_actions: ManualActions,
    /// `data: {backup_confirmed: true}`: the administrator declares the mailboxes, OneDrive
    /// and SharePoint data are backed up (or not needed); recorded in the plan's `data`
    /// section, it lets apply delete users without asking (default `false`).
    pub backup_confirmed: bool,
    /// `azure_subscriptions`: manual (default), cancel, or none (declared).
    pub azure_subscriptions: crate::plan::AzurePolicy,
    /// The billing channel (step 2's automation); `manual` by default.
    pub billing: Billing,
}

impl Default for ClosureSpec {
    fn default() -> Self {
        ClosureSpec {
            keep: Vec::new(),
            purge_recycle_bin: true,
            applications: ApplicationPolicy::Delete,
            manual_actions: ManualActions::default(),
            backup_confirmed: false,
            azure_subscriptions: crate::plan::AzurePolicy::Manual,
            billing: Billing::default(),
        }
    }
}

impl ClosureSpec {
    /// The options of this spec as recorded in a plan.
    pub fn target(&self) -> crate::plan::Target {
        crate::plan::Target {
            purge_recycle_bin: self.purge_recycle_bin,
            delete_applications: self.applications == ApplicationPolicy::Delete,
            cancel_subscriptions: self.manual_actions.cancel_subscriptions,
            delete_subscriptions: self.manual_actions.delete_subscriptions,
            delete_tenant: self.manual_actions.delete_tenant,
            azure_subscriptions: self.azure_subscriptions,
            billing: self.billing.channel,
            cancel_in_window: self.billing.cancel,
        }
    }

    /// The spec a plan was made with: its kept users (by object id) and its target.
    pub fn of_plan(plan: &crate::plan::Plan) -> ClosureSpec {
        let t = plan.target;
        ClosureSpec {
            keep: plan.keep.iter().map(|k| k.id.clone()).collect(),
            purge_recycle_bin: t.purge_recycle_bin,
            applications: if t.delete_applications {
                ApplicationPolicy::Delete
            } else {
                ApplicationPolicy::Keep
            },
            manual_actions: ManualActions {
                cancel_subscriptions: t.cancel_subscriptions,
                delete_subscriptions: t.delete_subscriptions,
                delete_tenant: t.delete_tenant,
            },
            backup_confirmed: plan.data.as_ref().is_some_and(|d| d.backup_confirmed),
            azure_subscriptions: t.azure_subscriptions,
            billing: Billing {
                channel: t.billing,
                cancel: t.cancel_in_window,
                ..Billing::default()
            },
        }
    }
}
