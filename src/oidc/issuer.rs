//! Issuing ID tokens (OpenID Connect Core §2): for a session the code flow granted a client
//! with scope `openid`, beside each access token of the session.

use std::sync::Arc;

use jsonwebtoken::Header;
use time::Duration;

use super::{IdTokenClaims, at_hash, claims, id_token::ID_TOKEN_TYP, is_openid};
use crate::{
    clock::Clock,
    error::Error,
    keys::KeyRing,
    store::{ProfileStore, SessionRecord, UserRecord},
    tokens::IssuedToken,
};

pub struct IdTokens {
    key_ring: Arc<KeyRing>,
    profiles: Arc<dyn ProfileStore>,
    clock: Arc<dyn Clock>,
    issuer: String,
    /// An ID token lives as long as the access token beside it.
    ttl: Duration,
}

impl IdTokens {
    pub fn new(
        key_ring: Arc<KeyRing>,
        profiles: Arc<dyn ProfileStore>,
        clock: Arc<dyn Clock>,
        issuer: String,
        ttl: Duration,
    ) -> Self {
        Self {
            key_ring,
            profiles,
            clock,
            issuer,
            ttl,
        }
    }

    /// The ID token of `session` beside `access_token`, if the code flow granted the session
    /// to a client with scope `openid`; `None` for any other session. `nonce` is the
    /// authorization request's; none on a refresh (§12.2).
    pub async fn for_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        access_token: &IssuedToken,
        nonce: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let (Some(client_id), Some(login)) = (&session.client_id, &session.login) else {
            return Ok(None);
        };
        if !is_openid(&session.scope) {
            return Ok(None);
        }
        // Only the claims the `claims` parameter asked to find here: scope claims are
        // UserInfo's (§5.4), which keeps the token small and its profile read rare.
        let names: Vec<&str> = login.claims.id_token.iter().map(String::as_str).collect();
        let profile = if claims::needs_profile(&names) {
            self.profiles.profile(user.id).await?
        } else {
            None
        };
        let now = self.clock.now();
        // Signed by the key that signed its access token: the one signing now.
        let key = self
            .key_ring
            .signing_key(now)
            .ok_or_else(|| Error::Internal("no signing key is active".to_owned()))?;
        let claims = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: session.user_id.to_string(),
            aud: client_id.clone(),
            exp: (now + self.ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            auth_time: login.auth_time,
            nonce: nonce.map(str::to_owned),
            at_hash: Some(at_hash(key.algorithm, &access_token.token)),
            azp: client_id.clone(),
            sid: Some(session.id.to_string()),
            amr: login.amr.clone(),
            idp: login.idp.clone(),
            user: {
                let mut values = claims::user_claims(
                    user,
                    profile.as_ref(),
                    access_token.claims.groups.as_deref(),
                    &names,
                );
                // With the `groups` scope, the groups are in the ID token too, as relying
                // parties that authorize by group (Kubernetes' OIDC authenticator) read them
                // there: the same names as the access token beside it.
                if let Some(groups) = &access_token.claims.groups {
                    values.insert(super::GROUPS.to_owned(), groups.clone().into());
                }
                values
            },
        };
        let _span = tracing::info_span!("jwt sign id_token", alg = ?key.algorithm, kid = %key.kid)
            .entered();
        let mut header = Header::new(key.algorithm);
        header.typ = Some(ID_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid.clone());
        key.sign(&header, &claims)
            .map(Some)
            .map_err(|err| Error::Internal(err.to_string()))
    }
}
