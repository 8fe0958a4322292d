//! What happens next to an authorization request (RFC 6749 §4.1, OpenID Connect Core §3.1.2):
//! decided here, as a [`Step`], and only shown by the web UI. The login, `prompt`, `max_age`,
//! `id_token_hint` and consent rules all live in this file.

use super::{
    AuthorizationRequest, Authorizations, ClientError, Params, Refusal,
    codes::login_of,
    request::{ResponseMode, Rules, check, redirect_target, single},
    unix_millis,
};
use crate::{
    error::Error,
    store::{ApplicationType, SessionRecord, UserRecord},
};

/// The user signed in to the browser that makes the request, and their session.
pub type SignedIn<'a> = (&'a UserRecord, &'a SessionRecord);

/// The next step of an authorization request.
#[derive(Debug)]
pub enum Step {
    /// The user must sign in first; the request waits under `request_id`.
    Login {
        request_id: String,
        /// The client's, so the login page's forms may end there.
        redirect_uri: String,
    },
    /// The user must allow the client these scopes; the request waits under `request_id`.
    Consent {
        request_id: String,
        client: ConsentingClient,
        scopes: Vec<String>,
        redirect_uri: String,
    },
    /// The signed-in user must confirm their address first (`AUTHD_REQUIRE_VERIFIED_EMAIL`);
    /// the request waits under `request_id`.
    VerifyEmail {
        request_id: String,
        redirect_uri: String,
    },
    /// Back to the client with a code (RFC 6749 §4.1.2).
    Code {
        redirect_uri: String,
        code: String,
        state: Option<String>,
        response_mode: ResponseMode,
    },
    /// Back to the client with an error (RFC 6749 §4.1.2.1).
    ClientError(ClientError),
    /// The client or its redirect URI cannot be trusted, or the request is gone: the user is
    /// told, and sent nowhere.
    RedirectError(String),
}

/// What the consent page says of the client asking: enough for the user to tell a look-alike.
#[derive(Debug)]
pub struct ConsentingClient {
    /// As registered: chosen by whoever registered the client.
    pub name: String,
    /// Whether an operator vouches for the name (clients registered through RFC 7591 are not
    /// vouched for until one does).
    pub verified: bool,
    /// An app on the user's device: its redirect URI has no host to show.
    pub native: bool,
}

/// What the login page shows of the request it continues.
pub struct LoginFlow {
    pub client_name: String,
    pub login_hint: Option<String>,
    pub redirect_uri: String,
}

/// A request on its way: just made (nothing stored yet), or held in Redis under an id.
enum Pending {
    New(AuthorizationRequest),
    Held(String, AuthorizationRequest),
}

impl Pending {
    fn request(&self) -> &AuthorizationRequest {
        match self {
            Pending::New(request) | Pending::Held(_, request) => request,
        }
    }
}

/// The request is gone: expired, or answered already.
pub const EXPIRED: &str = "This sign-in request has expired or was already answered. Go back \
                           to the application and start again.";

impl Authorizations {
    /// A request as it arrives at the authorization endpoint, from a browser where `signed_in`
    /// is signed in (if anyone).
    pub async fn start(
        &self,
        params: &Params,
        signed_in: Option<SignedIn<'_>>,
    ) -> Result<Step, Error> {
        let client_id = single(params, "client_id").ok().flatten();
        let request = match single(params, "request_uri") {
            Ok(Some(request_uri)) => {
                // RFC 9126 §4: the pushed request is the whole request; other parameters but
                // client_id are ignored. The client authenticated when it pushed, so it is not
                // looked up again. The request names its redirect URI, so an unknown or used
                // request_uri can only be shown to the user.
                match self.take_pushed(request_uri).await? {
                    Some(request) if Some(request.client_id.as_str()) == client_id => request,
                    _ => {
                        return Ok(Step::RedirectError(
                            "This sign-in request has expired or was already used. Go back to \
                             the application and start again."
                                .to_owned(),
                        ));
                    }
                }
            }
            Ok(None) => match self.check_direct(params, client_id).await? {
                Ok(request) => request,
                Err(step) => return Ok(step),
            },
            Err(_) => {
                return Ok(Step::RedirectError(
                    "The request names more than one request_uri.".to_owned(),
                ));
            }
        };
        self.next(Pending::New(request), signed_in).await
    }

    /// A held request again, after the user signed in.
    pub async fn resume(
        &self,
        request_id: &str,
        signed_in: Option<SignedIn<'_>>,
    ) -> Result<Step, Error> {
        match self.held(request_id, false).await? {
            Some(request) => {
                self.next(Pending::Held(request_id.to_owned(), request), signed_in)
                    .await
            }
            None => Ok(Step::RedirectError(EXPIRED.to_owned())),
        }
    }

    /// The signed-in user's answer on the consent page. The held request is taken, so the same
    /// consent cannot be answered twice.
    pub async fn answer_consent(
        &self,
        request_id: &str,
        (user, session): SignedIn<'_>,
        allowed: bool,
    ) -> Result<Step, Error> {
        let Some(request) = self.held(request_id, true).await? else {
            return Ok(Step::RedirectError(EXPIRED.to_owned()));
        };
        if !allowed {
            let denied =
                ClientError::for_request(&request, "access_denied", "the user denied the request");
            return Ok(Step::ClientError(denied));
        }
        self.consent(user.id, &request.client_id, &request.consent_scope())
            .await?;
        self.code_step(user, session, request).await
    }

    /// What the login page shows of the held request it continues; `None` once it is gone.
    pub async fn login_flow(&self, request_id: &str) -> Result<Option<LoginFlow>, Error> {
        let Some(request) = self.held(request_id, false).await? else {
            return Ok(None);
        };
        let Some(client) = self.clients.find(&request.client_id).await? else {
            return Ok(None);
        };
        Ok(Some(LoginFlow {
            client_name: client.name,
            login_hint: request.login_hint,
            redirect_uri: request.redirect_uri,
        }))
    }

    /// A request made at the authorization endpoint itself: its client looked up, and checked
    /// against the registration. `Err` holds the step a refusal leads to.
    async fn check_direct(
        &self,
        params: &Params,
        client_id: Option<&str>,
    ) -> Result<Result<AuthorizationRequest, Step>, Error> {
        let client = match client_id {
            Some(client_id) => self.clients.find(client_id).await?,
            None => None,
        };
        let Some(client) = client.as_ref() else {
            // Without a registered client there is nowhere safe to redirect to.
            let refusal = redirect_target(params, None)
                .err()
                .unwrap_or_else(unknown_client);
            return Ok(Err(refused(refusal)));
        };
        let request = match self.check(params, client) {
            Ok(request) => request,
            Err(refusal) => return Ok(Err(refused(refusal))),
        };
        if self.require_par || client.require_par {
            let error = ClientError::for_request(
                &request,
                "invalid_request",
                "authorization requests must be pushed to /oauth/par first (RFC 9126)",
            );
            return Ok(Err(Step::ClientError(error)));
        }
        Ok(Ok(request))
    }

    /// `params` checked as a request of `client` made now.
    pub(super) fn check(
        &self,
        params: &Params,
        client: &crate::store::ClientRecord,
    ) -> Result<AuthorizationRequest, Refusal> {
        let read_hint = |hint: &str| {
            crate::oidc::read_hint(&self.key_ring, &self.issuer, hint, self.clock.now())
        };
        let rules = Rules {
            targets: &self.targets,
            pkce_default: self.pkce_default,
            now_ms: unix_millis(self.clock.now()),
            read_hint: &read_hint,
        };
        check(params, client, &rules)
    }

    /// The next step of a request: log in, consent, or the code. Only a request that needs a
    /// page is stored, so a signed-in user who has consented costs no write but the code's.
    async fn next(&self, pending: Pending, signed_in: Option<SignedIn<'_>>) -> Result<Step, Error> {
        let request = pending.request();
        let signed_in = match signed_in {
            Some(signed_in) => match self.login_answers(request, signed_in) {
                LoginCheck::Answers => Some(signed_in),
                LoginCheck::Again => None,
                LoginCheck::Refused(error) => return Ok(Step::ClientError(error)),
            },
            None => None,
        };
        let Some((user, session)) = signed_in else {
            if request.prompt.none {
                let error = ClientError::for_request(
                    request,
                    "login_required",
                    "the user is not signed in",
                );
                return Ok(Step::ClientError(error));
            }
            let redirect_uri = request.redirect_uri.clone();
            let request_id = self.id_of(&pending).await?;
            return Ok(Step::Login {
                request_id,
                redirect_uri,
            });
        };
        if self.require_verified_email && !user.email_verified() {
            if request.prompt.none {
                let error = ClientError::for_request(
                    request,
                    "interaction_required",
                    "the user must confirm their email address first",
                );
                return Ok(Step::ClientError(error));
            }
            let redirect_uri = request.redirect_uri.clone();
            return Ok(Step::VerifyEmail {
                request_id: self.id_of(&pending).await?,
                redirect_uri,
            });
        }
        let consented = self
            .has_consent(user.id, &request.client_id, &request.consent_scope())
            .await?;
        if consented && !request.prompt.consent {
            let request = match pending {
                Pending::New(request) => request,
                // Taken, so a held request gives one code at most.
                Pending::Held(id, _) => match self.held(&id, true).await? {
                    Some(request) => request,
                    None => return Ok(Step::RedirectError(EXPIRED.to_owned())),
                },
            };
            return self.code_step(user, session, request).await;
        }
        if request.prompt.none {
            let error = ClientError::for_request(
                request,
                "consent_required",
                "the user has not allowed this client yet",
            );
            return Ok(Step::ClientError(error));
        }
        let Some(client) = self.clients.find(&request.client_id).await? else {
            return Ok(Step::RedirectError(EXPIRED.to_owned()));
        };
        let scopes = request
            .consent_scope()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let redirect_uri = request.redirect_uri.clone();
        Ok(Step::Consent {
            request_id: self.id_of(&pending).await?,
            client: ConsentingClient {
                native: client.application_type == ApplicationType::Native,
                name: client.name,
                verified: client.verified,
            },
            scopes,
            redirect_uri,
        })
    }

    /// Whether the browser's login may answer `request`.
    fn login_answers(
        &self,
        request: &AuthorizationRequest,
        (user, session): SignedIn<'_>,
    ) -> LoginCheck {
        let now = self.clock.now().unix_timestamp();
        let auth_time = login_of(session).auth_time;
        // A login since the request was made answers `prompt=login` and any `max_age`.
        let fresh = unix_millis(session.created_at) >= request.created_at_ms;
        let too_old = request
            .max_age
            .is_some_and(|max_age| now - auth_time > max_age);
        // OpenID Connect Core §3.1.2.1: only the user an `id_token_hint` names may answer.
        let someone_else = request
            .hinted_subject
            .as_deref()
            .is_some_and(|sub| sub != user.id.to_string());
        if someone_else && fresh {
            return LoginCheck::Refused(ClientError::for_request(
                request,
                "login_required",
                "the user who signed in is not the one id_token_hint names",
            ));
        }
        if someone_else || (!fresh && (request.prompt.login || too_old)) {
            LoginCheck::Again
        } else {
            LoginCheck::Answers
        }
    }

    /// The code answering `request`, and where it goes.
    async fn code_step(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        request: AuthorizationRequest,
    ) -> Result<Step, Error> {
        let (code, grant) = self.issue_code(user, session, request).await?;
        Ok(Step::Code {
            redirect_uri: grant.request.redirect_uri,
            code,
            state: grant.request.state,
            response_mode: grant.request.response_mode,
        })
    }

    /// The id the login or consent page continues with: the held one, or a new hold.
    async fn id_of(&self, pending: &Pending) -> Result<String, Error> {
        match pending {
            Pending::Held(id, _) => Ok(id.clone()),
            Pending::New(request) => self.hold(request).await,
        }
    }
}

/// How a signed-in browser's login meets a request.
enum LoginCheck {
    /// It answers the request.
    Answers,
    /// The user must sign in again (`prompt=login`, `max_age`, another user hinted).
    Again,
    /// The client is told at once (a fresh login by another user than the hinted one).
    Refused(ClientError),
}

/// Where a refusal goes: the client, or only the user.
fn refused(refusal: Refusal) -> Step {
    match refusal {
        Refusal::ToUser { message, .. } => Step::RedirectError(message),
        Refusal::ToClient(error) => Step::ClientError(error),
    }
}

fn unknown_client() -> Refusal {
    Refusal::ToUser {
        code: "invalid_client",
        message: "The application that sent you here is not registered with authd.".to_owned(),
    }
}
