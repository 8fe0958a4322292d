//! What a person is told when something goes wrong: a page in words, never JSON. The status is
//! the API's for the same error (`http::error` maps every domain error once).

use askama::Template;
use poem::{
    IntoResponse, Response,
    http::{StatusCode, header},
};

use super::page::{Layout, html};
use crate::{error::Error, http::error::ApiError};

/// A failed page or form, rendered as the error page.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for a 429.
    pub retry_after: Option<u64>,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `response` (a page showing this error), with `Retry-After` when the error has one.
    pub fn retry_after_on(&self, mut response: Response) -> Response {
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }

    pub fn forged_form() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form could not be accepted: it has expired, or it was sent from another site. \
             Go back, reload the page and try again.",
        )
    }
}

impl From<Error> for UiError {
    fn from(err: Error) -> Self {
        let message = friendly_message(&err);
        let retry_after = match &err {
            Error::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        Self {
            status: ApiError::from(err).into_response().status(),
            message,
            retry_after,
        }
    }
}

/// The sentence a person reads for `err`.
pub fn friendly_message(err: &Error) -> String {
    match err {
        Error::InvalidField { field, message } => format!("{} {message}.", field_label(field)),
        Error::InvalidCredentials => "Wrong username or password.".to_owned(),
        Error::UsernameTaken => "That username is taken; choose another.".to_owned(),
        Error::EmailTaken => "That email address is already registered.".to_owned(),
        Error::RateLimited { retry_after } => format!(
            "Too many attempts. Wait {} seconds, then try again.",
            retry_after.as_secs().max(1)
        ),
        Error::Unavailable { .. } => {
            "authd cannot reach a service it depends on. Try again in a moment.".to_owned()
        }
        Error::Internal(_) => {
            "Something went wrong inside authd. Try again; if it keeps happening, the server's \
             log says why."
                .to_owned()
        }
        other => format!("{}.", capitalized(&other.to_string())),
    }
}

fn field_label(field: &str) -> String {
    capitalized(&field.replace('_', " "))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
}

/// The page for an error raised outside the UI's handlers (an unknown page, a wrong method,
/// an unreadable form). The layout is the signed-out one: no session was looked at.
pub fn framework_error(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::NOT_FOUND => "There is no such page.",
        StatusCode::METHOD_NOT_ALLOWED => "That page does not take this kind of request.",
        StatusCode::PAYLOAD_TOO_LARGE => "That form was too large.",
        status if status.is_client_error() => "That request could not be read.",
        _ => "Something went wrong inside authd.",
    };
    UiError::new(status, message).into_response()
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = title_of(self.status);
        let page = ErrorPage {
            layout: Layout::anonymous(),
            title,
            message: &self.message,
        };
        self.retry_after_on(html(&page, self.status))
    }
}

/// An error page's title, in words a person signing in understands (not "Bad Request").
fn title_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::PAYLOAD_TOO_LARGE => "That did not work",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "authd is unavailable for a moment",
        status if status.is_client_error() => "This request cannot go on",
        _ => "Something went wrong",
    }
}

impl From<UiError> for poem::Error {
    fn from(err: UiError) -> Self {
        poem::Error::from_response(err.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_read_as_sentences() {
        let err = Error::InvalidField {
            field: "display_name",
            message: "must be at most 100 characters".to_owned(),
        };
        assert_eq!(
            friendly_message(&err),
            "Display name must be at most 100 characters."
        );
    }
}
