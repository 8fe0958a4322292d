//! Sender-constrained tokens: proving, on each call, possession of the key a token is bound to.
//!
//! Two schemes: the seed's signed nonce (`Authorization: PoP`, a registered RSA key signs
//! `nonce || token`) and DPoP (RFC 9449: the client signs a proof JWT per request).

mod dpop;
mod pop_key;
mod pop_nonces;

pub use dpop::{DPOP_ALGORITHMS, DpopVerifier, ProofContext, access_token_hash, key_fits};
pub use pop_key::PopPublicKey;
pub use pop_nonces::PopNonces;
