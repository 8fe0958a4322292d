//! `OptionalJson<T>`: a JSON body that a client may leave out entirely.
//!
//! poem-openapi's `Json<Option<T>>` still demands a `Content-Type`, which a client sending only
//! HTTP Basic (`curl -u user:pw -X POST`) has no reason to set.

use poem::{
    Request, RequestBody, Result,
    http::header::{CONTENT_LENGTH, TRANSFER_ENCODING},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::{ContentTypeError, ParseRequestPayloadError},
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaRequest, Registry},
    types::{ParseFromJSON, ToJSON},
};

pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON + ToJSON> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Json<T> as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<T> as Payload>::CONTENT_TYPE,
                schema: <Json<T> as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> Result<Self> {
        match request.content_type() {
            Some(content_type) if <Json<T> as Payload>::check_content_type(content_type) => {
                // Read, not judged by headers: an HTTP/2 body need not declare its length.
                let bytes = body.take()?.into_bytes().await?;
                if bytes.is_empty() {
                    return Ok(Self(None)); // `curl -H 'Content-Type: …' -u user:pw`: left out
                }
                let invalid = |reason: String| ParseRequestPayloadError { reason };
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|err| invalid(err.to_string()))?;
                // A body that is there must be the object: `null` is not one (the schema says so).
                let parsed =
                    T::parse_from_json(Some(value)).map_err(|err| invalid(err.into_message()))?;
                Ok(Self(Some(parsed)))
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into()),
            None if has_body(request) => Err(ContentTypeError::ExpectContentType.into()),
            None => Ok(Self(None)),
        }
    }
}

/// Whether the request carries a body, by its headers.
pub(crate) fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}
