//! The bearer token of a protected route (RFC 6750 §2.1), declared so Swagger UI can send one.

use poem_openapi::{SecurityScheme, auth::Bearer};

/// `Authorization: Bearer <access token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(pub Bearer);

impl BearerAuth {
    pub fn token(&self) -> &str {
        &self.0.token
    }
}
