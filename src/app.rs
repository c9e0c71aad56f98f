//! The service every HTTP request enters ([`App`]): a `POST` to one connection takes the REST
//! API's direct lane (`api::direct_send`, under the same CORS and request-span layers as the
//! routed API), everything else the router. See `api/direct.rs` for why the lane exists.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use futures_util::future::{BoxFuture, Either};
use tower::Service;
use tower::util::BoxCloneSyncService;

use crate::api::DirectRoute;

/// The router and the direct lane beside it.
#[derive(Clone)]
pub struct App {
    router: Router,
    direct: BoxCloneSyncService<Request, Response, Infallible>,
}

impl App {
    /// Serves with `router`, except the requests [`DirectRoute::of`] picks, which go to
    /// `direct` with their [`DirectRoute`] in their extensions.
    pub fn new(router: Router, direct: BoxCloneSyncService<Request, Response, Infallible>) -> Self {
        App { router, direct }
    }
}

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Result<Response, Infallible>>, RouteFuture<Infallible>>;

    /// Always ready: so are the router and the lane's layers, which is why `call` may call
    /// them without asking.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match DirectRoute::of(request.method(), request.uri().path()) {
            Some(route) => {
                request.extensions_mut().insert(route);
                Either::Left(self.direct.call(request))
            }
            None => Either::Right(self.router.call(request)),
        }
    }
}
