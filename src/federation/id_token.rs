//! An upstream's ID token (OpenID Connect Core §3.1.3.7), verified with the machinery that
//! verifies a trusted issuer's tokens at the token exchange: the upstream's keys fetched from
//! its `jwks_uri` and cached, the algorithms pinned to the upstream's, `iss` exact, `aud` the
//! client authd is there, `exp`, `nbf`, `iat`; then the `nonce` of this login and `azp`.

use std::{str::FromStr, sync::Arc};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::{Federation, invalid, unreachable};
use crate::{
    error::Error,
    exchange::{ExternalIssuers, ExternalTokenError, TrustedIssuer, UserMatch},
    store::{UpstreamRecord, lock},
};

impl Federation {
    pub(super) async fn verify_id_token(
        &self,
        upstream: &UpstreamRecord,
        token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, Error> {
        let verifier = self.verifier(upstream)?;
        let refused =
            |why: &str| invalid(format!("{}'s ID token was refused: {why}.", upstream.name));
        let (_, claims) = verifier
            .verify_with_claims(token)
            .await
            .map_err(|err| match err {
                ExternalTokenError::Invalid(why) => refused(&why),
                ExternalTokenError::KeysUnavailable { .. } => {
                    tracing::warn!(upstream = %upstream.id, error = %err, "no upstream keys");
                    unreachable(format!("{}'s keys could not be fetched.", upstream.name))
                }
            })?;
        if !claims.get("iat").is_some_and(Value::is_i64) {
            return Err(refused("it has no iat"));
        }
        let echoed = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bool::from(echoed.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(refused("its nonce is not this login's"));
        }
        // §3.1.3.7 (3–5): with several audiences, the token must say it was issued to authd.
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|aud| aud.len() > 1);
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != upstream.client_id => {
                return Err(refused("it was issued to another client (azp)"));
            }
            None if several => return Err(refused("it has several audiences and no azp")),
            _ => {}
        }
        Ok(claims)
    }

    /// The upstream's verifier, built again when its record changed.
    fn verifier(&self, upstream: &UpstreamRecord) -> Result<Arc<ExternalIssuers>, Error> {
        let mut verifiers = lock(&self.verifiers);
        if let Some((revision, verifier)) = verifiers.get(&upstream.id)
            && *revision == upstream.revision
        {
            return Ok(Arc::clone(verifier));
        }
        let (Some(issuer), Some(jwks_uri)) = (&upstream.issuer, &upstream.jwks_uri) else {
            return Err(Error::Internal(format!(
                "upstream {} has no issuer or jwks_uri",
                upstream.id
            )));
        };
        let algorithms = upstream
            .algorithms
            .iter()
            .filter_map(|alg| Algorithm::from_str(alg).ok())
            .collect();
        let trusted = TrustedIssuer {
            issuer: issuer.clone(),
            jwks_uri: jwks_uri.clone(),
            algorithms,
            audience: upstream.client_id.clone(),
            subject_claim: "sub".to_owned(),
            user_match: UserMatch::Id,
            clients: Vec::new(),
        };
        let verifier = Arc::new(ExternalIssuers::new(
            std::slice::from_ref(&trusted),
            Arc::clone(&self.clock),
            self.leeway,
        ));
        verifiers.insert(
            upstream.id.clone(),
            (upstream.revision, Arc::clone(&verifier)),
        );
        Ok(verifier)
    }
}
