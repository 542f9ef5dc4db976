//! [`Tally`]: what a plan's summaries say about all of its actions (counts per step and
//! kind, the users whose deletion destroys licensed mailboxes), accumulated one action at a
//! time, so a plan file can be checked and shown while it is read, without holding its
//! 100,000s of actions. Pure: knows nothing about files or rendering.

use std::collections::BTreeMap;

use super::{Action, ActionKind, Step};

/// Counts over a plan's actions: per (step, kind), and the deleted users that hold a
/// license. [`Tally::of`] a whole plan gives what [`super::Plan::summary`],
/// [`super::Plan::data_at_risk`] and [`super::Plan::closure_blockers`] are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    by_kind: BTreeMap<(Step, ActionKind), usize>,
    /// Of those, the actions a person does ([`Action::is_manual`]: per action, since a
    /// billing channel automates some subscription actions).
    manual_by_kind: BTreeMap<(Step, ActionKind), usize>,
    /// `delete_user` actions whose `before.assignedLicenses` is a non-empty list.
    licensed_users: usize,
}

impl Tally {
    /// The tally of `actions`.
    pub fn of<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Tally {
        let mut t = Tally::default();
        for a in actions {
            t.add(a);
        }
        t
    }

    /// Counts one more action.
    pub fn add(&mut self, a: &Action) {
        *self.by_kind.entry((a.step(), a.kind)).or_default() += 1;
        if a.is_manual() {
            *self.manual_by_kind.entry((a.step(), a.kind)).or_default() += 1;
        }
        if a.kind == ActionKind::DeleteUser
            && a.before
                .get("assignedLicenses")
                .and_then(|v| v.as_array())
                .is_some_and(|l| !l.is_empty())
        {
            self.licensed_users += 1;
        }
    }

    /// Actions of kind `k`.
    pub fn count(&self, k: ActionKind) -> usize {
        self.by_kind
            .iter()
            .filter(|((_, kind), _)| *kind == k)
            .map(|(_, n)| n)
            .sum()
    }

    /// All actions counted.
    pub fn total(&self) -> usize {
        self.by_kind.values().sum()
    }

    /// Manual actions counted.
    pub fn manual(&self) -> usize {
        self.manual_by_kind.values().sum()
    }

    /// Manual actions of `step`.
    pub fn manual_of(&self, step: Step) -> usize {
        self.manual_by_kind
            .iter()
            .filter(|((s, _), _)| *s == step)
            .map(|(_, n)| n)
            .sum()
    }

    /// `(kind, count)` of `step`, in kind order, kinds without actions left out.
    pub fn kinds_of(&self, step: Step) -> Vec<(ActionKind, usize)> {
        self.by_kind
            .iter()
            .filter(|((s, _), _)| *s == step)
            .map(|((_, k), n)| (*k, *n))
            .collect()
    }

    /// `(step, kind, count)` in step then kind order.
    pub fn iter(&self) -> impl Iterator<Item = (Step, ActionKind, usize)> + '_ {
        self.by_kind.iter().map(|((s, k), n)| (*s, *k, *n))
    }

    /// Deleted users that hold at least one license.
    pub fn licensed_users(&self) -> usize {
        self.licensed_users
    }
}
