//! The crate's cost per request against bare `jsonwebtoken` on the same RS256 token: a
//! `ResourceServer` following a (stand-in) stream, current, with its revocation checks, against
//! `jsonwebtoken::decode` with the same key and rules. Both deserialize the same claims.
//!
//! Run: `cargo bench -p authd-resource --bench verify`. The ratio the issue asks for is
//! bare time / crate time (≥ 0.9 means the crate adds at most about 11%).

use std::{sync::Arc, time::Duration};

use authd_resource::{AccessClaims, BeforeStart, Receiver, ResourceServer, Settings};
use axum::{Json, Router, routing::get, routing::post};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rsa::{
    RsaPrivateKey,
    pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding},
    traits::PublicKeyParts,
};
use serde_json::{Value, json};

const ISSUER: &str = "https://authd.bench";
const AUDIENCE: &str = "https://orders.bench";

/// A stand-in for authd's side: the JWKS, a receiver token, one poll stream whose polls
/// answer empty after a short wait.
async fn stand_in(jwks: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stream = json!({
        "stream_id": "s1",
        "delivery": { "method": "urn:ietf:rfc:8936", "endpoint_url": format!("{base}/ssf/poll/s1") },
        "description": "authd-resource",
    });
    let app = Router::new()
        .route(
            "/.well-known/jwks.json",
            get(move || async move { Json(jwks) }),
        )
        .route(
            "/oauth/token",
            post(|| async { Json(json!({ "access_token": "t", "expires_in": 3600 })) }),
        )
        .route(
            "/ssf/streams",
            get(|| async { Json(json!([])) }).post({
                let stream = stream.clone();
                move || async move { Json(stream) }
            }),
        )
        .route("/ssf/status", post(|| async { Json(json!({})) }))
        .route(
            "/ssf/poll/s1",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Json(json!({ "sets": {}, "moreAvailable": false }))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = private.to_public_key();
    let encoding =
        EncodingKey::from_rsa_pem(private.to_pkcs1_pem(LineEnding::LF).unwrap().as_bytes())
            .unwrap();
    let decoding =
        DecodingKey::from_rsa_pem(public.to_pkcs1_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let jwks = json!({ "keys": [{
        "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("k1".to_owned());
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "0193-user", "iat": now, "nbf": now,
        "exp": now + 3600, "jti": "j1", "sid": "0193-session", "client_id": "app",
        "scope": "orders:read",
    });
    let token = encode(&header, &claims, &encoding).unwrap();

    let server: Arc<ResourceServer> = runtime.block_on(async {
        let base = stand_in(jwks).await;
        let mut settings = Settings::new(ISSUER, AUDIENCE, base.parse().unwrap());
        let mut receiver = Receiver::new("orders", "secret");
        receiver.before_start = BeforeStart::Accept;
        settings.receiver = Some(receiver);
        let server = ResourceServer::start(settings).unwrap();
        while !server.is_current() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
            .verify(&token)
            .await
            .expect("the crate accepts the token");
        server
    });

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;

    // Both sides run inside the same single-threaded executor, as a request handler would:
    // the comparison is of the work, not of entering a runtime.
    let local = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("verify RS256 access token");
    group.bench_function("bare jsonwebtoken::decode", |b| {
        b.iter(|| {
            local
                .block_on(async { decode::<AccessClaims>(&token, &decoding, &validation).unwrap() })
        })
    });
    group.bench_function("authd-resource ResourceServer::verify", |b| {
        b.iter(|| local.block_on(server.verify(&token)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
