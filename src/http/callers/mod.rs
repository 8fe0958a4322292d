//! Who calls: the access token of a protected route and the proof its binding demands
//! (`access`), a client's credentials at the token, PAR and revocation endpoints
//! (`client_auth`), and a person's password as a request presents it (`password`).

pub mod access;
pub mod client_auth;
pub mod password;
