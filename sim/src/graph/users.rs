//! Users and the directory recycle bin: `users`, `users/{id|userPrincipalName}`, beta
//! `users/{id}/authentication/requirements` (per-user MFA), `directory/deletedItems`.
//! Must not touch other areas' objects except through [`Store`] operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/user-list>,
//! <https://learn.microsoft.com/graph/api/user-delete>,
//! <https://learn.microsoft.com/graph/api/directory-deleteditems-list>.

use serde_json::{json, Value};

use super::common::{
    context_url, count, entity, json_body, list, only, run, select_only, Ctx, EntitySet,
};
use crate::collection::Collection;
use crate::error::GraphError;
use crate::schema::hand::USER_SINGLE_ONLY;
use crate::snapshot::str_prop;
use crate::store::{Op, Store};
use crate::wire::{GraphResponse, Outcome};

const USERS: EntitySet = EntitySet {
    context: "users",
    ty: "user",
    odata_type: None,
    queryable: true,
};

/// `users...`.
pub(crate) fn handle(ctx: &Ctx) -> Outcome {
    let m = ctx.method();
    let store = ctx.store;
    match ctx.path().as_slice() {
        ["users"] => {
            only(m, &["GET"])?;
            single_only(ctx)?;
            sign_in_activity(ctx)?;
            store.read(|t| list(ctx, &USERS, &t.users))
        }
        ["users", "$count"] => store.read(|t| count(ctx, &USERS, &t.users)),
        ["users", _] => {
            let key = ctx.seg[1].clone();
            match m {
                "GET" => {
                    select_only(&ctx.q)?;
                    sign_in_activity(ctx)?;
                    store.read(|t| {
                        let id = t
                            .resolve_user(&key)
                            .ok_or_else(|| GraphError::not_found(&key))?;
                        let u = t
                            .users
                            .get(&id)
                            .ok_or_else(|| GraphError::not_found(&key))?;
                        entity(ctx, &USERS, u)
                    })
                }
                "DELETE" => {
                    // Deleting a holder of a privileged role needs a privileged role on the
                    // app too (the token's `wids`).
                    let roles: Vec<String> = store.read(|t| {
                        let Some(id) = t.resolve_user(&key) else {
                            return Vec::new();
                        };
                        t.directory_roles
                            .iter()
                            .filter(|r| r.members.contains(&id))
                            .filter_map(|r| {
                                str_prop(&r.object, "roleTemplateId").map(str::to_string)
                            })
                            .collect()
                    });
                    crate::permissions::check_delete_user(&ctx.req.grants, &roles)?;
                    run(
                        store,
                        Op::DeleteUser {
                            id: key,
                            at: Store::now(),
                        },
                    )
                }
                "PATCH" => run(
                    store,
                    Op::PatchUser {
                        id: key,
                        patch: json_body(ctx, "user")?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["users", _, "authentication", "requirements"] if ctx.beta() => {
            per_user_mfa(ctx, ctx.seg[1].clone())
        }
        _ => Err(ctx.unknown()),
    }
}

/// `$select` of a property Graph serves only for a single user (`aboutMe`, `mailboxSettings`,
/// ... [`USER_SINGLE_ONLY`]) on the `/users` collection: 501 Not Implemented, as
/// <https://learn.microsoft.com/graph/api/user-list> ("Response") documents.
fn single_only(ctx: &Ctx) -> Result<(), GraphError> {
    let Some(select) = &ctx.q.select else {
        return Ok(());
    };
    match select
        .iter()
        .find(|p| USER_SINGLE_ONLY.iter().any(|s| s.eq_ignore_ascii_case(p)))
    {
        Some(p) => Err(GraphError::new(
            501,
            "NotImplemented",
            format!(
                "The property '{p}' can only be read for a single user, not in a user collection."
            ),
        )),
        None => Ok(()),
    }
}

/// `$select=signInActivity` without `AuditLog.Read.All`: 403, as Graph answers. "Details
/// for the signInActivity property require an Azure AD Premium P1/P2 license and the
/// AuditLog.Read.All permission" (<https://learn.microsoft.com/graph/api/user-list>,
/// example "Get users including their last sign-in time").
fn sign_in_activity(ctx: &Ctx) -> Result<(), GraphError> {
    let selected = ctx
        .q
        .select
        .as_ref()
        .is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case("signInActivity")));
    if selected && !ctx.req.grants.has_any(&["AuditLog.Read.All"]) {
        return Err(crate::permissions::denied());
    }
    Ok(())
}

/// Beta `users/{id}/authentication/requirements`: guests 404; no entry = `disabled`.
fn per_user_mfa(ctx: &Ctx, key: String) -> Outcome {
    let store = ctx.store;
    match ctx.method() {
        "GET" => store.read(|t| {
            // `$select` names are checked like any other entity's.
            select_only(&ctx.q)?;
            crate::query::resolve(&ctx.q, "strongAuthenticationRequirements")?;
            let id = t
                .resolve_user(&key)
                .ok_or_else(|| GraphError::not_found(&key))?;
            let u = t.users.get(&id).ok_or_else(|| GraphError::not_found(&key))?;
            if str_prop(u, "userType") == Some("Guest") {
                return Err(GraphError::not_found(&key));
            }
            let state = t
                .per_user_mfa
                .get(&id)
                .and_then(|e| str_prop(e, "perUserMfaState"))
                .unwrap_or("disabled");
            Ok(GraphResponse::ok(json!({
                "@odata.context": context_url("beta", &format!("users('{id}')/authentication/requirements/$entity")),
                "perUserMfaState": state,
            })))
        }),
        "PATCH" => {
            let body = json_body(ctx, "strongAuthenticationRequirements")?;
            let state = body
                .get("perUserMfaState")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("perUserMfaState is required."))?;
            run(
                store,
                Op::PatchPerUserMfa {
                    id: key,
                    state: state.to_string(),
                },
            )
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

/// `directory/deletedItems...`.
pub(crate) fn deleted_items(ctx: &Ctx) -> Outcome {
    let m = ctx.method();
    let store = ctx.store;
    match ctx.path().as_slice() {
        ["directory", "deleteditems"] => {
            only(m, &["GET"])?;
            Err(GraphError::unsupported_query(
                "Searches against this resource are not supported. Only specific instances can be queried.",
            ))
        }
        // The official SDKs send the `graph.` alias of the namespace
        // (`deletedItems/graph.user`); both spellings are the same cast.
        ["directory", "deleteditems", cast]
            if cast.starts_with("microsoft.graph.") || cast.starts_with("graph.") =>
        {
            only(m, &["GET"])?;
            let kind = ctx.seg[2].rsplit('.').next().unwrap_or_default();
            store.read(|t| {
                let (context, ty, c) = match kind.to_ascii_lowercase().as_str() {
                    "user" => (
                        "directory/deletedItems/microsoft.graph.user",
                        "user",
                        &t.deleted_users,
                    ),
                    "application" => (
                        "directory/deletedItems/microsoft.graph.application",
                        "application",
                        &t.deleted_applications,
                    ),
                    "serviceprincipal" => (
                        "directory/deletedItems/microsoft.graph.servicePrincipal",
                        "servicePrincipal",
                        &t.deleted_service_principals,
                    ),
                    "group" | "administrativeunit" => {
                        // Groups are not modelled: the recycle bin holds none. Their
                        // properties are validated as directoryObject's.
                        let set = EntitySet::plain(
                            "directory/deletedItems/microsoft.graph.group",
                            "directoryObject",
                            true,
                        );
                        return list(ctx, &set, &Collection::default());
                    }
                    _ => {
                        return Err(GraphError::new(
                            400,
                            "BadRequest",
                            format!("Unsupported cast '{}' for deletedItems.", ctx.seg[2]),
                        ))
                    }
                };
                list(ctx, &EntitySet::plain(context, ty, true), c)
            })
        }
        ["directory", "deleteditems", _] => {
            let id = ctx.seg[2].clone();
            match m {
                "GET" => {
                    select_only(&ctx.q)?;
                    store.read(|t| {
                        let found = [
                            (&t.deleted_users, "user", "#microsoft.graph.user"),
                            (
                                &t.deleted_applications,
                                "application",
                                "#microsoft.graph.application",
                            ),
                            (
                                &t.deleted_service_principals,
                                "servicePrincipal",
                                "#microsoft.graph.servicePrincipal",
                            ),
                        ]
                        .into_iter()
                        .find_map(|(c, ty, odata)| c.get(&id).map(|o| (o, ty, odata)));
                        let (o, ty, odata) = found.ok_or_else(|| GraphError::not_found(&id))?;
                        let set = EntitySet {
                            context: "directory/deletedItems",
                            ty,
                            odata_type: Some(odata),
                            queryable: false,
                        };
                        entity(ctx, &set, o)
                    })
                }
                "DELETE" => run(store, Op::PurgeDeletedItem { id }),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        // <https://learn.microsoft.com/graph/api/directory-deleteditems-restore>: 200 with
        // the restored directoryObject.
        ["directory", "deleteditems", _, "restore"] => {
            only(m, &["POST"])?;
            let id = ctx.seg[2].clone();
            let kind = store
                .read(|t| t.deleted_kind(&id))
                .ok_or_else(|| GraphError::not_found(&id))?;
            let needs: &[&str] = if kind == "user" {
                &["User.DeleteRestore.All", "User.ReadWrite.All"]
            } else {
                &["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"]
            };
            if !ctx.req.grants.has_any(needs) {
                return Err(crate::permissions::denied());
            }
            run(store, Op::RestoreDeletedItem { id: id.clone() })?;
            store.read(|t| {
                let (c, odata) = match kind {
                    "user" => (&t.users, "#microsoft.graph.user"),
                    "application" => (&t.applications, "#microsoft.graph.application"),
                    _ => (&t.service_principals, "#microsoft.graph.servicePrincipal"),
                };
                let o = c.get(&id).ok_or_else(|| GraphError::not_found(&id))?;
                let mut body = Value::Object(o.clone());
                body["@odata.context"] = json!(context_url("v1.0", "directoryObjects/$entity"));
                body["@odata.type"] = json!(odata);
                Ok(GraphResponse::ok(body))
            })
        }
        _ => Err(ctx.unknown()),
    }
}
