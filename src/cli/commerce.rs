//! Connecting to the billing channel's API for `plan` and `apply`: which service root,
//! which credential (the CSP partner's own for Partner Center, closeout's for
//! Microsoft.Billing), and the simulator's when `--simulate`. Decides nothing about plans.

use std::sync::Arc;

use super::args::TargetArgs;
use super::connect::Connection;
use crate::commerce::{
    partner_center::PARTNER_CENTER_URL, BillingClient, Commerce, PartnerCenterClient,
};
use crate::planner::BillingChannel;
use crate::protocol::auth::TokenProvider;

/// The audience graph-sim accepts on its Partner Center routes.
pub const SIM_PARTNER_CENTER_AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

fn core_options(target: &TargetArgs) -> crate::protocol::CoreOptions {
    crate::protocol::CoreOptions {
        deadline: Some(target.protocol.deadline),
        ..crate::protocol::CoreOptions::default()
    }
}

/// The client of `channel` for the tenant `tenant_id` (Partner Center's customer) and the
/// billing account `account` (MCA; `None` = discovered). `Err` with the reason when it
/// cannot be set up (no partner credential, a bad URL): `plan` shows it as a "not
/// checked" line, `apply` leaves the commerce actions pending with it.
pub fn commerce_for(
    conn: &Connection,
    target: &TargetArgs,
    channel: BillingChannel,
    tenant_id: &str,
    account: Option<String>,
) -> Result<Option<Commerce>, String> {
    let sim = conn.sim_url();
    match channel {
        BillingChannel::Manual => Ok(None),
        BillingChannel::PartnerCenter => {
            let url = target
                .partner_center_url
                .clone()
                .or_else(|| sim.clone())
                .unwrap_or_else(|| PARTNER_CENTER_URL.to_string());
            let tokens: Arc<dyn TokenProvider> = if sim.is_some() {
                crate::commerce::partner_center_token(&simulated_partner_token(
                    &simulated_partner_tenant(target, tenant_id),
                ))
            } else {
                let env = |k: &str| std::env::var(k).ok();
                crate::commerce::partner_tokens(target.auth.auth, target.auth.cloud, &env)
                    .map_err(|e| e.to_string())?
            };
            PartnerCenterClient::new(&url, tokens, core_options(target), tenant_id)
                .map(|c| Some(Commerce::PartnerCenter(c)))
                .map_err(|e| e.to_string())
        }
        BillingChannel::Mca => {
            let url = target
                .arm_url
                .clone()
                .or_else(|| sim.clone())
                .unwrap_or_else(|| target.auth.cloud.arm_url().to_string());
            BillingClient::new(&url, conn.tokens.clone(), core_options(target))
                .map(|client| Some(Commerce::Mca { client, account }))
                .map_err(|e| e.to_string())
        }
    }
}

/// The partner's token a rehearsal signs Partner Center requests with (the simulated
/// partner is the default app of graph-sim).
fn simulated_partner_token(tenant_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            tenant_id: tenant_id.to_string(),
            lifetime_s: 30 * 24 * 3600,
            audience: SIM_PARTNER_CENTER_AUDIENCE.to_string(),
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// The simulated partner's tenant (Partner Center accepts the partner's own tokens only):
/// `CLOSEOUT_PARTNER_TENANT_ID`, else the snapshot's `partnerCenter.partnerTenantId`, else
/// the customer's.
fn simulated_partner_tenant(target: &TargetArgs, customer: &str) -> String {
    if let Some(t) = std::env::var(crate::commerce::ENV_PARTNER_TENANT_ID)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return t.trim().to_string();
    }
    target
        .simulate
        .as_deref()
        .and_then(|p| crate::input::read_text(p, crate::input::FileKind::Snapshot).ok())
        .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(&text).ok())
        .and_then(|v| {
            v.get("partnerCenter")?
                .get("partnerTenantId")?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| customer.to_string())
}
