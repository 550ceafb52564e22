//! Route group `media_ws` (filled by its issue).

use axum::Router;

use crate::state::AppState;

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new())
}
