//! Request string fields that name themselves when missing or mistyped, and take only strings.
//!
//! poem-openapi reports a missing field as `Expected input type "string", found null` without
//! saying which field; a client deserves to be told. Use as
//! `#[oai(deserialize_with = "fields::email")]`.

use poem_openapi::types::{ParseError, ParseResult};
use serde_json::Value;

/// A JSON string, and nothing else: poem-openapi's own `String` parsing also takes `5` or
/// `false` as `"5"` or `"false"`, which the schema (type string) does not allow.
fn string(value: Value, field: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        other => {
            let found = match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
                Value::Null | Value::String(_) => "null",
            };
            Err(format!("field `{field}`: expected a string, found {found}"))
        }
    }
}

fn require(value: Option<Value>, field: &str) -> ParseResult<String> {
    match value {
        None | Some(Value::Null) => Err(ParseError::custom(format!("missing field `{field}`"))),
        Some(value) => string(value, field).map_err(ParseError::custom),
    }
}

macro_rules! required_string_fields {
    ($($field:ident),* $(,)?) => {$(
        pub fn $field(value: Option<Value>) -> ParseResult<String> {
            require(value, stringify!($field))
        }
    )*};
}

required_string_fields!(username, email, password, public_key, jwt, signed_message);

/// An optional field: left out, it is `None`; `null` is refused, as the schema (a string, not
/// nullable) says, rather than quietly read as left out.
fn optional(value: Option<Value>, field: &str) -> ParseResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Err(ParseError::custom(format!(
            "field `{field}`: must be a string when present; leave it out rather than send null"
        ))),
        Some(value) => string(value, field).map(Some).map_err(ParseError::custom),
    }
}

macro_rules! optional_string_fields {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        pub fn $name(value: Option<Value>) -> ParseResult<Option<String>> {
            optional(value, $field)
        }
    )*};
}

optional_string_fields!(
    optional_password => "password",
    optional_public_key => "public_key",
    optional_display_name => "display_name",
    optional_phone => "phone",
    optional_refresh_token => "refresh_token",
);
