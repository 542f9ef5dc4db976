//! Partner Center and Microsoft.Billing over real loopback HTTP: routes, windows, etags and
//! 412, long-running operations, audiences and tenants, billing roles, Graph following a
//! cancellation, persistence, snapshot errors, the example tenants.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use graph_sim::snapshot::parse_snapshot;
use graph_sim::token::{mint, MintOptions, ARM_AUDIENCES, PARTNER_CENTER_AUDIENCES};
use graph_sim::{SimConfig, SimServer, Store};
use serde_json::{json, Value};

const CUSTOMER: &str = "c0000000-0000-0000-0000-000000000001";
const PARTNER: &str = "p0000000-0000-0000-0000-000000000001";
const ACCOUNT: &str =
    "a0000000-0000-0000-0000-000000000001:b0000000-0000-0000-0000-000000000001_2019-05-31";
const READER_APP: &str = "00000000-0000-0000-0000-0000000000ee";
const PROFILE_APP: &str = "00000000-0000-0000-0000-0000000000ff";

fn tenant() -> String {
    format!(
        r#"snapshotVersion: 1
organization: {{id: {CUSTOMER}, displayName: Customer}}
users:
  - {{id: u-admin, userPrincipalName: admin@customer.onmicrosoft.com, accountEnabled: true}}
directoryRoles:
  - {{id: r-ga, displayName: Global Administrator, roleTemplateId: {GA_TEMPLATE}, members: [u-admin]}}
subscriptions:
  - {{id: g-in, skuId: sku-e3, skuPartNumber: SPE_E3, commerceSubscriptionId: pc-in, status: Enabled, totalLicenses: 5, isTrial: false}}
  - {{id: g-out, skuId: sku-bp, skuPartNumber: SPB, commerceSubscriptionId: pc-out, status: Enabled, totalLicenses: 3, isTrial: false}}
  - {{id: g-mca, skuId: sku-e5, skuPartNumber: SPE_E5, commerceSubscriptionId: bs-in, status: Enabled, totalLicenses: 2, isTrial: false}}
subscribedSkus:
  - {{id: {CUSTOMER}_sku-e3, skuId: sku-e3, skuPartNumber: SPE_E3, capabilityStatus: Enabled, prepaidUnits: {{enabled: 5, warning: 0, suspended: 0, lockedOut: 0}}}}
  - {{id: {CUSTOMER}_sku-e5, skuId: sku-e5, skuPartNumber: SPE_E5, capabilityStatus: Enabled, prepaidUnits: {{enabled: 2, warning: 0, suspended: 0, lockedOut: 0}}}}
partnerCenter:
  partnerTenantId: {PARTNER}
  subscriptions:
    - {{id: pc-in, offerId: "CFQ7TTC0LFLZ:0001", offerName: Microsoft 365 E3, quantity: 5, status: active, autoRenewEnabled: true, termDuration: P1M, cancellationWindowEndsInDays: 5, commitmentEndsInDays: 25}}
    - {{id: pc-out, offerId: "CFQ7TTC0LCHC:0002", offerName: Microsoft 365 Business Premium, quantity: 3, status: active, autoRenewEnabled: true, termDuration: P1Y, cancellationWindowEndsInDays: -3, commitmentEndsInDays: 300}}
billing:
  accounts:
    - name: "{ACCOUNT}"
      properties: {{displayName: Customer MCA}}
      roleAssignments:
        - {{role: owner}}
        - {{role: reader, principalId: {READER_APP}}}
      billingProfiles:
        - name: PROF-1
          roleAssignments: [{{role: contributor, principalId: {PROFILE_APP}}}]
      subscriptions:
        - name: bs-in
          billingProfile: PROF-1
          cancellationWindowEndsInDays: 4
          termEndsInDays: 26
          properties: {{status: Active, autoRenew: "On", skuId: sku-e5, skuDescription: Microsoft 365 E5, productCategory: SeatBased, quantity: 2, termDuration: P1M, provisioningTenantId: {CUSTOMER}}}
        - name: bs-out
          cancellationWindowEndsInDays: -10
          properties: {{status: Active, autoRenew: "On", skuId: sku-e3, skuDescription: Microsoft 365 E3, productCategory: SeatBased, quantity: 1, termDuration: P1Y, provisioningTenantId: {CUSTOMER}}}
        - name: bs-free
          properties: {{status: Active, autoRenew: "Off", skuDescription: Microsoft Entra ID Free, productCategory: SeatBased, quantity: 1, systemOverrides: {{cancellation: NotAllowed}}, provisioningTenantId: {CUSTOMER}}}
"#
    )
}

fn token_for(audience: &str, tenant_id: &str, app_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mint(
        &MintOptions {
            audience: audience.to_string(),
            tenant_id: tenant_id.to_string(),
            app_id: app_id.to_string(),
            ..MintOptions::default()
        },
        now,
    )
}

/// A client signed in to the partner's tenant for Partner Center.
fn partner(server: &SimServer) -> Client {
    let mut c = Client::new(server);
    c.token = token_for(
        PARTNER_CENTER_AUDIENCES[0],
        PARTNER,
        graph_sim::token::DEFAULT_APP_ID,
    );
    c
}

/// A client for ARM (Microsoft.Billing) as `app`.
fn arm(server: &SimServer, app: &str) -> Client {
    let mut c = Client::new(server);
    c.token = token_for(ARM_AUDIENCES[0], CUSTOMER, app);
    c
}

fn subs_url(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("/v1/customers/{CUSTOMER}/subscriptions/{id}"),
        None => format!("/v1/customers/{CUSTOMER}/subscriptions"),
    }
}

fn billing_url(tail: &str) -> String {
    format!("/providers/Microsoft.Billing/billingAccounts/{ACCOUNT}{tail}?api-version=2024-04-01")
}

fn days_from_now(date: &str) -> f64 {
    let ms = graph_sim::commerce::parse_date(date).expect("a date") as f64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    (ms - now) / 86_400_000.0
}

async fn pc_patch(c: &Client, id: &str, etag: Option<&str>, body: Value) -> Reply {
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(e) = etag {
        headers.push(("If-Match", e));
    }
    c.send_with("PATCH", &subs_url(Some(id)), &headers, Some(bytes))
        .await
}

async fn graph_status(server: &SimServer, id: &str) -> String {
    let r = Client::new(server)
        .get(&format!("/v1.0/directory/subscriptions/{id}"))
        .await;
    r.body["status"].as_str().unwrap_or("").to_string()
}

fn pc_code(r: &Reply) -> &str {
    r.body["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn partner_center_lists_and_gets_with_windows_etags_and_request_ids() {
    let server = start(&tenant()).await;
    let c = partner(&server);
    let r = c
        .send_with(
            "GET",
            &subs_url(None),
            &[("MS-RequestId", "req-1"), ("MS-CorrelationId", "corr-1")],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["ms-requestid"], "req-1");
    assert_eq!(r.headers["ms-correlationid"], "corr-1");
    assert_eq!(r.body["totalCount"], 2);
    assert_eq!(r.body["attributes"]["objectType"], "Collection");
    let items = r.body["items"].as_array().unwrap();
    let inside = days_from_now(items[0]["cancellationAllowedUntilDate"].as_str().unwrap());
    assert!((4.9..5.1).contains(&inside), "{inside}");
    let outside = days_from_now(items[1]["cancellationAllowedUntilDate"].as_str().unwrap());
    assert!((-3.1..-2.9).contains(&outside), "{outside}");
    assert!(days_from_now(items[0]["commitmentEndDate"].as_str().unwrap()) > 24.0);
    assert!(
        items[0].get("cancellationWindowEndsInDays").is_none(),
        "graph-sim's keys are not served"
    );
    let r = c.get(&subs_url(Some("pc-in"))).await;
    assert_eq!(r.status, 200);
    let etag = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    assert!(!etag.is_empty());
    assert_eq!(r.headers["etag"], format!("\"{etag}\""));
    assert_eq!(r.body["attributes"]["objectType"], "Subscription");
    // Request ids are ours when the client sends none.
    assert!(!r.headers["ms-requestid"].is_empty());
    let r = c.get(&subs_url(Some("nope"))).await;
    assert_eq!(r.status, 404);
    assert_eq!(pc_code(&r), "SubscriptionNotFound");
    assert_eq!(r.body["source"], "PartnerFD");
    assert!(r.body["description"].as_str().unwrap().contains("nope"));
    let log = server.request_log();
    assert_eq!(log.len(), 3);
    assert!(log[0].path.starts_with("/v1/customers/"), "{log:?}");
    assert_eq!(log[2].status, 404);
}

#[tokio::test]
async fn cancel_inside_the_window_deletes_and_graph_follows_after_the_delay() {
    let server = start_with(
        &tenant(),
        SimConfig {
            commerce_graph_delay_ms: 400,
            commerce_graph_deleted_after_ms: Some(400),
            ..SimConfig::default()
        },
    )
    .await;
    let c = partner(&server);
    let r = c.get(&subs_url(Some("pc-in"))).await;
    let mut sub = r.body.clone();
    let etag = sub["attributes"]["etag"].as_str().unwrap().to_string();
    sub["status"] = json!("deleted");
    let r = pc_patch(&c, "pc-in", Some(&etag), sub).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "deleted");
    assert_ne!(
        r.body["attributes"]["etag"],
        json!(etag),
        "a change changes the etag"
    );
    // Graph has not caught up yet.
    assert_eq!(graph_status(&server, "g-in").await, "Enabled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(graph_status(&server, "g-in").await, "Suspended");
    let sku = Client::new(&server)
        .get(&format!("/v1.0/subscribedSkus/{CUSTOMER}_sku-e3"))
        .await;
    assert_eq!(sku.body["capabilityStatus"], "Suspended");
    assert_eq!(sku.body["prepaidUnits"]["suspended"], 5);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(graph_status(&server, "g-in").await, "Deleted");
    // The other subscription is untouched; a deleted one can't change.
    assert_eq!(graph_status(&server, "g-out").await, "Enabled");
    let r = c.get(&subs_url(Some("pc-in"))).await;
    let etag = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    let mut sub = r.body.clone();
    sub["status"] = json!("active");
    let r = pc_patch(&c, "pc-in", Some(&etag), sub).await;
    assert_eq!(r.status, 409, "{}", r.body);
}

#[tokio::test]
async fn outside_the_window_cancel_is_refused_and_renewal_can_be_turned_off() {
    let server = start(&tenant()).await;
    let c = partner(&server);
    let r = c.get(&subs_url(Some("pc-out"))).await;
    let etag = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    let mut sub = r.body.clone();
    sub["status"] = json!("deleted");
    let r = pc_patch(&c, "pc-out", Some(&etag), sub).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(pc_code(&r), "CancellationWindowExpired");
    assert_eq!(r.body["attributes"]["objectType"], "Error");
    // Refused: nothing changed, the etag still holds.
    let r = c.get(&subs_url(Some("pc-out"))).await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["attributes"]["etag"], json!(etag));
    let mut sub = r.body.clone();
    sub["autoRenewEnabled"] = json!(false);
    let r = pc_patch(&c, "pc-out", Some(&etag), sub).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["autoRenewEnabled"], false);
    let r = c.get(&subs_url(Some("pc-out"))).await;
    assert_eq!(r.body["autoRenewEnabled"], false);
    assert_eq!(r.body["status"], "active");
    assert_eq!(graph_status(&server, "g-out").await, "Enabled");
}

#[tokio::test]
async fn if_match_is_required_and_a_stale_etag_is_412() {
    let server = start(&tenant()).await;
    let c = partner(&server);
    let r = c.get(&subs_url(Some("pc-out"))).await;
    let first = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    let mut sub = r.body.clone();
    sub["autoRenewEnabled"] = json!(false);
    let r = pc_patch(&c, "pc-out", None, sub.clone()).await;
    assert_eq!(r.status, 412, "{}", r.body);
    let r = pc_patch(&c, "pc-out", Some("\"not-the-etag\""), sub.clone()).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(pc_code(&r), "PreconditionFailed");
    // Quoted and weak forms of the right etag are accepted.
    let r = pc_patch(&c, "pc-out", Some(&format!("W/\"{first}\"")), sub.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The etag read before that change is now stale.
    sub["autoRenewEnabled"] = json!(true);
    let r = pc_patch(&c, "pc-out", Some(&first), sub).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(
        c.get(&subs_url(Some("pc-out"))).await.body["autoRenewEnabled"],
        false
    );
}

#[tokio::test]
async fn patch_needs_the_whole_resource_and_suspended_is_not_cancelled() {
    let server = start(&tenant()).await;
    let c = partner(&server);
    let r = c.get(&subs_url(Some("pc-in"))).await;
    let etag = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    let r = pc_patch(&c, "pc-in", Some(&etag), json!({"status": "deleted"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["description"]
        .as_str()
        .unwrap()
        .contains("full Subscription resource"));
    let full = c.get(&subs_url(Some("pc-in"))).await.body;
    let mut other = full.clone();
    other["quantity"] = json!(1);
    let r = pc_patch(&c, "pc-in", Some(&etag), other).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut suspended = full.clone();
    suspended["status"] = json!("suspended");
    let r = pc_patch(&c, "pc-in", Some(&etag), suspended).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "suspended");
    // Suspension keeps billing and is reversible: it is not a cancellation, Graph stays.
    assert_eq!(graph_status(&server, "g-in").await, "Enabled");
    let mut back = r.body.clone();
    back["status"] = json!("active");
    let etag = r.body["attributes"]["etag"].as_str().unwrap().to_string();
    let r = pc_patch(&c, "pc-in", Some(&etag), back).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "active");
}

#[tokio::test]
async fn partner_center_takes_only_its_audience_from_the_partners_tenant() {
    let server = start(&tenant()).await;
    let url = subs_url(None);
    // A Graph token.
    let r = Client::new(&server).get(&url).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body["description"]
        .as_str()
        .unwrap()
        .contains("Partner Center"));
    // Partner Center's audience, but signed in to the customer's tenant.
    let mut c = Client::new(&server);
    c.token = token_for(PARTNER_CENTER_AUDIENCES[0], CUSTOMER, "app");
    let r = c.get(&url).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // ARM's audience from the partner's tenant.
    c.token = token_for(ARM_AUDIENCES[0], PARTNER, "app");
    assert_eq!(c.get(&url).await.status, 401);
    // No token.
    let r = reqwest::get(format!("{}{url}", server.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Another customer of the partner.
    let r = partner(&server)
        .get("/v1/customers/c9999999-0000-0000-0000-000000000000/subscriptions")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(pc_code(&r), "CustomerNotFound");
    // Admin agent apps, when listed, are the only apps admitted.
    let yaml = tenant().replace(
        &format!("  partnerTenantId: {PARTNER}\n"),
        &format!("  partnerTenantId: {PARTNER}\n  adminAgentAppIds: [agent-app]\n"),
    );
    let server = start(&yaml).await;
    assert_eq!(partner(&server).get(&url).await.status, 403);
    let mut c = Client::new(&server);
    c.token = token_for(PARTNER_CENTER_AUDIENCES[0], PARTNER, "agent-app");
    assert_eq!(c.get(&url).await.status, 200);
}

#[tokio::test]
async fn billing_accounts_and_subscriptions_with_api_version_and_roles() {
    let server = start(&tenant()).await;
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .get("/providers/Microsoft.Billing/billingAccounts?api-version=2024-04-01")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let accounts = r.body["value"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["name"], ACCOUNT);
    assert_eq!(
        accounts[0]["properties"]["agreementType"],
        "MicrosoftCustomerAgreement"
    );
    assert!(r.headers.contains_key("x-ms-request-id"));
    // api-version is required and checked.
    let r = owner
        .get("/providers/Microsoft.Billing/billingAccounts")
        .await;
    assert_eq!((r.status, code(&r)), (400, "MissingApiVersionParameter"));
    let r = owner
        .get("/providers/Microsoft.Billing/billingAccounts?api-version=2099-01-01")
        .await;
    assert_eq!((r.status, code(&r)), (400, "NoRegisteredProviderFound"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2024-04-01"));
    // A Graph token is for the wrong audience.
    let r = Client::new(&server)
        .get("/providers/Microsoft.Billing/billingAccounts?api-version=2024-04-01")
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (401, "InvalidAuthenticationTokenAudience")
    );
    let r = owner.get(&billing_url("/billingSubscriptions")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subs = r.body["value"].as_array().unwrap();
    assert_eq!(subs.len(), 3);
    let bs_in = &subs[0]["properties"];
    assert_eq!(bs_in["skuId"], "sku-e5");
    assert_eq!(bs_in["provisioningTenantId"], CUSTOMER);
    assert_eq!(bs_in["autoRenew"], "On");
    let until = bs_in["systemOverrides"]["cancellationAllowedEndDate"]
        .as_str()
        .unwrap();
    assert!((3.9..4.1).contains(&days_from_now(until)), "{until}");
    assert!(bs_in["billingProfileId"]
        .as_str()
        .unwrap()
        .ends_with("/billingProfiles/PROF-1"));
    assert_eq!(
        subs[2]["properties"]["skuDescription"],
        "Microsoft Entra ID Free"
    );
    // A reader reads but can't change.
    let reader = arm(&server, READER_APP);
    assert_eq!(
        reader
            .get(&billing_url("/billingSubscriptions"))
            .await
            .status,
        200
    );
    let r = reader
        .patch(
            &billing_url("/billingSubscriptions/bs-in"),
            json!({"properties": {"autoRenew": "Off"}}),
        )
        .await;
    assert_eq!((r.status, code(&r)), (403, "AuthorizationFailed"));
    // A profile contributor sees and changes its profile's subscriptions only.
    let prof = arm(&server, PROFILE_APP);
    let r = prof.get(&billing_url("/billingSubscriptions")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = prof
        .patch(
            &billing_url("/billingSubscriptions/bs-in"),
            json!({"properties": {"autoRenew": "Off"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = prof
        .patch(
            &billing_url("/billingSubscriptions/bs-out"),
            json!({"properties": {"autoRenew": "Off"}}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Someone without a billing role sees no account.
    let stranger = arm(&server, "00000000-0000-0000-0000-000000000bad");
    let r = stranger
        .get("/providers/Microsoft.Billing/billingAccounts?api-version=2024-04-01")
        .await;
    assert_eq!(r.body["value"], json!([]));
    assert_eq!(
        stranger
            .get(&billing_url("/billingSubscriptions"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn billing_patch_turns_renewal_off_and_reads_back() {
    let server = start(&tenant()).await;
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .patch(
            &billing_url("/billingSubscriptions/bs-out"),
            json!({"properties": {"autoRenew": "Off"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["autoRenew"], "Off");
    let r = owner
        .get(&billing_url("/billingSubscriptions/bs-out"))
        .await;
    assert_eq!(r.body["properties"]["autoRenew"], "Off");
    assert_eq!(r.body["properties"]["status"], "Active");
    for bad in [
        json!({"autoRenew": "Off"}),
        json!({"properties": {"autoRenew": "Never"}}),
        json!({"properties": {"autoRenew": "Off", "quantity": 3}}),
    ] {
        let r = owner
            .patch(&billing_url("/billingSubscriptions/bs-out"), bad.clone())
            .await;
        assert_eq!(
            (r.status, code(&r)),
            (400, "InvalidRequestContent"),
            "{bad}"
        );
    }
    let r = owner
        .patch(
            &billing_url("/billingSubscriptions/nope"),
            json!({"properties": {"autoRenew": "Off"}}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn billing_delete_is_a_long_running_operation_polled_to_its_end() {
    let server = start_with(
        &tenant(),
        SimConfig {
            billing_operation_polls: 2,
            ..SimConfig::default()
        },
    )
    .await;
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "10");
    let location = r.headers["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!(
            "{}/providers/Microsoft.Billing/billingAccounts/",
            server.base_url()
        )),
        "{location}"
    );
    assert!(
        location.contains("/operationResults/cancelBillingSubscription_bs-in:"),
        "{location}"
    );
    assert!(location.ends_with("?api-version=2024-04-01"), "{location}");
    // Locked while it runs: no second write.
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (409, "BillingSubscriptionLockedForUpdate")
    );
    let r = owner.get(&billing_url("/billingSubscriptions/bs-in")).await;
    assert_eq!(r.body["properties"]["operationStatus"], "LockedForUpdate");
    assert_eq!(graph_status(&server, "g-mca").await, "Enabled");
    for _ in 0..2 {
        let r = owner.get(&location).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.headers["location"].to_str().unwrap(), location);
    }
    let r = owner.get(&location).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["properties"]["status"], "Cancelled");
    assert_eq!(r.body["properties"]["autoRenew"], "Off");
    // Done stays done; Graph follows (no delay configured).
    assert_eq!(owner.get(&location).await.status, 200);
    assert_eq!(graph_status(&server, "g-mca").await, "Suspended");
    // A cancelled subscription can't be cancelled again.
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let log: Vec<(String, u16)> = server
        .request_log()
        .into_iter()
        .filter(|e| e.path.contains("bs-in"))
        .map(|e| (e.method, e.status))
        .collect();
    let deletes: Vec<u16> = log
        .iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(deletes, vec![202, 409, 400]);
    let polls: Vec<u16> = server
        .request_log()
        .into_iter()
        .filter(|e| e.path.contains("operationResults"))
        .map(|e| e.status)
        .collect();
    assert_eq!(polls, vec![202, 202, 200, 200]);
    // An unknown operation.
    let r = owner.get(&billing_url("/operationResults/nope")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn billing_refuses_cancellation_outside_the_window_and_for_entra_id_free() {
    let server = start(&tenant()).await;
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-out"))
        .await;
    assert_eq!((r.status, code(&r)), (400, "CancellationWindowExpired"));
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-free"))
        .await;
    assert_eq!((r.status, code(&r)), (400, "CancellationNotAllowed"));
    let r = arm(&server, READER_APP)
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(r.status, 403);
    let r = owner
        .send("POST", &billing_url("/billingSubscriptions/bs-in"), None)
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn an_operation_can_finish_by_time_and_retry_after_follows_the_time_scale() {
    let server = start_with(
        &tenant(),
        SimConfig {
            billing_operation_polls: 1000,
            billing_operation_ms: Some(300),
            time_scale: 10.0,
            fractional_retry_after: true,
            ..SimConfig::default()
        },
    )
    .await;
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(r.status, 202);
    let retry: f64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1.0, "10 s at time scale 10");
    let location = r.headers["location"].to_str().unwrap().to_string();
    assert_eq!(owner.get(&location).await.status, 202);
    // 300 ms at time scale 10 is 30 ms.
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Graph shows it even before anyone polls again.
    assert_eq!(graph_status(&server, "g-mca").await, "Suspended");
    assert_eq!(owner.get(&location).await.status, 200);
}

#[tokio::test]
async fn a_running_operation_survives_a_restart_and_is_not_started_twice() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("t.yaml");
    std::fs::write(&snapshot, tenant()).unwrap();
    let state = dir.path().join("t.state");
    let server = SimServer::start(
        Store::open(&snapshot, Some(&state)).unwrap(),
        SimConfig::default(),
        0,
    )
    .await
    .unwrap();
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .delete(&billing_url("/billingSubscriptions/bs-in"))
        .await;
    assert_eq!(r.status, 202);
    let location = r.headers["location"].to_str().unwrap().to_string();
    let path = location.trim_start_matches(&server.base_url()).to_string();
    // PC too: the cancel and the etag it moved to persist.
    let c = partner(&server);
    let mut sub = c.get(&subs_url(Some("pc-in"))).await.body;
    let etag = sub["attributes"]["etag"].as_str().unwrap().to_string();
    sub["status"] = json!("deleted");
    assert_eq!(pc_patch(&c, "pc-in", Some(&etag), sub).await.status, 200);
    server.shutdown().await;

    let server = SimServer::start(
        Store::open(&snapshot, Some(&state)).unwrap(),
        SimConfig::default(),
        0,
    )
    .await
    .unwrap();
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner.get(&billing_url("/billingSubscriptions/bs-in")).await;
    assert_eq!(r.body["properties"]["operationStatus"], "LockedForUpdate");
    assert_eq!(owner.get(&path).await.status, 202);
    assert_eq!(owner.get(&path).await.status, 200);
    assert_eq!(graph_status(&server, "g-mca").await, "Suspended");
    let c = partner(&server);
    let r = c.get(&subs_url(Some("pc-in"))).await;
    assert_eq!(r.body["status"], "deleted");
    assert_ne!(r.body["attributes"]["etag"], json!(etag));
    assert_eq!(graph_status(&server, "g-in").await, "Suspended");
    server.shutdown().await;
    // A third run replays both operations and the finished poll.
    let store = Store::open(&snapshot, Some(&state)).unwrap();
    let snap = store.snapshot();
    let ops = &snap.billing.as_ref().unwrap().operations;
    assert_eq!(ops.len(), 1);
    assert!(ops[0].done_ms.is_some());
}

fn parse_err(yaml: &str) -> String {
    parse_snapshot(yaml, Path::new("t.yaml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_commerce_sections_name_the_field() {
    let base = tenant();
    let cases = [
        (
            "status: active, autoRenewEnabled: true, termDuration: P1M",
            "status: gone, autoRenewEnabled: true, termDuration: P1M",
            "partnerCenter.subscriptions[0].status: \"gone\"",
        ),
        (
            "quantity: 5, status: active, autoRenewEnabled: true",
            "quantity: 5, status: active, autoRenewEnabled: yes-please",
            "partnerCenter.subscriptions[0].autoRenewEnabled",
        ),
        (
            "cancellationWindowEndsInDays: 5, commitmentEndsInDays: 25",
            "cancellationWindowEndsInDays: 5, cancellationAllowedUntilDate: 2026-01-01T00:00:00Z",
            "not both",
        ),
        (
            "- {role: owner}",
            "- {role: boss}",
            "billing.accounts[0].roleAssignments[0].role: \"boss\"",
        ),
        (
            "billingProfile: PROF-1",
            "billingProfile: PROF-9",
            "billing.accounts[0].subscriptions[0].billingProfile: PROF-9",
        ),
        (
            "status: Active, autoRenew: \"On\", skuId: sku-e5",
            "status: Active, autoRenew: Sometimes, skuId: sku-e5",
            "subscriptions[0].properties.autoRenew: \"Sometimes\"",
        ),
        (
            "status: Active, autoRenew: \"On\", skuId: sku-e3",
            "status: Alive, autoRenew: \"On\", skuId: sku-e3",
            "billing.accounts[0].subscriptions[1].properties.status: \"Alive\"",
        ),
        (
            "termEndsInDays: 26",
            "termEndsInDays: 26\n          termEndsTomorrow: true",
            "termEndsTomorrow",
        ),
        (
            "cancellationWindowEndsInDays: 4\n",
            "cancellationWindowEndsInDays: soon\n",
            "cancellationWindowEndsInDays",
        ),
    ];
    for (from, to, expect) in cases {
        assert!(base.contains(from), "{from}");
        let msg = parse_err(&base.replacen(from, to, 1));
        assert!(msg.contains(expect), "{to}: {msg}");
        assert!(msg.starts_with("t.yaml"), "{msg}");
    }
    let dup = base.replace("- name: bs-out", "- name: bs-in");
    assert!(parse_err(&dup).contains("duplicate bs-in"));
    let no_partner = base.replace(&format!("  partnerTenantId: {PARTNER}\n"), "");
    assert!(parse_err(&no_partner).contains("partnerTenantId"));
}

#[tokio::test]
async fn the_example_tenants_load_and_serve_both_services() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tenants");
    let csp = Store::open(&dir.join("csp-customer.yaml"), None).expect("csp example loads");
    let tenant_id = csp.tenant_id();
    let pc = csp
        .snapshot()
        .partner_center
        .expect("a partnerCenter section");
    let partner_tenant = pc.partner_tenant_id.clone();
    let server = SimServer::start(csp, SimConfig::default(), 0)
        .await
        .unwrap();
    let mut c = Client::new(&server);
    c.token = token_for(PARTNER_CENTER_AUDIENCES[0], &partner_tenant, "app");
    let r = c
        .get(&format!("/v1/customers/{tenant_id}/subscriptions"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let windows: Vec<f64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            s["cancellationAllowedUntilDate"]
                .as_str()
                .map(days_from_now)
        })
        .collect();
    assert!(
        windows.iter().any(|d| *d > 0.0),
        "one inside the window: {windows:?}"
    );
    assert!(windows.iter().any(|d| *d < 0.0), "one outside: {windows:?}");
    // Each Partner Center subscription is a Graph companySubscription.
    let graph = Client::new(&server)
        .get("/v1.0/directory/subscriptions")
        .await;
    for s in r.body["items"].as_array().unwrap() {
        assert!(
            graph.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["commerceSubscriptionId"] == s["id"]),
            "{}",
            s["id"]
        );
    }

    let mca = Store::open(&dir.join("mca.yaml"), None).expect("mca example loads");
    let server = SimServer::start(mca, SimConfig::default(), 0)
        .await
        .unwrap();
    let owner = arm(&server, graph_sim::token::DEFAULT_APP_ID);
    let r = owner
        .get("/providers/Microsoft.Billing/billingAccounts?api-version=2024-04-01")
        .await;
    let account = r.body["value"][0]["name"].as_str().unwrap().to_string();
    let r = owner
        .get(&format!("/providers/Microsoft.Billing/billingAccounts/{account}/billingSubscriptions?api-version=2024-04-01"))
        .await;
    let subs = r.body["value"].as_array().unwrap().clone();
    assert!(subs
        .iter()
        .any(|s| s["properties"]["skuDescription"] == "Microsoft Entra ID Free"));
    let skus = Client::new(&server).get("/v1.0/subscribedSkus").await;
    let seat: Vec<&Value> = subs
        .iter()
        .filter(|s| s["properties"]["skuId"].is_string())
        .collect();
    assert!(seat.len() >= 2);
    for s in seat {
        assert!(
            skus.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["skuId"] == s["properties"]["skuId"]),
            "{}",
            s["name"]
        );
    }
    assert!(subs.iter().any(|s| {
        s["properties"]["systemOverrides"]["cancellationAllowedEndDate"]
            .as_str()
            .is_some_and(|d| days_from_now(d) > 0.0)
    }));
}
