//! Signing keys: generation, encryption at rest under the master key, and the in-memory key ring.

mod key_ring;
mod master_key;
mod rotation;
mod signing_key;

pub use crate::metrics::KeyCensus;
pub use key_ring::KeyRingError;
pub use key_ring::{JsonWebKeySet, KeyRing, KeyState, KeyStatus};
pub use master_key::{MasterKey, MasterKeys, OpenError, SealError, SealedBox};
pub use rotation::{JWKS_MAX_AGE, KeyManager, KeyPolicy, RotationMode};
pub use signing_key::{
    KeyError, KeyWindow, PublicJwk, SUPPORTED_ALGORITHMS, SigningKey, generate, reseal,
};
