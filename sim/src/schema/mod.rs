//! Graph's v1.0 schema as graph-sim uses it: the generated table of entity, complex and enum
//! types (`generated.tsv`, generated from the CSDL by `sim/schema/gen_schema.py`) and the
//! hand-kept facts the CSDL does not state (`hand.rs`). Owns property lookup, value type checks
//! and the refusals Graph answers for unknown properties or mistyped values; knows nothing
//! about routes or the store.
//!
//! CSDL: <https://graph.microsoft.com/v1.0/$metadata> (copy in `sim/schema/`, MIT).

pub(crate) mod hand;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::GraphError;

/// The generated table (see `sim/schema/gen_schema.py` for its format).
pub const GENERATED: &str = include_str!("generated.tsv");

/// One structural property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    /// Name as the CSDL spells it.
    pub name: String,
    /// `Edm.*` or a complex/enum type name (without namespace).
    pub ty: String,
    /// `Collection(...)`.
    pub collection: bool,
    /// `Nullable` (default true).
    pub nullable: bool,
}

/// What kind of type a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Entity,
    Complex,
    Enum,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeDef {
    pub kind: Kind,
    pub base: Option<String>,
    pub open: bool,
    /// Own properties (base types' are looked up through `base`).
    pub props: Vec<Property>,
    /// Own navigation property names.
    pub navs: Vec<String>,
    /// Enum members.
    pub members: Vec<String>,
}

/// The schema: types by name.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    types: HashMap<String, TypeDef>,
}

fn flag(s: Option<&str>) -> bool {
    s == Some("1")
}

impl Schema {
    /// Parses the table format `gen_schema.py` writes.
    pub(crate) fn parse(text: &str) -> Schema {
        let mut types: HashMap<String, TypeDef> = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["type", kind, name, base, open, _abstract] => {
                    let kind = match *kind {
                        "entity" => Kind::Entity,
                        "complex" => Kind::Complex,
                        _ => Kind::Enum,
                    };
                    types.insert(
                        (*name).to_string(),
                        TypeDef {
                            kind,
                            base: (*base != "-").then(|| (*base).to_string()),
                            open: flag(Some(open)),
                            props: Vec::new(),
                            navs: Vec::new(),
                            members: Vec::new(),
                        },
                    );
                }
                ["prop", owner, name, ty, coll, nullable] => {
                    if let Some(t) = types.get_mut(*owner) {
                        t.props.push(Property {
                            name: (*name).to_string(),
                            ty: (*ty).to_string(),
                            collection: flag(Some(coll)),
                            nullable: flag(Some(nullable)),
                        });
                    }
                }
                ["nav", owner, name, _ty, _coll] => {
                    if let Some(t) = types.get_mut(*owner) {
                        t.navs.push((*name).to_string());
                    }
                }
                ["member", owner, name] => {
                    if let Some(t) = types.get_mut(*owner) {
                        t.members.push((*name).to_string());
                    }
                }
                _ => {}
            }
        }
        Schema { types }
    }

    /// The schema graph-sim serves: the generated table plus the hand-kept beta types.
    pub(crate) fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            let mut s = Schema::parse(GENERATED);
            s.types.extend(Schema::parse(hand::BETA_TYPES).types);
            s
        })
    }

    pub(crate) fn ty(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Every structural property of `ty`, base types' first (as Graph serialises them).
    pub(crate) fn properties(&self, ty: &str) -> Vec<&Property> {
        let mut chain = Vec::new();
        let mut cur = self.types.get(ty);
        while let Some(t) = cur {
            chain.push(t);
            cur = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        chain.iter().rev().flat_map(|t| t.props.iter()).collect()
    }

    /// The property `name` of `ty` (Graph matches names case-insensitively), else `None`.
    pub(crate) fn property(&self, ty: &str, name: &str) -> Option<&Property> {
        self.properties(ty)
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Whether `name` is a navigation property of `ty` (or a base).
    pub(crate) fn is_navigation(&self, ty: &str, name: &str) -> bool {
        let mut cur = self.types.get(ty);
        while let Some(t) = cur {
            if t.navs.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return true;
            }
            cur = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        false
    }

    /// Whether `ty` (or a base) is an OpenType.
    pub(crate) fn is_open(&self, ty: &str) -> bool {
        let mut cur = self.types.get(ty);
        while let Some(t) = cur {
            if t.open {
                return true;
            }
            cur = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        false
    }

    /// Whether `name` is a dynamic property `ty` accepts: directory extension attributes
    /// `extension_{appId without dashes}_{name}` on open directory types
    /// (<https://learn.microsoft.com/graph/extensibility-overview>, "Directory (Microsoft
    /// Entra ID) extensions").
    pub(crate) fn is_extension(&self, ty: &str, name: &str) -> bool {
        self.is_open(ty) && hand::is_extension_attribute(name)
    }

    /// Resolves a property name for `$select`, `$filter`, `$orderby` or a body: the CSDL's
    /// spelling, or the extension attribute as given; else 400 `Request_BadRequest`
    /// "Could not find a property named '{name}' on type 'microsoft.graph.{ty}'." (OData's
    /// wording, which Graph answers for an unknown property).
    pub(crate) fn resolve(&self, ty: &str, name: &str) -> Result<String, GraphError> {
        if let Some(p) = self.property(ty, name) {
            return Ok(p.name.clone());
        }
        if self.is_extension(ty, name) {
            return Ok(name.to_string());
        }
        Err(unknown_property(ty, name))
    }

    /// Checks a JSON value against a property's declared type. `Err` carries a short reason.
    pub(crate) fn check_value(&self, p: &Property, v: &Value) -> Result<(), String> {
        if v.is_null() {
            return if p.nullable || p.collection {
                // A null collection is refused below only when the CSDL says Nullable=false.
                if p.collection && !p.nullable {
                    Err("a collection cannot be null".into())
                } else {
                    Ok(())
                }
            } else {
                Err("the property is not nullable".into())
            };
        }
        if p.collection {
            let Value::Array(items) = v else {
                return Err(format!("expected a JSON array of {}", p.ty));
            };
            for item in items {
                if item.is_null() {
                    return Err("a collection item cannot be null".into());
                }
                self.check_single(&p.ty, item)?;
            }
            return Ok(());
        }
        self.check_single(&p.ty, v)
    }

    fn check_single(&self, ty: &str, v: &Value) -> Result<(), String> {
        let ok = match ty {
            "Edm.String" | "Edm.Binary" | "Edm.Duration" => v.is_string(),
            "Edm.Boolean" => v.is_boolean(),
            "Edm.Int32" | "Edm.Int64" | "Edm.Int16" | "Edm.Byte" => v.is_i64() || v.is_u64(),
            "Edm.Double" | "Edm.Single" | "Edm.Decimal" => v.is_number(),
            "Edm.Guid" => v.as_str().is_some_and(is_guid),
            "Edm.DateTimeOffset" => v.as_str().is_some_and(is_date_time),
            "Edm.Date" => v.as_str().is_some_and(|s| s.len() == 10 && is_date(s)),
            "Edm.TimeOfDay" | "Edm.Stream" => v.is_string(),
            other => match self.types.get(other) {
                Some(t) if t.kind == Kind::Enum => {
                    // Flags enums may be sent comma-separated.
                    return match v.as_str() {
                        Some(s)
                            if s.split(',').all(|m| {
                                t.members.iter().any(|x| x.eq_ignore_ascii_case(m.trim()))
                            }) =>
                        {
                            Ok(())
                        }
                        _ => Err(format!("expected one of the members of enum {other}")),
                    };
                }
                Some(_) => {
                    let Value::Object(m) = v else {
                        return Err(format!("expected a JSON object of type {other}"));
                    };
                    let actual = m
                        .get("@odata.type")
                        .and_then(Value::as_str)
                        .map(|t| {
                            t.trim_start_matches('#')
                                .trim_start_matches("microsoft.graph.")
                        })
                        .unwrap_or(other);
                    for (k, item) in m {
                        // Instance and property annotations (`@odata.type`,
                        // `name@odata.context`) are OData's, not properties.
                        if k.contains('@') {
                            continue;
                        }
                        if self.is_navigation(actual, k) {
                            continue; // contained navigation served inline: not checked
                        }
                        let p = self
                            .property(actual, k)
                            .ok_or_else(|| format!("{actual} has no property '{k}'"))?;
                        self.check_value(p, item).map_err(|e| format!("{k}: {e}"))?;
                    }
                    return Ok(());
                }
                // A type outside the table (another namespace): not checked.
                None => true,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(format!("expected {ty}"))
        }
    }
}

/// Every way object `o` departs from entity type `ty`: properties the type lacks (extension
/// attributes of open types allowed) and values whose JSON type is not the declared one, as
/// `"property: why"` lines. Empty = every value is served with the CSDL's name and type.
pub fn check_object(ty: &str, o: &serde_json::Map<String, Value>) -> Vec<String> {
    let s = Schema::get();
    let mut out = Vec::new();
    for (k, v) in o {
        if k.contains('@') {
            continue;
        }
        match s.property(ty, k) {
            Some(p) if p.name == *k => {
                if let Err(why) = s.check_value(p, v) {
                    out.push(format!("{k}: {why}"));
                }
            }
            Some(p) => out.push(format!("{k}: spelled {} in the CSDL", p.name)),
            None if s.is_extension(ty, k) => {}
            None => out.push(format!("{k}: not a property of {ty}")),
        }
    }
    out
}

/// 400 `Request_BadRequest` for a property `ty` does not have.
pub(crate) fn unknown_property(ty: &str, name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Could not find a property named '{name}' on type 'microsoft.graph.{ty}'."
    ))
}

/// `8-4-4-4-12` hex digits.
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// `YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm)`, as Edm.DateTimeOffset literals are written.
pub(crate) fn is_date_time(s: &str) -> bool {
    s.len() >= 16
        && is_date(s)
        && matches!(s.as_bytes()[10], b'T' | b't')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_come_with_base_types_and_types_are_checked() {
        let s = Schema::get();
        assert_eq!(
            s.resolve("user", "USERPRINCIPALNAME").unwrap(),
            "userPrincipalName"
        );
        assert_eq!(
            s.resolve("user", "deletedDateTime").unwrap(),
            "deletedDateTime"
        );
        assert_eq!(s.resolve("user", "id").unwrap(), "id");
        let e = s.resolve("user", "userTyp").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "Request_BadRequest"));
        assert_eq!(
            e.message,
            "Could not find a property named 'userTyp' on type 'microsoft.graph.user'."
        );
        assert!(s
            .resolve(
                "user",
                "extension_0123456789abcdef0123456789abcdef_costCenter"
            )
            .is_ok());
        assert!(s
            .resolve("domain", "extension_0123456789abcdef0123456789abcdef_x")
            .is_err());
        let p = |n: &str| s.property("user", n).unwrap().clone();
        assert!(s
            .check_value(&p("accountEnabled"), &Value::Bool(false))
            .is_ok());
        assert!(s
            .check_value(&p("accountEnabled"), &Value::from("false"))
            .is_err());
        assert!(s
            .check_value(&p("businessPhones"), &serde_json::json!(["1"]))
            .is_ok());
        assert!(s
            .check_value(&p("businessPhones"), &Value::from("1"))
            .is_err());
        assert!(s.check_value(&p("businessPhones"), &Value::Null).is_err());
        let lic = serde_json::json!([{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "disabledPlans": []}]);
        assert!(s.check_value(&p("assignedLicenses"), &lic).is_ok());
        let bad = serde_json::json!([{"skuId": "not-a-guid", "disabledPlans": []}]);
        assert!(s.check_value(&p("assignedLicenses"), &bad).is_err());
        let ca = s
            .property("conditionalAccessPolicy", "state")
            .unwrap()
            .clone();
        assert!(s.check_value(&ca, &Value::from("disabled")).is_ok());
        assert!(s.check_value(&ca, &Value::from("off")).is_err());
    }
}
