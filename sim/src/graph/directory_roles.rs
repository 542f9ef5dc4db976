//! Activated directory roles and their members: `directoryRoles`, `directoryRoles/{id}`,
//! `directoryRoles/{id}/members`. Read-only: must not change roles or their members.
//!
//! Pages: <https://learn.microsoft.com/graph/api/directoryrole-list>,
//! <https://learn.microsoft.com/graph/api/directoryrole-list-members>.

use super::common::{entity, list, only, select_only, Ctx, EntitySet};
use crate::collection::Collection;
use crate::error::GraphError;
use crate::snapshot::{object_id, DirectoryRole};
use crate::store::Tenant;
use crate::wire::Outcome;

fn find<'t>(t: &'t Tenant, key: &str) -> Result<&'t DirectoryRole, GraphError> {
    t.directory_roles
        .iter()
        .find(|r| object_id(&r.object) == Some(key))
        .ok_or_else(|| GraphError::not_found(key))
}

/// `directoryRoles...`.
pub(crate) fn handle(ctx: &Ctx) -> Outcome {
    only(ctx.method(), &["GET"])?;
    let set = EntitySet::plain("directoryRoles", "directoryRole", false);
    match ctx.path().as_slice() {
        ["directoryroles"] => ctx.store.read(|t| {
            let c = Collection::from_objects(
                t.directory_roles.iter().map(|r| r.object.clone()).collect(),
            );
            list(ctx, &set, &c)
        }),
        ["directoryroles", _] => {
            select_only(&ctx.q)?;
            ctx.store
                .read(|t| entity(ctx, &set, &find(t, &ctx.seg[1])?.object))
        }
        ["directoryroles", _, "members"] => {
            let set = EntitySet {
                context: "directoryObjects",
                ty: "user",
                odata_type: Some("#microsoft.graph.user"),
                queryable: false,
            };
            ctx.store.read(|t| {
                let r = find(t, &ctx.seg[1])?;
                let members = Collection::from_objects(
                    r.members
                        .iter()
                        .filter_map(|id| t.users.get(id).cloned())
                        .collect(),
                );
                list(ctx, &set, &members)
            })
        }
        _ => Err(ctx.unknown()),
    }
}
