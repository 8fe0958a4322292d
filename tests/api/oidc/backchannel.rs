//! OpenID Connect Back-Channel Logout 1.0: however a session ends, its client's back channel
//! gets a logout token, checked by a relying party built on PyJWT
//! (`tests/backchannel_receiver.py`) against the JWKS: signature, `typ`, `iss`, `aud`,
//! `events`, `sid`, `sub`, no `nonce`. Delivery goes through the outbox: retried while the
//! relying party is away, cut short when it hangs, never holding up the logout itself.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SIGNED_OUT_URI, openid_tokens, signed_in, verify_id_token};
use crate::{
    admin::Admin,
    browser::Browser,
    code_flow::{REDIRECT_URI, register_client},
    helpers::{ISSUER, TestApp, eventually, spawn_app},
    receiver::Receiver,
};

const CLIENT_ID: &str = "backchannel-rp";

/// The relying party's back channel, and the client registered with it.
async fn relying_party(app: &TestApp) -> Receiver {
    let jwks = app.url("/.well-known/jwks.json");
    let receiver = Receiver::start(
        "backchannel_receiver.py",
        &[
            "--jwks",
            &jwks,
            "--issuer",
            ISSUER,
            "--client-id",
            CLIENT_ID,
        ],
    )
    .await;
    let backchannel = format!("http://127.0.0.1:{}/backchannel", receiver.port);
    register_client(
        app,
        &[
            "--client-id",
            CLIENT_ID,
            "--name",
            "Back Channel RP",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--post-logout-redirect-uri",
            SIGNED_OUT_URI,
            "--backchannel-logout-uri",
            &backchannel,
            "--backchannel-logout-session-required",
        ],
    );
    receiver
}

/// A new user signed in in a new browser: the browser, the user's id and password.
async fn signed_in_with_password<'a>(
    app: &'a TestApp,
    username: &str,
) -> (Browser<'a>, String, String) {
    let mut browser = Browser::new(app);
    let password = browser.signed_in_as(username).await;
    let me: Value = app.me(&browser.access_token()).await.json().await.unwrap();
    (browser, me["id"].as_str().unwrap().to_owned(), password)
}

/// The count of logout deliveries that ended `outcome`.
async fn deliveries(app: &TestApp, outcome: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let series = format!(r#"authd_outbox_deliveries_total{{outcome="{outcome}",topic="logout"}} "#);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A session of the client for the browser's user: its `sid`, and the tokens.
async fn session(app: &TestApp, browser: &mut Browser<'_>, scope: &str) -> (String, Value) {
    let tokens = openid_tokens(app, browser, CLIENT_ID, scope, &[]).await;
    let claims = verify_id_token(app, tokens["id_token"].as_str().unwrap(), CLIENT_ID).await;
    (claims["sid"].as_str().unwrap().to_owned(), tokens)
}

/// Waits for a logout token for `sid` that the relying party validated and accepted.
async fn told(receiver: &Receiver, sid: &str, user_id: &str) -> Value {
    let arrived = eventually(Duration::from_secs(30), || async {
        receiver
            .requests()
            .iter()
            .any(|line| line["verified"] == true && line["claims"]["sid"] == sid)
    })
    .await;
    assert!(
        arrived,
        "no valid logout token for {sid}: {:#?}",
        receiver.requests()
    );
    let line = receiver
        .requests()
        .into_iter()
        .find(|line| line["verified"] == true && line["claims"]["sid"] == sid)
        .unwrap();
    assert_eq!(line["header"]["typ"], "logout+jwt");
    assert_eq!(line["claims"]["sub"], user_id);
    assert_eq!(line["claims"]["aud"], CLIENT_ID);
    assert!(line["claims"].get("nonce").is_none());
    line
}

#[tokio::test]
async fn every_way_a_session_ends_sends_its_client_a_logout_token() {
    let app = spawn_app().await;
    let receiver = relying_party(&app).await;
    let (mut browser, user_id, password) = signed_in_with_password(&app, "alice").await;

    // RP-initiated logout with the ID token as hint.
    let (sid, tokens) = session(&app, &mut browser, "openid").await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", SIGNED_OUT_URI)
        .finish();
    let page = browser.get(&format!("/oauth/end_session?{query}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    told(&receiver, &sid, &user_id).await;

    // Signing out of authd's own pages: the sessions that sign-in gave clients end with it.
    browser.log_in("alice", &password).await;
    let (sid, _) = session(&app, &mut browser, "openid").await;
    let page = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    told(&receiver, &sid, &user_id).await;

    // Ended on the profile page.
    browser.log_in("alice", &password).await;
    let (sid, _) = session(&app, &mut browser, "openid").await;
    let page = browser
        .submit("/ui/profile", &format!("/ui/sessions/{sid}/revoke"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    told(&receiver, &sid, &user_id).await;

    // A refresh token used twice: the whole session ends (RFC 9700 §4.14).
    let (sid, tokens) = session(&app, &mut browser, "openid offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let first = crate::code_flow::refresh(&app, CLIENT_ID, refresh_token).await;
    assert_eq!(first.status(), StatusCode::OK);
    let again = crate::code_flow::refresh(&app, CLIENT_ID, refresh_token).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    told(&receiver, &sid, &user_id).await;

    // An administrator disables the user: every session ends.
    let (sid, _) = session(&app, &mut browser, "openid offline_access").await;
    let admin = Admin::new(&app).await;
    let disabled = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/users/{user_id}"),
            Some(json!({ "disabled": true })),
            None,
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    told(&receiver, &sid, &user_id).await;

    // An administrator deletes a user: their sessions end first, each told.
    let (mut other, other_id, _) = signed_in_with_password(&app, "alex").await;
    let (sid, _) = session(&app, &mut other, "openid").await;
    let deleted = admin.delete(&format!("/admin/users/{other_id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    told(&receiver, &sid, &other_id).await;
    assert!(deliveries(&app, "sent").await >= 6);
}

#[tokio::test]
async fn a_session_granted_offline_access_outlives_signing_out_of_authd() {
    let app = spawn_app().await;
    let receiver = relying_party(&app).await;
    let (mut browser, user_id) = signed_in(&app, "bob").await;
    let (offline, tokens) = session(&app, &mut browser, "openid offline_access").await;
    let (online, _) = session(&app, &mut browser, "openid").await;
    browser.submit("/ui/profile", "/ui/logout", &[]).await;
    told(&receiver, &online, &user_id).await;
    // Back-Channel Logout §2.7: an offline session is not the browser's to end.
    let refreshed =
        crate::code_flow::refresh(&app, CLIENT_ID, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert!(
        !receiver
            .requests()
            .iter()
            .any(|line| line["claims"]["sid"] == offline.as_str()),
        "{:#?}",
        receiver.requests()
    );
}

#[tokio::test]
async fn a_relying_party_that_was_away_gets_its_logout_token_when_it_is_back() {
    let app = spawn_app().await;
    let mut receiver = relying_party(&app).await;
    let (mut browser, user_id) = signed_in(&app, "carol").await;
    let (sid, _) = session(&app, &mut browser, "openid").await;
    receiver.command("down").await;
    let page = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // The first attempts fail (connection refused) and are retried with backoff.
    let retried = eventually(Duration::from_secs(10), || async {
        deliveries(&app, "retried").await > 0
    })
    .await;
    assert!(retried, "a failed delivery is counted as retried");
    receiver.command("up").await;
    told(&receiver, &sid, &user_id).await;
}

#[tokio::test]
async fn a_hung_relying_party_holds_up_neither_the_logout_nor_its_own_token_for_long() {
    let app = spawn_app().await;
    let mut receiver = relying_party(&app).await;
    let (mut browser, user_id) = signed_in(&app, "dave").await;
    let (sid, _) = session(&app, &mut browser, "openid").await;
    receiver.command("slow").await;
    let page = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    // The sign-out is answered while the relying party hangs: nothing of it waits for one.
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(receiver.requests().is_empty());
    // The hung attempt is cut off after its timeout and tried again; once the relying party
    // answers promptly, the token arrives.
    receiver.command("fast").await;
    let line = told(&receiver, &sid, &user_id).await;
    assert_eq!(line["slow"], false);
}

#[tokio::test]
async fn a_client_registers_its_logout_channels_through_every_door() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        dynamic_registration: true,
        ..crate::helpers::AppOptions::default()
    })
    .await;
    // RFC 7591.
    let registered = app
        .client
        .post(app.url("/oauth/register"))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "backchannel_logout_uri": "https://rp.example/bc",
            "backchannel_logout_session_required": true,
            "frontchannel_logout_uri": "https://rp.example/fc",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    assert_eq!(
        registered["backchannel_logout_uri"],
        "https://rp.example/bc"
    );
    assert_eq!(registered["backchannel_logout_session_required"], true);
    assert_eq!(
        registered["frontchannel_logout_uri"],
        "https://rp.example/fc"
    );
    assert_eq!(registered["frontchannel_logout_session_required"], false);
    // Plain http away from a loopback address, or a fragment, is refused.
    for uri in ["http://rp.example/bc", "https://rp.example/bc#x"] {
        let refused = app
            .client
            .post(app.url("/oauth/register"))
            .json(&json!({ "redirect_uris": [REDIRECT_URI], "backchannel_logout_uri": uri }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{uri}");
    }
    // The admin API, and the command line.
    let admin = Admin::new(&app).await;
    let created: Value = admin
        .post(
            "/admin/clients",
            json!({ "client_name": "Notes", "redirect_uris": [REDIRECT_URI],
                    "frontchannel_logout_uri": "https://notes.example/fc",
                    "frontchannel_logout_session_required": true }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        created["frontchannel_logout_uri"],
        "https://notes.example/fc"
    );
    assert_eq!(created["frontchannel_logout_session_required"], true);
    let made = register_client(
        &app,
        &[
            "--name",
            "CLI",
            "--redirect-uri",
            REDIRECT_URI,
            "--backchannel-logout-uri",
            "https://cli.example/bc",
        ],
    );
    assert_eq!(made["backchannel_logout_uri"], "https://cli.example/bc");
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(metadata[field], true, "{field}");
    }
}

#[tokio::test]
async fn the_sign_out_page_loads_each_front_channel_with_iss_and_sid() {
    let app = spawn_app().await;
    register_client(
        &app,
        &[
            "--client-id",
            "front-rp",
            "--name",
            "Front RP",
            "--public",
            "--redirect-uri",
            REDIRECT_URI,
            "--frontchannel-logout-uri",
            "https://front.example/logout?from=authd",
            "--frontchannel-logout-session-required",
        ],
    );
    let (mut browser, _) = signed_in(&app, "erin").await;
    let tokens = openid_tokens(&app, &mut browser, "front-rp", "openid", &[]).await;
    let claims = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), "front-rp").await;
    let sid = claims["sid"].as_str().unwrap();
    let page = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let expected = format!(
        "https://front.example/logout?from=authd&#38;iss={}&#38;sid={sid}",
        url::form_urlencoded::byte_serialize(ISSUER.as_bytes()).collect::<String>()
    );
    assert!(page.body.contains(&expected), "{}", page.body);
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.ends_with("frame-src https://front.example"),
        "{policy}"
    );
    assert!(
        page.headers["refresh"]
            .to_str()
            .unwrap()
            .contains("/ui/login")
    );
    // Signed out all the same.
    assert_eq!(
        browser.get("/ui/profile").await.status,
        StatusCode::SEE_OTHER
    );
}
