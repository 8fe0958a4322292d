//! `GET /ui/keys`: the JWKS as a table, with each key's place in its rotation.

use std::sync::Arc;

use askama::Template;
use poem::{Request, Response, handler, http::StatusCode, web::Data};

use super::{
    Ui,
    page::{Layout, When, html},
    session,
};

struct KeyRow {
    kid: String,
    alg: String,
    state: &'static str,
    signs_from: When,
    signs_until: When,
    verifies_until: When,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    now: When,
}

#[handler]
pub async fn show(req: &Request, Data(ui): Data<&Arc<Ui>>) -> Response {
    let jar = req.cookie();
    let signed_in = session::current_or_none(&ui.state, jar, &ui.cookies).await;
    let now = ui.state.clock.now();
    let keys = ui
        .state
        .key_ring
        .statuses(now)
        .into_iter()
        .map(|key| KeyRow {
            kid: key.kid,
            alg: format!("{:?}", key.algorithm),
            state: key.state.as_str(),
            signs_from: When::new(key.not_before),
            signs_until: When::new(key.expires_at),
            verifies_until: When::new(key.retire_at),
        })
        .collect();
    let page = KeysPage {
        layout: Layout::new(jar, &ui.cookies, signed_in.as_ref()).with_developer_links(),
        keys,
        now: When::new(now),
    };
    html(&page, StatusCode::OK)
}
