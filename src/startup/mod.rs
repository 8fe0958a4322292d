//! Building authd: its stores from their URLs ([`stores`]), its state from config and stores
//! ([`state`]), and the HTTP server and background tasks around it. `main` and the integration
//! tests both start authd through here.

use std::{future::Future, io, net::SocketAddr, time::Duration};

use poem::{Endpoint, EndpointExt};
use tokio::net::TcpListener;

mod state;
mod stores;

pub use stores::{AdminServices, connect_admin, connect_clients, connect_stores};

use crate::{
    config::ConfigError,
    error::Error,
    http::plumbing::server::{self, ConnectionLimits},
    keys::KeyRingError,
    state::AppState,
    store::{
        StoreError,
        postgres::{SchemaState, schema_state},
    },
    tasks::Background,
};

/// Why authd could not start. Each message names the setting or service to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Postgres or Redis could not be used; the message says whether it was unreachable or
    /// refused the login, and `setting` names where it is configured.
    #[error("{setting}: {}", unavailable_message(source))]
    Connect {
        setting: &'static str,
        source: StoreError,
    },
    /// Migrating failed (the cause says whether Postgres was unreachable, refused the login,
    /// or holds a schema of a newer authd).
    #[error("DATABASE_URL: migrations: {}", unavailable_message(.0))]
    Migrate(StoreError),
    /// The database's schema is not the one this binary carries.
    #[error("DATABASE_URL: {0}")]
    Schema(SchemaState),
    #[error("signing keys: {0} (is AUTHD_MASTER_KEY the key they were sealed with?)")]
    Keys(#[from] KeyRingError),
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("traces: {0}")]
    Telemetry(#[from] crate::telemetry::OtlpError),
    #[error("listen address {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// A store's failure to connect, without the service's name when the message says it already.
fn unavailable_message(err: &StoreError) -> String {
    match err {
        StoreError::Unavailable { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Refuses a database whose schema is not the one this binary carries, saying what fixes it
/// (`authd migrate`, or a newer authd). Every command but `migrate` (and `serve`, which
/// migrates first unless told not to) asks this before it uses the database.
pub async fn require_schema(database_url: &str) -> Result<(), StartupError> {
    let state = schema_state(database_url)
        .await
        .map_err(|source| StartupError::Connect {
            setting: "DATABASE_URL",
            source,
        })?;
    match state {
        SchemaState::Current => Ok(()),
        other => Err(StartupError::Schema(other)),
    }
}

/// The HTTP application for `state`: used by `main` and by the tests alike.
pub fn build_app(state: &AppState) -> impl Endpoint + 'static {
    crate::http::routes(state).map_to_response()
}

/// A bound, not yet running server. Binding first lets callers learn the port (tests bind 0).
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Application {
    pub async fn bind(addr: SocketAddr, state: AppState) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self { listener, state })
    }

    /// Serves on a listener bound elsewhere (tests bind first to learn their public URL).
    pub fn from_listener(listener: std::net::TcpListener, state: AppState) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener: TcpListener::from_std(listener)?,
            state,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    /// Meanwhile keeps the key ring current and rotates keys when due.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let app = build_app(&self.state);
        let background = Background::start(&self.state);
        let limits = ConnectionLimits {
            max_connections: self.state.config.max_connections,
            header_timeout: self.state.config.header_timeout,
            drain_timeout: DRAIN_TIMEOUT,
        };
        let served = server::serve(self.listener, app, limits, shutdown).await;
        background.stop();
        // The requests have drained: write the audit rows they queued before the process ends.
        self.state.accounts.flush_audit().await;
        served
    }
}
