use agentlocator::app::{RouteGroup, create_app_with, route_groups};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::helpers::TestApp;

fn broken(
    _: &agentlocator::state::AppState,
) -> anyhow::Result<axum::Router<agentlocator::state::AppState>> {
    anyhow::bail!("no signing key for the broken group")
}

#[tokio::test]
async fn a_route_group_that_cannot_be_built_is_logged_and_the_others_still_serve() {
    let app = TestApp::spawn().await;
    let mut groups = route_groups();
    groups.push(RouteGroup {
        name: "broken_group_under_test",
        build: broken,
    });
    let router = create_app_with(app.state.clone(), groups);
    let res = router
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lines = app.logs.lines();
    assert!(lines.iter().any(|l| l["msg"]
        == "❌ broken_group_under_test failed: no signing key for the broken group"
        && l["level"] == "ERROR"));
    assert!(lines.iter().any(|l| l["msg"] == "✅ health registered"));
}
