//! One signing key: its generation, its sealed form at rest, and its usable in-memory form.

use std::fmt;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};
use rsa::{
    RsaPrivateKey,
    pkcs8::{EncodePrivateKey, PrivateKeyInfo},
};
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{MasterKey, MasterKeys, SealError, master_key::OpenError};
use crate::store::{KeyPurpose, SigningKeyRecord};

/// The public half as published in the JWKS (RFC 7517), with `kid`, `alg` and `use` set.
pub use crate::store::PublicJwk;

const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("signing key {kid}: {reason}")]
    Load { kid: String, reason: String },
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("signing with {kid}: {reason}")]
    Sign { kid: String, reason: String },
}

/// A key authd can sign and verify with. The private half never leaves this type.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub public_jwk: PublicJwk,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
    private: PrivateKey,
    pub decoding: DecodingKey,
}

/// The private half, parsed once when the key is opened: the aws-lc key types jsonwebtoken's
/// aws-lc backend signs with (constant time; never the `rsa` crate). jsonwebtoken's `encode`
/// parses the DER key again on every signature, and for RSA that parse (with its consistency
/// checks) cost as much as a third of each signature (docs/PERFORMANCE.md).
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("not_before", &self.not_before)
            .field("expires_at", &self.expires_at)
            .field("retire_at", &self.retire_at)
            .finish_non_exhaustive()
    }
}

/// The validity window of a key: signs in `[not_before, expires_at)`, verifies until `retire_at`.
#[derive(Debug, Clone, Copy)]
pub struct KeyWindow {
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
}

pub use crate::store::SUPPORTED_ALGORITHMS;

/// A fresh private key for `algorithm`, as PKCS#8 DER: RSA-2048 from the `rsa` crate (generation
/// and encoding only), P-256 and Ed25519 from aws-lc. All signing is done by aws-lc (see
/// [`PrivateKey`]).
fn generate_pkcs8(algorithm: Algorithm) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let failed = |err: &dyn std::fmt::Display| KeyError::Generate(err.to_string());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    match algorithm {
        Algorithm::RS256 => {
            let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
                .map_err(|err| failed(&err))?;
            let der = private.to_pkcs8_der().map_err(|err| failed(&err))?;
            Ok(Zeroizing::new(der.as_bytes().to_vec()))
        }
        Algorithm::ES256 => aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map(|der| Zeroizing::new(der.as_ref().to_vec()))
        .map_err(|err| failed(&err)),
        // PKCS#8 v1: jsonwebtoken derives the public JWK only from that form.
        Algorithm::EdDSA => aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map(|der| Zeroizing::new(der.as_ref().to_vec()))
            .map_err(|err| failed(&err)),
        other => Err(KeyError::Generate(format!("{other:?} is not supported"))),
    }
}

/// Generates a key for `algorithm` and seals its PKCS#8 DER under `master`.
///
/// CPU-heavy for RSA (tens to hundreds of milliseconds): call it from a blocking thread.
pub fn generate(
    algorithm: Algorithm,
    master: &MasterKey,
    window: KeyWindow,
    now: OffsetDateTime,
) -> Result<(SigningKeyRecord, SigningKey), KeyError> {
    let pkcs8 = generate_pkcs8(algorithm)?;
    let encoding = encoding_key_from_pkcs8(algorithm, &pkcs8)
        .map_err(|reason| KeyError::Generate(reason.to_owned()))?;
    let mut public_jwk = Jwk::from_encoding_key(&encoding, algorithm)
        .map_err(|err| KeyError::Generate(err.to_string()))?;
    drop(encoding);
    // RFC 7638 thumbprint as kid: stable, unique per key, and derivable by anyone holding the JWK.
    let kid = public_jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|err| KeyError::Generate(err.to_string()))?;
    public_jwk.common.key_id = Some(kid.clone());
    public_jwk.common.public_key_use = Some(PublicKeyUse::Signature);

    let sealed = master.seal(&pkcs8, &aad(&kid, algorithm))?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        algorithm,
        public_jwk: public_jwk.clone(),
        sealed,
        master_key_id: master.id(),
        created_at: now,
        not_before: window.not_before,
        expires_at: window.expires_at,
        retire_at: window.retire_at,
        purpose: KeyPurpose::Signing,
    };
    let private = PrivateKey::parse(algorithm, &pkcs8)
        .map_err(|reason| KeyError::Generate(reason.to_owned()))?;
    let key = SigningKey::assemble(&record, private)?;
    Ok((record, key))
}

impl SigningKey {
    /// Opens a stored key. Fails if the ciphertext, its kid or its alg were tampered with.
    pub fn open(record: &SigningKeyRecord, masters: &MasterKeys) -> Result<Self, KeyError> {
        let pkcs8 = open_pkcs8(record, masters)?;
        let private =
            PrivateKey::parse(record.algorithm, &pkcs8).map_err(|reason| KeyError::Load {
                kid: record.kid.clone(),
                reason: reason.to_owned(),
            })?;
        Self::assemble(record, private)
    }

    fn assemble(record: &SigningKeyRecord, private: PrivateKey) -> Result<Self, KeyError> {
        let decoding = DecodingKey::from_jwk(&record.public_jwk).map_err(|err| KeyError::Load {
            kid: record.kid.clone(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            kid: record.kid.clone(),
            algorithm: record.algorithm,
            public_jwk: record.public_jwk.clone(),
            not_before: record.not_before,
            expires_at: record.expires_at,
            retire_at: record.retire_at,
            private,
            decoding,
        })
    }

    /// The JWS compact serialisation (RFC 7515 §7.1) of `claims` under `header`, which must name
    /// this key's algorithm: what jsonwebtoken's `encode` builds, signed with the parsed key.
    pub fn sign(&self, header: &Header, claims: &impl Serialize) -> Result<String, KeyError> {
        let failed = |reason: String| KeyError::Sign {
            kid: self.kid.clone(),
            reason,
        };
        if header.alg != self.algorithm {
            return Err(failed(format!("the header names {:?}", header.alg)));
        }
        let part = |json: Result<Vec<u8>, serde_json::Error>| {
            json.map(|json| URL_SAFE_NO_PAD.encode(json))
                .map_err(|err| failed(err.to_string()))
        };
        let mut token = part(serde_json::to_vec(header))?;
        token.push('.');
        token.push_str(&part(serde_json::to_vec(claims))?);
        let signature = self
            .private
            .sign(token.as_bytes())
            .map_err(|_| failed("the signature failed".to_owned()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    pub fn signs_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now < self.expires_at
    }

    pub fn verifies_at(&self, now: OffsetDateTime) -> bool {
        now < self.retire_at
    }
}

/// The record sealed afresh (new nonce) under the current master key, for `keys rewrap`.
pub fn reseal(
    record: &SigningKeyRecord,
    masters: &MasterKeys,
) -> Result<SigningKeyRecord, KeyError> {
    let pkcs8 = open_pkcs8(record, masters)?;
    let current = masters.current();
    Ok(SigningKeyRecord {
        sealed: current.seal(&pkcs8, &aad(&record.kid, record.algorithm))?,
        master_key_id: current.id(),
        ..record.clone()
    })
}

fn open_pkcs8(
    record: &SigningKeyRecord,
    masters: &MasterKeys,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let load_err = |reason: &str| KeyError::Load {
        kid: record.kid.clone(),
        reason: reason.to_owned(),
    };
    let master = masters
        .find(&record.master_key_id)
        .ok_or_else(|| load_err("sealed under a master key this deployment does not have"))?;
    master
        .open(&record.sealed, &aad(&record.kid, record.algorithm))
        .map_err(|OpenError| load_err("does not decrypt under this kid and alg"))
}

/// Associated data binding a ciphertext to its row: a sealed key copied under another kid or
/// relabelled with another alg no longer opens.
fn aad(kid: &str, algorithm: Algorithm) -> Vec<u8> {
    format!("authd signing key v1\0{kid}\0{algorithm:?}").into_bytes()
}

impl PrivateKey {
    fn parse(algorithm: Algorithm, pkcs8: &[u8]) -> Result<Self, &'static str> {
        match algorithm {
            Algorithm::RS256 => RsaKeyPair::from_pkcs8(pkcs8)
                .map(Self::Rsa)
                .map_err(|_| "not an RSA private key"),
            Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map(Self::Ecdsa)
                .map_err(|_| "not a P-256 private key"),
            Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(pkcs8)
                .map(Self::Ed25519)
                .map_err(|_| "not an Ed25519 private key"),
            _ => Err("unsupported signing algorithm"),
        }
    }

    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); ES256: r || s, 64 bytes (§3.4);
    /// EdDSA: Ed25519 (RFC 8037 §3.1).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        match self {
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )?;
                Ok(signature)
            }
            Self::Ecdsa(pair) => Ok(pair.sign(&SystemRandom::new(), message)?.as_ref().to_vec()),
            Self::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// The form jsonwebtoken derives a public JWK from. ES256 and EdDSA take PKCS#8 as it is;
/// RS256 takes PKCS#1, which PKCS#8 wraps in an OCTET STRING, unwrapped here structurally (no
/// key arithmetic).
fn encoding_key_from_pkcs8(
    algorithm: Algorithm,
    pkcs8: &[u8],
) -> Result<EncodingKey, &'static str> {
    match algorithm {
        Algorithm::RS256 => {
            let info = PrivateKeyInfo::try_from(pkcs8).map_err(|_| "not a PKCS#8 private key")?;
            let pkcs1 = Zeroizing::new(info.private_key.to_vec());
            Ok(EncodingKey::from_rsa_der(&pkcs1))
        }
        Algorithm::ES256 => Ok(EncodingKey::from_ec_der(pkcs8)),
        Algorithm::EdDSA => Ok(EncodingKey::from_ed_der(pkcs8)),
        _ => Err("unsupported signing algorithm"),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Validation, decode};
    use serde_json::{Value, json};

    use super::*;

    fn window(now: OffsetDateTime) -> KeyWindow {
        KeyWindow {
            not_before: now,
            expires_at: now + time::Duration::hours(1),
            retire_at: now + time::Duration::hours(2),
        }
    }

    /// What the parsed keys sign is what jsonwebtoken's verification (the one every verifier
    /// path uses) accepts, and a reopened key signs like the generated one.
    #[test]
    fn tokens_signed_with_the_parsed_key_verify_with_jsonwebtoken() {
        let master = MasterKey::generate_ephemeral();
        let masters = MasterKeys::new(master.clone(), Vec::new());
        let now = OffsetDateTime::now_utc();
        let claims = json!({"sub": "alice", "aud": "api", "exp": now.unix_timestamp() + 60});
        for algorithm in SUPPORTED_ALGORITHMS {
            let (record, generated) = generate(algorithm, &master, window(now), now).unwrap();
            let reopened = SigningKey::open(&record, &masters).unwrap();
            let mut validation = Validation::new(algorithm);
            validation.set_audience(&["api"]);
            for key in [&generated, &reopened] {
                let token = key.sign(&Header::new(algorithm), &claims).unwrap();
                let verified = decode::<Value>(&token, &generated.decoding, &validation).unwrap();
                assert_eq!(verified.claims, claims, "{algorithm:?}");
            }
        }
    }

    #[test]
    fn a_header_naming_another_algorithm_is_not_signed() {
        let master = MasterKey::generate_ephemeral();
        let now = OffsetDateTime::now_utc();
        let (_, key) = generate(Algorithm::ES256, &master, window(now), now).unwrap();
        for alg in [Algorithm::RS256, Algorithm::HS256, Algorithm::EdDSA] {
            assert!(key.sign(&Header::new(alg), &json!({})).is_err(), "{alg:?}");
        }
    }
}
