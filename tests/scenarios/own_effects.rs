//! Property: a plan's own effects are never drift. Whatever DAG-respecting subset of a
//! plan's actions has already taken effect (prefixes of the execution order and seeded random
//! down-closed subsets, outcomes journaled or not), the drift check classifies every action
//! as to-do or done, and applying the plan then converges.
//!
//! The bulk runs in-process: graph-sim's library serves the tenant over loopback, closeout's
//! own `converge` (or the admin-center portal, for manual actions) makes each effect, the
//! tenant is read back with `read_tenant` and judged by `drift::check`. A sample goes
//! through the binary (`closeout apply` on the partially applied tenant, no journal).
//!
//! Every prefix is checked by default (about 20 s in debug on an idle 2-core machine);
//! `CLOSEOUT_OWN_EFFECTS_STRIDE=N` checks every N-th prefix of the generated tenant only.
//! Long run: `CLOSEOUT_OWN_EFFECTS_SUBSETS=200 CLOSEOUT_OWN_EFFECTS_SEED=7 cargo test
//! --release --test cli own_effects` (random subsets per tenant; any seed).

use std::collections::BTreeMap;
use std::sync::Arc;

use closeout::apply::{converge, drift, tenant_gone, LiveState, Outcome};
use closeout::graph::{read_tenant, ClientOptions, GraphClient, StaticToken, TokenProvider};
use closeout::model::TenantState;
use closeout::plan::{ActionKind, Plan};
use closeout::planner::{self, ClosureSpec};
use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{SimConfig, SimServer, Snapshot, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{s, tenant, Sandbox};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One simulated tenant: its store (for the admin-center portal) and a Graph client.
struct Tenant {
    store: Store,
    server: SimServer,
    client: GraphClient,
}

impl Tenant {
    async fn start(snapshot: &Snapshot) -> Tenant {
        let store = Store::from_snapshot(snapshot.clone());
        let server = SimServer::start(store.clone(), SimConfig::default(), 0)
            .await
            .unwrap();
        let token: Arc<dyn TokenProvider> = Arc::new(StaticToken::new(crate::common::token()));
        let options = ClientOptions {
            pacing: None,
            ..ClientOptions::default()
        };
        let client = GraphClient::new(&server.base_url(), token, options).unwrap();
        Tenant {
            store,
            server,
            client,
        }
    }

    async fn read(&self, plan: &Plan) -> Result<TenantState, closeout::graph::GraphError> {
        let keep: Vec<String> = plan.keep.iter().map(|k| k.id.clone()).collect();
        read_tenant(&self.client, &keep, &()).await
    }

    /// Makes action `i`'s effect: closeout's own converge for API actions, the admin
    /// center for manual ones.
    async fn effect(&self, plan: &Plan, i: usize, live: &TenantState) {
        let a = &plan.actions[i];
        let portal = match a.kind {
            ActionKind::CancelSubscription => {
                Some(self.store.portal_cancel_subscription(&a.object_id))
            }
            ActionKind::DeleteSubscription => {
                let locked = live
                    .subscriptions
                    .iter()
                    .any(|s| *s.id == *a.object_id && s.status == "LockedOut");
                Some(if locked {
                    self.store.portal_support_delete_subscription(&a.object_id)
                } else {
                    self.store.portal_delete_subscription(&a.object_id)
                })
            }
            ActionKind::DeleteTenant => Some(self.store.portal_delete_tenant()),
            ActionKind::DeleteSelfServiceProduct => {
                Some(self.store.portal_remove_self_service_product(&a.object_id))
            }
            ActionKind::RemoveUnexplainedSku => {
                Some(self.store.portal_support_remove_sku(&a.object_id))
            }
            _ => None,
        };
        if let Some(r) = portal {
            r.unwrap_or_else(|e| panic!("{}: the admin center refused: {e}", a.address));
            return;
        }
        let o = converge(&self.client, None, live, a).await.unwrap();
        assert!(
            matches!(o, Outcome::Done | Outcome::AlreadyDone),
            "{}: {o:?}",
            a.address
        );
    }

    async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// Each action's direct prerequisites (indices), `step:N` expanded.
fn prerequisites(plan: &Plan) -> Vec<Vec<usize>> {
    let index: BTreeMap<&str, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.address.as_str(), i))
        .collect();
    plan.actions
        .iter()
        .map(|a| {
            let mut deps = Vec::new();
            for d in &a.depends_on {
                if let Some(n) = d.strip_prefix("step:") {
                    let n: u8 = n.parse().unwrap();
                    deps.extend(
                        plan.actions
                            .iter()
                            .enumerate()
                            .filter(|(_, x)| x.step().number() == n)
                            .map(|(j, _)| j),
                    );
                } else {
                    deps.push(index[d.as_str()]);
                }
            }
            deps
        })
        .collect()
}

/// Checks the tenant after `done` took effect; the message says which subset failed.
fn judge(plan: &Plan, live: &TenantState, done: &[bool], what: &str) {
    let check = drift::check(plan, live);
    assert!(
        check.is_clean(),
        "{what}: the plan's own effects were judged drift: {:#?}\n(done: {:?})",
        check.drift,
        done_list(plan, done)
    );
    for (i, a) in plan.actions.iter().enumerate() {
        let want = if done[i] {
            LiveState::Done
        } else {
            LiveState::ToDo
        };
        assert_eq!(
            check.states[i],
            want,
            "{what}: {} (done: {:?})",
            a.address,
            done_list(plan, done)
        );
    }
}

fn done_list<'a>(plan: &'a Plan, done: &[bool]) -> Vec<&'a str> {
    plan.actions
        .iter()
        .zip(done)
        .filter(|(_, d)| **d)
        .map(|(a, _)| a.address.as_str())
        .collect()
}

/// Applies `subset` (an executable order) to a fresh copy of the tenant and judges it.
async fn run_subset(snapshot: &Snapshot, plan: &Plan, order: &[usize], what: &str) {
    let t = Tenant::start(snapshot).await;
    let live = t.read(plan).await.unwrap();
    let mut done = vec![false; plan.actions.len()];
    for &i in order {
        t.effect(plan, i, &live).await;
        done[i] = true;
    }
    match t.read(plan).await {
        Ok(now) => judge(plan, &now, &done, what),
        Err(e) => assert!(
            tenant_gone(&e)
                && order
                    .iter()
                    .any(|&i| plan.actions[i].kind == ActionKind::DeleteTenant),
            "{what}: {e}"
        ),
    }
    t.stop().await;
}

fn plan_of(live: &TenantState, keep: &str) -> Plan {
    let spec = ClosureSpec {
        keep: vec![keep.to_string()],
        ..ClosureSpec::default()
    };
    planner::plan(live, &spec, "property".into(), "now".into()).unwrap()
}

/// Every `stride`-th prefix of the execution order (and the last ones), on one tenant
/// applied step by step, then `subsets` seeded random down-closed subsets.
async fn property(name: &str, snapshot: &Snapshot, keep: &str, stride: usize, subsets: usize) {
    let seed = env_usize("CLOSEOUT_OWN_EFFECTS_SEED", 1) as u64;
    let t = Tenant::start(snapshot).await;
    // Per-user MFA is read for the kept users only, as `closeout plan` does.
    let any = t.read_any().await;
    let kept = any.find_kept_user(keep).unwrap().id.to_string();
    let initial = read_tenant(&t.client, &[kept], &()).await.unwrap();
    let plan = plan_of(&initial, keep);
    let graph = planner::ActionGraph::build(&plan.actions).unwrap();
    let order = graph.order.clone();
    let n = order.len();
    let mut done = vec![false; n];
    judge(&plan, &initial, &done, &format!("{name}: nothing applied"));
    for (k, &i) in order.iter().enumerate() {
        t.effect(&plan, i, &initial).await;
        done[i] = true;
        if (k + 1) % stride != 0 && k + 2 < n {
            continue;
        }
        match t.read(&plan).await {
            Ok(now) => judge(&plan, &now, &done, &format!("{name}: prefix {}", k + 1)),
            Err(e) => assert!(
                tenant_gone(&e) && plan.actions[i].kind == ActionKind::DeleteTenant,
                "{name}: prefix {}: {e}",
                k + 1
            ),
        }
    }
    t.stop().await;

    let deps = prerequisites(&plan);
    let mut rng = StdRng::seed_from_u64(seed ^ name.len() as u64);
    for round in 0..subsets {
        // A random executable order of a random size: repeatedly pick any ready action.
        let size = rng.random_range(0..=n);
        let mut chosen = vec![false; n];
        let mut picked = Vec::new();
        while picked.len() < size {
            let ready: Vec<usize> = (0..n)
                .filter(|&i| !chosen[i] && deps[i].iter().all(|&d| chosen[d]))
                .collect();
            if ready.is_empty() {
                break;
            }
            let i = ready[rng.random_range(0..ready.len())];
            chosen[i] = true;
            picked.push(i);
        }
        run_subset(
            snapshot,
            &plan,
            &picked,
            &format!("{name}: subset {round} (seed {seed})"),
        )
        .await;
    }
}

impl Tenant {
    async fn read_any(&self) -> TenantState {
        read_tenant(&self.client, &[], &()).await.unwrap()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const EXAMPLES: &[(&str, &str)] = &[
    ("contoso", "admin@contoso.com"),
    ("fabrikam", "admin@fabrikam.com"),
    ("hybrid", "admin@northwindtraders.onmicrosoft.com"),
    ("stubborn", "admin@litware.onmicrosoft.com"),
    ("trial", "admin@tailspintoys.onmicrosoft.com"),
];

#[test]
fn own_effects_of_every_example_plan_are_never_drift() {
    let subsets = env_usize("CLOSEOUT_OWN_EFFECTS_SUBSETS", 12);
    let rt = runtime();
    for (name, keep) in EXAMPLES {
        let snapshot = graph_sim::load_snapshot(&tenant(name)).unwrap();
        rt.block_on(property(name, &snapshot, keep, 1, subsets));
    }
}

#[test]
fn own_effects_of_a_generated_200_user_plan_are_never_drift() {
    let subsets = env_usize("CLOSEOUT_OWN_EFFECTS_SUBSETS", 4);
    let stride = env_usize("CLOSEOUT_OWN_EFFECTS_STRIDE", 1).max(1);
    let snapshot = generate(&GenerateOptions {
        users: 180,
        guests: 20,
        seed: 11,
    });
    let rt = runtime();
    rt.block_on(property(
        "generated",
        &snapshot,
        "admin@simtenant11.onmicrosoft.com",
        stride,
        subsets,
    ));
}

/// Through the binary: plan, make a random part of it take effect behind closeout's back
/// (nothing in the journal), then a plain `closeout apply` converges with one successful
/// DELETE per user in graph-sim's request log.
#[test]
fn apply_converges_after_a_partial_unjournaled_apply() {
    let rt = runtime();
    let mut rng = StdRng::seed_from_u64(env_usize("CLOSEOUT_OWN_EFFECTS_SEED", 1) as u64);
    for (name, keep) in [EXAMPLES[0], EXAMPLES[2]] {
        let snapshot = graph_sim::load_snapshot(&tenant(name)).unwrap();
        let t = rt.block_on(Tenant::start(&snapshot));
        let url = t.server.base_url();
        let sb = Sandbox::new();
        let file = sb.path("plan.yaml");
        let env = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
        sb.closeout_env(
            &["plan", "--keep", keep, "-o", s(&file), "--graph-url", &url],
            &env,
        )
        .expect(0);
        let plan = closeout::planfile::read(&file).unwrap();
        let graph = planner::ActionGraph::build(&plan.actions).unwrap();
        // API actions only (manual ones stay for a person), a random prefix of them.
        let api: Vec<usize> = graph
            .order
            .iter()
            .copied()
            .filter(|&i| !plan.actions[i].kind.is_manual())
            .collect();
        let deps = prerequisites(&plan);
        let cut = rng.random_range(1..api.len());
        let mut chosen = vec![false; plan.actions.len()];
        rt.block_on(async {
            let live = t.read(&plan).await.unwrap();
            for &i in &api[..cut] {
                if deps[i].iter().all(|&d| chosen[d]) {
                    t.effect(&plan, i, &live).await;
                    chosen[i] = true;
                }
            }
        });
        let run = sb.closeout_env(
            &["apply", s(&file), "--auto-approve", "--graph-url", &url],
            &env,
        );
        assert!(
            run.code == 0 || run.code == 3,
            "{name}: exit {}\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
        for e in t.server.request_log() {
            if e.method == "DELETE" && e.path.starts_with("/v1.0/users/") && e.status == 204 {
                *deletes.entry(e.path.clone()).or_default() += 1;
            }
        }
        let users = plan
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::DeleteUser)
            .count();
        assert_eq!(deletes.len(), users, "{name}: {deletes:?}");
        assert!(deletes.values().all(|n| *n == 1), "{name}: {deletes:?}");
        rt.block_on(t.stop());
    }
}
