//! The master key, from `AUTHD_MASTER_KEY`, `AUTHD_MASTER_KEYS` or `AUTHD_MASTER_KEY_FILE`.
//! Neither a key nor a file's contents ever reach an error message.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};
use zeroize::Zeroizing;

use super::{ConfigError, args::ConnectionArgs};
use crate::keys::{MasterKey, MasterKeys};

impl ConnectionArgs {
    /// The master keys this deployment holds, from AUTHD_MASTER_KEY or AUTHD_MASTER_KEYS, else
    /// from AUTHD_MASTER_KEY_FILE. An empty variable counts as unset: compose passes
    /// `${AUTHD_MASTER_KEY:-}` through as an empty string when the operator set none.
    pub fn master_keys(&self) -> Result<MasterKeys, ConfigError> {
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.trim().is_empty())
        }
        match (set(&self.master_key), set(&self.master_keys)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                "AUTHD_MASTER_KEYS",
                "set AUTHD_MASTER_KEY or AUTHD_MASTER_KEYS, not both",
            )),
            (None, Some(list)) => {
                let mut keys = list
                    .split(',')
                    .map(|key| decode_master_key("AUTHD_MASTER_KEYS", Some(key)));
                let current = keys
                    .next()
                    .unwrap_or_else(|| Err(ConfigError::new("AUTHD_MASTER_KEYS", "is empty")))?;
                Ok(MasterKeys::new(current, keys.collect::<Result<_, _>>()?))
            }
            (Some(single), None) => parse_master_key(Some(single)).map(MasterKeys::from),
            (None, None) => match &self.master_key_file {
                Some(path) => read_master_key_file(path).map(MasterKeys::from),
                None => parse_master_key(None).map(MasterKeys::from),
            },
        }
    }
}

/// Reads `AUTHD_MASTER_KEY_FILE`. Neither the key nor the file's contents reach an error message.
fn read_master_key_file(path: &Path) -> Result<MasterKey, ConfigError> {
    let contents = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new(
            "AUTHD_MASTER_KEY_FILE",
            format!("cannot read {}: {err}", path.display()),
        )
    })?);
    decode_master_key("AUTHD_MASTER_KEY_FILE", Some(&contents))
}

/// Decodes `AUTHD_MASTER_KEY`. The value never appears in an error message.
pub fn parse_master_key(value: Option<&str>) -> Result<MasterKey, ConfigError> {
    decode_master_key("AUTHD_MASTER_KEY", value)
}

fn decode_master_key(setting: &'static str, value: Option<&str>) -> Result<MasterKey, ConfigError> {
    let value = value.ok_or_else(|| {
        ConfigError::new(
            setting,
            "is required for `authd serve`: base64 of 32 random bytes (generate one with `openssl rand -base64 32`)",
        )
    })?;
    let bytes = Zeroizing::new(
        STANDARD
            .decode(value.trim())
            .map_err(|_| ConfigError::new(setting, "is not valid base64"))?,
    );
    MasterKey::from_slice(&bytes).ok_or_else(|| {
        ConfigError::new(
            setting,
            format!("must decode to exactly 32 bytes, got {}", bytes.len()),
        )
    })
}
