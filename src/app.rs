//! The app factory: merges the route groups and applies the middleware.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::http;
use crate::state::AppState;

/// A named route group and how to build it from the state.
pub struct RouteGroup {
    pub name: &'static str,
    pub build: fn(&AppState) -> anyhow::Result<Router<AppState>>,
}

/// Every route group the service serves, in registration order.
pub fn route_groups() -> Vec<RouteGroup> {
    vec![
        RouteGroup {
            name: "health",
            build: http::health::router,
        },
        RouteGroup {
            name: "webhooks",
            build: http::webhooks::router,
        },
        RouteGroup {
            name: "media",
            build: http::media_ws::router,
        },
        RouteGroup {
            name: "auth",
            build: http::auth::router,
        },
        RouteGroup {
            name: "crm",
            build: http::crm::router,
        },
        RouteGroup {
            name: "payments",
            build: http::payments::router,
        },
        RouteGroup {
            name: "admin",
            build: http::admin::router,
        },
        RouteGroup {
            name: "openapi",
            build: http::openapi::router,
        },
        RouteGroup {
            name: "metrics",
            build: http::metrics::router,
        },
    ]
}

/// Builds the application from its state with every route group.
pub fn create_app(state: AppState) -> Router {
    create_app_with(state, route_groups())
}

/// Builds the application from the given groups. A group that fails to build
/// is logged and left out; the others still serve.
pub fn create_app_with(state: AppState, groups: Vec<RouteGroup>) -> Router {
    let mut app = Router::new();
    for group in groups {
        match (group.build)(&state) {
            Ok(router) => {
                app = app.merge(router);
                tracing::info!(group = group.name, "✅ {} registered", group.name);
            }
            Err(e) => {
                tracing::error!(group = group.name, "❌ {} failed: {e:#}", group.name);
            }
        }
    }
    let request_id = HeaderName::from_static("x-request-id");
    app.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        http::metrics::track_http,
    ))
    .with_state(state)
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<Body>| {
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %request_id,
                    call_sid = tracing::field::Empty,
                    business_id = tracing::field::Empty,
                )
            })
            .on_request(())
            .on_response(|res: &Response<Body>, latency: Duration, _span: &Span| {
                tracing::debug!(
                    status = res.status().as_u16(),
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    "request finished"
                );
            })
            .on_failure(()),
    )
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
