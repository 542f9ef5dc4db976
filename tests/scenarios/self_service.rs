//! Issue 13 point 3: self-service (viral) sign-up products and SKUs that no subscription
//! explains are their own blockers, with their own manual actions and checklist lines, and a
//! `--simulate` rehearsal closes such a tenant with `closeout sim` playing the admin center
//! and Microsoft support. Point 6: the tenant-deletion path stays hidden while either
//! blocks.

use std::path::PathBuf;

use crate::common::{plan_doc, s, tenant, Sandbox};

/// (action, id, name) of every action of a plan file.
fn actions(doc: &serde_yaml::Value) -> Vec<(String, String, String)> {
    doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
                a["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn action<'d>(doc: &'d serde_yaml::Value, kind: &str, id: &str) -> &'d serde_yaml::Value {
    doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|a| a["action"] == kind && a["id"] == id)
        .unwrap_or_else(|| panic!("no {kind} of {id}"))
}

const TRIAL_TENANT: &str = "ffc7cbb8-637e-493d-8f1b-2e7637ce8aae";
/// Power Apps Plan 2 Trial, recognised by its part number alone (no ownerType).
const VIRAL: &str = "5b1e2982-7c62-4c0a-9d2e-0b5a1e6f3c11";
/// Power BI Pro bought by a user: recognised by ownerType User alone.
const USER_OWNED: &str = "9c0d8a31-2f4e-4b7a-8d55-6e3f1a2b4c22";
/// Teams Exploratory, LockedOut, only in subscribedSkus.
const LOCKED_SKU: &str = "710779e8-3d4a-4c88-adb9-386c958d1fdf";

/// The trial example tenant with a viral product found by part number, a user-owned
/// purchase, and a LockedOut SKU nothing explains.
fn viral_tenant(sb: &Sandbox) -> PathBuf {
    let text = std::fs::read_to_string(tenant("trial")).unwrap();
    let subs = format!(
        r#"  - id: {VIRAL}
    commerceSubscriptionId: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    skuId: dcb1a3ae-b33f-4487-846a-a640262fadf4
    skuPartNumber: POWERAPPS_VIRAL
    status: Enabled
    isTrial: true
    totalLicenses: 10000
    createdDateTime: "2025-05-25T10:00:00Z"
    nextLifecycleDateTime: null
    ownerId: null
    ownerTenantId: null
    ownerType: null
  - id: {USER_OWNED}
    commerceSubscriptionId: 2d3e4f5a-6b7c-4d8e-9fa0-1b2c3d4e5f60
    skuId: f8a1db68-be16-40ed-86d5-cb42ce701560
    skuPartNumber: POWER_BI_PRO
    status: Enabled
    isTrial: false
    totalLicenses: 1
    createdDateTime: "2025-05-26T10:00:00Z"
    nextLifecycleDateTime: "2026-05-26T10:00:00Z"
    ownerId: c12082ff-c2b7-42d5-9b3a-538c674628c2
    ownerTenantId: null
    ownerType: User
"#
    );
    let skus = format!(
        r#"  - id: {TRIAL_TENANT}_dcb1a3ae-b33f-4487-846a-a640262fadf4
    skuId: dcb1a3ae-b33f-4487-846a-a640262fadf4
    skuPartNumber: POWERAPPS_VIRAL
    appliesTo: User
    capabilityStatus: Enabled
    consumedUnits: 0
    prepaidUnits: {{enabled: 10000, suspended: 0, warning: 0, lockedOut: 0}}
    subscriptionIds: [{VIRAL}]
  - id: {TRIAL_TENANT}_f8a1db68-be16-40ed-86d5-cb42ce701560
    skuId: f8a1db68-be16-40ed-86d5-cb42ce701560
    skuPartNumber: POWER_BI_PRO
    appliesTo: User
    capabilityStatus: Enabled
    consumedUnits: 0
    prepaidUnits: {{enabled: 1, suspended: 0, warning: 0, lockedOut: 0}}
    subscriptionIds: [{USER_OWNED}]
  - id: {TRIAL_TENANT}_{LOCKED_SKU}
    skuId: {LOCKED_SKU}
    skuPartNumber: TEAMS_EXPLORATORY
    appliesTo: User
    capabilityStatus: LockedOut
    consumedUnits: 0
    prepaidUnits: {{enabled: 0, suspended: 0, warning: 0, lockedOut: 100}}
    subscriptionIds: []
"#
    );
    let text = text
        .replacen(
            "\nsubscribedSkus:\n",
            &format!("{subs}\nsubscribedSkus:\n"),
            1,
        )
        .replacen(
            "\nsecurityDefaults:\n",
            &format!("{skus}\nsecurityDefaults:\n"),
            1,
        );
    let path = sb.path("viral.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn contoso_plans_its_viral_products_and_the_sku_only_subscribed_skus_shows() {
    let sb = Sandbox::new();
    let plan = sb.path("plan.yaml");
    let out = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&tenant("contoso")),
            "--keep",
            "admin@contoso.com",
            "-o",
            s(&plan),
        ])
        .expect(0);
    let doc = plan_doc(&plan);
    let all = actions(&doc);
    for (id, sku) in [
        ("79ff719d-bcf7-4f15-950a-63c8a118efb9", "FLOW_FREE"),
        ("e731e3f3-3a63-4721-92ee-2819ac8b4c50", "POWER_BI_STANDARD"),
    ] {
        let a = action(&doc, "delete_self_service_product", id);
        assert_eq!(a["manual"], serde_yaml::Value::Bool(true));
        assert_eq!(a["step"].as_u64(), Some(3));
        let how = a["instructions"].as_str().unwrap();
        assert!(
            how.contains("Licenses > Self-service sign-up products"),
            "{how}"
        );
        assert!(how.contains(sku), "{how}");
        assert!(
            how.contains(&format!("/v1.0/directory/subscriptions/{id}")),
            "{how}"
        );
        // Not planned as an ordinary subscription as well.
        assert!(
            !all.iter()
                .any(|(k, i, _)| i == id && k.ends_with("_subscription")),
            "{all:?}"
        );
    }
    let sku = action(
        &doc,
        "remove_unexplained_sku",
        "53818b1b-4a27-454b-8896-0dba576410e6",
    );
    let how = sku["instructions"].as_str().unwrap();
    assert!(how.contains("Microsoft support request"), "{how}");
    assert!(how.contains("PROJECTPROFESSIONAL"), "{how}");
    assert!(how.contains("GET /v1.0/subscribedSkus"), "{how}");
    assert_eq!(sku["before"]["capabilityStatus"], "LockedOut");
    // The checklist names both, each on its own line.
    let line = |name: &str| {
        out.stdout
            .lines()
            .skip_while(|l| !l.contains(&format!("] {name}:")))
            .take(4)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let products = line("self-service products");
    assert!(products.contains("[FAIL]"), "{}", out.stdout);
    assert!(products.contains("FLOW_FREE") && products.contains("POWER_BI_STANDARD"));
    let skus = line("SKUs without a subscription");
    assert!(
        skus.contains("[FAIL]") && skus.contains("PROJECTPROFESSIONAL"),
        "{skus}"
    );
    // The LockedOut SPE_E5 has its subscription: it is no unexplained SKU.
    assert!(!skus.contains("SPE_E5"), "{skus}");
}

#[test]
fn viral_products_are_recognised_by_part_number_or_by_owner() {
    let sb = Sandbox::new();
    let snap = viral_tenant(&sb);
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@tailspintoys.onmicrosoft.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let doc = plan_doc(&plan);
    action(&doc, "delete_self_service_product", VIRAL);
    action(&doc, "delete_self_service_product", USER_OWNED);
    // The trial's paid-for SKU is an ordinary subscription.
    action(
        &doc,
        "cancel_subscription",
        "47c21a16-152f-46c4-8c1c-066c82d3c0db",
    );
    // A viral part number with no subscription: look on the self-service page first.
    let how = action(&doc, "remove_unexplained_sku", LOCKED_SKU)["instructions"]
        .as_str()
        .unwrap();
    assert!(
        how.starts_with("It is a self-service sign-up product"),
        "{how}"
    );
    assert!(how.contains("Microsoft support request"), "{how}");
}

#[test]
fn a_rehearsal_closes_a_tenant_with_viral_products_and_a_sku_without_subscription() {
    let sb = Sandbox::new();
    let snap = viral_tenant(&sb);
    let snap = s(&snap);
    let plan = sb.path("plan.yaml");
    let plan = s(&plan);
    sb.closeout(&[
        "plan",
        "--simulate",
        snap,
        "--keep",
        "admin@tailspintoys.onmicrosoft.com",
        "-o",
        plan,
    ])
    .expect(0);
    sb.closeout(&["apply", plan, "--simulate", snap]).expect(3);

    // The admin center refuses what is not on its page; support what a subscription explains.
    let refused = sb
        .closeout(&[
            "sim",
            "remove-self-service-product",
            "47c21a16-152f-46c4-8c1c-066c82d3c0db",
            "--simulate",
            snap,
        ])
        .expect(1);
    assert!(
        refused.stderr.contains("not a self-service"),
        "{}",
        refused.stderr
    );
    let refused = sb
        .closeout(&[
            "sim",
            "support-remove-sku",
            "dcb1a3ae-b33f-4487-846a-a640262fadf4",
            "--simulate",
            snap,
        ])
        .expect(1);
    assert!(
        refused.stderr.contains("subscription behind it"),
        "{}",
        refused.stderr
    );

    // The administrator deletes the viral products and the trial, not yet the SKU.
    for id in [VIRAL, USER_OWNED] {
        sb.closeout(&["sim", "remove-self-service-product", id, "--simulate", snap])
            .expect(0);
    }
    let trial = "47c21a16-152f-46c4-8c1c-066c82d3c0db";
    sb.closeout(&["sim", "cancel-subscription", trial, "--simulate", snap])
        .expect(0);
    sb.closeout(&["sim", "delete-subscription", trial, "--simulate", snap])
        .expect(0);
    let waiting = sb.closeout(&["apply", plan, "--simulate", snap]).expect(3);
    assert!(
        waiting
            .stdout
            .contains("[FAIL] SKUs without a subscription"),
        "{}",
        waiting.stdout
    );
    assert!(
        waiting.stdout.contains("[pass] self-service products"),
        "{}",
        waiting.stdout
    );
    assert!(
        !waiting.stdout.contains("Manage tenants"),
        "{}",
        waiting.stdout
    );
    let json = sb
        .closeout(&["apply", plan, "--simulate", snap, "--format", "json"])
        .expect(3);
    assert!(!json.stdout.contains("Manage tenants"), "{}", json.stdout);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(doc["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "SKUs without a subscription" && c["passed"] == false));
    let status = sb.closeout(&["status", plan, "--simulate", snap]).expect(0);
    assert!(
        !status.stdout.contains("Manage tenants"),
        "{}",
        status.stdout
    );
    // The portal agrees: the SKU blocks the tenant's deletion.
    let blocked = sb
        .closeout(&["sim", "delete-tenant", "--simulate", snap])
        .expect(1);
    assert!(
        blocked.stderr.contains("TEAMS_EXPLORATORY"),
        "{}",
        blocked.stderr
    );

    // Microsoft support removes the SKU: the checklist passes and the path is shown.
    sb.closeout(&["sim", "support-remove-sku", LOCKED_SKU, "--simulate", snap])
        .expect(0);
    let ready = sb.closeout(&["apply", plan, "--simulate", snap]).expect(3);
    assert!(!ready.stdout.contains("[FAIL]"), "{}", ready.stdout);
    assert!(ready.stdout.contains("Manage tenants"), "{}", ready.stdout);
    sb.closeout(&["sim", "delete-tenant", "--simulate", snap])
        .expect(0);
    let done = sb.closeout(&["apply", plan, "--simulate", snap]).expect(0);
    assert!(done.stdout.contains("Closure complete"), "{}", done.stdout);
}
