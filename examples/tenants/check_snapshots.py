#!/usr/bin/env python3
"""Check closeout tenant snapshots against Graph's v1.0 schema and the snapshot contract.

Usage:
    python3 examples/tenants/check_snapshots.py [--csdl PATH] [--summary] [FILE ...]

With no FILE, checks every *.yaml, *.yml and *.json file beside this script.

What it checks (see shared/snapshot-format.md and shared/graph-facts.md):
  * every property name of every object (nested complex values included) exists on
    the Graph v1.0 type the collection holds, or on one of its base types
    (user -> directoryObject -> entity, ...), and each value has the JSON shape of
    the declared type: strings, booleans, integers, GUID strings, ISO 8601
    timestamps ending in `Z`, enum members as strings, collections as lists,
    no null where the schema says Nullable="false". OpenType="true" is ignored on
    purpose: a hand-written snapshot should not invent properties.
    Instance annotations (`@odata.type`, `prop@odata.context`, ...) are allowed;
    `@odata.type` must name the object's type or a type derived from it.
  * the snapshot's own rules: `snapshotVersion: 1`, known top-level keys only,
    unique ids (directory objects share one id space), unique UPNs and appIds,
    role members are ids of (not deleted) users, `perUserMfa` keys are member
    users with a valid `perUserMfaState`, `subscribedSkus` match the
    subscriptions' skuIds (part numbers, subscriptionIds, prepaidUnits per status,
    capabilityStatus, consumedUnits = users holding the licence), assigned
    licences name a subscribed SKU, soft-deleted objects carry `deletedDateTime`
    and deleted users' UPNs are prefixed with their object id without dashes,
    security defaults on excludes an `enabled` conditional access policy, CA
    policies reference existing users, the organization's verifiedDomains agree
    with `domains`, members use verified domains, guests use `#EXT#` UPNs,
    exactly one default and one initial domain, at least one enabled member
    Global Administrator, service principals owned by the tenant have an app
    registration.

YAML parsing needs PyYAML (`pip install pyyaml`); JSON snapshots need nothing but
the standard library. Duplicate mapping keys are reported (PyYAML alone would
silently keep the last one). Unquoted YAML timestamps are reported: YAML 1.1
parsers turn them into dates, Graph serialises them as strings.

Exit status: 0 clean, 1 problems found, 2 cannot run (missing CSDL or PyYAML).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
# shared/ sits beside the project root (see shared/README.md).
DEFAULT_CSDL = HERE.parent.parent / "sim" / "schema" / "v1.0-Prod.csdl.gz"

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Graph's DateTimeOffset values are UTC with a `Z`, optionally with fractional seconds.
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")

SUPPORTED_SNAPSHOT_VERSIONS = (1,)
SECURITY_DEFAULTS_ID = "00000000-0000-0000-0000-000000000005"
MICROSOFT_FIRST_PARTY_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
GLOBAL_ADMIN_TEMPLATE = "62e90394-69f5-4237-9190-012177145e10"
# A few built-in role template ids (Microsoft Entra built-in roles reference), to catch typos.
KNOWN_ROLE_TEMPLATES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "d29b2b05-8046-44ba-8758-1e26182fcf32": "Directory Synchronization Accounts",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
}
SUBSCRIPTION_STATUSES = ("Enabled", "Warning", "Suspended", "LockedOut", "Deleted")
# companySubscription.status -> licenseUnitsDetail property counting its licences.
PREPAID_FIELD = {"Enabled": "enabled", "Warning": "warning", "Suspended": "suspended", "LockedOut": "lockedOut"}
PER_USER_MFA_STATES = ("disabled", "enabled", "enforced")
CA_SPECIAL_USERS = ("All", "None", "GuestsOrExternalUsers")

# Top-level key -> (Graph type, is a collection). perUserMfa is beta-only (not in the v1.0 CSDL).
TOP_LEVEL = {
    "organization": ("microsoft.graph.organization", False),
    "users": ("microsoft.graph.user", True),
    "deletedUsers": ("microsoft.graph.user", True),
    "directoryRoles": ("microsoft.graph.directoryRole", True),
    "subscriptions": ("microsoft.graph.companySubscription", True),
    "subscribedSkus": ("microsoft.graph.subscribedSku", True),
    "securityDefaults": ("microsoft.graph.identitySecurityDefaultsEnforcementPolicy", False),
    "conditionalAccessPolicies": ("microsoft.graph.conditionalAccessPolicy", True),
    "applications": ("microsoft.graph.application", True),
    "deletedApplications": ("microsoft.graph.application", True),
    "servicePrincipals": ("microsoft.graph.servicePrincipal", True),
    # GET /directory/deletedItems/microsoft.graph.servicePrincipal: not in snapshot-format.md
    # yet, but graph-sim reads it.
    "deletedServicePrincipals": ("microsoft.graph.servicePrincipal", True),
    "domains": ("microsoft.graph.domain", True),
}
# graph-sim's commerce sections (docs/snapshot-format.md, "Commerce"): not Graph objects.
OTHER_TOP_LEVEL = ("snapshotVersion", "perUserMfa", "partnerCenter", "billing")
# Snapshot-format extensions that are not Graph properties: {collection: {extra keys}}.
EXTENSIONS = {"directoryRoles": {"members"}}


# --------------------------------------------------------------------------- CSDL model


class StructuredType:
    def __init__(self, qname, kind, base, abstract):
        self.qname = qname
        self.kind = kind  # "entity" or "complex"
        self.base = base
        self.abstract = abstract
        self.props = {}  # name -> (type string, nullable)


class Schema:
    """The structured and enum types of a CSDL document, names fully qualified."""

    def __init__(self, path: Path):
        self.types: dict[str, StructuredType] = {}
        self.enums: dict[str, tuple[set[str], bool]] = {}
        if str(path).endswith(".gz"):
            import gzip
            with gzip.open(path) as f:
                root = ET.parse(f).getroot()
        else:
            root = ET.parse(path).getroot()
        aliases = {}
        schemas = list(root.iter(EDM + "Schema"))
        for s in schemas:
            ns = s.get("Namespace")
            aliases[ns] = ns
            if s.get("Alias"):
                aliases[s.get("Alias")] = ns
        self._aliases = aliases
        for s in schemas:
            ns = s.get("Namespace")
            for el in s:
                tag = el.tag[len(EDM):] if el.tag.startswith(EDM) else el.tag
                if tag in ("EntityType", "ComplexType"):
                    qname = f"{ns}.{el.get('Name')}"
                    t = StructuredType(
                        qname,
                        "entity" if tag == "EntityType" else "complex",
                        self.qualify(el.get("BaseType")) if el.get("BaseType") else None,
                        el.get("Abstract") == "true",
                    )
                    for p in el:
                        ptag = p.tag[len(EDM):]
                        if ptag in ("Property", "NavigationProperty"):
                            t.props[p.get("Name")] = (
                                self.qualify_type(p.get("Type")),
                                p.get("Nullable") != "false",
                            )
                    self.types[qname] = t
                elif tag == "EnumType":
                    qname = f"{ns}.{el.get('Name')}"
                    members = {m.get("Name") for m in el if m.tag == EDM + "Member"}
                    self.enums[qname] = (members, el.get("IsFlags") == "true")

    def qualify(self, name: str) -> str:
        if name.startswith("Edm."):
            return name
        prefix, _, local = name.rpartition(".")
        return f"{self._aliases.get(prefix, prefix)}.{local}"

    def qualify_type(self, tstr: str) -> str:
        if tstr.startswith("Collection(") and tstr.endswith(")"):
            return f"Collection({self.qualify(tstr[len('Collection('):-1])})"
        return self.qualify(tstr)

    def lookup(self, qname: str, prop: str):
        t = self.types.get(qname)
        while t is not None:
            if prop in t.props:
                return t.props[prop]
            t = self.types.get(t.base) if t.base else None
        return None

    def derives_from(self, qname: str, ancestor: str) -> bool:
        t = self.types.get(qname)
        while t is not None:
            if t.qname == ancestor:
                return True
            t = self.types.get(t.base) if t.base else None
        return False


# --------------------------------------------------------------------------- loading


class Problem(Exception):
    pass


def load_yaml(text: str, marks: dict):
    """Parse YAML keeping each node's line/column by path; report duplicate keys."""
    try:
        import yaml
    except ImportError:
        print(
            "check_snapshots.py needs PyYAML to read YAML snapshots: pip install pyyaml",
            file=sys.stderr,
        )
        sys.exit(2)

    constructor = yaml.constructor.SafeConstructor()
    problems = []

    def build(node, path):
        marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out = {}
            for knode, vnode in node.value:
                key = constructor.construct_object(knode, deep=True)
                if not isinstance(key, str):
                    problems.append((path, f"mapping key {key!r} is not a string (quote it)"))
                    key = str(key)
                if key in out:
                    problems.append((path + (key,), f"duplicate key {key!r}"))
                out[key] = build(vnode, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise Problem(f"invalid YAML: {e}")
    if node is None:
        raise Problem("empty document")
    return build(node, ()), problems


def load(path: Path):
    text = path.read_text(encoding="utf-8")
    marks: dict = {}
    if path.suffix == ".json":
        try:
            return json.loads(text), marks, []
        except json.JSONDecodeError as e:
            raise Problem(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
    data, problems = load_yaml(text, marks)
    return data, marks, problems


# --------------------------------------------------------------------------- checking


def fmt_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<root>"


class Checker:
    def __init__(self, schema: Schema, file: Path, marks: dict):
        self.schema = schema
        self.file = file
        self.marks = marks
        self.errors: list[str] = []

    def err(self, path, msg):
        mark = None
        p = tuple(path)
        while p and p not in self.marks:
            p = p[:-1]
        mark = self.marks.get(p)
        loc = f"{self.file.name}:{mark[0]}:{mark[1]}" if mark else self.file.name
        self.errors.append(f"{loc}: {fmt_path(path)}: {msg}")

    # ---- schema conformance

    def check_value(self, value, tstr: str, nullable: bool, path):
        if tstr.startswith("Collection("):
            inner = tstr[len("Collection("):-1]
            if value is None:
                if not nullable:
                    self.err(path, "null for a non-nullable collection (Graph returns [])")
                return
            if not isinstance(value, list):
                self.err(path, f"expected a list ({tstr}), got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                self.check_value(item, inner, False, path + (i,))
            return
        if value is None:
            if not nullable:
                self.err(path, f"null for a non-nullable {tstr}")
            return
        if tstr == "Edm.String":
            if not isinstance(value, str):
                self.err(path, f"expected a string, got {type(value).__name__} {value!r}")
        elif tstr == "Edm.Boolean":
            if not isinstance(value, bool):
                self.err(path, f"expected true/false, got {value!r}")
        elif tstr in ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.err(path, f"expected an integer, got {value!r}")
        elif tstr in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.err(path, f"expected a number, got {value!r}")
        elif tstr == "Edm.Guid":
            if not isinstance(value, str) or not GUID_RE.match(value):
                self.err(path, f"expected a lower-case GUID string, got {value!r}")
        elif tstr == "Edm.DateTimeOffset":
            if not isinstance(value, str):
                self.err(path, f"expected an ISO 8601 string (quote it in YAML), got {type(value).__name__} {value!r}")
            elif not TIMESTAMP_RE.match(value):
                self.err(path, f"expected an ISO 8601 UTC timestamp ending in Z, got {value!r}")
        elif tstr.startswith("Edm."):
            pass  # Stream, Binary, Date, ...: not used by snapshots
        elif tstr in self.schema.enums:
            members, flags = self.schema.enums[tstr]
            parts = [p.strip() for p in value.split(",")] if flags and isinstance(value, str) else [value]
            for part in parts:
                if part not in members:
                    self.err(path, f"{value!r} is not a member of enum {tstr} ({', '.join(sorted(members))})")
                    break
        elif tstr in self.schema.types:
            self.check_object(value, tstr, path)
        else:
            self.err(path, f"unknown schema type {tstr}")

    def check_object(self, obj, qname: str, path, extra=frozenset()):
        if not isinstance(obj, dict):
            self.err(path, f"expected an object of type {qname}, got {type(obj).__name__}")
            return
        declared = obj.get("@odata.type")
        if declared is not None:
            if not isinstance(declared, str) or not declared.startswith("#"):
                self.err(path + ("@odata.type",), f"expected '#namespace.type', got {declared!r}")
            else:
                derived = declared[1:]
                if derived not in self.schema.types:
                    self.err(path + ("@odata.type",), f"unknown type {declared}")
                elif not self.schema.derives_from(derived, qname):
                    self.err(path + ("@odata.type",), f"{declared} is not {qname} or derived from it")
                else:
                    qname = derived
        for key, value in obj.items():
            if "@" in key:
                continue  # instance annotation (@odata.type, prop@odata.context, ...)
            if key in extra:
                continue
            found = self.schema.lookup(qname, key)
            if found is None:
                self.err(path + (key,), f"'{key}' is not a property of {qname} or its base types")
                continue
            tstr, nullable = found
            self.check_value(value, tstr, nullable, path + (key,))

    # ---- snapshot rules

    def check(self, data):
        if not isinstance(data, dict):
            self.err((), "a snapshot is a mapping")
            return
        version = data.get("snapshotVersion")
        if version not in SUPPORTED_SNAPSHOT_VERSIONS:
            self.err(("snapshotVersion",), f"unsupported snapshotVersion {version!r}; supported: {SUPPORTED_SNAPSHOT_VERSIONS}")
        if "organization" not in data:
            self.err((), "missing required key 'organization'")
        for key in data:
            if key not in TOP_LEVEL and key not in OTHER_TOP_LEVEL:
                self.err((key,), f"unknown top-level key '{key}'")
        for key, (qname, is_coll) in TOP_LEVEL.items():
            if key not in data or data[key] is None:
                continue
            value = data[key]
            if is_coll:
                if not isinstance(value, list):
                    self.err((key,), "expected a list")
                    continue
                for i, obj in enumerate(value):
                    self.check_object(obj, qname, (key, i), EXTENSIONS.get(key, frozenset()))
            else:
                self.check_object(value, qname, (key,))
        coll = {k: (data.get(k) or []) for k, (_, c) in TOP_LEVEL.items() if c}
        for k in coll:
            if not isinstance(coll[k], list):
                coll[k] = []
            coll[k] = [o if isinstance(o, dict) else {} for o in coll[k]]
        org = data.get("organization") if isinstance(data.get("organization"), dict) else {}
        self.rules(data, org, coll)

    def rules(self, data, org, coll):
        tenant_id = org.get("id")
        if not isinstance(tenant_id, str) or not GUID_RE.match(tenant_id):
            self.err(("organization", "id"), "the tenant id must be a GUID")

        # unique ids; directory objects share one id space
        seen = {}
        for key in ("users", "deletedUsers", "directoryRoles", "applications", "deletedApplications",
                    "servicePrincipals", "deletedServicePrincipals"):
            for i, o in enumerate(coll[key]):
                oid = o.get("id")
                if not isinstance(oid, str) or not GUID_RE.match(oid):
                    self.err((key, i, "id"), f"directory object id must be a GUID, got {oid!r}")
                    continue
                if oid in seen:
                    self.err((key, i, "id"), f"duplicate id {oid} (also {fmt_path(seen[oid])})")
                seen[oid] = (key, i)
        if isinstance(tenant_id, str) and tenant_id in seen:
            self.err(("organization", "id"), f"tenant id reused by {fmt_path(seen[tenant_id])}")
        for key in ("subscriptions", "subscribedSkus", "conditionalAccessPolicies", "domains"):
            ids = {}
            for i, o in enumerate(coll[key]):
                oid = o.get("id")
                if oid in ids:
                    self.err((key, i, "id"), f"duplicate id {oid!r}")
                ids[oid] = i
                if key in ("subscriptions", "conditionalAccessPolicies") and not (isinstance(oid, str) and GUID_RE.match(oid)):
                    self.err((key, i, "id"), f"id must be a GUID, got {oid!r}")

        # domains
        domains = {d.get("id"): d for d in coll["domains"]}
        verified = {n for n, d in domains.items() if d.get("isVerified")}
        defaults = [d.get("id") for d in coll["domains"] if d.get("isDefault")]
        initials = [d.get("id") for d in coll["domains"] if d.get("isInitial")]
        if coll["domains"]:
            if len(defaults) != 1:
                self.err(("domains",), f"exactly one default domain expected, found {defaults}")
            if len(initials) != 1 or not str(initials[0]).endswith(".onmicrosoft.com"):
                self.err(("domains",), f"exactly one initial *.onmicrosoft.com domain expected, found {initials}")
        vd = org.get("verifiedDomains") or []
        vd_names = {v.get("name"): v for v in vd if isinstance(v, dict)}
        if coll["domains"]:
            if set(vd_names) != verified:
                self.err(("organization", "verifiedDomains"), f"names {sorted(vd_names)} differ from verified domains {sorted(verified)}")
            for name, v in vd_names.items():
                d = domains.get(name, {})
                for a, b in (("isDefault", "isDefault"), ("isInitial", "isInitial"), ("type", "authenticationType")):
                    if name in domains and v.get(a) != d.get(b):
                        self.err(("organization", "verifiedDomains"), f"{name}: {a}={v.get(a)!r} but domains says {b}={d.get(b)!r}")
        initial = initials[0] if len(initials) == 1 else None

        # users
        users = {u.get("id"): u for u in coll["users"]}
        upns = {}
        for i, u in enumerate(coll["users"]):
            upn = u.get("userPrincipalName")
            for req in ("id", "userPrincipalName", "displayName", "userType", "accountEnabled", "onPremisesSyncEnabled", "assignedLicenses"):
                if req not in u:
                    self.err(("users", i), f"missing '{req}' (the reader $selects it)")
            if not isinstance(upn, str):
                continue
            if upn.lower() in upns:
                self.err(("users", i, "userPrincipalName"), f"duplicate userPrincipalName {upn}")
            upns[upn.lower()] = i
            if u.get("deletedDateTime") is not None:
                self.err(("users", i, "deletedDateTime"), "an active user has no deletedDateTime (soft-deleted users go in deletedUsers)")
            utype = u.get("userType")
            if utype not in ("Member", "Guest"):
                self.err(("users", i, "userType"), f"userType is Member or Guest, got {utype!r}")
            domain = upn.rpartition("@")[2]
            if utype == "Guest":
                if "#EXT#@" not in upn:
                    self.err(("users", i, "userPrincipalName"), "a guest's UPN looks like name_domain#EXT#@tenant.onmicrosoft.com")
                if initial and domain != initial:
                    self.err(("users", i, "userPrincipalName"), f"guest UPNs use the initial domain {initial}")
            elif verified and domain not in verified:
                self.err(("users", i, "userPrincipalName"), f"domain {domain} is not a verified domain of the tenant")
        for i, u in enumerate(coll["deletedUsers"]):
            oid, upn = u.get("id"), u.get("userPrincipalName")
            if u.get("deletedDateTime") is None:
                self.err(("deletedUsers", i), "a soft-deleted user carries deletedDateTime")
            if isinstance(oid, str) and isinstance(upn, str) and not upn.startswith(oid.replace("-", "")):
                self.err(("deletedUsers", i, "userPrincipalName"), "a soft-deleted user's UPN is prefixed with its object id without dashes")
            if u.get("@odata.type") not in (None, "#microsoft.graph.user"):
                self.err(("deletedUsers", i, "@odata.type"), "expected #microsoft.graph.user")

        # directory roles
        ga_members = []
        for i, r in enumerate(coll["directoryRoles"]):
            tid = r.get("roleTemplateId")
            if tid in KNOWN_ROLE_TEMPLATES and r.get("displayName") != KNOWN_ROLE_TEMPLATES[tid]:
                self.err((f"directoryRoles", i, "displayName"), f"template {tid} is {KNOWN_ROLE_TEMPLATES[tid]!r}")
            members = r.get("members") or []
            if not isinstance(members, list):
                self.err(("directoryRoles", i, "members"), "members is a list of user ids")
                continue
            for j, m in enumerate(members):
                if m not in users:
                    where = " (it is a deleted user)" if any(d.get("id") == m for d in coll["deletedUsers"]) else ""
                    self.err(("directoryRoles", i, "members", j), f"{m!r} is not a user id{where}")
                if tid == GLOBAL_ADMIN_TEMPLATE and m in users:
                    ga_members.append(users[m])
            if len(set(members)) != len(members):
                self.err(("directoryRoles", i, "members"), "duplicate member ids")
        if not any(u.get("accountEnabled") and u.get("userType") == "Member" for u in ga_members):
            self.err(("directoryRoles",), "no enabled member user holds Global Administrator")

        # per-user MFA (beta: GET /beta/users/{id}/authentication/requirements)
        mfa = data.get("perUserMfa") or {}
        if not isinstance(mfa, dict):
            self.err(("perUserMfa",), "perUserMfa maps user ids to {perUserMfaState}")
            mfa = {}
        for uid, req in mfa.items():
            p = ("perUserMfa", uid)
            u = users.get(uid)
            if u is None:
                self.err(p, "not the id of a user in users")
            elif u.get("userType") != "Member":
                self.err(p, "guests have no per-user MFA entry (the endpoint answers 404)")
            if not isinstance(req, dict) or set(req) - {"perUserMfaState", "@odata.context"}:
                self.err(p, "expected {perUserMfaState: disabled|enabled|enforced}")
            elif req.get("perUserMfaState") not in PER_USER_MFA_STATES:
                self.err(p + ("perUserMfaState",), f"expected one of {PER_USER_MFA_STATES}, got {req.get('perUserMfaState')!r}")

        # subscriptions and subscribedSkus
        subs_by_sku = {}
        for i, s in enumerate(coll["subscriptions"]):
            if s.get("status") not in SUBSCRIPTION_STATUSES:
                self.err(("subscriptions", i, "status"), f"status is one of {SUBSCRIPTION_STATUSES}")
            if not isinstance(s.get("isTrial"), bool):
                self.err(("subscriptions", i, "isTrial"), "isTrial is true or false")
            sku = s.get("skuId")
            if not (isinstance(sku, str) and GUID_RE.match(sku)):
                self.err(("subscriptions", i, "skuId"), "skuId is a GUID string")
            subs_by_sku.setdefault(sku, []).append(s)
        skus = {}
        for i, k in enumerate(coll["subscribedSkus"]):
            p = ("subscribedSkus", i)
            sku = k.get("skuId")
            if sku in skus:
                self.err(p + ("skuId",), f"duplicate skuId {sku}")
            skus[sku] = k
            if tenant_id and k.get("id") != f"{tenant_id}_{sku}":
                self.err(p + ("id",), "a subscribedSku id is '<tenant id>_<skuId>'")
            if k.get("capabilityStatus") not in SUBSCRIPTION_STATUSES:
                self.err(p + ("capabilityStatus",), f"capabilityStatus is one of {SUBSCRIPTION_STATUSES}")
            subs = subs_by_sku.get(sku, [])
            if not subs:
                self.err(p + ("skuId",), f"no subscription has skuId {sku}")
                continue
            for s in subs:
                if s.get("skuPartNumber") != k.get("skuPartNumber"):
                    self.err(p + ("skuPartNumber",), f"subscription {s.get('id')} says {s.get('skuPartNumber')!r}")
            sub_ids = {s.get("id") for s in subs} | {s.get("commerceSubscriptionId") for s in subs}
            listed = k.get("subscriptionIds")
            if listed is not None:
                for j, sid in enumerate(listed):
                    if sid not in sub_ids:
                        self.err(p + ("subscriptionIds", j), f"{sid!r} is not a subscription of this SKU")
                if len(listed) != len(subs):
                    self.err(p + ("subscriptionIds",), f"{len(subs)} subscriptions have this SKU, {len(listed)} listed")
            prepaid = k.get("prepaidUnits") or {}
            for status, field in PREPAID_FIELD.items():
                want = sum(s.get("totalLicenses") or 0 for s in subs if s.get("status") == status)
                if prepaid.get(field) != want:
                    self.err(p + ("prepaidUnits", field), f"expected {want} (sum of totalLicenses of {status} subscriptions)")
            statuses = {s.get("status") for s in subs}
            if len(statuses) == 1 and k.get("capabilityStatus") not in statuses:
                self.err(p + ("capabilityStatus",), f"its only subscription status is {statuses.pop()}")
            holders = sum(1 for u in coll["users"] for lic in (u.get("assignedLicenses") or []) if isinstance(lic, dict) and lic.get("skuId") == sku)
            if k.get("consumedUnits") != holders:
                self.err(p + ("consumedUnits",), f"{holders} users hold this licence, consumedUnits says {k.get('consumedUnits')}")
        for sku in subs_by_sku:
            if sku not in skus:
                self.err(("subscriptions",), f"skuId {sku} has no subscribedSkus entry")
        for key in ("users", "deletedUsers"):
            for i, u in enumerate(coll[key]):
                for j, lic in enumerate(u.get("assignedLicenses") or []):
                    if isinstance(lic, dict) and lic.get("skuId") not in skus:
                        self.err((key, i, "assignedLicenses", j, "skuId"), "not a subscribed SKU of the tenant")

        # security defaults and conditional access
        sd = data.get("securityDefaults")
        sd_on = isinstance(sd, dict) and sd.get("isEnabled") is True
        if isinstance(sd, dict) and sd.get("id") != SECURITY_DEFAULTS_ID:
            self.err(("securityDefaults", "id"), f"the policy id is {SECURITY_DEFAULTS_ID}")
        all_user_ids = set(users) | {u.get("id") for u in coll["deletedUsers"]}
        for i, pol in enumerate(coll["conditionalAccessPolicies"]):
            if sd_on and pol.get("state") == "enabled":
                self.err(("conditionalAccessPolicies", i, "state"), "Graph refuses an enabled CA policy while security defaults are on")
            cond_users = ((pol.get("conditions") or {}).get("users")) or {}
            for field in ("includeUsers", "excludeUsers"):
                for j, uid in enumerate(cond_users.get(field) or []):
                    if uid not in CA_SPECIAL_USERS and uid not in all_user_ids:
                        self.err(("conditionalAccessPolicies", i, "conditions", "users", field, j), f"{uid!r} is not a user id")
            for field in ("includeRoles", "excludeRoles"):
                for j, rid in enumerate(cond_users.get(field) or []):
                    if not (isinstance(rid, str) and GUID_RE.match(rid)):
                        self.err(("conditionalAccessPolicies", i, "conditions", "users", field, j), "role template ids are GUIDs")

        # applications and service principals
        app_ids = {}
        for key in ("applications", "deletedApplications"):
            for i, a in enumerate(coll[key]):
                aid = a.get("appId")
                if not (isinstance(aid, str) and GUID_RE.match(aid)):
                    self.err((key, i, "appId"), "appId is a GUID string")
                if aid in app_ids:
                    self.err((key, i, "appId"), f"duplicate appId {aid}")
                app_ids[aid] = key
                if key == "deletedApplications" and a.get("deletedDateTime") is None:
                    self.err((key, i), "a soft-deleted application carries deletedDateTime")
                if key == "deletedApplications" and a.get("@odata.type") not in (None, "#microsoft.graph.application"):
                    self.err((key, i, "@odata.type"), "expected #microsoft.graph.application")
                if key == "applications" and a.get("deletedDateTime") is not None:
                    self.err((key, i, "deletedDateTime"), "an active application has no deletedDateTime")
        for i, sp in enumerate(coll["deletedServicePrincipals"]):
            if sp.get("deletedDateTime") is None:
                self.err(("deletedServicePrincipals", i), "a soft-deleted service principal carries deletedDateTime")
            if sp.get("@odata.type") not in (None, "#microsoft.graph.servicePrincipal"):
                self.err(("deletedServicePrincipals", i, "@odata.type"), "expected #microsoft.graph.servicePrincipal")
        sp_app_ids = set()
        for i, sp in enumerate(coll["servicePrincipals"]):
            aid = sp.get("appId")
            if aid in sp_app_ids:
                self.err(("servicePrincipals", i, "appId"), f"two service principals for appId {aid}")
            sp_app_ids.add(aid)
            owner = sp.get("appOwnerOrganizationId")
            if owner == tenant_id and app_ids.get(aid) != "applications":
                self.err(("servicePrincipals", i, "appId"), "owned by this tenant but no application has this appId")
            if owner != tenant_id and aid in app_ids:
                self.err(("servicePrincipals", i, "appOwnerOrganizationId"), "the app is registered here, so the owner is this tenant")
            if owner == MICROSOFT_FIRST_PARTY_TENANT and sp.get("servicePrincipalType") != "Application":
                self.err(("servicePrincipals", i, "servicePrincipalType"), "Microsoft first-party service principals are of type Application")


def summarize(data) -> str:
    users = data.get("users") or []
    subs = data.get("subscriptions") or []
    cap = data.get("conditionalAccessPolicies") or []

    def by(items, key):
        out = {}
        for it in items:
            out[it.get(key)] = out.get(it.get(key), 0) + 1
        return ", ".join(f"{k} {v}" for k, v in sorted(out.items(), key=lambda kv: str(kv[0]))) or "none"

    org = data.get("organization") or {}
    ga = [r for r in data.get("directoryRoles") or [] if r.get("roleTemplateId") == GLOBAL_ADMIN_TEMPLATE]
    byid = {u.get("id"): u for u in users}
    gas = [byid[m].get("userPrincipalName") for r in ga for m in r.get("members") or [] if m in byid]
    sps = data.get("servicePrincipals") or []
    first_party = sum(1 for s in sps if s.get("appOwnerOrganizationId") == MICROSOFT_FIRST_PARTY_TENANT)
    lines = [
        f"  tenant {org.get('displayName')} ({org.get('id')})",
        f"  users {len(users)} (members {sum(1 for u in users if u.get('userType') == 'Member')}, "
        f"guests {sum(1 for u in users if u.get('userType') == 'Guest')}, "
        f"disabled {sum(1 for u in users if u.get('accountEnabled') is False)}, "
        f"synced {sum(1 for u in users if u.get('onPremisesSyncEnabled') is True)}), "
        f"deleted users {len(data.get('deletedUsers') or [])}",
        f"  Global Administrators: {', '.join(gas)}",
        f"  subscriptions {len(subs)} ({by(subs, 'status')}; trials {sum(1 for s in subs if s.get('isTrial'))})",
        f"  security defaults {'on' if (data.get('securityDefaults') or {}).get('isEnabled') else 'off'}; "
        f"CA policies {len(cap)} ({by(cap, 'state')}); per-user MFA entries {len(data.get('perUserMfa') or {})}",
        f"  applications {len(data.get('applications') or [])}, deleted applications {len(data.get('deletedApplications') or [])}, "
        f"service principals {len(sps)} (Microsoft first-party {first_party}), domains {len(data.get('domains') or [])}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="snapshot files (default: every snapshot beside this script)")
    ap.add_argument("--csdl", type=Path, default=Path(os.environ.get("CLOSEOUT_CSDL", DEFAULT_CSDL)),
                    help="Graph v1.0 $metadata, plain or gzipped (default: sim/schema/v1.0-Prod.csdl.gz, the copy in this repository)")
    ap.add_argument("--summary", action="store_true", help="print what each snapshot contains")
    args = ap.parse_args(argv)
    if not args.csdl.is_file():
        print(f"check_snapshots.py: CSDL not found at {args.csdl} (use --csdl or CLOSEOUT_CSDL)", file=sys.stderr)
        return 2
    files = args.files or sorted(p for p in HERE.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    if not files:
        print("check_snapshots.py: no snapshot files found", file=sys.stderr)
        return 2
    schema = Schema(args.csdl)
    failed = 0
    for f in files:
        try:
            data, marks, parse_problems = load(f)
        except Problem as e:
            print(f"{f.name}: {e}")
            failed += 1
            continue
        c = Checker(schema, f, marks)
        for path, msg in parse_problems:
            c.err(path, msg)
        c.check(data)
        if c.errors:
            failed += 1
            for e in c.errors:
                print(e)
            print(f"FAIL {f.name}: {len(c.errors)} problem(s)")
        else:
            print(f"ok   {f.name}")
        if args.summary and isinstance(data, dict):
            print(summarize(data))
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
