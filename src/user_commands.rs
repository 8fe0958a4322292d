//! `authd users …`: account administration from the command line.

use authd::{
    config::UsernameArgs,
    error::Error,
    startup::{StartupError, connect_admin},
};
use serde_json::json;

/// Deletes a user and announces it, so every replica forgets the cached row and the user's
/// tokens stop opening anything within the max lag.
pub async fn delete(args: UsernameArgs) -> Result<(), StartupError> {
    let stores = connect_admin(&args.database.database_url, &args.redis).await?;
    let user = stores
        .users
        .find_by_username(&args.username)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| {
            StartupError::Domain(Error::InvalidField {
                field: "username",
                message: format!("no user `{}`", args.username),
            })
        })?;
    stores
        .users
        .delete_user(user.id)
        .await
        .map_err(Error::from)?;
    println!(
        "{}",
        json!({ "user_id": user.id, "username": user.username, "deleted": true })
    );
    Ok(())
}
