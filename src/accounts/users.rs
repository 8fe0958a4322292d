//! The users as the rest of authd reads them: lookups by id, username and email, the small
//! profile document each may keep (`/api/profile`, OpenID Connect's profile claims), and
//! deletion. Registration and logins are [`super::Accounts`]'s.

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    clock::Clock,
    error::Error,
    possession::PopPublicKey,
    store::{Profile, ProfileStore, UserChange, UserQuery, UserRecord, UserStore, Written},
};

const MAX_DISPLAY_NAME: usize = 100;

pub struct Users {
    users: Arc<dyn UserStore>,
    profiles: Arc<dyn ProfileStore>,
    clock: Arc<dyn Clock>,
}

impl Users {
    pub fn new(
        users: Arc<dyn UserStore>,
        profiles: Arc<dyn ProfileStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            profiles,
            clock,
        }
    }

    pub async fn find_by_id(&self, user_id: Uuid) -> Result<Option<UserRecord>, Error> {
        Ok(self.users.find_by_id(user_id).await?)
    }

    /// Looks a user up by username, case-insensitively.
    pub async fn find_by_username(&self, username: &str) -> Result<Option<UserRecord>, Error> {
        Ok(self.users.find_by_username(username).await?)
    }

    /// Looks a user up by email, case-insensitively.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, Error> {
        Ok(self.users.find_by_email(email).await?)
    }

    /// The user with this id, disabled or not: for administrators.
    pub async fn find_any(&self, user_id: Uuid) -> Result<Option<UserRecord>, Error> {
        Ok(self.users.find_any(user_id).await?)
    }

    /// A page of the directory, disabled users included: for administrators.
    pub async fn list(&self, query: &UserQuery) -> Result<Vec<UserRecord>, Error> {
        Ok(self.users.list_users(query).await?)
    }

    /// How many users `query`'s conditions match, all pages together.
    pub async fn count(&self, query: &UserQuery) -> Result<u64, Error> {
        Ok(self.users.count_users(query).await?)
    }

    /// Writes an administrator's change if the account's revision is still `expected`; every
    /// replica forgets the cached row.
    pub async fn change(
        &self,
        user_id: Uuid,
        change: &UserChange,
        expected: Option<i64>,
    ) -> Result<Written<UserRecord>, Error> {
        self.users
            .change_user(user_id, change, expected)
            .await
            .map_err(super::service::taken)
    }

    /// Sets (or replaces) the user's key for the signed-nonce proof of possession; false if
    /// there is no such user.
    pub async fn set_pop_key(&self, user_id: Uuid, key: &PopPublicKey) -> Result<bool, Error> {
        Ok(self.users.set_pop_public_key(user_id, key.pem()).await?)
    }

    /// The user's profile document, if they ever saved one.
    pub async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, Error> {
        Ok(self.profiles.profile(user_id).await?)
    }

    /// Replaces the user's profile document (see [`parse_profile`]).
    pub async fn save_profile(&self, user_id: Uuid, profile: &Profile) -> Result<(), Error> {
        Ok(self
            .profiles
            .put_profile(user_id, profile, self.clock.now())
            .await?)
    }

    /// Marks the user's address confirmed, without a link (an operator vouches for it); every
    /// replica forgets the cached row. False if there was no such user.
    pub async fn mark_email_verified(&self, user_id: Uuid) -> Result<bool, Error> {
        Ok(self
            .users
            .mark_email_verified(user_id, self.clock.now())
            .await?)
    }

    /// Deletes the user with everything that is theirs (sessions, consents, profile,
    /// factors); every replica forgets them, and their tokens stop opening anything, within
    /// the revocation bound. False if there was no such user.
    pub async fn delete(&self, user_id: Uuid) -> Result<bool, Error> {
        let deleted = self.users.delete_user(user_id).await?;
        if deleted {
            tracing::info!(%user_id, "deleted user");
        }
        Ok(deleted)
    }
}

/// A profile as entered (the API's document, the web UI's form): trimmed, empty fields
/// dropped, checked.
pub fn parse_profile(
    display_name: Option<String>,
    phone: Option<String>,
) -> Result<Profile, Error> {
    let display_name = display_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    if let Some(name) = &display_name
        && (name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control))
    {
        return Err(Error::InvalidField {
            field: "display_name",
            message: "must be at most 100 characters, without control characters".to_owned(),
        });
    }
    let phone = phone
        .map(|phone| phone.trim().to_owned())
        .filter(|phone| !phone.is_empty());
    if let Some(phone) = &phone
        && !is_phone_number(phone)
    {
        return Err(Error::InvalidField {
            field: "phone",
            message: "must be 3 to 32 digits, spaces, parentheses or dashes, optionally after +"
                .to_owned(),
        });
    }
    Ok(Profile {
        display_name,
        phone,
        updated_at: None,
    })
}

fn is_phone_number(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (3..=32).contains(&phone.len())
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '(' | ')' | '-'))
}

#[cfg(test)]
mod tests {
    use super::is_phone_number;

    #[test]
    fn phone_numbers_are_digits_and_separators() {
        assert!(is_phone_number("+1 (555) 010-9999"));
        assert!(is_phone_number("911"));
        assert!(!is_phone_number("call me"));
        assert!(!is_phone_number("+"));
        assert!(!is_phone_number("12"));
        assert!(!is_phone_number("+1 555 <script>"));
    }
}
