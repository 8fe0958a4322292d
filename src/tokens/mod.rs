//! Access tokens: their claims (RFC 9068), signing, the one verification path, and revocation.

mod claims;
mod issuer;
mod revocations;
mod revoked_set;
mod verifier;

pub use crate::store::{Revocation, RevocationKind};
pub use claims::{AccessClaims, Actor, Audience, Confirmation};
pub use issuer::{Exchanged, IssuedToken, TokenIssuer};
pub use revocations::{Revocations, RevokedSet};
pub use verifier::{InvalidToken, MAX_TOKEN_LEN, TokenVerifier, VerifiedToken, hash_token};

/// `typ` header of every access token (RFC 9068 §2.1), so one cannot pass for another kind of JWT.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
