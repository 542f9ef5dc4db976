//! What the billing channel's API (Partner Center or Microsoft.Billing) says about the
//! tenant's subscriptions, as of one read. Pure data: no I/O, no URLs, no knowledge of
//! plans. Field names follow each API's own terms.

/// The commerce read of a tenant, when the closure spec names a billing channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CommerceRead {
    /// No channel (`billing: {channel: manual}`) or step 2 off: nothing to read.
    #[default]
    None,
    /// The channel's API could not be read (no credential, refused, unreachable): the
    /// reason, shown as a "not checked" checklist line. Nothing falls back silently.
    NotRead { channel: String, reason: String },
    /// What the API listed for the tenant.
    Read {
        /// `partner_center` or `mca`.
        channel: String,
        /// Partner Center: the customer tenant id; MCA: the billing account `name`.
        account: String,
        subscriptions: Vec<CommerceSubscription>,
    },
}

/// One subscription as the commerce API shows it.
///
/// Partner Center: <https://learn.microsoft.com/en-us/partner-center/developer/subscription-resources>;
/// Microsoft.Billing: `BillingSubscriptionProperties` of
/// <https://learn.microsoft.com/en-us/rest/api/billing/billing-subscriptions/get>.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommerceSubscription {
    /// Partner Center: the subscription `id` (Graph's `commerceSubscriptionId`); MCA: the
    /// billingSubscription `name`.
    pub id: String,
    /// The product's name: Partner Center `offerName`/`friendlyName`, MCA `displayName`.
    pub display_name: String,
    /// MCA `skuId`; Partner Center has none (its `offerId` is `product:sku:availability`).
    pub sku_id: Option<String>,
    /// As the API spells it: Partner Center `active`/`suspended`/`deleted`/..., MCA
    /// `Active`/`Cancelled`/`Deleted`/...
    pub status: String,
    /// Partner Center `autoRenewEnabled`; MCA `autoRenew == "On"`.
    pub auto_renew: Option<bool>,
    /// The end of the cancellation window (RFC 3339): Partner Center
    /// `cancellationAllowedUntilDate`, MCA `systemOverrides.cancellationAllowedEndDate`;
    /// `None` when the API says it cannot be cancelled.
    pub cancel_until: Option<String>,
    /// The end of the term (Partner Center `commitmentEndDate`, MCA `termEndDate`).
    pub term_end: Option<String>,
    /// MCA's "Microsoft Entra ID Free": every MCA account carries it and it cannot be
    /// cancelled; expected, never a blocker.
    pub expected_free: bool,
}

impl CommerceSubscription {
    /// Still billed: not cancelled, deleted, expired or disabled.
    pub fn is_active(&self) -> bool {
        !matches!(
            self.status.to_ascii_lowercase().as_str(),
            "deleted" | "cancelled" | "canceled" | "expired" | "disabled"
        )
    }
}
