//! `authd ldap …`: the directory settings tried as a login would use them, and existing
//! accounts handed to the directory. Each prints JSON; no password is ever printed.

use serde_json::json;

use crate::{
    config::{ConfigError, LdapAdoptArgs, LdapCheckArgs},
    error::Error,
    ldap::Ldap,
    startup::StartupError,
    telemetry::{self, LogFormat},
};

/// Binds as the service account and looks the username up; an error says what failed (the
/// connection, TLS, the service account's bind, the search).
pub async fn check(args: LdapCheckArgs) -> Result<(), StartupError> {
    telemetry::init_logs(LogFormat::Pretty);
    let settings = args
        .ldap
        .settings()?
        .ok_or_else(|| ConfigError::new("AUTHD_LDAP_URL", "is required"))?;
    let ldap = Ldap::new(settings);
    let found = ldap
        .lookup(&args.username)
        .await
        .map_err(|err| Error::Internal(err.to_string()))?;
    match found {
        Some(user) => println!("{}", json!({ "found": true, "entry": user })),
        None => {
            println!("{}", json!({ "found": false, "username": args.username }));
            return Err(Error::NotFound("directory entry").into());
        }
    }
    Ok(())
}

/// Makes the local account directory-backed, as a replica would see it at its next login.
pub async fn adopt(args: LdapAdoptArgs) -> Result<(), StartupError> {
    let state = super::keys::operator_state(&args.connection, &args.common).await?;
    let ldap = state
        .accounts
        .ldap()
        .ok_or_else(|| ConfigError::new("AUTHD_LDAP_URL", "is required"))?;
    let user = state
        .users
        .find_by_username(&args.username)
        .await?
        .ok_or_else(|| Error::InvalidField {
            field: "username",
            message: format!("no user `{}`", args.username),
        })?;
    let entry = ldap
        .adopt(&user, args.entry.as_deref().unwrap_or(&args.username))
        .await?;
    println!(
        "{}",
        json!({ "user_id": user.id, "username": user.username, "entry": entry })
    );
    Ok(())
}
