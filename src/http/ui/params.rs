//! The parameters of a request that a page reads as sent (the authorization and end-session
//! endpoints): query or form pairs, percent-decoded, in order, duplicates kept so that they can
//! be refused.

use poem::{Body, Request, http::StatusCode};

use super::error::UiError;
use crate::authorization::Params;

/// The query's parameters.
pub fn from_query(req: &Request) -> Params {
    parse(req.uri().query().unwrap_or_default())
}

/// A posted form's parameters; `what` names the request in the error for any other body.
pub async fn from_form(req: &Request, body: Body, what: &str) -> Result<Params, UiError> {
    let is_form = req
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(UiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{what} is posted as application/x-www-form-urlencoded."),
        ));
    }
    let body = body
        .into_string()
        .await
        .map_err(|_| UiError::new(StatusCode::BAD_REQUEST, "That request could not be read."))?;
    Ok(parse(&body))
}

fn parse(encoded: &str) -> Params {
    url::form_urlencoded::parse(encoded.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}
