//! `GET /ui`: what authd is, and where to go from here.

use std::sync::Arc;

use askama::Template;
use poem::{Request, Response, handler, http::StatusCode, web::Data};

use super::{
    Ui,
    page::{Layout, html},
    session,
};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    issuer: String,
}

#[handler]
pub async fn show(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Response {
    let jar = req.cookie();
    let signed_in = session::current_or_none(&ui.state, jar, &ui.cookies).await;
    let page = HomePage {
        layout: Layout::new(jar, &ui.cookies, signed_in.as_ref()).with_developer_links(),
        issuer: ui.state.config.issuer.clone(),
    };
    html(&page, StatusCode::OK)
}
