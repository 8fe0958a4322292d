//! `/admin/upstreams`: the identity providers people may log in through (docs/federation.md),
//! as `authd upstreams …` manages them. A client secret is written, never read back.

use poem::Request;
use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Access, Done, Tagged, admin_caller, etag, if_match};
use crate::{
    federation::{ClaimPaths, Provisioning, UpstreamDraft, UpstreamKind, UpstreamRecord},
    http::{api::ApiTags, callers::access::AccessAuth, error::ApiError},
    state::AppState,
};

pub struct UpstreamsApi(pub AppState);

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
enum UpstreamKindName {
    /// OpenID Connect, its endpoints from `issuer`'s discovery document.
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): explicit endpoints, the user from `userinfo_endpoint`.
    Oauth2,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
enum UpstreamProvisioning {
    /// A first login creates the user.
    Jit,
    /// Only users already linked may log in.
    Existing,
}

/// Where the upstream puts what authd reads (a name, or a dotted path); OpenID Connect's
/// names where not given.
#[derive(Object, Default)]
struct UpstreamClaimPaths {
    subject: Option<String>,
    username: Option<String>,
    email: Option<String>,
    email_verified: Option<String>,
}

/// An upstream as written. Every field is replaced on `PUT` (the secret only if given).
#[derive(Object)]
struct UpstreamFields {
    /// The button's text: "Log in with NAME".
    name: String,
    /// Default `oidc`.
    kind: Option<UpstreamKindName>,
    /// OpenID Connect: the issuer; its discovery document is read at each write.
    issuer: Option<String>,
    client_id: String,
    /// Required at creation; on `PUT`, absent keeps the stored one. Never returned.
    client_secret: Option<String>,
    /// Default `openid profile email` (OpenID Connect), empty (OAuth 2.0).
    scopes: Option<String>,
    /// OAuth 2.0: required.
    authorization_endpoint: Option<String>,
    /// OAuth 2.0: required.
    token_endpoint: Option<String>,
    /// OAuth 2.0: required (who the user is).
    userinfo_endpoint: Option<String>,
    claims: Option<UpstreamClaimPaths>,
    /// Default `jit`.
    provisioning: Option<UpstreamProvisioning>,
    /// Default false: see docs/federation.md before turning it on.
    trust_email: Option<bool>,
    /// Default false.
    require_second_factor: Option<bool>,
    /// Default true.
    enabled: Option<bool>,
}

/// A new upstream: its id, and its fields.
#[derive(Object)]
struct NewUpstream {
    /// 1 to 32 lowercase letters, digits or `-`: part of the redirect URI.
    id: String,
    #[oai(flatten)]
    fields: UpstreamFields,
}

#[derive(Object)]
struct AdminUpstreamClaims {
    subject: String,
    username: String,
    email: String,
    email_verified: String,
}

#[derive(Object)]
struct AdminUpstream {
    id: String,
    name: String,
    kind: UpstreamKindName,
    issuer: Option<String>,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    /// The ID token algorithms accepted from it.
    algorithms: Vec<String>,
    /// It sends RFC 9207's `iss`, which authd then requires.
    authorization_response_iss_parameter_supported: bool,
    client_id: String,
    scopes: String,
    claims: AdminUpstreamClaims,
    provisioning: UpstreamProvisioning,
    trust_email: bool,
    require_second_factor: bool,
    enabled: bool,
    /// The redirect URI to register at the provider.
    redirect_uri: String,
    created_at: OffsetDateTime,
}

#[derive(Object)]
struct UpstreamList {
    items: Vec<AdminUpstream>,
}

impl UpstreamsApi {
    fn describe(&self, upstream: &UpstreamRecord) -> AdminUpstream {
        AdminUpstream {
            id: upstream.id.clone(),
            name: upstream.name.clone(),
            kind: match upstream.kind {
                UpstreamKind::Oidc => UpstreamKindName::Oidc,
                UpstreamKind::Oauth2 => UpstreamKindName::Oauth2,
            },
            issuer: upstream.issuer.clone(),
            authorization_endpoint: upstream.authorization_endpoint.clone(),
            token_endpoint: upstream.token_endpoint.clone(),
            userinfo_endpoint: upstream.userinfo_endpoint.clone(),
            jwks_uri: upstream.jwks_uri.clone(),
            algorithms: upstream.algorithms.clone(),
            authorization_response_iss_parameter_supported: upstream.iss_parameter,
            client_id: upstream.client_id.clone(),
            scopes: upstream.scopes.clone(),
            claims: AdminUpstreamClaims {
                subject: upstream.claims.subject.clone(),
                username: upstream.claims.username.clone(),
                email: upstream.claims.email.clone(),
                email_verified: upstream.claims.email_verified.clone(),
            },
            provisioning: match upstream.provisioning {
                Provisioning::Jit => UpstreamProvisioning::Jit,
                Provisioning::Existing => UpstreamProvisioning::Existing,
            },
            trust_email: upstream.trust_email,
            require_second_factor: upstream.require_second_factor,
            enabled: upstream.enabled,
            redirect_uri: self.0.admin.services().upstreams.redirect_uri(&upstream.id),
            created_at: upstream.created_at,
        }
    }
}

/// The draft `fields` ask for (an OpenID Connect one's endpoints come from discovery).
fn draft(id: String, fields: UpstreamFields) -> UpstreamDraft {
    let kind = match fields.kind.unwrap_or(UpstreamKindName::Oidc) {
        UpstreamKindName::Oidc => UpstreamKind::Oidc,
        UpstreamKindName::Oauth2 => UpstreamKind::Oauth2,
    };
    let defaults = UpstreamDraft::new(id, fields.name, kind);
    let claims = fields.claims.unwrap_or_default();
    let paths = &defaults.claims;
    UpstreamDraft {
        issuer: fields.issuer,
        authorization_endpoint: fields.authorization_endpoint.unwrap_or_default(),
        token_endpoint: fields.token_endpoint.unwrap_or_default(),
        userinfo_endpoint: fields.userinfo_endpoint,
        client_id: fields.client_id,
        client_secret: fields.client_secret.map(Zeroizing::new),
        scopes: fields.scopes.unwrap_or_else(|| defaults.scopes.clone()),
        claims: ClaimPaths {
            subject: claims.subject.unwrap_or_else(|| paths.subject.clone()),
            username: claims.username.unwrap_or_else(|| paths.username.clone()),
            email: claims.email.unwrap_or_else(|| paths.email.clone()),
            email_verified: claims
                .email_verified
                .unwrap_or_else(|| paths.email_verified.clone()),
        },
        provisioning: match fields.provisioning.unwrap_or(UpstreamProvisioning::Jit) {
            UpstreamProvisioning::Jit => Provisioning::Jit,
            UpstreamProvisioning::Existing => Provisioning::Existing,
        },
        trust_email: fields.trust_email.unwrap_or(false),
        require_second_factor: fields.require_second_factor.unwrap_or(false),
        enabled: fields.enabled.unwrap_or(true),
        ..defaults
    }
}

#[OpenApi(prefix_path = "/admin/upstreams", tag = "ApiTags::Admin")]
impl UpstreamsApi {
    /// List upstream identity providers
    #[oai(path = "/", method = "get")]
    async fn list(&self, req: &Request, auth: AccessAuth) -> Result<Json<UpstreamList>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let upstreams = self.0.admin.services().upstreams.list().await?;
        Ok(Json(UpstreamList {
            items: upstreams.iter().map(|u| self.describe(u)).collect(),
        }))
    }

    /// Register an upstream identity provider
    ///
    /// An OpenID Connect one is configured from its issuer's discovery document (422 on
    /// `issuer` if none can be read). The answer names the `redirect_uri` to register there.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        req: &Request,
        auth: AccessAuth,
        body: Json<NewUpstream>,
    ) -> Result<Tagged<AdminUpstream>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let NewUpstream { id, fields } = body.0;
        let upstream = self
            .0
            .admin
            .create_upstream(actor, draft(id, fields))
            .await?;
        Ok(Tagged::Created(
            Json(self.describe(&upstream)),
            etag(upstream.revision),
        ))
    }

    /// Get an upstream identity provider
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<String>,
    ) -> Result<Tagged<AdminUpstream>, ApiError> {
        admin_caller(&self.0, req, &auth, Access::Read).await?;
        let upstream = self.0.admin.upstream(&id.0).await?;
        Ok(Tagged::Ok(
            Json(self.describe(&upstream)),
            etag(upstream.revision),
        ))
    }

    /// Replace an upstream identity provider
    ///
    /// Its secret stays unless `client_secret` is given. Send the `ETag` you read as
    /// `If-Match`: 412 if it changed since.
    #[oai(path = "/:id", method = "put")]
    async fn replace(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<String>,
        body: Json<UpstreamFields>,
    ) -> Result<Tagged<AdminUpstream>, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        let expected = if_match(req, "upstream")?;
        let upstream = self
            .0
            .admin
            .update_upstream(actor, draft(id.0, body.0), expected)
            .await?;
        Ok(Tagged::Ok(
            Json(self.describe(&upstream)),
            etag(upstream.revision),
        ))
    }

    /// Delete an upstream identity provider
    ///
    /// The identities linked through it go; their users stay.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        req: &Request,
        auth: AccessAuth,
        id: Path<String>,
    ) -> Result<Done, ApiError> {
        let actor = admin_caller(&self.0, req, &auth, Access::Write).await?;
        self.0.admin.delete_upstream(actor, &id.0).await?;
        Ok(Done::NoContent)
    }
}
