//! App registrations and service principals: `applications`, `applications/{id}`,
//! `servicePrincipals`, `servicePrincipals/{id}`. Deleting an application also deletes its
//! home-tenant service principal (the store's rule). Must not touch other areas' objects
//! except through [`crate::store::Store`] operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/application-delete>,
//! <https://learn.microsoft.com/graph/api/serviceprincipal-delete>,
//! <https://learn.microsoft.com/graph/api/serviceprincipal-update>.

use super::common::{count, entity, json_body, list, only, run, select_only, Ctx, EntitySet};
use crate::collection::Collection;
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

/// The id the calling app's own service principal answers to (`servicePrincipals(appId=
/// '<the token's appid>')`): graph-sim's snapshot does not hold it.
pub(crate) const CALLER: &str = "00000000-0000-0000-0000-0000000ca11e";

/// `servicePrincipals/{id}/memberOf`: the directory roles the service principal holds. For
/// the calling app they are the token's `wids`, so reading them through Graph gives the same
/// answer as the claim (<https://learn.microsoft.com/graph/api/serviceprincipal-list-memberof>);
/// the snapshot's service principals hold none (role members are users).
fn member_of(ctx: &Ctx, id: &str) -> Outcome {
    only(ctx.method(), &["GET"])?;
    let set = EntitySet {
        context: "directoryObjects",
        ty: "directoryRole",
        odata_type: Some("#microsoft.graph.directoryRole"),
        queryable: false,
    };
    ctx.store.read(|t| {
        let roles: Vec<crate::snapshot::Object> = if id == CALLER {
            ctx.req
                .grants
                .wids
                .iter()
                .map(|w| {
                    let activated = t.directory_roles.iter().find(|r| {
                        crate::snapshot::str_prop(&r.object, "roleTemplateId")
                            .is_some_and(|x| x.eq_ignore_ascii_case(w))
                    });
                    match activated {
                        Some(r) => r.object.clone(),
                        None => {
                            let name = crate::token::ROLE_TEMPLATES
                                .iter()
                                .find(|(_, t)| t.eq_ignore_ascii_case(w))
                                .map_or("Directory role", |(n, _)| n);
                            serde_json::json!({"id": w, "displayName": name, "roleTemplateId": w})
                                .as_object()
                                .cloned()
                                .unwrap_or_default()
                        }
                    }
                })
                .collect()
        } else if t.service_principals.contains(id) {
            Vec::new()
        } else {
            return Err(GraphError::not_found(id));
        };
        list(ctx, &set, &Collection::from_objects(roles))
    })
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
        ["serviceprincipals", _, "memberof"] => member_of(ctx, &ctx.seg[1]),
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
