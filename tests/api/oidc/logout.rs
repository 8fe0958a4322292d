//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), one test per variant of the
//! OpenID Foundation's RP-initiated logout OP test plan.

use reqwest::{StatusCode, header};
use url::Url;

use super::{SIGNED_OUT_URI, SIGNED_OUT_URI_WITH_QUERY, oidc_client, openid_tokens, signed_in};
use crate::{
    browser::{Browser, Page},
    helpers::TestApp,
    helpers::spawn_app,
};

fn end_session_path(params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/oauth/end_session?{query}")
}

/// A signed-in browser whose user holds tokens from the client: (browser, client, tokens).
async fn session_with_tokens(app: &TestApp) -> (Browser<'_>, String, serde_json::Value) {
    let client_id = oidc_client(app);
    let (mut browser, _) = signed_in(app, "alice").await;
    // offline_access: the client's refresh token shows whether its session lives on.
    let tokens = openid_tokens(app, &mut browser, &client_id, "openid offline_access", &[]).await;
    (browser, client_id, tokens)
}

async fn signed_in_to_authd(browser: &mut Browser<'_>) -> bool {
    browser.get("/ui/profile").await.status == StatusCode::OK
}

/// Whether the client's session (its refresh token) still works.
async fn refreshes(app: &TestApp, client_id: &str, tokens: &serde_json::Value) -> bool {
    crate::code_flow::refresh(app, client_id, tokens["refresh_token"].as_str().unwrap())
        .await
        .status()
        == StatusCode::OK
}

fn assert_error_page(page: &Page) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.headers.get(header::LOCATION).is_none(), "sent nowhere");
}

/// Answers the confirmation page shown.
async fn confirm(browser: &mut Browser<'_>, page: &Page, decision: &str) -> Page {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Sign out of authd?"), "{}", page.body);
    let mut fields: Vec<(String, String)> = [
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "csrf",
    ]
    .iter()
    .filter(|name| page.body.contains(&format!("name=\"{name}\"")))
    .map(|name| ((*name).to_owned(), page.input(name)))
    .collect();
    fields.push(("decision".to_owned(), decision.to_owned()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser
        .post_raw("/oauth/end_session/confirm", &fields)
        .await
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_ends_both_sessions_and_returns_with_state() {
    let app = spawn_app().await;
    let (mut browser, client_id, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
            ("state", "bye-1"),
        ]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), format!("{SIGNED_OUT_URI}?state=bye-1"));
    assert!(
        !signed_in_to_authd(&mut browser).await,
        "the browser's session ended"
    );
    assert!(
        !refreshes(&app, &client_id, &tokens).await,
        "the client's session ended"
    );
    assert_eq!(
        app.me_status(tokens["access_token"].as_str().unwrap())
            .await,
        401,
        "with its access tokens"
    );
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_id_token_hint_is_an_error_page() {
    let app = spawn_app().await;
    let (mut browser, client_id, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ]))
        .await;
    assert_error_page(&page);
    assert!(signed_in_to_authd(&mut browser).await);
    assert!(refreshes(&app, &client_id, &tokens).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_modified_id_token_hint_is_an_error_page() {
    let app = spawn_app().await;
    let (mut browser, _, tokens) = session_with_tokens(&app).await;
    let genuine = tokens["id_token"].as_str().unwrap();
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut claims = crate::tokens::claims_of(genuine);
    claims["sub"] = serde_json::json!("someone-else");
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", &parts.join(".")),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ]))
        .await;
    assert_error_page(&page);
    assert!(signed_in_to_authd(&mut browser).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri_is_an_error_page() {
    let app = spawn_app().await;
    let (mut browser, client_id, tokens) = session_with_tokens(&app).await;
    for uri in [
        "https://attacker.example/",
        "https://rp.example/signed-out/extra",
        "https://rp.example/bye", // registered with a query: exact match only
    ] {
        let page = browser
            .get(&end_session_path(&[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", uri),
            ]))
            .await;
        assert_error_page(&page);
    }
    // Without a hint or client_id, no address can be checked: none is followed.
    let page = browser
        .get(&end_session_path(&[(
            "post_logout_redirect_uri",
            SIGNED_OUT_URI,
        )]))
        .await;
    assert_error_page(&page);
    assert!(signed_in_to_authd(&mut browser).await);
    assert!(refreshes(&app, &client_id, &tokens).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    let app = spawn_app().await;
    let (mut browser, _, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", SIGNED_OUT_URI_WITH_QUERY),
            ("state", "s2"),
        ]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let url = Url::parse(page.location()).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("from".to_owned(), "authd".to_owned()),
            ("state".to_owned(), "s2".to_owned())
        ]
    );
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_id_token_hint_asks_the_user_first() {
    let app = spawn_app().await;
    let (mut browser, client_id, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[
            ("client_id", &client_id),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
            ("state", "s3"),
        ]))
        .await;
    assert!(
        page.body.contains("Photo Book"),
        "names the client: {}",
        page.body
    );
    assert!(
        signed_in_to_authd(&mut browser).await,
        "nothing ends before the answer"
    );
    let done = confirm(&mut browser, &page, "sign_out").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), format!("{SIGNED_OUT_URI}?state=s3"));
    assert!(!signed_in_to_authd(&mut browser).await);
    // Without a hint no client session is named: it is the client's to end.
    assert!(refreshes(&app, &client_id, &tokens).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_a_stale_hint_asks_the_user_first() {
    let app = spawn_app().await;
    let (mut alice, client_id, tokens) = session_with_tokens(&app).await;
    // Bob is signed in in this browser; the hint names Alice: ask, do not act.
    let (mut bob, _) = signed_in(&app, "bob").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let page = bob
        .get(&end_session_path(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("bob"));
    let stay = confirm(&mut bob, &page, "stay").await;
    assert_eq!(stay.location(), "/ui");
    assert!(signed_in_to_authd(&mut bob).await);
    assert!(signed_in_to_authd(&mut alice).await);
    assert!(refreshes(&app, &client_id, &tokens).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri_stays_on_authd() {
    let app = spawn_app().await;
    let (mut browser, client_id, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[(
            "id_token_hint",
            tokens["id_token"].as_str().unwrap(),
        )]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/ui/login?notice="),
        "{}",
        page.location()
    );
    assert!(!signed_in_to_authd(&mut browser).await);
    assert!(!refreshes(&app, &client_id, &tokens).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_state_returns_without_one() {
    let app = spawn_app().await;
    let (mut browser, _, tokens) = session_with_tokens(&app).await;
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ]))
        .await;
    assert_eq!(page.location(), SIGNED_OUT_URI);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_only_state_asks_and_stays_on_authd() {
    let app = spawn_app().await;
    let (mut browser, _, _) = session_with_tokens(&app).await;
    let page = browser.get(&end_session_path(&[("state", "s4")])).await;
    let done = confirm(&mut browser, &page, "sign_out").await;
    assert!(
        done.location().starts_with("/ui/login?notice="),
        "no address to return to"
    );
    assert!(!signed_in_to_authd(&mut browser).await);
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_params_asks_then_signs_out() {
    let app = spawn_app().await;
    let (mut browser, _, _) = session_with_tokens(&app).await;
    let page = browser.get("/oauth/end_session").await;
    let done = confirm(&mut browser, &page, "sign_out").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(!signed_in_to_authd(&mut browser).await);
}

#[tokio::test]
async fn rp_initiated_logout_can_be_posted_as_a_form() {
    let app = spawn_app().await;
    let (mut browser, _, tokens) = session_with_tokens(&app).await;
    let request = browser.client.post(app.url("/oauth/end_session")).form(&[
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ("state", "p"),
    ]);
    let page = browser.send(request).await;
    assert_eq!(page.location(), format!("{SIGNED_OUT_URI}?state=p"));
    assert!(!signed_in_to_authd(&mut browser).await);
}

#[tokio::test]
async fn a_confirmation_without_its_csrf_token_ends_nothing() {
    let app = spawn_app().await;
    let (mut browser, _, _) = session_with_tokens(&app).await;
    let page = browser
        .post_raw("/oauth/end_session/confirm", &[("decision", "sign_out")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(signed_in_to_authd(&mut browser).await);
}

#[tokio::test]
async fn a_hint_and_client_id_that_disagree_are_refused() {
    let app = spawn_app().await;
    let (mut browser, _, tokens) = session_with_tokens(&app).await;
    let other = oidc_client(&app);
    let page = browser
        .get(&end_session_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("client_id", &other),
            ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ]))
        .await;
    assert_error_page(&page);
}
