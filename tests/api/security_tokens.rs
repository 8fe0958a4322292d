//! Every known attack on a JWT, against every route that accepts one (issue 9): each must be
//! refused (401, `active: false`, or the route's own refusal) and never answered with a 5xx,
//! and none may revoke or spoil the real token it was made from.
//!
//! Routes: `GET /me`, `GET /api/profile`, `POST /logout` (bearer), `POST /oauth/introspect`,
//! `POST /oauth/revoke` (RFC 7009: 200 whatever the token) and the refresh grant.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::Jwk};
use rsa::{
    BigUint, RsaPrivateKey, RsaPublicKey,
    pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey},
    pkcs8::{EncodePublicKey, LineEnding},
};
use serde_json::{Value, json};

use crate::{
    clients::create_client,
    helpers::{AppOptions, TestApp, spawn_app_with},
    tokens::{claims_of, forge},
};

/// An app, a client that may introspect, and a real user's tokens to build attacks from.
struct Target {
    app: TestApp,
    client_id: String,
    client_secret: String,
    access: String,
    refresh: String,
}

impl Target {
    async fn new(options: AppOptions) -> Self {
        let app = spawn_app_with(options).await;
        let (client_id, client_secret) = create_client(&app, "");
        let (access, refresh) = password_grant(&app, "alice").await;
        Self {
            app,
            client_id,
            client_secret,
            access,
            refresh,
        }
    }

    /// Sends `token` to every route and asserts each refuses it.
    async fn assert_refused_everywhere(&self, attack: &str, token: &str) {
        self.assert_refused_as_access_token(attack, token).await;
        self.assert_refused_as_refresh_token(attack, token).await;

        let introspected = self.introspect(token).await;
        assert_eq!(
            introspected,
            json!({"active": false}),
            "{attack}: introspection"
        );

        let revoke = self
            .app
            .client
            .post(self.app.url("/oauth/revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), 200, "{attack}: revoke (RFC 7009)");
    }

    /// The routes that take a bearer token answer 401 with a challenge.
    async fn assert_refused_as_access_token(&self, attack: &str, token: &str) {
        let app = &self.app;
        let requests = [
            ("GET /me", app.client.get(app.url("/me"))),
            ("GET /api/profile", app.client.get(app.url("/api/profile"))),
            ("POST /logout", app.client.post(app.url("/logout"))),
        ];
        for (route, request) in requests {
            let answer = request
                .header("Authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 401, "{attack}: {route}");
            assert!(
                answer.headers().contains_key("www-authenticate"),
                "{attack}: {route} without a challenge"
            );
        }
    }

    /// The refresh grant answers 400 (`invalid_grant`, or `invalid_request` for an empty one).
    async fn assert_refused_as_refresh_token(&self, attack: &str, token: &str) {
        let answer = self
            .app
            .client
            .post(self.app.url("/oauth/token"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{attack}: refresh grant");
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["error"] == "invalid_grant" || body["error"] == "invalid_request",
            "{attack}: refresh grant: {body}"
        );
    }

    async fn introspect(&self, token: &str) -> Value {
        let answer = self
            .app
            .client
            .post(self.app.url("/oauth/introspect"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    }

    /// The real tokens still work: no attack revoked or spoiled them.
    async fn assert_real_tokens_unharmed(&self) {
        assert_eq!(self.app.me_status(&self.access).await, 200);
        assert_eq!(self.introspect(&self.refresh).await["active"], true);
    }
}

async fn password_grant(app: &TestApp, username: &str) -> (String, String) {
    let password = app.register(username).await;
    let answer = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A change to a real token's claims that makes it one authd must refuse.
type ClaimEdit = Box<dyn FnOnce(&mut Value)>;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header and payload, signed by `key` with `alg`.
fn signed(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

fn segments(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    (parts[0].into(), parts[1].into(), parts[2].into())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments(token).0).unwrap()).unwrap()
}

/// The published verification key in the forms a confused verifier might use as an HMAC
/// secret: PEM (SPKI and PKCS#1), the modulus, the whole JWK.
fn public_key_as_secrets(jwk: &Value) -> Vec<Vec<u8>> {
    let number = |field: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap(),
        )
    };
    let public = RsaPublicKey::new(number("n"), number("e")).unwrap();
    vec![
        public
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
            .into_bytes(),
        public.to_pkcs1_pem(LineEnding::LF).unwrap().into_bytes(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ]
}

#[tokio::test]
async fn forged_and_confused_signatures_are_refused_by_every_route() {
    let target = Target::new(AppOptions::default()).await;
    let token = &target.access;
    let (header, payload, signature) = segments(token);
    let claims = claims_of(token);
    let kid = header_of(token)["kid"].as_str().unwrap().to_owned();
    let mut attacks: Vec<(String, String)> = Vec::new();

    for alg in ["none", "None", "NONE", "nOnE"] {
        let none = b64(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string());
        attacks.push((
            format!("alg {alg}, no signature"),
            format!("{none}.{payload}."),
        ));
        attacks.push((
            format!("alg {alg}, the original signature"),
            format!("{none}.{payload}.{signature}"),
        ));
    }

    let jwks = target.app.jwks().await;
    for secret in public_key_as_secrets(&jwks["keys"][0]) {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut confused = Header::new(alg);
            confused.typ = Some("at+jwt".into());
            confused.kid = Some(kid.clone());
            let forged = encode(&confused, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            attacks.push((format!("{alg:?} keyed with the public key"), forged));
        }
    }

    let mut tampered = claims.clone();
    tampered["sub"] = uuid::Uuid::new_v4().to_string().into();
    tampered["scope"] = "admin".into();
    let tampered = b64(tampered.to_string());
    attacks.push((
        "tampered payload, original signature".into(),
        format!("{header}.{tampered}.{signature}"),
    ));
    attacks.push(("stripped signature".into(), format!("{header}.{payload}")));
    attacks.push(("empty signature".into(), format!("{header}.{payload}.")));
    let random: [u8; 256] = std::array::from_fn(|_| rand::random());
    attacks.push((
        "random signature".into(),
        format!("{header}.{payload}.{}", b64(random)),
    ));
    let (_, _, other_signature) = segments(&password_grant(&target.app, "bob").await.0);
    attacks.push((
        "another token's signature".into(),
        format!("{header}.{payload}.{other_signature}"),
    ));

    // An attacker's own RSA key, offered in every header that could point a naive verifier at it.
    let attacker = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let attacker_key = EncodingKey::from_rsa_der(attacker.to_pkcs1_der().unwrap().as_bytes());
    let attacker_jwk =
        serde_json::to_value(Jwk::from_encoding_key(&attacker_key, Algorithm::RS256).unwrap())
            .unwrap();
    let base = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    let mut embedded = Vec::new();
    for (field, value) in [
        ("jwk", attacker_jwk.clone()),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!([b64(b"attacker certificate")])),
    ] {
        let mut with_kid = base.clone();
        with_kid[field] = value.clone();
        embedded.push((format!("{field} header, authd's kid"), with_kid));
        let mut own_kid = base.clone();
        own_kid[field] = value;
        own_kid["kid"] = "attacker".into();
        embedded.push((format!("{field} header, the attacker's kid"), own_kid));
    }
    for (attack, header) in embedded {
        let forged = signed(&header, &claims, &attacker_key, Algorithm::RS256);
        attacks.push((attack, forged));
    }

    for (attack, forged) in &attacks {
        target.assert_refused_everywhere(attack, forged).await;
    }
    target.assert_real_tokens_unharmed().await;
}

#[tokio::test]
async fn validly_signed_tokens_with_a_wrong_header_or_claim_are_refused_by_every_route() {
    let target = Target::new(AppOptions::default()).await;
    let (app, token) = (&target.app, target.access.as_str());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut attacks: Vec<(String, String)> = Vec::new();
    for kid in [
        "no-such-key",
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1",
        "*",
        "%00",
        "$(id)",
    ] {
        let forged = forge(app, token, |h| h.kid = Some(kid.into()), |_| {}).await;
        attacks.push((format!("kid {kid:?}"), forged));
    }
    attacks.push((
        "no kid".into(),
        forge(app, token, |h| h.kid = None, |_| {}).await,
    ));
    attacks.push((
        "unknown crit header".into(),
        forge(
            app,
            token,
            |h| h.crit = Some(vec!["urn:example:unknown".into()]),
            |_| {},
        )
        .await,
    ));
    for typ in [Some("JWT"), Some("dpop+jwt"), Some("at+jwt+evil"), None] {
        let forged = forge(app, token, |h| h.typ = typ.map(str::to_owned), |_| {}).await;
        attacks.push((format!("typ {typ:?}"), forged));
    }
    let claim_edits: Vec<(&str, ClaimEdit)> = vec![
        ("expired", Box::new(move |c| c["exp"] = (now - 3600).into())),
        (
            "not yet valid",
            Box::new(move |c| c["nbf"] = (now + 3600).into()),
        ),
        (
            "wrong iss",
            Box::new(|c| c["iss"] = "https://evil.example".into()),
        ),
        ("wrong aud", Box::new(|c| c["aud"] = "another-api".into())),
        (
            "aud as a list without us",
            Box::new(|c| c["aud"] = json!(["another-api"])),
        ),
        ("no exp", Box::new(|c| c["exp"] = Value::Null)),
        (
            "exp as a string",
            Box::new(move |c| c["exp"] = (now + 600).to_string().into()),
        ),
        ("no sub", Box::new(|c| c["sub"] = Value::Null)),
    ];
    for (attack, edit) in claim_edits {
        let forged = forge(
            app,
            token,
            |_| {},
            |c| {
                edit(c);
                if let Value::Object(map) = c {
                    map.retain(|_, value| !value.is_null());
                }
            },
        )
        .await;
        attacks.push((attack.into(), forged));
    }
    for (attack, forged) in &attacks {
        target.assert_refused_everywhere(attack, forged).await;
    }
    target.assert_real_tokens_unharmed().await;
}

#[tokio::test]
async fn malformed_and_oversized_tokens_are_refused_by_every_route() {
    let target = Target::new(AppOptions::default()).await;
    let (header, payload, signature) = segments(&target.access);
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let attacks = [
        ("one segment", header.clone()),
        ("two segments", format!("{header}.{payload}")),
        (
            "four segments",
            format!("{header}.{payload}.{signature}.{signature}"),
        ),
        (
            "five segments (JWE-shaped)",
            format!("{header}.{payload}.{payload}.{payload}.{signature}"),
        ),
        ("bad base64", format!("{header}.@@not*base64@@.{signature}")),
        ("padded base64", format!("{header}=.{payload}.{signature}")),
        (
            "header not JSON",
            format!("{}.{payload}.{signature}", b64("not json")),
        ),
        (
            "payload not JSON",
            format!("{header}.{}.{signature}", b64("not json")),
        ),
        (
            "payload a JSON array",
            format!("{header}.{}.{signature}", b64("[1,2]")),
        ),
        (
            "payload deeply nested",
            format!("{header}.{}.{signature}", b64(nested(2000))),
        ),
        (
            "header deeply nested",
            format!(
                "{}.{payload}.{signature}",
                b64(format!(r#"{{"alg":"RS256","x":{}}}"#, nested(2000)))
            ),
        ),
        (
            "9 KiB",
            format!("{header}.{}.{signature}", "A".repeat(9 * 1024)),
        ),
        ("only dots", "..".to_owned()),
        (
            "whitespace inside",
            format!("{header}. {payload}.{signature}"),
        ),
    ];
    for (attack, token) in &attacks {
        target.assert_refused_everywhere(attack, token).await;
    }

    // An empty token is a missing parameter to the OAuth endpoints (RFC 7662 §2.1, RFC 7009
    // §2.1: `token` is required), and no token at all to the bearer routes.
    target.assert_refused_as_access_token("empty", "").await;
    target.assert_refused_as_refresh_token("empty", "").await;
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let answer = target
            .app
            .client
            .post(target.app.url(path))
            .basic_auth(&target.client_id, Some(&target.client_secret))
            .form(&[("token", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "empty token: {path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "empty token: {path}");
    }
    target.assert_real_tokens_unharmed().await;
}

#[tokio::test]
async fn an_es256_signature_of_zeros_is_refused_cve_2022_21449() {
    let target = Target::new(AppOptions {
        signing_algorithm: Algorithm::ES256,
        ..AppOptions::default()
    })
    .await;
    let (header, payload, _) = segments(&target.access);
    assert_eq!(header_of(&target.access)["alg"], "ES256");
    // r = s = 0, as raw (JOSE) and as DER: verifiers that skipped the range check accepted it.
    let raw_zeros = b64([0u8; 64]);
    let der_zeros = b64([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
    for (attack, signature) in [("r=s=0", raw_zeros), ("r=s=0 as DER", der_zeros)] {
        target
            .assert_refused_everywhere(attack, &format!("{header}.{payload}.{signature}"))
            .await;
    }
    target.assert_real_tokens_unharmed().await;
}

#[tokio::test]
async fn tokens_of_the_wrong_kind_are_refused_where_the_other_kind_is_expected() {
    let target = Target::new(AppOptions::default()).await;
    target
        .assert_refused_as_access_token("refresh token as access token", &target.refresh)
        .await;
    target
        .assert_refused_as_refresh_token("access token as refresh token", &target.access)
        .await;
    target.assert_real_tokens_unharmed().await;
}

#[tokio::test]
async fn logged_out_revoked_and_deleted_users_tokens_are_refused_by_every_route() {
    let target = Target::new(AppOptions::default()).await;
    let app = &target.app;

    let (logged_out, _) = password_grant(app, "bob").await;
    assert_eq!(app.logout(&logged_out).await.status(), 204);
    target
        .assert_refused_everywhere("logged out", &logged_out)
        .await;

    let (revoked, revoked_refresh) = password_grant(app, "carol").await;
    let revoke = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", revoked_refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    target
        .assert_refused_everywhere("session revoked", &revoked)
        .await;
    target
        .assert_refused_everywhere("revoked refresh token", &revoked_refresh)
        .await;

    let (deleted, deleted_refresh) = password_grant(app, "dave").await;
    assert_eq!(app.me_status(&deleted).await, 200);
    app.delete_user("dave").await;
    target
        .assert_refused_everywhere("deleted user", &deleted)
        .await;
    target
        .assert_refused_everywhere("deleted user's refresh token", &deleted_refresh)
        .await;
    let write = app
        .client
        .put(app.url("/api/profile"))
        .bearer_auth(&deleted)
        .json(&json!({"display_name": "Dave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401, "a deleted user's profile write");

    target.assert_real_tokens_unharmed().await;
}
