//! The command line: `authd` and its commands, each flag also an `AUTHD_*` (or conventional)
//! environment variable. The flag groups several commands share are in `args`.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};

use super::args::{ClientFieldArgs, CommonArgs, ConnectionArgs, DatabaseArgs, RedisArgs};

#[derive(Parser)]
#[command(
    name = "authd",
    version,
    about = "A token authority: issues and verifies JWTs for an application's users",
    long_about = "A token authority: issues and verifies JWTs for an application's users.\n\n\
        Start with `authd dev` (no services needed, nothing persists); run `authd serve` \
        against Postgres and Redis in production."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API against Postgres and Redis (production, tests, clusters).
    Serve(ServeArgs),
    /// Serve the same API from in-memory stores with an ephemeral master key. Nothing persists.
    Dev(DevArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage confidential OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Rotate and list signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the identity providers people may log in through (OpenID Connect, OAuth 2.0).
    #[command(subcommand)]
    Upstreams(super::UpstreamsCommand),
    /// Check the LDAP directory settings, and make existing accounts directory-backed.
    #[command(subcommand)]
    Ldap(super::LdapCommand),
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Delete a user, with their sessions, consents and profile; their access tokens stop
    /// working on every replica within AUTHD_REVOCATION_MAX_LAG.
    Delete(UsernameArgs),
    /// Remove a user's second factors (authenticator app, recovery codes, passkeys) and end
    /// their sessions, for a user who lost them; a notice goes to their address. Their next
    /// login is with the password alone (a passkey-only account first sets one by reset link).
    // Boxed: parsed once, and much larger than the other variants.
    ResetFactors(Box<UserAdminArgs>),
    /// Mark a user's email address as confirmed, without the link (you vouch for it).
    VerifyEmail(UsernameArgs),
}

/// A user, and what it takes to act as a replica would: the master key to seal the notice
/// mail, and the mail settings that say whether mail goes out.
#[derive(Args)]
pub struct UserAdminArgs {
    pub username: String,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct UsernameArgs {
    pub username: String,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key now; it signs after one JWKS cache lifetime, and the current
    /// key verifies for one more token lifetime. Every replica follows within a second.
    // Boxed: parsed once, and much larger than the other variant.
    Rotate(Box<RotateKeysArgs>),
    /// Print every stored key: kid, alg, state and dates.
    List(DatabaseArgs),
    /// Re-encrypt every private key under the first of AUTHD_MASTER_KEYS, while serving.
    Rewrap(Box<RewrapKeysArgs>),
}

#[derive(Args)]
pub struct RewrapKeysArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct RotateKeysArgs {
    /// For a key thought compromised: sign with the new key at once and retire every other key
    /// at once (tokens they signed stop verifying). Revokes nothing else.
    #[arg(long)]
    pub now: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints it as JSON, with its client_secret (shown this once) if it
    /// is confidential.
    Create(CreateClientArgs),
    /// Print every client as JSON lines.
    List(DatabaseArgs),
    /// Print one client as JSON.
    Show(ClientIdArgs),
    /// Change a client's registration: each option given replaces that field.
    Update(UpdateClientArgs),
    /// Give a confidential client a new secret (printed this once); the old one is refused at
    /// once, or after `--previous-valid-for`.
    RotateSecret(RotateSecretArgs),
    /// Delete a client, the consents users gave it and its sessions' refresh tokens.
    Delete(ClientIdArgs),
}

/// `authd clients create`: every field of a client may be given; `--name` must be.
#[derive(Args)]
#[command(mut_arg("name", |arg| arg.required(true)))]
pub struct CreateClientArgs {
    /// The client's id, for one a trust file or a deployment names in advance: 1 to 64
    /// letters, digits, `.`, `_` or `-`. Default: a random `client_…`.
    #[arg(long)]
    pub client_id: Option<String>,

    /// A public client (a browser or native app): no secret, token endpoint auth `none`.
    #[arg(long, conflicts_with = "jwks")]
    pub public: bool,

    #[command(flatten)]
    pub fields: ClientFieldArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `authd clients update`: each field given replaces that field.
#[derive(Args)]
pub struct UpdateClientArgs {
    pub client_id: String,

    #[command(flatten)]
    pub fields: ClientFieldArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct ClientIdArgs {
    pub client_id: String,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct RotateSecretArgs {
    pub client_id: String,

    /// How long the replaced secret is still accepted (e.g. `1h`), so the client can be given
    /// the new one without an outage. The default, 0s, refuses it at once: for a leaked secret.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub previous_valid_for: Duration,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Skip running migrations at start (when a separate `authd migrate` job runs them).
    #[arg(long, env = "AUTHD_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Test mode: allow `POST /auth?expired=true` to issue already-expired tokens. Never in production.
    #[arg(long, env = "AUTHD_EXPIRED_TOKENS")]
    pub expired_tokens: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Clap reports a bad value over several lines, naming only the flag (`--rate-limit`); most
/// deployments set the environment variable. This says it in one line naming both, e.g.
/// `AUTHD_RATE_LIMIT (--rate-limit): invalid value '0': number would be zero for non-zero type`.
/// `None` for errors that are not about one value (help, unknown subcommand, …).
pub fn explain_parse_error(err: &clap::Error) -> Option<String> {
    use clap::{
        CommandFactory,
        error::{ContextKind, ContextValue, ErrorKind},
    };
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(flag)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = flag.split_whitespace().next()?.trim_start_matches("--");
    let command = Cli::command();
    let env = command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    let setting = match env {
        Some(env) => format!("{env} (--{long})"),
        None => format!("--{long}"),
    };
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => format!(" '{value}'"),
        _ => String::new(),
    };
    let reason = std::error::Error::source(err)
        .map(|source| format!(": {source}"))
        .unwrap_or_default();
    Some(format!("{setting}: invalid value{value}{reason}"))
}
