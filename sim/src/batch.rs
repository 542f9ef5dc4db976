//! The `$batch` area, above the router: `POST /{version}/$batch`
//! (<https://learn.microsoft.com/graph/json-batching>). Must not import the server.
//! Validates the envelope, orders items by `dependsOn`, throttles and runs each item like a
//! top-level request, answers 424 for items whose dependency failed, and logs every item.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::GraphError;
use crate::faults::Fault;
use crate::graph;
use crate::state::{unix_ms, LogEntry, Shared};
use crate::throttle::Admission;
use crate::wire::{error_body, error_response, GraphRequest, GraphResponse, Ids};

/// Largest number of requests in one batch.
pub(crate) const MAX_BATCH: usize = 20;

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(400, "BadRequest", message)
}

fn parse(body: &[u8]) -> Result<Vec<Item>, GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        bad("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
    })?;
    let requests = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Invalid batch payload format: 'requests' is required."))?;
    if requests.is_empty() {
        return Err(bad("Invalid batch payload format: 'requests' is empty."));
    }
    if requests.len() > MAX_BATCH {
        return Err(bad(format!(
            "Invalid batch payload format: the batch contains {} requests; at most {MAX_BATCH} are allowed.",
            requests.len()
        )));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut ids = HashSet::new();
    for (n, r) in requests.iter().enumerate() {
        let field = |name: &str| r.get(name).and_then(Value::as_str).map(str::to_string);
        let id = match r.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => return Err(bad(format!("Request {n} of the batch has no 'id'."))),
        };
        if !ids.insert(id.to_ascii_lowercase()) {
            return Err(bad(format!(
                "Request id '{id}' is used more than once; ids must be unique within a batch."
            )));
        }
        let method = field("method")
            .ok_or_else(|| bad(format!("Request '{id}' has no 'method'.")))?
            .to_ascii_uppercase();
        let url = field("url").ok_or_else(|| bad(format!("Request '{id}' has no 'url'.")))?;
        if url.contains("://") {
            return Err(bad(format!(
                "Request '{id}': the url must be relative to the version (e.g. /users), not absolute."
            )));
        }
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let depends_on = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("Request '{id}': dependsOn must list ids.")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad(format!("Request '{id}': dependsOn must be an array."))),
        };
        items.push(Item {
            id,
            method,
            url,
            headers,
            body: r.get("body").cloned().filter(|b| !b.is_null()),
            depends_on,
        });
    }
    // A dependency must name a request that comes earlier in the batch: OData's JSON batch
    // reader (which Graph's $batch is built on) refuses forward and unknown references with
    // "... is not matching any of the request Id and atomic group Id seen so far. Forward
    // reference is not allowed." (OData/odata.net issue #1822;
    // <https://learn.microsoft.com/graph/json-batching>, "Sequencing requests with the
    // dependsOn property").
    let mut seen: HashSet<String> = HashSet::new();
    for item in &items {
        for d in &item.depends_on {
            if !seen.contains(&d.to_ascii_lowercase()) {
                return Err(bad(format!(
                    "The dependsOn Id: [{d}] in request [{}] is not matching any of the request Id and atomic group Id seen so far. Forward reference is not allowed.",
                    item.id
                )));
            }
        }
        seen.insert(item.id.to_ascii_lowercase());
    }
    Ok(items)
}

/// Execution order: dependencies first, otherwise the order given. Cycles are refused.
fn order(items: &[Item]) -> Result<Vec<usize>, GraphError> {
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.to_ascii_lowercase(), i))
        .collect();
    let mut state = vec![0u8; items.len()]; // 0 new, 1 visiting, 2 done
    let mut out = Vec::with_capacity(items.len());
    fn visit(
        i: usize,
        items: &[Item],
        index: &HashMap<String, usize>,
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) -> Result<(), GraphError> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                return Err(bad(format!(
                    "The dependsOn chain of request '{}' is circular.",
                    items[i].id
                )))
            }
            _ => {}
        }
        state[i] = 1;
        for d in &items[i].depends_on {
            if let Some(&j) = index.get(&d.to_ascii_lowercase()) {
                visit(j, items, index, state, out)?;
            }
        }
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..items.len() {
        visit(i, items, &index, &mut state, &mut out)?;
    }
    Ok(out)
}

fn item_response(id: &str, resp: &GraphResponse) -> Value {
    let mut headers = Map::new();
    // Graph's item headers: the body's full JSON content type, OData-Version, and the
    // throttling headers (`Retry-After`, `x-ms-resource-unit`) of that item
    // (<https://learn.microsoft.com/graph/json-batching>, "Response format").
    if resp.body.is_some() {
        headers.insert(
            "Content-Type".into(),
            Value::String(crate::wire::JSON_CONTENT_TYPE.into()),
        );
        headers.insert("OData-Version".into(), Value::String("4.0".into()));
    }
    headers.insert("Cache-Control".into(), Value::String("no-cache".into()));
    for (k, v) in &resp.headers {
        headers.insert(k.clone(), Value::String(v.clone()));
    }
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.to_string()));
    out.insert("status".into(), Value::from(resp.status));
    out.insert("headers".into(), Value::Object(headers));
    if let Some(b) = &resp.body {
        out.insert("body".into(), b.clone());
    }
    Value::Object(out)
}

/// Handles `POST /{version}/$batch`; the envelope answers 200 whatever its items answer.
pub(crate) async fn handle(shared: &Arc<Shared>, req: &GraphRequest, ids: &Ids) -> GraphResponse {
    let items = match parse(&req.body).and_then(|items| order(&items).map(|o| (items, o))) {
        Ok(x) => x,
        Err(e) => return error_response(&e, ids),
    };
    let (items, order) = items;
    // Graph sometimes answers the whole envelope instead of its items (throttled before any
    // item ran, or a failed dependency of the batch itself); the option rehearses clients'
    // handling of that path. Nothing ran, nothing is logged per item.
    if let Some(status) = shared.faults.roll_batch_envelope() {
        let e = if status == 429 {
            GraphError::new(
                429,
                "TooManyRequests",
                "Too many requests. Please retry after the time specified in the Retry-After header, if any.",
            )
        } else {
            GraphError::new(
                424,
                "FailedDependency",
                "The batch was not run because a dependency of the request failed.",
            )
        };
        let mut r = error_response(&e, ids);
        if status == 429 {
            if let Some(ra) = shared.faults.retry_after() {
                r.headers.push(("Retry-After".into(), ra));
            }
        }
        return r;
    }
    let mut status_of: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::with_capacity(items.len());
    for i in order {
        let item = &items[i];
        let failed_dep = item.depends_on.iter().find(|d| {
            status_of
                .get(&d.to_ascii_lowercase())
                .is_none_or(|s| *s >= 400)
        });
        let resp = if let Some(dep) = failed_dep {
            GraphResponse {
                status: 424,
                headers: Vec::new(),
                body: Some(json!({"error": {
                    "code": "FailedDependency",
                    "message": format!("Request '{}' was not run because request '{dep}' it depends on failed.", item.id),
                }})),
            }
        } else {
            run_item(shared, req, item, ids)
        };
        status_of.insert(item.id.to_ascii_lowercase(), resp.status);
        shared.record(LogEntry {
            method: item.method.clone(),
            path: format!("/{}/{}", req.version, item.url.trim_start_matches('/')),
            status: resp.status,
            via_batch: true,
            unix_ms: unix_ms(),
        });
        responses.push(item_response(&item.id, &resp));
    }
    GraphResponse {
        status: 200,
        headers: Vec::new(),
        body: Some(json!({ "responses": responses })),
    }
}

fn run_item(shared: &Arc<Shared>, outer: &GraphRequest, item: &Item, ids: &Ids) -> GraphResponse {
    let item_ids = Ids {
        request_id: ids.request_id.clone(),
        client_request_id: ids.client_request_id.clone(),
    };
    let header = |name: &str| {
        item.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    if item.body.is_some() && header("content-type").is_none() {
        return error_response(
            &bad("A request with a body must carry a Content-Type header."),
            &item_ids,
        );
    }
    if let Fault::Status(status) = shared.faults.roll() {
        let code = if status == 503 {
            "serviceNotAvailable"
        } else {
            "gatewayTimeout"
        };
        let mut r = error_response(
            &GraphError::new(status, code, "The service is temporarily unavailable."),
            &item_ids,
        );
        if let Some(ra) = shared.faults.retry_after() {
            r.headers.push(("Retry-After".into(), ra));
        }
        return r;
    }
    let url = item.url.trim_start_matches('/');
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (url.to_string(), None),
    };
    let body = match &item.body {
        // "The body can be a JSON object or a base64 URL-encoded value"
        // (<https://learn.microsoft.com/graph/json-batching>, "Request format"); the
        // official Python SDK base64-encodes bodies that are not JSON objects.
        Some(Value::String(s)) => {
            use base64::Engine;
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(s.as_bytes()).ok())
                .unwrap_or_else(|| s.clone().into_bytes())
        }
        Some(v) => serde_json::to_vec(v).unwrap_or_default(),
        None => Vec::new(),
    };
    let request = GraphRequest {
        method: item.method.clone(),
        version: outer.version.clone(),
        path,
        query,
        eventual: header("consistencylevel").is_some_and(|v| v.eq_ignore_ascii_case("eventual")),
        content_type: header("content-type").map(str::to_string),
        body,
        origin: outer.origin.clone(),
        grants: outer.grants.clone(),
    };
    if request.path.eq_ignore_ascii_case("$batch") {
        return error_response(&bad("A batch can't contain another batch."), &item_ids);
    }
    let admitted =
        match shared
            .throttle
            .admit(&request.method, &request.path, request.query.as_deref())
        {
            Admission::Throttled(t) => return t.response(&item_ids),
            Admission::Admitted(a) => a,
        };
    let mut resp = match graph::handle(&shared.store, &request) {
        Ok(r) => r,
        Err(e) => GraphResponse {
            status: e.status,
            headers: Vec::new(),
            body: Some(error_body(&e, &item_ids)),
        },
    };
    admitted.annotate(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: Value) -> Result<Vec<Item>, GraphError> {
        parse(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn envelope_rules() {
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
            .collect();
        assert_eq!(items(json!({"requests": many})).err().unwrap().status, 400);
        let dup = json!({"requests": [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/users"}]});
        assert!(items(dup).is_err());
        let abs = json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]});
        assert!(items(abs).is_err());
        let unknown_dep = json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]});
        assert!(items(unknown_dep).is_err());
    }

    #[test]
    fn dependencies_must_point_back_and_run_first() {
        let v = items(json!({"requests": [
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]},
            {"id": "c", "method": "GET", "url": "/users", "dependsOn": ["A", "b"]},
        ]}))
        .unwrap();
        assert_eq!(order(&v).unwrap(), [0, 1, 2]);
        for forward in [
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]},
                {"id": "b", "method": "GET", "url": "/users"},
            ]}),
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]},
                {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]},
            ]}),
            json!({"requests": [{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["a"]}]}),
        ] {
            let e = items(forward).err().unwrap();
            assert_eq!((e.status, e.code.as_str()), (400, "BadRequest"));
            assert!(
                e.message.contains("Forward reference is not allowed"),
                "{}",
                e.message
            );
        }
    }
}
