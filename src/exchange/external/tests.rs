use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use jsonwebtoken::{EncodingKey, encode, jwk::Jwk};
use serde_json::json;
use time::{OffsetDateTime, macros::datetime};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use super::{
    key_set::{MAX_JWKS_LEN, key_fits, parse_jwks},
    *,
};
use crate::clock::ManualClock;

const ISSUER: &str = "https://idp.example";
/// Years after the tests were written: a time check made with the system's clock instead of
/// the injected one gives a different answer.
const START: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

/// A JWKS endpoint answering every request with its current set, or a 503 without one.
struct JwksServer {
    uri: String,
    jwks: Arc<Mutex<Option<String>>>,
    requests: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(jwks: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            uri: format!("http://{}/jwks", listener.local_addr().unwrap()),
            jwks: Arc::new(Mutex::new(Some(jwks))),
            requests: Arc::default(),
        };
        let (jwks, requests) = (Arc::clone(&server.jwks), Arc::clone(&server.requests));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&jwks), Arc::clone(&requests)));
            }
        });
        server
    }

    fn serve(&self, jwks: Option<String>) {
        *self.jwks.lock().unwrap() = jwks;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    jwks: Arc<Mutex<Option<String>>>,
    requests: Arc<AtomicUsize>,
) {
    let mut request = Vec::new();
    let mut buf = [0; 1024];
    while !request.windows(4).any(|end| end == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let body = jwks.lock().unwrap().clone();
    let response = match body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n"
            .to_owned(),
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// An issuer's P-256 key and its public JWK.
struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    fn es256(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk: serde_json::to_value(jwk).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(claims, |_| {})
    }

    fn sign_with(&self, claims: &Value, edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        edit(&mut header);
        encode(&header, claims, &self.encoding).unwrap()
    }
}

fn jwks(keys: &[&TestKey]) -> String {
    let keys: Vec<Value> = keys.iter().map(|key| key.jwk.clone()).collect();
    json!({ "keys": keys }).to_string()
}

fn claims() -> Value {
    let now = START.unix_timestamp();
    json!({
        "iss": ISSUER,
        "aud": "authd",
        "sub": "idp-user-7",
        "email": "ada@example.com",
        "exp": now + 300,
        "iat": now,
        "scope": "orders:read",
        "may_act": { "sub": "svc-billing", "iss": ISSUER }
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// A token with any header and an invalid signature: for checks made before the signature.
fn unsigned(header: Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.c2ln", part(&header), part(claims))
}

fn trusted(jwks_uri: &str) -> TrustedIssuer {
    TrustedIssuer {
        issuer: ISSUER.to_owned(),
        jwks_uri: jwks_uri.to_owned(),
        algorithms: vec![Algorithm::ES256, Algorithm::RS256],
        audience: "authd".to_owned(),
        subject_claim: "email".to_owned(),
        user_match: UserMatch::Email,
        clients: vec!["orders".to_owned()],
    }
}

async fn setup(keys: &[&TestKey]) -> (ExternalIssuers, JwksServer, Arc<ManualClock>) {
    let server = JwksServer::start(jwks(keys)).await;
    let clock = Arc::new(ManualClock::new(START));
    let issuers = ExternalIssuers::new(
        &[trusted(&server.uri)],
        clock.clone(),
        Duration::seconds(30),
    );
    (issuers, server, clock)
}

fn refusal(result: Result<ExternalToken, ExternalTokenError>) -> String {
    match result {
        Err(ExternalTokenError::Invalid(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_token_verifies_and_names_its_subject() {
    let key = TestKey::es256("k1");
    let (issuers, server, clock) = setup(&[&key]).await;
    let token = key.sign(&with(claims(), "exp", json!(START.unix_timestamp() + 3600)));
    let trusted = issuers.issuer_of(&token).unwrap();
    assert_eq!(trusted.issuer, ISSUER);

    let verified = issuers.verify(&token).await.unwrap();
    assert_eq!(verified.issuer, ISSUER);
    assert_eq!(verified.subject, "ada@example.com");
    assert_eq!(verified.user_match, UserMatch::Email);
    assert_eq!(verified.sub, "idp-user-7");
    assert_eq!(verified.exp, START.unix_timestamp() + 3600);
    assert_eq!(verified.scope.as_deref(), Some("orders:read"));
    let may_act = verified.may_act.unwrap();
    assert_eq!(
        (may_act.sub.as_str(), may_act.iss.as_deref()),
        ("svc-billing", Some(ISSUER))
    );
    assert!(verified.act.is_none());

    // The keys are cached for ten minutes, then fetched again.
    issuers.verify(&token).await.unwrap();
    assert_eq!(server.requests(), 1);
    clock.advance(Duration::minutes(11));
    issuers.verify(&token).await.unwrap();
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn the_subject_claim_must_be_a_non_empty_string() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    for email in [json!(""), json!(42), Value::Null] {
        let token = key.sign(&with(claims(), "email", email));
        assert_eq!(
            refusal(issuers.verify(&token).await),
            "the token has no `email` claim"
        );
    }
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    let why = refusal(issuers.verify(&key.sign(&no_sub)).await);
    assert_eq!(why, "the token has no `sub` claim");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    let token = key.sign(&with(claims(), "aud", json!("https://other.example")));
    assert!(refusal(issuers.verify(&token).await).contains("another audience"));
    // RFC 7519 §4.1.3: authd among several audiences is fine.
    let token = key.sign(&with(
        claims(),
        "aud",
        json!(["https://other.example", "authd"]),
    ));
    issuers.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_algorithm_the_issuer_does_not_use_is_refused() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let hmac = encode(&header, &claims(), &EncodingKey::from_secret(b"guessed")).unwrap();
    assert!(refusal(issuers.verify(&hmac).await).contains("alg HS256 is not one"));

    // An allowed alg that does not fit the key the kid names (RSA against a P-256 key).
    let confused = unsigned(json!({ "alg": "RS256", "kid": "k1" }), &claims());
    let why = refusal(issuers.verify(&confused).await);
    assert_eq!(why, "the token's alg does not fit the key it names");

    let none = unsigned(json!({ "alg": "none" }), &claims());
    assert_eq!(
        refusal(issuers.verify(&none).await),
        "the token is not a signed JWT"
    );
}

#[tokio::test]
async fn a_shared_secret_in_the_key_set_never_verifies() {
    // Even with an issuer set up (against the trust file's rules) to allow HS256.
    let secret = b"published-by-mistake";
    let oct = json!({ "kty": "oct", "kid": "k1", "k": URL_SAFE_NO_PAD.encode(secret) });
    let server = JwksServer::start(json!({ "keys": [oct] }).to_string()).await;
    let mut trusted = trusted(&server.uri);
    trusted.algorithms = vec![Algorithm::HS256];
    let clock = Arc::new(ManualClock::new(START));
    let issuers = ExternalIssuers::new(&[trusted], clock, Duration::seconds(30));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let token = encode(&header, &claims(), &EncodingKey::from_secret(secret)).unwrap();
    assert!(refusal(issuers.verify(&token).await).contains("not signed by a key"));
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    let impostor = TestKey::es256("k1");
    let why = refusal(issuers.verify(&impostor.sign(&claims())).await);
    assert_eq!(why, "the token's signature does not verify");
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_rotated_keys() {
    let old = TestKey::es256("old");
    let new = TestKey::es256("new");
    let (issuers, server, clock) = setup(&[&old]).await;
    issuers.verify(&old.sign(&claims())).await.unwrap();
    server.serve(Some(jwks(&[&new])));
    clock.advance(Duration::seconds(31));

    issuers.verify(&new.sign(&claims())).await.unwrap();
    assert_eq!(server.requests(), 2);
    issuers.verify(&new.sign(&claims())).await.unwrap();
    assert_eq!(server.requests(), 2);
    // The old key is gone from the issuer's set, and so from authd's.
    assert!(refusal(issuers.verify(&old.sign(&claims())).await).contains("not signed by"));
}

#[tokio::test]
async fn unknown_kids_fetch_the_keys_at_most_every_30_seconds() {
    let key = TestKey::es256("k1");
    let (issuers, server, clock) = setup(&[&key]).await;
    issuers.verify(&key.sign(&claims())).await.unwrap();
    let made_up = |kid: &str| TestKey::es256(kid).sign(&claims());
    // Within 30 seconds of the first fetch: no second one.
    refusal(issuers.verify(&made_up("x0")).await);
    assert_eq!(server.requests(), 1);

    clock.advance(Duration::seconds(31));
    let why = refusal(issuers.verify(&made_up("x1")).await);
    assert_eq!(
        why,
        format!("the token was not signed by a key {ISSUER} publishes")
    );
    assert_eq!(server.requests(), 2);
    clock.advance(Duration::seconds(10));
    for kid in ["x2", "x3", "x4"] {
        refusal(issuers.verify(&made_up(kid)).await);
    }
    assert_eq!(server.requests(), 2);
    issuers.verify(&key.sign(&claims())).await.unwrap();

    clock.advance(Duration::seconds(21));
    refusal(issuers.verify(&made_up("x5")).await);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn concurrent_first_verifications_fetch_the_keys_once() {
    let key = TestKey::es256("k1");
    let (issuers, server, _) = setup(&[&key]).await;
    let token = key.sign(&claims());
    let results = futures_util::future::join_all((0..8).map(|_| issuers.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn times_are_checked_against_the_injected_clock_with_the_leeway() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    let now = START.unix_timestamp();
    for (name, value, refused) in [
        ("exp", now - 31, Some("the token has expired")),
        ("exp", now - 10, None),
        ("nbf", now + 31, Some("the token is not valid yet")),
        ("nbf", now + 10, None),
        ("iat", now + 31, Some("the token was issued in the future")),
        ("iat", now + 10, None),
    ] {
        let token = key.sign(&with(claims(), name, json!(value)));
        match refused {
            Some(says) => assert_eq!(refusal(issuers.verify(&token).await), says),
            None => assert!(issuers.verify(&token).await.is_ok(), "{name} {value}"),
        }
    }
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let why = refusal(issuers.verify(&key.sign(&no_exp)).await);
    assert_eq!(why, "the token has no `exp` claim");
}

#[tokio::test]
async fn only_jwt_and_access_token_types_are_accepted() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    for typ in [
        None,
        Some("JWT"),
        Some("at+jwt"),
        Some("application/AT+JWT"),
    ] {
        let token = key.sign_with(&claims(), |header| header.typ = typ.map(str::to_owned));
        assert!(issuers.verify(&token).await.is_ok(), "{typ:?}");
    }
    for typ in ["dpop+jwt", "logout+jwt", "JOSE"] {
        let token = key.sign_with(&claims(), |header| header.typ = Some(typ.to_owned()));
        assert!(
            refusal(issuers.verify(&token).await).contains("typ"),
            "{typ}"
        );
    }
    let token = key.sign_with(&claims(), |header| {
        header.crit = Some(vec!["exp".to_owned()])
    });
    assert!(refusal(issuers.verify(&token).await).contains("critical"));
}

#[tokio::test]
async fn keys_named_in_the_header_are_never_used() {
    let key = TestKey::es256("k1");
    let (issuers, _server, _) = setup(&[&key]).await;
    let attacker = TestKey::es256("evil");
    let elsewhere = JwksServer::start(jwks(&[&attacker])).await;
    let point_elsewhere = |header: &mut Header| {
        header.jku = Some(elsewhere.uri.clone());
        header.x5u = Some(elsewhere.uri.clone());
        header.jwk = Some(serde_json::from_value(attacker.jwk.clone()).unwrap());
    };
    let token = attacker.sign_with(&claims(), point_elsewhere);
    assert!(refusal(issuers.verify(&token).await).contains("not signed by a key"));
    let token = attacker.sign_with(&claims(), |header| {
        point_elsewhere(header);
        header.kid = Some("k1".to_owned());
    });
    let why = refusal(issuers.verify(&token).await);
    assert_eq!(why, "the token's signature does not verify");
    assert_eq!(elsewhere.requests(), 0);
}

#[tokio::test]
async fn tokens_of_other_issuers_are_not_claimed() {
    let key = TestKey::es256("k1");
    let (issuers, server, _) = setup(&[&key]).await;
    for iss in [
        json!("https://elsewhere.example"),
        json!("https://IDP.example"),
    ] {
        let token = key.sign(&with(claims(), "iss", iss));
        assert!(issuers.issuer_of(&token).is_none());
        assert!(refusal(issuers.verify(&token).await).contains("not trusted"));
    }
    let as_list = key.sign(&with(claims(), "iss", json!([ISSUER])));
    assert!(issuers.issuer_of(&as_list).is_none());
    for garbage in ["", "a.b.c", "not a token", "a.b.c.d.e"] {
        assert!(issuers.issuer_of(garbage).is_none());
    }
    let huge = key.sign(&with(claims(), "pad", json!("x".repeat(MAX_TOKEN_LEN))));
    assert!(issuers.issuer_of(&huge).is_none());
    assert_eq!(
        refusal(issuers.verify(&huge).await),
        "the token is too long"
    );
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn without_a_kid_only_a_lone_fitting_key_is_used() {
    let key = TestKey::es256("k1");
    let (issuers, server, clock) = setup(&[&key]).await;
    let token = key.sign_with(&claims(), |header| header.kid = None);
    issuers.verify(&token).await.unwrap();
    server.serve(Some(jwks(&[&key, &TestKey::es256("k2")])));
    clock.advance(Duration::minutes(11));
    assert!(refusal(issuers.verify(&token).await).contains("names no kid"));
}

#[tokio::test]
async fn cached_keys_serve_for_an_hour_while_the_issuer_is_down() {
    let key = TestKey::es256("k1");
    let (issuers, server, clock) = setup(&[&key]).await;
    let token = key.sign(&with(claims(), "exp", json!(START.unix_timestamp() + 7200)));
    issuers.verify(&token).await.unwrap();
    server.serve(None);
    clock.advance(Duration::minutes(11));
    issuers.verify(&token).await.unwrap();
    assert_eq!(server.requests(), 2);

    clock.advance(Duration::minutes(50));
    match issuers.verify(&token).await {
        Err(ExternalTokenError::KeysUnavailable { issuer, reason }) => {
            assert_eq!(issuer, ISSUER);
            assert!(reason.contains("503"), "{reason}");
        }
        other => panic!("expected unavailable keys, got {other:?}"),
    }
    server.serve(Some(jwks(&[&key])));
    clock.advance(Duration::seconds(31));
    issuers.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_or_oversized_key_set_makes_the_keys_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let clock = Arc::new(ManualClock::new(START));
    let issuers = ExternalIssuers::new(&[trusted(&uri)], clock, Duration::seconds(30));
    let token = TestKey::es256("k1").sign(&claims());
    let err = issuers.verify(&token).await.unwrap_err();
    assert!(
        matches!(err, ExternalTokenError::KeysUnavailable { .. }),
        "{err:?}"
    );

    let key = TestKey::es256("k1");
    let padded = json!({ "keys": [key.jwk.clone()], "pad": "x".repeat(MAX_JWKS_LEN) });
    let server = JwksServer::start(padded.to_string()).await;
    let clock = Arc::new(ManualClock::new(START));
    let issuers = ExternalIssuers::new(&[trusted(&server.uri)], clock, Duration::seconds(30));
    let err = issuers.verify(&key.sign(&claims())).await.unwrap_err();
    assert!(err.to_string().contains("larger than 256 KiB"), "{err}");
}

#[test]
fn keys_authd_cannot_use_are_skipped_without_spoiling_the_set() {
    let key = TestKey::es256("good");
    let variant = |kid: &str, name: &str, value: Value| {
        let mut jwk = key.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk[name] = value;
        jwk
    };
    let set = json!({ "keys": [
        key.jwk.clone(),
        variant("private", "d", json!("c2VjcmV0")),
        variant("for-encryption", "use", json!("enc")),
        variant("for-wrapping", "key_ops", json!(["wrapKey"])),
        variant("stated-use", "use", json!("sig")),
        { "kty": "oct", "kid": "secret", "k": "c2VjcmV0" },
        { "kty": "EC", "crv": "secp256k1", "kid": "other-curve", "x": "AA", "y": "AA" },
        { "kty": "ML-DSA", "kid": "future" },
        "not a key"
    ]});
    let (keys, skipped) = parse_jwks(set.to_string().as_bytes()).unwrap();
    let kids: Vec<_> = keys
        .iter()
        .map(|key| key.jwk.common.key_id.as_deref())
        .collect();
    assert_eq!(kids, [Some("good"), Some("stated-use")]);
    assert_eq!(skipped, 7);
    assert!(parse_jwks(br#"{"keys": 3}"#).is_err());
    assert!(parse_jwks(b"<html></html>").is_err());
}

#[test]
fn a_key_fits_only_its_own_algorithms() {
    let jwk = |value: Value| -> Jwk { serde_json::from_value(value).unwrap() };
    let rsa = jwk(json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }));
    let rs256 = jwk(json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RS256" }));
    let p256 = jwk(json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" }));
    let p384 = jwk(json!({ "kty": "EC", "crv": "P-384", "x": "AA", "y": "AA" }));
    let ed25519 = jwk(json!({ "kty": "OKP", "crv": "Ed25519", "x": "AA" }));
    assert!(key_fits(Algorithm::RS256, &rsa) && key_fits(Algorithm::PS512, &rsa));
    assert!(key_fits(Algorithm::RS256, &rs256) && !key_fits(Algorithm::PS256, &rs256));
    assert!(key_fits(Algorithm::ES256, &p256) && !key_fits(Algorithm::ES384, &p256));
    assert!(key_fits(Algorithm::ES384, &p384) && !key_fits(Algorithm::ES256, &p384));
    assert!(key_fits(Algorithm::EdDSA, &ed25519) && !key_fits(Algorithm::ES256, &ed25519));
    assert!(!key_fits(Algorithm::RS256, &p256) && !key_fits(Algorithm::HS256, &rsa));
}
