//! The generated schema table (`sim/src/schema/generated.tsv`) matches the CSDL it was
//! generated from (`sim/schema/v1.0-Prod.csdl.gz`): this test re-reads the CSDL with its own
//! line scanner (independent of `gen_schema.py`) and compares every type in the table,
//! property by property, and checks that the table is closed (every base and property type it
//! names is in it) and holds every entity type graph-sim serves.
//! Regenerate with `python3 sim/schema/gen_schema.py`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

const SERVED: &[&str] = &[
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
];

#[derive(Debug, Default, PartialEq, Eq)]
struct Def {
    header: String,
    /// `prop` / `member` lines, in CSDL order.
    lines: Vec<String>,
}

fn attr(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

fn local(ty: &str) -> (String, bool) {
    let (inner, coll) = match ty
        .strip_prefix("Collection(")
        .and_then(|t| t.strip_suffix(')'))
    {
        Some(t) => (t, true),
        None => (ty, false),
    };
    for prefix in ["graph.", "microsoft.graph."] {
        if let Some(rest) = inner.strip_prefix(prefix) {
            if !rest.contains('.') {
                return (rest.to_string(), coll);
            }
        }
    }
    (inner.to_string(), coll)
}

/// Every entity, complex and enum type of the `microsoft.graph` namespace, rendered in the
/// table's line format.
fn from_csdl() -> BTreeMap<String, Def> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/v1.0-Prod.csdl.gz");
    let file = std::fs::File::open(path).expect("the CSDL copy is in sim/schema/");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gzip");
    let mut out = BTreeMap::new();
    let mut in_graph = false;
    let mut current: Option<(String, Def)> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("<Schema ") {
            in_graph = attr(line, "Namespace").as_deref() == Some("microsoft.graph");
            continue;
        }
        if !in_graph {
            continue;
        }
        let opens = ["<EntityType ", "<ComplexType ", "<EnumType "]
            .iter()
            .position(|t| line.starts_with(t));
        if let Some(kind) = opens {
            let name = attr(line, "Name").unwrap();
            let base = attr(line, "BaseType").map_or("-".to_string(), |b| local(&b).0);
            let flag = |a: &str| {
                if attr(line, a).as_deref() == Some("true") {
                    1
                } else {
                    0
                }
            };
            let header = match kind {
                2 => format!("type\tenum\t{name}\t-\t0\t0"),
                k => format!(
                    "type\t{}\t{name}\t{base}\t{}\t{}",
                    if k == 0 { "entity" } else { "complex" },
                    flag("OpenType"),
                    flag("Abstract")
                ),
            };
            let def = Def {
                header,
                lines: Vec::new(),
            };
            if line.ends_with("/>") {
                out.insert(name, def);
            } else {
                current = Some((name, def));
            }
            continue;
        }
        if let Some((name, def)) = &mut current {
            if line.starts_with("<Property ") {
                let (ty, coll) = local(&attr(line, "Type").unwrap());
                let nullable = attr(line, "Nullable").as_deref() != Some("false");
                def.lines.push(format!(
                    "prop\t{name}\t{}\t{ty}\t{}\t{}",
                    attr(line, "Name").unwrap(),
                    u8::from(coll),
                    u8::from(nullable)
                ));
            } else if line.starts_with("<NavigationProperty ") {
                let (ty, coll) = local(&attr(line, "Type").unwrap());
                def.lines.push(format!(
                    "nav\t{name}\t{}\t{ty}\t{}",
                    attr(line, "Name").unwrap(),
                    u8::from(coll)
                ));
            } else if line.starts_with("<Member ") {
                def.lines
                    .push(format!("member\t{name}\t{}", attr(line, "Name").unwrap()));
            } else if ["</EntityType>", "</ComplexType>", "</EnumType>"].contains(&line) {
                let (name, def) = current.take().unwrap();
                out.insert(name, def);
            }
        }
    }
    out
}

fn from_table() -> BTreeMap<String, Def> {
    let mut out: BTreeMap<String, Def> = BTreeMap::new();
    let mut last = String::new();
    for line in graph_sim::schema::GENERATED
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "type" {
            last = f[2].to_string();
            out.insert(
                last.clone(),
                Def {
                    header: line.to_string(),
                    lines: Vec::new(),
                },
            );
        } else {
            assert_eq!(f[1], last, "a {} line outside its type: {line}", f[0]);
            out.get_mut(&last).unwrap().lines.push(line.to_string());
        }
    }
    out
}

#[test]
fn generated_table_matches_the_csdl() {
    let csdl = from_csdl();
    let table = from_table();
    assert!(
        csdl.len() > 1000,
        "the scanner read the CSDL ({} types)",
        csdl.len()
    );
    for served in SERVED {
        assert!(table.contains_key(*served), "{served} is in the table");
    }
    for (name, def) in &table {
        let expected = csdl
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the CSDL"));
        assert_eq!(def, expected, "{name} differs from the CSDL");
    }
    // Closed: every base type and property type the table names is in it.
    let mut missing = BTreeSet::new();
    for def in table.values() {
        let f: Vec<&str> = def.header.split('\t').collect();
        if f[3] != "-" && !table.contains_key(f[3]) {
            missing.insert(f[3].to_string());
        }
        for l in &def.lines {
            let f: Vec<&str> = l.split('\t').collect();
            if f[0] == "prop" && !f[3].starts_with("Edm.") && !table.contains_key(f[3]) {
                missing.insert(f[3].to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "types the table uses but lacks: {missing:?}"
    );
}

/// Every object of the example tenants and of a generated one, checked property by property
/// against the schema: what graph-sim serves carries the CSDL's names and JSON types.
#[test]
fn example_and_generated_tenants_fit_the_schema() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tenants");
    let mut snapshots: Vec<(String, graph_sim::Snapshot)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.display().to_string(),
                graph_sim::load_snapshot(&p).unwrap(),
            )
        })
        .collect();
    snapshots.push((
        "generated".into(),
        graph_sim::generate::generate(&graph_sim::generate::GenerateOptions {
            users: 60,
            guests: 5,
            seed: 9,
        }),
    ));
    let mut problems = Vec::new();
    let mut values = 0usize;
    for (name, s) in &snapshots {
        let mut check = |ty: &str, o: &serde_json::Map<String, serde_json::Value>| {
            values += o.len();
            for p in graph_sim::schema::check_object(ty, o) {
                problems.push(format!(
                    "{name}: {ty} {}: {p}",
                    o.get("id").and_then(|v| v.as_str()).unwrap_or("?")
                ));
            }
        };
        check("organization", &s.organization);
        s.users.iter().for_each(|o| check("user", o));
        s.deleted_users.iter().for_each(|o| check("user", o));
        s.directory_roles
            .iter()
            .for_each(|r| check("directoryRole", &r.object));
        s.subscriptions
            .iter()
            .for_each(|o| check("companySubscription", o));
        s.subscribed_skus
            .iter()
            .for_each(|o| check("subscribedSku", o));
        s.conditional_access_policies
            .iter()
            .for_each(|o| check("conditionalAccessPolicy", o));
        if let Some(sd) = &s.security_defaults {
            check("identitySecurityDefaultsEnforcementPolicy", sd);
        }
        s.applications.iter().for_each(|o| check("application", o));
        s.deleted_applications
            .iter()
            .for_each(|o| check("application", o));
        s.service_principals
            .iter()
            .for_each(|o| check("servicePrincipal", o));
        s.domains.iter().for_each(|o| check("domain", o));
    }
    assert!(values > 1000, "{values} values checked");
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
