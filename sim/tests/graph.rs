//! Graph surface over real loopback HTTP: paging, errors, deletes, guards, portal, persistence.

mod common;

use std::collections::HashSet;

use common::*;
use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{SimConfig, SimServer, Store};
use serde_json::json;

const ANN: &str = "aaaaaaaa-0000-0000-0000-000000000002";
const BOB: &str = "aaaaaaaa-0000-0000-0000-000000000003";
const ADMIN: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const GUEST: &str = "aaaaaaaa-0000-0000-0000-000000000006";

#[tokio::test]
async fn users_page_with_top_and_next_links() {
    let snapshot = generate(&GenerateOptions {
        users: 250,
        guests: 3,
        seed: 5,
    });
    let server = SimServer::start(Store::from_snapshot(snapshot), SimConfig::default(), 0)
        .await
        .unwrap();
    let c = Client::new(&server);
    let mut url = "/v1.0/users?$select=id,userType,accountEnabled&$top=100".to_string();
    let mut seen = HashSet::new();
    let mut pages = 0;
    loop {
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        assert_eq!(
            r.body["@odata.context"],
            "https://graph.microsoft.com/v1.0/$metadata#users(id,userType,accountEnabled)"
        );
        for u in r.body["value"].as_array().unwrap() {
            let keys: HashSet<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, HashSet::from(["id", "userType", "accountEnabled"]));
            assert!(
                seen.insert(u["id"].as_str().unwrap().to_string()),
                "repeated {u}"
            );
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}/v1.0/users?", server.base_url())),
                    "{next}"
                );
                assert!(next.contains("$skiptoken="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 253);
}

#[tokio::test]
async fn default_user_properties_without_select() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.get(&format!("/v1.0/users/{ANN}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    );
    assert_eq!(r.body["userPrincipalName"], "ann@contoso.com");
    assert!(
        r.body.get("userType").is_none(),
        "userType needs $select: {}",
        r.body
    );
    assert!(r.body.get("jobTitle").is_some_and(|v| v.is_null()));
    let r = c
        .get("/v1.0/users/ann@contoso.com?$select=userType,extension_0123456789abcdef0123456789abcdef_costCenter")
        .await;
    assert_eq!(r.body["userType"], "Member");
    assert_eq!(
        r.body["extension_0123456789abcdef0123456789abcdef_costCenter"],
        "kept"
    );
}

#[tokio::test]
async fn top_out_of_range_is_rejected_like_graph() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    for top in ["1000", "0", "-1"] {
        let r = c.get(&format!("/v1.0/users?$top={top}")).await;
        assert_eq!(r.status, 400, "$top={top}");
        assert_eq!(code(&r), "Request_UnsupportedQuery");
    }
    let r = c.get("/v1.0/users?$top=999").await;
    assert_eq!(r.status, 200);
    let r = c.get("/v1.0/users?$top=abc").await;
    assert_eq!(r.status, 400);
    // $orderby on users' displayName works by default and pages in order
    // (<https://learn.microsoft.com/graph/aad-advanced-queries>, "Support for sorting").
    let mut names = Vec::new();
    let mut next =
        Some("/v1.0/users?$orderby=displayName desc&$select=displayName&$top=4".to_string());
    while let Some(url) = next {
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for u in r.body["value"].as_array().unwrap() {
            names.push(u["displayName"].as_str().unwrap().to_string());
        }
        next = r.body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(names, ["Guest", "Dee", "Cid", "Bob", "Ann", "Admin"]);
    let r = c.get("/v1.0/users?$orderby=jobTitle").await;
    assert_eq!((r.status, code(&r)), (400, "Request_UnsupportedQuery"));
}

#[tokio::test]
async fn filter_subset_and_advanced_queries_need_eventual() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c
        .get("/v1.0/users?$filter=userType%20eq%20'Guest'&$select=id")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let r = c
        .get("/v1.0/users?$filter=userType ne 'Guest'&$count=true")
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .http
        .get(format!(
            "{}/v1.0/users?$filter=userType ne 'Guest'&$count=true",
            c.base
        ))
        .header("Authorization", bearer())
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["@odata.count"], 5);
    // or, in, startsWith and any() work by default.
    let r = c
        .get("/v1.0/users?$filter=startswith(displayName,'a') or userType eq 'Guest'&$select=displayName")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
    let r = c
        .get("/v1.0/users?$filter=userType in ('Guest')&$select=id")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let r = c
        .get("/v1.0/users?$filter=assignedLicenses/any(x:x/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900)&$select=id")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Which queries need the advanced parameters is per property, as the page's user table
    // says (aad-advanced-queries, "Support for filter by properties"): null values and
    // officeLocation need them, createdDateTime ge works by default, mail eq null never.
    for (q, basic, advanced) in [
        ("jobTitle eq null", 400, 200),
        ("officeLocation eq 'x'", 400, 200),
        ("createdDateTime ge 2020-01-01T00:00:00Z", 200, 200),
        ("mail eq null", 400, 400),
        ("startsWith(jobTitle,'a')", 400, 400),
    ] {
        let r = c.get(&format!("/v1.0/users?$filter={q}&$select=id")).await;
        assert_eq!(r.status, basic, "{q}: {}", r.body);
        if basic == 400 {
            assert_eq!(code(&r), "Request_UnsupportedQuery", "{q}");
        }
        let r = c
            .send_with(
                "GET",
                &format!("/v1.0/users?$filter={q}&$select=id&$count=true"),
                &[("ConsistencyLevel", "eventual")],
                None,
            )
            .await;
        assert_eq!(r.status, advanced, "{q} (advanced): {}", r.body);
    }
    // $count=true without the header is ignored (no @odata.count), as documented.
    let r = c.get("/v1.0/users?$count=true&$select=id").await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none());
    // /users/$count needs the header, and answers a plain number with it.
    let r = c.get("/v1.0/users/$count").await;
    assert_eq!((r.status, code(&r)), (400, "Request_BadRequest"));
    assert_eq!(
        r.body["error"]["message"],
        "$count is not currently supported."
    );
    let r = c
        .send_with(
            "GET",
            "/v1.0/users/$count",
            &[("ConsistencyLevel", "eventual")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, 6);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    // Alternate keys and the graph. alias in casts.
    let r = c
        .get("/v1.0/users(userPrincipalName='ann@contoso.com')?$select=id")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], ANN);
    let r = c
        .get(&format!(
            "/v1.0/directoryRoles(roleTemplateId='{GA_TEMPLATE}')?$select=displayName"
        ))
        .await;
    assert_eq!(r.body["displayName"], "Global Administrator", "{}", r.body);
    let r = c
        .get("/v1.0/directory/deletedItems/graph.user?$select=id")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn soft_delete_then_404_then_purge() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.delete(&format!("/v1.0/users/{ANN}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, serde_json::Value::Null);
    let r = c.delete(&format!("/v1.0/users/{ANN}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(code(&r), "Request_ResourceNotFound");
    assert_eq!(c.get(&format!("/v1.0/users/{ANN}")).await.status, 404);

    // Deleted users come with the user default set: deletedDateTime only when selected
    // (msgraph-sdk-powershell issue #3244).
    let r = c
        .get("/v1.0/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["value"][0].get("deletedDateTime").is_none());
    assert_eq!(r.body["value"][0]["businessPhones"], serde_json::json!([]));
    let r = c
        .get("/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,userPrincipalName,deletedDateTime")
        .await;
    assert_eq!(r.status, 200);
    let deleted = &r.body["value"][0];
    assert_eq!(deleted["id"], ANN);
    assert_eq!(
        deleted["userPrincipalName"],
        "aaaaaaaa000000000000000000000002ann@contoso.com"
    );
    assert!(deleted["deletedDateTime"].is_string());
    // Role memberships go with the user.
    let r = c.get("/v1.0/directoryRoles/role-ua/members").await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 0);

    let r = c.get(&format!("/v1.0/directory/deletedItems/{ANN}")).await;
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        c.delete(&format!("/v1.0/directory/deletedItems/{ANN}"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/v1.0/directory/deletedItems/{ANN}"))
            .await
            .status,
        404
    );
    let r = c
        .get("/v1.0/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn deleted_items_need_a_type_cast() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.get("/v1.0/directory/deletedItems").await;
    assert_eq!((r.status, code(&r)), (400, "Request_UnsupportedQuery"));
    for cast in ["user", "application", "servicePrincipal", "group"] {
        let r = c
            .get(&format!(
                "/v1.0/directory/deletedItems/microsoft.graph.{cast}"
            ))
            .await;
        assert_eq!(r.status, 200, "{cast}");
    }
}

#[tokio::test]
async fn missing_token_is_401_and_ids_are_echoed() {
    let server = start(&tenant_yaml()).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1.0/users", server.base_url()))
        .header("client-request-id", "my-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["client-request-id"], "my-id-1");
    let request_id = r.headers()["request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert_eq!(body["error"]["innerError"]["client-request-id"], "my-id-1");
    assert!(body["error"]["innerError"]["date"].is_string());
    let r = http
        .get(format!("{}/v1.0/users", server.base_url()))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn unknown_routes_are_graph_errors_never_500() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let cases = [
        ("GET", "/v2.0/users", 400, "BadRequest"),
        ("GET", "/users", 400, "BadRequest"),
        ("GET", "/v1.0/nonsense", 400, "BadRequest"),
        (
            "GET",
            &format!("/v1.0/users/{ANN}/nonsense") as &str,
            400,
            "BadRequest",
        ),
        (
            "GET",
            &format!("/v1.0/users/{ANN}/authentication/requirements"),
            400,
            "BadRequest",
        ),
        ("POST", "/v1.0/subscribedSkus", 405, "Request_BadRequest"),
        (
            "DELETE",
            "/v1.0/directory/subscriptions/sub-e3",
            405,
            "Request_BadRequest",
        ),
        ("GET", "/v1.0/users/nobody", 404, "Request_ResourceNotFound"),
        (
            "GET",
            "/v1.0/users?$skiptoken=garbage",
            400,
            "Directory_ExpiredPageToken",
        ),
    ];
    for (method, path, status, want) in cases {
        let r = c.send(method, path, None).await;
        assert_eq!(
            (r.status, code(&r)),
            (status, want),
            "{method} {path}: {}",
            r.body
        );
    }
    let r = c
        .http
        .patch(format!("{}/v1.0/servicePrincipals/sp-1", c.base))
        .header("Authorization", bearer())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for entry in server.request_log() {
        assert!(entry.status < 500, "{entry:?}");
    }
}

#[tokio::test]
async fn the_last_global_administrator_cannot_be_deleted() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.delete(&format!("/v1.0/users/{ADMIN}")).await;
    assert_eq!(r.status, 400);
    assert_eq!(code(&r), "Request_BadRequest");
    assert_eq!(c.get(&format!("/v1.0/users/{ADMIN}")).await.status, 200);
}

#[tokio::test]
async fn synced_users_need_sync_off_which_only_beta_can_do() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.delete(&format!("/v1.0/users/{BOB}")).await;
    assert_eq!((r.status, code(&r)), (400, "Request_BadRequest"));
    let org = "/organization/11111111-1111-1111-1111-111111111111";
    let r = c
        .patch(
            &format!("/v1.0{org}"),
            json!({"onPremisesSyncEnabled": false}),
        )
        .await;
    assert_eq!((r.status, code(&r)), (400, "Request_BadRequest"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
    let r = c
        .patch(
            &format!("/beta{org}"),
            json!({"onPremisesSyncEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .get(&format!("/v1.0/users/{BOB}?$select=onPremisesSyncEnabled"))
        .await;
    assert_eq!(r.body["onPremisesSyncEnabled"], false);
    assert_eq!(c.delete(&format!("/v1.0/users/{BOB}")).await.status, 204);
}

#[tokio::test]
async fn domain_delete_refusals() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    // Initial and default domains can't go; a domain in a UPN can't go, even from the recycle bin.
    let r = c.delete("/v1.0/domains/contoso.onmicrosoft.com").await;
    assert_eq!((r.status, code(&r)), (400, "Request_BadRequest"));
    let r = c.delete("/v1.0/domains/contoso.com").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("default"));
    assert_eq!(
        c.patch(
            "/v1.0/domains/contoso.onmicrosoft.com",
            json!({"isDefault": true})
        )
        .await
        .status,
        204
    );
    let r = c.delete("/v1.0/domains/contoso.com").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ann@contoso.com"),
        "{}",
        r.body
    );

    c.patch(
        "/beta/organization/11111111-1111-1111-1111-111111111111",
        json!({"onPremisesSyncEnabled": false}),
    )
    .await;
    for u in [ANN, BOB, "aaaaaaaa-0000-0000-0000-000000000004"] {
        assert_eq!(c.delete(&format!("/v1.0/users/{u}")).await.status, 204);
    }
    let r = c.delete("/v1.0/domains/contoso.com").await;
    assert_eq!(r.status, 400, "deleted users still reference the domain");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("deletedUser"));
    for u in [ANN, BOB, "aaaaaaaa-0000-0000-0000-000000000004"] {
        assert_eq!(
            c.delete(&format!("/v1.0/directory/deletedItems/{u}"))
                .await
                .status,
            204
        );
    }
    assert_eq!(c.delete("/v1.0/domains/contoso.com").await.status, 204);
    assert_eq!(c.get("/v1.0/domains/contoso.com").await.status, 404);
    assert_eq!(c.delete("/v1.0/domains/unused.com").await.status, 204);
    let r = c.get("/v1.0/organization").await;
    let verified = r.body["value"][0]["verifiedDomains"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0]["isDefault"], true);
}

#[tokio::test]
async fn mfa_rules() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    // Security defaults on: a CA policy can't be enabled.
    let r = c
        .patch(
            "/v1.0/identity/conditionalAccess/policies/ca-1",
            json!({"state": "enabled"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.patch(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            json!({"isEnabled": false})
        )
        .await
        .status,
        204
    );
    let r = c
        .get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
        .await;
    assert_eq!(r.body["isEnabled"], false);
    assert_eq!(
        c.patch(
            "/v1.0/identity/conditionalAccess/policies/ca-1",
            json!({"state": "disabled"})
        )
        .await
        .status,
        204
    );
    // Per-user MFA: beta only, guests 404, missing entry = disabled.
    let r = c
        .get(&format!("/beta/users/{ANN}/authentication/requirements"))
        .await;
    assert_eq!(r.body["perUserMfaState"], "enforced");
    let r = c
        .get(&format!("/beta/users/{BOB}/authentication/requirements"))
        .await;
    assert_eq!(r.body["perUserMfaState"], "disabled");
    assert_eq!(
        c.get(&format!("/beta/users/{GUEST}/authentication/requirements"))
            .await
            .status,
        404
    );
    let r = c
        .patch(
            &format!("/beta/users/{ANN}/authentication/requirements"),
            json!({"perUserMfaState": "disabled"}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .patch(
            &format!("/beta/users/{ANN}/authentication/requirements"),
            json!({"perUserMfaState": "sometimes"}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn apps_and_service_principals() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.delete("/v1.0/servicePrincipals/sp-graph").await;
    assert_eq!((r.status, code(&r)), (403, "Authorization_RequestDenied"));
    assert_eq!(
        c.patch(
            "/v1.0/servicePrincipals/sp-graph",
            json!({"accountEnabled": false})
        )
        .await
        .status,
        204
    );
    // Deleting the app registration takes its home-tenant service principal with it.
    assert_eq!(c.delete("/v1.0/applications/app-1").await.status, 204);
    assert_eq!(c.get("/v1.0/servicePrincipals/sp-1").await.status, 404);
    let r = c
        .get("/v1.0/directory/deletedItems/microsoft.graph.application")
        .await;
    assert_eq!(r.body["value"][0]["id"], "app-1");
    let r = c
        .get("/v1.0/directory/deletedItems/microsoft.graph.servicePrincipal")
        .await;
    assert_eq!(r.body["value"][0]["id"], "sp-1");
    assert_eq!(c.delete("/v1.0/applications/app-1").await.status, 404);
}

#[tokio::test]
async fn portal_subscriptions_and_tenant_deletion() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let r = c.admin("/_sim/portal/subscriptions/sub-e3/delete").await;
    assert_eq!(
        r.status, 409,
        "active subscriptions must be cancelled first"
    );
    assert_eq!(
        c.admin("/_sim/portal/subscriptions/sub-e3/cancel")
            .await
            .status,
        204
    );
    let r = c.get("/v1.0/subscribedSkus").await;
    assert_eq!(r.body["value"][0]["capabilityStatus"], "Suspended");
    assert_eq!(r.body["value"][0]["prepaidUnits"]["suspended"], 10);
    assert_eq!(
        c.admin("/_sim/portal/subscriptions/nope/cancel")
            .await
            .status,
        404
    );

    let r = c.admin("/_sim/portal/tenant/delete").await;
    assert_eq!(r.status, 409);
    let blockers = r.body["blockers"].as_array().unwrap();
    let kinds: HashSet<(&str, &str)> = blockers
        .iter()
        .map(|b| (b["kind"].as_str().unwrap(), b["id"].as_str().unwrap()))
        .collect();
    for want in [
        ("user", ANN),
        ("user", GUEST),
        ("application", "app-1"),
        ("servicePrincipal", "sp-1"),
        ("servicePrincipal", "sp-graph"),
        ("subscription", "sub-e3"),
        ("subscription", "sub-old"),
        ("domain", "contoso.com"),
        ("domain", "unused.com"),
        ("organization", "11111111-1111-1111-1111-111111111111"),
        ("securityDefaults", "00000000-0000-0000-0000-000000000005"),
        ("conditionalAccessPolicy", "ca-1"),
        ("perUserMfa", ANN),
    ] {
        assert!(kinds.contains(&want), "missing {want:?} in {blockers:?}");
    }
    assert!(!kinds.contains(&("user", ADMIN)));
    let ann = blockers.iter().find(|b| b["id"] == ANN).unwrap();
    assert_eq!(ann["name"], "ann@contoso.com");

    // Close everything, then the tenant goes.
    c.patch(
        "/beta/organization/11111111-1111-1111-1111-111111111111",
        json!({"onPremisesSyncEnabled": false}),
    )
    .await;
    c.patch(
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        json!({"isEnabled": false}),
    )
    .await;
    c.patch(
        "/v1.0/identity/conditionalAccess/policies/ca-1",
        json!({"state": "disabled"}),
    )
    .await;
    c.patch(
        "/v1.0/domains/contoso.onmicrosoft.com",
        json!({"isDefault": true}),
    )
    .await;
    for i in 2..=6 {
        let id = format!("aaaaaaaa-0000-0000-0000-00000000000{i}");
        assert_eq!(c.delete(&format!("/v1.0/users/{id}")).await.status, 204);
        assert_eq!(
            c.delete(&format!("/v1.0/directory/deletedItems/{id}"))
                .await
                .status,
            204
        );
    }
    c.delete("/v1.0/applications/app-1").await;
    c.delete("/v1.0/directory/deletedItems/app-1").await;
    c.delete("/v1.0/directory/deletedItems/sp-1").await;
    c.patch(
        "/v1.0/servicePrincipals/sp-graph",
        json!({"accountEnabled": false}),
    )
    .await;
    c.delete("/v1.0/domains/contoso.com").await;
    c.delete("/v1.0/domains/unused.com").await;
    c.admin("/_sim/portal/subscriptions/sub-e3/delete").await;
    let r = c.admin("/_sim/portal/subscriptions/sub-old/delete").await;
    assert_eq!(r.status, 409);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("support"));
    assert_eq!(
        c.admin("/_sim/portal/subscriptions/sub-old/support-delete")
            .await
            .status,
        204
    );

    let r = c.admin("/_sim/portal/tenant/delete").await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = c.get("/v1.0/organization").await;
    assert_eq!(r.status, 401);
    assert_eq!(code(&r), "OrganizationFromTenantGuidNotFound");
}

#[tokio::test]
async fn op_log_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("t.yaml");
    let state = dir.path().join("t.state.jsonl");
    std::fs::write(&snap, tenant_yaml()).unwrap();

    let store = Store::open(&snap, Some(&state)).unwrap();
    let server = SimServer::start(store, SimConfig::default(), 0)
        .await
        .unwrap();
    let c = Client::new(&server);
    assert_eq!(c.delete(&format!("/v1.0/users/{ANN}")).await.status, 204);
    assert_eq!(
        c.admin("/_sim/portal/subscriptions/sub-e3/cancel")
            .await
            .status,
        204
    );
    server.shutdown().await;

    let reopened = Store::open(&snap, Some(&state)).unwrap();
    let s = reopened.snapshot();
    assert!(s.users.iter().all(|u| u["id"] != ANN));
    assert_eq!(s.deleted_users[0]["id"], ANN);
    assert_eq!(s.subscriptions[0]["status"], "Suspended");
    drop(reopened);

    // A torn last line (killed mid-write) is ignored; the next append starts clean.
    let mut text = std::fs::read_to_string(&state).unwrap();
    text.push_str("{\"op\":\"deleteUs");
    std::fs::write(&state, &text).unwrap();
    let reopened = Store::open(&snap, Some(&state)).unwrap();
    assert_eq!(reopened.snapshot().deleted_users.len(), 1);
    reopened
        .portal_support_delete_subscription("sub-old")
        .unwrap();
    drop(reopened);
    let again = Store::open(&snap, Some(&state)).unwrap();
    assert_eq!(again.snapshot().deleted_users.len(), 1);
    assert_eq!(again.snapshot().subscriptions[1]["status"], "Deleted");
    drop(again);

    // A complete last record without its newline (killed between the two) still counts,
    // and the next record starts on its own line.
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.trim_end_matches('\n')).unwrap();
    let reopened = Store::open(&snap, Some(&state)).unwrap();
    assert_eq!(reopened.snapshot().subscriptions[1]["status"], "Deleted");
    let s = SimServer::start(reopened, SimConfig::default(), 0)
        .await
        .unwrap();
    assert_eq!(
        Client::new(&s)
            .delete(&format!("/v1.0/users/{BOB}"))
            .await
            .status,
        400
    );
    assert_eq!(
        Client::new(&s)
            .delete("/v1.0/domains/unused.com")
            .await
            .status,
        204
    );
    s.shutdown().await;
    let again = Store::open(&snap, Some(&state)).unwrap();
    assert_eq!(again.snapshot().domains.len(), 2);
    assert_eq!(again.snapshot().subscriptions[1]["status"], "Deleted");
    drop(again);

    // Corruption before the last line is an error naming the line.
    let lines: Vec<String> = std::fs::read_to_string(&state)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut broken = lines.clone();
    broken.insert(1, "garbage".into());
    std::fs::write(&state, broken.join("\n") + "\n").unwrap();
    let e = Store::open(&snap, Some(&state)).unwrap_err().to_string();
    assert!(e.contains(":2:"), "{e}");

    // An op log recorded on another snapshot is refused.
    std::fs::write(&state, lines.join("\n") + "\n").unwrap();
    std::fs::write(&snap, tenant_yaml().replace("Contoso", "Fabrikam")).unwrap();
    let e = Store::open(&snap, Some(&state)).unwrap_err().to_string();
    assert!(e.contains("another snapshot"), "{e}");

    Store::reset(&state).unwrap();
    assert!(!state.exists());
}

#[tokio::test]
async fn select_filter_and_patch_are_checked_against_the_schema() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    let bad_name = |r: &Reply, name: &str| {
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(code(r), "Request_BadRequest");
        assert_eq!(
            r.body["error"]["message"],
            format!("Could not find a property named '{name}' on type 'microsoft.graph.user'.")
        );
    };
    // $select: exactly what was asked (no extra id), names in the CSDL's spelling.
    let r = c
        .get("/v1.0/users?$select=USERTYPE,businessPhones&$top=1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.body["value"][0].as_object().unwrap();
    // The names as a set: a JSON object's member order carries no meaning (RFC 8259), and
    // the workspace's serde_json keeps members sorted.
    let mut names: Vec<_> = first.keys().collect();
    names.sort();
    assert_eq!(names, ["businessPhones", "userType"]);
    assert_eq!(
        first["businessPhones"],
        serde_json::json!([]),
        "collections are [], never null"
    );
    bad_name(&c.get("/v1.0/users?$select=id,userTyp").await, "userTyp");
    // Single-user-only properties: 501 on the collection, served for one user (user-list).
    let r = c.get("/v1.0/users?$select=id,aboutMe").await;
    assert_eq!(r.status, 501, "{}", r.body);
    let r = c
        .get(&format!("/v1.0/users/{ANN}?$select=id,aboutMe"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    bad_name(
        &c.get(&format!("/v1.0/users/{ANN}?$select=x-extra")).await,
        "x-extra",
    );
    bad_name(
        &c.get("/v1.0/directory/deletedItems/microsoft.graph.user?$select=nope")
            .await,
        "nope",
    );
    // $filter: an `eq null` typo no longer matches everyone.
    bad_name(
        &c.get("/v1.0/users?$filter=userTyp eq null").await,
        "userTyp",
    );
    let r = c.get("/v1.0/users?$filter=accountEnabled eq 'true'").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("incompatible types"));
    let r = c
        .get("/v1.0/users?$filter=accountEnabled eq false&$select=id")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    // PATCH: unknown, read-only, mistyped, and no Content-Type.
    let path = format!("/v1.0/users/{ANN}");
    bad_name(
        &c.patch(&path, serde_json::json!({"acountEnabled": false}))
            .await,
        "acountEnabled",
    );
    let r = c
        .patch(&path, serde_json::json!({"onPremisesSyncEnabled": false}))
        .await;
    assert_eq!((r.status, code(&r)), (400, "Request_BadRequest"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
    let r = c
        .patch(&path, serde_json::json!({"accountEnabled": "false"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = c
        .patch(&path, serde_json::json!({"businessPhones": null}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let body = Some(br#"{"accountEnabled": false}"#.to_vec());
    for headers in [&[][..], &[("Content-Type", "text/plain")][..]] {
        let r = c.send_with("PATCH", &path, headers, body.clone()).await;
        assert_eq!((r.status, code(&r)), (400, "BadRequest"), "{headers:?}");
    }
    let r = c
        .send_with(
            "PATCH",
            &path,
            &[("Content-Type", "application/json; charset=utf-8")],
            body,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = c.get(&format!("{path}?$select=accountEnabled")).await;
    assert_eq!(r.body["accountEnabled"], false);
    // userPrincipalName: a verified domain of the tenant, unique; names stored as the CSDL
    // spells them whatever case was sent.
    for (upn, ok) in [
        ("ann@nowhere.example", false),
        ("admin@contoso.onmicrosoft.com", false),
        ("ann2@unused.com", true),
    ] {
        let r = c.patch(&path, json!({"USERPRINCIPALNAME": upn})).await;
        assert_eq!(r.status == 204, ok, "{upn}: {}", r.body);
    }
    let r = c.get(&format!("{path}?$select=userPrincipalName")).await;
    assert_eq!(r.body["userPrincipalName"], "ann2@unused.com", "{}", r.body);
    // The beta per-user MFA type is checked the same way (hand-kept schema entry).
    let mfa = format!("/beta/users/{ANN}/authentication/requirements");
    assert_eq!(
        c.get(&format!("{mfa}?$select=perUserMfaState"))
            .await
            .status,
        200
    );
    assert_eq!(
        c.get(&format!("{mfa}?$select=perUserMfa")).await.status,
        400
    );
    let r = c.patch(&mfa, json!({"perUserMfaState": "off"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Served values carry only CSDL properties: a snapshot's stray key is not served.
    let r = c.get("/v1.0/domains").await;
    for d in r.body["value"].as_array().unwrap() {
        assert!(
            d.get("supportedServices").is_some_and(|v| v.is_array()),
            "{d}"
        );
    }
}

/// A client whose token carries exactly `roles` and `wids`.
fn client_with(server: &SimServer, roles: &[&str], wids: &[&str]) -> Client {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            app_roles: roles.iter().map(|r| r.to_string()).collect(),
            directory_roles: wids.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        },
        now,
    );
    Client {
        token,
        ..Client::new(server)
    }
}

#[tokio::test]
async fn tokens_must_be_jwts_and_routes_need_their_permissions() {
    let server = start(&tenant_yaml()).await;
    let http = reqwest::Client::new();
    for bad in ["test-token", "a.b.c", "e30.e30"] {
        let r = http
            .get(format!("{}/v1.0/users", server.base_url()))
            .header("Authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
    // The read-only app of issue 12: it reads everything closeout plans from, writes nothing.
    let reader = client_with(
        &server,
        &[
            "User.Read.All",
            "Organization.Read.All",
            "RoleManagement.Read.Directory",
            "Policy.Read.All",
            "Application.Read.All",
            "Domain.Read.All",
        ],
        &[],
    );
    for path in [
        "/v1.0/users?$select=id",
        "/v1.0/organization",
        "/v1.0/directoryRoles",
        "/v1.0/directoryRoles/role-ga/members?$select=id",
        "/v1.0/directory/subscriptions",
        "/v1.0/subscribedSkus",
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        "/v1.0/identity/conditionalAccess/policies",
        "/v1.0/applications",
        "/v1.0/servicePrincipals",
        "/v1.0/domains",
        "/v1.0/directory/deletedItems/microsoft.graph.user?$select=id",
        "/v1.0/directory/deletedItems/microsoft.graph.application",
        "/beta/users/aaaaaaaa-0000-0000-0000-000000000002/authentication/requirements",
    ] {
        let r = reader.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    for (method, path) in [
        ("DELETE", format!("/v1.0/users/{ANN}")),
        ("DELETE", "/v1.0/domains/unused.com".to_string()),
        ("DELETE", "/v1.0/applications/app-1".to_string()),
    ] {
        let r = reader.send(method, &path, None).await;
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(code(&r), "Authorization_RequestDenied");
        assert_eq!(
            r.body["error"]["message"],
            "Insufficient privileges to complete the operation."
        );
    }
    let r = reader
        .patch(
            &format!("/v1.0/users/{ANN}"),
            json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(r.status, 403);
    // A batch item is checked like a top-level request.
    let r = reader
        .send(
            "POST",
            "/v1.0/$batch",
            Some(json!({"requests": [{"id": "1", "method": "DELETE", "url": format!("/users/{ANN}")}]})),
        )
        .await;
    assert_eq!(r.body["responses"][0]["status"], 403, "{}", r.body);

    // User.DeleteRestore.All deletes ordinary users; Ann holds User Administrator, a
    // privileged role, so the app also needs a privileged role of its own.
    let deleter = client_with(&server, &["User.DeleteRestore.All"], &[]);
    let bob = "aaaaaaaa-0000-0000-0000-000000000003";
    let r = deleter.delete(&format!("/v1.0/users/{ANN}")).await;
    assert_eq!((r.status, code(&r)), (403, "Authorization_RequestDenied"));
    let admin_deleter = client_with(
        &server,
        &["User.DeleteRestore.All"],
        &["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"],
    );
    assert_eq!(
        admin_deleter
            .delete(&format!("/v1.0/users/{ANN}"))
            .await
            .status,
        204
    );
    // Bob holds no role: the permission alone is enough (he is synced, so Graph refuses
    // him for that reason instead; the refusal is not a 403).
    assert_ne!(
        deleter.delete(&format!("/v1.0/users/{bob}")).await.status,
        403
    );
    let dee = "aaaaaaaa-0000-0000-0000-000000000005";
    assert_eq!(
        deleter.delete(&format!("/v1.0/users/{dee}")).await.status,
        204
    );

    // The calling app's directory roles read through Graph are its token's wids.
    let app = graph_sim::token::DEFAULT_APP_ID;
    let path = format!("/v1.0/servicePrincipals(appId='{app}')/memberOf");
    let reader_with_role = client_with(
        &server,
        &["Application.Read.All"],
        &["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"],
    );
    let r = reader_with_role.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let roles: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["roleTemplateId"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"]);
    assert_eq!(
        r.body["value"][0]["@odata.type"],
        "#microsoft.graph.directoryRole"
    );
    let r = client_with(&server, &["Application.Read.All"], &[])
        .get(&path)
        .await;
    assert_eq!(r.body["value"], json!([]));
    assert_eq!(
        deleter.get(&path).await.status,
        403,
        "needs Application.Read.All"
    );
}

/// `$select=signInActivity` needs AuditLog.Read.All (user-list, "Get users including their
/// last sign-in time"); without it Graph answers 403.
#[tokio::test]
async fn sign_in_activity_needs_audit_log_read_all() {
    let server = start(&tenant_yaml()).await;
    let without = client_with(&server, &["User.Read.All"], &[]);
    for path in [
        "/v1.0/users?$select=id,signInActivity".to_string(),
        format!("/v1.0/users/{ANN}?$select=id,SIGNINACTIVITY"),
    ] {
        let r = without.get(&path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(code(&r), "Authorization_RequestDenied");
    }
    assert_eq!(without.get("/v1.0/users?$select=id").await.status, 200);
    let with = client_with(&server, &["User.Read.All", "AuditLog.Read.All"], &[]);
    let r = with.get("/v1.0/users?$select=id,signInActivity").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `POST /directory/deletedItems/{id}/restore` (directory-deleteditems-restore): 200 with
/// the restored object, its userPrincipalName back; the type's permission is needed.
#[tokio::test]
async fn a_deleted_user_can_be_restored_with_its_permission() {
    let server = start(&tenant_yaml()).await;
    let c = Client::new(&server);
    assert_eq!(c.delete(&format!("/v1.0/users/{ANN}")).await.status, 204);
    let apps_only = client_with(&server, &["Application.ReadWrite.All"], &[]);
    let path = format!("/v1.0/directory/deletedItems/{ANN}/restore");
    let r = apps_only.send("POST", &path, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let users = client_with(&server, &["User.ReadWrite.All"], &[]);
    let r = users.send("POST", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(r.body["userPrincipalName"], "ann@contoso.com");
    assert!(r.body["deletedDateTime"].is_null());
    let r = c
        .get(&format!("/v1.0/users/{ANN}?$select=id,userPrincipalName"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["userPrincipalName"], "ann@contoso.com");
    // Not in the recycle bin any more.
    assert_eq!(users.send("POST", &path, None).await.status, 404);
    assert_eq!(c.send("GET", &path, None).await.status, 405);
}

/// The admin routes of the self-service page and of support's SKU removal, on contoso:
/// a viral product goes at once (its SKU with it), a paid one is refused there; the
/// LockedOut SKU nothing explains blocks tenant deletion until support removes it.
#[tokio::test]
async fn self_service_products_and_unexplained_skus_through_the_admin_routes() {
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tenants/contoso.yaml"),
    )
    .unwrap();
    let server = start(&yaml).await;
    let c = Client::new(&server);
    let blockers = |b: &serde_json::Value, kind: &str| -> Vec<String> {
        b["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == kind)
            .map(|x| x["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let b = Client::new(&server)
        .get("/_sim/portal/tenant/blockers")
        .await;
    assert_eq!(blockers(&b.body, "subscribedSku"), ["PROJECTPROFESSIONAL"]);
    let flow = "79ff719d-bcf7-4f15-950a-63c8a118efb9";
    let r = c
        .admin(&format!(
            "/_sim/portal/subscriptions/{flow}/remove-self-service"
        ))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let subs = c.get("/v1.0/directory/subscriptions").await;
    let status = |id: &str| {
        subs.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status(flow), Some(serde_json::json!("Deleted")));
    let skus = c.get("/v1.0/subscribedSkus").await;
    let flow_sku = skus.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["skuPartNumber"] == "FLOW_FREE")
        .unwrap();
    assert_eq!(flow_sku["capabilityStatus"], "Deleted");
    // A paid subscription is not on the self-service page.
    let e3 = "207fa67e-1258-40cc-bcd4-08254129011a";
    let r = c
        .admin(&format!(
            "/_sim/portal/subscriptions/{e3}/remove-self-service"
        ))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Support refuses a SKU with a subscription behind it, removes the unexplained one.
    let r = c
        .admin("/_sim/portal/subscribedSkus/6fd2c87f-b296-42f0-b197-1e91e994b900/support-remove")
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = c
        .admin("/_sim/portal/subscribedSkus/53818b1b-4a27-454b-8896-0dba576410e6/support-remove")
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let b = c.get("/_sim/portal/tenant/blockers").await;
    assert!(blockers(&b.body, "subscribedSku").is_empty(), "{}", b.body);
}
