//! `authd keys …`: rotate, re-seal and list the signing keys, acting as a replica would and
//! announcing changes to the running ones.

use std::sync::Arc;

use crate::{
    AppState,
    clock::SystemClock,
    config::{CommonArgs, Config, ConnectionArgs, DatabaseArgs, RewrapKeysArgs, RotateKeysArgs},
    error::Error,
    keys::RotationMode,
    startup::{StartupError, connect_stores, require_schema},
    store::{self, SigningKeyStore},
    telemetry::{self, LogFormat},
};

/// The state a replica would have, for operator commands that act as one (no HTTP).
pub(super) async fn operator_state(
    connection: &ConnectionArgs,
    common: &CommonArgs,
) -> Result<AppState, StartupError> {
    let master_keys = connection.master_keys()?;
    let config = Config::from_common(common, false, false)?;
    telemetry::init_logs(LogFormat::Pretty);
    let stores = connect_stores(&connection.database.database_url, &connection.redis).await?;
    require_schema(&connection.database.database_url).await?;
    AppState::build(config, stores, master_keys, Arc::new(SystemClock)).await
}

/// Rotates the signing key as every replica would, and announces it to them.
pub async fn rotate(args: RotateKeysArgs) -> Result<(), StartupError> {
    let state = operator_state(&args.connection, &args.common).await?;
    let mode = if args.now {
        RotationMode::Immediate
    } else {
        RotationMode::Planned
    };
    match state.keys.rotate(mode).await? {
        Some(kid) => println!("{kid}"),
        None => eprintln!("authd: no rotation was needed"),
    }
    Ok(())
}

/// Re-seals every private key and TOTP secret under the first master key, and announces the
/// keys to the replicas.
pub async fn rewrap(args: RewrapKeysArgs) -> Result<(), StartupError> {
    let state = operator_state(&args.connection, &args.common).await?;
    let rewrapped = state.keys.rewrap().await?;
    eprintln!("authd: {rewrapped} signing key(s) re-sealed under the new master key");
    let secrets = state.accounts.second_factors().rewrap().await?;
    eprintln!("authd: {secrets} TOTP secret(s) re-sealed under the new master key");
    let webhooks = state.admin.services().webhooks.rewrap().await?;
    eprintln!("authd: {webhooks} webhook secret(s) re-sealed under the new master key");
    let upstreams = state.federation.upstreams().rewrap().await?;
    eprintln!("authd: {upstreams} upstream client secret(s) re-sealed under the new master key");
    let streams = state.shared_signals.rewrap().await?;
    eprintln!(
        "authd: {streams} SSF push authorization header(s) re-sealed under the new master key"
    );
    Ok(())
}

/// Prints every stored key with its state now.
pub async fn list(args: DatabaseArgs) -> Result<(), StartupError> {
    let pool = store::postgres::connect(&args.database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    require_schema(&args.database_url).await?;
    let keys = store::postgres::Postgres::new(pool)
        .signing_keys()
        .list_keys()
        .await
        .map_err(Error::from)?;
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{:<44}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}",
        "KID", "ALG", "STATE", "NOT BEFORE", "SIGNS UNTIL", "VERIFIES UNTIL"
    );
    for key in keys {
        let state = if key.purpose == store::KeyPurpose::ExpiredTest {
            "test-only"
        } else if now >= key.retire_at {
            "retired"
        } else if now >= key.expires_at {
            "verifying"
        } else if now >= key.not_before {
            "signing"
        } else {
            "published"
        };
        println!(
            "{:<44}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}",
            key.kid,
            format!("{:?}", key.algorithm),
            state,
            short_date(key.not_before),
            short_date(key.expires_at),
            short_date(key.retire_at),
        );
    }
    Ok(())
}

fn short_date(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_else(|_| at.to_string())
}
