//! The authorization endpoint in the OpenAPI document. It answers pages and redirects with the
//! web UI's cookies, which poem-openapi's operations cannot express, so `ui::authorize_routes`
//! serves it: `http::routes` mounts that router at `/oauth/authorize`, where it takes every
//! request before this service's catch-all could. These operations describe it, parameters
//! and answers, and are never called.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Form, payload::Html};
use serde::Deserialize;

use super::ApiTags;

pub struct AuthorizeDocs;

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID
/// Connect Core §3.1.2.1), or `client_id` and `request_uri` alone for a pushed one.
#[derive(Object, Deserialize)]
struct AuthorizeForm {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    login_hint: Option<String>,
    dpop_jkt: Option<String>,
    request_uri: Option<String>,
}

// Only the spec reads the variants: the UI router builds the real answers.
#[allow(dead_code)]
#[derive(ApiResponse)]
enum AuthorizePage {
    /// The consent page (a user who has not yet allowed this client these scopes).
    #[oai(status = 200)]
    Page(Html<String>),
    /// To the login page (no session, `prompt=login`, or `max_age` passed), or back to the
    /// client's redirect URI with `code` (or `error` and `error_description`), `state` and
    /// `iss` (RFC 9207).
    #[oai(status = 303)]
    Redirect(#[oai(header = "Location")] String),
    /// An error page: the client or redirect URI is unknown, so authd will not redirect
    /// (RFC 6749 §4.1.2.1); or a pushed request has expired.
    #[oai(status = 400)]
    BadRequest(Html<String>),
    /// The body is not a form.
    #[oai(status = 415)]
    UnsupportedMediaType(Html<String>),
    /// A backing service is down.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

const NOT_SERVED_HERE: &str = "served by the UI router";

#[OpenApi(tag = "ApiTags::OAuth")]
impl AuthorizeDocs {
    /// Authorization endpoint (RFC 6749 §4.1): start a login
    ///
    /// For browsers: `response_type=code`, `client_id`, `redirect_uri` (exactly as registered;
    /// optional when the client registered one), `code_challenge` with
    /// `code_challenge_method=S256` (PKCE is required), and optionally `scope`, `state`,
    /// `nonce`, `prompt` (`none`, `login`, `consent`), `max_age`, `login_hint` and `dpop_jkt`.
    /// Or `client_id` and a `request_uri` from `POST /oauth/par`.
    #[allow(clippy::too_many_arguments, clippy::unused_async)]
    #[oai(path = "/oauth/authorize", method = "get")]
    async fn authorize(
        &self,
        response_type: Query<Option<String>>,
        client_id: Query<Option<String>>,
        redirect_uri: Query<Option<String>>,
        scope: Query<Option<String>>,
        state: Query<Option<String>>,
        code_challenge: Query<Option<String>>,
        code_challenge_method: Query<Option<String>>,
        prompt: Query<Option<String>>,
        request_uri: Query<Option<String>>,
    ) -> AuthorizePage {
        let _ = (
            response_type,
            client_id,
            redirect_uri,
            scope,
            state,
            code_challenge,
            code_challenge_method,
            prompt,
            request_uri,
        );
        AuthorizePage::BadRequest(Html(NOT_SERVED_HERE.to_owned()))
    }

    /// Authorization endpoint, as a form post
    ///
    /// The same request as `GET /oauth/authorize`, form-encoded (OpenID Connect Core §3.1.2.1).
    #[allow(clippy::unused_async)]
    #[oai(path = "/oauth/authorize", method = "post")]
    async fn authorize_post(&self, form: Form<AuthorizeForm>) -> AuthorizePage {
        let _ = form;
        AuthorizePage::BadRequest(Html(NOT_SERVED_HERE.to_owned()))
    }
}
