//! Required request fields that name themselves when missing or mistyped.
//!
//! poem-openapi reports a missing field as `Expected input type "string", found null` without
//! saying which field; a client deserves to be told. Use as
//! `#[oai(deserialize_with = "fields::email")]`.

use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult};
use serde_json::Value;

fn require<T: ParseFromJSON>(value: Option<Value>, field: &str) -> ParseResult<T> {
    match value {
        None | Some(Value::Null) => Err(ParseError::custom(format!("missing field `{field}`"))),
        value => T::parse_from_json(value)
            .map_err(|err| ParseError::custom(format!("field `{field}`: {}", err.into_message()))),
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
