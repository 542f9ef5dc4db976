//! What each action may change in the tenant, declared once: the objects and fields an
//! action of each [`ActionKind`] changes, and to what. Apply's drift check reads these
//! declarations to tell a plan's own (possibly partial, possibly unjournaled) progress from
//! drift; nothing else may encode "this action also changes that object".
//! Pure data: no HTTP, no tenant state.

use serde_json::{json, Value};

use super::{Action, ActionKind};

/// Which objects an [`Effect`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The object with this id (compared case-insensitively).
    Id(String),
    /// Every object of the view (e.g. every user, every domain).
    Any,
}

/// What an effect does to a field of an object, as the drift check reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The field may now hold `value`.
    Set { field: String, value: Value },
    /// The field may now hold any value (one Graph chooses, e.g. `deletedDateTime`).
    SetAny { field: String },
    /// The object may no longer be where the view looks for it.
    Gone,
}

/// One effect of an action: in the view of actions of kind `view` (the fields
/// [`crate::planner::object_fields`] extracts for that kind), the objects `scope` may
/// show `change`.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub view: ActionKind,
    pub scope: Scope,
    pub change: Change,
}

impl Effect {
    fn set(view: ActionKind, scope: Scope, field: &str, value: Value) -> Effect {
        Effect {
            view,
            scope,
            change: Change::Set {
                field: field.to_string(),
                value,
            },
        }
    }

    fn any(view: ActionKind, scope: Scope, field: &str) -> Effect {
        Effect {
            view,
            scope,
            change: Change::SetAny {
                field: field.to_string(),
            },
        }
    }

    fn gone(view: ActionKind, scope: Scope) -> Effect {
        Effect {
            view,
            scope,
            change: Change::Gone,
        }
    }

    /// `true` when the effect applies to the object `id` seen by actions of kind `view`.
    pub fn applies_to(&self, view: ActionKind, id: &str) -> bool {
        self.view == view
            && match &self.scope {
                Scope::Any => true,
                Scope::Id(x) => x.eq_ignore_ascii_case(id),
            }
    }
}

/// The pseudo-fields of `after` that mean "the object is gone from its view".
const GONE_FIELDS: [(&str, bool); 3] = [("deleted", true), ("purged", true), ("exists", false)];

impl Action {
    /// Everything this action may change, on its own object and on others (shapes: see
    /// [`Effect`]). Its own object's target comes from `after` (`{"deleted": true}`,
    /// `{"purged": true}` and `{"exists": false}` mean gone); the effects on other objects,
    /// and on other views of the same object, are declared per kind here.
    pub fn effects(&self) -> Vec<Effect> {
        use ActionKind as K;
        let me = || Scope::Id(self.object_id.to_string());
        let mut out = Vec::new();
        for (k, v) in &self.after {
            let gone = GONE_FIELDS
                .iter()
                .any(|(f, b)| k == *f && v.as_bool() == Some(*b));
            out.push(if gone {
                Effect::gone(self.kind, me())
            } else {
                Effect::set(self.kind, me(), k, v.clone())
            });
        }
        match self.kind {
            // Turning directory sync off turns every synced user into a cloud user.
            K::DisableDirectorySync => out.push(Effect::set(
                K::DeleteUser,
                Scope::Any,
                "onPremisesSyncEnabled",
                json!(false),
            )),
            // A deleted user moves to the recycle bin (deletedItems), with a date Graph sets
            // (and a prefixed userPrincipalName, which no view compares). It also leaves
            // its directory role memberships; no action records another user's roles, so
            // that needs no declaration (`directoryRoles` in a user's view is its own).
            K::DeleteUser => {
                out.push(Effect::set(K::PurgeUser, me(), "deleted", json!(true)));
                out.push(Effect::any(K::PurgeUser, me(), "deletedDateTime"));
            }
            K::PurgeUser => out.push(Effect::gone(K::DeleteUser, me())),
            // The lifecycle of a subscription: both manual actions see its status, and
            // Microsoft reschedules its next lifecycle date.
            K::CancelSubscription | K::DeleteSubscription => {
                let status = if self.kind == K::CancelSubscription {
                    "Suspended"
                } else {
                    "Deleted"
                };
                for view in [K::CancelSubscription, K::DeleteSubscription, K::DisableAutoRenew] {
                    out.push(Effect::set(view, me(), "status", json!(status)));
                    out.push(Effect::any(view, me(), "nextLifecycleDateTime"));
                    if self.kind == K::DeleteSubscription {
                        out.push(Effect::gone(view, me()));
                    }
                }
            }
            // Renewal off changes nothing Graph shows: the subscription stays active until
            // its term ends.
            K::DisableAutoRenew => {}
            K::DeleteServicePrincipal => out.push(Effect::gone(K::DisableServicePrincipal, me())),
            K::DisableServicePrincipal => out.push(Effect::set(
                K::DeleteServicePrincipal,
                me(),
                "accountEnabled",
                json!(false),
            )),
            K::DeleteApplication => {
                out.push(Effect::set(K::PurgeApplication, me(), "deleted", json!(true)))
            }
            K::PurgeApplication => out.push(Effect::gone(K::DeleteApplication, me())),
            // The new sign-in name, as every view of the user shows it.
            K::MoveUserToInitialDomain => {
                if let Some(upn) = self.after.get("userPrincipalName") {
                    out.push(Effect::set(
                        K::DeleteUser,
                        me(),
                        "userPrincipalName",
                        upn.clone(),
                    ));
                }
            }
            // A new default domain: every other domain's isDefault turns false.
            K::SetDefaultDomain => out.push(Effect::set(
                K::DeleteDomain,
                Scope::Any,
                "isDefault",
                json!(false),
            )),
            // Deleted in the Entra admin center: Deleted at once, then gone from the list.
            K::DeleteSelfServiceProduct => {
                out.push(Effect::any(self.kind, me(), "nextLifecycleDateTime"));
                out.push(Effect::gone(self.kind, me()));
            }
            // Removed by Microsoft support: Deleted, or no longer listed.
            K::RemoveUnexplainedSku => out.push(Effect::gone(self.kind, me())),
            // An Azure subscription's lifecycle: every view of it sees its state. A person
            // cancelling in the portal may first delete its resource groups; a deleted
            // one leaves ARM's list.
            K::CancelAzureSubscription
            | K::CancelAzureSubscriptionInPortal
            | K::DeleteAzureSubscription => {
                let state = if self.kind == K::DeleteAzureSubscription {
                    "Deleted"
                } else {
                    "Disabled"
                };
                for view in [
                    K::CancelAzureSubscription,
                    K::CancelAzureSubscriptionInPortal,
                    K::DeleteAzureSubscription,
                ] {
                    out.push(Effect::set(view, me(), "state", json!(state)));
                    out.push(Effect::any(view, me(), "resourceGroups"));
                    if self.kind == K::DeleteAzureSubscription {
                        out.push(Effect::gone(view, me()));
                    }
                }
            }
            K::DisableSecurityDefaults
            | K::DisableConditionalAccessPolicy
            | K::DisablePerUserMfa
            | K::DeleteDomain
            // The tenant's deletion ends every read (apply recognizes the missing tenant).
            | K::DeleteTenant => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, id: &str, after: &[(&str, Value)]) -> Action {
        Action {
            address: crate::plan::SharedText::own(&Action::address_of(kind, id)),
            kind,
            object_id: id.into(),
            name: id.into(),
            reason: Default::default(),
            before: Default::default(),
            after: after
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            depends_on: Default::default(),
            warnings: Default::default(),
            instructions: None,
            automated: !kind.is_manual(),
            commerce: Default::default(),
        }
    }

    #[test]
    fn own_target_comes_from_after_and_deletion_means_gone() {
        let a = action(ActionKind::DeleteUser, "u1", &[("deleted", json!(true))]);
        let e = a.effects();
        assert!(e.contains(&Effect::gone(
            ActionKind::DeleteUser,
            Scope::Id("u1".into())
        )));
        assert!(e.iter().any(|x| x.applies_to(ActionKind::PurgeUser, "U1")));
        let d = action(
            ActionKind::SetDefaultDomain,
            "t.onmicrosoft.com",
            &[("isDefault", json!(true))],
        );
        assert!(d
            .effects()
            .iter()
            .any(|x| x.applies_to(ActionKind::DeleteDomain, "contoso.com")));
    }
}
