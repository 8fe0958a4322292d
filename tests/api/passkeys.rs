//! Passkeys (WebAuthn) in the web UI, driven by a software authenticator: registering one
//! from the profile, logging in with it and no username, using it as the second step after a
//! password, passkey-only accounts, re-authentication, and the ceremony rules (origin, relying
//! party, single-use challenges, cloned authenticators).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    browser::{Browser, Page},
    helpers::{AppOptions, TestApp, spawn_app, spawn_app_with},
    soft_authenticator::SoftAuthenticator,
};

/// The relying party the passkey apps run as: a domain (WebAuthn has none on an address).
const ORIGIN: &str = "http://localhost";
const RP_ID: &str = "localhost";

async fn passkey_app() -> TestApp {
    spawn_app_with(AppOptions {
        public_url: Some(ORIGIN.to_owned()),
        ..AppOptions::default()
    })
    .await
}

/// The ceremony a passkey page carries: its options (unescaped from the form's attribute), its
/// id, the page's CSRF token, and where its answer goes.
struct CeremonyPage {
    options: Value,
    id: String,
    csrf: String,
    action: String,
    authorization: Option<String>,
}

fn attribute(body: &str, name: &str) -> String {
    let start = body
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
        + name.len()
        + 2;
    let end = body[start..].find('"').unwrap() + start;
    body[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn ceremony(page: &Page) -> CeremonyPage {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    CeremonyPage {
        options: serde_json::from_str(&attribute(body, "data-options")).unwrap(),
        id: page.input("ceremony"),
        csrf: page.input("csrf"),
        // The ceremony's own form (the page's header has the logout form too).
        action: {
            let form = body.find("id=\"passkey-form\"").expect("a ceremony form");
            let start = body[..form].rfind("<form").unwrap();
            attribute(&body[start..], "action")
        },
        authorization: body
            .contains("name=\"authorization\"")
            .then(|| page.input("authorization")),
    }
}

async fn answer(browser: &mut Browser<'_>, ceremony: &CeremonyPage, response: &str) -> Page {
    let mut fields = vec![
        ("csrf", ceremony.csrf.as_str()),
        ("ceremony", ceremony.id.as_str()),
        ("response", response),
    ];
    if let Some(authorization) = &ceremony.authorization {
        fields.push(("authorization", authorization));
    }
    browser.post_raw(&ceremony.action, &fields).await
}

/// Adds a passkey called `name` for the signed-in user, confirming with `password`.
async fn add_passkey(
    browser: &mut Browser<'_>,
    authenticator: &mut SoftAuthenticator,
    name: &str,
    password: &str,
) -> Page {
    let begun = browser
        .submit(
            "/ui/profile",
            "/ui/profile/passkeys",
            &[("name", name), ("password", password)],
        )
        .await;
    let page = ceremony(&begun);
    assert_eq!(page.action, "/ui/profile/passkeys/finish");
    let selection = &page.options["publicKey"]["authenticatorSelection"];
    assert_eq!(
        selection["residentKey"], "required",
        "a discoverable credential"
    );
    assert_eq!(selection["userVerification"], "required");
    let response = authenticator.register(&page.options);
    answer(browser, &page, &response).await
}

/// Starts a passkey login from the login page: its ceremony.
async fn begin_passkey_login(browser: &mut Browser<'_>) -> CeremonyPage {
    let begun = browser.submit("/ui/login", "/ui/login/passkey", &[]).await;
    let page = ceremony(&begun);
    assert_eq!(page.action, "/ui/login/passkey/finish");
    assert_eq!(
        page.options["publicKey"]
            .get("allowCredentials")
            .map_or(0, |list| list.as_array().unwrap().len()),
        0,
        "a discoverable login names no credential: {}",
        page.options
    );
    page
}

async fn log_in_with(browser: &mut Browser<'_>, authenticator: &mut SoftAuthenticator) -> Page {
    let page = begin_passkey_login(browser).await;
    let response = authenticator.assert(&page.options);
    answer(browser, &page, &response).await
}

async fn log_out(browser: &mut Browser<'_>) {
    let out = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
}

/// A user signed in with a passkey registered: the browser, the authenticator, the password.
async fn user_with_passkey<'a>(
    app: &'a TestApp,
    username: &str,
) -> (Browser<'a>, SoftAuthenticator, String) {
    let mut browser = Browser::new(app);
    let password = browser.signed_in_as(username).await;
    let mut authenticator = SoftAuthenticator::new(RP_ID, ORIGIN);
    let added = add_passkey(&mut browser, &mut authenticator, "laptop", &password).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.location(), "/ui/profile?notice=passkey-added");
    (browser, authenticator, password)
}

/// The first "remove" form's action on the profile.
async fn remove_action(browser: &mut Browser<'_>) -> String {
    let profile = browser.get("/ui/profile").await;
    let start = profile
        .body
        .find("action=\"/ui/profile/passkeys/")
        .unwrap_or_else(|| panic!("no passkey to remove in:\n{}", profile.body))
        + "action=\"".len();
    let end = profile.body[start..].find('"').unwrap() + start;
    profile.body[start..end].to_owned()
}

async fn user_id(app: &TestApp, username: &str) -> String {
    let row = app
        .db()
        .await
        .query_one("SELECT id FROM users WHERE username = $1", &[&username])
        .await
        .unwrap();
    row.get::<_, uuid::Uuid>(0).to_string()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_passkey_from_the_profile_logs_its_user_in_without_a_username_or_password() {
    let app = passkey_app().await;
    let (mut browser, mut authenticator, _) = user_with_passkey(&app, "alice").await;
    let profile = browser.get("/ui/profile").await;
    assert!(profile.body.contains("<td>laptop</td>"), "{}", profile.body);
    assert!(
        profile.body.contains("never"),
        "not used yet: {}",
        profile.body
    );

    log_out(&mut browser).await;
    assert!(!browser.cookies.contains_key("authd_session"));
    let login_page = browser.get("/ui/login").await;
    assert!(login_page.body.contains("Log in with a passkey"));

    let signed_in = log_in_with(&mut browser, &mut authenticator).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/ui/profile");
    let token = claims(&browser.access_token());
    assert_eq!(token["sub"], user_id(&app, "alice").await);
    let profile = browser.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(
        !profile.body.contains(">never<"),
        "last used now: {}",
        profile.body
    );
}

#[tokio::test]
async fn with_a_passkey_a_password_login_asks_for_it_and_the_password_grants_refuse() {
    let app = passkey_app().await;
    let (mut browser, mut authenticator, password) = user_with_passkey(&app, "bob").await;
    log_out(&mut browser).await;

    let after_password = browser.log_in("bob", &password).await;
    assert_eq!(
        after_password.status,
        StatusCode::SEE_OTHER,
        "{}",
        after_password.body
    );
    assert_eq!(after_password.location(), "/ui/login/code");
    assert!(
        !browser.cookies.contains_key("authd_session"),
        "not signed in yet"
    );
    let step = browser.get("/ui/login/code").await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    assert!(
        !step.body.contains("name=\"code\""),
        "no TOTP here: {}",
        step.body
    );

    let begun = browser
        .submit("/ui/login/code", "/ui/login/code/passkey", &[])
        .await;
    let page = ceremony(&begun);
    let allowed = page.options["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(
        allowed.len(),
        1,
        "the user's own passkeys: {}",
        page.options
    );
    let response = authenticator.assert(&page.options);
    let done = answer(&mut browser, &page, &response).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/ui/profile");
    assert!(browser.cookies.contains_key("authd_session"));

    // The routes that cannot carry a second step refuse the account, naming the ones that can.
    let auth = app
        .client
        .post(app.url("/auth"))
        .json(&json!({"username": "bob", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), StatusCode::FORBIDDEN);
    let body: Value = auth.json().await.unwrap();
    assert_eq!(body["error"], "second_factor_required");
}

#[tokio::test]
async fn a_response_for_another_origin_or_relying_party_is_refused() {
    let app = passkey_app().await;
    let (mut browser, authenticator, _) = user_with_passkey(&app, "carol").await;
    log_out(&mut browser).await;

    let mut elsewhere = authenticator.clone();
    elsewhere.origin = "http://evil.localhost".to_owned();
    let page = begin_passkey_login(&mut browser).await;
    let refused = answer(&mut browser, &page, &elsewhere.assert(&page.options)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(
        refused.body.contains("passkey was not accepted"),
        "{}",
        refused.body
    );

    let mut other_rp = authenticator.clone();
    other_rp.rp_id = "example.com".to_owned();
    let page = begin_passkey_login(&mut browser).await;
    let refused = answer(&mut browser, &page, &other_rp.assert(&page.options)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(!browser.cookies.contains_key("authd_session"));

    // A registration made for another relying party is refused too.
    let password = browser.signed_in_as("dave").await;
    let mut foreign = SoftAuthenticator::new("example.com", ORIGIN);
    let added = add_passkey(&mut browser, &mut foreign, "foreign", &password).await;
    assert_eq!(added.status, StatusCode::UNAUTHORIZED, "{}", added.body);
    let profile = browser.get("/ui/profile").await;
    assert!(!profile.body.contains("<td>foreign</td>"));
}

#[tokio::test]
async fn a_challenge_answers_once() {
    let app = passkey_app().await;
    let (mut browser, mut authenticator, _) = user_with_passkey(&app, "erin").await;
    log_out(&mut browser).await;

    let page = begin_passkey_login(&mut browser).await;
    let response = authenticator.assert(&page.options);
    let first = answer(&mut browser, &page, &response).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    log_out(&mut browser).await;

    // The same answer again (a replay): its challenge was spent.
    let csrf = browser.get("/ui/login").await.input("csrf");
    let replayed = browser
        .post_raw(
            "/ui/login/passkey/finish",
            &[
                ("csrf", &csrf),
                ("ceremony", &page.id),
                ("response", &response),
            ],
        )
        .await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.body
    );
    assert!(!browser.cookies.contains_key("authd_session"));

    // An answer to one challenge does not finish another ceremony.
    let other = begin_passkey_login(&mut browser).await;
    let mismatched = answer(&mut browser, &other, &response).await;
    assert_eq!(
        mismatched.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        mismatched.body
    );
}

#[tokio::test]
async fn a_cloned_authenticator_shows_by_its_counter_and_is_refused() {
    let app = passkey_app().await;
    let (mut browser, mut authenticator, _) = user_with_passkey(&app, "frank").await;
    log_out(&mut browser).await;
    assert_eq!(
        log_in_with(&mut browser, &mut authenticator).await.status,
        StatusCode::SEE_OTHER
    );
    log_out(&mut browser).await;

    let clone = authenticator.clone();
    assert_eq!(
        log_in_with(&mut browser, &mut authenticator).await.status,
        StatusCode::SEE_OTHER
    );
    log_out(&mut browser).await;

    // The copy's counter is behind the original's: refused.
    let page = begin_passkey_login(&mut browser).await;
    let mut copy = clone.clone();
    let refused = answer(&mut browser, &page, &copy.assert(&page.options)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(!browser.cookies.contains_key("authd_session"));
}

#[tokio::test]
async fn passkey_changes_take_re_authentication() {
    let app = passkey_app().await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("grace").await;

    let without = browser
        .submit("/ui/profile", "/ui/profile/passkeys", &[("name", "phone")])
        .await;
    assert_eq!(
        without.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        without.body
    );
    assert!(
        without.body.contains("Password is required"),
        "{}",
        without.body
    );

    let wrong = browser
        .submit(
            "/ui/profile",
            "/ui/profile/passkeys",
            &[("name", "phone"), ("password", "not the password at all")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);

    let mut authenticator = SoftAuthenticator::new(RP_ID, ORIGIN);
    let added = add_passkey(&mut browser, &mut authenticator, "phone", &password).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);

    // The same authenticator again: refused (it is excluded, and its id is taken).
    let again = add_passkey(&mut browser, &mut authenticator, "phone again", &password).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    let remove = remove_action(&mut browser).await;
    let refused = browser.submit("/ui/profile", &remove, &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let removed = browser
        .submit("/ui/profile", &remove, &[("password", &password)])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let profile = browser.get("/ui/profile").await;
    assert!(!profile.body.contains("<td>phone</td>"), "{}", profile.body);
}

#[tokio::test]
async fn a_passkey_only_account_takes_no_password_anywhere() {
    let app = passkey_app().await;
    let (mut browser, mut authenticator, password) = user_with_passkey(&app, "heidi").await;

    let dropped = browser
        .submit(
            "/ui/profile",
            "/ui/profile/passkey-only",
            &[("password", &password)],
        )
        .await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER, "{}", dropped.body);
    let row = app
        .db()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE username = 'heidi'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0),
        None,
        "the password is deleted"
    );

    // The old password opens nothing, with the answer an unknown user gets.
    log_out(&mut browser).await;
    let refused = browser.log_in("heidi", &password).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(
        refused.body.contains("Wrong username or password"),
        "{}",
        refused.body
    );
    let auth = app
        .client
        .post(app.url("/auth"))
        .json(&json!({"username": "heidi", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), StatusCode::UNAUTHORIZED);

    // The passkey does.
    let signed_in = log_in_with(&mut browser, &mut authenticator).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );

    // The last passkey cannot go, even after confirming with it.
    let remove = remove_action(&mut browser).await;
    let unconfirmed = browser.submit("/ui/profile", &remove, &[]).await;
    assert_eq!(
        unconfirmed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unconfirmed.body
    );
    assert!(
        unconfirmed.body.contains("confirm with a passkey"),
        "{}",
        unconfirmed.body
    );

    let begun = browser
        .submit("/ui/profile", "/ui/profile/reauthenticate", &[])
        .await;
    let page = ceremony(&begun);
    let confirmed = answer(&mut browser, &page, &authenticator.assert(&page.options)).await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    assert_eq!(confirmed.location(), "/ui/profile?notice=reauthenticated");

    let last = browser.submit("/ui/profile", &remove, &[]).await;
    assert_eq!(
        last.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        last.body
    );
    assert!(last.body.contains("last one"), "{}", last.body);

    // A new password, confirmed by the passkey a moment ago: the account has both again.
    let weak = browser
        .submit(
            "/ui/profile",
            "/ui/profile/password",
            &[("new_password", "password1234")],
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.body
    );
    let set = browser
        .submit(
            "/ui/profile",
            "/ui/profile/password",
            &[("new_password", "correct horse battery staple 42")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    log_out(&mut browser).await;
    let after_password = browser
        .log_in("heidi", "correct horse battery staple 42")
        .await;
    assert_eq!(
        after_password.location(),
        "/ui/login/code",
        "the passkey is its second step"
    );
}

#[tokio::test]
async fn without_a_domain_name_passkeys_are_off() {
    // The default test app serves on 127.0.0.1: WebAuthn has no relying party there.
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/ui/login").await;
    assert!(!login.body.contains("Log in with a passkey"));
    let refused = browser.submit("/ui/login", "/ui/login/passkey", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("not available"), "{}", refused.body);
    browser.signed_in_as("ivan").await;
    let profile = browser.get("/ui/profile").await;
    assert!(
        profile.body.contains("Passkeys are not available"),
        "{}",
        profile.body
    );
}

/// Runs the code flow's login with a passkey alone, from the login page the authorization
/// request leads to: the ID token's claims.
async fn code_flow_with_passkey(
    app: &TestApp,
    browser: &mut Browser<'_>,
    authenticator: &mut SoftAuthenticator,
    client_id: &str,
) -> Value {
    let (verifier, challenge) = crate::code_flow::pkce();
    let start = browser
        .get(&crate::oidc::openid_request(
            client_id,
            &challenge,
            "openid",
            &[],
        ))
        .await;
    let login = browser.get(start.location()).await;
    assert!(
        login.body.contains("Log in with a passkey"),
        "{}",
        login.body
    );
    let begun = browser
        .post_raw(
            "/ui/login/passkey",
            &[
                ("csrf", &login.input("csrf")),
                ("authorization", &login.input("authorization")),
            ],
        )
        .await;
    let page = ceremony(&begun);
    assert!(
        page.authorization.is_some(),
        "the ceremony carries the request"
    );
    let after = answer(browser, &page, &authenticator.assert(&page.options)).await;
    crate::oidc::id_token_after(app, browser, after, client_id, &verifier).await
}

#[tokio::test]
async fn id_tokens_say_how_a_passkey_login_went_in_amr() {
    let app = passkey_app().await;
    let client_id = crate::oidc::oidc_client(&app);
    let (mut browser, mut device_bound, password) = user_with_passkey(&app, "judy").await;
    let mut synced = SoftAuthenticator::new(RP_ID, ORIGIN);
    synced.backup_eligible = true;
    let added = add_passkey(&mut browser, &mut synced, "phone", &password).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    log_out(&mut browser).await;

    // RFC 8176: a hardware-bound key, or a software (synced) one; user verification makes
    // either more than one factor.
    let claims = code_flow_with_passkey(&app, &mut browser, &mut device_bound, &client_id).await;
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]));
    log_out(&mut browser).await;
    let claims = code_flow_with_passkey(&app, &mut browser, &mut synced, &client_id).await;
    assert_eq!(claims["amr"], json!(["swk", "mfa"]));
    log_out(&mut browser).await;

    // After a password, the passkey as the second step.
    let (verifier, challenge) = crate::code_flow::pkce();
    let start = browser
        .get(&crate::oidc::openid_request(
            &client_id,
            &challenge,
            "openid",
            &[],
        ))
        .await;
    let login_path = start.location().to_owned();
    let code_page =
        crate::code_flow::log_in_here(&mut browser, &login_path, "judy", &password).await;
    assert!(
        code_page.body.contains("Use a passkey"),
        "{}",
        code_page.body
    );
    let begun = browser
        .post_raw(
            "/ui/login/code/passkey",
            &[("csrf", &code_page.input("csrf"))],
        )
        .await;
    let page = ceremony(&begun);
    let after = answer(&mut browser, &page, &device_bound.assert(&page.options)).await;
    let claims =
        crate::oidc::id_token_after(&app, &mut browser, after, &client_id, &verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]));
}

#[tokio::test]
async fn a_clone_is_refused_even_in_a_ceremony_begun_before_the_original_was_used() {
    let app = passkey_app().await;
    let (mut browser, mut original, _) = user_with_passkey(&app, "ken").await;
    let mut copy = original.clone();

    // A ceremony begins: its state holds the passkey's counter as it is now.
    let begun = browser
        .submit("/ui/profile", "/ui/profile/reauthenticate", &[])
        .await;
    let page = ceremony(&begun);

    // Meanwhile the original is used elsewhere, and the counter moves on.
    let mut elsewhere = Browser::new(&app);
    let used = log_in_with(&mut elsewhere, &mut original).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);

    // The copy's answer is ahead of the state's counter but not of the stored one: refused.
    let refused = answer(&mut browser, &page, &copy.assert(&page.options)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(!refused.body.contains("Confirmed"), "{}", refused.body);
}

#[tokio::test]
async fn a_ceremony_begun_on_one_replica_finishes_on_another() {
    let app = passkey_app().await;
    let sibling = app.spawn_sibling().await;
    let (mut browser, mut authenticator, _) = user_with_passkey(&app, "leo").await;
    log_out(&mut browser).await;

    // The options come from one replica; the load balancer sends the answer to the other.
    let page = begin_passkey_login(&mut browser).await;
    let mut elsewhere = Browser::new(&sibling);
    elsewhere.cookies = browser.cookies.clone();
    let signed_in = answer(&mut elsewhere, &page, &authenticator.assert(&page.options)).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert!(elsewhere.cookies.contains_key("authd_session"));

    // And the challenge is spent for both.
    let replayed = answer(&mut browser, &page, &authenticator.assert(&page.options)).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.body
    );
}
