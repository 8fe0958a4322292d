//! The Shared Signals transmitter (SSF 1.0, CAEP, RISC): discovery, stream management for
//! receivers holding `ssf:receiver`, and Security Event Tokens delivered by poll (RFC 8936) and
//! push (RFC 8935), each validated by PyJWT against the JWKS (`tests/ssf_receiver.py`), never
//! by authd's code.

use std::{sync::Arc, time::Duration};

use authd::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    admin::{Admin, client_token},
    clients::{claims_of, create_client},
    helpers::{AppOptions, ISSUER, TestApp, eventually, spawn_app, spawn_app_with, stores_for},
    receiver::Receiver,
};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const ACCOUNT_ENABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
const ACCOUNT_PURGED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-purged";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// A receiver: a client made with `--scope ssf:receiver`, and its token.
struct SsfReceiver<'a> {
    app: &'a TestApp,
    client_id: String,
    token: String,
}

impl<'a> SsfReceiver<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let (client_id, secret) = create_client(app, "ssf:receiver");
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "ssf:receiver"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let token = response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            app,
            client_id,
            token,
        }
    }

    /// The same receiver talking to another replica.
    fn on(&self, app: &'a TestApp) -> Self {
        Self {
            app,
            client_id: self.client_id.clone(),
            token: self.token.clone(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn create(&self, body: Value) -> Value {
        let response = self.call(Method::POST, "/ssf/streams", Some(body)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    /// One poll of `stream`: acknowledging `ack`, waiting for SETs unless told not to.
    async fn poll(&self, stream: &Value, ack: &[String], immediately: bool) -> Value {
        let url = stream["delivery"]["endpoint_url"].as_str().unwrap();
        let path = url.split_once("/ssf/").map(|(_, path)| path).unwrap();
        let response = self
            .call(
                Method::POST,
                &format!("/ssf/{path}"),
                Some(json!({ "ack": ack, "returnImmediately": immediately })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// `tests/ssf_receiver.py` for `audience`, optionally requiring an authorization header.
async fn set_checker(app: &TestApp, audience: &str, authorization: Option<&str>) -> Receiver {
    let jwks = app.url("/.well-known/jwks.json");
    let mut args = vec!["--jwks", &jwks, "--issuer", ISSUER, "--audience", audience];
    if let Some(value) = authorization {
        args.extend(["--authorization", value]);
    }
    Receiver::start("ssf_receiver.py", &args).await
}

/// Has PyJWT validate each polled SET; their claims, in the order given.
async fn verified(checker: &mut Receiver, sets: &Value) -> Vec<Value> {
    let mut claims = Vec::new();
    for (jti, token) in sets.as_object().unwrap() {
        let before = checker.requests().len();
        checker
            .command(&format!("verify {}", token.as_str().unwrap()))
            .await;
        let line = checker.requests()[before].clone();
        assert_eq!(line["verified"], true, "{line}");
        assert_eq!(line["header"]["typ"], "secevent+jwt");
        assert_eq!(line["claims"]["jti"], *jti);
        claims.push(line["claims"].clone());
    }
    claims
}

fn event_type(claims: &Value) -> String {
    claims["events"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

/// A new user's session by the password grant: its access token and refresh token.
pub async fn password_session(app: &TestApp, username: &str) -> (String, String) {
    let password = app.register(username).await;
    let grant: Value = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        grant["access_token"].as_str().unwrap().to_owned(),
        grant["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A user with a session of the password grant: the user's id, the session's `sid`, and the
/// refresh token that ends it.
async fn user_with_session(app: &TestApp, username: &str) -> (String, String, String) {
    let (access_token, refresh_token) = password_session(app, username).await;
    let claims = claims_of(&access_token);
    (
        claims["sub"].as_str().unwrap().to_owned(),
        claims["sid"].as_str().unwrap().to_owned(),
        refresh_token,
    )
}

/// Ends the session of `refresh_token` by revoking it (RFC 7009).
pub async fn end_session(app: &TestApp, refresh_token: &str) {
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", refresh_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
}

#[tokio::test]
async fn discovery_names_the_endpoints_and_streams_belong_to_their_receiver() {
    let app = spawn_app().await;
    let config: Value = app
        .get("/.well-known/ssf-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["spec_version"], "1_0");
    assert_eq!(config["issuer"], ISSUER);
    assert_eq!(
        config["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    assert!(
        config["configuration_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/ssf/streams")
    );
    assert!(
        config["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );

    // No token, a token without the scope.
    let anonymous = app
        .client
        .get(app.url("/ssf/streams"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unscoped = app
        .client
        .get(app.url("/ssf/streams"))
        .bearer_auth(client_token(&app, "").await)
        .send()
        .await
        .unwrap();
    assert_eq!(unscoped.status(), StatusCode::FORBIDDEN);
    assert!(
        unscoped.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="ssf:receiver""#)
    );

    let receiver = SsfReceiver::new(&app).await;
    let stream = receiver.create(json!({ "description": "billing" })).await;
    let id = stream["stream_id"].as_str().unwrap();
    assert_eq!(stream["iss"], ISSUER);
    assert_eq!(stream["aud"], receiver.client_id.as_str());
    assert_eq!(stream["delivery"]["method"], "urn:ietf:rfc:8936");
    assert!(
        stream["delivery"]["endpoint_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/ssf/poll/{id}"))
    );
    assert_eq!(stream["events_delivered"].as_array().unwrap().len(), 6);
    assert_eq!(stream["events_delivered"], stream["events_supported"]);

    // Update: an event type authd does not know is kept as asked and not delivered.
    let updated = receiver
        .call(
            Method::PATCH,
            "/ssf/streams",
            Some(json!({
                "stream_id": id,
                "events_requested": [SESSION_REVOKED, "urn:example:unknown"],
            })),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(
        updated["events_requested"],
        json!([SESSION_REVOKED, "urn:example:unknown"])
    );
    assert_eq!(updated["description"], "billing", "a field left out stays");

    // The transmitter's own fields cannot be changed, a method must be one of the two, text
    // must be storable.
    for refused in [
        json!({ "stream_id": id, "aud": "someone-else" }),
        json!({ "stream_id": id, "delivery": { "method": "urn:example:carrier-pigeon" } }),
        json!({ "stream_id": id, "delivery": { "method": "urn:ietf:rfc:8935" } }),
        // Postgres holds no NUL in text: refused, not a 503.
        json!({ "stream_id": id, "description": "a\u{0}b" }),
    ] {
        let response = receiver
            .call(Method::PATCH, "/ssf/streams", Some(refused.clone()))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{refused}");
    }

    // Status.
    let paused = receiver
        .call(
            Method::POST,
            "/ssf/status",
            Some(json!({ "stream_id": id, "status": "paused", "reason": "maintenance" })),
        )
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    let status: Value = receiver
        .call(Method::GET, &format!("/ssf/status?stream_id={id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({ "stream_id": id, "status": "paused", "reason": "maintenance" })
    );

    // Another receiver sees none of it.
    let other = SsfReceiver::new(&app).await;
    let listed: Value = other
        .call(Method::GET, "/ssf/streams", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    for (method, path) in [
        (Method::GET, format!("/ssf/streams?stream_id={id}")),
        (Method::GET, format!("/ssf/status?stream_id={id}")),
        (Method::DELETE, format!("/ssf/streams?stream_id={id}")),
    ] {
        let response = other.call(method.clone(), &path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }

    // Listed, then deleted.
    receiver.create(json!({})).await;
    let listed: Value = receiver
        .call(Method::GET, "/ssf/streams", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let deleted = receiver
        .call(
            Method::DELETE,
            &format!("/ssf/streams?stream_id={id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = receiver
        .call(Method::GET, &format!("/ssf/streams?stream_id={id}"), None)
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_poll_stream_hands_out_what_happened_on_any_replica_in_order_until_acknowledged() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let receiver = SsfReceiver::new(&app).await;
    let stream = receiver.create(json!({})).await;
    let mut checker = set_checker(&app, &receiver.client_id, None).await;

    // A logout on the other replica, then the user disabled there.
    let (user_id, sid, refresh_token) = user_with_session(&sibling, "alice").await;
    end_session(&sibling, &refresh_token).await;
    let admin = Admin::new(&sibling).await;
    let disabled = admin
        .send(
            Method::PATCH,
            &format!("/admin/users/{user_id}"),
            Some(json!({ "disabled": true })),
            None,
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);

    // The receiver polls this replica, waiting for the SETs to arrive.
    let mut claims = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut arrived = false;
    while !arrived && tokio::time::Instant::now() < deadline {
        let polled = receiver.poll(&stream, &[], false).await;
        claims = verified(&mut checker, &polled["sets"]).await;
        arrived = claims.iter().any(|c| event_type(c) == ACCOUNT_DISABLED);
    }
    assert!(arrived, "{claims:#?}");
    let types: Vec<String> = claims.iter().map(event_type).collect();
    let revoked = types.iter().position(|t| t == SESSION_REVOKED).unwrap();
    let disabled = types.iter().position(|t| t == ACCOUNT_DISABLED).unwrap();
    assert!(revoked < disabled, "in the order they happened: {types:?}");
    let session = &claims[revoked];
    assert_eq!(session["aud"], receiver.client_id.as_str());
    assert_eq!(session["sub_id"]["format"], "complex");
    assert_eq!(
        session["sub_id"]["session"],
        json!({ "format": "opaque", "id": sid })
    );
    assert_eq!(
        session["sub_id"]["user"],
        json!({ "format": "iss_sub", "iss": ISSUER, "sub": user_id })
    );
    assert!(session["txn"].is_string());
    assert_eq!(
        claims[disabled]["sub_id"],
        json!({ "format": "iss_sub", "iss": ISSUER, "sub": user_id })
    );
    assert_eq!(
        claims[disabled]["events"][ACCOUNT_DISABLED]["initiating_entity"],
        "admin"
    );

    // Not acknowledged: a receiver that restarts gets them again, the same ones.
    let again = receiver.on(&sibling).poll(&stream, &[], true).await;
    let jtis: Vec<String> = claims
        .iter()
        .map(|c| c["jti"].as_str().unwrap().to_owned())
        .collect();
    let again_jtis: Vec<String> = again["sets"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(again_jtis, jtis);

    // Acknowledged: gone. Then a verification event, with the state asked for.
    let emptied = receiver.poll(&stream, &jtis, true).await;
    assert_eq!(emptied["sets"], json!({}));
    assert_eq!(emptied["moreAvailable"], false);
    let verify = receiver
        .call(
            Method::POST,
            "/ssf/verify",
            Some(json!({ "stream_id": stream["stream_id"], "state": "abc" })),
        )
        .await;
    assert_eq!(verify.status(), StatusCode::NO_CONTENT);
    let polled = receiver.poll(&stream, &[], false).await;
    let claims = verified(&mut checker, &polled["sets"]).await;
    assert_eq!(claims.len(), 1, "{claims:#?}");
    assert_eq!(claims[0]["events"][VERIFICATION], json!({ "state": "abc" }));
    assert_eq!(
        claims[0]["sub_id"],
        json!({ "format": "opaque", "id": stream["stream_id"] })
    );
}

#[tokio::test]
async fn a_session_revoked_by_a_replica_that_died_before_telling_is_told_by_another() {
    // A minute behind, so that the SETs it signs after the jump are not from the future.
    let grace = time::Duration::seconds(61);
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc() - grace));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let receiver = SsfReceiver::new(&app).await;
    let stream = receiver.create(json!({})).await;
    let mut checker = set_checker(&app, &receiver.client_id, None).await;

    // Alice signs out as usual: her session's end is told at once.
    let (_, alice_sid, refresh_token) = user_with_session(&app, "alice").await;
    end_session(&app, &refresh_token).await;

    // Bob's session is revoked by a replica that dies as the revocation commits: the store has
    // it revoked, and nothing else happened. His access token still works, for now.
    let (access_token, _) = password_session(&app, "bob").await;
    let claims = claims_of(&access_token);
    let bob_id: Uuid = claims["sub"].as_str().unwrap().parse().unwrap();
    let bob_sid: Uuid = claims["sid"].as_str().unwrap().parse().unwrap();
    let stores = stores_for(&app.options, &app.resources).await;
    let ended = stores
        .sessions
        .revoke_session_by_id(bob_id, bob_sid, clock.now())
        .await
        .unwrap();
    assert!(ended.is_some());
    assert_eq!(app.me_status(&access_token).await, 200);

    // A minute on, another replica starts (sweeping as it does) and finishes the revocation:
    // the token is refused and receivers hear of the session's end, from authd itself.
    clock.advance(grace);
    let sibling = app.spawn_sibling().await;
    let refused = eventually(Duration::from_secs(20), || async {
        sibling.me_status(&access_token).await == 401
    });
    assert!(refused.await, "the revoked session's token still works");
    let sessions_told = |claims: &[Value], sid: &Uuid| {
        claims
            .iter()
            .filter(|c| event_type(c) == SESSION_REVOKED)
            .filter(|c| c["sub_id"]["session"]["id"] == sid.to_string())
            .count()
    };
    let mut claims = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sessions_told(&claims, &bob_sid) == 0 && tokio::time::Instant::now() < deadline {
        let polled = receiver.on(&sibling).poll(&stream, &[], false).await;
        claims = verified(&mut checker, &polled["sets"]).await;
    }
    assert_eq!(sessions_told(&claims, &bob_sid), 1, "{claims:#?}");
    let bob = claims
        .iter()
        .find(|c| c["sub_id"]["session"]["id"] == bob_sid.to_string())
        .unwrap();
    assert_eq!(
        bob["events"][SESSION_REVOKED]["initiating_entity"],
        "system"
    );
    // Alice's end, recorded when it happened, is not told again.
    let alice_sid: Uuid = alice_sid.parse().unwrap();
    assert_eq!(sessions_told(&claims, &alice_sid), 1, "{claims:#?}");
}

#[tokio::test]
async fn a_push_stream_gets_signed_sets_with_its_header_and_they_wait_while_it_is_away() {
    let app = spawn_app().await;
    let receiver = SsfReceiver::new(&app).await;
    let mut endpoint = set_checker(&app, &receiver.client_id, Some("Bearer push-secret")).await;
    let stream = receiver
        .create(json!({
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": format!("http://127.0.0.1:{}/events", endpoint.port),
                "authorization_header": "Bearer push-secret",
            },
            "events_requested": [ACCOUNT_DISABLED, ACCOUNT_ENABLED, ACCOUNT_PURGED],
        }))
        .await;
    assert_eq!(stream["delivery"]["method"], "urn:ietf:rfc:8935");
    assert!(
        stream["delivery"].get("authorization_header").is_none(),
        "never read back"
    );
    let read: Value = receiver
        .call(Method::GET, "/ssf/streams", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(!read.to_string().contains("push-secret"));

    let (user_id, _, refresh_token) = user_with_session(&app, "bob").await;
    let admin = Admin::new(&app).await;
    for disabled in [true, false] {
        let response = admin
            .send(
                Method::PATCH,
                &format!("/admin/users/{user_id}"),
                Some(json!({ "disabled": disabled })),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(
        delivered(&endpoint, &[ACCOUNT_DISABLED, ACCOUNT_ENABLED]).await,
        "{:#?}",
        endpoint.requests()
    );
    assert!(
        endpoint
            .requests()
            .iter()
            .all(|line| line["verified"] == true)
    );
    assert!(
        endpoint
            .requests()
            .iter()
            .all(|line| line["authorization"] == "Bearer push-secret")
    );
    // The session ended by the disabling is not asked for, so not sent.
    assert!(
        !endpoint
            .requests()
            .iter()
            .any(|line| event_type(&line["claims"]) == SESSION_REVOKED)
    );
    let _ = refresh_token;

    // Away: the deletion waits in the outbox and arrives once the receiver is back.
    endpoint.command("down").await;
    let deleted = admin.delete(&format!("/admin/users/{user_id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !endpoint
            .requests()
            .iter()
            .any(|line| event_type(&line["claims"]) == ACCOUNT_PURGED)
    );
    endpoint.command("up").await;
    assert!(
        delivered(&endpoint, &[ACCOUNT_PURGED]).await,
        "{:#?}",
        endpoint.requests()
    );
    let purged = endpoint
        .requests()
        .into_iter()
        .find(|line| event_type(&line["claims"]) == ACCOUNT_PURGED)
        .unwrap();
    assert_eq!(purged["claims"]["sub_id"]["sub"], user_id.as_str());
}

#[tokio::test]
async fn receivers_are_made_by_an_operator_not_by_dynamic_registration() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        dynamic_registration: true,
        ..Default::default()
    })
    .await;
    let response = app
        .post_json(
            "/oauth/register",
            json!({
                "redirect_uris": ["https://rp.example/cb"],
                "scope": "openid ssf:receiver",
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("ssf:receiver"),
        "{body}"
    );
}

/// Waits until the push endpoint accepted a verified SET of each of `types`.
async fn delivered(endpoint: &Receiver, types: &[&str]) -> bool {
    eventually(Duration::from_secs(30), || async {
        let seen: Vec<String> = endpoint
            .requests()
            .iter()
            .filter(|line| line["verified"] == true)
            .map(|line| event_type(&line["claims"]))
            .collect();
        types.iter().all(|t| seen.iter().any(|s| s == t))
    })
    .await
}
