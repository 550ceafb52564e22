//! `GET /metrics` in Prometheus text format, and the middleware that counts every request.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::db::jobs;
use crate::metrics::{RouteLabel, RouteStatusLabel};
use crate::state::AppState;

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new().route("/metrics", get(scrape)))
}

async fn scrape(State(state): State<AppState>) -> Response {
    // Read before the scrape's own query below: its connection goes back
    // to the pool a moment after the query, and would show as in use.
    let pool = &state.db.pool;
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    state
        .metrics
        .set_db_pool(pool.size(), idle, pool.options().get_max_connections());
    // Queue depth comes from the table itself, so it is right across
    // restarts and across instances sharing the database. A slow database
    // must not stall the scrape: the gauges then keep their last values.
    let counts = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        jobs::count_by_status(&state.db),
    )
    .await;
    if let Ok(Ok(counts)) = counts {
        for (status, n) in counts {
            state.metrics.set_jobs(status, n);
        }
    }
    let budget = &state.providers.hedge_budget;
    for (stage, sent) in budget.sent() {
        state.metrics.provider_asked_again(stage, sent);
    }
    for (stage, refused) in budget.refused() {
        state.metrics.provider_not_asked_again(stage, refused);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Middleware: request count by route template and status, and latency.
pub async fn track_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    state
        .metrics
        .http_requests_total
        .get_or_create(&RouteStatusLabel {
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .http_latency_ms
        .get_or_create(&RouteLabel { route })
        .observe(ms);
    response
}
