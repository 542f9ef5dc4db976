//! Issue 13 point 4: the data the closure destroys. closeout reads Microsoft 365's usage
//! reports (302 to a pre-authenticated download on another host, fetched without the
//! token), records the totals in the plan and every view, says "not checked" when it cannot
//! read them, and apply deletes no user while data is counted (or unknown) until the backup
//! is confirmed.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use graph_sim::{SimConfig, Snapshot};
use serde_json::Value;

use crate::common::{s, tenant, token, token_with, Run, Sandbox, Sim};

const KEEP: &str = "admin@fabrikam.com";

fn token_env(t: &str) -> [(&str, &str); 1] {
    [("CLOSEOUT_ACCESS_TOKEN", t)]
}

fn plan(sb: &Sandbox, sim: &Sim, t: &str, extra: &[&str], out: &Path) -> Run {
    let url = sim.url();
    let mut args = vec!["plan", "--graph-url", &url, "-o", s(out)];
    args.extend(extra);
    if !extra.contains(&"--spec") {
        args.extend(["--keep", KEEP]);
    }
    sb.closeout_env(&args, &token_env(t))
}

fn show_json(sb: &Sandbox, plan: &Path) -> Value {
    let run = sb
        .closeout(&["show", s(plan), "--format", "json"])
        .expect(0);
    serde_json::from_str(&run.stdout).unwrap()
}

/// Every permission graph-sim checks but `without`, with the Global Administrator role.
fn token_without(without: &[&str]) -> String {
    let perms: Vec<&str> = graph_sim::permissions::all_permissions()
        .into_iter()
        .filter(|p| !without.contains(p))
        .collect();
    token_with(
        &perms,
        &["62e90394-69f5-4237-9190-012177145e10"],
        "11111111-2222-3333-4444-555555555555",
    )
}

fn fabrikam_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Snapshot {
    let mut snap = graph_sim::load_snapshot(&tenant("fabrikam")).unwrap();
    let section = snap
        .extra
        .get_mut("usageReports")
        .and_then(Value::as_object_mut)
        .expect("fabrikam has usageReports");
    edit(section);
    snap
}

const TOTALS: &str = "5 mailboxes (8.9 GiB, 85,270 items), 2 OneDrive accounts (23.0 GiB, 10,525 files) and 2 SharePoint sites (1.0 GiB, 3,312 files)";

#[test]
fn totals_in_plan_show_json_and_markdown_and_the_token_never_reaches_the_download() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("fabrikam"));
    let out = sb.path("f.plan.yaml");
    let run = plan(&sb, &sim, token(), &[], &out).expect(0);
    assert!(run.stdout.contains(TOTALS), "{}", run.stdout);
    assert!(run.stdout.contains("[info] data at risk"), "{}", run.stdout);

    let file = std::fs::read_to_string(&out).unwrap();
    let header: String = file
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches("# "))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        header.contains("5 mailboxes (8.9 GiB, 85,270 items)"),
        "{header}"
    );
    assert!(
        file.contains("\ndata:\n  backup_confirmed: false\n"),
        "{file}"
    );

    let doc = show_json(&sb, &out);
    let data = &doc["data"];
    assert_eq!(
        data["mailboxes"],
        serde_json::json!({"count": 5, "bytes": 9538686156u64, "items": 85270})
    );
    assert_eq!(data["onedrive"]["bytes"], 24696061952u64);
    assert_eq!(data["sites"]["count"], 2);
    assert_eq!(data["names_concealed"], false);
    let ben = data["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_principal_name"] == "ben.walters@fabrikam.com")
        .expect("per-user figures");
    assert_eq!(ben["id"], "c61758f9-b608-4757-a7c5-10ce3edf4dbc");
    assert_eq!(ben["mailbox_items"], 48211);
    assert_eq!(ben["onedrive_files"], 9120);
    assert!(doc["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "data at risk" && c["informational"] == true));

    let md = sb
        .closeout(&["show", s(&out), "--format", "markdown"])
        .expect(0);
    let escaped = TOTALS.replace('(', "\\(").replace(')', "\\)");
    assert!(md.stdout.contains(&escaped), "{}", md.stdout);
    assert!(md.stdout.contains("| ℹ️ | data at risk |"), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("| `ben.walters@fabrikam.com` | 5.0 GiB | 48,211 | 20.0 GiB | 9,120 |"),
        "{}",
        md.stdout
    );
    let text = sb.closeout(&["show", s(&out)]).expect(0);
    assert!(text.stdout.contains(TOTALS), "{}", text.stdout);

    // Three downloads, none with a token; the token is in no output and not in the plan.
    let downloads = sim.server().download_log();
    assert_eq!(downloads.len(), 3, "{downloads:?}");
    assert!(downloads
        .iter()
        .all(|d| !d.authorization_sent && d.status == 200 && d.known_key));
    for text in [&file, &run.stdout, &run.stderr] {
        assert!(!text.contains(token()), "the token leaked");
        assert!(
            !text.contains("/data/download/"),
            "the download link leaked"
        );
    }
    // The report routes were asked through Graph with the token and answered 302.
    let reports: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|e| e.path.contains("/reports/"))
        .collect();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|e| e.status == 302));
}

#[test]
fn concealed_names_give_totals_only() {
    let sb = Sandbox::new();
    let snap = fabrikam_with(|u| {
        u.insert(
            "reportSettings".into(),
            serde_json::json!({"displayConcealedNames": true}),
        );
    });
    for t in [
        token().to_string(),
        // Without ReportSettings.Read.All the setting is unknown: the hashes give it away.
        token_without(&["ReportSettings.Read.All", "ReportSettings.ReadWrite.All"]),
    ] {
        let sim = Sim::start(snap.clone());
        let out = sb.path("c.plan.yaml");
        let run = plan(&sb, &sim, &t, &[], &out).expect(0);
        assert!(run.stdout.contains(TOTALS), "{}", run.stdout);
        assert!(
            run.stdout.contains("conceal user and site names"),
            "{}",
            run.stdout
        );
        let doc = show_json(&sb, &out);
        assert_eq!(doc["data"]["names_concealed"], true);
        assert_eq!(doc["data"]["users"], serde_json::json!([]));
        assert_eq!(doc["data"]["site_list"], serde_json::json!([]));
        let file = std::fs::read_to_string(&out).unwrap();
        assert!(
            !file.contains("ben.walters@fabrikam.com\n    mailbox"),
            "{file}"
        );
    }
}

#[test]
fn reports_forbidden_or_another_cloud_are_not_checked_and_plan_still_succeeds() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("fabrikam"));
    let out = sb.path("n.plan.yaml");
    let t = token_without(&["Reports.Read.All"]);
    let run = plan(&sb, &sim, &t, &[], &out).expect(0);
    assert!(
        run.stdout.contains("[not checked] data at risk")
            || run.stdout.contains("not checked: the app may not read"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Reports.Read.All"), "{}", run.stdout);
    let doc = show_json(&sb, &out);
    let why = doc["data"]["not_checked"].as_str().unwrap();
    assert!(
        why.contains("403") && why.contains("Reports.Read.All"),
        "{why}"
    );
    assert!(sim.server().download_log().is_empty());

    // --auto-approve refuses: nothing is written.
    let url = sim.url();
    let applied = sb.closeout_env(
        &["apply", s(&out), "--graph-url", &url, "--auto-approve"],
        &token_env(token()),
    );
    let applied = applied.expect(1);
    assert!(
        applied.stderr.contains("data: {backup_confirmed: true}")
            && applied.stderr.contains("not checked"),
        "{}",
        applied.stderr
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    // Outside the global cloud the reports do not exist: not asked at all.
    let before = sim.log().len();
    let run = plan(&sb, &sim, token(), &["--cloud", "usgov"], &out).expect(0);
    assert!(
        run.stdout.contains("only in the global cloud"),
        "{}",
        run.stdout
    );
    assert!(sim.log()[before..]
        .iter()
        .all(|e| !e.path.contains("/reports/") && !e.path.contains("reportSettings")));
}

#[test]
fn apply_refuses_without_backup_confirmed_and_proceeds_with_it() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("fabrikam"));
    let url = sim.url();
    let out = sb.path("f.plan.yaml");
    plan(&sb, &sim, token(), &[], &out).expect(0);
    let refused = sb
        .closeout_env(
            &["apply", s(&out), "--graph-url", &url, "--auto-approve"],
            &token_env(token()),
        )
        .expect(1);
    assert!(
        refused.stderr.contains(TOTALS) && refused.stderr.contains("Nothing was changed"),
        "{}",
        refused.stderr
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let spec = sb.path("closeout.yaml");
    std::fs::write(
        &spec,
        format!("version: 1\nkeep: [{KEEP}]\ndata:\n  backup_confirmed: true\n"),
    )
    .unwrap();
    let confirmed = sb.path("confirmed.plan.yaml");
    let run = plan(&sb, &sim, token(), &["--spec", s(&spec)], &confirmed).expect(0);
    assert!(
        run.stdout.contains("backup_confirmed: true"),
        "{}",
        run.stdout
    );
    let doc = show_json(&sb, &confirmed);
    assert_eq!(doc["data"]["backup_confirmed"], true);
    let applied = sb.closeout_env(
        &[
            "apply",
            s(&confirmed),
            "--graph-url",
            &url,
            "--auto-approve",
        ],
        &token_env(token()),
    );
    assert!(
        applied.code == 0 || applied.code == 3,
        "{}\n{}",
        applied.stdout,
        applied.stderr
    );
    assert!(sim
        .writes()
        .iter()
        .any(|e| e.method == "DELETE" && e.path.contains("/users/")));
}

#[test]
fn a_tenant_without_data_says_so_and_applies_without_asking() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("trial"));
    let out = sb.path("t.plan.yaml");
    let url = sim.url();
    let run = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &url,
                "--keep",
                "admin@tailspintoys.onmicrosoft.com",
                "-o",
                s(&out),
            ],
            &token_env(token()),
        )
        .expect(0);
    assert!(
        run.stdout
            .contains("usage reports count no mailbox, OneDrive or SharePoint data"),
        "{}",
        run.stdout
    );
    let applied = sb.closeout_env(
        &["apply", s(&out), "--graph-url", &url, "--auto-approve"],
        &token_env(token()),
    );
    assert!(
        applied.code == 0 || applied.code == 3,
        "{}\n{}",
        applied.stdout,
        applied.stderr
    );
}

/// A canary HTTP server: answers every request with a header-only report CSV and records
/// what it received.
fn canary() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the request head (GET requests have no body).
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            // The same file for every report: every column any of them needs, no rows.
            let body = "\u{feff}Report Refresh Date,User Principal Name,Owner Principal Name,Site URL,Is Deleted,Item Count,File Count,Storage Used (Byte)\n";
            record.lock().unwrap().push(head);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn the_token_never_goes_where_the_302_points_even_to_another_server() {
    let (canary_url, seen) = canary();
    let sb = Sandbox::new();
    let sim = Sim::start_with(
        graph_sim::load_snapshot(&tenant("fabrikam")).unwrap(),
        SimConfig {
            report_download_base: Some(canary_url),
            ..SimConfig::default()
        },
    );
    let out = sb.path("canary.plan.yaml");
    let run = plan(&sb, &sim, token(), &[], &out).expect(0);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}\n{}", run.stderr);
    for head in &seen {
        let lower = head.to_ascii_lowercase();
        assert!(!lower.contains("authorization"), "{head}");
        assert!(!head.contains(token()), "{head}");
        assert!(head.starts_with("GET /data/download/"), "{head}");
    }
    // The canary counted nothing: the plan says so.
    assert!(
        run.stdout
            .contains("usage reports count no mailbox, OneDrive or SharePoint data"),
        "{}",
        run.stdout
    );
    assert!(sim.server().download_log().is_empty());
}

#[test]
fn graph_sims_download_route_rejects_a_token_and_serves_only_keys_it_handed_out() {
    let sim = Sim::open(&tenant("fabrikam"));
    let url = sim.url();
    let download_base = sim.server().download_base_url();
    assert_ne!(download_base, url, "the download listener is another port");
    sim.rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .get(format!(
                "{url}/v1.0/reports/getMailboxUsageDetail(period='D7')"
            ))
            .bearer_auth(token())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&download_base), "{location}");
        let key = location.rsplit('/').next().unwrap();
        assert!(key.len() >= 64, "an unguessable key: {key}");

        let with_token = client
            .get(&location)
            .bearer_auth(token())
            .send()
            .await
            .unwrap();
        assert_eq!(with_token.status().as_u16(), 400);
        let plain = client.get(&location).send().await.unwrap();
        assert_eq!(plain.status().as_u16(), 200);
        let body = plain.bytes().await.unwrap();
        assert!(body.starts_with(b"\xEF\xBB\xBFReport Refresh Date,User Principal Name,"));
        let guessed = client
            .get(format!("{download_base}/data/download/{}", "0".repeat(64)))
            .send()
            .await
            .unwrap();
        assert_eq!(guessed.status().as_u16(), 404);

        let bad_period = client
            .get(format!(
                "{url}/v1.0/reports/getMailboxUsageDetail(period='D8')"
            ))
            .bearer_auth(token())
            .send()
            .await
            .unwrap();
        assert_eq!(bad_period.status().as_u16(), 400);
        let narrow = token_without(&["Reports.Read.All"]);
        let denied = client
            .get(format!(
                "{url}/v1.0/reports/getOneDriveUsageAccountDetail(period='D7')"
            ))
            .bearer_auth(narrow)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 403);
    });
    let log = sim.server().download_log();
    assert_eq!(
        log.iter().map(|d| d.authorization_sent).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert_eq!(
        log.iter().map(|d| d.known_key).collect::<Vec<_>>(),
        [true, true, false]
    );
}
