//! `GET` and `PUT /api/profile`: a small per-user document, like seed 004's `/api/phone`. The
//! resource a user can try with Bearer, DPoP and PoP tokens to see that a stolen bound token,
//! without its proof, opens nothing.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::http::{
    bodies::fields,
    callers::access::{AccessAuth, authorize},
    error::ApiError,
};
use crate::{accounts::Profile, accounts::parse_profile, state::AppState};

pub struct ProfileApi(pub AppState);

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
        let profile = self.0.users.profile(user.id).await?.unwrap_or_default();
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
        let profile = parse_profile(display_name, phone)?;
        self.0.users.save_profile(user.id, &profile).await?;
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
