//! `authd upstreams …`: the identity providers people may log in through.

use clap::{Args, Subcommand, ValueEnum};

use super::args::ConnectionArgs;

#[derive(Subcommand)]
pub enum UpstreamsCommand {
    /// Register an upstream identity provider; prints it as JSON, with the redirect_uri to
    /// register at the provider.
    Create(Box<CreateUpstreamArgs>),
    /// Print every upstream as JSON lines (never a client secret).
    List(Box<UpstreamOperatorArgs>),
    /// Print one upstream as JSON.
    Show(Box<UpstreamIdArgs>),
    /// Change an upstream: each option given replaces that field. `--issuer` reads the
    /// discovery document again.
    Update(Box<UpdateUpstreamArgs>),
    /// Delete an upstream and the identities linked through it (their users stay).
    Delete(Box<UpstreamIdArgs>),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpstreamKindArg {
    /// OpenID Connect, configured from `--issuer`'s discovery document.
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): explicit endpoints, the user from the userinfo endpoint.
    Oauth2,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProvisioningArg {
    /// A first login creates the user from the provider's claims.
    Jit,
    /// Only users already linked to an identity of the provider may log in with it.
    Existing,
}

/// The fields of an upstream an operator sets; each given replaces its field on `update`.
#[derive(Args)]
pub struct UpstreamFieldArgs {
    /// The name on the login page's button ("Log in with NAME").
    #[arg(long)]
    pub name: Option<String>,

    /// OpenID Connect: the provider's issuer; its discovery document supplies the endpoints.
    #[arg(long)]
    pub issuer: Option<String>,

    /// The client id authd has at the provider.
    #[arg(long)]
    pub client_id: Option<String>,

    /// The client secret authd has at the provider (sealed under the master key). Prefer the
    /// environment variable: a command line is visible to other users of the machine.
    #[arg(long, env = "AUTHD_UPSTREAM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// Scopes asked for, space-separated. Default: `openid profile email` (OpenID Connect).
    #[arg(long)]
    pub scopes: Option<String>,

    /// Plain OAuth 2.0: the authorization endpoint.
    #[arg(long)]
    pub authorization_endpoint: Option<String>,

    /// Plain OAuth 2.0: the token endpoint.
    #[arg(long)]
    pub token_endpoint: Option<String>,

    /// The userinfo endpoint (plain OAuth 2.0: required; it says who the user is).
    #[arg(long)]
    pub userinfo_endpoint: Option<String>,

    /// Where the user's stable id is in the claims (`sub`; GitHub: `id`). A dotted path reads
    /// nested objects.
    #[arg(long)]
    pub subject_claim: Option<String>,

    /// Where the username is (`preferred_username`; GitHub: `login`).
    #[arg(long)]
    pub username_claim: Option<String>,

    /// Where the address is (`email`).
    #[arg(long)]
    pub email_claim: Option<String>,

    /// Where the address's verification is (`email_verified`).
    #[arg(long)]
    pub email_verified_claim: Option<String>,

    /// Whether a first login creates the user (`jit`, the default) or only linked users may
    /// log in (`existing`).
    #[arg(long, value_enum)]
    pub provisioning: Option<ProvisioningArg>,

    /// Trust the provider's verified addresses: a first login whose verified address is a local
    /// account's signs in as that account (and links it). Only for a provider that verifies
    /// addresses and that you trust with every account here.
    #[arg(long)]
    pub trust_email: Option<bool>,

    /// Ask a local account's second factor after the provider's login, when it has one.
    #[arg(long)]
    pub require_second_factor: Option<bool>,

    /// Offer the provider on the login page (default true).
    #[arg(long)]
    pub enabled: Option<bool>,
}

/// `authd upstreams create`.
#[derive(Args)]
pub struct CreateUpstreamArgs {
    /// The upstream's id: 1 to 32 lowercase letters, digits or `-`; part of its redirect URI
    /// and of every identity linked through it.
    #[arg(long)]
    pub id: String,

    #[arg(long, value_enum, default_value = "oidc")]
    pub kind: UpstreamKindArg,

    #[command(flatten)]
    pub fields: UpstreamFieldArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub public: PublicUrlArgs,
}

/// `authd upstreams update`.
#[derive(Args)]
pub struct UpdateUpstreamArgs {
    pub id: String,

    #[command(flatten)]
    pub fields: UpstreamFieldArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub public: PublicUrlArgs,
}

#[derive(Args)]
pub struct UpstreamIdArgs {
    pub id: String,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub public: PublicUrlArgs,
}

/// What acting as a replica takes: the stores, the master key, the public URL.
#[derive(Args)]
pub struct UpstreamOperatorArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub public: PublicUrlArgs,
}

/// Where authd is reached, for the redirect URIs printed and registered.
#[derive(Args)]
pub struct PublicUrlArgs {
    /// The base URL browsers reach authd at (its redirect URIs are under it). Default:
    /// AUTHD_ISSUER, else `http://localhost:8080`.
    #[arg(long, env = "AUTHD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// authd's issuer, the public URL's default.
    #[arg(long, env = "AUTHD_ISSUER", hide = true)]
    pub authd_issuer: Option<String>,
}

impl PublicUrlArgs {
    pub fn url(&self) -> String {
        self.public_url
            .clone()
            .or_else(|| self.authd_issuer.clone())
            .unwrap_or_else(|| "http://localhost:8080".to_owned())
    }
}
