//! The Graph surface: maps one request (method, versioned path, query, body) to a response
//! over the [`Store`]. Shared by top-level requests and `$batch` items. Knows nothing about
//! sockets, throttling or faults.

use serde_json::{json, Map, Value};

use crate::error::GraphError;
use crate::query::{self, encode_skiptoken, Query};
use crate::snapshot::{object_id, str_prop, Object};
use crate::store::{Op, OpError, Store, Tenant};

/// One Graph request, already split from its transport.
#[derive(Debug, Clone)]
pub(crate) struct GraphRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// `v1.0` or `beta`.
    pub version: String,
    /// Path after the version, without leading `/`, still percent-encoded.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: Option<String>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// Request body.
    pub body: Vec<u8>,
    /// `scheme://host[:port]` as the client addressed us (for `@odata.nextLink`).
    pub origin: String,
}

/// A Graph response before transport: status, extra headers, optional JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl GraphResponse {
    fn ok(body: Value) -> Self {
        GraphResponse {
            status: 200,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn no_content() -> Self {
        GraphResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }
}

type Outcome = Result<GraphResponse, GraphError>;

/// Properties `GET /users` returns when no `$select` is given
/// (<https://learn.microsoft.com/graph/api/user-list>).
const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// How a collection is served.
struct EntitySet {
    /// `@odata.context` fragment, e.g. `users`.
    context: &'static str,
    /// Properties served without `$select` (`None` = all).
    defaults: Option<&'static [&'static str]>,
    /// `@odata.type` to stamp on each item (polymorphic collections only).
    odata_type: Option<&'static str>,
    /// Whether `$filter` / `$top` are accepted.
    queryable: bool,
}

impl EntitySet {
    /// A collection served whole (no default `$select`, no `@odata.type` stamping).
    const fn plain(context: &'static str, queryable: bool) -> EntitySet {
        EntitySet {
            context,
            defaults: None,
            odata_type: None,
            queryable,
        }
    }
}

const USERS: EntitySet = EntitySet {
    context: "users",
    defaults: Some(USER_DEFAULT_PROPERTIES),
    odata_type: None,
    queryable: true,
};

fn context_url(version: &str, fragment: &str) -> String {
    format!("https://graph.microsoft.com/{version}/$metadata#{fragment}")
}

/// Shapes one object for output: `$select` (plus `id`), or the entity set's defaults.
fn project(o: &Object, select: Option<&[String]>, set: &EntitySet) -> Value {
    let mut out = Map::new();
    if let Some(t) = set.odata_type {
        out.insert("@odata.type".into(), Value::String(t.into()));
    }
    match (select, set.defaults) {
        (Some(props), _) => {
            if let Some(id) = o.get("id") {
                out.insert("id".into(), id.clone());
            }
            for p in props {
                if p == "*" {
                    for (k, v) in o {
                        out.insert(k.clone(), v.clone());
                    }
                    continue;
                }
                // Graph matches property names case-insensitively and returns null when unset.
                let found = o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(p))
                    .map(|(k, v)| (k.clone(), v.clone()));
                let (k, v) = found.unwrap_or_else(|| (p.clone(), Value::Null));
                out.insert(k, v);
            }
        }
        (None, Some(defaults)) => {
            for p in defaults {
                out.insert((*p).into(), o.get(*p).cloned().unwrap_or(Value::Null));
            }
        }
        (None, None) => {
            for (k, v) in o {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn context_fragment(set: &EntitySet, q: &Query) -> String {
    match &q.select {
        Some(props) => format!("{}({})", set.context, props.join(",")),
        None => set.context.to_string(),
    }
}

/// Serves one page of a collection with `$select`, `$top`, `$skiptoken`, `$filter`, `$count`.
fn list(
    req: &GraphRequest,
    q: &Query,
    set: &EntitySet,
    collection: &crate::collection::Collection,
) -> Outcome {
    if !set.queryable && (q.top.is_some() || !q.filter.is_empty()) {
        return Err(GraphError::unsupported_query(
            "The query specified in the URI is not valid for this resource.",
        ));
    }
    let (items, next) = collection.page(q.after, q.page_size(), |o| q.matches(o));
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context_url(&req.version, &context_fragment(set, q))),
    );
    if q.count {
        let n = collection.iter().filter(|o| q.matches(o)).count();
        body.insert("@odata.count".into(), Value::from(n));
    }
    if let Some(key) = next {
        let mut params = q.passthrough.clone();
        params.push(format!("$skiptoken={}", encode_skiptoken(key)));
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!(
                "{}/{}/{}?{}",
                req.origin,
                req.version,
                req.path,
                params.join("&")
            )),
        );
    }
    let value: Vec<Value> = items
        .into_iter()
        .map(|o| project(o, q.select.as_deref(), set))
        .collect();
    body.insert("value".into(), Value::Array(value));
    Ok(GraphResponse::ok(Value::Object(body)))
}

fn entity(req: &GraphRequest, q: &Query, set: &EntitySet, o: &Object) -> Outcome {
    let mut v = project(o, q.select.as_deref(), set);
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert(
            "@odata.context".into(),
            Value::String(context_url(
                &req.version,
                &format!("{}/$entity", context_fragment(set, q)),
            )),
        );
        out.append(m);
        v = Value::Object(out);
    }
    Ok(GraphResponse::ok(v))
}

fn json_object(body: &[u8]) -> Result<Object, GraphError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .ok_or_else(|| {
            GraphError::new(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )
        })
}

fn run(store: &Store, op: Op) -> Outcome {
    match store.execute(op) {
        Ok(()) => Ok(GraphResponse::no_content()),
        Err(OpError::Graph(e)) => Err(e),
        Err(OpError::Portal(p)) => Err(GraphError::new(500, "UnknownError", p.to_string())),
    }
}

fn only(method: &str, allowed: &[&str]) -> Result<(), GraphError> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

fn select_only(q: &Query) -> Result<(), GraphError> {
    if q.top.is_some() || !q.filter.is_empty() || q.after.is_some() || q.count {
        return Err(GraphError::unsupported_query(
            "The query specified in the URI is not valid for this resource.",
        ));
    }
    Ok(())
}

/// Handles one Graph request against the store.
pub(crate) fn handle(store: &Store, req: &GraphRequest) -> Outcome {
    let segments: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| query::decode(s, false))
        .collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let q = query::parse(req.query.as_deref(), req.eventual)?;
    let m = req.method.as_str();
    let beta = req.version == "beta";
    match l.as_slice() {
        [] => {
            only(m, &["GET"])?;
            let sets: Vec<Value> = [
                "organization",
                "users",
                "applications",
                "servicePrincipals",
                "domains",
                "directoryRoles",
                "subscribedSkus",
                "directory",
                "policies",
                "identity",
            ]
            .iter()
            .map(|n| json!({"name": n, "kind": "EntitySet", "url": n}))
            .collect();
            Ok(GraphResponse::ok(json!({
                "@odata.context": context_url(&req.version, ""),
                "value": sets,
            })))
        }
        ["organization"] => {
            only(m, &["GET"])?;
            let org = store.read(|t| t.organization.clone());
            let set = EntitySet::plain("organization", false);
            let c = crate::collection::Collection::from_objects(vec![org]);
            list(req, &q, &set, &c)
        }
        ["organization", id] => {
            let org = store.read(|t| t.organization.clone());
            if object_id(&org) != Some(segments[1].as_str()) {
                return Err(GraphError::not_found(id));
            }
            match m {
                "GET" => {
                    select_only(&q)?;
                    let set = EntitySet::plain("organization", false);
                    entity(req, &q, &set, &org)
                }
                "PATCH" => run(
                    store,
                    Op::PatchOrganization {
                        patch: json_object(&req.body)?,
                        beta,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["users"] => {
            only(m, &["GET"])?;
            store.read(|t| list(req, &q, &USERS, &t.users))
        }
        ["users", _] => {
            let key = segments[1].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    store.read(|t| {
                        let id = t
                            .resolve_user(&key)
                            .ok_or_else(|| GraphError::not_found(&key))?;
                        let u = t
                            .users
                            .get(&id)
                            .ok_or_else(|| GraphError::not_found(&key))?;
                        entity(req, &q, &USERS, u)
                    })
                }
                "DELETE" => run(
                    store,
                    Op::DeleteUser {
                        id: key,
                        at: Store::now(),
                    },
                ),
                "PATCH" => run(
                    store,
                    Op::PatchUser {
                        id: key,
                        patch: json_object(&req.body)?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["users", _, "authentication", "requirements"] if beta => {
            let key = segments[1].clone();
            match m {
                "GET" => store.read(|t| {
                    let id = t.resolve_user(&key).ok_or_else(|| GraphError::not_found(&key))?;
                    let u = t.users.get(&id).ok_or_else(|| GraphError::not_found(&key))?;
                    if str_prop(u, "userType") == Some("Guest") {
                        return Err(GraphError::not_found(&key));
                    }
                    let state = t
                        .per_user_mfa
                        .get(&id)
                        .and_then(|e| str_prop(e, "perUserMfaState"))
                        .unwrap_or("disabled");
                    Ok(GraphResponse::ok(json!({
                        "@odata.context": context_url("beta", &format!("users('{id}')/authentication/requirements/$entity")),
                        "perUserMfaState": state,
                    })))
                }),
                "PATCH" => {
                    let body = json_object(&req.body)?;
                    let state = body
                        .get("perUserMfaState")
                        .and_then(Value::as_str)
                        .ok_or_else(|| GraphError::bad_request("perUserMfaState is required."))?;
                    run(store, Op::PatchPerUserMfa { id: key, state: state.to_string() })
                }
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["users", _, "authentication", seg] => Err(GraphError::unknown_segment(seg)),
        ["directory", "deleteditems"] => {
            only(m, &["GET"])?;
            Err(GraphError::unsupported_query(
                "Searches against this resource are not supported. Only specific instances can be queried.",
            ))
        }
        ["directory", "deleteditems", cast] if cast.starts_with("microsoft.graph.") => {
            only(m, &["GET"])?;
            let kind = &segments[2]["microsoft.graph.".len()..];
            store.read(|t| {
                let (context, c) = match kind.to_ascii_lowercase().as_str() {
                    "user" => (
                        "directory/deletedItems/microsoft.graph.user",
                        &t.deleted_users,
                    ),
                    "application" => (
                        "directory/deletedItems/microsoft.graph.application",
                        &t.deleted_applications,
                    ),
                    "serviceprincipal" => (
                        "directory/deletedItems/microsoft.graph.servicePrincipal",
                        &t.deleted_service_principals,
                    ),
                    "group" | "administrativeunit" => {
                        let set =
                            EntitySet::plain("directory/deletedItems/microsoft.graph.group", true);
                        return list(req, &q, &set, &crate::collection::Collection::default());
                    }
                    _ => {
                        return Err(GraphError::new(
                            400,
                            "BadRequest",
                            format!("Unsupported cast '{}' for deletedItems.", segments[2]),
                        ))
                    }
                };
                let set = EntitySet {
                    context,
                    defaults: None,
                    odata_type: None,
                    queryable: true,
                };
                list(req, &q, &set, c)
            })
        }
        ["directory", "deleteditems", _] => {
            let id = segments[2].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    store.read(|t| {
                        let found = [
                            (&t.deleted_users, "#microsoft.graph.user"),
                            (&t.deleted_applications, "#microsoft.graph.application"),
                            (
                                &t.deleted_service_principals,
                                "#microsoft.graph.servicePrincipal",
                            ),
                        ]
                        .into_iter()
                        .find_map(|(c, ty)| c.get(&id).map(|o| (o, ty)));
                        let (o, ty) = found.ok_or_else(|| GraphError::not_found(&id))?;
                        let set = EntitySet {
                            context: "directory/deletedItems",
                            defaults: None,
                            odata_type: Some(ty),
                            queryable: false,
                        };
                        entity(req, &q, &set, o)
                    })
                }
                "DELETE" => run(store, Op::PurgeDeletedItem { id }),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["directory", "subscriptions"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("directory/subscriptions", false);
            store.read(|t| list(req, &q, &set, &t.subscriptions))
        }
        ["directory", "subscriptions", _] => {
            only(m, &["GET"])?;
            select_only(&q)?;
            let set = EntitySet::plain("directory/subscriptions", false);
            let id = &segments[2];
            store.read(|t| {
                // Addressable by id or by commerceSubscriptionId.
                let o = t.subscriptions.get(id).or_else(|| {
                    t.subscriptions
                        .iter()
                        .find(|s| str_prop(s, "commerceSubscriptionId") == Some(id.as_str()))
                });
                entity(req, &q, &set, o.ok_or_else(|| GraphError::not_found(id))?)
            })
        }
        ["subscribedskus"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("subscribedSkus", false);
            store.read(|t| list(req, &q, &set, &t.subscribed_skus))
        }
        ["subscribedskus", _] => {
            only(m, &["GET"])?;
            select_only(&q)?;
            let set = EntitySet::plain("subscribedSkus", false);
            store.read(|t| {
                let o = t
                    .subscribed_skus
                    .get(&segments[1])
                    .ok_or_else(|| GraphError::not_found(&segments[1]))?;
                entity(req, &q, &set, o)
            })
        }
        ["directoryroles"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("directoryRoles", false);
            store.read(|t| {
                let c = crate::collection::Collection::from_objects(
                    t.directory_roles.iter().map(|r| r.object.clone()).collect(),
                );
                list(req, &q, &set, &c)
            })
        }
        ["directoryroles", _] => {
            only(m, &["GET"])?;
            select_only(&q)?;
            let set = EntitySet::plain("directoryRoles", false);
            store.read(|t| {
                let r = t
                    .directory_roles
                    .iter()
                    .find(|r| object_id(&r.object) == Some(segments[1].as_str()))
                    .ok_or_else(|| GraphError::not_found(&segments[1]))?;
                entity(req, &q, &set, &r.object)
            })
        }
        ["directoryroles", _, "members"] => {
            only(m, &["GET"])?;
            let set = EntitySet {
                context: "directoryObjects",
                defaults: Some(USER_DEFAULT_PROPERTIES),
                odata_type: Some("#microsoft.graph.user"),
                queryable: false,
            };
            store.read(|t| {
                let r = t
                    .directory_roles
                    .iter()
                    .find(|r| object_id(&r.object) == Some(segments[1].as_str()))
                    .ok_or_else(|| GraphError::not_found(&segments[1]))?;
                let members = crate::collection::Collection::from_objects(
                    r.members
                        .iter()
                        .filter_map(|id| t.users.get(id).cloned())
                        .collect(),
                );
                list(req, &q, &set, &members)
            })
        }
        ["policies", "identitysecuritydefaultsenforcementpolicy"] => match m {
            "GET" => {
                select_only(&q)?;
                let set =
                    EntitySet::plain("policies/identitySecurityDefaultsEnforcementPolicy", false);
                let policy = store
                    .read(|t| t.security_defaults.clone())
                    .unwrap_or_else(|| {
                        json!({"id": "00000000-0000-0000-0000-000000000005", "isEnabled": false})
                            .as_object()
                            .cloned()
                            .unwrap_or_default()
                    });
                let mut policy = policy;
                policy
                    .entry("displayName")
                    .or_insert_with(|| Value::String("Security Defaults".into()));
                entity(req, &q, &set, &policy)
            }
            "PATCH" => run(
                store,
                Op::PatchSecurityDefaults {
                    patch: json_object(&req.body)?,
                },
            ),
            _ => Err(GraphError::method_not_allowed()),
        },
        ["identity", "conditionalaccess", "policies"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("identity/conditionalAccess/policies", true);
            store.read(|t| list(req, &q, &set, &t.ca_policies))
        }
        ["identity", "conditionalaccess", "policies", _] => {
            let id = segments[3].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    let set = EntitySet::plain("identity/conditionalAccess/policies", false);
                    store.read(|t| {
                        let p = t.ca_policies.get(&id).ok_or_else(|| {
                            GraphError::new(
                                404,
                                "ResourceNotFound",
                                format!("Policy '{id}' not found."),
                            )
                        })?;
                        entity(req, &q, &set, p)
                    })
                }
                "PATCH" => run(
                    store,
                    Op::PatchConditionalAccessPolicy {
                        id,
                        patch: json_object(&req.body)?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["applications"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("applications", true);
            store.read(|t| list(req, &q, &set, &t.applications))
        }
        ["applications", _] => {
            let id = segments[1].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    let set = EntitySet::plain("applications", false);
                    store.read(|t| {
                        entity(
                            req,
                            &q,
                            &set,
                            t.applications
                                .get(&id)
                                .ok_or_else(|| GraphError::not_found(&id))?,
                        )
                    })
                }
                "DELETE" => run(
                    store,
                    Op::DeleteApplication {
                        id,
                        at: Store::now(),
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["serviceprincipals"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("servicePrincipals", true);
            store.read(|t| list(req, &q, &set, &t.service_principals))
        }
        ["serviceprincipals", _] => {
            let id = segments[1].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    let set = EntitySet::plain("servicePrincipals", false);
                    store.read(|t| {
                        entity(
                            req,
                            &q,
                            &set,
                            t.service_principals
                                .get(&id)
                                .ok_or_else(|| GraphError::not_found(&id))?,
                        )
                    })
                }
                "DELETE" => run(
                    store,
                    Op::DeleteServicePrincipal {
                        id,
                        at: Store::now(),
                    },
                ),
                "PATCH" => run(
                    store,
                    Op::PatchServicePrincipal {
                        id,
                        patch: json_object(&req.body)?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        ["domains"] => {
            only(m, &["GET"])?;
            let set = EntitySet::plain("domains", false);
            store.read(|t| list(req, &q, &set, &t.domains))
        }
        ["domains", _] => {
            let name = segments[1].clone();
            match m {
                "GET" => {
                    select_only(&q)?;
                    let set = EntitySet::plain("domains", false);
                    store.read(|t: &Tenant| {
                        let key = t
                            .domain_key(&name)
                            .ok_or_else(|| GraphError::not_found(&name))?;
                        entity(
                            req,
                            &q,
                            &set,
                            t.domains
                                .get(&key)
                                .ok_or_else(|| GraphError::not_found(&name))?,
                        )
                    })
                }
                "DELETE" => run(store, Op::DeleteDomain { id: name }),
                "PATCH" => run(
                    store,
                    Op::PatchDomain {
                        id: name,
                        patch: json_object(&req.body)?,
                    },
                ),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => {
            // Name the segment Graph would not resolve: an unknown root, else the last one.
            let known_roots = [
                "organization",
                "users",
                "directory",
                "subscribedskus",
                "directoryroles",
                "policies",
                "identity",
                "applications",
                "serviceprincipals",
                "domains",
            ];
            let bad = if known_roots.contains(&l[0]) {
                segments.last()
            } else {
                segments.first()
            };
            let bad = bad.map_or("", String::as_str);
            Err(GraphError::unknown_segment(bad))
        }
    }
}
