#!/usr/bin/env python3
"""Generates graph-sim's schema table from Microsoft Graph's v1.0 CSDL.

Reads sim/schema/v1.0-Prod.csdl.gz (Microsoft Graph's published $metadata, MIT licence in
LICENSE-CSDL beside it) and writes sim/src/schema/generated.tsv: the entity types graph-sim
serves, their base types, and every complex and enum type they use, transitively.

Usage:
    python3 sim/schema/gen_schema.py           # rewrite the table
    python3 sim/schema/gen_schema.py --check   # exit 1 if the table is out of date

Table format (tab-separated, one record per line, sorted; lines starting with # are comments):
    type    KIND  NAME  BASE  OPEN  ABSTRACT     KIND: entity | complex | enum; BASE or -
    prop    OWNER NAME  TYPE  COLLECTION NULLABLE   TYPE: Edm.* or a type NAME; 0/1 flags
    nav     OWNER NAME  TYPE  COLLECTION            a navigation property (its type is not expanded)
    member  ENUM  NAME

Navigation properties are listed by name only: graph-sim validates structural properties, and
knows a navigation name (e.g. the contained grantControls/authenticationStrength) when a
served object carries one.
The Rust test sim/tests/schema.rs re-derives the same table from the CSDL and compares.
"""

import gzip
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSDL = HERE / "v1.0-Prod.csdl.gz"
OUT = HERE.parent / "src" / "schema" / "generated.tsv"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"

# The entity types graph-sim serves (and their bases, added below).
ROOTS = [
    "user",
    "directoryObject",
    "companySubscription",
    "subscribedSku",
    "directoryRole",
    "conditionalAccessPolicy",
    "identitySecurityDefaultsEnforcementPolicy",
    "application",
    "servicePrincipal",
    "domain",
    "organization",
]


def local(type_ref):
    """'Collection(graph.x)' -> ('x', True); 'Edm.String' -> ('Edm.String', False)."""
    coll = type_ref.startswith("Collection(")
    if coll:
        type_ref = type_ref[len("Collection(") : -1]
    for prefix in ("graph.", "microsoft.graph."):
        if type_ref.startswith(prefix) and "." not in type_ref[len(prefix) :]:
            return type_ref[len(prefix) :], coll
    return type_ref, coll


def load():
    root = ET.fromstring(gzip.decompress(CSDL.read_bytes()))
    types = {}
    for schema in root.iter(EDM + "Schema"):
        if schema.get("Namespace") != "microsoft.graph":
            continue
        for el in schema:
            tag = el.tag[len(EDM) :]
            if tag in ("EntityType", "ComplexType"):
                props = []
                for p in el.findall(EDM + "Property"):
                    t, coll = local(p.get("Type"))
                    props.append((p.get("Name"), t, coll, p.get("Nullable", "true") != "false"))
                navs = []
                for n in el.findall(EDM + "NavigationProperty"):
                    t, coll = local(n.get("Type"))
                    navs.append((n.get("Name"), t, coll))
                base = el.get("BaseType")
                types[el.get("Name")] = {
                    "navs": navs,
                    "kind": "entity" if tag == "EntityType" else "complex",
                    "base": local(base)[0] if base else None,
                    "open": el.get("OpenType") == "true",
                    "abstract": el.get("Abstract") == "true",
                    "props": props,
                }
            elif tag == "EnumType":
                types[el.get("Name")] = {
                    "kind": "enum",
                    "members": [m.get("Name") for m in el.findall(EDM + "Member")],
                }
    return types


def closure(types):
    want, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in want or name not in types:
            continue
        want.add(name)
        t = types[name]
        if t["kind"] == "enum":
            continue
        if t["base"]:
            todo.append(t["base"])
        for _, ty, _, _ in t["props"]:
            if not ty.startswith("Edm."):
                todo.append(ty)
    # Derived complex types can appear in a property typed with their base (polymorphism):
    # keep them too, so a PATCH naming one with @odata.type validates.
    grew = True
    while grew:
        grew = False
        for name, t in types.items():
            if name not in want and t["kind"] == "complex" and t["base"] in want:
                want.add(name)
                for _, ty, _, _ in t["props"]:
                    if not ty.startswith("Edm.") and ty not in want and ty in types:
                        todo.append(ty)
                grew = True
        while todo:
            name = todo.pop()
            if name in want or name not in types:
                continue
            want.add(name)
            t = types[name]
            if t["kind"] != "enum":
                if t["base"]:
                    todo.append(t["base"])
                todo.extend(ty for _, ty, _, _ in t["props"] if not ty.startswith("Edm."))
            grew = True
    return want


def render(types, want):
    lines = []
    for name in sorted(want):
        t = types[name]
        if t["kind"] == "enum":
            lines.append(f"type\tenum\t{name}\t-\t0\t0")
            lines.extend(f"member\t{name}\t{m}" for m in t["members"])
        else:
            lines.append(
                f"type\t{t['kind']}\t{name}\t{t['base'] or '-'}\t{int(t['open'])}\t{int(t['abstract'])}"
            )
            for pname, ty, coll, nullable in t["props"]:
                lines.append(f"prop\t{name}\t{pname}\t{ty}\t{int(coll)}\t{int(nullable)}")
            for nname, ty, coll in t["navs"]:
                lines.append(f"nav\t{name}\t{nname}\t{ty}\t{int(coll)}")
    header = (
        "# Generated by sim/schema/gen_schema.py from sim/schema/v1.0-Prod.csdl.gz "
        "(Microsoft Graph v1.0 $metadata, MIT). Do not edit; re-run the script.\n"
    )
    return header + "\n".join(lines) + "\n"


def main():
    types = load()
    missing = [r for r in ROOTS if r not in types]
    if missing:
        sys.exit(f"{CSDL}: entity types not found: {', '.join(missing)}")
    text = render(types, closure(types))
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is out of date: run python3 sim/schema/gen_schema.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
