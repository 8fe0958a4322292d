//! One signing key: its generation, its sealed form at rest, and its usable in-memory form.

use std::fmt;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};
use rsa::{
    RsaPrivateKey,
    pkcs8::{EncodePrivateKey, PrivateKeyInfo},
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{MasterKey, MasterKeys, SealError, master_key::OpenError};
use crate::store::SigningKeyRecord;

/// The public half as published in the JWKS (RFC 7517), with `kid`, `alg` and `use` set.
pub type PublicJwk = Jwk;

const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("signing key {kid}: {reason}")]
    Load { kid: String, reason: String },
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A key authd can sign and verify with. The private half never leaves this type.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub public_jwk: PublicJwk,
    pub not_before: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub retire_at: OffsetDateTime,
    encoding: EncodingKey,
    pub decoding: DecodingKey,
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

/// The algorithms authd signs with (`AUTHD_SIGNING_ALG`).
pub const SUPPORTED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// A fresh private key for `algorithm`, as PKCS#8 DER: RSA-2048 from the `rsa` crate (generation
/// and encoding only), P-256 and Ed25519 from aws-lc. All signing goes through jsonwebtoken's
/// aws-lc backend.
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
    };
    let key = SigningKey::assemble(&record, encoding)?;
    Ok((record, key))
}

impl SigningKey {
    /// Opens a stored key. Fails if the ciphertext, its kid or its alg were tampered with.
    pub fn open(record: &SigningKeyRecord, masters: &MasterKeys) -> Result<Self, KeyError> {
        let pkcs8 = open_pkcs8(record, masters)?;
        let encoding =
            encoding_key_from_pkcs8(record.algorithm, &pkcs8).map_err(|reason| KeyError::Load {
                kid: record.kid.clone(),
                reason: reason.to_owned(),
            })?;
        Self::assemble(record, encoding)
    }

    fn assemble(record: &SigningKeyRecord, encoding: EncodingKey) -> Result<Self, KeyError> {
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
            encoding,
            decoding,
        })
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
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

/// The signing form jsonwebtoken's aws-lc backend wants. ES256 and EdDSA take PKCS#8 as it is;
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
