//! `Username`: 3–64 characters of letters, digits, `.`, `_` and `-`, unique case-insensitively.
//! Accounts an administrator or a provisioning client (SCIM) makes may also use `@` and `+`:
//! identity providers name users by their principal name (`ann@corp.example`).

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        Self::parse_with(raw, &[])
    }

    /// A username an administrator chose (the admin API, SCIM): `@` and `+` are allowed too,
    /// for principal names. Not offered to self-registration, where a name shaped like someone
    /// else's address would only confuse.
    pub fn parse_provisioned(raw: &str) -> Result<Self, Error> {
        Self::parse_with(raw, &['@', '+'])
    }

    fn parse_with(raw: &str, also: &[char]) -> Result<Self, Error> {
        let invalid = |message: &str| Error::InvalidField {
            field: "username",
            message: message.to_owned(),
        };
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(invalid("must be 3 to 64 characters long"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || also.contains(&c))
        {
            return Err(invalid(if also.is_empty() {
                "may contain only letters, digits, '.', '_' and '-'"
            } else {
                "may contain only letters, digits, '.', '_', '-', '@' and '+'"
            }));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_and_rejects_the_rest() {
        for ok in ["bob", "alice.smith", "a_b-c", "X".repeat(64).as_str()] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "has space",
            "semi;colon",
            "émile",
            "X".repeat(65).as_str(),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}
