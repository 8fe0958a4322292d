//! The UserInfo endpoint (OpenID Connect Core §5.3): the signed-in user's claims, as far as the
//! access token's scopes (and the `claims` request parameter) release them.
//!
//! It takes the token the way `/me` does (Bearer, DPoP or PoP, one verification path), and
//! also in a form body (RFC 6750 §2.2), as OpenID Connect lets a client post it.

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    error::ContentTypeError,
    payload::{Form, Json, Payload},
    registry::{MetaMediaType, MetaRequest, Registry},
};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTags;
use crate::http::{
    bodies::optional_json::has_body,
    callers::access::{AccessAuth, Caller, authorize},
    error::{ApiError, ErrorBody},
};
use crate::{
    error::Error,
    oidc::{self, claims::needs_profile},
    state::AppState,
};

pub struct UserInfoApi(pub AppState);

/// The user's claims (OpenID Connect Core §5.1); each one only if a scope of the token, or the
/// `claims` parameter of its authorization request, releases it and the user has a value.
#[derive(Object, Deserialize)]
struct UserInfo {
    /// The user's id: the `sub` of their ID tokens.
    sub: String,
    /// Scope `profile`: the username.
    #[oai(skip_serializing_if_is_none)]
    preferred_username: Option<String>,
    /// Scope `profile`: the display name from the user's profile.
    #[oai(skip_serializing_if_is_none)]
    name: Option<String>,
    /// Scope `profile`: when the profile last changed (Unix seconds).
    #[oai(skip_serializing_if_is_none)]
    updated_at: Option<i64>,
    /// Scope `email`.
    #[oai(skip_serializing_if_is_none)]
    email: Option<String>,
    /// Scope `email`: whether the user confirmed the address (followed the link mailed to it).
    #[oai(skip_serializing_if_is_none)]
    email_verified: Option<bool>,
    /// Scope `phone`: from the user's profile.
    #[oai(skip_serializing_if_is_none)]
    phone_number: Option<String>,
    /// Scope `groups`: the names of the groups the user is in now.
    #[oai(skip_serializing_if_is_none)]
    groups: Option<Vec<String>>,
}

/// `access_token` in a form body (RFC 6750 §2.2). Only the spec reads this type: the body is
/// read by [`BodyToken`].
#[allow(dead_code)]
#[derive(Object, Deserialize)]
struct UserInfoForm {
    #[oai(write_only)]
    access_token: Option<String>,
}

#[derive(ApiResponse)]
enum UserInfoResult {
    #[oai(status = 200)]
    Ok(
        Json<UserInfo>,
        /// The claims are the user's: no shared cache may keep them.
        #[oai(header = "Cache-Control")]
        String,
        /// PoP scheme: sign the next call with this nonce.
        #[oai(header = "PoP-Nonce")]
        Option<String>,
    ),
    /// The token lacks the `openid` scope (RFC 6750 §3.1 `insufficient_scope`).
    #[oai(status = 403)]
    InsufficientScope(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl UserInfoApi {
    /// OpenID Connect UserInfo
    ///
    /// The signed-in user's claims, for an access token from the code flow with scope
    /// `openid`: `sub` always; `preferred_username`, `name`, `updated_at` with `profile`;
    /// `email`, `email_verified` with `email`; `phone_number` with `phone`; and those the
    /// request's `claims` parameter asked for. Same tokens and errors as `GET /me`; 403
    /// `insufficient_scope` without `openid`.
    #[oai(path = "/userinfo", method = "get")]
    async fn get(&self, req: &Request, auth: AccessAuth) -> Result<UserInfoResult, ApiError> {
        self.answer(req, &auth).await
    }

    /// OpenID Connect UserInfo, posted
    ///
    /// The same as `GET /userinfo`; the token comes in the `Authorization` header, or as
    /// `access_token` in a form body (RFC 6750 §2.2), not both.
    #[oai(path = "/userinfo", method = "post")]
    async fn post(&self, req: &Request, body: BodyToken) -> Result<UserInfoResult, ApiError> {
        let auth = match (AccessAuth::from_header(req), body.0) {
            (Some(_), Some(_)) => {
                return Err(Error::oauth(
                    "invalid_request",
                    "send the access token in the Authorization header or the body, not both",
                )
                .into());
            }
            (Some(auth), None) => auth,
            (None, Some(token)) => AccessAuth::bearer_token(token),
            (None, None) => return Err(Error::MissingToken.into()),
        };
        self.answer(req, &auth).await
    }
}

impl UserInfoApi {
    async fn answer(&self, req: &Request, auth: &AccessAuth) -> Result<UserInfoResult, ApiError> {
        let state = &self.0;
        let caller = authorize(state, req, auth).await?;
        let claims = &caller.verified.claims;
        if !claims.scope.as_deref().is_some_and(oidc::is_openid) {
            return Ok(insufficient_scope());
        }
        let info = user_info(state, &caller).await?;
        Ok(UserInfoResult::Ok(
            Json(info),
            "no-store".to_owned(),
            caller.next_pop_nonce,
        ))
    }
}

/// The claims `caller`'s token releases: its scopes', and the extra ones its session's
/// authorization request asked for.
async fn user_info(state: &AppState, caller: &Caller) -> Result<UserInfo, Error> {
    let claims = &caller.verified.claims;
    let session_id = claims
        .sid
        .as_deref()
        .and_then(|sid| Uuid::parse_str(sid).ok());
    let user_id = caller.user_id()?;
    let (user, session) = tokio::try_join!(caller.user(state), async {
        match session_id {
            Some(id) => state.sessions.find(user_id, id).await,
            None => Ok(None),
        }
    })?;
    let extra = session
        .and_then(|session| session.login)
        .map(|login| login.claims.userinfo)
        .unwrap_or_default();
    let scope = claims.scope.as_deref().unwrap_or_default();
    let names = oidc::claims::released(scope, &extra);
    let profile = if needs_profile(&names) {
        state.users.profile(user.id).await?
    } else {
        None
    };
    let groups = if names.contains(&oidc::GROUPS) {
        Some(state.groups.names_of(user.id).await?)
    } else {
        None
    };
    let mut values = oidc::user_claims(&user, profile.as_ref(), groups.as_deref(), &names);
    values.insert("sub".to_owned(), user.id.to_string().into());
    serde_json::from_value(values.into())
        .map_err(|err| Error::Internal(format!("userinfo claims: {err}")))
}

fn insufficient_scope() -> UserInfoResult {
    UserInfoResult::InsufficientScope(
        Json(ErrorBody {
            error: "insufficient_scope".to_owned(),
            message: "the access token was not granted the openid scope".to_owned(),
            field: None,
        }),
        r#"Bearer realm="authd", error="insufficient_scope", scope="openid""#.to_owned(),
    )
}

/// The token of a posted UserInfo request, if the body carries one: a form with
/// `access_token`, or no body at all (the token is then in the header).
pub struct BodyToken(Option<String>);

impl<'a> ApiExtractor<'a> for BodyToken {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Form<UserInfoForm> as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Form<UserInfoForm> as Payload>::CONTENT_TYPE,
                schema: <Form<UserInfoForm> as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type)
                if <Form<UserInfoForm> as Payload>::check_content_type(content_type) =>
            {
                let bytes = body.take()?.into_bytes().await?;
                let token = url::form_urlencoded::parse(&bytes)
                    .find(|(name, _)| name == "access_token")
                    .map(|(_, token)| token.into_owned())
                    .filter(|token| !token.is_empty());
                Ok(Self(token))
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into()),
            None if has_body(request) => Err(ContentTypeError::ExpectContentType.into()),
            None => Ok(Self(None)),
        }
    }
}
