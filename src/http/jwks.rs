//! `GET /.well-known/jwks.json`: the public keys that verify authd's tokens (RFC 7517).

use jsonwebtoken::jwk::AlgorithmParameters;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::{
    keys::{JWKS_MAX_AGE, PublicJwk},
    startup::AppState,
};

pub struct JwksApi(pub AppState);

/// One public key (RFC 7517 §4, RFC 7518 §6.3.1).
#[derive(Object)]
struct Jwk {
    /// Key type, `RSA`.
    kty: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    use_: String,
    alg: String,
    kid: String,
    /// RSA modulus, base64url.
    n: String,
    /// RSA public exponent, base64url.
    e: String,
}

#[derive(Object)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
enum JwksResponse {
    #[oai(status = 200)]
    Ok(Json<JwkSet>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "ApiTags::Keys")]
impl JwksApi {
    /// JSON Web Key Set
    ///
    /// Every key that can still verify a token authd issued; never a retired key.
    #[oai(path = "/.well-known/jwks.json", method = "get")]
    async fn jwks(&self) -> JwksResponse {
        let set = self.0.key_ring.jwks(self.0.clock.now());
        let keys = set.keys.iter().filter_map(to_object).collect();
        JwksResponse::Ok(
            Json(JwkSet { keys }),
            // Rotation publishes a key this long before it signs (keys::rotation).
            format!("public, max-age={}", JWKS_MAX_AGE.whole_seconds()),
        )
    }
}

fn to_object(jwk: &PublicJwk) -> Option<Jwk> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None; // only RSA keys exist so far
    };
    Some(Jwk {
        kty: "RSA".to_owned(),
        use_: "sig".to_owned(),
        alg: jwk.common.key_algorithm.map(|alg| alg.to_string())?,
        kid: jwk.common.key_id.clone()?,
        n: rsa.n.clone(),
        e: rsa.e.clone(),
    })
}
