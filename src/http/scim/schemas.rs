//! The SCIM discovery documents (RFC 7643 §5–7, RFC 7644 §4): what authd's `/scim/v2` serves.
//! Only the attributes authd stores and returns unchanged are published: a provisioning client
//! (and scim2-tester) fills in what the schemas list and expects it back as sent.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The largest page a list answers (`count` above it is lowered to it, RFC 7644 §3.4.2.4).
pub const MAX_RESULTS: u32 = 200;

fn attribute(name: &str, kind: &str, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": if mutability == "writeOnly" { "never" } else { "default" },
        "uniqueness": uniqueness,
    })
}

pub fn user_schema() -> Value {
    // Required: an authd account has an address.
    let mut emails = attribute("emails", "complex", true, "readWrite", "none");
    emails["multiValued"] = json!(true);
    emails["description"] =
        json!("The user's address: authd keeps one (the primary, or the first).");
    // Only `value`: authd keeps one address and no kind or flag beside it, so it publishes
    // none (a `type` or `primary` sent is read, and not returned).
    emails["subAttributes"] = json!([attribute("value", "string", true, "readWrite", "server")]);
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "An authd account",
        "attributes": [
            attribute("userName", "string", true, "readWrite", "server"),
            attribute("displayName", "string", false, "readWrite", "none"),
            // Required: an authd account is always either enabled or disabled.
            attribute("active", "boolean", true, "readWrite", "none"),
            emails,
            attribute("password", "string", false, "writeOnly", "none"),
        ],
        "meta": { "resourceType": "Schema", "location": format!("/Schemas/{USER_SCHEMA}") },
    })
}

pub fn group_schema() -> Value {
    let mut members = attribute("members", "complex", false, "readWrite", "none");
    members["multiValued"] = json!(true);
    let mut kind = attribute("type", "string", false, "immutable", "none");
    kind["canonicalValues"] = json!(["User"]);
    let mut reference = attribute("$ref", "reference", false, "immutable", "none");
    reference["referenceTypes"] = json!(["User"]);
    members["subAttributes"] = json!([
        attribute("value", "string", false, "immutable", "none"),
        reference,
        kind,
    ]);
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A group of authd accounts (the `groups` claim)",
        "attributes": [
            attribute("displayName", "string", true, "readWrite", "server"),
            members,
        ],
        "meta": { "resourceType": "Schema", "location": format!("/Schemas/{GROUP_SCHEMA}") },
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    [
        ("User", "/Users", USER_SCHEMA),
        ("Group", "/Groups", GROUP_SCHEMA),
    ]
    .into_iter()
    .map(|(name, endpoint, schema)| {
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": name,
            "name": name,
            "endpoint": endpoint,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{name}"),
            },
        })
    })
    .collect()
}

pub fn service_provider_config(base: &str, documentation: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": documentation,
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": true },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An access token from authd with scope authd:admin (authd:admin:read to read)",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}
