//! What every page that changes something checks first, as extractors rather than a prologue
//! copied into each handler: the form's CSRF token ([`WithCsrf`]), and for a signed-in user's
//! pages, who is signed in ([`SignedInForm`], [`SignedInPage`]). A forged form is refused with
//! the error page (403); a browser with no live session is sent to the login page.

use std::sync::Arc;

use poem::{
    FromRequest, Request, RequestBody, Response,
    web::{Data, Form},
};
use serde::{Deserialize, de::DeserializeOwned};

use super::{
    Ui, csrf,
    error::UiError,
    page::{Notice, see_other},
    session::{self, SignedIn},
};

/// A form post whose CSRF token (its `csrf` field) is genuine; `T` is the rest of the form.
pub struct WithCsrf<T>(pub T);

/// A signed-in user's form post, its CSRF token checked first.
pub struct SignedInForm<T> {
    pub signed_in: SignedIn,
    pub form: T,
}

/// The signed-in user of a page only they may see.
pub struct SignedInPage(pub SignedIn);

/// A form of nothing but its CSRF token (a button).
#[derive(Deserialize)]
pub struct NoFields {}

/// The form as posted: the token, and every other field for `T`. Every form field is a string,
/// which is what lets `T` be read through `flatten`.
#[derive(Deserialize)]
struct Guarded<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

/// Where a signed-out browser is sent.
pub fn sign_in_first() -> Response {
    see_other(&format!("/ui/login?notice={}", Notice::SignInFirst.query()))
}

impl<'a, T: DeserializeOwned + Send> FromRequest<'a> for WithCsrf<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let Form(posted) = Form::<Guarded<T>>::from_request(req, body).await?;
        let ui = ui_of(req, body).await?;
        if !csrf::is_genuine(req, &ui.cookies, &posted.csrf) {
            return Err(UiError::forged_form().into());
        }
        Ok(Self(posted.form))
    }
}

impl<'a, T: DeserializeOwned + Send> FromRequest<'a> for SignedInForm<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let WithCsrf(form) = WithCsrf::<T>::from_request(req, body).await?;
        let SignedInPage(signed_in) = SignedInPage::from_request(req, body).await?;
        Ok(Self { signed_in, form })
    }
}

impl<'a> FromRequest<'a> for SignedInPage {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let ui = ui_of(req, body).await?;
        match session::current(&ui.state, req.cookie(), &ui.cookies).await {
            Ok(Some(signed_in)) => Ok(Self(signed_in)),
            Ok(None) => Err(poem::Error::from_response(sign_in_first())),
            Err(err) => Err(UiError::from(err).into()),
        }
    }
}

/// The UI's shared parts, which every page route is given.
async fn ui_of<'a>(req: &'a Request, body: &mut RequestBody) -> poem::Result<&'a Arc<Ui>> {
    let Data(ui) = Data::<&Arc<Ui>>::from_request(req, body).await?;
    Ok(ui)
}
