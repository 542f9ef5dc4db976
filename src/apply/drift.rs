//! Drift: compares a saved plan with the tenant as read now, before apply changes anything.
//! Pure: no HTTP, no files, no printing.
//!
//! Every action's object is read with the planner's own field extraction
//! ([`crate::planner::object_fields`]) and compared with the fields the plan recorded
//! (`before`) and their target (`after`). What the plan's own actions may have changed
//! (an interrupted earlier run, whose outcomes may never have reached the journal) comes
//! from one place, [`Action::effects`]; this module has no per-kind exceptions for it:
//!
//! - every field as planned, or as one of the plan's actions may have set it (a user in
//!   the recycle bin before its purge, a domain no longer default) -> [`LiveState::ToDo`];
//! - already in the target state (done by an earlier, interrupted run, or by a person) ->
//!   [`LiveState::Done`], recorded without a call;
//! - anything else -> [`Drift`].
//!
//! Objects that appeared or changed since planning are found by planning again on the live
//! state with the plan's kept users: an action the fresh plan has and the saved plan lacks
//! is drift. `tests/scenarios/own_effects.rs` proves the class: no subset of a plan's own
//! effects is ever drift.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::model::TenantState;
use crate::plan::{Action, ActionKind, Change, Effect, Fields, Plan, Scope};
use crate::planner::{self, object_fields, ClosureSpec};

/// Where an action stands on the live tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// The object is as planned (or on its planned way): the action runs.
    ToDo,
    /// The object is already in the target state: recorded as done without a call.
    Done,
    /// The object changed: the plan is stale.
    Drifted,
}

/// Why an object counts as drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum DriftReason {
    /// The object's fields differ from the plan's `before` and are not its `after`.
    Changed,
    /// The object the action needs is gone.
    Gone,
    /// The object appeared or changed since planning and now needs an action the plan
    /// does not have.
    NotInPlan,
    /// Planning again on the live tenant fails (e.g. a kept user is gone).
    Unplannable(String),
}

/// One drifted object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// The action address (saved plan's, or the fresh plan's for [`DriftReason::NotInPlan`]).
    pub address: String,
    pub action: ActionKind,
    /// Object id and a person's name for it (userPrincipalName, display name, ...).
    pub object_id: String,
    pub name: String,
    pub reason: DriftReason,
    /// The fields the plan recorded (empty when the plan has no action on the object).
    pub planned: Fields,
    /// The fields as read now (empty when the object is gone).
    pub live: Fields,
}

/// The result of a drift check: one [`LiveState`] per plan action (plan order) and the
/// drifted objects.
#[derive(Debug, Clone, Default)]
pub struct DriftCheck {
    pub states: Vec<LiveState>,
    pub drift: Vec<Drift>,
}

impl DriftCheck {
    /// `true` when the plan may be applied.
    pub fn is_clean(&self) -> bool {
        self.drift.is_empty()
    }
}

/// Two field values are the same: strings compared case-insensitively (userPrincipalNames
/// and domain names are; Unicode-aware, through [`crate::ident::same_upn`]).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => crate::ident::same_upn(a, b),
        (a, b) => a == b,
    }
}

/// Where the declared effects of a plan's actions ([`Action::effects`]) apply: an index
/// from each object (view and id) to the actions with an effect on it, the effects
/// themselves computed again when an object is classified. Memory grows with the plan's
/// actions by a few words each (one entry per action and object, no copy of an effect,
/// id or address).
struct Effects<'p> {
    plan: &'p Plan,
    /// `(hash of view and lower-case id, action index)`, sorted: the actions with an
    /// effect on that object (a hash collision only costs a look at one more action).
    by_object: Vec<(u64, u32)>,
    /// Actions with an effect on every object of a view.
    by_view: HashMap<ActionKind, Vec<u32>>,
}

/// A fixed hash of a view and an object id compared case-insensitively (ASCII).
fn object_key(view: ActionKind, id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    view.hash(&mut h);
    for b in id.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

impl<'p> Effects<'p> {
    fn of(plan: &'p Plan) -> Effects<'p> {
        let mut by_object = Vec::with_capacity(plan.actions.len() * 2);
        let mut by_view: HashMap<ActionKind, Vec<u32>> = HashMap::new();
        for (i, a) in plan.actions.iter().enumerate() {
            let i = i as u32;
            for x in a.effects() {
                match &x.scope {
                    Scope::Id(id) => by_object.push((object_key(x.view, id), i)),
                    Scope::Any => by_view.entry(x.view).or_default().push(i),
                }
            }
        }
        by_object.sort_unstable();
        by_object.dedup();
        by_object.shrink_to_fit();
        for v in by_view.values_mut() {
            v.dedup();
        }
        Effects {
            plan,
            by_object,
            by_view,
        }
    }

    /// The effects on `a`'s object in `a`'s view, each with the action that has it.
    fn on(&self, a: &Action) -> Vec<(Effect, &'p Action)> {
        let key = object_key(a.kind, &a.object_id);
        let from = self.by_object.partition_point(|(k, _)| *k < key);
        let ids = self.by_object[from..]
            .iter()
            .take_while(|(k, _)| *k == key)
            .map(|(_, i)| *i);
        let any = self.by_view.get(&a.kind).into_iter().flatten().copied();
        let mut out = Vec::new();
        for i in ids.chain(any) {
            let by = &self.plan.actions[i as usize];
            for e in by.effects() {
                if e.applies_to(a.kind, &a.object_id) {
                    out.push((e, by));
                }
            }
        }
        out
    }
}

/// What the plan's actions may have done to one object ([`Effects::on`]).
struct On<'p> {
    effects: Vec<(Effect, &'p Action)>,
}

impl On<'_> {
    /// `true` when an action that runs after `a` (it depends on `a`) may have set `field`
    /// of `a`'s object to `v`: it went further than `a`'s target (a deleted subscription
    /// is cancelled too).
    fn later_may_set(&self, a: &Action, field: &str, v: &Value) -> bool {
        self.effects.iter().any(|(e, by)| {
            by.depends_on.iter().any(|d| *d == *a.address)
                && match &e.change {
                    Change::Set { field: f, value } => f == field && same(value, v),
                    Change::SetAny { field: f } => f == field,
                    Change::Gone => false,
                }
        })
    }

    /// `true` when any action of the plan (`a` included) may have set `field` to `v`.
    fn may_set(&self, field: &str, v: Option<&Value>) -> bool {
        self.effects.iter().any(|(e, _)| match (&e.change, v) {
            (Change::Set { field: f, value }, Some(v)) => f == field && same(value, v),
            (Change::SetAny { field: f }, _) => f == field,
            _ => false,
        })
    }

    fn may_be_gone(&self) -> bool {
        self.effects.iter().any(|(e, _)| e.change == Change::Gone)
    }
}

/// The fields of `after` that are real fields (not the gone markers of deletions).
fn target_fields(a: &Action) -> BTreeMap<&str, &Value> {
    let own_gone = a.effects().into_iter().any(|e| {
        e.change == Change::Gone && e.view == a.kind && e.applies_to(a.kind, &a.object_id)
    });
    a.after
        .iter()
        .filter(|(k, _)| !(own_gone && matches!(*k, "deleted" | "purged" | "exists")))
        .collect()
}

/// Classifies one action against the live tenant; the `BTreeMap` is the live fields.
///
/// - gone: done when the action's target is that (deletions), when a plan action may
///   have removed it, or for the kinds a missing object requires nothing of (a deleted
///   policy or first-party principal); otherwise drift;
/// - every target field (`after`) reached, or set by another of the plan's actions that
///   runs after it and goes further (a deleted subscription is also cancelled), the other fields as
///   planned: done;
/// - every field as planned (`before`), or as one of the plan's actions may have set it
///   ([`Action::effects`]): to do;
/// - anything else: drift.
fn classify(effects: &Effects<'_>, a: &Action, live: &TenantState) -> (LiveState, Fields) {
    use ActionKind as K;
    let effects = On {
        effects: effects.on(a),
    };
    let Some(fields) = object_fields(live, a.kind, &a.object_id) else {
        let nothing_required = matches!(
            a.kind,
            K::DisableConditionalAccessPolicy | K::DisableServicePrincipal
        );
        let state = if nothing_required || effects.may_be_gone() {
            LiveState::Done
        } else {
            LiveState::Drifted
        };
        return (state, Fields::new());
    };
    let as_planned = |k: &str| -> bool {
        let (have, want) = (fields.get(k), a.before.get(k));
        match (have, want) {
            (Some(h), Some(w)) if same(h, w) => true,
            (None, None) => true,
            _ => effects.may_set(k, have),
        }
    };
    let target = target_fields(a);
    let reached = !target.is_empty()
        && target.iter().all(|(k, want)| match fields.get(k) {
            Some(h) if same(h, want) => true,
            Some(h) => {
                a.before.get(k).is_none_or(|b| !same(b, h)) && effects.later_may_set(a, k, h)
            }
            None => false,
        });
    let keys: BTreeSet<&str> = fields.keys().chain(a.before.keys()).collect();
    if reached
        && keys
            .iter()
            .filter(|k| !target.contains_key(*k))
            .all(|k| as_planned(k))
    {
        return (LiveState::Done, fields);
    }
    if keys.iter().all(|k| as_planned(k)) {
        return (LiveState::ToDo, fields);
    }
    (LiveState::Drifted, fields)
}

/// The closure spec a saved plan was made with: its kept users and its recorded target.
fn spec_of(plan: &Plan) -> ClosureSpec {
    ClosureSpec::of_plan(plan)
}

/// Compares `plan` with `live`, the tenant as read just now.
///
/// Objects the plan itself already changed (an interrupted earlier apply) are in their
/// target state and count as [`LiveState::Done`], never as drift.
pub fn check(plan: &Plan, live: &TenantState) -> DriftCheck {
    let mut out = DriftCheck::default();
    let effects = Effects::of(plan);
    for a in &plan.actions {
        let (state, fields) = classify(&effects, a, live);
        if state == LiveState::Drifted {
            out.drift.push(Drift {
                address: a.address.to_string(),
                action: a.kind,
                object_id: a.object_id.to_string(),
                name: a.name.to_string(),
                reason: if fields.is_empty() {
                    DriftReason::Gone
                } else {
                    DriftReason::Changed
                },
                planned: a.before.clone(),
                live: fields,
            });
        }
        out.states.push(state);
    }

    // Objects that appeared or changed: plan again and look for actions the plan lacks.
    // Only what the saved plan lacks is computed (no second copy of its actions).
    let saved: HashSet<&str> = plan.actions.iter().map(|a| a.address.as_str()).collect();
    let known = |kind: ActionKind, id: &str| saved.contains(Action::address_of(kind, id).as_str());
    match planner::actions_not_known(live, &spec_of(plan), &known) {
        Ok(fresh) => {
            let mut reported: BTreeSet<String> =
                out.drift.iter().map(|d| d.object_id.clone()).collect();
            for a in &fresh {
                if saved.contains(a.address.as_str()) || !reported.insert(a.object_id.to_string()) {
                    continue;
                }
                out.drift.push(Drift {
                    address: a.address.to_string(),
                    action: a.kind,
                    object_id: a.object_id.to_string(),
                    name: a.name.to_string(),
                    reason: DriftReason::NotInPlan,
                    planned: Fields::new(),
                    live: a.before.clone(),
                });
            }
        }
        Err(e) => out.drift.push(Drift {
            address: String::new(),
            action: ActionKind::DeleteTenant,
            object_id: plan.tenant.id.clone(),
            name: plan.tenant.initial_domain.clone(),
            reason: DriftReason::Unplannable(e.to_string()),
            planned: Fields::new(),
            live: Fields::new(),
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        CompanySubscription, ConditionalAccessPolicy, DirectoryRole, GrantControls, Organization,
        User, VerifiedDomain,
    };

    fn user(id: &str, upn: &str) -> User {
        User {
            id: id.into(),
            user_principal_name: upn.into(),
            user_type: Some("Member".into()),
            account_enabled: Some(true),
            ..User::default()
        }
    }

    fn tenant() -> TenantState {
        let mut t = TenantState {
            organization: Organization {
                id: "t1".into(),
                display_name: Some("T".into()),
                on_premises_sync_enabled: None,
                verified_domains: vec![VerifiedDomain {
                    name: "t.onmicrosoft.com".into(),
                    is_initial: true,
                    is_default: true,
                    kind: None,
                }],
            },
            users: vec![
                user("admin", "admin@t.onmicrosoft.com"),
                user("u1", "u1@t.onmicrosoft.com"),
                user("u2", "u2@t.onmicrosoft.com"),
            ],
            directory_roles: vec![DirectoryRole {
                id: "r".into(),
                display_name: "Global Administrator".into(),
                role_template_id: crate::model::GLOBAL_ADMINISTRATOR_TEMPLATE_ID.into(),
                members: vec!["admin".into()],
            }],
            subscriptions: vec![CompanySubscription {
                id: "s1".into(),
                sku_id: "sku".into(),
                sku_part_number: "E3".into(),
                status: "Enabled".into(),
                ..CompanySubscription::default()
            }],
            ..TenantState::default()
        };
        t.normalize();
        t
    }

    fn plan_of(t: &TenantState) -> Plan {
        let spec = ClosureSpec {
            keep: vec!["admin".into()],
            ..ClosureSpec::default()
        };
        planner::plan(t, &spec, "p".into(), "now".into()).unwrap()
    }

    /// What the drift check computes for a saved plan is exactly the fresh plan's actions
    /// that the saved one lacks, in plan order, for every subset of known addresses.
    #[test]
    fn actions_not_known_are_the_fresh_plans_actions_the_saved_one_lacks() {
        let mut t = tenant();
        t.deleted_users.push(User {
            deleted_date_time: Some("2026-01-01T00:00:00Z".into()),
            ..user("gone", "gone@t.onmicrosoft.com")
        });
        let spec = spec_of(&plan_of(&t));
        let full = planner::plan(&t, &spec, String::new(), String::new()).unwrap();
        let n = full.actions.len();
        assert!((6..16).contains(&n), "{n} actions");
        for mask in 0u32..(1 << n) {
            let known: HashSet<&str> = full
                .actions
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, a)| a.address.as_str())
                .collect();
            let is_known =
                |k: ActionKind, id: &str| known.contains(Action::address_of(k, id).as_str());
            let got = planner::actions_not_known(&t, &spec, &is_known).unwrap();
            let want: Vec<&Action> = full
                .actions
                .iter()
                .filter(|a| !known.contains(a.address.as_str()))
                .collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "mask {mask:b}");
        }
    }

    fn state_of(plan: &Plan, check: &DriftCheck, address: &str) -> LiveState {
        let i = plan
            .actions
            .iter()
            .position(|a| a.address == address)
            .unwrap();
        check.states[i]
    }

    #[test]
    fn unchanged_tenant_is_clean_and_all_to_do() {
        let t = tenant();
        let plan = plan_of(&t);
        let c = check(&plan, &t);
        assert!(c.is_clean(), "{:?}", c.drift);
        assert!(c.states.iter().all(|s| *s == LiveState::ToDo));
    }

    #[test]
    fn own_progress_is_not_drift() {
        let t = tenant();
        let plan = plan_of(&t);
        let mut live = t.clone();
        // u1 deleted (in the recycle bin), u2 deleted and purged, subscription cancelled.
        let u1 = live.users.iter().position(|u| u.id == "u1").unwrap();
        let mut gone = live.users.remove(u1);
        gone.deleted_date_time = Some("2025-01-01T00:00:00Z".into());
        live.deleted_users.push(gone);
        live.users.retain(|u| u.id != "u2");
        live.subscriptions[0].status = "Suspended".into();
        let c = check(&plan, &live);
        assert!(c.is_clean(), "{:?}", c.drift);
        assert_eq!(state_of(&plan, &c, "delete_user.u1"), LiveState::Done);
        assert_eq!(state_of(&plan, &c, "purge_user.u1"), LiveState::ToDo);
        assert_eq!(state_of(&plan, &c, "purge_user.u2"), LiveState::Done);
        assert_eq!(
            state_of(&plan, &c, "cancel_subscription.s1"),
            LiveState::Done
        );
        assert_eq!(
            state_of(&plan, &c, "delete_subscription.s1"),
            LiveState::ToDo
        );
    }

    #[test]
    fn changed_user_is_drift_with_both_field_sets() {
        let t = tenant();
        let plan = plan_of(&t);
        let mut live = t.clone();
        live.users
            .iter_mut()
            .find(|u| u.id == "u1")
            .unwrap()
            .account_enabled = Some(false);
        let c = check(&plan, &live);
        assert_eq!(c.drift.len(), 1, "{:?}", c.drift);
        let d = &c.drift[0];
        assert_eq!(d.address, "delete_user.u1");
        assert_eq!(d.reason, DriftReason::Changed);
        assert_eq!(d.planned["accountEnabled"], Value::Bool(true));
        assert_eq!(d.live["accountEnabled"], Value::Bool(false));
    }

    #[test]
    fn new_user_and_new_policy_are_drift() {
        let t = tenant();
        let plan = plan_of(&t);
        let mut live = t.clone();
        live.users.push(user("u3", "newcomer@t.onmicrosoft.com"));
        live.conditional_access_policies
            .push(ConditionalAccessPolicy {
                id: "ca1".into(),
                display_name: "Require MFA".into(),
                state: "enabled".into(),
                grant_controls: Some(GrantControls {
                    built_in_controls: vec!["mfa".into()],
                    ..GrantControls::default()
                }),
            });
        live.normalize();
        let c = check(&plan, &live);
        let names: Vec<&str> = c.drift.iter().map(|d| d.name.as_str()).collect();
        assert!(names.contains(&"newcomer@t.onmicrosoft.com"), "{names:?}");
        assert!(names.contains(&"Require MFA"), "{names:?}");
        assert!(c.drift.iter().all(|d| d.reason == DriftReason::NotInPlan));
        // One entry per object, not one per action (delete and purge).
        assert_eq!(c.drift.len(), 2);
    }

    #[test]
    fn subscription_status_change_is_drift() {
        let t = tenant();
        let plan = plan_of(&t);
        let mut live = t.clone();
        live.subscriptions[0].status = "LockedOut".into();
        let c = check(&plan, &live);
        assert!(
            c.drift
                .iter()
                .any(|d| d.address == "cancel_subscription.s1"),
            "{:?}",
            c.drift
        );
    }

    #[test]
    fn kept_admin_losing_the_role_is_unplannable() {
        let t = tenant();
        let plan = plan_of(&t);
        let mut live = t.clone();
        live.directory_roles.clear();
        let c = check(&plan, &live);
        assert!(c
            .drift
            .iter()
            .any(|d| matches!(d.reason, DriftReason::Unplannable(_))));
    }
}
