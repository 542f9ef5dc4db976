//! Tenant-wide sign-in policies: `policies/identitySecurityDefaultsEnforcementPolicy` and
//! `identity/conditionalAccess/policies`. Their mutual exclusion is the store's rule; this
//! area must not touch other areas' objects except through [`crate::store::Store`] operations.
//!
//! Pages: <https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-update>,
//! <https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies>,
//! <https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update>.

use serde_json::{json, Value};

use super::common::{entity, json_body, list, only, run, select_only, Ctx, EntitySet};
use crate::error::GraphError;
use crate::store::Op;
use crate::wire::Outcome;

/// `policies/...`.
pub(crate) fn security_defaults(ctx: &Ctx) -> Outcome {
    match ctx.path().as_slice() {
        ["policies", "identitysecuritydefaultsenforcementpolicy"] => match ctx.method() {
            "GET" => {
                select_only(&ctx.q)?;
                let set = EntitySet::plain(
                    "policies/identitySecurityDefaultsEnforcementPolicy",
                    "identitySecurityDefaultsEnforcementPolicy",
                    false,
                );
                let mut policy = ctx
                    .store
                    .read(|t| t.security_defaults.clone())
                    .unwrap_or_else(|| {
                        json!({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": false})
                            .as_object()
                            .cloned()
                            .unwrap_or_default()
                    });
                policy
                    .entry("displayName")
                    .or_insert_with(|| Value::String("Security Defaults".into()));
                entity(ctx, &set, &policy)
            }
            "PATCH" => run(
                ctx.store,
                Op::PatchSecurityDefaults {
                    patch: json_body(ctx, "identitySecurityDefaultsEnforcementPolicy")?,
                },
            ),
            _ => Err(GraphError::method_not_allowed()),
        },
        _ => Err(ctx.unknown()),
    }
}

/// `identity/conditionalAccess/policies...`.
pub(crate) fn conditional_access(ctx: &Ctx) -> Outcome {
    match ctx.path().as_slice() {
        ["identity", "conditionalaccess", "policies"] => {
            only(ctx.method(), &["GET"])?;
            let set = EntitySet::plain(
                "identity/conditionalAccess/policies",
                "conditionalAccessPolicy",
                true,
            );
            ctx.store.read(|t| list(ctx, &set, &t.ca_policies))
        }
        ["identity", "conditionalaccess", "policies", _] => {
            let id = ctx.seg[3].clone();
            match ctx.method() {
                "GET" => {
                    select_only(&ctx.q)?;
                    let set = EntitySet::plain(
                        "identity/conditionalAccess/policies",
                        "conditionalAccessPolicy",
                        false,
                    );
                    ctx.store.read(|t| {
                        let p = t.ca_policies.get(&id).ok_or_else(|| {
                            GraphError::new(
                                404,
                                "ResourceNotFound",
                                format!("Policy '{id}' not found."),
                            )
                        })?;
                        entity(ctx, &set, p)
                    })
                }
                "PATCH" => run(
                    ctx.store,
                    Op::PatchConditionalAccessPolicy {
                        id,
                        patch: json_body(ctx, "conditionalAccessPolicy")?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(ctx.unknown()),
    }
}
