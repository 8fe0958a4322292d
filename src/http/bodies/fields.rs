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

required_string_fields!(
    username,
    email,
    password,
    public_key,
    jwt,
    signed_message,
    name,
    url,
    client_name,
    stream_id,
    method,
    status,
    err,
);

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
    optional_username => "username",
    optional_email => "email",
    optional_client_id => "client_id",
    optional_scope => "scope",
    optional_description => "description",
    optional_token_endpoint_auth_method => "token_endpoint_auth_method",
    optional_pkce_policy => "pkce_policy",
    optional_application_type => "application_type",
    optional_backchannel_logout_uri => "backchannel_logout_uri",
    optional_frontchannel_logout_uri => "frontchannel_logout_uri",
    optional_endpoint_url => "endpoint_url",
    optional_authorization_header => "authorization_header",
    optional_state => "state",
    optional_reason => "reason",
    optional_iss => "iss",
);

/// An optional list of strings: left out, `None`; anything but an array of strings is refused.
fn optional_list(value: Option<Value>, field: &str) -> ParseResult<Option<Vec<String>>> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| string(item, field))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(ParseError::custom),
        Some(_) => Err(ParseError::custom(format!(
            "field `{field}`: expected an array of strings"
        ))),
    }
}

macro_rules! optional_string_lists {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        pub fn $name(value: Option<Value>) -> ParseResult<Option<Vec<String>>> {
            optional_list(value, $field)
        }
    )*};
}

optional_string_lists!(
    redirect_uris => "redirect_uris",
    grant_types => "grant_types",
    post_logout_redirect_uris => "post_logout_redirect_uris",
    allowed_cors_origins => "allowed_cors_origins",
    event_types => "event_types",
    events_requested => "events_requested",
    events_supported => "events_supported",
    events_delivered => "events_delivered",
    ack => "ack",
);

/// A whole number from `min` to `max`, or left out. `null` is refused, as the schema (an
/// integer, not nullable) says, rather than read as left out.
fn optional_count(
    value: Option<Value>,
    field: &str,
    min: u64,
    max: u64,
) -> ParseResult<Option<u32>> {
    match value {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ParseError::custom(format!("field `{field}`: must be {min} to {max}"))),
        Some(_) => Err(ParseError::custom(format!(
            "field `{field}`: expected a whole number"
        ))),
    }
}

/// `previous_valid_for`: seconds, at most 30 days.
pub fn previous_valid_for(value: Option<Value>) -> ParseResult<Option<u32>> {
    optional_count(value, "previous_valid_for", 0, 30 * 24 * 3600)
}

/// `rate_limit`: requests per second.
pub fn rate_limit(value: Option<Value>) -> ParseResult<Option<u32>> {
    optional_count(value, "rate_limit", 1, 1_000_000)
}

/// `maxEvents` of an RFC 8936 poll: 0 (only acknowledge) or more.
pub fn max_events(value: Option<Value>) -> ParseResult<Option<u32>> {
    optional_count(value, "maxEvents", 0, 1_000_000)
}

/// An optional flag: left out, `None`; `null` or anything but `true`/`false` is refused, as
/// the schema (a boolean, not nullable) says.
fn optional_flag(value: Option<Value>, field: &str) -> ParseResult<Option<bool>> {
    match value {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(flag)),
        Some(_) => Err(ParseError::custom(format!(
            "field `{field}`: expected true or false"
        ))),
    }
}

macro_rules! optional_flags {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        pub fn $name(value: Option<Value>) -> ParseResult<Option<bool>> {
            optional_flag(value, $field)
        }
    )*};
}

optional_flags!(
    now => "now",
    enabled => "enabled",
    disabled => "disabled",
    verified => "verified",
    email_verified => "email_verified",
    require_pushed_authorization_requests => "require_pushed_authorization_requests",
    backchannel_logout_session_required => "backchannel_logout_session_required",
    frontchannel_logout_session_required => "frontchannel_logout_session_required",
    return_immediately => "returnImmediately",
);
