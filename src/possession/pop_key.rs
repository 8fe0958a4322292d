//! The RSA public key a user registers for the signed-nonce scheme (seed 000, signjwt), and the
//! check of `base64(RSA-PSS-SHA256(nonce || token))` against it.
//!
//! The `rsa` crate only parses and encodes the public key here; the signature is verified by
//! aws-lc-rs, like every other RSA operation in authd.

use aws_lc_rs::signature::{self, RsaParameters, RsaPssSaltLength, RsaPublicKeyComponents};
use base64::{
    Engine,
    engine::{
        DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::URL_SAFE_NO_PAD,
    },
};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use rsa::{
    RsaPublicKey,
    pkcs1::DecodeRsaPublicKey,
    pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding, spki},
    traits::PublicKeyParts,
};

use crate::error::Error;

/// NIST SP 800-131A: RSA below 2048 bits is not acceptable for signatures.
pub const MIN_BITS: usize = 2048;
/// The largest modulus aws-lc-rs verifies with.
pub const MAX_BITS: usize = 8192;

/// The seed's clients sign with the maximum PSS salt (Python `PSS.MAX_LENGTH`); most libraries
/// default to a salt as long as the digest. Both are RSASSA-PSS with SHA-256; both are accepted.
static PSS_MAX_SALT: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
static PSS_DIGEST_SALT: RsaParameters = signature::RSA_PSS_2048_8192_SHA256;

/// Signatures arrive as base64 from Python's `b64encode` or as base64url from JS: take either,
/// padded or not.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// A validated RSA public key: 2048–8192 bits, stored as SubjectPublicKeyInfo PEM.
#[derive(Debug, Clone)]
pub struct PopPublicKey {
    pem: String,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    thumbprint: String,
}

impl PopPublicKey {
    /// Parses a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`). The message of a refusal says
    /// what is wrong and never repeats the input.
    pub fn parse(pem: &str) -> Result<Self, Error> {
        let pem = pem.trim();
        if pem.contains("PRIVATE KEY") {
            return Err(Error::InvalidPublicKey(
                "is a private key: send only the public half, and keep the private key secret",
            ));
        }
        let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            RsaPublicKey::from_pkcs1_pem(pem)
                .map_err(|_| Error::InvalidPublicKey("is not a valid PEM RSA public key"))?
        } else {
            RsaPublicKey::from_public_key_pem(pem).map_err(|err| match err {
                spki::Error::OidUnknown { .. } => Error::InvalidPublicKey(
                    "is not an RSA key: the signed-nonce scheme needs RSA (for EC or Ed25519 keys use DPoP)",
                ),
                _ => Error::InvalidPublicKey(
                    "is not a valid PEM public key (expected -----BEGIN PUBLIC KEY-----)",
                ),
            })?
        };
        let bits = key.n().bits();
        if bits < MIN_BITS {
            return Err(Error::InvalidPublicKey(
                "is too short: RSA keys must have at least 2048 bits",
            ));
        }
        if bits > MAX_BITS {
            return Err(Error::InvalidPublicKey(
                "is too long: RSA keys may have at most 8192 bits",
            ));
        }
        let normalized = key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| Error::Internal(format!("encoding a public key: {err}")))?;
        let modulus = key.n().to_bytes_be();
        let exponent = key.e().to_bytes_be();
        let thumbprint = rsa_thumbprint(&modulus, &exponent)?;
        Ok(Self {
            pem: normalized,
            modulus,
            exponent,
            thumbprint,
        })
    }

    /// SubjectPublicKeyInfo PEM, as stored.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: what PoP tokens name in `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Whether `signature` (base64 or base64url) is an RSA-PSS-SHA256 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let signature = signature.trim();
        let Some(signature) = STANDARD_LENIENT
            .decode(signature)
            .or_else(|_| URL_SAFE_LENIENT.decode(signature))
            .ok()
        else {
            return false;
        };
        let key = RsaPublicKeyComponents {
            n: self.modulus.as_slice(),
            e: self.exponent.as_slice(),
        };
        [&PSS_MAX_SALT, &PSS_DIGEST_SALT]
            .into_iter()
            .any(|params| key.verify(params, message, &signature).is_ok())
    }
}

fn rsa_thumbprint(modulus: &[u8], exponent: &[u8]) -> Result<String, Error> {
    let jwk = Jwk {
        common: CommonParameters::default(),
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(modulus),
            e: URL_SAFE_NO_PAD.encode(exponent),
        }),
    };
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|err| Error::Internal(format!("thumbprint of a public key: {err}")))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::{
        rand::SystemRandom,
        rsa::{KeyPair, KeySize},
        signature::{KeyPair as _, RSA_PSS_SHA256},
    };
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs1::DecodeRsaPublicKey as _;

    use super::*;

    fn pem_of(key: &KeyPair) -> String {
        RsaPublicKey::from_pkcs1_der(key.public_key().as_ref())
            .unwrap()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    #[test]
    fn a_pss_signature_by_the_key_verifies_and_nothing_else_does() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let key = PopPublicKey::parse(&pem_of(&pair)).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PSS_SHA256,
            &SystemRandom::new(),
            b"nonce.token",
            &mut signature,
        )
        .unwrap();
        let encoded = STANDARD.encode(&signature);
        assert!(key.verifies(b"nonce.token", &encoded));
        assert!(key.verifies(b"nonce.token", &URL_SAFE_NO_PAD.encode(&signature)));
        assert!(!key.verifies(b"nonce.other", &encoded));
        assert!(!key.verifies(b"nonce.token", "not base64!"));
        assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        let refusal = |pem: &str| match PopPublicKey::parse(pem) {
            Err(Error::InvalidPublicKey(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(refusal("hello").contains("not a valid PEM"));
        assert!(
            refusal("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .contains("private key")
        );
        // A P-256 public key.
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEY5jR72U09K9LhVTzo8M9bhtYw1Z8\nmFr7kZLnu/Met4Ki7ORcPdp7rdL7lpUkDoLT00uidc0wQ7rQzDRr8mvNfA==\n-----END PUBLIC KEY-----\n";
        assert!(refusal(ec).contains("not an RSA key"));
        let rsa_1024 = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDGh245U6UVK4K4lhQb9UKlJlif\nogOq5glCvRyv58++P2N7mdJ5iZvUwekZQBtPa2vNOdfpX+l6X0RVFIExn0vYd8E8\n795cREOJet553O6i5oiXoGKO19VN6J9NK6Z21kQcRIB92a+RppTLesnVVKQ9VJeY\n0adG6oE4W2It/zHstwIDAQAB\n-----END PUBLIC KEY-----\n";
        assert!(refusal(rsa_1024).contains("at least 2048 bits"));
    }
}
