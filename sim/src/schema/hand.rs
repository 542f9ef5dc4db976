//! What the CSDL does not say, kept by hand beside the generated table: read-only
//! properties, default property sets, directory extension attributes, and the beta types
//! graph-sim serves. Each entry names its documentation page. Owns these facts only.

/// Read-only properties per type: a PATCH naming one is refused with 400
/// `Request_BadRequest` "Property '{name}' is read-only and cannot be set.". `beta_writable`
/// marks properties beta accepts (organization's `onPremisesSyncEnabled`).
pub(crate) struct ReadOnly {
    /// Entity type.
    pub ty: &'static str,
    /// Property name as the CSDL spells it.
    pub name: &'static str,
    /// Writable on beta.
    pub beta_writable: bool,
    /// Where Graph documents it (read by the table's own test; kept for reviewers).
    #[cfg_attr(not(test), allow(dead_code))]
    pub source: &'static str,
}

const USER_DOC: &str =
    "https://learn.microsoft.com/graph/api/resources/user (Properties: Read-only)";
const ORG_DOC: &str =
    "https://learn.microsoft.com/graph/api/organization-update (only the listed properties are writable)";
const SP_DOC: &str =
    "https://learn.microsoft.com/graph/api/resources/serviceprincipal (Properties: Read-only)";
const DOMAIN_DOC: &str =
    "https://learn.microsoft.com/graph/api/resources/domain (Properties: Read-only)";
const CA_DOC: &str =
    "https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy (Properties: Read-only)";
const ENTITY_DOC: &str = "https://learn.microsoft.com/graph/api/resources/directoryobject (id, deletedDateTime: Read-only)";

const fn ro(ty: &'static str, name: &'static str, source: &'static str) -> ReadOnly {
    ReadOnly {
        ty,
        name,
        beta_writable: false,
        source,
    }
}

/// The read-only table. `*` as type: every type (`id`, `deletedDateTime`).
pub(crate) const READ_ONLY: &[ReadOnly] = &[
    ro("*", "id", ENTITY_DOC),
    ro("*", "deletedDateTime", ENTITY_DOC),
    ro("user", "assignedLicenses", USER_DOC),
    ro("user", "assignedPlans", USER_DOC),
    ro("user", "provisionedPlans", USER_DOC),
    ro("user", "licenseAssignmentStates", USER_DOC),
    ro("user", "createdDateTime", USER_DOC),
    ro("user", "creationType", USER_DOC),
    ro("user", "externalUserState", USER_DOC),
    ro("user", "externalUserStateChangeDateTime", USER_DOC),
    ro("user", "imAddresses", USER_DOC),
    ro("user", "lastPasswordChangeDateTime", USER_DOC),
    ro("user", "onPremisesDistinguishedName", USER_DOC),
    ro("user", "onPremisesDomainName", USER_DOC),
    ro("user", "onPremisesLastSyncDateTime", USER_DOC),
    ro("user", "onPremisesProvisioningErrors", USER_DOC),
    ro("user", "onPremisesSamAccountName", USER_DOC),
    ro("user", "onPremisesSecurityIdentifier", USER_DOC),
    ro("user", "onPremisesSyncEnabled", USER_DOC),
    ro("user", "onPremisesUserPrincipalName", USER_DOC),
    ro("user", "proxyAddresses", USER_DOC),
    ro("user", "securityIdentifier", USER_DOC),
    ro("user", "signInSessionsValidFromDateTime", USER_DOC),
    ro("organization", "assignedPlans", ORG_DOC),
    ro("organization", "createdDateTime", ORG_DOC),
    ro("organization", "verifiedDomains", ORG_DOC),
    ro("organization", "provisionedPlans", ORG_DOC),
    ro("organization", "onPremisesLastSyncDateTime", ORG_DOC),
    ro("organization", "tenantType", ORG_DOC),
    ReadOnly {
        ty: "organization",
        name: "onPremisesSyncEnabled",
        // v1.0 refuses it (microsoft-graph-docs issue #21601); beta turns sync off.
        beta_writable: true,
        source: "https://learn.microsoft.com/graph/api/organization-update?view=graph-rest-beta",
    },
    ro("servicePrincipal", "appId", SP_DOC),
    ro("servicePrincipal", "appOwnerOrganizationId", SP_DOC),
    ro("servicePrincipal", "appDisplayName", SP_DOC),
    ro("domain", "isInitial", DOMAIN_DOC),
    ro("domain", "isRoot", DOMAIN_DOC),
    ro("domain", "isVerified", DOMAIN_DOC),
    ro("domain", "isAdminManaged", DOMAIN_DOC),
    ro("conditionalAccessPolicy", "createdDateTime", CA_DOC),
    ro("conditionalAccessPolicy", "modifiedDateTime", CA_DOC),
];

/// Whether `name` of `ty` is read-only on `beta` / v1.0.
pub(crate) fn is_read_only(ty: &str, name: &str, beta: bool) -> bool {
    READ_ONLY.iter().any(|r| {
        (r.ty == "*" || r.ty == ty)
            && r.name.eq_ignore_ascii_case(name)
            && !(beta && r.beta_writable)
    })
}

/// Properties `GET /users` (and `directory/deletedItems/microsoft.graph.user`, and user
/// members of a role) return without `$select`: "By default, only a limited set of
/// properties are returned (businessPhones, displayName, givenName, id, jobTitle, mail,
/// mobilePhone, officeLocation, preferredLanguage, surname, and userPrincipalName)"
/// (<https://learn.microsoft.com/graph/api/user-list>, "Optional query parameters").
pub(crate) const USER_DEFAULT_PROPERTIES: &[&str] = &[
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

/// `$filter` support per `user` property, transcribed from the table "Support for filter by
/// properties of Microsoft Entra ID (directory) objects" on
/// <https://learn.microsoft.com/graph/aad-advanced-queries> (user). One letter per column,
/// in the page's order `eq ne NOT ge le in startsWith null`: `D` works by default, `A` needs
/// the advanced query parameters, `-` is a blank cell (the query is not valid for that
/// property). "Properties that are not listed here do not support `$filter` at all." (The
/// beta-only `infoCatalogs` row is left out: v1.0 has no such property.)
pub(crate) const USER_FILTER_SUPPORT: &[(&str, &str)] = &[
    ("accountEnabled", "DAAAAD--"),
    ("ageGroup", "DAA--D--"),
    ("assignedLicenses", "D-A-----"),
    ("assignedPlans", "D-A-----"),
    ("businessPhones", "D-A-----"),
    ("city", "DAAD-DDA"),
    ("companyName", "AAAAAAAA"),
    ("consentProvidedForMinor", "DAA--D--"),
    ("country", "DAADDDDA"),
    ("createdDateTime", "DAADDA--"),
    ("creationType", "DAA--D--"),
    ("deletedDateTime", "DAADDA--"),
    ("department", "DAADDDDA"),
    ("displayName", "DAA--DDA"),
    ("employeeHireDate", "AA-AAA--"),
    ("employeeId", "DA--A-DA"),
    ("employeeType", "AA-AAAA-"),
    ("givenName", "DA-DDDDA"),
    ("id", "DAA-----"),
    ("identities", "D-------"),
    ("imAddresses", "DAADD-D-"),
    ("isResourceAccount", "DA------"),
    ("jobTitle", "DA-DDD-A"),
    ("mail", "DA-DDDD-"),
    ("mailNickname", "DA-DDDDA"),
    ("mobilePhone", "AA-AAAAA"),
    ("officeLocation", "AA-AAAAA"),
    ("onPremisesExtensionAttributes", "AA-AAA--"),
    ("onPremisesImmutableId", "AA-AAA--"),
    ("onPremisesLastSyncDateTime", "AA-AAA--"),
    ("onPremisesSamAccountName", "AA-AAAA-"),
    ("onPremisesSecurityIdentifier", "DA---D-A"),
    ("onPremisesSyncEnabled", "DA-AAD--"),
    ("onPremisesUserPrincipalName", "DA-DDDD-"),
    ("otherMails", "DA-DDDD-"),
    ("passwordPolicies", "AA-----A"),
    ("postalCode", "AA-AAAAA"),
    ("preferredLanguage", "AA-AAAAA"),
    ("proxyAddresses", "DA-DD-DA"),
    ("showInAddressList", "AA-AAA--"),
    ("signInActivity", "DA-DD---"),
    ("state", "DA-DDDDA"),
    ("streetAddress", "AA-AAAAA"),
    ("surname", "DA-DDDDA"),
    ("usageLocation", "DA-DDDD-"),
    ("userPrincipalName", "DA--DDD-"),
    ("userType", "DAA--D-A"),
];

/// User properties Graph returns only for a single user, never in a collection: "Certain
/// properties cannot be returned within a user collection. The following properties are only
/// supported when retrieving a single user: aboutMe, birthday, hireDate, interests, mySite,
/// pastProjects, preferredName, responsibilities, schools, skills, mailboxSettings", and
/// "Attempting to use `$select` on the `/users` collection to retrieve properties that cannot
/// be returned within a user collection (for example, the request `../users?$select=aboutMe`)
/// returns a `501 Not Implemented` error code"
/// (<https://learn.microsoft.com/graph/api/user-list>, "Optional query parameters", "Response").
pub(crate) const USER_SINGLE_ONLY: &[&str] = &[
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
];

/// Default properties of an entity type without `$select`: users the eleven above; the
/// other types graph-sim serves return every structural property (`None`), as their list
/// and get pages show in their response examples.
pub(crate) fn default_properties(ty: &str) -> Option<&'static [&'static str]> {
    (ty == "user").then_some(USER_DEFAULT_PROPERTIES)
}

/// Directory extension attributes: `extension_{appId without dashes}_{name}`, legal on the
/// OpenType directory objects (user, application, servicePrincipal, organization, ...)
/// (<https://learn.microsoft.com/graph/extensibility-overview>, "Directory (Microsoft Entra
/// ID) extensions").
pub(crate) fn is_extension_attribute(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else {
        return false;
    };
    let Some((app, prop)) = rest.split_once('_') else {
        return false;
    };
    app.len() == 32 && app.chars().all(|c| c.is_ascii_hexdigit()) && !prop.is_empty()
}

/// Beta types graph-sim serves, in the generated table's format: per-user MFA
/// (`GET|PATCH /beta/users/{id}/authentication/requirements`,
/// <https://learn.microsoft.com/graph/api/authentication-get?view=graph-rest-beta> and
/// <https://learn.microsoft.com/graph/api/resources/strongauthenticationrequirements?view=graph-rest-beta>:
/// `perUserMfaState` of enum `perUserMfaState` = disabled, enforced, enabled, unknownFutureValue).
pub(crate) const BETA_TYPES: &str = "type\tentity\tstrongAuthenticationRequirements\t-\t0\t0
prop\tstrongAuthenticationRequirements\tperUserMfaState\tperUserMfaState\t0\t0
type\tenum\tperUserMfaState\t-\t0\t0
member\tperUserMfaState\tdisabled
member\tperUserMfaState\tenforced
member\tperUserMfaState\tenabled
member\tperUserMfaState\tunknownFutureValue
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_and_extensions() {
        assert!(is_read_only("user", "id", false));
        assert!(is_read_only("user", "onpremisessyncenabled", false));
        assert!(!is_read_only("user", "accountEnabled", false));
        assert!(is_read_only("organization", "onPremisesSyncEnabled", false));
        assert!(!is_read_only("organization", "onPremisesSyncEnabled", true));
        assert!(is_extension_attribute(
            "extension_0123456789abcdef0123456789abcdef_costCenter"
        ));
        assert!(!is_extension_attribute("extension_x_costCenter"));
        assert!(!is_extension_attribute("x-extra"));
        for r in READ_ONLY {
            assert!(
                r.source.starts_with("https://learn.microsoft.com/"),
                "{}",
                r.name
            );
            let schema = crate::schema::Schema::get();
            let ty = if r.ty == "*" { "user" } else { r.ty };
            assert!(
                schema.property(ty, r.name).is_some(),
                "{}.{} is in the CSDL",
                r.ty,
                r.name
            );
        }
        for (p, cells) in USER_FILTER_SUPPORT {
            assert!(
                crate::schema::Schema::get().property("user", p).is_some(),
                "{p}"
            );
            assert!(
                cells.len() == 8 && cells.chars().all(|c| "DA-".contains(c)),
                "{p}"
            );
        }
        for p in USER_SINGLE_ONLY.iter().chain(USER_DEFAULT_PROPERTIES) {
            assert!(
                crate::schema::Schema::get().property("user", p).is_some(),
                "{p}"
            );
        }
    }
}
