//! Licences, read-only: `directory/subscriptions` (companySubscription) and `subscribedSkus`.
//! Must not write anything: their lifecycle moves only through the portal operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/directory-list-subscriptions>,
//! <https://learn.microsoft.com/graph/api/subscribedsku-list>.

use super::common::{entity, list, only, select_only, Ctx, EntitySet};
use crate::error::GraphError;
use crate::snapshot::str_prop;
use crate::wire::Outcome;

/// `directory/subscriptions...`.
pub(crate) fn company_subscriptions(ctx: &Ctx) -> Outcome {
    let set = EntitySet::plain("directory/subscriptions", "companySubscription", false);
    only(ctx.method(), &["GET"])?;
    match ctx.path().as_slice() {
        ["directory", "subscriptions"] => ctx.store.read(|t| list(ctx, &set, &t.subscriptions)),
        ["directory", "subscriptions", _] => {
            select_only(&ctx.q)?;
            let id = &ctx.seg[2];
            ctx.store.read(|t| {
                // Addressable by id or by commerceSubscriptionId.
                let o = t.subscriptions.get(id).or_else(|| {
                    t.subscriptions
                        .iter()
                        .find(|s| str_prop(s, "commerceSubscriptionId") == Some(id.as_str()))
                });
                entity(ctx, &set, o.ok_or_else(|| GraphError::not_found(id))?)
            })
        }
        _ => Err(ctx.unknown()),
    }
}

/// `subscribedSkus...`.
pub(crate) fn subscribed_skus(ctx: &Ctx) -> Outcome {
    let set = EntitySet::plain("subscribedSkus", "subscribedSku", false);
    only(ctx.method(), &["GET"])?;
    match ctx.path().as_slice() {
        ["subscribedskus"] => ctx.store.read(|t| list(ctx, &set, &t.subscribed_skus)),
        ["subscribedskus", _] => {
            select_only(&ctx.q)?;
            ctx.store.read(|t| {
                let o = t
                    .subscribed_skus
                    .get(&ctx.seg[1])
                    .ok_or_else(|| GraphError::not_found(&ctx.seg[1]))?;
                entity(ctx, &set, o)
            })
        }
        _ => Err(ctx.unknown()),
    }
}
