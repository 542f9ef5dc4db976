//! App registrations and service principals: `applications`, `applications/{id}`,
//! `servicePrincipals`, `servicePrincipals/{id}`. Deleting an application also deletes its
//! home-tenant service principal (the store's rule).
//!
//! Pages: <https://learn.microsoft.com/graph/api/application-delete>,
//! <https://learn.microsoft.com/graph/api/serviceprincipal-delete>,
//! <https://learn.microsoft.com/graph/api/serviceprincipal-update>.

use super::common::{count, entity, json_body, list, only, run, select_only, Ctx, EntitySet};
use crate::error::GraphError;
use crate::store::{Op, Store};
use crate::wire::Outcome;

/// `applications...`.
pub(crate) fn applications(ctx: &Ctx) -> Outcome {
    match ctx.path().as_slice() {
        ["applications"] => {
            only(ctx.method(), &["GET"])?;
            let set = EntitySet::plain("applications", "application", true);
            ctx.store.read(|t| list(ctx, &set, &t.applications))
        }
        ["applications", "$count"] => ctx.store.read(|t| {
            count(
                ctx,
                &EntitySet::plain("applications", "application", true),
                &t.applications,
            )
        }),
        ["applications", _] => {
            let id = ctx.seg[1].clone();
            match ctx.method() {
                "GET" => {
                    select_only(&ctx.q)?;
                    let set = EntitySet::plain("applications", "application", false);
                    ctx.store.read(|t| {
                        let o = t
                            .applications
                            .get(&id)
                            .ok_or_else(|| GraphError::not_found(&id))?;
                        entity(ctx, &set, o)
                    })
                }
                "DELETE" => run(
                    ctx.store,
                    Op::DeleteApplication {
                        id,
                        at: Store::now(),
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(ctx.unknown()),
    }
}

/// `servicePrincipals...`.
pub(crate) fn service_principals(ctx: &Ctx) -> Outcome {
    match ctx.path().as_slice() {
        ["serviceprincipals"] => {
            only(ctx.method(), &["GET"])?;
            let set = EntitySet::plain("servicePrincipals", "servicePrincipal", true);
            ctx.store.read(|t| list(ctx, &set, &t.service_principals))
        }
        ["serviceprincipals", "$count"] => ctx.store.read(|t| {
            count(
                ctx,
                &EntitySet::plain("servicePrincipals", "servicePrincipal", true),
                &t.service_principals,
            )
        }),
        ["serviceprincipals", _] => {
            let id = ctx.seg[1].clone();
            match ctx.method() {
                "GET" => {
                    select_only(&ctx.q)?;
                    let set = EntitySet::plain("servicePrincipals", "servicePrincipal", false);
                    ctx.store.read(|t| {
                        let o = t
                            .service_principals
                            .get(&id)
                            .ok_or_else(|| GraphError::not_found(&id))?;
                        entity(ctx, &set, o)
                    })
                }
                "DELETE" => run(
                    ctx.store,
                    Op::DeleteServicePrincipal {
                        id,
                        at: Store::now(),
                    },
                ),
                "PATCH" => run(
                    ctx.store,
                    Op::PatchServicePrincipal {
                        id,
                        patch: json_body(ctx, "servicePrincipal")?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(ctx.unknown()),
    }
}
