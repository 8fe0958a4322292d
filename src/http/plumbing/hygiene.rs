//! Limits every request meets and headers every answer carries, whatever the route.

use poem::{
    Request, Response,
    error::ReadBodyError,
    http::{HeaderValue, header},
};

/// Far above any request authd takes (a registration with a PoP key is under 2 KiB), far below
/// what would let a few clients fill a replica's memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the body into memory before any handler parses it, refusing with 413 one that declares
/// or sends more than [`MAX_BODY_BYTES`]; a chunked body without a length is cut off as soon as
/// it passes the limit.
pub async fn read_bounded_body(request: &mut Request) -> Result<(), poem::Error> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ReadBodyError::PayloadTooLarge.into());
    }
    let body = request.take_body();
    if !body.is_empty() {
        request.set_body(body.into_bytes_limit(MAX_BODY_BYTES).await?);
    }
    Ok(())
}

/// No MIME sniffing of any answer, and no caching of any answer whose route did not choose a
/// policy: the JWKS is public and says so; everything else may carry a token, claims or personal
/// data (RFC 6749 §5.1 asks for `no-store` on token responses).
pub fn add_safety_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}
