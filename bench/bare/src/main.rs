//! The framework limit authd's figures are compared with (`bench/compare.sh`): the same poem,
//! Tokio runtime and release profile as authd, answering `GET /json` with a small JSON and doing
//! nothing else. Whatever rate this reaches on a machine, authd's verify and JWKS paths can at
//! best approach it.
//!
//! Usage: `authd-bare [ADDR]` (default `127.0.0.1:0`); prints `listening on http://…`.

use poem::{
    EndpointExt, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Json,
};

#[handler]
fn json() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "message": "authd is alive" }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    if let Some(addr) = acceptor
        .local_addr()
        .first()
        .and_then(|local| local.as_socket_addr().copied())
    {
        println!("listening on http://{addr}");
    }
    Server::new_with_acceptor(acceptor)
        .run(Route::new().at("/json", get(json)).map_to_response())
        .await
}
