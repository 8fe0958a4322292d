//! A JSON body serialised once and shared by many answers, documented with its type's schema.
//!
//! poem-openapi's `Json<T>` converts `T` to a `serde_json::Value` and then to bytes on every
//! answer; for a document that changes rarely and is fetched often (the JWKS), the bytes are
//! built once and each answer only takes a reference to them.

use std::{marker::PhantomData, sync::RwLock};

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use time::OffsetDateTime;

use crate::keys::{JsonWebKeySet, KeyRing};

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

/// What every JSON answer of authd's own payload types is labelled (as poem-openapi's `Json`).
pub(super) const CONTENT_TYPE: &str = "application/json; charset=utf-8";

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

/// A document made from the key ring's published keys (the JWKS, the metadata's algorithms):
/// built once and served until the ring reloads or one of its keys retires, as fetching it is a
/// hot path for every verifier.
pub struct RingDocument<T> {
    built: RwLock<Option<Built<T>>>,
}

struct Built<T> {
    generation: u64,
    unchanged_until: Option<OffsetDateTime>,
    body: PrebuiltJson<T>,
}

impl<T> Default for RingDocument<T> {
    fn default() -> Self {
        Self {
            built: RwLock::default(),
        }
    }
}

impl<T: ToJSON> RingDocument<T> {
    /// The document for the ring as it is at `now`, built by `build` from the published keys
    /// when the one held is stale.
    pub fn get(
        &self,
        ring: &KeyRing,
        now: OffsetDateTime,
        build: impl FnOnce(&JsonWebKeySet) -> T,
    ) -> PrebuiltJson<T> {
        let generation = ring.generation();
        // A poisoned lock only means a writer panicked while replacing a whole document.
        if let Some(built) = self
            .built
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|built| {
                built.generation == generation
                    && built.unchanged_until.is_none_or(|until| now < until)
            })
        {
            return built.body.clone();
        }
        let keys = ring.jwks(now);
        let body = PrebuiltJson::new(&build(&keys));
        *self
            .built
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Built {
            generation,
            unchanged_until: keys.unchanged_until,
            body: body.clone(),
        });
        body
    }
}
