//! graph-sim's commerce side: Partner Center (CSP) and Microsoft.Billing (MCA), the two
//! services that can cancel a Microsoft 365 subscription or turn its renewal off. Owns the
//! snapshot sections `partnerCenter` and `billing` (their serde model, validation and the
//! relative windows resolved at load), the commerce state every mutation changes (through
//! the store's op log), and the rule that moves Graph's `companySubscription` after a
//! commerce cancellation. The HTTP shapes are in [`partner_center`] and [`billing`]; this
//! module must not know about sockets, and must not touch Graph objects other than through
//! the [`GraphMove`]s it hands the store.
//!
//! Facts used (each with its page):
//! - Partner Center cancels an NCE subscription by a PATCH of the whole resource with
//!   `status: deleted`, only within the window (`cancellationAllowedUntilDate`): "After this
//!   window has passed, subscriptions can no longer be canceled and the API will throw an
//!   error" (<https://learn.microsoft.com/partner-center/developer/cancel-an-azure-marketplace-subscription>).
//! - Microsoft.Billing cancels by `DELETE .../billingSubscriptions/{name}` answered 202 with
//!   `Location` and `Retry-After` (`x-ms-long-running-operation`, `final-state-via: location`;
//!   Azure/azure-rest-api-specs `specification/billing/.../stable/2024-04-01/billingSubscription.json`
//!   and `examples/billingSubscriptionsDelete.json`), only before
//!   `systemOverrides.cancellationAllowedEndDate`.
//! - After a cancellation the tenant's `companySubscription` leaves `Enabled`: it is disabled
//!   (`Suspended`) and later `Deleted`
//!   (<https://learn.microsoft.com/microsoft-365/commerce/subscriptions/what-if-my-subscription-expires>;
//!   <https://learn.microsoft.com/graph/api/resources/companysubscription> lists the statuses).
//!   When it moves is graph-sim's knob ([`crate::SimConfig::commerce_graph_delay_ms`]).

pub(crate) mod billing;
pub(crate) mod partner_center;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::GraphError;
use crate::snapshot::Object;

/// Milliseconds in a day (the unit of the snapshot's relative windows).
const DAY_MS: f64 = 86_400_000.0;

/// Now, Unix epoch milliseconds.
pub(crate) fn now_ms() -> u64 {
    crate::state::unix_ms()
}

/// `ms` (Unix epoch milliseconds) as RFC 3339 UTC with seconds, e.g. `2026-12-06T23:41:00Z`.
pub fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// An RFC 3339 date-time (or a bare `YYYY-MM-DD`, read as midnight UTC) as Unix epoch ms.
pub fn parse_date(s: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &format).ok()?;
    u64::try_from(d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000).ok()
}

/// `load_ms` shifted by `days` (may be negative or fractional), as RFC 3339.
fn shifted(load_ms: u64, days: f64) -> String {
    let at = load_ms as f64 + days * DAY_MS;
    rfc3339(at.max(0.0) as u64)
}

// ------------------------------------------------------------------------------------------
// Snapshot sections.

/// The snapshot section `partnerCenter`: what the CSP partner sees of this tenant (the
/// customer) through `GET /v1/customers/{customer-tenant-id}/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerCenterSection {
    /// The partner's own tenant: Partner Center accepts tokens whose `tid` is this tenant
    /// only (the partner signs in to its own tenant).
    pub partner_tenant_id: String,
    /// The customer's tenant id as Partner Center names it; default: `organization.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tenant_id: Option<String>,
    /// Application ids registered in Partner Center as the partner's admin agent apps; empty
    /// = any app of the partner's tenant. Others get 403.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_agent_app_ids: Vec<String>,
    /// The customer's subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<PartnerSubscription>,
}

/// One Partner Center subscription: the resource as Partner Center serialises it
/// (<https://learn.microsoft.com/partner-center/developer/subscription-resources>), plus
/// graph-sim's keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerSubscription {
    /// graph-sim: `cancellationAllowedUntilDate` = load time + this many days (negative: the
    /// window has passed). Resolved at load, then dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_window_ends_in_days: Option<f64>,
    /// graph-sim: `commitmentEndDate` = load time + this many days. Resolved at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_ends_in_days: Option<f64>,
    /// graph-sim: a PATCH of `autoRenewEnabled` answers 200 but leaves the flag unchanged
    /// (microsoft/Partner-Center-PowerShell#115: "does not change the AutoRenew field").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignores_auto_renew_change: bool,
    /// graph-sim: how many times the resource was changed (its etag derives from it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// The resource (`id`, `offerId`, `status`, `autoRenewEnabled`, ...).
    #[serde(flatten)]
    pub resource: Object,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The snapshot section `billing`: Microsoft.Billing's billing accounts (MCA) with their
/// profiles, billing role assignments and billing subscriptions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingSection {
    /// The billing accounts.
    #[serde(default)]
    pub accounts: Vec<BillingAccount>,
    /// Long-running operations (cancellations) started by `DELETE`; written by graph-sim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<BillingOperation>,
}

/// A billing account (`GET /providers/Microsoft.Billing/billingAccounts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingAccount {
    /// Its `name`, e.g. `00000000-...:11111111-..._2019-05-31`.
    pub name: String,
    /// `properties` as Microsoft.Billing serialises them; `agreementType`
    /// (default `MicrosoftCustomerAgreement`), `accountStatus` (`Active`), `accountType`
    /// (`Enterprise`), `displayName`, ...
    #[serde(default)]
    pub properties: Object,
    /// Billing roles at the account.
    #[serde(default)]
    pub role_assignments: Vec<BillingRoleAssignment>,
    /// Its billing profiles.
    #[serde(default)]
    pub billing_profiles: Vec<BillingProfile>,
    /// Its billing subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<BillingSubscription>,
}

/// A billing profile of an account, with its role assignments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingProfile {
    /// Its `name`.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Billing roles at the profile.
    #[serde(default)]
    pub role_assignments: Vec<BillingRoleAssignment>,
}

/// A billing role: `owner`, `contributor` or `reader` at the account or profile it is listed
/// under (<https://learn.microsoft.com/azure/cost-management-billing/manage/understand-mca-roles>:
/// owners and contributors may "cancel, turn off auto renewal"; readers may not).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingRoleAssignment {
    /// `owner`, `contributor` or `reader` (case-insensitive).
    pub role: String,
    /// The principal (token `oid`); default: graph-sim's simulated app.
    #[serde(default = "default_principal")]
    pub principal_id: String,
}

fn default_principal() -> String {
    crate::token::DEFAULT_APP_ID.to_string()
}

impl BillingRoleAssignment {
    fn is_for(&self, principal: Option<&str>) -> bool {
        principal.is_some_and(|p| self.principal_id.eq_ignore_ascii_case(p))
    }
    fn writes(&self) -> bool {
        matches!(
            self.role.to_ascii_lowercase().as_str(),
            "owner" | "contributor"
        )
    }
}

/// A billing subscription (`.../billingSubscriptions/{name}`, 2024-04-01).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingSubscription {
    /// Its `name` (a GUID). graph-sim's convention: Graph's `companySubscription` with this
    /// `commerceSubscriptionId` is the same subscription.
    pub name: String,
    /// The billing profile (by `name`) it is billed to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_profile: Option<String>,
    /// graph-sim: `systemOverrides.cancellationAllowedEndDate` = load time + days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_window_ends_in_days: Option<f64>,
    /// graph-sim: `termEndDate` = load time + days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_ends_in_days: Option<f64>,
    /// `properties` as Microsoft.Billing serialises them (`status`, `autoRenew`, `skuId`,
    /// `skuDescription`, `provisioningTenantId`, `beneficiaryTenantId`, `systemOverrides`,...).
    #[serde(default)]
    pub properties: Object,
}

/// One `DELETE` of a billing subscription, polled at its `Location`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingOperation {
    /// `cancelBillingSubscription_{name}:{guid}`.
    pub id: String,
    /// The billing account's name.
    pub account: String,
    /// The billing subscription's name.
    pub subscription: String,
    /// When the DELETE was accepted, Unix epoch ms.
    pub started_ms: u64,
    /// When it finished, Unix epoch ms; `None` while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<u64>,
}

// ------------------------------------------------------------------------------------------
// Validation (called by the snapshot loader; messages name the field).

const PC_STATUSES: &[&str] = &[
    "none",
    "active",
    "pending",
    "suspended",
    "expired",
    "disabled",
    "deleted",
];
const BILLING_STATUSES: &[&str] = &[
    "Other",
    "Unknown",
    "Active",
    "Disabled",
    "Deleted",
    "Warned",
    "Expiring",
    "Expired",
    "AutoRenew",
    "Cancelled",
    "Suspended",
    "Failed",
];

fn check_date(o: &Object, field: &str, what: &str) -> Result<(), String> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if parse_date(s).is_some() => Ok(()),
        Some(v) => Err(format!(
            "{what}.{field}: {v} is not an RFC 3339 date-time (e.g. 2026-12-08T10:00:00Z)"
        )),
    }
}

fn check_role(r: &BillingRoleAssignment, what: &str) -> Result<(), String> {
    if matches!(
        r.role.to_ascii_lowercase().as_str(),
        "owner" | "contributor" | "reader"
    ) {
        Ok(())
    } else {
        Err(format!(
            "{what}.role: {:?} is not one of owner, contributor, reader",
            r.role
        ))
    }
}

/// Checks the `partnerCenter` section; the error names the field, e.g.
/// `partnerCenter.subscriptions[1].status: "gone" is not one of ...`.
/// Returns the text to locate in the file with the message.
pub(crate) fn validate_partner_center(p: &PartnerCenterSection) -> Result<(), (String, String)> {
    let mut ids = HashMap::new();
    for (i, s) in p.subscriptions.iter().enumerate() {
        let what = format!("partnerCenter.subscriptions[{i}]");
        let Some(id) = s.resource.get("id").and_then(Value::as_str) else {
            return Err((
                "partnerCenter".into(),
                format!("{what}.id: missing (a string)"),
            ));
        };
        let loc = id.to_string();
        if let Some(first) = ids.insert(id.to_ascii_lowercase(), i) {
            return Err((
                loc,
                format!("{what}.id: duplicate id {id} (also subscriptions[{first}])"),
            ));
        }
        let status = s.resource.get("status").and_then(Value::as_str);
        if !status.is_some_and(|st| PC_STATUSES.contains(&st)) {
            return Err((
                loc,
                format!(
                    "{what}.status: {:?} is not one of {}",
                    status.unwrap_or(""),
                    PC_STATUSES.join(", ")
                ),
            ));
        }
        if !matches!(s.resource.get("autoRenewEnabled"), Some(Value::Bool(_))) {
            return Err((
                loc,
                format!("{what}.autoRenewEnabled: missing or not a boolean"),
            ));
        }
        if s.cancellation_window_ends_in_days.is_some()
            && s.resource.contains_key("cancellationAllowedUntilDate")
        {
            return Err((
                loc,
                format!("{what}: give cancellationWindowEndsInDays or cancellationAllowedUntilDate, not both"),
            ));
        }
        if s.commitment_ends_in_days.is_some() && s.resource.contains_key("commitmentEndDate") {
            return Err((
                loc,
                format!("{what}: give commitmentEndsInDays or commitmentEndDate, not both"),
            ));
        }
        for f in ["cancellationAllowedUntilDate", "commitmentEndDate"] {
            check_date(&s.resource, f, &what).map_err(|m| (loc.clone(), m))?;
        }
        for (f, v) in [
            (
                "cancellationWindowEndsInDays",
                s.cancellation_window_ends_in_days,
            ),
            ("commitmentEndsInDays", s.commitment_ends_in_days),
        ] {
            if v.is_some_and(|d| !d.is_finite() || d.abs() > 36_500.0) {
                return Err((
                    loc,
                    format!("{what}.{f}: must be a number of days within 100 years"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks the `billing` section; the error names the field, e.g.
/// `billing.accounts[0].subscriptions[2].properties.autoRenew: "Maybe" is not On or Off`.
pub(crate) fn validate_billing(b: &BillingSection) -> Result<(), (String, String)> {
    let mut names = HashMap::new();
    for (a, acct) in b.accounts.iter().enumerate() {
        let what = format!("billing.accounts[{a}]");
        if acct.name.trim().is_empty() {
            return Err(("billing".into(), format!("{what}.name: empty")));
        }
        if names.insert(acct.name.to_ascii_lowercase(), a).is_some() {
            return Err((
                acct.name.clone(),
                format!("{what}.name: duplicate {}", acct.name),
            ));
        }
        for (i, r) in acct.role_assignments.iter().enumerate() {
            check_role(r, &format!("{what}.roleAssignments[{i}]"))
                .map_err(|m| (acct.name.clone(), m))?;
        }
        let mut profiles = HashMap::new();
        for (p, prof) in acct.billing_profiles.iter().enumerate() {
            let pw = format!("{what}.billingProfiles[{p}]");
            if profiles.insert(prof.name.to_ascii_lowercase(), p).is_some() {
                return Err((
                    prof.name.clone(),
                    format!("{pw}.name: duplicate {}", prof.name),
                ));
            }
            for (i, r) in prof.role_assignments.iter().enumerate() {
                check_role(r, &format!("{pw}.roleAssignments[{i}]"))
                    .map_err(|m| (prof.name.clone(), m))?;
            }
        }
        let mut subs = HashMap::new();
        for (s, sub) in acct.subscriptions.iter().enumerate() {
            let sw = format!("{what}.subscriptions[{s}]");
            let loc = sub.name.clone();
            if sub.name.trim().is_empty() {
                return Err((acct.name.clone(), format!("{sw}.name: empty")));
            }
            if subs.insert(sub.name.to_ascii_lowercase(), s).is_some() {
                return Err((loc, format!("{sw}.name: duplicate {}", sub.name)));
            }
            if let Some(p) = &sub.billing_profile {
                if !profiles.contains_key(&p.to_ascii_lowercase()) {
                    return Err((
                        loc,
                        format!(
                            "{sw}.billingProfile: {p} is not a billing profile of {}",
                            acct.name
                        ),
                    ));
                }
            }
            let status = sub.properties.get("status").and_then(Value::as_str);
            if !status.is_some_and(|st| BILLING_STATUSES.contains(&st)) {
                return Err((
                    loc,
                    format!(
                        "{sw}.properties.status: {:?} is not one of {}",
                        status.unwrap_or(""),
                        BILLING_STATUSES.join(", ")
                    ),
                ));
            }
            match sub.properties.get("autoRenew").and_then(Value::as_str) {
                Some("On" | "Off") => {}
                other => {
                    return Err((
                        loc,
                        format!(
                            "{sw}.properties.autoRenew: {:?} is not On or Off",
                            other.unwrap_or("")
                        ),
                    ))
                }
            }
            let overrides = sub.properties.get("systemOverrides");
            if let Some(o) = overrides {
                let Some(o) = o.as_object() else {
                    return Err((
                        loc,
                        format!("{sw}.properties.systemOverrides: not a mapping"),
                    ));
                };
                check_date(
                    o,
                    "cancellationAllowedEndDate",
                    &format!("{sw}.properties.systemOverrides"),
                )
                .map_err(|m| (loc.clone(), m))?;
                if sub.cancellation_window_ends_in_days.is_some()
                    && o.contains_key("cancellationAllowedEndDate")
                {
                    return Err((
                        loc,
                        format!("{sw}: give cancellationWindowEndsInDays or systemOverrides.cancellationAllowedEndDate, not both"),
                    ));
                }
            }
            check_date(&sub.properties, "termEndDate", &format!("{sw}.properties"))
                .map_err(|m| (loc.clone(), m))?;
            for (f, v) in [
                (
                    "cancellationWindowEndsInDays",
                    sub.cancellation_window_ends_in_days,
                ),
                ("termEndsInDays", sub.term_ends_in_days),
            ] {
                if v.is_some_and(|d| !d.is_finite() || d.abs() > 36_500.0) {
                    return Err((
                        loc,
                        format!("{sw}.{f}: must be a number of days within 100 years"),
                    ));
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Runtime state.

/// How commerce behaves beyond its data (from [`crate::SimConfig`], already divided by the
/// time scale).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommerceConfig {
    /// After a cancellation, Graph's companySubscription turns `Suspended` after this long.
    pub graph_delay_ms: u64,
    /// ... and `Deleted` this long after that; `None` = stays `Suspended`.
    pub graph_deleted_after_ms: Option<u64>,
    /// Polls of an operation's `Location` answered 202 before it answers 200.
    pub operation_polls: u32,
    /// An operation also finishes this long after its DELETE; `None` = only by polls.
    pub operation_ms: Option<u64>,
    /// `Retry-After` of 202 answers, seconds (already scaled).
    pub retry_after_s: f64,
    /// Send `Retry-After` with millisecond precision.
    pub fractional_retry_after: bool,
}

impl Default for CommerceConfig {
    fn default() -> Self {
        CommerceConfig {
            graph_delay_ms: 0,
            graph_deleted_after_ms: None,
            operation_polls: 1,
            operation_ms: None,
            retry_after_s: 10.0,
            fractional_retry_after: false,
        }
    }
}

impl CommerceConfig {
    /// From the simulator's settings: Graph milliseconds divided by `time_scale`.
    pub(crate) fn from_sim(c: &crate::SimConfig) -> CommerceConfig {
        let scale = c.time_scale();
        let scaled = |ms: u64| (ms as f64 / scale) as u64;
        CommerceConfig {
            graph_delay_ms: scaled(c.commerce_graph_delay_ms),
            graph_deleted_after_ms: c.commerce_graph_deleted_after_ms.map(scaled),
            operation_polls: c.billing_operation_polls,
            operation_ms: c.billing_operation_ms.map(scaled),
            retry_after_s: c.billing_retry_after_s as f64 / scale,
            fractional_retry_after: c.fractional_retry_after,
        }
    }
}

/// A commerce cancellation Graph has still to show: the commerce id (Graph's
/// `commerceSubscriptionId`) and when it was cancelled.
#[derive(Debug, Clone, PartialEq)]
struct Cancellation {
    commerce_id: String,
    at_ms: u64,
    /// 0: nothing shown yet, 1: `Suspended` shown, 2: `Deleted` shown.
    stage: u8,
}

/// A status Graph's companySubscription with `commerceSubscriptionId` must now show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphMove {
    /// Graph's `commerceSubscriptionId`.
    pub commerce_id: String,
    /// `Suspended` or `Deleted`.
    pub status: &'static str,
}

/// The commerce state of one tenant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commerce {
    pub(crate) partner_center: Option<PartnerCenterSection>,
    pub(crate) billing: Option<BillingSection>,
    pub(crate) config: CommerceConfig,
    cancellations: Vec<Cancellation>,
    /// Polls answered per operation id (not persisted: a restarted simulator counts again).
    polls: HashMap<String, u32>,
}

impl Commerce {
    /// The sections of a snapshot, their relative windows resolved against `load_ms`.
    pub(crate) fn load(
        partner_center: Option<PartnerCenterSection>,
        billing: Option<BillingSection>,
        tenant_id: &str,
        load_ms: u64,
    ) -> Commerce {
        let mut partner_center = partner_center;
        if let Some(p) = partner_center.as_mut() {
            if p.customer_tenant_id.is_none() {
                p.customer_tenant_id = Some(tenant_id.to_string());
            }
            for s in &mut p.subscriptions {
                if let Some(d) = s.cancellation_window_ends_in_days.take() {
                    s.resource.insert(
                        "cancellationAllowedUntilDate".into(),
                        Value::String(shifted(load_ms, d)),
                    );
                }
                if let Some(d) = s.commitment_ends_in_days.take() {
                    s.resource.insert(
                        "commitmentEndDate".into(),
                        Value::String(shifted(load_ms, d)),
                    );
                }
                let attrs = s
                    .resource
                    .entry("attributes")
                    .or_insert_with(|| Value::Object(Object::new()));
                if let Some(a) = attrs.as_object_mut() {
                    a.entry("objectType")
                        .or_insert_with(|| Value::String("Subscription".into()));
                }
                partner_center::refresh_etag(s);
            }
        }
        let mut billing = billing;
        if let Some(b) = billing.as_mut() {
            for acct in &mut b.accounts {
                let props = &mut acct.properties;
                for (k, v) in [
                    ("agreementType", "MicrosoftCustomerAgreement"),
                    ("accountStatus", "Active"),
                    ("accountType", "Enterprise"),
                ] {
                    props
                        .entry(k)
                        .or_insert_with(|| Value::String(v.to_string()));
                }
                let acct_name = acct.name.clone();
                for sub in &mut acct.subscriptions {
                    if let Some(d) = sub.cancellation_window_ends_in_days.take() {
                        let o = sub
                            .properties
                            .entry("systemOverrides")
                            .or_insert_with(|| Value::Object(Object::new()));
                        if let Some(o) = o.as_object_mut() {
                            o.insert(
                                "cancellationAllowedEndDate".into(),
                                Value::String(shifted(load_ms, d)),
                            );
                            o.entry("cancellation")
                                .or_insert_with(|| Value::String("Allowed".into()));
                        }
                    }
                    if let Some(d) = sub.term_ends_in_days.take() {
                        sub.properties
                            .insert("termEndDate".into(), Value::String(shifted(load_ms, d)));
                    }
                    if let Some(p) = &sub.billing_profile {
                        sub.properties.insert(
                            "billingProfileId".into(),
                            Value::String(format!(
                                "/providers/Microsoft.Billing/billingAccounts/{acct_name}/billingProfiles/{p}"
                            )),
                        );
                    }
                }
            }
        }
        let mut c = Commerce {
            partner_center,
            billing,
            ..Commerce::default()
        };
        // Operations finished in an exported state still owe Graph its move.
        if let Some(b) = &c.billing {
            for op in &b.operations {
                if let Some(done) = op.done_ms {
                    c.cancellations.push(Cancellation {
                        commerce_id: op.subscription.clone(),
                        at_ms: done,
                        stage: 0,
                    });
                }
            }
        }
        c
    }

    /// Records a cancellation Graph must show later ([`Commerce::settle`]).
    pub(crate) fn cancelled(&mut self, commerce_id: &str, at_ms: u64) {
        self.cancellations.push(Cancellation {
            commerce_id: commerce_id.to_string(),
            at_ms,
            stage: 0,
        });
    }

    /// Brings time-driven state up to `now_ms`: operations that ran out their time finish,
    /// and cancellations whose delay has passed move Graph. Returns the moves to apply.
    pub(crate) fn settle(&mut self, now_ms: u64) -> Vec<GraphMove> {
        if let (Some(limit), Some(b)) = (self.config.operation_ms, self.billing.as_mut()) {
            let mut finished = Vec::new();
            for op in b.operations.iter_mut().filter(|o| o.done_ms.is_none()) {
                let due = op.started_ms.saturating_add(limit);
                if now_ms >= due {
                    finished.push((op.id.clone(), due));
                }
            }
            for (id, due) in finished {
                // Cannot fail: the operation exists and is running.
                let _ = self.finish_operation(&id, due);
            }
        }
        let delay = self.config.graph_delay_ms;
        let deleted_after = self.config.graph_deleted_after_ms;
        let mut moves = Vec::new();
        for c in &mut self.cancellations {
            let suspended_at = c.at_ms.saturating_add(delay);
            if c.stage < 1 && now_ms >= suspended_at {
                c.stage = 1;
                moves.push(GraphMove {
                    commerce_id: c.commerce_id.clone(),
                    status: "Suspended",
                });
            }
            if let Some(after) = deleted_after {
                if c.stage < 2 && now_ms >= suspended_at.saturating_add(after) {
                    c.stage = 2;
                    moves.push(GraphMove {
                        commerce_id: c.commerce_id.clone(),
                        status: "Deleted",
                    });
                }
            }
        }
        moves
    }

    /// Counts one poll of operation `id`; `true` when it has been polled enough to finish.
    pub(crate) fn poll(&mut self, id: &str) -> bool {
        let n = self.polls.entry(id.to_string()).or_insert(0);
        *n += 1;
        *n > self.config.operation_polls
    }

    /// Finishes a running operation: the billing subscription is `Cancelled`, its renewal
    /// off, and Graph will follow.
    pub(crate) fn finish_operation(&mut self, id: &str, at_ms: u64) -> Result<(), GraphError> {
        let b = self
            .billing
            .as_mut()
            .ok_or_else(|| billing::not_found_operation(id))?;
        let op = b
            .operations
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(|| billing::not_found_operation(id))?;
        if op.done_ms.is_some() {
            return Ok(());
        }
        op.done_ms = Some(at_ms);
        let (account, name) = (op.account.clone(), op.subscription.clone());
        if let Some(sub) = b
            .accounts
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(&account))
            .and_then(|a| {
                a.subscriptions
                    .iter_mut()
                    .find(|s| s.name.eq_ignore_ascii_case(&name))
            })
        {
            sub.properties
                .insert("status".into(), Value::String("Cancelled".into()));
            sub.properties
                .insert("autoRenew".into(), Value::String("Off".into()));
            sub.properties
                .insert("operationStatus".into(), Value::String("None".into()));
        }
        self.cancelled(&name, at_ms);
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Requests.

/// One commerce request as the server hands it over.
pub(crate) struct CommerceRequest<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The path (percent-encoded), e.g. `/v1/customers/{id}/subscriptions`.
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    /// Request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: &'a [u8],
    /// `http://127.0.0.1:PORT` as the client addressed us (for `Location`).
    pub origin: String,
}

impl CommerceRequest<'_> {
    /// A header's value (`name` lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bearer token, if any.
    pub(crate) fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// A query parameter's raw value (`$` may be sent as `%24`).
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query?
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .find(|(k, _)| {
                k.eq_ignore_ascii_case(name) || k.replace("%24", "$").eq_ignore_ascii_case(name)
            })
            .map(|(_, v)| v)
    }
}

/// Which commerce service a path belongs to, if any: Partner Center (`/v1/customers/...`) or
/// Microsoft.Billing (`/providers/Microsoft.Billing/...`).
pub(crate) fn service_of(path: &str) -> Option<Service> {
    let low = path.to_ascii_lowercase();
    if low.starts_with("/v1/customers/") || low == "/v1/customers" {
        Some(Service::PartnerCenter)
    } else if low.starts_with("/providers/microsoft.billing/") {
        Some(Service::Billing)
    } else {
        None
    }
}

/// A commerce service graph-sim plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// Partner Center REST.
    PartnerCenter,
    /// Microsoft.Billing under Azure Resource Manager.
    Billing,
}

/// Answers one commerce request; the response carries the service's own request-id headers.
pub(crate) fn handle(
    store: &crate::store::Store,
    service: Service,
    r: &CommerceRequest<'_>,
) -> crate::wire::GraphResponse {
    match service {
        Service::PartnerCenter => partner_center::handle(store, r),
        Service::Billing => billing::handle(store, r),
    }
}
