//! Who calls a protected route, and how they proved they may use their token: as a plain bearer
//! (RFC 6750), with a DPoP proof (RFC 9449), or with the seed's signed nonce (PoP). A token bound
//! to a key is refused as a bearer token, so stealing it is not enough.

use poem::Request;
use poem_openapi::{
    SecurityScheme,
    auth::{ApiKey, Bearer},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    accounts::UserRecord,
    error::Error,
    possession::{PopPublicKey, ProofContext},
    state::AppState,
    tokens::{AccessClaims, InvalidToken, VerifiedToken},
};

/// The `Authorization` header of a protected route, declared in the spec as two alternatives
/// on the one header: `BearerAuth`, a plain bearer token, for which Swagger UI's Authorize
/// dialog takes the `access_token` as it came (and lists first), and `HeaderAuth`, the header
/// whole, for the proof schemes.
#[derive(SecurityScheme)]
pub enum AccessAuth {
    Bearer(BearerAuth),
    Header(HeaderAuth),
}

/// `Authorization: Bearer <token>` (RFC 6750): an `access_token` from `/oauth/token` or `/auth`
/// that is not bound to a key. In Swagger UI, paste the token alone.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(Bearer);

/// The `Authorization` header whole, scheme included: `DPoP <token>` with a `DPoP` proof
/// header; `PoP <token>` with `PoP-Signature: base64(RSA-PSS-SHA256(nonce || token))` (and
/// `PoP-Nonce`, the nonce signed, once the token's own nonce has been used); or `Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "Authorization", key_in = "header")]
pub struct HeaderAuth(ApiKey);

impl AccessAuth {
    /// The request's `Authorization` header, read as poem-openapi would, for an operation that
    /// also takes the token another way (`POST /userinfo`'s form body).
    pub fn from_header(req: &Request) -> Option<Self> {
        let value = req.headers().get(poem::http::header::AUTHORIZATION)?;
        let key = value.to_str().ok()?.to_owned();
        Some(Self::Header(HeaderAuth(ApiKey { key })))
    }

    /// A token sent as a plain bearer in a form body (RFC 6750 §2.2).
    pub fn bearer_token(token: String) -> Self {
        Self::Bearer(BearerAuth(Bearer { token }))
    }
}

/// Header carrying the PoP signature.
pub const POP_SIGNATURE: &str = "PoP-Signature";
/// Header naming the PoP nonce signed (request) or to sign next (response).
pub const POP_NONCE: &str = "PoP-Nonce";

/// A caller whose token verified, together with any proof its binding demands.
#[derive(Debug)]
pub struct Caller {
    pub verified: VerifiedToken,
    /// PoP scheme with single-use nonces: the nonce for the next call (`PoP-Nonce` answer header).
    pub next_pop_nonce: Option<String>,
}

impl Caller {
    /// The user the token was issued to, who must still exist: a token outlives nothing it
    /// names, so a deleted user's tokens stop working at once. A client's own token has none.
    pub async fn user(&self, state: &AppState) -> Result<UserRecord, Error> {
        state
            .users
            .find_by_id(self.user_id()?)
            .await?
            .ok_or_else(|| InvalidToken::UnknownSubject.into())
    }

    /// The id of the user the token was issued to, for a write that itself fails if the user
    /// is gone; a client's own token has none.
    pub fn user_id(&self) -> Result<Uuid, Error> {
        Uuid::parse_str(&self.verified.claims.sub)
            .map_err(|_| Error::from(InvalidToken::UnknownSubject))
    }
}

/// Whether what a verified token names still exists: its user, for a user's token (one Postgres
/// read). A client's own token names no user. For the routes that do not otherwise read the
/// user (logout, introspection).
pub async fn subject_exists(state: &AppState, claims: &AccessClaims) -> Result<bool, Error> {
    if claims.username.is_none() {
        return Ok(true);
    }
    let Ok(user_id) = Uuid::parse_str(&claims.sub) else {
        return Ok(false);
    };
    Ok(state.users.find_by_id(user_id).await?.is_some())
}

/// Authenticates the caller of a protected route from its `Authorization` header and, for the
/// proof schemes, the request's other headers, method and path.
pub async fn authorize(
    state: &AppState,
    req: &Request,
    auth: &AccessAuth,
) -> Result<Caller, Error> {
    let (scheme, token) = match auth {
        AccessAuth::Bearer(BearerAuth(bearer)) => ("Bearer", bearer.token.as_str()),
        AccessAuth::Header(HeaderAuth(header)) => header
            .key
            .trim()
            .split_once(' ')
            .ok_or(Error::MissingToken)?,
    };
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("Bearer") {
        let verified = state.verifier.verify(token).await?;
        if verified.claims.bound_key().is_some() {
            return Err(InvalidToken::BoundToKey.into());
        }
        Ok(Caller {
            verified,
            next_pop_nonce: None,
        })
    } else if scheme.eq_ignore_ascii_case("DPoP") {
        let proof = dpop_proof(req)?
            .ok_or_else(|| Error::InvalidDpopProof("a DPoP proof header is required".to_owned()))?;
        let verified = state
            .verifier
            .verify(token)
            .await
            .map_err(|err| match err {
                Error::InvalidToken(reason) => Error::InvalidDpopToken(reason),
                other => other,
            })?;
        let bound = verified
            .claims
            .bound_key()
            .ok_or(Error::InvalidDpopToken(InvalidToken::NotBound))?
            .to_owned();
        let context = ProofContext {
            method: req.method().as_str(),
            path: req.original_uri().path(),
            access_token: Some(token),
        };
        if state.dpop.verify(proof, context).await? != bound {
            return Err(Error::InvalidDpopToken(InvalidToken::KeyMismatch));
        }
        Ok(Caller {
            verified,
            next_pop_nonce: None,
        })
    } else if scheme.eq_ignore_ascii_case("PoP") {
        let signature = header(req, POP_SIGNATURE).ok_or(Error::InvalidPopProof(
            "send base64(RSA-PSS-SHA256(nonce || token)) in the PoP-Signature header",
        ))?;
        prove_pop(state, token, signature, header(req, POP_NONCE)).await
    } else {
        Err(Error::MissingToken)
    }
}

/// The request's DPoP proof, if it sent one; more than one is an error (RFC 9449 §4.3 check 1).
/// The thumbprint of the key of the request's DPoP proof, checked for a request that carries
/// no access token (the token and PAR endpoints); `None` without a proof.
pub async fn proof_key(state: &AppState, req: &Request) -> Result<Option<String>, Error> {
    let Some(proof) = dpop_proof(req)? else {
        return Ok(None);
    };
    let context = ProofContext {
        method: req.method().as_str(),
        path: req.original_uri().path(),
        access_token: None,
    };
    Ok(Some(state.dpop.verify(proof, context).await?))
}

pub fn dpop_proof(req: &Request) -> Result<Option<&str>, Error> {
    let mut proofs = req.headers().get_all("DPoP").iter();
    let first = proofs.next();
    if proofs.next().is_some() {
        return Err(Error::InvalidDpopProof(
            "send exactly one DPoP header".to_owned(),
        ));
    }
    first
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Error::InvalidDpopProof("the proof is not a JWT".to_owned()))
        })
        .transpose()
}

/// The signed-nonce scheme: `signature` must be the user's registered key signing
/// `nonce || token`, where `nonce` is the token's own (first call) or one authd handed out
/// since. The signature is checked before the nonce is spent, so a forged request cannot burn
/// the owner's nonce.
pub async fn prove_pop(
    state: &AppState,
    token: &str,
    signature: &str,
    nonce: Option<&str>,
) -> Result<Caller, Error> {
    let verified = state.verifier.verify(token).await?;
    let claims = &verified.claims;
    let (Some(bound), Some(first_nonce)) = (claims.bound_key(), claims.nonce.as_deref()) else {
        return Err(Error::InvalidPopProof(
            "the token was not issued by /pop/login",
        ));
    };
    let nonce = nonce.unwrap_or(first_nonce);
    let user_id =
        Uuid::parse_str(&claims.sub).map_err(|_| Error::from(InvalidToken::UnknownSubject))?;
    let user = state
        .users
        .find_by_id(user_id)
        .await?
        .ok_or(InvalidToken::UnknownSubject)?;
    let key = user
        .pop_public_key
        .as_deref()
        .map(PopPublicKey::parse)
        .transpose()?
        .filter(|key| key.thumbprint() == bound)
        .ok_or(Error::InvalidPopProof(
            "the token is bound to a key the user has since replaced",
        ))?;
    if !key.verifies(format!("{nonce}{token}").as_bytes(), signature) {
        return Err(Error::InvalidPopProof(
            "the signature of nonce || token does not verify with the user's registered key",
        ));
    }
    state.pop_nonces.redeem(nonce, &claims.jti).await?;
    let expires_at =
        OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or_else(|_| state.clock.now());
    let next_pop_nonce = state.pop_nonces.next(&claims.jti, expires_at).await?;
    Ok(Caller {
        verified,
        next_pop_nonce,
    })
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}
