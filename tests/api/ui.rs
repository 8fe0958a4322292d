//! The web UI under `/ui`, driven as a browser would drive it (without JavaScript): cookies kept
//! between requests, forms posted with their CSRF token, redirects looked at rather than
//! followed. tests/browser/ runs the same journeys in a real Chromium.

use std::sync::Arc;

use authd::clock::ManualClock;
use reqwest::{StatusCode, header};

use crate::{
    browser::Browser,
    helpers::{AppOptions, spawn_app, spawn_app_with},
    tokens::claims_of,
};

#[tokio::test]
async fn every_page_is_html_under_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("pages").await;
    for path in ["/ui", "/ui/", "/ui/register", "/ui/keys", "/ui/profile"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(
            page.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
        // Nothing inline that the policy would block: every script is a file, no style attributes.
        assert!(!page.body.contains("<script>"), "{path}");
        assert!(!page.body.contains("style="), "{path}");
        assert!(!has_event_handler_attribute(&page.body), "{path}");
    }
    for asset in [
        "/ui/static/authd.css",
        "/ui/static/authd.js",
        "/ui/static/favicon.svg",
    ] {
        let page = browser.get(asset).await;
        assert_eq!(page.status, StatusCode::OK, "{asset}");
        assert!(
            page.headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
    }
    let landing = Browser::new(&app).get("/ui").await.body;
    for link in [
        "/ui/login",
        "/ui/register",
        "/ui/keys",
        "/docs",
        "/openapi.json",
        "/.well-known/oauth-authorization-server",
    ] {
        assert!(landing.contains(&format!("href=\"{link}\"")), "{link}");
    }
}

#[tokio::test]
async fn registration_shows_a_generated_password_once_and_it_logs_in() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let password = browser.register("carol").await;
    assert_eq!(password.len(), 36, "a UUIDv4 password");
    // The API accepts the same password: it is the user's real one.
    app.login("carol", &password).await;

    let page = browser.log_in("carol", &password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let profile = browser.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("carol@example.com"));
    assert!(
        !profile.body.contains(&password),
        "the password is never shown again"
    );

    // A chosen password is not echoed.
    let mut other = Browser::new(&app);
    let chosen = "correct horse battery staple";
    let page = other
        .submit(
            "/ui/register",
            "/ui/register",
            &[
                ("username", "dave"),
                ("email", "dave@example.com"),
                ("password", chosen),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    assert!(!page.body.contains(chosen));
    assert!(!page.body.contains("generated-password"));
}

#[tokio::test]
async fn registration_errors_are_shown_on_the_form_as_filled_in() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.register("erin").await;
    let page = browser
        .submit(
            "/ui/register",
            "/ui/register",
            &[
                ("username", "erin"),
                ("email", "other@example.com"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.body.contains("That username is taken"),
        "{}",
        page.body
    );
    assert_eq!(page.input("email"), "other@example.com");

    let page = browser
        .submit(
            "/ui/register",
            "/ui/register",
            &[
                ("username", "frank"),
                ("email", "frank@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Password "), "{}", page.body);
    assert!(
        !page.body.contains("value=\"short\""),
        "the password is never echoed"
    );
}

#[tokio::test]
async fn session_cookies_are_http_only_same_site_lax_and_hold_a_working_token() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let password = browser.register("grace").await;
    browser.log_in("grace", &password).await;
    let set = browser.last_set_cookies.clone();
    for name in ["authd_session=", "authd_access=", "authd_csrf="] {
        let line = set
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not set: {set:?}"));
        // Lax, so a browser sent to /oauth/authorize by another site arrives signed in; the
        // CSRF cookie, which no navigation needs, stays Strict.
        let same_site = if name == "authd_csrf=" {
            "SameSite=Strict"
        } else {
            "SameSite=Lax"
        };
        let attributes: Vec<&str> = line.split("; ").collect();
        for flag in ["HttpOnly", same_site, "Path=/"] {
            assert!(attributes.contains(&flag), "{line}");
        }
        assert!(!line.contains("Secure"), "plain HTTP: {line}");
    }
    // The cookie's access token is a real one, issued in the session.
    let me = app.me(&browser.access_token()).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn over_tls_the_cookies_are_secure_host_cookies() {
    let app = spawn_app_with(AppOptions {
        public_url: Some("https://authd.example".to_owned()),
        ..AppOptions::default()
    })
    .await;
    let mut browser = Browser::new(&app);
    let password = browser.register("heidi").await;
    browser.log_in("heidi", &password).await;
    let set = browser.last_set_cookies.clone();
    for name in [
        "__Host-authd_session=",
        "__Host-authd_access=",
        "__Host-authd_csrf=",
    ] {
        let line = set
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not set: {set:?}"));
        let same_site = if name.contains("csrf") {
            "SameSite=Strict"
        } else {
            "SameSite=Lax"
        };
        for flag in ["HttpOnly", same_site, "Secure", "Path=/"] {
            assert!(line.contains(flag), "{line}");
        }
    }
    assert_eq!(browser.get("/ui/profile").await.status, StatusCode::OK);
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let password = app.register("ivan").await;
    let mut browser = Browser::new(&app);
    let token = browser.get("/ui/login").await.input("csrf");
    let credentials = [("username", "ivan"), ("password", password.as_str())];

    let page = browser.post_raw("/ui/login", &credentials).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("could not be accepted"), "{}", page.body);
    let wrong = "A".repeat(43);
    let mut forged = credentials.to_vec();
    forged.push(("csrf", &wrong));
    assert_eq!(
        browser.post_raw("/ui/login", &forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !browser.cookies.contains_key("authd_session"),
        "no session was started"
    );

    // The right token, sent by another site's page, is refused too.
    let mut genuine = credentials.to_vec();
    genuine.push(("csrf", &token));
    let cross_site = browser
        .client
        .post(app.url("/ui/login"))
        .header(header::COOKIE, browser.cookie_header())
        .header("sec-fetch-site", "cross-site")
        .form(&genuine);
    assert_eq!(browser.send(cross_site).await.status, StatusCode::FORBIDDEN);

    // A signed-in user's forms need it as well.
    assert_eq!(
        browser.post_raw("/ui/login", &genuine).await.status,
        StatusCode::SEE_OTHER
    );
    let page = browser
        .post_raw("/ui/profile", &[("display_name", "Forged"), ("phone", "")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser.post_raw("/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let profile = browser.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::OK, "still signed in");
    assert!(!profile.body.contains("Forged"));
}

#[tokio::test]
async fn a_wrong_password_is_shown_on_the_login_form() {
    let app = spawn_app().await;
    app.register("judy").await;
    let mut browser = Browser::new(&app);
    let wrong = browser.log_in("judy", "not the password at all").await;
    let unknown = browser.log_in("nobody", "not the password at all").await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body.contains("Wrong username or password."),
            "{}",
            page.body
        );
        assert!(!page.body.contains("not the password at all"));
    }
    assert_eq!(wrong.input("username"), "judy");
    assert!(!browser.cookies.contains_key("authd_session"));
}

#[tokio::test]
async fn the_profile_is_edited_through_the_form_and_served_by_the_api() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("kim").await;
    let page = browser
        .submit(
            "/ui/profile",
            "/ui/profile",
            &[("display_name", "Kim <b>Lee</b>"), ("phone", "+1 555 0100")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/profile?notice=saved");
    let page = browser.get(page.location()).await;
    assert!(page.body.contains("Profile saved."));
    let shown = page.input("display_name");
    assert!(!shown.contains('<'), "escaped: {shown}");
    assert_eq!(unescape(&shown), "Kim <b>Lee</b>");
    assert_eq!(page.input("phone"), "+1 555 0100");

    let api: serde_json::Value = app
        .client
        .get(app.url("/api/profile"))
        .bearer_auth(browser.access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["display_name"], "Kim <b>Lee</b>");
    assert_eq!(api["phone"], "+1 555 0100");

    // A bad value is explained on the form, which keeps what was typed; nothing is saved.
    let page = browser
        .submit(
            "/ui/profile",
            "/ui/profile",
            &[("display_name", "Kim"), ("phone", "call me")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Phone must be"), "{}", page.body);
    assert_eq!(page.input("phone"), "call me");
    assert_eq!(
        browser.get("/ui/profile").await.input("phone"),
        "+1 555 0100"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_each_can_be_revoked() {
    let app = spawn_app().await;
    let mut laptop = Browser::new(&app);
    let password = laptop.signed_in_as("liam").await;
    let mut phone = Browser::new(&app);
    phone.log_in("liam", &password).await;
    let phone_token = phone.access_token();

    let profile = laptop.get("/ui/profile").await.body;
    let forms: Vec<&str> = profile
        .match_indices("/ui/sessions/")
        .map(|(at, _)| &profile[at..])
        .collect();
    assert_eq!(forms.len(), 2, "two sessions listed");
    assert_eq!(profile.matches("this browser</span>").count(), 1);

    // The laptop revokes the phone's session: the phone is signed out, its token dead.
    let phone_session = session_id_of(&phone_token);
    let revoke = format!("/ui/sessions/{phone_session}/revoke");
    let page = laptop.submit("/ui/profile", &revoke, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/profile?notice=session-revoked");
    assert_eq!(app.me_status(&phone_token).await, 401);
    let page = phone.get("/ui/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/ui/login"));

    // Revoking its own session signs the laptop out.
    let laptop_token = laptop.access_token();
    let own = format!("/ui/sessions/{}/revoke", session_id_of(&laptop_token));
    let page = laptop.submit("/ui/profile", &own, &[]).await;
    assert_eq!(page.location(), "/ui/login?notice=session-ended");
    assert!(!laptop.cookies.contains_key("authd_session"));
    assert_eq!(app.me_status(&laptop_token).await, 401);
    let login = laptop.get(page.location()).await;
    assert!(login.body.contains("session was revoked"), "{}", login.body);
}

#[tokio::test]
async fn logging_in_again_in_one_browser_replaces_its_session() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let password = browser.signed_in_as("pat").await;
    let first = browser.access_token();
    // The login page sends a signed-in browser to its profile; a login posted anyway (another
    // tab's form) starts a new session and ends the old one.
    assert_eq!(browser.get("/ui/login").await.location(), "/ui/profile");
    let csrf = browser.get("/ui/profile").await.input("csrf");
    let page = browser
        .post_raw(
            "/ui/login",
            &[
                ("username", "pat"),
                ("password", &password),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(app.me_status(&first).await, 401);
    let profile = browser.get("/ui/profile").await.body;
    assert_eq!(profile.matches("/revoke\"").count(), 1, "one live session");
}

#[tokio::test]
async fn nobody_can_revoke_another_users_session() {
    let app = spawn_app().await;
    let mut mallory = Browser::new(&app);
    mallory.signed_in_as("mallory").await;
    let mut victim = Browser::new(&app);
    victim.signed_in_as("victim").await;
    let target = session_id_of(&victim.access_token());
    let page = mallory
        .submit("/ui/profile", &format!("/ui/sessions/{target}/revoke"), &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(victim.get("/ui/profile").await.status, StatusCode::OK);
    let page = mallory
        .submit("/ui/profile", "/ui/sessions/not-a-uuid/revoke", &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logging_out_revokes_the_session_and_its_tokens() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("nina").await;
    let token = browser.access_token();
    let page = browser.submit("/ui/profile", "/ui/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/login?notice=signed-out");
    assert_eq!(app.me_status(&token).await, 401);
    let page = browser.get("/ui/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/login?notice=sign-in");
}

#[tokio::test]
async fn an_expired_access_token_is_replaced_within_the_session() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.signed_in_as("olivia").await;
    let first = browser.access_token();
    clock.advance(time::Duration::minutes(20));
    let page = browser.get("/ui/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    let second = browser.access_token();
    assert_ne!(first, second, "a new token");
    assert_eq!(
        session_id_of(&first),
        session_id_of(&second),
        "in the same session"
    );

    // The session ends with its refresh token's lifetime (14 days here), refreshes or not.
    clock.advance(time::Duration::days(15));
    let page = browser.get("/ui/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_keys_page_lists_the_jwks() {
    let app = spawn_app().await;
    let jwks = app.jwks().await;
    let page = Browser::new(&app).get("/ui/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    for key in jwks["keys"].as_array().unwrap() {
        assert!(page.body.contains(key["kid"].as_str().unwrap()));
    }
    assert!(page.body.contains("signing"));
}

#[tokio::test]
async fn unknown_pages_and_methods_get_html_errors() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui/nope").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("There is no such page."));
    assert!(page.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let page = browser.get("/ui/logout").await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(page.headers[header::ALLOW], "POST");
    assert!(page.body.starts_with("<!doctype html>"));
}

/// Whether `html` has an attribute like `onclick=` (inline script the policy would block).
fn has_event_handler_attribute(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let name: String = html[at + 3..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
    })
}

/// An attribute value as the browser reads it (the entities askama writes for `<`, `>`, `&`).
fn unescape(value: &str) -> String {
    value
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The `sid` claim of an access token: the session it was issued in.
fn session_id_of(token: &str) -> String {
    claims_of(token)["sid"].as_str().unwrap().to_owned()
}
