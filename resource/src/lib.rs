//! For services that receive authd's access tokens: verify each locally, with no round trip,
//! and refuse the revoked ones within a bound.
//!
//! - **Local verification**: authd's keys from its JWKS, cached and fetched again when a token
//!   names a new key (at most every [`Settings::jwks_refetch`]); each key pinned to its
//!   algorithm (never `none`, never HMAC); `typ` `at+jwt`, `iss`, `aud`, `exp`, `nbf`; a token
//!   bound to a key (DPoP, RFC 9449) only with a fresh proof by that key, for this request, used
//!   once.
//! - **Revocations**: the service is a Shared Signals receiver (OpenID SSF 1.0). It follows its
//!   own stream at authd, by long poll (RFC 8936) or push (RFC 8935), and refuses tokens whose
//!   session ended (CAEP `session-revoked`) or whose account was disabled or deleted (RISC).
//! - **A hard bound**: past [`Receiver::max_lag`] without hearing from authd, it stops trusting
//!   what it knows: it refuses every token (503), or asks authd's introspection per token
//!   ([`WhenStale`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use authd_resource::{AccessClaims, Receiver, RequireAuthdToken, ResourceServer, Settings};
//! use axum::{Extension, Router, routing::get};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut settings = Settings::new(
//!     "https://authd.example",              // the tokens' `iss`
//!     "https://orders.example",             // the `aud` this service accepts
//!     "https://authd.example".parse()?,      // where authd answers
//! );
//! settings.receiver = Some(Receiver::new("orders-service", std::env::var("CLIENT_SECRET")?));
//! let authd = ResourceServer::start(settings)?;
//! let app = Router::new()
//!     .route("/orders", get(|Extension(claims): Extension<AccessClaims>| async move {
//!         format!("orders of {}", claims.sub)
//!     }))
//!     .layer(RequireAuthdToken::new(authd));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod dpop;
mod keys;
mod layer;
mod push;
mod rejection;
mod revoked;
mod server;
mod settings;
mod stream;
mod token;

pub use layer::{AuthdTokenService, RequireAuthdToken};
pub use push::PushEndpoint;
pub use rejection::Rejection;
pub use server::{BuildError, ResourceServer};
pub use settings::{BeforeStart, Delivery, Receiver, Settings, WhenStale};
pub use token::{AccessClaims, Confirmation};
