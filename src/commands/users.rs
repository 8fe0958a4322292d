//! `authd users …`: account administration from the command line.

use serde_json::json;

use crate::{
    accounts::{UserRecord, Users},
    config::{UserAdminArgs, UsernameArgs},
    error::Error,
    events::Actor,
    startup::{StartupError, connect_admin},
};

/// Deletes a user and announces it, so every replica forgets the cached row and the user's
/// tokens stop opening anything within the max lag.
pub async fn delete(args: UsernameArgs) -> Result<(), StartupError> {
    let (users, user) = named_user(&args).await?;
    users.delete(user.id).await?;
    println!(
        "{}",
        json!({ "user_id": user.id, "username": user.username, "deleted": true })
    );
    Ok(())
}

/// Removes a user's second factors and ends their sessions, acting as a replica would (the
/// notice mail is sealed under the master key and queued in the outbox, which the replicas
/// deliver).
pub async fn reset_factors(args: UserAdminArgs) -> Result<(), StartupError> {
    let state = super::keys::operator_state(&args.connection, &args.common).await?;
    let user = state
        .users
        .find_by_username(&args.username)
        .await?
        .ok_or_else(|| no_such_user(&args.username))?;
    // What the admin API's reset does: the same service, audited as the operator's.
    let reset = state.admin.reset_factors(Actor::Operator, user.id).await?;
    println!(
        "{}",
        json!({
            "user_id": user.id,
            "username": user.username,
            "authenticator_app_removed": reset.authenticator_app_removed,
            "passkeys_removed": reset.passkeys_removed,
            "sessions_ended": reset.sessions_ended,
            "notice_queued": state.mailer.enabled(),
        })
    );
    Ok(())
}

/// Marks a user's address confirmed and announces it, so `email_verified` says so on every
/// replica at once.
pub async fn verify_email(args: UsernameArgs) -> Result<(), StartupError> {
    let (users, user) = named_user(&args).await?;
    users.mark_email_verified(user.id).await?;
    println!(
        "{}",
        json!({ "user_id": user.id, "username": user.username, "email": user.email, "email_verified": true })
    );
    Ok(())
}

/// The users service of an administrative command, and the user `args` names.
async fn named_user(args: &UsernameArgs) -> Result<(Users, UserRecord), StartupError> {
    let users = connect_admin(&args.database.database_url, &args.redis)
        .await?
        .users;
    let user = users
        .find_by_username(&args.username)
        .await?
        .ok_or_else(|| no_such_user(&args.username))?;
    Ok((users, user))
}

fn no_such_user(username: &str) -> StartupError {
    StartupError::Domain(Error::InvalidField {
        field: "username",
        message: format!("no user `{username}`"),
    })
}
