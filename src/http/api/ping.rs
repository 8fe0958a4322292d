//! `GET /ping`: the seed servers' liveness check.

use poem_openapi::{Object, OpenApi, payload::Json};

use crate::http::api::ApiTags;

pub struct PingApi;

#[derive(Object)]
struct Pong {
    message: String,
}

#[OpenApi(tag = "ApiTags::Operations")]
impl PingApi {
    /// Ping
    ///
    /// Answers as long as the process runs (kept for clients of the seed servers).
    #[oai(path = "/ping", method = "get")]
    async fn ping(&self) -> Json<Pong> {
        Json(Pong {
            message: "authd is alive".to_owned(),
        })
    }
}
