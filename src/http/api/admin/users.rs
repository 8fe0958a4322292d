//! `/admin/users`: the directory, one account, its sessions, consents and second factors.

use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Access, Done, Ended, Tagged, admin_caller, etag, if_match, next_cursor, page_limit, uuid_cursor,
};
use crate::{
    accounts::UserRecord,
    admin::{ConsentSummary, NewUser, SessionSummary, UserPatch, UserQuery},
    http::{api::ApiTags, bodies::fields, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct UsersApi(pub AppState);

/// An account as administrators see it (never its password or keys).
#[derive(Object)]
struct AdminUser {
    id: Uuid,
    username: String,
    email: String,
    email_verified: bool,
    /// A disabled account keeps its data, but nothing opens it: no login, no token.
    disabled: bool,
    /// Whether the account has a password (false: passkeys only, or none set yet).
    has_password: bool,
    created_at: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    last_login_at: Option<OffsetDateTime>,
    #[oai(skip_serializing_if_is_none)]
    disabled_at: Option<OffsetDateTime>,
}

impl From<&UserRecord> for AdminUser {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified(),
            disabled: user.disabled(),
            has_password: user.password_hash.is_some(),
            created_at: user.created_at,
            last_login_at: user.last_login_at,
            disabled_at: user.disabled_at,
        }
    }
}

fn tagged(user: &UserRecord) -> (Json<AdminUser>, String) {
    (Json(AdminUser::from(user)), etag(user.revision))
}

#[derive(Object)]
struct UserPage {
    items: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// A new account.
#[derive(Object)]
struct CreateUser {
    #[oai(deserialize_with = "fields::username")]
    username: String,
    #[oai(deserialize_with = "fields::email")]
    email: String,
    /// Checked by the registration rules (length, strength, not the username). Left out: the
    /// account has no password, and its user sets one through "Forgot your password?".
    #[oai(deserialize_with = "fields::optional_password")]
    password: Option<String>,
    /// Whether the address is known to be the user's (default false).
    #[oai(deserialize_with = "fields::email_verified")]
    email_verified: Option<bool>,
}

/// The fields to change; those left out stay as they are.
#[derive(Object)]
struct ChangeUser {
    #[oai(deserialize_with = "fields::optional_username")]
    username: Option<String>,
    /// A new address is unconfirmed unless `email_verified` says otherwise.
    #[oai(deserialize_with = "fields::optional_email")]
    email: Option<String>,
    #[oai(deserialize_with = "fields::email_verified")]
    email_verified: Option<bool>,
    /// True ends every session of the user at once, and their tokens stop working on every
    /// replica within the revocation bound; false enables the account again.
    #[oai(deserialize_with = "fields::disabled")]
    disabled: Option<bool>,
}

#[derive(Object)]
struct AdminSession {
    id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    scope: String,
    created_at: OffsetDateTime,
    refreshed_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    /// Whether its tokens are bound to a DPoP key.
    dpop_bound: bool,
    /// The browser session whose sign-in granted it to its client; it ends with that one.
    #[oai(skip_serializing_if_is_none)]
    parent_id: Option<Uuid>,
    /// The `User-Agent` and address it began from (a browser's sign-in).
    #[oai(skip_serializing_if_is_none)]
    user_agent: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    ip: Option<String>,
}

impl From<&SessionSummary> for AdminSession {
    fn from(live: &SessionSummary) -> Self {
        Self {
            id: live.session.id,
            client_id: live.session.client_id.clone(),
            scope: live.session.scope.clone(),
            created_at: live.session.created_at,
            refreshed_at: live.refreshed_at,
            expires_at: live.expires_at,
            dpop_bound: live.session.dpop_jkt.is_some(),
            parent_id: live.session.parent_id,
            user_agent: live.session.user_agent.clone(),
            ip: live.session.ip.map(|ip| ip.to_string()),
        }
    }
}

#[derive(Object)]
struct SessionList {
    /// The live sessions, newest first (a user has few: one page).
    items: Vec<AdminSession>,
}

#[derive(Object)]
struct AdminConsent {
    client_id: String,
    client_name: String,
    scope: String,
    granted_at: OffsetDateTime,
}

impl From<&ConsentSummary> for AdminConsent {
    fn from(summary: &ConsentSummary) -> Self {
        Self {
            client_id: summary.consent.client_id.clone(),
            client_name: summary.client_name.clone(),
            scope: summary.consent.scope.clone(),
            granted_at: summary.consent.granted_at,
        }
    }
}

#[derive(Object)]
struct ConsentList {
    items: Vec<AdminConsent>,
}

#[derive(Object)]
struct FactorsRemoved {
    authenticator_app_removed: bool,
    passkeys_removed: u64,
    sessions_ended: u64,
}

#[OpenApi(prefix_path = "/admin/users", tag = "ApiTags::Admin")]
impl UsersApi {
    /// List users
    ///
    /// In creation order, disabled ones included. `q` finds usernames and addresses that
    /// start with it (case-insensitively). Scope `authd:admin:read` or `authd:admin`.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        req: &Request,
        auth: AccessAuth,
        /// Username or address prefix.
        q: Query<Option<String>>,
        /// 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<UserPage>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let limit = page_limit(limit.0)?;
        let query = UserQuery {
            prefix: q.0.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            after: uuid_cursor(cursor.0.as_deref())?,
            limit,
            ..UserQuery::default()
        };
        let users = self.0.users.list(&query).await?;
        Ok(Json(UserPage {
            next_cursor: next_cursor(users.last().map(|u| u.id.to_string()), users.len(), limit),
            items: users.iter().map(AdminUser::from).collect(),
        }))
    }

    /// Create a user
    ///
    /// With a password (checked as at registration) or without one. Scope `authd:admin`.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<CreateUser>,
    ) -> Result<Tagged<AdminUser>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let body = body.0;
        let user = self
            .0
            .admin
            .create_user(
                actor,
                NewUser {
                    username: body.username,
                    email: body.email,
                    password: body.password,
                    email_verified: body.email_verified.unwrap_or(false),
                    external_id: None,
                },
            )
            .await?;
        let (json, tag) = tagged(&user);
        Ok(Tagged::Created(json, tag))
    }

    /// Get a user
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Tagged<AdminUser>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let user = self.0.admin.user(id.0).await?;
        let (json, tag) = tagged(&user);
        Ok(Tagged::Ok(json, tag))
    }

    /// Change a user
    ///
    /// Username, address, whether the address is confirmed, disabled or enabled. Send the
    /// `ETag` you read as `If-Match`: 412 if the account changed since. Scope `authd:admin`.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        body: Json<ChangeUser>,
    ) -> Result<Tagged<AdminUser>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let expected = if_match(req, "user")?;
        let body = body.0;
        let patch = UserPatch {
            username: body.username,
            email: body.email,
            email_verified: body.email_verified,
            disabled: body.disabled,
            external_id: None,
        };
        let user = self
            .0
            .admin
            .update_user(actor, id.0, patch, expected)
            .await?;
        let (json, tag) = tagged(&user);
        Ok(Tagged::Ok(json, tag))
    }

    /// Delete a user
    ///
    /// With everything that is theirs: sessions, consents, profile, factors. Scope
    /// `authd:admin`.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.delete_user(actor, id.0).await?;
        Ok(Done::NoContent)
    }

    /// List a user's sessions
    #[oai(path = "/:id/sessions", method = "get")]
    async fn sessions(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Json<SessionList>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        self.0.admin.user(id.0).await?;
        let live = self.0.sessions.live(id.0).await?;
        Ok(Json(SessionList {
            items: live.iter().map(AdminSession::from).collect(),
        }))
    }

    /// End every session of a user
    ///
    /// With the access tokens issued in them. Scope `authd:admin`.
    #[oai(path = "/:id/sessions", method = "delete")]
    async fn end_sessions(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Ended>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let ended = self.0.admin.end_sessions(actor, id.0).await?;
        Ok(Json(Ended {
            sessions_ended: ended as u64,
        }))
    }

    /// End one session of a user
    #[oai(path = "/:id/sessions/:session_id", method = "delete")]
    async fn end_session(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        session_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.end_session(actor, id.0, session_id.0).await?;
        Ok(Done::NoContent)
    }

    /// List a user's consents
    #[oai(path = "/:id/consents", method = "get")]
    async fn consents(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Json<ConsentList>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        self.0.admin.user(id.0).await?;
        let consents = self.0.authorizations.consents(id.0).await?;
        Ok(Json(ConsentList {
            items: consents.iter().map(AdminConsent::from).collect(),
        }))
    }

    /// Withdraw a user's consent to a client
    ///
    /// The sessions it gave the client end with it. Scope `authd:admin`.
    #[oai(path = "/:id/consents/:client_id", method = "delete")]
    async fn withdraw_consent(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
        client_id: Path<String>,
    ) -> Result<Done, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.withdraw_consent(id.0, &client_id.0).await?;
        Ok(Done::NoContent)
    }

    /// Reset a user's second factors
    ///
    /// Removes the authenticator app, recovery codes and passkeys, ends every session, and
    /// mails the user a notice. Scope `authd:admin`.
    #[oai(path = "/:id/factors", method = "delete")]
    async fn reset_factors(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<Uuid>,
    ) -> Result<Json<FactorsRemoved>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let reset = self.0.admin.reset_factors(actor, id.0).await?;
        Ok(Json(FactorsRemoved {
            authenticator_app_removed: reset.authenticator_app_removed,
            passkeys_removed: reset.passkeys_removed as u64,
            sessions_ended: reset.sessions_ended as u64,
        }))
    }
}
