//! Graph under load over real loopback HTTP: throttling, `$batch`, faults, lag, page order,
//! throughput.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{SimConfig, SimServer, Store, ThrottleConfig};
use serde_json::{json, Value};

fn throttled(ru: u64, writes: u64, time_scale: f64) -> SimConfig {
    SimConfig {
        throttle: Some(ThrottleConfig {
            resource_units_per_10s: Some(ru),
            app_writes_per_150s: writes,
            ..ThrottleConfig::default()
        }),
        time_scale,
        fractional_retry_after: true,
        ..SimConfig::default()
    }
}

fn retry_after(r: &Reply) -> Option<f64> {
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
}

async fn big_tenant(users: usize, config: SimConfig) -> SimServer {
    let snapshot = generate(&GenerateOptions {
        users,
        guests: 0,
        seed: 11,
    });
    SimServer::start(Store::from_snapshot(snapshot), config, 0)
        .await
        .unwrap()
}

fn user_ids(server: &SimServer) -> Vec<String> {
    server
        .store()
        .snapshot()
        .users
        .iter()
        .filter(|u| {
            !u["userPrincipalName"]
                .as_str()
                .unwrap_or("")
                .starts_with("admin@")
        })
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn resource_units_throttle_with_retry_after_and_headers() {
    // 20 RU per 10 s; GET /users costs 2.
    let server = start_with(&tenant_yaml(), throttled(20, 3000, 1.0)).await;
    let c = Client::new(&server);
    let first = c.get("/v1.0/users").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["x-ms-resource-unit"], "2");
    let with_select = c.get("/v1.0/users?$select=id").await;
    assert_eq!(with_select.headers["x-ms-resource-unit"], "1");
    let mut saw_percentage = false;
    let mut last = None;
    for _ in 0..20 {
        let r = c.get("/v1.0/users").await;
        if r.headers.contains_key("x-ms-throttle-limit-percentage") {
            saw_percentage = true;
        }
        if r.status == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("throttled within 20 requests");
    assert!(saw_percentage, "x-ms-throttle-limit-percentage above 80 %");
    assert_eq!(code(&r), "TooManyRequests");
    let wait = retry_after(&r).expect("Retry-After");
    assert!(wait > 0.0 && wait <= 1.0, "{wait}");
    assert!(r.headers.contains_key("x-ms-throttle-scope"));
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    assert_eq!(c.get("/v1.0/users").await.status, 200);
}

#[tokio::test]
async fn time_scale_shrinks_retry_after() {
    let mut waits = Vec::new();
    for scale in [1.0, 10.0] {
        let server = start_with(&tenant_yaml(), throttled(1000, 2, scale)).await;
        let c = Client::new(&server);
        c.patch(
            "/v1.0/servicePrincipals/sp-1",
            json!({"accountEnabled": false}),
        )
        .await;
        c.patch(
            "/v1.0/servicePrincipals/sp-1",
            json!({"accountEnabled": true}),
        )
        .await;
        let r = c
            .patch(
                "/v1.0/servicePrincipals/sp-1",
                json!({"accountEnabled": false}),
            )
            .await;
        assert_eq!(r.status, 429);
        waits.push(retry_after(&r).unwrap());
    }
    // 2 writes per 150 s: one write back in 75 s, or 7.5 s at 10x.
    assert!((waits[0] - 75.0).abs() < 1.0, "{waits:?}");
    assert!((waits[1] - 7.5).abs() < 0.2, "{waits:?}");
}

#[tokio::test]
async fn conditional_access_429_has_no_retry_after() {
    let server = start_with(&tenant_yaml(), throttled(1000, 3000, 1.0)).await;
    let c = Client::new(&server);
    assert_eq!(
        c.get("/v1.0/identity/conditionalAccess/policies")
            .await
            .status,
        200
    );
    let r = c
        .get("/v1.0/identity/conditionalAccess/policies/ca-1")
        .await;
    assert_eq!(r.status, 429);
    assert!(!r.headers.contains_key("retry-after"));
    // Other identity endpoints are not affected.
    assert_eq!(c.get("/v1.0/users").await.status, 200);
}

async fn batch(c: &Client, requests: Value) -> Reply {
    c.send(
        "POST",
        "/v1.0/$batch",
        Some(json!({ "requests": requests })),
    )
    .await
}

#[tokio::test]
async fn batch_envelope_rules() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let r = batch(&c, Value::Array(many)).await;
    assert_eq!(r.status, 400);
    let r = batch(&c, json!([{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/domains"}])).await;
    assert_eq!(r.status, 400);
    let r = batch(
        &c,
        json!([{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = c.send("GET", "/v1.0/$batch", None).await;
    assert_eq!(r.status, 405);
    // dependsOn must point at an earlier item (forward and unknown references refused).
    for deps in [json!(["2"]), json!(["nope"])] {
        let r = batch(
            &c,
            json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": deps},
                   {"id": "2", "method": "GET", "url": "/domains"}]),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["error"]["code"], "BadRequest");
    }
    assert!(server.request_log().iter().all(|e| !e.via_batch));
    // A body may be base64 (what the Python SDK sends for non-object bodies).
    let r = batch(
        &c,
        json!([{"id": "1", "method": "PATCH", "url": "/servicePrincipals/sp-1",
                "headers": {"Content-Type": "application/json"},
                "body": "eyJhY2NvdW50RW5hYmxlZCI6IGZhbHNlfQ=="}]),
    )
    .await;
    assert_eq!(r.body["responses"][0]["status"], 204, "{}", r.body);
    // Item responses carry Graph's item headers.
    let r = batch(&c, json!([{"id": "1", "method": "GET", "url": "/domains"}])).await;
    let h = &r.body["responses"][0]["headers"];
    assert!(h["Content-Type"]
        .as_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(h["OData-Version"], "4.0");
    assert_eq!(h["Cache-Control"], "no-cache");
    assert_eq!(r.headers["cache-control"], "no-cache");
}

#[tokio::test]
async fn batch_envelope_can_be_answered_429_or_424_without_running_items() {
    for (config, status) in [
        (
            SimConfig {
                batch_rate_429: 1.0,
                ..SimConfig::default()
            },
            429,
        ),
        (
            SimConfig {
                batch_rate_424: 1.0,
                ..SimConfig::default()
            },
            424,
        ),
    ] {
        let server = start_with(&tenant_yaml(), config).await;
        let c = Client::new(&server);
        let r = batch(
            &c,
            json!([{"id": "1", "method": "DELETE", "url": "/users/aaaaaaaa-0000-0000-0000-000000000002"}]),
        )
        .await;
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.headers.contains_key("retry-after"), status == 429);
        assert!(r.body["error"]["innerError"]["request-id"].is_string());
        assert!(server.request_log().iter().all(|e| !e.via_batch));
        let u = c
            .get("/v1.0/users/aaaaaaaa-0000-0000-0000-000000000002")
            .await;
        assert_eq!(u.status, 200, "the item did not run");
    }
}

#[tokio::test]
async fn batch_items_answer_individually_and_depend_on_each_other() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let ann = "aaaaaaaa-0000-0000-0000-000000000002";
    let r = batch(
        &c,
        json!([
            {"id": "del", "method": "DELETE", "url": format!("/users/{ann}")},
            {"id": "again", "method": "DELETE", "url": format!("/users/{ann}"), "dependsOn": ["del"]},
            {"id": "after-fail", "method": "GET", "url": "/users?$top=1", "dependsOn": ["again"]},
            {"id": "list", "method": "GET", "url": "/users?$select=id&$top=2"},
            {"id": "patch", "method": "PATCH", "url": "/servicePrincipals/sp-1",
             "body": {"accountEnabled": false}, "headers": {"Content-Type": "application/json"}},
            {"id": "nobody", "method": "PATCH", "url": "/servicePrincipals/sp-1", "body": {"accountEnabled": false}},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_id: HashMap<&str, &Value> = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap(), x))
        .collect();
    assert_eq!(by_id["del"]["status"], 204);
    assert!(by_id["del"].get("body").is_none());
    assert_eq!(by_id["again"]["status"], 404);
    assert_eq!(
        by_id["again"]["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(by_id["after-fail"]["status"], 424);
    assert_eq!(by_id["list"]["status"], 200);
    assert_eq!(by_id["list"]["body"]["value"].as_array().unwrap().len(), 2);
    assert!(by_id["list"]["body"]["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("/v1.0/users?"));
    assert_eq!(by_id["patch"]["status"], 204);
    assert_eq!(
        by_id["nobody"]["status"], 400,
        "a body needs a Content-Type header"
    );

    let log = server.request_log();
    let items: Vec<_> = log.iter().filter(|e| e.via_batch).collect();
    assert_eq!(items.len(), 6);
    assert_eq!(
        items
            .iter()
            .filter(|e| e.method == "DELETE" && e.status == 204)
            .count(),
        1
    );
    assert!(log
        .iter()
        .any(|e| !e.via_batch && e.method == "POST" && e.path == "/v1.0/$batch"));
}

#[tokio::test]
async fn batch_items_are_throttled_individually() {
    let server = big_tenant(60, throttled(10_000, 5, 1.0)).await;
    let c = Client::new(&server);
    let ids = user_ids(&server);
    let requests: Vec<Value> = ids
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, id)| json!({"id": i.to_string(), "method": "DELETE", "url": format!("/users/{id}")}))
        .collect();
    let r = batch(&c, Value::Array(requests)).await;
    assert_eq!(r.status, 200);
    let responses = r.body["responses"].as_array().unwrap();
    let ok = responses.iter().filter(|x| x["status"] == 204).count();
    let throttled: Vec<&Value> = responses.iter().filter(|x| x["status"] == 429).collect();
    assert_eq!(ok, 5);
    assert_eq!(throttled.len(), 15);
    for t in throttled {
        let ra: f64 = t["headers"]["Retry-After"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ra > 0.0);
        assert_eq!(t["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn faults_503_and_504_are_seeded() {
    let config = SimConfig {
        rate_503: 0.3,
        rate_504: 0.2,
        seed: 99,
        ..SimConfig::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let server = start_with(&tenant_yaml(), config.clone()).await;
        let c = Client::new(&server);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let r = c.get("/v1.0/domains").await;
            if r.status == 503 {
                assert_eq!(code(&r), "serviceNotAvailable");
                assert!(retry_after(&r).is_some());
            }
            statuses.push(r.status);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1], "same seed, same faults");
    let set: HashSet<u16> = runs[0].iter().copied().collect();
    assert_eq!(set, HashSet::from([200, 503, 504]));
}

#[tokio::test]
async fn dropped_connections_and_lost_responses() {
    let server = start_with(
        &tenant_yaml(),
        SimConfig {
            rate_drop: 1.0,
            ..SimConfig::default()
        },
    )
    .await;
    let c = Client::new(&server);
    let err = c
        .http
        .delete(format!(
            "{}/v1.0/users/aaaaaaaa-0000-0000-0000-000000000002",
            c.base
        ))
        .header("Authorization", bearer())
        .send()
        .await
        .expect_err("no response");
    assert!(!err.is_timeout(), "{err}");
    // Dropped before execution: the user is still there.
    assert_eq!(server.store().snapshot().deleted_users.len(), 0);
    assert_eq!(server.request_log()[0].status, 0);

    let server = start_with(
        &tenant_yaml(),
        SimConfig {
            rate_lost_response: 1.0,
            ..SimConfig::default()
        },
    )
    .await;
    let c = Client::new(&server);
    let sent = c
        .http
        .delete(format!(
            "{}/v1.0/users/aaaaaaaa-0000-0000-0000-000000000002",
            c.base
        ))
        .header("Authorization", bearer())
        .send()
        .await;
    assert!(sent.is_err());
    // Executed although the client never heard back: a retry would see 404.
    assert_eq!(server.store().snapshot().deleted_users.len(), 1);
}

#[tokio::test]
async fn latency_is_added() {
    let server = start_with(
        &tenant_yaml(),
        SimConfig {
            latency_ms: 120,
            latency_jitter_ms: 30,
            ..SimConfig::default()
        },
    )
    .await;
    let c = Client::new(&server);
    let t = Instant::now();
    assert_eq!(c.get("/v1.0/domains").await.status, 200);
    let elapsed = t.elapsed();
    assert!(elapsed >= Duration::from_millis(120), "{elapsed:?}");
}

#[tokio::test]
async fn deleted_users_linger_in_lists_during_replication_lag() {
    let config = SimConfig {
        read_after_write_lag_ms: 4000,
        time_scale: 10.0,
        ..SimConfig::default()
    };
    let server = start_with(&tenant_yaml(), config).await;
    let c = Client::new(&server);
    let ann = "aaaaaaaa-0000-0000-0000-000000000002";
    assert_eq!(c.delete(&format!("/v1.0/users/{ann}")).await.status, 204);
    let listed = |r: &Reply| {
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == ann)
    };
    assert!(
        listed(&c.get("/v1.0/users?$select=id").await),
        "still listed during the lag"
    );
    assert_eq!(c.get(&format!("/v1.0/users/{ann}")).await.status, 404);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        !listed(&c.get("/v1.0/users?$select=id").await),
        "gone after 400 ms (4 s / 10)"
    );
}

async fn all_ids(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    let mut url = "/v1.0/users?$select=id&$top=7".to_string();
    loop {
        let r = c.get(&url).await;
        out.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string()),
        );
        match r.body["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn page_order_shuffles_per_seed() {
    let mut orders = Vec::new();
    for seed in [None, Some(1), Some(2)] {
        let server = big_tenant(
            40,
            SimConfig {
                shuffle_seed: seed,
                ..SimConfig::default()
            },
        )
        .await;
        orders.push(all_ids(&Client::new(&server)).await);
    }
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    let sets: Vec<HashSet<&String>> = orders.iter().map(|o| o.iter().collect()).collect();
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[1], sets[2]);
    assert_eq!(orders[0].len(), 40);
}

#[tokio::test]
async fn deleting_thousands_of_users_is_fast_and_logged_once_each() {
    let server = big_tenant(20_000, SimConfig::default()).await;
    let c = Client::new(&server);
    let ids: Vec<String> = user_ids(&server).into_iter().take(3_000).collect();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len() / 8 + 1) {
        let chunk = chunk.to_vec();
        let base = c.base.clone();
        let http = c.http.clone();
        tasks.spawn(async move {
            for id in chunk {
                let r = http
                    .delete(format!("{base}/v1.0/users/{id}"))
                    .header("Authorization", bearer())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    let rps = ids.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "deleted {} users in {elapsed:?} ({rps:.0} requests/s)",
        ids.len()
    );
    assert!(rps > 300.0, "{rps:.0} requests/s");
    let log = server.request_log();
    let deletes = log
        .iter()
        .filter(|e| e.method == "DELETE" && e.status == 204)
        .count();
    assert_eq!(deletes, ids.len());
    let r = c.get("/v1.0/users?$top=1&$select=id").await;
    assert_eq!(r.status, 200);
}

/// Requests graph-sim refuses for missing permissions still count toward the quota, as
/// Graph's throttling counts every request it receives
/// (<https://learn.microsoft.com/graph/throttling>).
#[tokio::test]
async fn refused_requests_count_toward_throttling() {
    let server = start_with(&tenant_yaml(), throttled(1_000, 3, 1.0)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reader = Client {
        token: graph_sim::token::mint(
            &graph_sim::token::MintOptions {
                app_roles: vec!["User.Read.All".into()],
                ..Default::default()
            },
            now,
        ),
        ..Client::new(&server)
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = reader
            .delete("/v1.0/users/aaaaaaaa-0000-0000-0000-000000000004")
            .await;
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..3], [403, 403, 403], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
}
