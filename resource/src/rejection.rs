//! Why a request was refused, and the HTTP answer that says so (RFC 6750 §3, RFC 9449 §7.1).

use http::{HeaderValue, Response, StatusCode, header};

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `Authorization` header with a Bearer or DPoP token.
    #[error("an access token is required")]
    Missing,
    /// The token, or its DPoP proof, is not good: forged, expired, for another audience,
    /// revoked…
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A DPoP-bound token without a proof that holds, or a proof that does not.
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(String),
    /// This service cannot tell whether the token was revoked (it has not heard from authd
    /// within its bound, and may not ask), or authd could not be reached for keys or an
    /// answer.
    #[error("cannot verify tokens now: {0}")]
    Unavailable(String),
}

impl Rejection {
    pub(crate) fn invalid(why: impl Into<String>) -> Self {
        Self::Invalid(why.into())
    }

    pub(crate) fn proof(why: impl Into<String>) -> Self {
        Self::InvalidProof(why.into())
    }

    pub(crate) fn unavailable(why: impl Into<String>) -> Self {
        Self::Unavailable(why.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` challenge (none for 503).
    pub fn challenge(&self) -> Option<String> {
        let describe = |text: &str| text.replace(['"', '\\'], "'");
        match self {
            Self::Missing => {
                Some(r#"Bearer realm="authd", DPoP algs="ES256 PS256 RS256 EdDSA""#.to_owned())
            }
            Self::Invalid(why) => Some(format!(
                r#"Bearer realm="authd", error="invalid_token", error_description="{}""#,
                describe(why)
            )),
            Self::InvalidProof(why) => Some(format!(
                r#"DPoP algs="ES256 PS256 RS256 EdDSA", error="invalid_dpop_proof", error_description="{}""#,
                describe(why)
            )),
            Self::Unavailable(_) => None,
        }
    }

    /// The answer, with an empty body of the service's own type.
    pub fn into_response<B: Default>(self) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge()
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self, Self::Unavailable(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
