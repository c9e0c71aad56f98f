//! The direct lane: `POST` to one connection (`/api/v1/hubs/{hub}/connections/{connectionId}`,
//! `/api/hubs/{hub}/connections/{connectionId}[/:send]`), the call an app server makes most,
//! served without axum's router and its per-route middleware, which together cost as much as
//! the call's own work (issue 14; the README's REST row).
//!
//! Nothing here decides anything the routed path decides differently: the lane runs the same
//! token and name checks ([`HubRequest::for_connection`]), the same body reading ([`Payload`]),
//! the same operation ([`send_to_connection`]), the same limits, counts and live trace
//! ([`observed`]), and `crate::app` wraps it in the same CORS and request-span layers. A path
//! that needs percent-decoding, or has any other shape, is left to the router.

use std::convert::Infallible;

use axum::extract::{FromRequest, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use tower::{Service, service_fn};

use super::extract::HubRequest;
use super::fallback::not_found;
use super::metrics::Counted;
use super::observe::{RestObservers, observed};
use super::operations::send_to_connection;
use super::payload::Payload;
use super::rest_trace::Traced;

/// A request for the direct lane: its route template and the names in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRoute {
    /// The route template the router has for the same path (counts and spans use it).
    pub template: &'static str,
    hub: String,
    connection_id: String,
}

impl DirectRoute {
    /// The direct route `method` and `path` take, if any: a `POST` whose path is one of the
    /// send-to-connection templates with plain names (no `%`, no empty segment).
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        if method != Method::POST {
            return None;
        }
        let (rest, template) = if let Some(rest) = path.strip_prefix("/api/v1/hubs/") {
            (rest, "/api/v1/hubs/{hub}/connections/{connectionId}")
        } else {
            (path.strip_prefix("/api/hubs/")?, LATEST)
        };
        let (hub, rest) = rest.split_once("/connections/")?;
        let (connection_id, template) = match rest.strip_suffix("/:send") {
            Some(id) if template == LATEST => (id, LATEST_SEND),
            _ => (rest, template),
        };
        let plain = |name: &str| !name.is_empty() && !name.contains(['/', '%']);
        (plain(hub) && plain(connection_id)).then(|| DirectRoute {
            template,
            hub: hub.to_owned(),
            connection_id: connection_id.to_owned(),
        })
    }
}

const LATEST: &str = "/api/hubs/{hub}/connections/{connectionId}";
const LATEST_SEND: &str = "/api/hubs/{hub}/connections/{connectionId}/:send";

/// The lane's innermost service: answers a request that carries its [`DirectRoute`] (which
/// `crate::app` puts in its extensions) as the routed send-to-connection would.
pub fn direct_send(
    observers: RestObservers,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone {
    service_fn(move |request| {
        let observers = observers.clone();
        async move { Ok(send(observers, request).await) }
    })
}

async fn send(observers: RestObservers, mut request: Request) -> Response {
    let Some(route) = request.extensions_mut().remove::<DirectRoute>() else {
        // Only `crate::app` calls the lane, always with the route; answer as the router would.
        let (parts, _) = request.into_parts();
        return not_found(parts.method, parts.uri).await.into_response();
    };
    let counted = Counted::new(request.method(), route.template);
    let (parts, body) = request.into_parts();
    let traced = Traced::for_hub(&route.hub, &parts);
    let state = observers.state.clone();
    let request = Request::from_parts(parts, body);
    observed(&observers, counted, traced, request, |request| async move {
        let (parts, body) = request.into_parts();
        let hub_request =
            match HubRequest::for_connection(&parts, state.clone(), route.hub, route.connection_id)
            {
                Ok(hub_request) => hub_request,
                Err(err) => return err.into_response(),
            };
        match Payload::from_request(Request::from_parts(parts, body), &state).await {
            Ok(payload) => send_to_connection(hub_request, payload)
                .await
                .into_response(),
            Err(err) => err.into_response(),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(method: Method, path: &str) -> Option<&'static str> {
        DirectRoute::of(&method, path).map(|route| route.template)
    }

    #[test]
    fn the_send_to_connection_paths_take_the_lane_with_their_router_templates() {
        let v1 = DirectRoute::of(&Method::POST, "/api/v1/hubs/chat/connections/c1").unwrap();
        assert_eq!(
            (v1.template, v1.hub.as_str(), v1.connection_id.as_str()),
            (
                "/api/v1/hubs/{hub}/connections/{connectionId}",
                "chat",
                "c1"
            )
        );
        assert_eq!(
            template(Method::POST, "/api/hubs/chat/connections/c1"),
            Some(LATEST)
        );
        let send = DirectRoute::of(&Method::POST, "/api/hubs/chat/connections/c1/:send").unwrap();
        assert_eq!(
            (send.template, send.connection_id.as_str()),
            (LATEST_SEND, "c1")
        );
    }

    #[test]
    fn every_other_request_is_left_to_the_router() {
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            let path = "/api/v1/hubs/chat/connections/c1";
            assert_eq!(template(method.clone(), path), None, "{method}");
        }
        for path in [
            "/api/v1/hubs/chat/connections/c%31",
            "/api/v1/hubs//connections/c1",
            "/api/v1/hubs/chat/connections/",
            "/api/v1/hubs/chat/connections/c1/",
            "/api/v1/hubs/chat/connections/c1/:send",
            "/api/hubs/chat/connections/c1/:invoke",
            "/api/hubs/chat/connections/c1/groups",
            "/api/hubs/chat/connections//:send",
            "/api/hubs/chat/groups/g/connections/c1",
            "/api/v1-preview/hub/chat/connection/c1",
            "/client/negotiate",
        ] {
            assert_eq!(template(Method::POST, path), None, "{path}");
        }
    }
}
