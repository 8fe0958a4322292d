//! authd's integration tests: one binary (each extra one costs a full link), a module per
//! capability. Every test drives the real HTTP surface against real Postgres and Redis (or the
//! in-memory stores of `authd dev`), in a database and Redis prefix of its own.

mod algorithms;
mod auth;
mod auth_logs;
mod browser;
mod cleanup;
mod cli;
mod client_registration;
mod clients;
mod cluster;
mod code_flow;
mod dev_contract;
mod dpop;
mod expired_tokens;
mod health;
mod helpers;
mod hygiene;
mod invalidation;
mod jwks;
mod logs;
mod mail;
mod metrics;
mod oauth;
mod oidc;
mod openapi;
mod outages;
mod par;
mod passkeys;
mod pop;
mod process;
mod properties;
mod rate_limit;
mod register;
mod relying_parties;
mod rotation;
mod second_factor;
mod security_credentials;
mod security_tokens;
mod signing_keys;
mod soft_authenticator;
mod store_servers;
mod token_exchange;
mod tokens;
mod traces;
mod ui;
