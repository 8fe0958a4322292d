//! `GET /.well-known/jwks.json`: the public keys that verify authd's tokens (RFC 7517).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::http::bodies::prebuilt_json::{PrebuiltJson, RingDocument};
use crate::{
    keys::{JWKS_MAX_AGE, PublicJwk},
    state::AppState,
};

pub struct JwksApi {
    state: AppState,
    document: RingDocument<JwkSet>,
}

impl JwksApi {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            document: RingDocument::default(),
        }
    }

    fn document(&self) -> PrebuiltJson<JwkSet> {
        self.document
            .get(&self.state.key_ring, self.state.clock.now(), |set| JwkSet {
                keys: set.keys.iter().filter_map(to_object).collect(),
            })
    }
}

/// One public key (RFC 7517 §4): RSA (RFC 7518 §6.3), EC (§6.2) or OKP (RFC 8037).
#[derive(Object)]
struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    kty: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    use_: String,
    /// `RS256`, `ES256` or `EdDSA`.
    alg: String,
    kid: String,
    /// RSA modulus, base64url.
    #[oai(skip_serializing_if_is_none)]
    n: Option<String>,
    /// RSA public exponent, base64url.
    #[oai(skip_serializing_if_is_none)]
    e: Option<String>,
    /// Curve: `P-256` (EC) or `Ed25519` (OKP).
    #[oai(skip_serializing_if_is_none)]
    crv: Option<String>,
    /// EC x coordinate, or the OKP public key, base64url.
    #[oai(skip_serializing_if_is_none)]
    x: Option<String>,
    /// EC y coordinate, base64url.
    #[oai(skip_serializing_if_is_none)]
    y: Option<String>,
}

#[derive(Object)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
enum JwksResponse {
    #[oai(status = 200)]
    Ok(
        PrebuiltJson<JwkSet>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(tag = "ApiTags::Keys")]
impl JwksApi {
    /// JSON Web Key Set
    ///
    /// Every key that can still verify a token authd issued; never a retired key.
    #[oai(path = "/.well-known/jwks.json", method = "get")]
    async fn jwks(&self) -> JwksResponse {
        JwksResponse::Ok(
            self.document(),
            // Rotation publishes a key this long before it signs (keys::rotation).
            format!("public, max-age={}", JWKS_MAX_AGE.whole_seconds()),
        )
    }
}

fn to_object(jwk: &PublicJwk) -> Option<Jwk> {
    let mut object = Jwk {
        kty: String::new(),
        use_: "sig".to_owned(),
        alg: jwk.common.key_algorithm.map(|alg| alg.to_string())?,
        kid: jwk.common.key_id.clone()?,
        n: None,
        e: None,
        crv: None,
        x: None,
        y: None,
    };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            object.kty = "RSA".to_owned();
            object.n = Some(rsa.n.clone());
            object.e = Some(rsa.e.clone());
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            object.kty = "EC".to_owned();
            object.crv = curve_name(&ec.curve);
            object.x = Some(ec.x.clone());
            object.y = Some(ec.y.clone());
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            object.kty = "OKP".to_owned();
            object.crv = curve_name(&okp.curve);
            object.x = Some(okp.x.clone());
        }
        // A shared secret (OctetKey) is never published; nothing else exists.
        _ => return None,
    }
    Some(object)
}

/// The curve's JOSE name (`P-256`, `Ed25519`), as the JWK serialisation spells it.
fn curve_name(curve: &EllipticCurve) -> Option<String> {
    serde_json::to_value(curve)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
}
