//! `GET` and `PUT /api/profile`: a small per-user document, like seed 004's `/api/phone`. The
//! resource a user can try with Bearer, DPoP and PoP tokens to see that a stolen bound token,
//! without its proof, opens nothing.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    ApiTags,
    access::{AccessAuth, authorize},
    error::ApiError,
    fields,
};
use crate::{error::Error, state::AppState, store::Profile};

pub struct ProfileApi(pub AppState);

const MAX_DISPLAY_NAME: usize = 100;

#[derive(Object)]
struct ProfileDocument {
    /// Up to 100 characters. Left out (or empty) when not set.
    #[oai(
        deserialize_with = "fields::optional_display_name",
        skip_serializing_if_is_none
    )]
    display_name: Option<String>,
    /// Digits, spaces, `(`, `)`, `-`, optionally a leading `+`; 3 to 32 characters. Left out
    /// (or empty) when not set.
    #[oai(
        deserialize_with = "fields::optional_phone",
        skip_serializing_if_is_none
    )]
    phone: Option<String>,
}

#[derive(ApiResponse)]
enum ProfileResult {
    #[oai(status = 200)]
    Ok(
        Json<ProfileDocument>,
        /// PoP scheme: the nonce to sign the next call with.
        #[oai(header = "PoP-Nonce")]
        Option<String>,
    ),
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl ProfileApi {
    /// Read the caller's profile
    ///
    /// Empty until first written. Accepts Bearer, DPoP and PoP tokens.
    #[oai(path = "/api/profile", method = "get")]
    async fn get_profile(
        &self,
        req: &Request,
        auth: AccessAuth,
    ) -> Result<ProfileResult, ApiError> {
        let caller = authorize(&self.0, req, &auth).await?;
        let user = caller.user(&self.0).await?;
        let profile = self
            .0
            .profiles
            .profile(user.id)
            .await
            .map_err(Error::from)?
            .unwrap_or_default();
        Ok(ProfileResult::Ok(
            Json(profile.into()),
            caller.next_pop_nonce,
        ))
    }

    /// Replace the caller's profile
    #[oai(path = "/api/profile", method = "put")]
    async fn put_profile(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<ProfileDocument>,
    ) -> Result<ProfileResult, ApiError> {
        let caller = authorize(&self.0, req, &auth).await?;
        let user = caller.user(&self.0).await?;
        let ProfileDocument {
            display_name,
            phone,
        } = body.0;
        let profile = validate(display_name, phone)?;
        self.0
            .profiles
            .put_profile(user.id, &profile, self.0.clock.now())
            .await
            .map_err(Error::from)?;
        Ok(ProfileResult::Ok(
            Json(profile.into()),
            caller.next_pop_nonce,
        ))
    }
}

impl From<Profile> for ProfileDocument {
    fn from(profile: Profile) -> Self {
        Self {
            display_name: profile.display_name,
            phone: profile.phone,
        }
    }
}

/// A profile as entered, trimmed, empty fields dropped, checked. The web UI's form too.
pub(super) fn validate(
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
