//! The text view of a plan read for its first few actions per kind
//! ([`crate::planfile::read_kept`]) or built for them ([`super::plan_view_of`]'s limit)
//! says exactly what the view of the whole plan says.

use std::collections::HashMap;
use std::path::Path;

use super::{plan_view, plan_view_of, render_plan_text, TextOptions, ViewOptions};
use crate::plan::{Action, ActionKind, Plan, Step};

/// contoso's plan with each user action repeated `n` times (other object ids), in planner
/// order (by step, then kind).
fn big_contoso(n: usize) -> Plan {
    big_contoso_with(n, &[ActionKind::DeleteUser, ActionKind::PurgeUser])
}

/// contoso's plan with each action of `kinds` repeated `n` times (other object ids, which
/// are GUIDs), in planner order (by step, then kind).
pub(crate) fn big_contoso_with(n: usize, kinds: &[ActionKind]) -> Plan {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    let mut plan = crate::planfile::parse(Path::new("contoso.plan.yaml"), bytes).unwrap();
    let mut actions: Vec<Action> = Vec::new();
    for a in &plan.actions {
        actions.push(a.clone());
        if kinds.contains(&a.kind) && a.object_id.len() == 36 {
            for i in 0..n {
                let mut b = a.clone();
                b.object_id = format!("{}{:04x}", &a.object_id[..32], i).into();
                b.address = crate::plan::SharedText::own(&Action::address_of(b.kind, &b.object_id));
                actions.push(b);
            }
        }
    }
    actions.sort_by_key(|a| (a.step(), a.kind));
    plan.actions = actions;
    plan
}

fn text(view: &super::PlanView) -> String {
    let mut out = Vec::new();
    render_plan_text(view, TextOptions::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_text_of_a_few_actions_per_kind_is_the_text_of_the_whole_plan() {
    for n in [0, 1, 3] {
        let plan = big_contoso(n);
        let whole = text(&plan_view(&plan, ViewOptions::default()));
        assert!(n == 0 || whole.contains("more 'delete user'"), "{whole}");
        let limited = text(&plan_view_of(
            &plan,
            &plan.tally(),
            ViewOptions::default(),
            Some(TextOptions::default().limit),
        ));
        assert_eq!(limited, whole, "n = {n}");
        let bytes = crate::planfile::to_bytes(&plan);
        let mut held: HashMap<(Step, ActionKind), usize> = HashMap::new();
        let (kept, tally) =
            crate::planfile::parse_kept(Path::new("big.plan.yaml"), &bytes, &mut |_, a| {
                let k = held.entry((a.step(), a.kind)).or_default();
                *k += 1;
                (*k <= TextOptions::default().limit).then_some(a)
            })
            .unwrap();
        assert!(kept.actions.len() < plan.actions.len() || n == 0);
        let read = text(&plan_view_of(&kept, &tally, ViewOptions::default(), None));
        assert_eq!(read, whole, "n = {n}");
    }
}
