//! Issue 10 point 7 (hostile server): closeout's protocol core against small loopback
//! servers playing a misbehaving Graph, with canary servers on other loopback ports and
//! other loopback addresses (127.0.0.2, ...) that log every request. Each case ends with a
//! clear error or safe output; the token never reaches a canary and is never shown.
//!
//! The bulk runs in-process against the library (fast, exact); a sample runs through the
//! binary (exit code, stderr). Bounded: every server answers or stops within seconds.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use closeout::graph::{ClientOptions, GraphClient, GraphError, StaticToken};
use closeout::protocol::{PagingLimits, SecretUrl, WaitEvent, WaitReporter};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Run, Sandbox};

/// The one fake token of this file (the lead may swap in a JWT-shaped one).
const FAKE_TOKEN: &str = "FAKE-TOKEN-hostile-5f2b9c1e7d3a4b6c8e0f1a2b3c4d5e6f";
/// A marker put in link queries: never to be shown in a refusal.
const QUERY_SECRET: &str = "QUERYSECRET9f8e7d";

/// One request a server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a scripted server does with a request.
enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// Status line, headers, then `n` bytes of `x` streamed without a Content-Length.
    Stream(u16, usize),
    /// Hold the connection without answering until the server stops.
    Silent,
}

type Script = dyn Fn(&Seen, usize, SocketAddr) -> Reply + Send + Sync;

/// A scripted HTTP/1.1 server on `ip`:0, one thread per connection, `Connection: close`.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn on(
        ip: &str,
        script: impl Fn(&Seen, usize, SocketAddr) -> Reply + Send + Sync + 'static,
    ) -> Option<Server> {
        let listener = TcpListener::bind((ip, 0)).ok()?;
        let addr = listener.local_addr().ok()?;
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (s2, halt) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (seen, script, halt) = (s2.clone(), script.clone(), halt.clone());
                std::thread::spawn(move || serve(stream, &seen, &*script, addr, &halt));
            }
        });
        Some(Server { addr, seen, stop })
    }

    fn start(script: impl Fn(&Seen, usize, SocketAddr) -> Reply + Send + Sync + 'static) -> Server {
        Server::on("127.0.0.1", script).expect("bind 127.0.0.1")
    }

    /// A canary: answers an empty collection and logs what it got.
    fn canary(ip: &str) -> Option<Server> {
        Server::on(ip, |_, _, _| json_reply(200, &[], &json!({"value": []})))
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    script: &Script,
    me: SocketAddr,
    halt: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let Some(crate::common::RawRequest {
        method,
        path,
        headers,
        body,
    }) = crate::common::read_request(&mut reader)
    else {
        return;
    };
    let req = Seen {
        method,
        path,
        headers,
        body,
    };
    let n = {
        let mut all = seen.lock().unwrap();
        all.push(req.clone());
        all.len() - 1
    };
    match script(&req, n, me) {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::Stream(status, n) => {
            let head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"value\":[\"");
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < n {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
                sent += chunk.len();
            }
        }
        Reply::Silent => {
            while !halt.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn raw(status: u16, headers: &[(&str, String)], content_type: &str, body: &[u8]) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: {content_type}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Raw(bytes)
}

fn json_reply(status: u16, headers: &[(&str, String)], body: &Value) -> Reply {
    raw(
        status,
        headers,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn quick() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(10),
        max_attempts: 3,
        pacing: None,
        batch_size: 1,
        first_contact: Duration::from_secs(1),
        ..ClientOptions::default()
    }
}

fn client(url: &str, options: ClientOptions) -> GraphClient {
    GraphClient::new(url, Arc::new(StaticToken::new(FAKE_TOKEN)), options).unwrap()
}

/// The error shown in full (Display and Debug) carries no token and no raw control.
fn assert_safe(e: &GraphError) {
    let shown = format!("{e}\n{e:?}");
    assert!(!shown.contains(FAKE_TOKEN), "token shown: {shown}");
    let display = e.to_string();
    for c in display.chars() {
        assert!(
            c == '\n'
                || !(c.is_control()
                    || ('\u{202a}'..='\u{202e}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c)),
            "raw control {c:?} in: {display:?}"
        );
    }
}

/// Canaries on another loopback address and another port of the same address (and IPv6
/// loopback when the machine has it).
fn canaries() -> Vec<Server> {
    let mut v = vec![
        Server::canary("127.0.0.1").unwrap(),
        Server::canary("127.0.0.2").expect("127.0.0.2 (Linux routes all of 127/8 to loopback)"),
        Server::canary("127.0.0.3").expect("127.0.0.3"),
    ];
    if let Some(s) = Server::canary("::1") {
        v.push(s);
    }
    v
}

fn assert_untouched(canaries: &[Server]) {
    for c in canaries {
        let seen = c.seen();
        assert!(seen.is_empty(), "canary {} was called: {seen:?}", c.addr);
    }
}

/// Every spelling of "somewhere else" a link can take, for canaries at `others`, with the
/// Graph server at `me`.
fn off_host_links(me: SocketAddr, others: &[SocketAddr]) -> Vec<String> {
    let q = format!("?$skiptoken={QUERY_SECRET}");
    let mut links = Vec::new();
    for o in others {
        let host = match o {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        links.push(format!("http://{host}/v1.0/users{q}"));
        links.push(format!("//{host}/v1.0/users{q}"));
        links.push(format!("http:\\\\{host}\\v1.0\\users{q}"));
        links.push(format!("/\\{host}/v1.0/users{q}"));
        links.push(format!("\\\\{host}/v1.0/users{q}"));
        links.push(format!("  http://{host}/v1.0/users{q}"));
        links.push(format!("\thttp://{host}/v1.0/users{q}\n"));
        links.push(format!("http://user@{host}/v1.0/users{q}"));
        links.push(format!("http://{me}@{host}/v1.0/users{q}"));
        links.push(format!("HTTP://{}/v1.0/users{q}", host.to_uppercase()));
    }
    // The same server under other names or ports is another origin too.
    links.push(format!("http://localhost:{}/v1.0/users{q}", me.port()));
    links.push(format!("http://[::1]:{}/v1.0/users{q}", me.port()));
    links.push(format!("http://127.0.0.%32:{}/v1.0/users{q}", me.port()));
    links.push(format!("http://0x7f000002:{}/v1.0/users{q}", me.port()));
    links.push(format!("https://{me}/v1.0/users{q}"));
    links.push(format!("http://user:pw@{me}/v1.0/users{q}"));
    links
}

#[tokio::test]
async fn off_host_next_links_and_locations_are_refused_naming_only_the_host() {
    let canaries = canaries();
    let others: Vec<SocketAddr> = canaries.iter().map(|c| c.addr).collect();
    let links: Arc<Mutex<Vec<String>>> = Arc::default();
    let current = Arc::new(Mutex::new(String::new()));
    let cur = current.clone();
    let graph = Server::start(move |r, _, _| {
        let link = cur.lock().unwrap().clone();
        match r.path.as_str() {
            p if p.starts_with("/v1.0/users") => json_reply(
                200,
                &[],
                &json!({"value": [{"id": "1"}], "@odata.nextLink": link}),
            ),
            p if p.starts_with("/v1.0/organization") => {
                raw(302, &[("Location", link)], "text/plain", b"")
            }
            _ => raw(307, &[("Location", link)], "text/plain", b""),
        }
    });
    *links.lock().unwrap() = off_host_links(graph.addr, &others);
    let c = client(&graph.url(), quick());
    let all = links.lock().unwrap().clone();
    for link in &all {
        *current.lock().unwrap() = link.clone();
        let e = c.get_all("/v1.0/users").await.unwrap_err();
        assert!(matches!(e, GraphError::OffService { .. }), "{link:?}: {e}");
        let text = e.to_string();
        assert!(
            !text.contains(QUERY_SECRET) && !text.contains("/v1.0/users?"),
            "{link:?}: {text}"
        );
        assert_safe(&e);
        // A redirect is never followed, for a read or a write.
        let e = c.get("/v1.0/organization").await.unwrap_err();
        assert!(matches!(e, GraphError::Redirect { .. }), "{link:?}: {e}");
        assert!(!e.to_string().contains(QUERY_SECRET), "{e}");
        let e = c
            .request(Method::DELETE, "/v1.0/applications/1", None)
            .await
            .unwrap_err();
        assert!(matches!(e, GraphError::Redirect { .. }), "{link:?}: {e}");
    }
    assert_untouched(&canaries);

    // A relative nextLink and one on the same origin are followed.
    let same = Server::start(|r, _, me| {
        if r.path.contains("page=2") {
            json_reply(
                200,
                &[],
                &json!({"value": [{"id": "2"}], "@odata.nextLink": format!("http://{me}/v1.0/users?page=3")}),
            )
        } else if r.path.contains("page=3") {
            json_reply(200, &[], &json!({"value": [{"id": "3"}]}))
        } else {
            json_reply(
                200,
                &[],
                &json!({"value": [{"id": "1"}], "@odata.nextLink": "/v1.0/users?page=2"}),
            )
        }
    });
    let c = client(&same.url(), quick());
    assert_eq!(c.get_all("/v1.0/users").await.unwrap().len(), 3);
    assert!(same
        .seen()
        .iter()
        .all(|r| r.header("authorization") == Some(&*format!("Bearer {FAKE_TOKEN}"))));
}

#[tokio::test]
async fn a_download_link_is_fetched_without_credentials_and_never_shown() {
    let canary = Server::on("127.0.0.2", |r, _, _| {
        if r.path.contains("missing") {
            raw(404, &[], "text/plain", b"no such report")
        } else {
            raw(
                200,
                &[],
                "text/csv",
                b"Report Refresh Date,User Principal Name\n",
            )
        }
    })
    .unwrap();
    let graph = Server::start(|_, _, _| json_reply(200, &[], &json!({})));
    let c = client(&graph.url(), quick());
    let root =
        closeout::protocol::ServiceRoot::new(closeout::protocol::Audience::Graph, &graph.url())
            .unwrap();
    let link = SecretUrl::resolve(
        &root,
        &format!("http://{}/r.csv?sig={QUERY_SECRET}", canary.addr),
    )
    .unwrap();
    let csv = c.core().download(&link).await.unwrap();
    assert!(csv.starts_with(b"Report Refresh Date"));
    let missing = SecretUrl::resolve(
        &root,
        &format!("http://{}/missing.csv?sig={QUERY_SECRET}", canary.addr),
    )
    .unwrap();
    let e = c.core().download(&missing).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    let text = format!("{e} {e:?} {missing:?} {missing}");
    assert!(
        !text.contains(QUERY_SECRET) && !text.contains("missing.csv"),
        "{text}"
    );
    for r in canary.seen() {
        assert!(r.header("authorization").is_none(), "{r:?}");
    }
    assert!(graph.seen().is_empty());
}

/// Every place a server can echo the token (and other secrets) into an error.
#[tokio::test]
async fn token_echoes_in_every_error_position_are_redacted() {
    let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
    let graph = Server::start(move |r, _, _| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let token = auth.trim_start_matches("Bearer ").to_string();
        let p = r.path.as_str();
        let err = |code: &str, message: String, inner: Value| json!({"error": {"code": code, "message": message, "innerError": inner}});
        if p.contains("message") {
            json_reply(403, &[], &err("Authorization_RequestDenied", format!("your token {token} and {auth} and {jwt} and https://x/y?sig=abc123&code=0.AXYZ"), json!({})))
        } else if p.contains("code") {
            json_reply(400, &[], &err(&token, "bad".into(), json!({})))
        } else if p.contains("inner") {
            json_reply(
                400,
                &[],
                &err(
                    "X",
                    "bad".into(),
                    json!({"request-id": token, "date": auth}),
                ),
            )
        } else if p.contains("headers") {
            json_reply(
                400,
                &[
                    ("request-id", token.clone()),
                    ("client-request-id", auth.clone()),
                ],
                &err("X", "bad".into(), json!({})),
            )
        } else if p.contains("text") {
            raw(400, &[], "text/plain", format!("echo {auth}").as_bytes())
        } else if p.contains("html") {
            raw(
                400,
                &[],
                "text/html",
                format!("<html><title>{token}</title><body>{auth}</body></html>").as_bytes(),
            )
        } else if p.contains("$batch") {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let items: Vec<Value> = body["requests"].as_array().cloned().unwrap_or_default().iter().map(|i| {
                json!({"id": i["id"], "status": 403, "headers": {"request-id": token},
                       "body": err(&token, format!("item echo {auth}"), json!({"request-id": token}))})
            }).collect();
            json_reply(200, &[], &json!({"responses": items}))
        } else {
            json_reply(
                404,
                &[],
                &err("Request_ResourceNotFound", token.clone(), json!({})),
            )
        }
    });
    let c = client(&graph.url(), quick());
    for p in [
        "/v1.0/message",
        "/v1.0/code",
        "/v1.0/inner",
        "/v1.0/headers",
        "/v1.0/text",
        "/v1.0/html",
        "/v1.0/other",
    ] {
        let e = c.get(p).await.unwrap_err();
        assert_safe(&e);
        let text = format!("{e:?}");
        for s in [jwt, "abc123", "0.AXYZ"] {
            assert!(!text.contains(s), "{p}: {text}");
        }
    }
    // $batch item error bodies and headers.
    let batching = client(
        &graph.url(),
        ClientOptions {
            batch_size: 20,
            ..quick()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..5 {
        let c = batching.clone();
        tasks.push(tokio::spawn(async move {
            c.request(Method::DELETE, &format!("/v1.0/users/{i}"), None)
                .await
        }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert_eq!(e.status(), Some(403), "{e}");
        assert_safe(&e);
    }
    assert!(graph.seen().iter().any(|r| r.path.contains("$batch")));
}

#[tokio::test]
async fn control_characters_and_bidi_in_error_messages_are_escaped() {
    let nasty =
        "\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}txt.exe\u{2066}\r\nFAKE: ok\u{85}\u{2028}\u{200b}";
    let graph = Server::start(move |_, _, _| {
        json_reply(
            400,
            &[("request-id", "r\u{202e}x".into())],
            &json!({"error": {"code": format!("Bad{nasty}"), "message": nasty}}),
        )
    });
    let c = client(&graph.url(), quick());
    let e = c.get("/v1.0/users").await.unwrap_err();
    assert_safe(&e);
    let text = e.to_string();
    assert!(
        text.contains("\\u{1b}]0;owned") && text.contains("\\u{202e}"),
        "{text}"
    );
    // A long message is cut to a few hundred characters.
    let long = Server::start(|_, _, _| {
        json_reply(
            400,
            &[],
            &json!({"error": {"code": "X", "message": "m".repeat(100_000)}}),
        )
    });
    let e = client(&long.url(), quick())
        .get("/v1.0/users")
        .await
        .unwrap_err();
    assert!(e.to_string().len() < 1_000, "{}", e.to_string().len());
}

#[tokio::test]
async fn paging_that_the_collection_cannot_explain_stops_with_an_error() {
    let limits = PagingLimits {
        max_empty_in_a_row: 20,
        max_pages: 200,
        max_items: 1_000,
    };
    let options = || ClientOptions {
        paging: limits,
        ..quick()
    };
    // Endless pages, each with an item and a new nextLink.
    let endless = Server::start(|_, n, me| {
        json_reply(
            200,
            &[],
            &json!({"value": [{"id": n}], "@odata.nextLink": format!("http://{me}/v1.0/users?$skiptoken={n}")}),
        )
    });
    let t = Instant::now();
    let e = client(&endless.url(), options())
        .get_all("/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::PagingRunaway { .. }), "{e}");
    assert!(e.to_string().contains("more than 200 pages"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(20));
    // Empty pages, each with another nextLink.
    let empty = Server::start(|_, n, me| {
        json_reply(
            200,
            &[],
            &json!({"value": [], "@odata.nextLink": format!("http://{me}/v1.0/users?$skiptoken={n}")}),
        )
    });
    let e = client(&empty.url(), options())
        .get_all("/v1.0/users")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("20 empty pages in a row"), "{e}");
    assert_eq!(empty.seen().len(), 20);
    // Too many items for any tenant (here: the configured bound).
    let fat = Server::start(|_, n, me| {
        let items: Vec<Value> = (0..100).map(|i| json!({"id": i})).collect();
        json_reply(
            200,
            &[],
            &json!({"value": items, "@odata.nextLink": format!("http://{me}/v1.0/users?$skiptoken={n}")}),
        )
    });
    let e = client(&fat.url(), options())
        .get_all("/v1.0/users")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("more than 1000 items"), "{e}");
    // Two links pointing at each other.
    let pingpong = Server::start(|r, _, _| {
        let next = if r.path.contains("=a") {
            "/v1.0/users?$skiptoken=b"
        } else {
            "/v1.0/users?$skiptoken=a"
        };
        json_reply(
            200,
            &[],
            &json!({"value": [{"id": 1}], "@odata.nextLink": next}),
        )
    });
    let e = client(&pingpong.url(), options())
        .get_all("/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::PagingLoop { .. }), "{e}");
    assert_eq!(pingpong.seen().len(), 3);
}

#[tokio::test]
async fn oversized_and_deeply_nested_bodies_are_refused_fast() {
    let options = || ClientOptions {
        max_body_bytes: 1024 * 1024,
        ..quick()
    };
    // Declared too large: refused from Content-Length.
    let declared = Server::start(|_, _, _| {
        Reply::Raw(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9000000000\r\nconnection: close\r\n\r\n{".to_vec())
    });
    let e = client(&declared.url(), options())
        .get("/v1.0/users?$select=id&$skiptoken=QQ")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::BodyTooLarge { .. }), "{e}");
    assert!(
        e.to_string().contains("GET /v1.0/users:") && !e.to_string().contains("QQ"),
        "{e}"
    );
    // Streamed without a length: refused while it streams (64 MiB offered, 1 MiB allowed).
    let streamed = Server::start(|_, _, _| Reply::Stream(200, 64 * 1024 * 1024));
    let t = Instant::now();
    let e = client(&streamed.url(), options())
        .get_all("/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::BodyTooLarge { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
    // Deep nesting fails in milliseconds with a clear message.
    let deep = Server::start(|_, _, _| raw(200, &[], "application/json", &vec![b'['; 2_000_000]));
    let t = Instant::now();
    let e = client(&deep.url(), quick())
        .get("/v1.0/users")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nested deeper than"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A deep error body is described, not parsed into a stack overflow.
    let deep_error =
        Server::start(|_, _, _| raw(500, &[], "application/json", &vec![b'{'; 60_000]));
    let e = client(&deep_error.url(), quick())
        .get("/v1.0/users")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
}

/// Collects wait events.
#[derive(Default)]
struct Waits(Mutex<Vec<WaitEvent>>);

impl WaitReporter for Waits {
    fn waiting(&self, event: &WaitEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Waits {
    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[tokio::test]
async fn gateway_html_and_http_date_retry_after_are_retried_and_waits_are_reported() {
    // 502 with an HTML page, 504 HTML, then success: retried whatever the body.
    let html =
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>";
    let gateway = Server::start(move |_, n, _| match n {
        0 => raw(502, &[], "text/html", html),
        1 => raw(504, &[], "text/html", html),
        _ => json_reply(200, &[], &json!({"id": "org"})),
    });
    let c = client(&gateway.url(), quick());
    assert_eq!(c.get("/v1.0/organization/org").await.unwrap()["id"], "org");
    assert_eq!(gateway.seen().len(), 3);
    // Always HTML: a clear error naming the page, not a JSON parse failure.
    let down = Server::start(move |_, _, _| raw(502, &[], "text/html", html));
    let e = client(&down.url(), quick())
        .get("/v1.0/domains")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("HTTP 502 BadGateway")
            && text.contains("HTML page")
            && text.contains("502 Bad Gateway"),
        "{text}"
    );
    assert!(!text.contains("<h1>"), "{text}");
    assert_eq!(down.seen().len(), 3);

    // Retry-After as an HTTP-date, 4 s ahead: waited, and the wait is reported.
    let busy = Server::start(|_, n, _| {
        if n == 0 {
            let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
            json_reply(
                503,
                &[("Retry-After", at)],
                &json!({"error": {"code": "serviceNotAvailable", "message": "busy"}}),
            )
        } else {
            json_reply(200, &[], &json!({"id": "org"}))
        }
    });
    let waits = Arc::new(Waits::default());
    let c = client(&busy.url(), quick()).with_wait_reporter(waits.clone());
    let t = Instant::now();
    c.get("/v1.0/organization/org").await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    let lines = waits.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("waiting ")
            && l.contains("Graph answered 503 serviceNotAvailable (attempt 1 of 3)")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_silent_server_is_reported_and_bounded_by_the_timeout_and_the_deadline() {
    let silent = Server::start(|_, _, _| Reply::Silent);
    let waits = Arc::new(Waits::default());
    let c = client(
        &silent.url(),
        ClientOptions {
            request_timeout: Duration::from_millis(1500),
            no_answer_after: Duration::from_millis(400),
            max_attempts: 2,
            ..quick()
        },
    )
    .with_wait_reporter(waits.clone());
    let t = Instant::now();
    let e = c.get("/v1.0/users").await.unwrap_err();
    assert!(matches!(e, GraphError::Transport { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(silent.seen().len(), 2);
    let lines = waits.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("no answer from {}", silent.addr))),
        "{lines:?}"
    );
    // The timed-out attempt is said too, before the retry.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("waiting ") && l.contains("retrying (attempt 1 of 2)")),
        "{lines:?}"
    );
    // The deadline bounds the time inside a request too.
    let c = client(
        &silent.url(),
        ClientOptions {
            deadline: Some(Duration::from_secs(1)),
            ..quick()
        },
    );
    let t = Instant::now();
    let e = c.get("/v1.0/users").await.unwrap_err();
    assert!(matches!(e, GraphError::Deadline { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_closed_port_fails_fast_with_a_network_hint_and_a_bad_token_is_never_sent() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Instant::now();
    let e = client(&format!("http://127.0.0.1:{port}"), quick())
        .get("/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::Network { .. }), "{e}");
    assert!(e.to_string().contains("--graph-url"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));

    let graph = Server::start(|_, _, _| json_reply(200, &[], &json!({"value": []})));
    for (token, says) in [
        (format!("{FAKE_TOKEN}\r"), "Windows line endings"),
        (format!("{FAKE_TOKEN}\n"), "line feed"),
        (
            format!("{FAKE_TOKEN}\u{0}x"),
            "cannot be sent in an HTTP header",
        ),
    ] {
        let c = GraphClient::new(&graph.url(), Arc::new(StaticToken::new(token)), quick()).unwrap();
        let e = c.get("/v1.0/users").await.unwrap_err();
        assert!(matches!(e, GraphError::Local(_)), "{e}");
        assert!(e.to_string().contains(says), "{e}");
        assert_safe(&e);
    }
    assert!(graph.seen().is_empty());
}

/// Runs the binary with only `CLOSEOUT_ACCESS_TOKEN` as credential.
fn closeout(sb: &Sandbox, args: &[&str], token: &str) -> (Run, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_closeout"));
    cmd.args(args)
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("CLOSEOUT_")
            || k.starts_with("AZURE_")
            || k.starts_with("IDENTITY_")
            || k.starts_with("MSI_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("CLOSEOUT_ACCESS_TOKEN", token);
    let t = Instant::now();
    let o = cmd.output().expect("run closeout");
    (
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        t.elapsed(),
    )
}

#[test]
fn through_the_binary_bad_tokens_closed_ports_silent_servers_and_echoes_end_clearly() {
    let sb = Sandbox::new();
    let plan = |url: &str| {
        vec![
            "plan".to_string(),
            "--keep".into(),
            "admin@contoso.com".into(),
            "--graph-url".into(),
            url.to_string(),
        ]
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // A token saved with Windows line endings: a clear error at once, nothing sent.
    let graph = Server::start(|_, _, _| json_reply(200, &[], &json!({"value": []})));
    let a = plan(&graph.url());
    let (run, took) = closeout(&sb, &args(&a), &format!("{FAKE_TOKEN}\r"));
    let run = run.expect(1);
    assert!(
        run.stderr.contains("Windows line endings"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(FAKE_TOKEN) && !run.stdout.contains(FAKE_TOKEN));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(graph.seen().is_empty());

    // A closed port: within about 10 s, with a network hint.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = plan(&format!("http://127.0.0.1:{port}"));
    let (run, took) = closeout(&sb, &args(&a), FAKE_TOKEN);
    let run = run.expect(1);
    assert!(
        run.stderr.contains("cannot reach 127.0.0.1") && run.stderr.contains("--graph-url"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    // An error that echoes the token and terminal controls, and an off-host nextLink.
    let canary = Server::canary("127.0.0.2").unwrap();
    let to = canary.addr;
    let hostile = Server::start(move |r, _, _| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        if r.path.starts_with("/v1.0/organization") {
            json_reply(
                200,
                &[],
                &json!({"value": [{"id": "org", "displayName": "Contoso"}], "@odata.nextLink": format!("http://{to}/v1.0/organization?$skiptoken={QUERY_SECRET}")}),
            )
        } else {
            json_reply(
                403,
                &[],
                &json!({"error": {"code": "Authorization_RequestDenied", "message": format!("\u{1b}]0;x\u{7}echo {auth}")}}),
            )
        }
    });
    let a = plan(&hostile.url());
    let (run, _) = closeout(&sb, &args(&a), FAKE_TOKEN);
    assert_ne!(run.code, 0, "{}", run.stderr);
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(FAKE_TOKEN), "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(!out.contains(QUERY_SECRET), "{out}");
    }
    assert_untouched(&[canary]);
}

#[test]
fn through_the_binary_a_silent_server_gets_a_waiting_line_and_the_deadline_ends_the_run() {
    let sb = Sandbox::new();
    let silent = Server::start(|_, _, _| Reply::Silent);
    let url = silent.url();
    let (run, took) = closeout(
        &sb,
        &[
            "plan",
            "--keep",
            "admin@contoso.com",
            "--graph-url",
            &url,
            "--deadline",
            "12s",
        ],
        FAKE_TOKEN,
    );
    let run = run.expect(1);
    assert!(
        run.stderr
            .contains(&format!("closeout: no answer from {} in 10", silent.addr)),
        "{}",
        run.stderr
    );
    // The concurrent reads wait together: one combined line, not one per request.
    assert_eq!(
        run.stderr
            .matches(&format!("closeout: no answer from {} in 10", silent.addr))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--deadline"), "{}", run.stderr);
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(!run.stderr.contains(FAKE_TOKEN));
}

/// Issue 12 point 3 (client side): a `$batch` refused as a whole (429, 424, 503) was not
/// processed and is sent again as it was, without re-reads; one answered 502 may have been
/// processed, so its PATCH items are re-read first.
#[tokio::test]
async fn a_batch_envelope_refused_whole_is_sent_again_and_a_gateway_error_is_re_read() {
    let items_ok = |r: &Seen| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let items: Vec<Value> = body["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| json!({"id": i["id"], "status": 204}))
            .collect();
        json_reply(200, &[], &json!({ "responses": items }))
    };
    let graph = Server::start(move |r, n, _| {
        if r.method == "GET" {
            return json_reply(200, &[], &json!({"accountEnabled": true}));
        }
        match n {
            0 => json_reply(
                429,
                &[("Retry-After", "0.2".into())],
                &json!({"error": {"code": "TooManyRequests", "message": "slow"}}),
            ),
            1 => json_reply(
                424,
                &[],
                &json!({"error": {"code": "FailedDependency", "message": "batch"}}),
            ),
            2 => json_reply(
                503,
                &[],
                &json!({"error": {"code": "serviceNotAvailable", "message": "busy"}}),
            ),
            _ => items_ok(r),
        }
    });
    let c = client(
        &graph.url(),
        ClientOptions {
            batch_size: 20,
            max_attempts: 5,
            ..quick()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..4 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                c.request(Method::DELETE, &format!("/v1.0/users/{i}"), None)
                    .await
            } else {
                c.request(
                    Method::PATCH,
                    &format!("/v1.0/users/{i}"),
                    Some(&json!({"accountEnabled": false})),
                )
                .await
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let seen = graph.seen();
    assert!(
        seen.iter()
            .all(|r| r.method == "POST" && r.path == "/v1.0/$batch"),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 4);

    // A 502 envelope may have been processed: PATCH items are re-read before they go again.
    let once = Arc::new(AtomicBool::new(false));
    let flag = once.clone();
    let gw = Server::start(move |r, _, _| {
        if r.method == "GET" {
            json_reply(200, &[], &json!({"accountEnabled": true}))
        } else if !flag.swap(true, Ordering::SeqCst) {
            raw(502, &[], "text/html", b"<html><title>502</title></html>")
        } else {
            items_ok(r)
        }
    });
    let c = client(
        &gw.url(),
        ClientOptions {
            batch_size: 20,
            ..quick()
        },
    );
    c.request(
        Method::PATCH,
        "/v1.0/users/9",
        Some(&json!({"accountEnabled": false})),
    )
    .await
    .unwrap();
    let seen = gw.seen();
    assert_eq!(
        seen.iter().filter(|r| r.method == "GET").count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen[1]
            .path
            .starts_with("/v1.0/users/9?$select=accountEnabled"),
        "{seen:?}"
    );
}

/// After the first answer of a run, a dropped network is waited out (with waiting lines)
/// until the deadline instead of ending the run at once.
#[tokio::test]
async fn a_network_drop_after_the_first_answer_is_retried_until_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        // Answer exactly one request, then close the port.
        if let Ok((s, _)) = listener.accept() {
            let seen = Mutex::new(Vec::new());
            serve(
                s,
                &seen,
                &|_, _, _| json_reply(200, &[], &json!({"id": "org"})),
                addr,
                &AtomicBool::new(true),
            );
        }
    });
    let waits = Arc::new(Waits::default());
    let c = client(
        &format!("http://{addr}"),
        ClientOptions {
            deadline: Some(Duration::from_secs(6)),
            backoff_base: Duration::from_millis(1500),
            max_wait: Duration::from_millis(3500),
            ..quick()
        },
    )
    .with_wait_reporter(waits.clone());
    c.get("/v1.0/organization/org").await.unwrap();
    server.join().unwrap();
    let t = Instant::now();
    let e = c.get("/v1.0/organization/org").await.unwrap_err();
    assert!(matches!(e, GraphError::Deadline { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(c.stats().retries >= 1, "{:?}", c.stats());
}

/// A wait at the client-side pacer is said too (the quota here: 1 resource unit per 10 s
/// of Graph time, run 2.5 times faster: the second request waits 4 s).
#[tokio::test]
async fn a_long_wait_at_the_pacer_is_reported() {
    let graph = Server::start(|_, _, _| json_reply(200, &[], &json!({"id": "org"})));
    let waits = Arc::new(Waits::default());
    let c = client(
        &graph.url(),
        ClientOptions {
            pacing: Some(closeout::graph::PacingConfig {
                time_scale: 2.5,
                resource_units_per_10s: Some(1),
                headroom: 1.0,
                ..closeout::graph::PacingConfig::default()
            }),
            ..quick()
        },
    )
    .with_wait_reporter(waits.clone());
    c.get("/v1.0/organization/org").await.unwrap();
    c.get("/v1.0/organization/org").await.unwrap();
    let lines = waits.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("waiting ") && l.contains("pacing requests at Graph's quotas")),
        "{lines:?}"
    );
}

/// An identity endpoint (managed identity) that echoes its `IDENTITY_HEADER` and the
/// request back in its error: the sign-in error shown is redacted at the boundary.
#[test]
fn an_identity_endpoint_echoing_its_header_is_redacted() {
    const MI_HEADER: &str = "FAKE-MI-HEADER-hostile-77aa88bb99cc";
    let sb = Sandbox::new();
    let mi = Server::start(|r, _, _| {
        let header = r
            .header("x-identity-header")
            .unwrap_or_default()
            .to_string();
        json_reply(
            500,
            &[],
            &json!({"error": "invalid_request", "error_description": format!("bad header {header} for {} \u{1b}[31m", r.path), "statusCode": 400}),
        )
    });
    let graph = Server::start(|_, _, _| json_reply(200, &[], &json!({"value": []})));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_closeout"));
    cmd.args([
        "plan",
        "--keep",
        "admin@contoso.com",
        "--graph-url",
        &graph.url(),
        "--auth",
        "managed-identity",
    ])
    .env("CLOSEOUT_STATE_DIR", sb.path("state"))
    .env("NO_COLOR", "1")
    .stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("CLOSEOUT_")
            || k.starts_with("AZURE_")
            || k.starts_with("IDENTITY_")
            || k.starts_with("MSI_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("IDENTITY_ENDPOINT", format!("{}/msi/token", mi.url()))
        .env("IDENTITY_HEADER", MI_HEADER);
    let o = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    // The endpoint's error (500: azure_identity shows its body) echoed the header.
    assert!(stderr.contains("bad header <redacted>"), "{stderr}");
    assert!(!mi.seen().is_empty(), "the identity endpoint was asked");
    assert!(graph.seen().is_empty(), "no token, no Graph request");
    for out in [&stdout, &stderr] {
        assert!(!out.contains(MI_HEADER), "{out}");
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }
}
