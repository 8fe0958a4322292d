//! A JSON answer serialised straight from its type by serde, documented with the type's schema.
//!
//! poem-openapi's `Json<T>` first converts `T` into a `serde_json::Value` (a map with a string
//! allocated for every key and value) and then writes that out. On the answers every verifier
//! asks for (`/me`, introspection) those allocations were a tenth of the request's cost. A type
//! answered this way derives both `Object` (its schema) and `Serialize` (its bytes), with the
//! same field names and the same fields skipped, which the schema conformance run
//! (`tests/schemathesis.sh`) and the tests reading these answers hold to.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use crate::http::bodies::prebuilt_json::CONTENT_TYPE;

pub struct DirectJson<T>(pub T);

impl<T: Type> Payload for DirectJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for DirectJson<T> {
    fn into_response(self) -> Response {
        // Room for a typical answer at once, rather than growing the buffer as it fills.
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder().content_type(CONTENT_TYPE).body(body),
            // Only a map with non-string keys or a failing `Serialize` impl can get here; none
            // of the types answered this way has either.
            Err(err) => {
                tracing::error!(error = %err, "could not serialise an answer");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
