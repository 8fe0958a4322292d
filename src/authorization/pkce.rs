//! PKCE (RFC 7636) with `S256` only: `plain` would send the verifier itself through the
//! browser, where the code is exposed too (RFC 9700 §2.1.1).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
