//! The token endpoint's form body: `application/x-www-form-urlencoded` like poem-openapi's
//! `Form`, and documented the same way, but read with serde_html_form, which takes a repeated
//! key into a list. RFC 8707 §2 and RFC 8693 §2.1 repeat `resource` and `audience` to name
//! several targets; serde_urlencoded refuses any repeated key.

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::{
    error::ParseRequestPayloadError,
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

pub struct OAuthForm<T>(pub T);

impl<T: Type> Payload for OAuthForm<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        <poem_openapi::payload::Form<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned> ParsePayload for OAuthForm<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> Result<Self> {
        let data = Vec::<u8>::from_request(req, body).await?;
        serde_html_form::from_bytes(&data).map(Self).map_err(|err| {
            ParseRequestPayloadError {
                reason: err.to_string(),
            }
            .into()
        })
    }
}

impl_apirequest_for_payload!(OAuthForm<T>, T: DeserializeOwned + Type);
