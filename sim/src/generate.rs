//! Synthetic tenant snapshots for paging tests and benchmarks: deterministic for a seed,
//! valid by construction (they load with [`crate::load_snapshot`]).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::snapshot::{
    DirectoryRole, Object, Snapshot, GLOBAL_ADMIN_TEMPLATE_ID, MICROSOFT_TENANT_ID,
};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Member users, including the one Global Administrator `admin@<domain>`.
    pub users: usize,
    /// Guest users (`userType: Guest`), in addition to `users`.
    pub guests: usize,
    /// Seed: the same options give the same snapshot, byte for byte.
    pub seed: u64,
}

fn guid(rng: &mut StdRng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn obj(v: Value) -> Object {
    match v {
        Value::Object(m) => m,
        _ => Object::new(),
    }
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena",
];
const LAST: &[&str] = &[
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hill", "Ito", "Jones",
];

/// `(skuId, skuPartNumber, status, licenses, isTrial)` of the generated subscriptions.
const SKUS: &[(&str, &str, &str, i64, bool)] = &[
    (
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        "SPE_E3",
        "Enabled",
        0,
        false,
    ),
    (
        "f30db892-07e9-47e9-837c-80727f46fd3d",
        "FLOW_FREE",
        "Enabled",
        10_000,
        true,
    ),
    (
        "1f2f344a-700d-42c9-9427-5cea1d5d7ba6",
        "STREAM",
        "Warning",
        25,
        false,
    ),
];

/// Generates a tenant: `admin@<domain>` (the Global Administrator to keep), `users - 1`
/// members, `guests` guests, three subscriptions (one in `Warning`), security defaults on,
/// a few per-user MFA entries, two app registrations with their service principals and two
/// Microsoft first-party service principals; only the initial `onmicrosoft.com` domain.
pub fn generate(opts: &GenerateOptions) -> Snapshot {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let tenant_id = guid(&mut rng);
    let domain = format!("simtenant{}.onmicrosoft.com", opts.seed);
    let members = opts.users.max(1);
    let licensed = SKUS[0].0;

    let mut users = Vec::with_capacity(members + opts.guests);
    let admin_id = guid(&mut rng);
    users.push(obj(json!({
        "id": admin_id,
        "displayName": "Tenant Administrator",
        "givenName": "Tenant",
        "surname": "Administrator",
        "userPrincipalName": format!("admin@{domain}"),
        "mail": format!("admin@{domain}"),
        "userType": "Member",
        "accountEnabled": true,
        "onPremisesSyncEnabled": null,
        "assignedLicenses": [{"skuId": licensed, "disabledPlans": []}],
    })));
    let mut per_user_mfa = BTreeMap::new();
    for i in 1..members {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        let id = guid(&mut rng);
        let upn = format!("user{i:06}@{domain}");
        if i % 50 == 0 {
            per_user_mfa.insert(id.clone(), obj(json!({"perUserMfaState": "enforced"})));
        }
        users.push(obj(json!({
            "id": id,
            "displayName": format!("{first} {last} {i}"),
            "givenName": first,
            "surname": last,
            "userPrincipalName": upn,
            "mail": upn,
            "jobTitle": if i % 7 == 0 { Value::from("Engineer") } else { Value::Null },
            "userType": "Member",
            "accountEnabled": i % 23 != 0,
            "onPremisesSyncEnabled": null,
            "assignedLicenses": if i % 3 == 0 { json!([]) } else { json!([{"skuId": licensed, "disabledPlans": []}]) },
        })));
    }
    for i in 0..opts.guests {
        let id = guid(&mut rng);
        users.push(obj(json!({
            "id": id,
            "displayName": format!("Guest {i}"),
            "userPrincipalName": format!("guest{i}_partner.example#EXT#@{domain}"),
            "mail": format!("guest{i}@partner.example"),
            "userType": "Guest",
            "accountEnabled": true,
            "onPremisesSyncEnabled": null,
            "assignedLicenses": [],
        })));
    }
    let licensed_count = users
        .iter()
        .filter(|u| {
            u.get("assignedLicenses")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
        .count() as i64;

    let mut subscriptions = Vec::new();
    let mut subscribed_skus = Vec::new();
    for (n, (sku_id, part, status, licenses, trial)) in SKUS.iter().enumerate() {
        let total = if n == 0 {
            licensed_count.max(1)
        } else {
            *licenses
        };
        subscriptions.push(obj(json!({
            "id": guid(&mut rng),
            "commerceSubscriptionId": guid(&mut rng),
            "skuId": sku_id,
            "skuPartNumber": part,
            "status": status,
            "isTrial": trial,
            "totalLicenses": total,
            "createdDateTime": "2023-04-01T00:00:00Z",
            "nextLifecycleDateTime": "2026-04-01T00:00:00Z",
            "ownerType": null,
            "serviceStatus": [],
        })));
        let units = |s: &str| if *status == s { total } else { 0 };
        subscribed_skus.push(obj(json!({
            "id": format!("{tenant_id}_{sku_id}"),
            "accountId": tenant_id,
            "accountName": "simtenant",
            "appliesTo": "User",
            "capabilityStatus": status,
            "consumedUnits": if n == 0 { licensed_count } else { 0 },
            "skuId": sku_id,
            "skuPartNumber": part,
            "prepaidUnits": {"enabled": units("Enabled"), "warning": units("Warning"), "suspended": 0, "lockedOut": 0},
            "servicePlans": [],
        })));
    }

    let mut applications = Vec::new();
    let mut service_principals = Vec::new();
    for (i, name) in ["HR Sync Connector", "Expense Reports"].iter().enumerate() {
        let app_id = guid(&mut rng);
        applications.push(obj(json!({
            "id": guid(&mut rng),
            "appId": app_id,
            "displayName": name,
            "signInAudience": if i == 0 { "AzureADMyOrg" } else { "AzureADMultipleOrgs" },
            "createdDateTime": "2023-05-01T00:00:00Z",
        })));
        service_principals.push(obj(json!({
            "id": guid(&mut rng),
            "appId": app_id,
            "displayName": name,
            "accountEnabled": true,
            "appOwnerOrganizationId": tenant_id,
            "servicePrincipalType": "Application",
        })));
    }
    for (app_id, name) in [
        ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
        (
            "00000002-0000-0ff1-ce00-000000000000",
            "Office 365 Exchange Online",
        ),
    ] {
        service_principals.push(obj(json!({
            "id": guid(&mut rng),
            "appId": app_id,
            "displayName": name,
            "accountEnabled": true,
            "appOwnerOrganizationId": MICROSOFT_TENANT_ID,
            "servicePrincipalType": "Application",
        })));
    }

    let role = |rng: &mut StdRng, name: &str, template: &str, members: Vec<String>| DirectoryRole {
        object: obj(json!({
            "id": guid(rng),
            "displayName": name,
            "description": format!("{name} role"),
            "roleTemplateId": template,
        })),
        members,
    };
    let helpdesk: Vec<String> = users
        .iter()
        .skip(1)
        .take(2)
        .filter(|u| u.get("userType").and_then(Value::as_str) == Some("Member"))
        .filter_map(|u| u.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let directory_roles = vec![
        role(
            &mut rng,
            "Global Administrator",
            GLOBAL_ADMIN_TEMPLATE_ID,
            vec![admin_id.clone()],
        ),
        role(
            &mut rng,
            "Helpdesk Administrator",
            "729827e3-9c14-49f7-bb1b-9608f156bbb8",
            helpdesk,
        ),
    ];

    Snapshot {
        snapshot_version: 1,
        organization: obj(json!({
            "id": tenant_id,
            "displayName": format!("Simulated Tenant {}", opts.seed),
            "onPremisesSyncEnabled": null,
            "countryLetterCode": "US",
            "tenantType": "AAD",
            "verifiedDomains": [{"name": domain, "isInitial": true, "isDefault": true, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}],
        })),
        users,
        deleted_users: Vec::new(),
        azure_subscriptions: Default::default(),
        partner_center: None,
        billing: None,
        directory_roles,
        subscriptions,
        subscribed_skus,
        security_defaults: Some(obj(json!({
            "id": "00000000-0000-0000-0000-000000000005",
            "displayName": "Security Defaults",
            "isEnabled": true,
        }))),
        conditional_access_policies: vec![obj(json!({
            "id": guid(&mut rng),
            "displayName": "Require MFA for admins (report-only)",
            "state": "enabledForReportingButNotEnforced",
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        }))],
        per_user_mfa,
        applications,
        deleted_applications: Vec::new(),
        service_principals,
        deleted_service_principals: Vec::new(),
        domains: vec![obj(json!({
            "id": domain,
            "authenticationType": "Managed",
            "isDefault": true,
            "isInitial": true,
            "isRoot": true,
            "isVerified": true,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        }))],
        extra: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::parse_snapshot;
    use std::path::Path;

    #[test]
    fn generated_snapshot_is_valid_and_deterministic() {
        let opts = GenerateOptions {
            users: 120,
            guests: 5,
            seed: 9,
        };
        let a = generate(&opts);
        let b = generate(&opts);
        assert_eq!(a, b);
        assert_eq!(a.users.len(), 125);
        let yaml = a.to_yaml().unwrap();
        let back = parse_snapshot(&yaml, Path::new("g.yaml")).unwrap();
        assert_eq!(back, a);
    }
}
