//! Shared helpers: a small tenant, a server on an ephemeral port, an authenticated client.
#![allow(dead_code)]

use std::path::Path;

use graph_sim::snapshot::parse_snapshot;
use graph_sim::{SimConfig, SimServer, Store};
use serde_json::Value;

pub const GA_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const MS: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// A small tenant: GA `admin`, 5 members (one synced), a guest, a second role member,
/// two subscriptions, security defaults on, a report-only CA policy, apps, SPs, domains.
pub fn tenant_yaml() -> String {
    format!(
        r#"snapshotVersion: 1
organization:
  id: 11111111-1111-1111-1111-111111111111
  displayName: Contoso
  onPremisesSyncEnabled: true
  verifiedDomains:
    - {{name: contoso.onmicrosoft.com, isInitial: true, isDefault: false, type: Managed}}
    - {{name: contoso.com, isInitial: false, isDefault: true, type: Managed}}
users:
  - {{id: aaaaaaaa-0000-0000-0000-000000000001, displayName: Admin, userPrincipalName: admin@contoso.onmicrosoft.com, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null}}
  - {{id: aaaaaaaa-0000-0000-0000-000000000002, displayName: Ann, userPrincipalName: ann@contoso.com, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null, extension_0123456789abcdef0123456789abcdef_costCenter: kept}}
  - {{id: aaaaaaaa-0000-0000-0000-000000000003, displayName: Bob, userPrincipalName: bob@contoso.com, userType: Member, accountEnabled: true, onPremisesSyncEnabled: true}}
  - {{id: aaaaaaaa-0000-0000-0000-000000000004, displayName: Cid, userPrincipalName: cid@contoso.com, userType: Member, accountEnabled: false, onPremisesSyncEnabled: null}}
  - {{id: aaaaaaaa-0000-0000-0000-000000000005, displayName: Dee, userPrincipalName: dee@contoso.onmicrosoft.com, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null}}
  - {{id: aaaaaaaa-0000-0000-0000-000000000006, displayName: Guest, userPrincipalName: g_x.com#EXT#@contoso.onmicrosoft.com, userType: Guest, accountEnabled: true, onPremisesSyncEnabled: null}}
directoryRoles:
  - {{id: role-ga, displayName: Global Administrator, roleTemplateId: {GA_TEMPLATE}, members: [aaaaaaaa-0000-0000-0000-000000000001]}}
  - {{id: role-ua, displayName: User Administrator, roleTemplateId: fe930be7-5e62-47db-91af-98c3a49a38b1, members: [aaaaaaaa-0000-0000-0000-000000000002]}}
subscriptions:
  - {{id: sub-e3, skuId: sku-e3, skuPartNumber: SPE_E3, status: Enabled, totalLicenses: 10, isTrial: false}}
  - {{id: sub-old, skuId: sku-old, skuPartNumber: STREAM, status: LockedOut, totalLicenses: 1, isTrial: false}}
subscribedSkus:
  - {{id: t_sku-e3, skuId: sku-e3, skuPartNumber: SPE_E3, capabilityStatus: Enabled, prepaidUnits: {{enabled: 10, warning: 0, suspended: 0, lockedOut: 0}}}}
securityDefaults: {{id: 00000000-0000-0000-0000-000000000005, isEnabled: true}}
conditionalAccessPolicies:
  - {{id: ca-1, displayName: MFA for admins, state: enabledForReportingButNotEnforced, grantControls: {{operator: OR, builtInControls: [mfa]}}}}
perUserMfa:
  aaaaaaaa-0000-0000-0000-000000000002: {{perUserMfaState: enforced}}
applications:
  - {{id: app-1, appId: appid-1, displayName: HR Connector}}
servicePrincipals:
  - {{id: sp-1, appId: appid-1, displayName: HR Connector, accountEnabled: true, appOwnerOrganizationId: 11111111-1111-1111-1111-111111111111}}
  - {{id: sp-graph, appId: 00000003-0000-0000-c000-000000000000, displayName: Microsoft Graph, accountEnabled: true, appOwnerOrganizationId: {MS}}}
domains:
  - {{id: contoso.onmicrosoft.com, isInitial: true, isDefault: false, isVerified: true}}
  - {{id: contoso.com, isInitial: false, isDefault: true, isVerified: true}}
  - {{id: unused.com, isInitial: false, isDefault: false, isVerified: true}}
"#
    )
}

/// A JWT-shaped token with every permission graph-sim checks and the Global Administrator
/// role (graph_sim::token::full_access).
pub fn token() -> String {
    graph_sim::token::full_access()
}

/// `Bearer <token()>`.
pub fn bearer() -> String {
    format!("Bearer {}", token())
}

pub fn store_from(yaml: &str) -> Store {
    Store::from_snapshot(parse_snapshot(yaml, Path::new("test.yaml")).expect("test snapshot loads"))
}

pub async fn start(yaml: &str) -> SimServer {
    start_with(yaml, SimConfig::default()).await
}

pub async fn start_with(yaml: &str, config: SimConfig) -> SimServer {
    SimServer::start(store_from(yaml), config, 0)
        .await
        .expect("server starts")
}

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    /// The bearer token sent with every Graph request.
    pub token: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Client {
    pub fn new(server: &SimServer) -> Client {
        Client {
            base: server.base_url(),
            http: reqwest::Client::new(),
            token: token(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        self.send_with(method, path, headers, body).await
    }

    /// A request with exactly these extra headers (plus `Authorization`) and raw body.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, url)
            .header("Authorization", format!("Bearer {}", self.token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn admin(&self, path: &str) -> Reply {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("admin call");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// The Graph error code of a reply.
pub fn code(r: &Reply) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}
