//! SCIM PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` on a resource's attributes, by
//! name or with no path (a value holding attributes). Applied to the resource as it stands, and
//! the result written as a PUT would write it, so one set of rules checks both.

use poem::http::StatusCode;
use serde_json::Value;

use super::{Refusal, failure, field, schemas};

/// The attributes a PATCH may touch, as the schema spells them, and whether each is
/// multi-valued.
pub type Attributes = &'static [(&'static str, bool)];

/// Applies the operations of `request` to `resource`; the names of the attributes touched.
pub fn apply(
    resource: &mut Value,
    request: &Value,
    attributes: Attributes,
) -> Result<Vec<&'static str>, Refusal> {
    let schemas_ok = request["schemas"]
        .as_array()
        .is_some_and(|list| list.iter().any(|schema| schema == schemas::PATCH_OP));
    if !schemas_ok {
        return Err(invalid(
            "invalidSyntax",
            "schemas must hold the PatchOp message's URN",
        ));
    }
    let operations = field(request, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("invalidSyntax", "Operations must be a list"))?;
    let Value::Object(fields) = resource else {
        return Err(invalid("invalidSyntax", "the resource is not an object"));
    };
    let mut touched = Vec::new();
    for operation in operations {
        let op = field(operation, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| invalid("invalidSyntax", "each operation needs an op"))?;
        let value = field(operation, "value").cloned();
        let path = field(operation, "path").and_then(Value::as_str);
        // `members[value eq "…"]`: how Entra ID and Okta remove one member.
        if let Some((name, selected)) = path.and_then(value_filter) {
            if op != "remove" {
                return Err(invalid(
                    "invalidPath",
                    "a value filter in a path is supported for remove only",
                ));
            }
            let (name, _) = attribute(name, attributes)?;
            let selected = super::filter::parse(selected)
                .map_err(|err| invalid("invalidFilter", &err.to_string()))?;
            if let Some(Value::Array(items)) = fields.get_mut(name) {
                items.retain(|item| !super::meets(&selected, item));
            }
            touched.push(name);
            continue;
        }
        let targets: Vec<(&'static str, bool, Option<Value>)> = match path {
            Some(path) => {
                let (name, multi) = attribute(path, attributes)?;
                vec![(name, multi, value)]
            }
            None => {
                let Some(Value::Object(values)) = value else {
                    return Err(invalid(
                        "invalidValue",
                        "an operation without a path needs an object of attributes as its value",
                    ));
                };
                values
                    .into_iter()
                    .filter(|(key, _)| !key.eq_ignore_ascii_case("schemas"))
                    .map(|(key, value)| {
                        attribute(&key, attributes).map(|(name, multi)| (name, multi, Some(value)))
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        for (name, multi, value) in targets {
            touched.push(name);
            match (op.as_str(), value) {
                ("remove", _) => {
                    fields.remove(name);
                }
                ("add", Some(value)) if multi => {
                    let mut items = match fields.remove(name) {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    let added = match value {
                        Value::Array(values) => values,
                        one => vec![one],
                    };
                    for item in added {
                        if !items
                            .iter()
                            .any(|existing| existing["value"] == item["value"])
                        {
                            items.push(item);
                        }
                    }
                    fields.insert(name.to_owned(), Value::Array(items));
                }
                ("add" | "replace", Some(value)) => {
                    fields.insert(name.to_owned(), value);
                }
                ("add" | "replace", None) => {
                    return Err(invalid("invalidValue", "add and replace need a value"));
                }
                (other, _) => {
                    return Err(invalid(
                        "invalidSyntax",
                        &format!("`{other}` is not an operation (add, replace, remove)"),
                    ));
                }
            }
        }
    }
    Ok(touched)
}

/// `name[filter]`, split; `None` for a path without a value filter.
fn value_filter(path: &str) -> Option<(&str, &str)> {
    let (name, rest) = path.split_once('[')?;
    let selected = rest.strip_suffix(']')?;
    Some((name, selected))
}

/// The attribute a path names (its schema URN prefix allowed), or `invalidPath`.
fn attribute(path: &str, attributes: Attributes) -> Result<(&'static str, bool), Refusal> {
    if path.contains('[') {
        return Err(invalid(
            "invalidPath",
            "value filters in paths are not supported: name the attribute",
        ));
    }
    let name = path.rsplit_once(':').map_or(path, |(_, last)| last);
    attributes
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            invalid(
                "invalidPath",
                &format!("`{path}` is not an attribute that can change"),
            )
        })
}

fn invalid(scim_type: &'static str, detail: &str) -> Refusal {
    failure(StatusCode::BAD_REQUEST, Some(scim_type), detail)
}
