//! Liveness, readiness and version (always 200, never a 500), and whether
//! this instance takes new calls (`/serving`, 503 while draining).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/serving", get(serving))
        .route("/version", get(version)))
}

async fn healthz() -> &'static str {
    "ok"
}

/// Reports each dependency; a dead database reads `fail` within the probe
/// timeout instead of hanging the probe or answering 500.
async fn readyz(State(state): State<AppState>) -> Json<Value> {
    let db_ok = state.db.ping(Duration::from_millis(800)).await;
    let on_off = |on: bool, yes: &'static str, no: &'static str| if on { yes } else { no };
    Json(json!({
        "db": on_off(db_ok, "ok", "fail"),
        "openai": on_off(state.providers.llm.is_enabled(), "ok", "disabled"),
        "tts": on_off(state.providers.tts.is_enabled(), "ok", "disabled"),
        "payments": {
            "paypal": on_off(state.providers.paypal.is_some(), "enabled", "disabled"),
            "tranzila": on_off(state.providers.tranzila.is_some(), "enabled", "disabled"),
        }
    }))
}

/// For load balancers: 200 while this instance takes new calls, 503 once it
/// is draining (it still answers the webhooks and streams of its calls).
async fn serving(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let draining = state.draining.is_cancelled();
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({"draining": draining, "live_calls": state.live_calls.len()})),
    )
}

async fn version(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "app": "AgentLocator",
        "commit": state.config.git_commit,
        "build_time": state.config.build_time,
    }))
}
