//! PKCE (RFC 7636) with `S256` only: `plain` would send the verifier itself through the
//! browser, where the code is exposed too (RFC 9700 §2.1.1).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ApplicationType, ClientRecord, PkcePolicy};

/// Whether `client` may send an authorization request without a `code_challenge`, given the
/// server's default policy and whether the request is OpenID Connect with a `nonce`; if not,
/// what to tell the client.
///
/// RFC 9700 §2.1.1: public clients must use PKCE; for a confidential OpenID Connect client,
/// "the use of the nonce parameter … is also sufficient". Native apps use PKCE whatever they
/// are (RFC 8252 §8.1): a secret shipped in an app is no secret.
pub fn without_challenge(
    client: &ClientRecord,
    default: PkcePolicy,
    oidc_with_nonce: bool,
) -> Result<(), &'static str> {
    if client.is_public() || client.application_type == ApplicationType::Native {
        return Err(
            "PKCE is required of public and native clients: send code_challenge and \
             code_challenge_method=S256",
        );
    }
    match client.pkce.unwrap_or(default) {
        PkcePolicy::Required => Err("PKCE is required of this client: send code_challenge and \
             code_challenge_method=S256"),
        PkcePolicy::NonceAllowed if oidc_with_nonce => Ok(()),
        PkcePolicy::NonceAllowed => Err(
            "send PKCE (code_challenge with code_challenge_method=S256) or, for an OpenID \
             Connect request (scope openid), a nonce",
        ),
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn well_formed(verifier_or_challenge: &str) -> bool {
    (43..=128).contains(&verifier_or_challenge.len())
        && verifier_or_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` is the one `challenge` was made from, compared in constant time.
pub fn verifies(challenge: &str, verifier: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed(verifier) && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifies(challenge, verifier));
        assert!(!verifies(challenge, &verifier.replace('d', "e")));
        assert!(!verifies(challenge, "short"));
    }
}
