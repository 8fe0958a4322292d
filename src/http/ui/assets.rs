//! The UI's stylesheet, script and icon, compiled into the binary: one file per replica to
//! deploy, and nothing on disk to drift from the templates.

use poem::{
    IntoResponse, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::Path,
};

use super::error::framework_error;

const STYLESHEET: &str = include_str!("static/authd.css");
const SCRIPT: &str = include_str!("static/authd.js");
const ICON: &str = include_str!("static/favicon.svg");

#[handler]
pub fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "authd.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "authd.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return framework_error(StatusCode::NOT_FOUND),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Pages link these with `?v=<version>`, so a day's caching never outlives a release.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
