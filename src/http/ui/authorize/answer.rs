//! How the authorization endpoint answers: back to the client at its redirect URI (a code or an
//! error, with `state` and `iss`), to authd's own pages, or with an error page that sends the
//! browser nowhere.

use poem::{
    IntoResponse, Response,
    http::{HeaderValue, StatusCode, header},
};
use url::Url;

use crate::{
    authorization::{AuthorizationRequest, ClientError, CodeGrant, Refusal},
    error::Error,
    http::ui::{CONTENT_SECURITY_POLICY, Ui, error::UiError, page::see_other},
    oidc::Login,
    store::{SessionRecord, UserRecord},
};

impl Ui {
    /// Issues the code for `request` and sends the browser back to the client with it.
    pub(super) async fn code_redirect(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        request: AuthorizationRequest,
    ) -> Result<Response, UiError> {
        let login = login_of(session);
        let grant = CodeGrant {
            user_id: user.id,
            auth_time: login.auth_time,
            amr: login.amr,
            request,
        };
        let code = self.state.authorizations.issue_code(&grant).await?;
        let request = &grant.request;
        let mut answer: Vec<(&str, &str)> = vec![("code", &code)];
        if let Some(state) = &request.state {
            answer.push(("state", state));
        }
        tracing::info!(
            user_id = %user.id,
            client_id = %request.client_id,
            "authorization code issued"
        );
        Ok(self.redirect_to_client(&request.redirect_uri, &answer))
    }

    pub(super) fn refuse(&self, refusal: &Refusal) -> Result<Response, UiError> {
        match refusal {
            Refusal::ToUser { .. } => Err(refusal_page(refusal)),
            Refusal::ToClient(error) => Ok(self.to_client(error)),
        }
    }

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
    fn redirect_to_client(&self, redirect_uri: &str, answer: &[(&str, &str)]) -> Response {
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

    pub(super) fn with_form_action(
        &self,
        response: Response,
        request: &AuthorizationRequest,
    ) -> Response {
        allow_form_to_end_at(response, &request.redirect_uri)
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

/// The login a web UI session holds (one from before OpenID Connect: a password login when the
/// session started).
pub(super) fn login_of(session: &SessionRecord) -> Login {
    session
        .login
        .clone()
        .unwrap_or_else(|| Login::password(session.created_at.unix_timestamp()))
}

pub(super) fn refusal_page(refusal: &Refusal) -> UiError {
    let message = match refusal {
        Refusal::ToUser { message, .. } => message.clone(),
        Refusal::ToClient(error) => error.description.clone(),
    };
    UiError::new(StatusCode::BAD_REQUEST, message)
}

pub(super) fn unknown_client() -> Refusal {
    Refusal::ToUser {
        code: "invalid_client",
        message: "The application that sent you here is not registered with authd.".to_owned(),
    }
}

pub(super) fn expired() -> UiError {
    UiError::new(
        StatusCode::BAD_REQUEST,
        "This sign-in request has expired or was already answered. Go back to the application \
         and start again.",
    )
}
