//! Leaving after a sign-out: straight to where the browser goes next, or, when clients whose
//! sessions ended registered a front channel (Front-Channel Logout 1.0 §3), through a page that
//! loads each of their logout pages in a hidden iframe first. The page's CSP frames exactly
//! those origins; its script moves on once every frame has loaded (or after a few seconds),
//! and a `Refresh` does it without script.

use askama::Template;
use poem::{
    Request, Response,
    http::{HeaderValue, StatusCode, header},
};
use uuid::Uuid;

use super::{
    CONTENT_SECURITY_POLICY, Ui,
    page::{Layout, html, see_other},
    session,
};
use crate::{error::Error, logout::FrontChannelPage};

/// How long the page waits for the frames before it moves on without them.
const WAIT_SECONDS: u32 = 5;

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage {
    layout: Layout,
    pages: Vec<FrontChannelPage>,
    next: String,
    wait_seconds: u32,
}

/// The front-channel pages to load as this browser signs out, with the session `hinted` names
/// (its user and id: an RP-initiated logout's hint). Read before anything ends.
pub async fn front_channel_pages(
    ui: &Ui,
    req: &Request,
    hinted: Option<(Uuid, Uuid)>,
) -> Result<Vec<FrontChannelPage>, Error> {
    let logouts = &ui.state.logouts;
    let browser = session::live(&ui.state, req.cookie(), &ui.cookies)
        .await?
        .map(|(user, session)| (user.id, session.id));
    let mut pages = Vec::new();
    if let Some((user, session)) = browser {
        let also = hinted
            .filter(|(hinted_user, _)| *hinted_user == user)
            .map(|(_, hinted_session)| hinted_session);
        pages = logouts.front_channel(user, Some(session), also).await?;
    }
    // A hint naming someone other than the browser's user (or nobody signed in here).
    if let Some((user, session)) = hinted
        .filter(|(hinted_user, _)| browser.is_none_or(|(signed_in, _)| signed_in != *hinted_user))
    {
        pages.extend(logouts.front_channel(user, None, Some(session)).await?);
    }
    Ok(pages)
}

/// The answer that takes the browser to `next` once `pages` are loaded.
pub fn leave(pages: Vec<FrontChannelPage>, next: String) -> Response {
    if pages.is_empty() {
        return see_other(&next);
    }
    let mut origins: Vec<&str> = pages.iter().map(|page| page.origin.as_str()).collect();
    origins.dedup();
    let policy = format!("{CONTENT_SECURITY_POLICY}; frame-src {}", origins.join(" "));
    let page = SignedOutPage {
        layout: Layout::anonymous(),
        pages,
        next: next.clone(),
        wait_seconds: WAIT_SECONDS,
    };
    let mut response = html(&page, StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{WAIT_SECONDS}; url={next}")) {
        headers.insert(header::REFRESH, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
