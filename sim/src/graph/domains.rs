//! Domains: `domains`, `domains/{name}` (GET, PATCH `isDefault`, DELETE with the store's
//! dependency checks). Must not touch other areas' objects except through
//! [`crate::store::Store`] operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/domain-list>,
//! <https://learn.microsoft.com/graph/api/domain-delete>,
//! <https://learn.microsoft.com/graph/api/domain-update>.

use super::common::{entity, json_body, list, only, run, select_only, Ctx, EntitySet};
use crate::error::GraphError;
use crate::store::{Op, Tenant};
use crate::wire::Outcome;

/// `domains...`.
pub(crate) fn handle(ctx: &Ctx) -> Outcome {
    let set = EntitySet::plain("domains", "domain", false);
    match ctx.path().as_slice() {
        ["domains"] => {
            only(ctx.method(), &["GET"])?;
            ctx.store.read(|t| list(ctx, &set, &t.domains))
        }
        ["domains", _] => {
            let name = ctx.seg[1].clone();
            match ctx.method() {
                "GET" => {
                    select_only(&ctx.q)?;
                    ctx.store.read(|t: &Tenant| {
                        let key = t
                            .domain_key(&name)
                            .ok_or_else(|| GraphError::not_found(&name))?;
                        let o = t
                            .domains
                            .get(&key)
                            .ok_or_else(|| GraphError::not_found(&name))?;
                        entity(ctx, &set, o)
                    })
                }
                "DELETE" => run(ctx.store, Op::DeleteDomain { id: name }),
                "PATCH" => run(
                    ctx.store,
                    Op::PatchDomain {
                        id: name,
                        patch: json_body(ctx, "domain")?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(ctx.unknown()),
    }
}
