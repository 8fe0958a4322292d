//! Request and response bodies poem-openapi has no type for: the token endpoint's form with
//! repeated keys, a JSON body that may be absent, checked field formats, and JSON answers
//! written without a `Value` per answer (or built once and shared).

pub mod direct_json;
pub mod fields;
pub mod oauth_form;
pub mod optional_json;
pub mod prebuilt_json;
