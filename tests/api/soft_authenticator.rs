//! A WebAuthn authenticator in software, for the passkey tests: it answers authd's options as
//! a browser and a platform authenticator would (attestation `none`, ES256 on P-256, user
//! present and verified), and can be told to lie: another origin, another relying party, or
//! a counter that does not move (a cloned key). Browsers' own WebAuthn is tested in
//! tests/browser/passkeys.test.mjs with Chromium's virtual authenticator.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKUP_STATE: u8 = 0x10;
const ATTESTED_CREDENTIAL: u8 = 0x40;

pub struct SoftAuthenticator {
    key_pkcs8: Vec<u8>,
    pub credential_id: Vec<u8>,
    /// The user handle given at registration, sent back with each assertion.
    user_handle: Vec<u8>,
    pub counter: u32,
    /// Whether the key may be synced (a passkey manager's) rather than device-bound.
    pub backup_eligible: bool,
    /// The relying party and origin the authenticator and "browser" claim.
    pub rp_id: String,
    pub origin: String,
}

impl Clone for SoftAuthenticator {
    /// A copy with the same key and counter: a cloned authenticator.
    fn clone(&self) -> Self {
        Self {
            key_pkcs8: self.key_pkcs8.clone(),
            credential_id: self.credential_id.clone(),
            user_handle: self.user_handle.clone(),
            counter: self.counter,
            backup_eligible: self.backup_eligible,
            rp_id: self.rp_id.clone(),
            origin: self.origin.clone(),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The head of a CBOR item (RFC 8949 §3): major type and length.
fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let major = major << 5;
    if len < 24 {
        out.push(major | len as u8);
    } else if len < 256 {
        out.extend([major | 24, len as u8]);
    } else {
        out.push(major | 25);
        out.extend((len as u16).to_be_bytes());
    }
}

fn cbor_int(value: i64, out: &mut Vec<u8>) {
    if value >= 0 {
        cbor_head(0, value as usize, out);
    } else {
        cbor_head(1, (-1 - value) as usize, out);
    }
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, bytes.len(), out);
    out.extend(bytes);
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    cbor_head(3, text.len(), out);
    out.extend(text.as_bytes());
}

impl SoftAuthenticator {
    /// An authenticator for the relying party `rp_id` at `origin`, with a device-bound key.
    pub fn new(rp_id: &str, origin: &str) -> Self {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let mut credential_id = vec![0u8; 32];
        rand::fill(&mut credential_id[..]);
        Self {
            key_pkcs8: document.as_ref().to_vec(),
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            backup_eligible: false,
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
        }
    }

    fn key(&self) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.key_pkcs8).unwrap()
    }

    fn flags(&self) -> u8 {
        let backup = if self.backup_eligible {
            BACKUP_ELIGIBLE | BACKUP_STATE
        } else {
            0
        };
        USER_PRESENT | USER_VERIFIED | backup
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// The COSE_Key (RFC 9053) of the public key: EC2, ES256, P-256.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key().public_key().as_ref().to_vec();
        let (x, y) = (&point[1..33], &point[33..65]);
        let mut out = Vec::new();
        cbor_head(5, 5, &mut out);
        cbor_int(1, &mut out);
        cbor_int(2, &mut out);
        cbor_int(3, &mut out);
        cbor_int(-7, &mut out);
        cbor_int(-1, &mut out);
        cbor_int(1, &mut out);
        cbor_int(-2, &mut out);
        cbor_bytes(x, &mut out);
        cbor_int(-3, &mut out);
        cbor_bytes(y, &mut out);
        out
    }

    fn authenticator_data(&self, flags: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend(self.counter.to_be_bytes());
        data
    }

    /// Answers `navigator.credentials.create()` with these options (authd's JSON, with its
    /// `publicKey`): the JSON a browser's `PublicKeyCredential.toJSON()` gives.
    pub fn register(&mut self, options: &Value) -> String {
        let options = &options["publicKey"];
        self.user_handle = unb64(options["user"]["id"].as_str().unwrap());
        let client_data =
            self.client_data("webauthn.create", options["challenge"].as_str().unwrap());
        let mut auth_data = self.authenticator_data(self.flags() | ATTESTED_CREDENTIAL);
        auth_data.extend([0u8; 16]); // AAGUID: none, as attestation "none" allows
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = Vec::new();
        cbor_head(5, 3, &mut attestation);
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        cbor_head(5, 0, &mut attestation);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&auth_data, &mut attestation);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// Answers `navigator.credentials.get()`: the counter moves on by one first, as a real
    /// authenticator's does.
    pub fn assert(&mut self, options: &Value) -> String {
        self.counter += 1;
        self.assert_without_counting(options)
    }

    /// An assertion with the counter as it is: what a clone of this authenticator would send.
    pub fn assert_without_counting(&self, options: &Value) -> String {
        let options = &options["publicKey"];
        let client_data = self.client_data("webauthn.get", options["challenge"].as_str().unwrap());
        let auth_data = self.authenticator_data(self.flags());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = self.key().sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}
