//! The tenant's `organization` object: list, get by id, PATCH (beta turns directory sync off).
//! Must not touch other areas' objects except through [`crate::store::Store`] operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/organization-get>,
//! <https://learn.microsoft.com/graph/api/organization-update>.

use super::common::{entity, json_body, list, only, run, select_only, Ctx, EntitySet};
use crate::collection::Collection;
use crate::error::GraphError;
use crate::snapshot::object_id;
use crate::store::Op;
use crate::wire::Outcome;

/// `organization...`.
pub(crate) fn handle(ctx: &Ctx) -> Outcome {
    let m = ctx.method();
    let store = ctx.store;
    let set = EntitySet::plain("organization", "organization", false);
    match ctx.path().as_slice() {
        ["organization"] => {
            only(m, &["GET"])?;
            let org = store.read(|t| t.organization.clone());
            list(ctx, &set, &Collection::from_objects(vec![org]))
        }
        ["organization", id] => {
            let org = store.read(|t| t.organization.clone());
            if object_id(&org) != Some(ctx.seg[1].as_str()) {
                return Err(GraphError::not_found(id));
            }
            match m {
                "GET" => {
                    select_only(&ctx.q)?;
                    entity(ctx, &set, &org)
                }
                "PATCH" => run(
                    store,
                    Op::PatchOrganization {
                        patch: json_body(ctx, "organization")?,
                        beta: ctx.beta(),
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(ctx.unknown()),
    }
}
