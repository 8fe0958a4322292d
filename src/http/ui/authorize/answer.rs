//! How the authorization endpoint answers: back to the client at its redirect URI (a code or an
//! error, with `state` and `iss`), or on to authd's own pages.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, header},
};
use url::Url;

use crate::{
    authorization::ClientError,
    error::Error,
    http::ui::{CONTENT_SECURITY_POLICY, Ui, error::UiError, page::see_other},
};

impl Ui {
    /// An error for the client, at its redirect URI (RFC 6749 §4.1.2.1).
    pub(super) fn to_client(&self, error: &ClientError) -> Response {
        let mut answer: Vec<(&str, &str)> = vec![
            ("error", error.error),
            ("error_description", &error.description),
        ];
        if let Some(state) = &error.state {
            answer.push(("state", state));
        }
        self.redirect_to_client(&error.redirect_uri, &answer)
    }

    /// 303 to `redirect_uri` with `answer` and `iss` (RFC 9207) added to its query.
    pub(super) fn redirect_to_client(
        &self,
        redirect_uri: &str,
        answer: &[(&str, &str)],
    ) -> Response {
        let Ok(mut url) = Url::parse(redirect_uri) else {
            // Registered URIs are checked at registration; this is a broken record.
            return UiError::from(Error::Internal(format!(
                "unparseable redirect URI {redirect_uri}"
            )))
            .into_response();
        };
        url.query_pairs_mut()
            .extend_pairs(answer)
            .append_pair("iss", &self.state.config.issuer);
        see_other(url.as_str())
    }
}

/// `response`, with a CSP whose `form-action` also allows `redirect_uri`'s origin, so a form
/// on this page may end at the client.
pub fn allow_form_to_end_at(mut response: Response, redirect_uri: &str) -> Response {
    let Ok(url) = Url::parse(redirect_uri) else {
        return response;
    };
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", url.origin().ascii_serialization()),
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

pub fn login_url(request_id: &str) -> String {
    let mut url = String::from("/ui/login?");
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("authorization", request_id)
            .finish(),
    );
    url
}

pub fn resume_url(request_id: &str) -> String {
    format!(
        "/oauth/authorize/continue?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", request_id)
            .finish()
    )
}
