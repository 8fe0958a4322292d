//! The authorization endpoint and RP-initiated logout in the OpenAPI document. They answer
//! pages and redirects with the web UI's cookies, which poem-openapi's operations cannot
//! express, so UI routers serve them: `http::routes` mounts `ui::authorize_routes` at
//! `/oauth/authorize` and `ui::end_session_routes` at `/oauth/end_session`, where they take
//! every request before this service's catch-all could. These operations describe them,
//! parameters and answers, and are never called.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Form, payload::Html};
use serde::Deserialize;

use crate::http::api::ApiTags;

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
    /// A previous ID token: only the user it names may answer (OpenID Connect Core §3.1.2.1).
    id_token_hint: Option<String>,
    /// Individual claims, as JSON (OpenID Connect Core §5.5).
    claims: Option<String>,
    /// Accepted; authd's pages are in English.
    ui_locales: Option<String>,
    dpop_jkt: Option<String>,
    request_uri: Option<String>,
}

/// The parameters of RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2).
#[derive(Object, Deserialize)]
struct EndSessionForm {
    /// An ID token authd issued to the client (it may have expired).
    id_token_hint: Option<String>,
    client_id: Option<String>,
    /// One of the client's registered `post_logout_redirect_uris`, exactly.
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    ui_locales: Option<String>,
}

// Only the spec reads the variants: the UI router builds the real answers.
#[allow(dead_code)]
#[derive(ApiResponse)]
enum EndSessionPage {
    /// The confirmation page: no `id_token_hint`, or a stale one (expired, or naming a user
    /// other than the one signed in here).
    #[oai(status = 200)]
    Page(Html<String>),
    /// Signed out: to `post_logout_redirect_uri` with `state`, or to authd's login page.
    #[oai(status = 303)]
    Redirect(#[oai(header = "Location")] String),
    /// An error page, and nothing ended: a hint that is not an ID token authd issued, a
    /// `client_id` that disagrees with it, an unknown client, or an unregistered
    /// `post_logout_redirect_uri`.
    #[oai(status = 400)]
    BadRequest(Html<String>),
    /// The body is not a form.
    #[oai(status = 415)]
    UnsupportedMediaType(Html<String>),
    /// A backing service is down.
    #[oai(status = 503)]
    Unavailable(Html<String>),
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
    /// `nonce`, `prompt` (`none`, `login`, `consent`), `max_age`, `login_hint`,
    /// `id_token_hint`, `claims`, `ui_locales` and `dpop_jkt`. Or `client_id` and a
    /// `request_uri` from `POST /oauth/par`. With scope `openid`, the code also gives an ID
    /// token (OpenID Connect Core §3.1).
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

    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)
    ///
    /// For browsers, sent by a client: signs the user out of authd and ends the session the
    /// `id_token_hint` names, then returns to `post_logout_redirect_uri` (exactly as the
    /// client registered it) with `state`. With a current hint for the signed-in user it acts
    /// at once; otherwise it asks the user first.
    #[allow(clippy::unused_async)]
    #[oai(path = "/oauth/end_session", method = "get")]
    async fn end_session(
        &self,
        id_token_hint: Query<Option<String>>,
        client_id: Query<Option<String>>,
        post_logout_redirect_uri: Query<Option<String>>,
        state: Query<Option<String>>,
    ) -> EndSessionPage {
        let _ = (id_token_hint, client_id, post_logout_redirect_uri, state);
        EndSessionPage::BadRequest(Html(NOT_SERVED_HERE.to_owned()))
    }

    /// RP-initiated logout, as a form post
    ///
    /// The same request as `GET /oauth/end_session`, form-encoded.
    #[allow(clippy::unused_async)]
    #[oai(path = "/oauth/end_session", method = "post")]
    async fn end_session_post(&self, form: Form<EndSessionForm>) -> EndSessionPage {
        let _ = form;
        EndSessionPage::BadRequest(Html(NOT_SERVED_HERE.to_owned()))
    }
}
