//! How the authorization endpoint answers: back to the client at its redirect URI (a code or an
//! error, with `state` and `iss`), in its query or as a form the browser posts there
//! (`response_mode=form_post`), or on to authd's own pages.

use askama::Template;
use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use url::Url;

use crate::{
    authorization::{ClientError, ResponseMode},
    error::Error,
    http::ui::{
        CONTENT_SECURITY_POLICY, Ui,
        error::UiError,
        page::{html, see_other},
    },
};

/// The page of `response_mode=form_post`: the answer as hidden fields of a form that
/// `authd.js` submits at once (a button does it without script).
#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
}

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
        self.answer_client(&error.redirect_uri, error.response_mode, &answer)
    }

    /// `answer` and `iss` (RFC 9207) for the client at `redirect_uri`, as `mode` says.
    pub(super) fn answer_client(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
        answer: &[(&str, &str)],
    ) -> Response {
        match mode {
            ResponseMode::Query => self.redirect_to_client(redirect_uri, answer),
            ResponseMode::FormPost => self.post_to_client(redirect_uri, answer),
        }
    }

    /// OAuth 2.0 Form Post Response Mode §2: a page whose form the browser posts to
    /// `redirect_uri`. Its CSP lets the form go there and nowhere else, and no cache keeps it
    /// (it holds the code).
    fn post_to_client(&self, redirect_uri: &str, answer: &[(&str, &str)]) -> Response {
        let mut fields = answer.to_vec();
        fields.push(("iss", &self.state.config.issuer));
        let mut response = html(
            &FormPostPage {
                action: redirect_uri,
                fields: &fields,
            },
            StatusCode::OK,
        );
        let target = form_target(redirect_uri).unwrap_or_else(|| "'none'".to_owned());
        let policy =
            CONTENT_SECURITY_POLICY.replace("form-action 'self'", &format!("form-action {target}"));
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
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

/// The CSP source that lets a form end at exactly `redirect_uri` (a path without a trailing
/// slash matches only itself; the query is not part of a source).
fn form_target(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("{}:", url.scheme()));
    }
    let origin = url.origin().ascii_serialization();
    // `;` and `,` separate a CSP's directives and sources: such a path gets its origin only.
    let path = url.path();
    Some(if path.contains([';', ',']) {
        origin
    } else {
        format!("{origin}{path}")
    })
}

/// Where a form may end on its way to `redirect_uri`: its origin, or for a native app's
/// private-use URI (which has no origin) its scheme.
fn form_destination(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    Some(if matches!(url.scheme(), "http" | "https") {
        url.origin().ascii_serialization()
    } else {
        format!("{}:", url.scheme())
    })
}

/// `response`, with a CSP whose `form-action` also allows `redirect_uri`'s origin (or a native
/// app's scheme), so a form on this page may end at the client.
pub fn allow_form_to_end_at(mut response: Response, redirect_uri: &str) -> Response {
    let Some(destination) = form_destination(redirect_uri) else {
        return response;
    };
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {destination}"),
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
