//! An authorization request between its arrival and its answer.

use super::answer::expired;
use crate::{
    authorization::AuthorizationRequest,
    error::Error,
    http::ui::{Ui, error::UiError},
};

/// A request on its way: just made (nothing stored yet), or held in Redis for a login or a
/// consent under an id.
pub(super) enum Pending {
    New(AuthorizationRequest),
    Held(String, AuthorizationRequest),
}

impl Pending {
    pub(super) fn request(&self) -> &AuthorizationRequest {
        match self {
            Pending::New(request) | Pending::Held(_, request) => request,
        }
    }

    /// The id the login or consent page continues with: the held one, or a new hold.
    pub(super) async fn id(&self, ui: &Ui) -> Result<String, Error> {
        match self {
            Pending::Held(id, _) => Ok(id.clone()),
            Pending::New(request) => ui.state.authorizations.hold(request).await,
        }
    }

    /// The request to answer with a code. A held one is taken, so it gives one code at most.
    pub(super) async fn take(self, ui: &Ui) -> Result<AuthorizationRequest, UiError> {
        match self {
            Pending::New(request) => Ok(request),
            Pending::Held(id, _) => ui
                .state
                .authorizations
                .held(&id, true)
                .await?
                .ok_or_else(expired),
        }
    }
}
