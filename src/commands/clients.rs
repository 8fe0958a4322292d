//! `authd clients …`: register, list, show, change and delete clients from the command line.
//! Changes and deletions are announced to running replicas, which cache client records.
//! Each prints JSON, so scripts can capture what they need (a secret is printed only at
//! creation, and only then).

use std::{num::NonZeroU32, path::Path};

use serde_json::{Value, json};

use crate::{
    clients::{ClientAuthMethod, ClientRecord, Clients, PkcePolicy, Registration},
    config::{
        ClientFieldArgs, ClientIdArgs, CreateClientArgs, DatabaseArgs, RotateSecretArgs,
        UpdateClientArgs,
    },
    error::Error,
    startup::{StartupError, connect_admin, connect_clients},
};

/// For a change replicas may have cached: it is announced to them through Redis.
async fn announced_clients(
    database: &DatabaseArgs,
    redis: &crate::config::RedisArgs,
) -> Result<Clients, StartupError> {
    Ok(connect_admin(&database.database_url, redis).await?.clients)
}

pub async fn create(args: CreateClientArgs) -> Result<(), StartupError> {
    let mut registration = Registration {
        client_id: args.client_id,
        auth_method: args.public.then_some(ClientAuthMethod::None),
        // An operator made it: its name is theirs to vouch for.
        verified: true,
        ..Registration::default()
    };
    apply(args.fields, &mut registration)?;
    let (client, secret) = connect_clients(&args.database.database_url)
        .await?
        .create(registration)
        .await?;
    let mut printed = describe(&client);
    if let Some(secret) = &secret {
        printed["client_secret"] = json!(secret.expose());
    }
    println!("{printed}");
    if secret.is_some() {
        eprintln!("authd: client created; store the secret now, it cannot be shown again");
    }
    Ok(())
}

pub async fn list(database: DatabaseArgs) -> Result<(), StartupError> {
    for client in connect_clients(&database.database_url)
        .await?
        .list()
        .await?
    {
        println!("{}", describe(&client));
    }
    Ok(())
}

pub async fn show(args: ClientIdArgs) -> Result<(), StartupError> {
    let client = connect_clients(&args.database.database_url)
        .await?
        .find(&args.client_id)
        .await?
        .ok_or_else(|| unknown(&args.client_id))?;
    println!("{}", describe(&client));
    Ok(())
}

pub async fn update(args: UpdateClientArgs) -> Result<(), StartupError> {
    let clients = announced_clients(&args.database, &args.redis).await?;
    let existing = clients
        .find(&args.client_id)
        .await?
        .ok_or_else(|| unknown(&args.client_id))?;
    let mut registration = Registration::from(&existing);
    apply(args.fields, &mut registration)?;
    let updated = clients
        .update(&args.client_id, registration)
        .await?
        .ok_or_else(|| unknown(&args.client_id))?;
    println!("{}", describe(&updated));
    Ok(())
}

/// The fields given on the command line, over `registration`: each one given replaces its
/// field (a list given replaces the whole list).
fn apply(fields: ClientFieldArgs, registration: &mut Registration) -> Result<(), StartupError> {
    if let Some(name) = fields.name {
        registration.name = name;
    }
    if let Some(scope) = fields.scope {
        registration.scope = scope;
    }
    if !fields.redirect_uris.is_empty() {
        registration.redirect_uris = fields.redirect_uris;
    }
    if !fields.grant_types.is_empty() {
        registration.grant_types = fields.grant_types;
    }
    if let Some(require_par) = fields.require_par {
        registration.require_par = require_par;
    }
    if let Some(path) = &fields.jwks {
        registration.jwks = Some(read_jwks(path)?);
    }
    if !fields.post_logout_redirect_uris.is_empty() {
        registration.post_logout_redirect_uris = fields.post_logout_redirect_uris;
    }
    if let Some(uri) = fields.backchannel_logout_uri {
        registration.logout.backchannel_uri = Some(uri).filter(|uri| !uri.is_empty());
    }
    if let Some(required) = fields.backchannel_logout_session_required {
        registration.logout.backchannel_session_required = required;
    }
    if let Some(uri) = fields.frontchannel_logout_uri {
        registration.logout.frontchannel_uri = Some(uri).filter(|uri| !uri.is_empty());
    }
    if let Some(required) = fields.frontchannel_logout_session_required {
        registration.logout.frontchannel_session_required = required;
    }
    if let Some(choice) = fields.rate_limit {
        registration.rate_limit = choice.0;
    }
    if let Some(choice) = fields.pkce {
        registration.pkce = choice.0;
    }
    if !fields.allowed_origins.is_empty() {
        // `--allowed-origin ''` alone clears the list: back to the redirect URIs' origins.
        registration.allowed_origins = fields
            .allowed_origins
            .into_iter()
            .filter(|origin| !origin.is_empty())
            .collect();
    }
    if let Some(verified) = fields.verified {
        registration.verified = verified;
    }
    if fields.application_type.is_some() {
        registration.application_type = fields.application_type;
    }
    Ok(())
}

pub async fn rotate_secret(args: RotateSecretArgs) -> Result<(), StartupError> {
    let previous_valid_for = time::Duration::try_from(args.previous_valid_for).map_err(|_| {
        StartupError::Domain(Error::InvalidField {
            field: "previous_valid_for",
            message: "too long".to_owned(),
        })
    })?;
    let (client, secret) = announced_clients(&args.database, &args.redis)
        .await?
        .rotate_secret(&args.client_id, previous_valid_for)
        .await?
        .ok_or_else(|| unknown(&args.client_id))?;
    let mut printed = describe(&client);
    printed["client_secret"] = json!(secret.expose());
    println!("{printed}");
    eprintln!("authd: secret rotated; store the new one now, it cannot be shown again");
    Ok(())
}

pub async fn delete(args: ClientIdArgs) -> Result<(), StartupError> {
    if !announced_clients(&args.database, &args.redis)
        .await?
        .delete(&args.client_id)
        .await?
    {
        return Err(unknown(&args.client_id));
    }
    println!(
        "{}",
        json!({ "client_id": args.client_id, "deleted": true })
    );
    Ok(())
}

/// A client as RFC 7591 §2 names its metadata (and `name`, as the first version printed it).
fn describe(client: &ClientRecord) -> Value {
    json!({
        "client_id": client.client_id,
        "client_name": client.name,
        "name": client.name,
        "client_type": if client.is_public() { "public" } else { "confidential" },
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types.iter().map(|grant| grant.as_str()).collect::<Vec<_>>(),
        "scope": client.scope,
        "require_pushed_authorization_requests": client.require_par,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.logout.backchannel_uri,
        "backchannel_logout_session_required": client.logout.backchannel_session_required,
        "frontchannel_logout_uri": client.logout.frontchannel_uri,
        "frontchannel_logout_session_required": client.logout.frontchannel_session_required,
        "application_type": client.application_type.as_str(),
        "pkce_policy": client.pkce.map_or("default", PkcePolicy::as_str),
        "allowed_origins": client.allowed_origins,
        "cors_origins": client.origins(),
        "verified": client.verified,
        "rate_limit": client.rate_limit.map(NonZeroU32::get),
        "jwks": client.jwks.as_deref().and_then(|jwks| serde_json::from_str::<Value>(jwks).ok()),
        "created_at": client.created_at.unix_timestamp(),
        "previous_secret_expires_at": client
            .previous_secret
            .map(|previous| previous.expires_at.unix_timestamp()),
    })
}

fn read_jwks(path: &Path) -> Result<String, StartupError> {
    std::fs::read_to_string(path).map_err(|err| {
        StartupError::Domain(Error::InvalidField {
            field: "jwks",
            message: format!("cannot read {}: {err}", path.display()),
        })
    })
}

fn unknown(client_id: &str) -> StartupError {
    StartupError::Domain(Error::InvalidField {
        field: "client_id",
        message: format!("no client `{client_id}`"),
    })
}
