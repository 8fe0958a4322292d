//! The connection layer: accepts TCP connections and serves HTTP/1.1 and HTTP/2 on them with
//! limits that keep slow or greedy clients from exhausting a replica.
//!
//! poem's `Server` exposes neither a header timeout nor a connection cap, so authd runs hyper
//! itself and hands each request to the poem endpoint (the same conversion poem's server does).
//! - At most `max_connections` are served at once; beyond that, new connections wait in the
//!   kernel's accept queue until one closes, rather than costing memory and a task each.
//! - A client has `header_timeout` to send a request's headers (slowloris), and an idle
//!   keep-alive connection is closed after the same time: hyper's timer runs from the moment it
//!   starts waiting for a request head. The body has the request deadline (`observe`).
//! - Request line and headers together may be at most [`MAX_HEADER_BYTES`]; more is answered
//!   431 by hyper, before authd reads anything. Tokens are far smaller (`MAX_TOKEN_LEN`).

use std::{convert::Infallible, future::Future, io, sync::Arc, time::Duration};

use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use poem::{Addr, Endpoint, Request, http::uri::Scheme, web::LocalAddr, web::RemoteAddr};
use tokio::{net::TcpListener, sync::Semaphore};

/// Request line plus headers, in bytes (HTTP/1 read buffer, HTTP/2 header list). Generous for
/// any request authd serves: a DPoP proof and an 8 KiB token fit several times over.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// How many connections a replica serves at once, and how long clients may dawdle.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown` resolves; then stops accepting and gives
/// open connections `drain_timeout` to finish their requests.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    E: Endpoint + 'static,
{
    let local_addr = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);

    tracing::info!(
        address = %local_addr,
        max_connections = limits.max_connections,
        header_timeout = ?limits.header_timeout,
        "accepting connections"
    );
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break }; // the semaphore is never closed
        let (stream, remote_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause rather than spin, and keep serving the connections already open.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers go out at once rather than waiting for Nagle's timer.
        let _ = stream.set_nodelay(true);
        // Each request becomes a poem request carrying the connection's addresses, as in
        // poem's own server, and goes through the whole application.
        let service = service_fn({
            let endpoint = endpoint.clone();
            move |request: hyper::Request<Incoming>| {
                let endpoint = endpoint.clone();
                async move {
                    let request = Request::from((
                        request,
                        LocalAddr(Addr::SocketAddr(local_addr)),
                        RemoteAddr(Addr::SocketAddr(remote_addr)),
                        Scheme::HTTP,
                    ));
                    Ok::<hyper::Response<_>, Infallible>(
                        endpoint.get_response(request).await.into(),
                    )
                }
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                // Clients hanging up or timing out: routine, not an error of authd's.
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?limits.drain_timeout, "connections still open after the drain timeout");
    }
    Ok(())
}
