//! authd: a token authority. It registers users, issues JWTs, publishes the keys that verify
//! them, and runs as identical stateless replicas over Postgres (durable) and Redis (shared,
//! short-lived). See README.md for running it and docs/ for the design.
//!
//! Layers: `http` (the edge) calls the domain (`accounts`, `tokens`, `keys`, `rate_limit`),
//! which reaches storage only through the traits in `store`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accounts;
pub mod admin;
pub mod authorization;
pub mod clients;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod events;
pub mod exchange;
pub mod federation;
pub mod grant_type;
pub mod http;
pub mod invalidation;
pub mod keys;
pub mod labels;
pub mod ldap;
pub mod logout;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod operations;
pub mod outbox;
pub mod possession;
pub mod rate_limit;
pub mod scope;
pub mod sessions;
pub mod ssf;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod tokens;

pub use startup::{Application, build_app};
pub use state::AppState;
