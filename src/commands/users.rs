//! `authd users …`: account administration from the command line.

use serde_json::json;

use crate::{
    config::UsernameArgs,
    error::Error,
    startup::{StartupError, connect_admin},
};

/// Deletes a user and announces it, so every replica forgets the cached row and the user's
/// tokens stop opening anything within the max lag.
pub async fn delete(args: UsernameArgs) -> Result<(), StartupError> {
    let users = connect_admin(&args.database.database_url, &args.redis)
        .await?
        .users;
    let user = users
        .find_by_username(&args.username)
        .await?
        .ok_or_else(|| {
            StartupError::Domain(Error::InvalidField {
                field: "username",
                message: format!("no user `{}`", args.username),
            })
        })?;
    users.delete(user.id).await?;
    println!(
        "{}",
        json!({ "user_id": user.id, "username": user.username, "deleted": true })
    );
    Ok(())
}
