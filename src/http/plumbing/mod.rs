//! What wraps every request rather than answering one: serving connections (`server`), the
//! request's id, span, deadline, metrics and access line (`observe`), CORS, the headers every
//! answer carries (`hygiene`), the client's address behind trusted proxies (`client_ip`), and
//! Swagger UI under its own CSP (`docs`).

mod allowed;
mod client_ip;
mod cors;
mod docs;
mod hygiene;
mod observe;
pub mod server;

pub use allowed::AllowedMethods;
pub use client_ip::{client_ip, user_agent};
pub use cors::{Cors, CorsPolicy};
pub use docs::swagger_ui;
pub use observe::{Observer, REQUEST_ID};
