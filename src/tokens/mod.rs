//! Access tokens: their claims (RFC 9068) and how authd signs them.

mod claims;
mod issuer;

pub use claims::AccessClaims;
pub use issuer::{IssuedToken, TokenIssuer};

/// `typ` header of every access token (RFC 9068 §2.1), so one cannot pass for another kind of JWT.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
