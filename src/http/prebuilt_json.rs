//! A JSON body serialised once and shared by many answers, documented with its type's schema.
//!
//! poem-openapi's `Json<T>` converts `T` to a `serde_json::Value` and then to bytes on every
//! answer; for a document that changes rarely and is fetched often (the JWKS), the bytes are
//! built once and each answer only takes a reference to them.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

pub struct PrebuiltJson<T> {
    body: Bytes,
    /// `fn() -> T`: the body is `T`'s JSON, but no `T` is held (and `Send` does not depend on it).
    document: PhantomData<fn() -> T>,
}

impl<T: ToJSON> PrebuiltJson<T> {
    pub fn new(value: &T) -> Self {
        Self {
            body: Bytes::from(value.to_json_string()),
            document: PhantomData,
        }
    }
}

impl<T> Clone for PrebuiltJson<T> {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            document: PhantomData,
        }
    }
}

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: Type> Payload for PrebuiltJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T> IntoResponse for PrebuiltJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(CONTENT_TYPE)
            .body(self.body)
    }
}
