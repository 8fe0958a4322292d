//! The tower layer: put it in front of a router (axum's `Router::layer`, or any tower stack;
//! poem through its tower compatibility) and every request needs an authd access token. The
//! handler finds the token's [`AccessClaims`] among the request's extensions.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{AccessClaims, ResourceServer};

/// Requires an authd access token on every request of the service it wraps.
#[derive(Clone)]
pub struct RequireAuthdToken {
    server: Arc<ResourceServer>,
}

impl RequireAuthdToken {
    pub fn new(server: Arc<ResourceServer>) -> Self {
        Self { server }
    }
}

impl<S> Layer<S> for RequireAuthdToken {
    type Service = AuthdTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthdTokenService {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The service [`RequireAuthdToken`] makes.
#[derive(Clone)]
pub struct AuthdTokenService<S> {
    inner: S,
    server: Arc<ResourceServer>,
}

impl<S, B, R> Service<Request<B>> for AuthdTokenService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was made ready serves this request; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let server = self.server.clone();
        Box::pin(async move {
            let decided = server
                .authorize(request.method(), request.uri(), request.headers())
                .await;
            match decided {
                Ok(claims) => {
                    request.extensions_mut().insert::<AccessClaims>(claims);
                    inner.call(request).await
                }
                Err(rejection) => {
                    tracing::debug!(%rejection, "request refused");
                    Ok(rejection.into_response())
                }
            }
        })
    }
}
