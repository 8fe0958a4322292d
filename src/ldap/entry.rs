//! A user's directory entry, read through the configured attribute names.

use std::fmt::Write as _;

use ldap3::SearchEntry;

use super::LdapAttributes;

/// A user as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryUser {
    pub dn: String,
    /// The entry's stable id: text (`entryUUID`), or a binary id (`objectGUID`) as hex.
    pub entry_id: String,
    /// The entry's username, or the name typed where it has none.
    pub username: String,
    pub email: Option<String>,
    /// The groups the directory puts the user in, sorted.
    pub groups: Vec<String>,
}

impl DirectoryUser {
    /// `Err` (words for the operator) for an entry without its stable id.
    pub(super) fn read(
        attributes: &LdapAttributes,
        entry: &SearchEntry,
        typed: &str,
        groups: Vec<String>,
    ) -> Result<Self, String> {
        let entry_id = first_text(entry, &attributes.id)
            .or_else(|| first_binary_hex(entry, &attributes.id))
            .ok_or_else(|| {
                format!(
                    "the entry {} has no {} (AUTHD_LDAP_ID_ATTRIBUTE)",
                    entry.dn, attributes.id
                )
            })?;
        Ok(Self {
            dn: entry.dn.clone(),
            entry_id,
            username: first_text(entry, &attributes.username).unwrap_or_else(|| typed.to_owned()),
            email: first_text(entry, &attributes.email),
            groups,
        })
    }
}

/// The first non-empty text value of `name` (attribute names are case-insensitive).
pub(super) fn first_text(entry: &SearchEntry, name: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, values)| {
            values
                .iter()
                .map(|value| value.trim())
                .find(|v| !v.is_empty())
        })
        .map(str::to_owned)
}

fn first_binary_hex(entry: &SearchEntry, name: &str) -> Option<String> {
    let bytes = entry
        .bin_attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, values)| values.first())
        .filter(|bytes| !bytes.is_empty())?;
    Some(bytes.iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn attributes() -> LdapAttributes {
        LdapAttributes {
            id: "entryUUID".to_owned(),
            username: "uid".to_owned(),
            email: "mail".to_owned(),
        }
    }

    #[test]
    fn attributes_are_read_whatever_their_case_and_binary_ids_as_hex() {
        let entry = SearchEntry {
            dn: "uid=ann,ou=people,dc=example,dc=org".to_owned(),
            attrs: HashMap::from([
                ("entryuuid".to_owned(), vec!["5562fc70".to_owned()]),
                ("UID".to_owned(), vec!["Ann".to_owned()]),
                (
                    "mail".to_owned(),
                    vec![" ".to_owned(), "ann@example.org".to_owned()],
                ),
            ]),
            bin_attrs: HashMap::new(),
        };
        let user = DirectoryUser::read(&attributes(), &entry, "ann", vec![]).unwrap();
        assert_eq!(user.entry_id, "5562fc70");
        assert_eq!(user.username, "Ann");
        assert_eq!(user.email.as_deref(), Some("ann@example.org"));

        let ad = SearchEntry {
            dn: "CN=Ann,DC=corp".to_owned(),
            attrs: HashMap::new(),
            bin_attrs: HashMap::from([("objectGUID".to_owned(), vec![vec![0x0a, 0xff, 0x01]])]),
        };
        let mut names = attributes();
        names.id = "objectguid".to_owned();
        let user = DirectoryUser::read(&names, &ad, "ann", vec![]).unwrap();
        assert_eq!(user.entry_id, "0aff01");
        assert_eq!(
            user.username, "ann",
            "the typed name where the entry has none"
        );
        assert_eq!(user.email, None);
    }

    #[test]
    fn an_entry_without_its_id_is_an_error_that_names_the_setting() {
        let entry = SearchEntry {
            dn: "uid=ann".to_owned(),
            attrs: HashMap::new(),
            bin_attrs: HashMap::new(),
        };
        let err = DirectoryUser::read(&attributes(), &entry, "ann", vec![]).unwrap_err();
        assert!(err.contains("AUTHD_LDAP_ID_ATTRIBUTE"), "{err}");
    }
}
