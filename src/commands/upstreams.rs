//! `authd upstreams …`: register, list, show, change and delete upstream identity providers.
//! Each prints JSON; a client secret is never printed.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use std::sync::Arc;

use crate::{
    clock::SystemClock,
    config::{
        ConnectionArgs, CreateUpstreamArgs, ProvisioningArg, PublicUrlArgs, UpdateUpstreamArgs,
        UpstreamFieldArgs, UpstreamIdArgs, UpstreamKindArg, UpstreamOperatorArgs,
    },
    error::Error,
    federation::{Provisioning, UpstreamDraft, UpstreamKind, UpstreamRecord, Upstreams, discover},
    startup::{StartupError, connect_stores, require_schema},
    telemetry::{self, LogFormat},
};

/// The registry over the deployment's database, sealing with its master key. Upstreams are
/// read from Postgres at each login, so replicas need no announcement.
async fn registry(
    connection: &ConnectionArgs,
    public: &PublicUrlArgs,
) -> Result<Upstreams, StartupError> {
    let master_keys = connection.master_keys()?;
    telemetry::init_logs(LogFormat::Pretty);
    let stores = connect_stores(&connection.database.database_url, &connection.redis).await?;
    require_schema(&connection.database.database_url).await?;
    Ok(Upstreams::new(
        stores.upstreams,
        Arc::new(master_keys),
        Arc::new(SystemClock),
        public.url(),
    ))
}

pub async fn create(args: CreateUpstreamArgs) -> Result<(), StartupError> {
    let upstreams = registry(&args.connection, &args.public).await?;
    let fields = args.fields;
    let name = fields.name.clone().ok_or_else(|| missing("--name"))?;
    let mut draft = match args.kind {
        UpstreamKindArg::Oidc => {
            let issuer = fields
                .issuer
                .as_deref()
                .ok_or_else(|| missing("--issuer"))?;
            UpstreamDraft::from_discovery(args.id, name, discover(issuer).await?)
        }
        UpstreamKindArg::Oauth2 => UpstreamDraft::new(args.id, name, UpstreamKind::Oauth2),
    };
    apply(fields, &mut draft);
    let created = upstreams.create(draft).await?;
    println!("{}", describe(&upstreams, &created));
    eprintln!(
        "authd: upstream created; register {} as its redirect URI at the provider",
        upstreams.redirect_uri(&created.id)
    );
    Ok(())
}

pub async fn list(args: UpstreamOperatorArgs) -> Result<(), StartupError> {
    let upstreams = registry(&args.connection, &args.public).await?;
    for upstream in upstreams.list().await? {
        println!("{}", describe(&upstreams, &upstream));
    }
    Ok(())
}

pub async fn show(args: UpstreamIdArgs) -> Result<(), StartupError> {
    let upstreams = registry(&args.connection, &args.public).await?;
    let upstream = upstreams
        .find(&args.id)
        .await?
        .ok_or(Error::NotFound("upstream"))?;
    println!("{}", describe(&upstreams, &upstream));
    Ok(())
}

pub async fn update(args: UpdateUpstreamArgs) -> Result<(), StartupError> {
    let upstreams = registry(&args.connection, &args.public).await?;
    let stored = upstreams
        .find(&args.id)
        .await?
        .ok_or(Error::NotFound("upstream"))?;
    let mut draft = UpstreamDraft::from(&stored);
    if let Some(issuer) = &args.fields.issuer {
        draft = draft.with_discovery(discover(issuer).await?);
    }
    apply(args.fields, &mut draft);
    let crate::store::Written::Done(updated) = upstreams.update(draft, None).await? else {
        return Err(Error::NotFound("upstream").into());
    };
    println!("{}", describe(&upstreams, &updated));
    Ok(())
}

pub async fn delete(args: UpstreamIdArgs) -> Result<(), StartupError> {
    let upstreams = registry(&args.connection, &args.public).await?;
    if !upstreams.delete(&args.id).await? {
        return Err(Error::NotFound("upstream").into());
    }
    eprintln!("authd: upstream {} deleted", args.id);
    Ok(())
}

/// The fields given on the command line, over `draft`.
fn apply(fields: UpstreamFieldArgs, draft: &mut UpstreamDraft) {
    let set = |value: Option<String>, field: &mut String| {
        if let Some(value) = value {
            *field = value;
        }
    };
    set(fields.name, &mut draft.name);
    set(fields.client_id, &mut draft.client_id);
    set(fields.scopes, &mut draft.scopes);
    set(
        fields.authorization_endpoint,
        &mut draft.authorization_endpoint,
    );
    set(fields.token_endpoint, &mut draft.token_endpoint);
    set(fields.subject_claim, &mut draft.claims.subject);
    set(fields.username_claim, &mut draft.claims.username);
    set(fields.email_claim, &mut draft.claims.email);
    set(
        fields.email_verified_claim,
        &mut draft.claims.email_verified,
    );
    if let Some(secret) = fields.client_secret {
        draft.client_secret = Some(Zeroizing::new(secret));
    }
    if let Some(endpoint) = fields.userinfo_endpoint {
        draft.userinfo_endpoint = Some(endpoint).filter(|endpoint| !endpoint.is_empty());
    }
    if let Some(provisioning) = fields.provisioning {
        draft.provisioning = match provisioning {
            ProvisioningArg::Jit => Provisioning::Jit,
            ProvisioningArg::Existing => Provisioning::Existing,
        };
    }
    if let Some(trust) = fields.trust_email {
        draft.trust_email = trust;
    }
    if let Some(required) = fields.require_second_factor {
        draft.require_second_factor = required;
    }
    if let Some(enabled) = fields.enabled {
        draft.enabled = enabled;
    }
}

/// An upstream as printed: everything but its secret, with the redirect URI to register.
fn describe(upstreams: &Upstreams, upstream: &UpstreamRecord) -> Value {
    json!({
        "id": upstream.id,
        "name": upstream.name,
        "kind": upstream.kind.as_str(),
        "issuer": upstream.issuer,
        "authorization_endpoint": upstream.authorization_endpoint,
        "token_endpoint": upstream.token_endpoint,
        "userinfo_endpoint": upstream.userinfo_endpoint,
        "jwks_uri": upstream.jwks_uri,
        "algorithms": upstream.algorithms,
        "authorization_response_iss_parameter_supported": upstream.iss_parameter,
        "client_id": upstream.client_id,
        "scopes": upstream.scopes,
        "claims": upstream.claims,
        "provisioning": upstream.provisioning.as_str(),
        "trust_email": upstream.trust_email,
        "require_second_factor": upstream.require_second_factor,
        "enabled": upstream.enabled,
        "redirect_uri": upstreams.redirect_uri(&upstream.id),
        "created_at": upstream.created_at.unix_timestamp(),
    })
}

fn missing(flag: &str) -> StartupError {
    Error::InvalidField {
        field: "upstream",
        message: format!("needs {flag}"),
    }
    .into()
}
