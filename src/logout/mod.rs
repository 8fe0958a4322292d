//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) as a domain service: a client
//! sends the browser to `end_session_endpoint` to sign the user out of authd, and may name
//! where to return. This decides whether a request may be followed, whether the user must
//! confirm, and ends the session the client's hint names; the web UI ends the browser's own
//! session and shows the pages. Logout that authd propagates to clients lives here too:
//! [`backchannel`] tells each client whose session ended, [`frontchannel`] names the pages the
//! sign-out page loads.
//!
//! The rules that keep it from being an open redirector or a logout CSRF:
//! - `post_logout_redirect_uri` must be one the client registered, exactly; the client is
//!   `client_id` or the audience of `id_token_hint`, and they must agree. Otherwise the user
//!   sees an error page and is sent nowhere.
//! - A current hint naming the signed-in user (or any user, if nobody is signed in here) is
//!   the client's proof that the user was just with it: authd signs out at once. Without a
//!   hint, or with a stale one (expired, or naming another user), the user is asked first.

mod backchannel;
mod frontchannel;

use std::sync::Arc;

use uuid::Uuid;

pub use backchannel::{BackChannel, LogoutTokens};
pub use frontchannel::{FrontChannelPage, front_channel_page};

use crate::{
    authorization::{
        Params,
        request::{Repeated, single},
    },
    clients::{Clients, redirect_uri},
    clock::Clock,
    error::Error,
    keys::KeyRing,
    oidc::{IdTokenHint, read_hint},
    sessions::Sessions,
};

/// The parameters a confirmation carries on.
const PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// Why a logout request is not followed.
#[derive(Debug)]
pub enum Refusal {
    /// The request is not to be trusted: the user is told why, and nothing is ended.
    Refused(String),
    /// A service it needed failed.
    Failed(Error),
}

impl From<Error> for Refusal {
    fn from(err: Error) -> Self {
        Self::Failed(err)
    }
}

fn refused(message: &str) -> Refusal {
    Refusal::Refused(message.to_owned())
}

/// A checked logout request.
#[derive(Debug)]
pub struct Logout {
    hint: Option<IdTokenHint>,
    pub client_name: Option<String>,
    /// Where to send the browser afterwards, `state` included.
    pub return_to: Option<String>,
    /// The parameters as sent, to carry through a confirmation.
    pub params: Vec<(String, String)>,
}

impl Logout {
    /// Whether the hint names a session at the client, which signing out also ends.
    pub fn ends_application_session(&self) -> bool {
        self.hint.as_ref().is_some_and(|hint| hint.sid.is_some())
    }

    /// Whether to sign out without asking: a current hint proves the user was just at the
    /// client (and names whoever is signed in here, `signed_in`), or there is nothing to end.
    pub fn is_proven(&self, signed_in: Option<Uuid>) -> bool {
        let signed_in = signed_in.map(|user| user.to_string());
        let proven = self.hint.as_ref().is_some_and(|hint| {
            !hint.expired && signed_in.as_deref().is_none_or(|user| user == hint.sub)
        });
        proven || (signed_in.is_none() && !self.ends_application_session())
    }

    /// Who the hint names, for the log.
    pub fn hinted_user(&self) -> Option<&str> {
        self.hint.as_ref().map(|hint| hint.sub.as_str())
    }
}

pub struct Logouts {
    clients: Arc<Clients>,
    sessions: Arc<Sessions>,
    key_ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    issuer: String,
}

impl Logouts {
    pub fn new(
        clients: Arc<Clients>,
        sessions: Arc<Sessions>,
        key_ring: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        issuer: String,
    ) -> Self {
        Self {
            clients,
            sessions,
            key_ring,
            clock,
            issuer,
        }
    }

    /// Checks a request: refused ([`Refusal::Refused`]) for anything that could send the
    /// browser somewhere the client did not register, or end a session on a forged hint.
    pub async fn check(&self, params: &Params) -> Result<Logout, Refusal> {
        let get = |name: &str| {
            single(params, name).map_err(|Repeated| {
                Refusal::Refused(format!("The sign-out request names {name} more than once."))
            })
        };
        let hint = match get("id_token_hint")? {
            Some(token) => Some(
                read_hint(&self.key_ring, &self.issuer, token, self.clock.now()).ok_or_else(
                    || {
                        refused(
                            "The sign-out request carries an id_token_hint that is not an ID \
                             token authd issued. You have not been signed out.",
                        )
                    },
                )?,
            ),
            None => None,
        };
        let client_id = match (get("client_id")?, &hint) {
            (Some(client_id), Some(hint)) if client_id != hint.aud => {
                return Err(refused(
                    "The sign-out request names one application in client_id and another in \
                     id_token_hint. You have not been signed out.",
                ));
            }
            (Some(client_id), _) => Some(client_id.to_owned()),
            (None, Some(hint)) => Some(hint.aud.clone()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(client_id) => Some(self.clients.find(client_id).await?.ok_or_else(|| {
                refused("The application that sent you here is not registered with authd.")
            })?),
            None => None,
        };
        let return_to = match get("post_logout_redirect_uri")? {
            None => None,
            Some(uri) => {
                let registered = client.as_ref().is_some_and(|client| {
                    redirect_uri::is_registered(&client.post_logout_redirect_uris, uri)
                });
                if !registered {
                    return Err(refused(
                        "The application asked to return you after signing out to an address \
                         it has not registered. authd will not send you there, and you have \
                         not been signed out.",
                    ));
                }
                Some(with_state(uri, get("state")?))
            }
        };
        let params = PARAMETERS
            .iter()
            .filter_map(|name| {
                let value = single(params, name).ok().flatten()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect();
        Ok(Logout {
            hint,
            client_name: client.map(|client| client.name),
            return_to,
            params,
        })
    }

    /// The front-channel pages to load as `user_id`'s browser session `browser` ends, with the
    /// session at a client `also` names (the hint's): one for each live session that ends,
    /// whose client registered a front channel. Read before the sessions end.
    pub async fn front_channel(
        &self,
        user_id: Uuid,
        browser: Option<Uuid>,
        also: Option<Uuid>,
    ) -> Result<Vec<FrontChannelPage>, Error> {
        let mut pages: Vec<FrontChannelPage> = Vec::new();
        for live in self.sessions.live(user_id).await? {
            let session = live.session;
            let ends =
                (browser.is_some() && session.parent_id == browser && !session.outlives_sign_out())
                    || Some(session.id) == also;
            let Some(client_id) = session.client_id.as_deref().filter(|_| ends) else {
                continue;
            };
            let Some(client) = self.clients.find(client_id).await? else {
                continue;
            };
            if let Some(page) = front_channel_page(&client, &self.issuer, &session.id.to_string())
                && !pages.contains(&page)
            {
                pages.push(page);
            }
        }
        Ok(pages)
    }

    /// The session a current hint names at its client, and whose it is.
    pub fn hinted_session(&self, logout: &Logout) -> Option<(Uuid, Uuid)> {
        let hint = logout.hint.as_ref()?;
        let user_id = Uuid::parse_str(&hint.sub).ok()?;
        let session_id = Uuid::parse_str(hint.sid.as_deref()?).ok()?;
        Some((user_id, session_id))
    }

    /// Ends the session at the client that the hint names, with every token issued in it.
    /// (The browser's own session is the web UI's to end.)
    pub async fn end_hinted_session(&self, logout: &Logout) -> Result<(), Error> {
        if let Some((user_id, session_id)) = self.hinted_session(logout) {
            self.sessions.revoke_by_id(user_id, session_id).await?;
        }
        Ok(())
    }
}

/// `uri` with `state` added to its query (RP-Initiated Logout §3), keeping the query it has.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_owned();
    };
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("state", state);
            url.into()
        }
        Err(_) => uri.to_owned(),
    }
}
