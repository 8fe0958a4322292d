//! `authd-resource`, the crate for services that receive authd's tokens, in a sample resource
//! service (axum, the crate's tower layer): tokens verified locally, a session ended on another
//! replica refused once the stream says so (poll and push), DPoP-bound tokens only with their
//! proof, a service that cannot hear authd refusing after its max lag, and a restarted one
//! catching up on what happened while it was down.

use std::{sync::Arc, time::Duration};

use authd_resource::{
    AccessClaims, BeforeStart, Delivery, Receiver, RequireAuthdToken, ResourceServer, Settings,
};
use axum::{Extension, Router, routing::get};
use reqwest::StatusCode;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    clients::{claims_of, create_client},
    dpop::{DpopKey, bound_session, htu},
    helpers::{AUDIENCE, AppOptions, ISSUER, TestApp, eventually, spawn_app, spawn_app_with},
    ssf::{end_session, password_session},
};

/// The sample resource service: `GET /orders` for any authd token, answered with its `sub`;
/// `POST /ssf-events`, a push stream's endpoint.
struct Orders {
    url: String,
    server: Arc<ResourceServer>,
    task: JoinHandle<()>,
}

impl Drop for Orders {
    fn drop(&mut self) {
        self.server.stop();
        self.task.abort();
    }
}

impl Orders {
    /// Starts the service for authd at `authd_url`, as `receiver`.
    async fn start(authd_url: &str, receiver: Option<Receiver>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, authd_url, receiver)
    }

    /// On a given port (a push stream names it before the service listens).
    async fn start_on(port: u16, authd_url: &str, receiver: Receiver) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        Self::serve(listener, authd_url, Some(receiver))
    }

    fn serve(listener: TcpListener, authd_url: &str, receiver: Option<Receiver>) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = Settings::new(ISSUER, AUDIENCE, authd_url.parse().unwrap());
        settings.resource_url = Some(url.parse().unwrap());
        settings.receiver = receiver;
        let server = ResourceServer::start(settings).unwrap();
        let app = Router::new()
            .route(
                "/orders",
                get(|Extension(claims): Extension<AccessClaims>| async move { claims.sub }),
            )
            .layer(RequireAuthdToken::new(server.clone()))
            .route_service("/ssf-events", server.push_endpoint());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, server, task }
    }

    async fn current(&self) {
        let server = self.server.clone();
        assert!(
            eventually(Duration::from_secs(20), || {
                let server = server.clone();
                async move { server.is_current() }
            })
            .await,
            "the service never caught up with its stream"
        );
    }

    async fn get(&self, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/orders", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// A receiver client made as an operator makes one.
fn receiver(app: &TestApp) -> Receiver {
    let (client_id, secret) = create_client(app, "ssf:receiver");
    Receiver::new(client_id, secret)
}

/// Waits until the service refuses `token` with 401 `invalid_token`.
async fn refused(orders: &Orders, token: &str) {
    let refused = eventually(Duration::from_secs(10), || async {
        orders.get(token).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused, "the service still takes the revoked token");
    let answer = orders.get(token).await;
    assert!(
        answer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
}

#[tokio::test]
async fn a_sample_service_verifies_locally_and_refuses_a_session_ended_on_another_replica() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let orders = Orders::start(&app.address, Some(receiver(&app))).await;
    orders.current().await;

    let (alice, alice_refresh) = password_session(&app, "alice").await;
    let (bob, _) = password_session(&app, "bob").await;
    let answer = orders.get(&alice).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.text().await.unwrap(),
        claims_of(&alice)["sub"].as_str().unwrap()
    );
    assert_eq!(
        orders.get("not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let missing = reqwest::get(format!("{}/orders", orders.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);

    // Logout on the other replica: the stream tells the service, which refuses the token.
    end_session(&sibling, &alice_refresh).await;
    refused(&orders, &alice).await;
    assert_eq!(
        orders.get(&bob).await.status(),
        StatusCode::OK,
        "others untouched"
    );
}

#[tokio::test]
async fn a_push_stream_keeps_the_service_current_and_tells_it_of_revocations() {
    let app = spawn_app().await;
    let mut push = receiver(&app);
    // The service's own URL is only known once it listens: it is given as it starts below.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    push.delivery = Delivery::Push {
        endpoint_url: format!("http://127.0.0.1:{port}/ssf-events")
            .parse()
            .unwrap(),
    };
    push.max_lag = Duration::from_secs(3);
    let orders = Orders::start_on(port, &app.address, push).await;
    orders.current().await;

    // Only authd, with the stream's credential, pushes; and only SETs.
    let endpoint = format!("{}/ssf-events", orders.url);
    let client = reqwest::Client::new();
    let anonymous = client
        .post(&endpoint)
        .header("content-type", "application/secevent+jwt")
        .body("eyJ0eXAiOiJzZWNldmVudCtqd3QifQ.e30.c2ln")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let answer: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(answer["err"], "authentication_failed");
    let fetched = client.get(&endpoint).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::METHOD_NOT_ALLOWED);

    let (carol, refresh) = password_session(&app, "carol").await;
    assert_eq!(orders.get(&carol).await.status(), StatusCode::OK);
    end_session(&app, &refresh).await;
    refused(&orders, &carol).await;
}

#[tokio::test]
async fn dpop_bound_tokens_are_taken_only_with_a_proof_of_their_key() {
    let app = spawn_app().await;
    let orders = Orders::start(&app.address, Some(receiver(&app))).await;
    orders.current().await;
    let key = DpopKey::generate();
    let body = bound_session(&app, "dave", &key).await;
    let token = body["access_token"].as_str().unwrap();
    let url = format!("{}/orders", orders.url);
    let client = reqwest::Client::new();

    let as_bearer = orders.get(token).await;
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    let proof = key.proof("GET", &url, Some(token), None);
    let with_proof = client
        .get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(with_proof.status(), StatusCode::OK);
    // The same proof again, a proof by another key, a proof for another URL.
    let other = DpopKey::generate();
    for proof in [
        proof,
        other.proof("GET", &url, Some(token), None),
        key.proof("GET", &htu(&app, "/orders"), Some(token), None),
    ] {
        let refused = client
            .get(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", &proof)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(
            refused.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_dpop_proof")
        );
    }
}

#[tokio::test]
async fn a_service_that_cannot_hear_authd_refuses_after_its_max_lag() {
    // authd's public URL is the forwarder's, so the stream's poll URL goes through it too.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", listener.local_addr().unwrap());
    let app = spawn_app_with(AppOptions {
        public_url: Some(public_url),
        ..AppOptions::default()
    })
    .await;
    let proxy = Proxy::start(listener, &app.address);
    let mut settings = receiver(&app);
    // Above the long poll of the test servers (half their 5 s request timeout).
    settings.max_lag = Duration::from_secs(4);
    let orders = Orders::start(&proxy.url, Some(settings)).await;
    orders.current().await;
    let (erin, _) = password_session(&app, "erin").await;
    assert_eq!(orders.get(&erin).await.status(), StatusCode::OK);

    proxy.task.abort();
    let closed = eventually(Duration::from_secs(15), || async {
        orders.get(&erin).await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(
        closed,
        "the service kept trusting a stream it no longer hears"
    );
    assert!(!orders.server.is_current());
}

#[tokio::test]
async fn a_restarted_service_catches_up_on_what_happened_while_it_was_down() {
    let app = spawn_app().await;
    let mut catch_up = receiver(&app);
    catch_up.before_start = BeforeStart::Accept;
    let first = Orders::start(&app.address, Some(catch_up.clone())).await;
    first.current().await;
    let (frank, refresh) = password_session(&app, "frank").await;
    assert_eq!(first.get(&frank).await.status(), StatusCode::OK);
    drop(first);

    // Down: the session ends meanwhile.
    end_session(&app, &refresh).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Back, with the same stream: it finds the SET waiting, and the token refused.
    let again = Orders::start(&app.address, Some(catch_up)).await;
    again.current().await;
    let answer = again.get(&frank).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

/// A TCP forwarder to authd that the test can cut.
struct Proxy {
    url: String,
    task: JoinHandle<()>,
}

impl Proxy {
    fn start(listener: TcpListener, target: &str) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = target.trim_start_matches("http://").to_owned();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { url, task }
    }
}
