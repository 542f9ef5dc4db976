//! Issue 14: step 2 through the billing channel, rehearsed with --simulate on graph-sim's
//! CSP and MCA example tenants: Partner Center cancels the in-window subscription and turns
//! the other's renewal off; Microsoft.Billing turns renewal off and polls an in-window
//! cancellation to completion; everything is verified through Graph; a SIGKILL during the
//! poll resumes without a second DELETE; a 412 on a Partner Center PATCH re-reads once.

use serde_json::Value;

use crate::common::{s, tenant, Sandbox};

const CSP_ADMIN: &str = "admin@northwindtraders.onmicrosoft.com";
const CSP_TENANT: &str = "5b8e2c4a-7f31-4d6e-9a02-c1d3e4f5a6b7";
/// Graph's companySubscription inside its window, and its Partner Center subscription.
const CSP_IN: &str = "0f3a5c7e-9b1d-4f2a-8c4e-6a8b0d2f4e61";
const CSP_IN_PC: &str = "7a1c9e34-2b6d-4f80-a5c3-91d2e8f0b4a6";
/// Graph's companySubscription outside its window, and its Partner Center subscription.
const CSP_OUT: &str = "1e4b6d8f-0a2c-4e3b-9d5f-7b9c1e3a5f72";
const CSP_OUT_PC: &str = "c3e5f7a9-1b2d-4e6f-8a0c-2d4f6b8e0a1c";

const MCA_ADMIN: &str = "admin@litwareinc.onmicrosoft.com";

fn spec(sb: &Sandbox, billing: &str, admin: &str) -> String {
    let path = sb.path("spec.yaml");
    std::fs::write(
        &path,
        format!("version: 1\nkeep:\n  - {admin}\nbilling: {billing}\n"),
    )
    .unwrap();
    s(&path).to_string()
}

/// Every request graph-sim logged for this sandbox's simulated tenants.
fn requests(sb: &Sandbox) -> Vec<Value> {
    let dir = sb.dir.path().join("state/simulated");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".requests.jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

fn count(reqs: &[Value], method: &str, path_part: &str) -> usize {
    reqs.iter()
        .filter(|r| {
            r["method"].as_str() == Some(method)
                && r["path"].as_str().is_some_and(|p| p.contains(path_part))
        })
        .count()
}

fn plan_doc(path: &std::path::Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn action<'a>(doc: &'a serde_yaml::Value, address: &str) -> Option<&'a serde_yaml::Value> {
    doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|a| a["address"].as_str() == Some(address))
}

#[test]
fn csp_in_window_is_cancelled_and_out_of_window_has_renewal_off_both_verified_in_graph() {
    let sb = Sandbox::new();
    let snap = tenant("csp-customer");
    let spec = spec(
        &sb,
        &format!("{{channel: partner_center, customer_tenant_id: {CSP_TENANT}, cancel: true}}"),
        CSP_ADMIN,
    );
    let plan = sb.path("p.yaml");
    let run = sb
        .closeout(&[
            "plan",
            "--spec",
            &spec,
            "--simulate",
            s(&snap),
            "-o",
            s(&plan),
        ])
        .expect(0);
    let doc = plan_doc(&plan);
    assert_eq!(doc["target"]["billing"], "partner_center", "{}", run.stdout);
    let cancel_in = action(&doc, &format!("cancel_subscription.{CSP_IN}")).unwrap();
    assert!(cancel_in["manual"].is_null(), "automated: {cancel_in:?}");
    assert_eq!(cancel_in["commerce"]["subscriptionId"], CSP_IN_PC);
    assert_eq!(cancel_in["commerce"]["matchedBy"], "commerceSubscriptionId");
    assert!(
        cancel_in["depends_on"].is_null(),
        "runs at the start of apply"
    );
    let renew = action(&doc, &format!("disable_auto_renew.{CSP_OUT}")).unwrap();
    assert_eq!(renew["commerce"]["subscriptionId"], CSP_OUT_PC);
    let cancel_out = action(&doc, &format!("cancel_subscription.{CSP_OUT}")).unwrap();
    assert_eq!(cancel_out["manual"], serde_yaml::Value::Bool(true));
    let term_end = renew["commerce"]["termEndDate"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        serde_yaml::to_string(&cancel_out["warnings"])
            .unwrap()
            .contains(&term_end[..10]),
        "the end date is in the plan: {cancel_out:?}"
    );
    assert!(run.stdout.contains("billing channel"), "{}", run.stdout);
    // The automated cancellation is a change, not a person's task.
    assert!(
        run.stdout.contains("~ cancel subscription SPE_E3"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("! cancel subscription SPB"),
        "{}",
        run.stdout
    );

    // Apply: the in-window one is cancelled and verified in Graph; the other has its
    // renewal off and waits for its term's end (exit 3, waiting).
    let applied = sb
        .closeout(&["apply", s(&plan), "--simulate", s(&snap)])
        .expect(3);
    let reqs = requests(&sb);
    let pc_patches: Vec<&Value> = reqs
        .iter()
        .filter(|r| {
            r["method"] == "PATCH"
                && r["path"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("/v1/customers/")
        })
        .collect();
    assert_eq!(pc_patches.len(), 2, "{pc_patches:?}\n{}", applied.stdout);
    assert!(count(&reqs, "GET", "/directory/subscriptions") >= 1);
    assert!(
        applied
            .stdout
            .contains(&format!("cancel_subscription.{CSP_IN}")),
        "{}",
        applied.stdout
    );
    // Graph now shows the in-window subscription cancelled: planning again has no
    // cancellation for it, and the renewal of the other is off in Partner Center.
    let again = sb.path("again.yaml");
    sb.closeout(&[
        "plan",
        "--spec",
        &spec,
        "--simulate",
        s(&snap),
        "-o",
        s(&again),
    ])
    .expect(0);
    let doc = plan_doc(&again);
    assert!(action(&doc, &format!("cancel_subscription.{CSP_IN}")).is_none());
    assert!(action(&doc, &format!("disable_auto_renew.{CSP_OUT}")).is_none());
    let cancel_out = action(&doc, &format!("cancel_subscription.{CSP_OUT}")).unwrap();
    assert_eq!(
        cancel_out["commerce"]["autoRenew"],
        serde_yaml::Value::Bool(false)
    );
}

#[test]
fn no_partner_credential_is_a_not_checked_line_never_a_silent_fallback() {
    let sb = Sandbox::new();
    let snap = tenant("csp-customer");
    let spec = spec(
        &sb,
        &format!("{{channel: partner_center, customer_tenant_id: {CSP_TENANT}}}"),
        CSP_ADMIN,
    );
    let plan = sb.path("p.yaml");
    // A Partner Center URL nothing listens on.
    sb.closeout(&[
        "plan",
        "--spec",
        &spec,
        "--simulate",
        s(&snap),
        "--partner-center-url",
        "http://127.0.0.1:9",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let doc = plan_doc(&plan);
    let line = doc["preflight"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "billing channel")
        .unwrap();
    assert!(line["not_checked"].as_str().is_some(), "{line:?}");
    assert_eq!(
        action(&doc, &format!("cancel_subscription.{CSP_IN}")).unwrap()["manual"],
        serde_yaml::Value::Bool(true)
    );
}

#[test]
fn mca_renewal_off_and_in_window_cancellation_polled_to_completion() {
    let sb = Sandbox::new();
    let snap = tenant("mca");
    let spec = spec(&sb, "{channel: mca, cancel: true}", MCA_ADMIN);
    let plan = sb.path("p.yaml");
    let run = sb
        .closeout(&[
            "plan",
            "--spec",
            &spec,
            "--simulate",
            s(&snap),
            "-o",
            s(&plan),
        ])
        .expect(0);
    let doc = plan_doc(&plan);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("Entra ID Free") && text.contains("not a blocker"),
        "{}",
        run.stdout
    );
    let automated_cancels = doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "cancel_subscription" && a["manual"].is_null())
        .count();
    assert_eq!(automated_cancels, 1, "{text}");
    assert!(text.contains("action: disable_auto_renew"), "{text}");
    sb.closeout(&["apply", s(&plan), "--simulate", s(&snap)])
        .expect(3);
    let reqs = requests(&sb);
    assert_eq!(count(&reqs, "DELETE", "/billingSubscriptions/"), 1);
    assert!(count(&reqs, "GET", "/operationResults/") >= 1, "polled");
    assert_eq!(count(&reqs, "PATCH", "/billingSubscriptions/"), 1);
}

const CSP_PARTNER: &str = "9d4f1e2c-3b5a-4c6d-8e7f-a1b2c3d4e5f6";

fn mint(audience: &str, tenant_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            tenant_id: tenant_id.to_string(),
            lifetime_s: 3600,
            audience: audience.to_string(),
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// The partner's token, handed out per request; just before closeout's first `PATCH`
/// (the second request) another party changes the subscription in Partner Center, so the
/// etag closeout read is stale exactly once.
#[derive(Debug)]
struct RacingPartner {
    token: String,
    url: String,
    calls: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl closeout::protocol::auth::TokenProvider for RacingPartner {
    async fn token(
        &self,
        _: closeout::protocol::Audience,
    ) -> Result<closeout::protocol::auth::Bearer, closeout::protocol::auth::AuthError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 1 {
            let http = reqwest::Client::new();
            let url = format!(
                "{}/v1/customers/{CSP_TENANT}/subscriptions/{CSP_IN_PC}",
                self.url
            );
            let mut sub: Value = http
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let etag = sub["attributes"]["etag"].as_str().unwrap().to_string();
            sub["autoRenewEnabled"] = Value::Bool(false);
            let status = http
                .patch(&url)
                .bearer_auth(&self.token)
                .header("If-Match", etag)
                .json(&sub)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200, "the competing change");
        }
        Ok(closeout::protocol::auth::Bearer::new(self.token.clone()))
    }
    fn kind(&self) -> closeout::protocol::auth::AuthKind {
        closeout::protocol::auth::AuthKind::Token
    }
}

#[test]
fn a_412_on_the_partner_center_patch_re_reads_once_and_cancels() {
    let sim = crate::common::Sim::open(&tenant("csp-customer"));
    let url = sim.url();
    let tokens = std::sync::Arc::new(RacingPartner {
        token: mint("https://api.partnercenter.microsoft.com", CSP_PARTNER),
        url: url.clone(),
        calls: Default::default(),
    });
    let client = closeout::commerce::PartnerCenterClient::new(
        &url,
        tokens,
        closeout::protocol::CoreOptions::default(),
        CSP_TENANT,
    )
    .unwrap();
    let out = sim
        .rt
        .block_on(client.cancel(CSP_IN_PC, time::OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(out, closeout::commerce::partner_center::Cancelled::Done);
    let sub_path = format!("/v1/customers/{CSP_TENANT}/subscriptions/{CSP_IN_PC}");
    let on_sub: Vec<(String, u16)> = sim
        .log()
        .into_iter()
        .filter(|e| e.path.starts_with(&sub_path))
        .map(|e| (e.method, e.status))
        .collect();
    // closeout: GET, (the competitor: GET, PATCH 200), PATCH 412, GET again, PATCH 200.
    let closeout_patches: Vec<u16> = on_sub
        .iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(closeout_patches, vec![200, 412, 200], "{on_sub:?}");
    assert_eq!(
        on_sub.iter().filter(|(m, _)| m == "GET").count(),
        3,
        "one read, the competitor's, one re-read: {on_sub:?}"
    );
}

#[test]
fn sigkill_during_the_mca_poll_resumes_polling_without_a_second_delete() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    const MCA_TENANT: &str = "6c9f3d5b-8a42-4e7f-ab13-d2e4f5a6b7c8";
    let config = graph_sim::SimConfig {
        // The operation runs 4 s (whatever the polls), polled every second.
        billing_operation_polls: 1_000_000,
        billing_operation_ms: Some(4_000),
        billing_retry_after_s: 1,
        ..graph_sim::SimConfig::default()
    };
    let sim =
        crate::common::Sim::start_with(graph_sim::load_snapshot(&tenant("mca")).unwrap(), config);
    let url = sim.url();
    let sb = Sandbox::new();
    let spec = spec(&sb, "{channel: mca, cancel: true}", MCA_ADMIN);
    let arm = mint(graph_sim::token::ARM_AUDIENCES[0], MCA_TENANT);
    let env = [
        ("CLOSEOUT_ACCESS_TOKEN", crate::common::token()),
        ("CLOSEOUT_ARM_ACCESS_TOKEN", arm.as_str()),
    ];
    let plan = sb.path("p.yaml");
    let target = [
        "--graph-url",
        url.as_str(),
        "--arm-url",
        url.as_str(),
        "--auth",
        "token",
    ];
    let mut args = vec!["plan", "--spec", spec.as_str(), "-o", s(&plan)];
    args.extend(target);
    let run = sb.closeout_env(&args, &env).expect(0);
    assert!(
        std::fs::read_to_string(&plan)
            .unwrap()
            .contains("channel: mca"),
        "{}",
        run.stdout
    );
    let apply_args = |extra: &[&'static str]| {
        let mut a = vec!["apply", s(&plan), "--auto-approve"];
        a.extend(target);
        a.extend(extra);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(apply_args(&[]))
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .envs(env)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let polled = |sim: &crate::common::Sim| {
        sim.log()
            .iter()
            .filter(|e| e.method == "GET" && e.path.contains("/operationResults/"))
            .count()
    };
    let start = Instant::now();
    while polled(&sim) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never polled: {:?}",
            sim.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deletes = |sim: &crate::common::Sim| {
        sim.log()
            .iter()
            .filter(|e| e.method == "DELETE" && e.path.contains("/billingSubscriptions/"))
            .count()
    };
    assert_eq!(deletes(&sim), 1);
    // The re-run polls the journalled operation to completion, then verifies in Graph.
    let rerun = sb.closeout_env(
        &apply_args(&[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    );
    assert_eq!(
        deletes(&sim),
        1,
        "no second DELETE: {}\n{}",
        rerun.stdout,
        rerun.stderr
    );
    assert!(polled(&sim) >= 2, "{}", rerun.stdout);
    assert!(
        rerun.code == 3 || rerun.code == 0,
        "{}\n{}",
        rerun.stdout,
        rerun.stderr
    );
}

/// The README's rehearsal specs for the two example tenants plan as they say: the channel
/// recorded, the in-window cancellation automated, no credential beyond `--simulate`.
#[test]
fn the_example_billing_specs_plan_their_tenants() {
    for (spec, snapshot, channel) in [
        ("csp", "csp-customer", "partner_center"),
        ("mca", "mca", "mca"),
    ] {
        let sb = Sandbox::new();
        let name = spec;
        let spec = crate::common::root().join(format!("examples/specs/{name}.yaml"));
        let plan = sb.path("p.yaml");
        let run = sb
            .closeout(&[
                "plan",
                "--spec",
                s(&spec),
                "--simulate",
                s(&tenant(snapshot)),
                "-o",
                s(&plan),
            ])
            .expect(0);
        let doc = plan_doc(&plan);
        assert_eq!(doc["target"]["billing"], channel, "{}", run.stdout);
        let automated_cancel = doc["actions"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "cancel_subscription" && a.get("manual").is_none());
        assert!(automated_cancel, "{name}: no automated cancellation");
    }
}
