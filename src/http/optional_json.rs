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
    error::ContentTypeError,
    payload::{Json, ParsePayload, Payload},
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
            // A declared type with no body (`curl -H 'Content-Type: …' -u user:pw`): left out.
            Some(_) if !has_body(request) => Ok(Self(None)),
            // A body that is there must be the object: `null` is not one (the schema says so).
            Some(content_type) if <Json<T> as Payload>::check_content_type(content_type) => {
                let Json(value) = <Json<T> as ParsePayload>::from_request(request, body).await?;
                Ok(Self(Some(value)))
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

fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}
