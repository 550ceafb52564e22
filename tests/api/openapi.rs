//! The OpenAPI document: it parses, lists every `/api` route the issue
//! fixes, and every operation it lists is really served.

use serde_json::Value;

use crate::crm_support::Api;
use crate::helpers::TestApp;

/// The routes the UI and operator tools rely on (issue #6).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/crm/business"),
    ("patch", "/api/crm/business"),
    ("get", "/api/crm/customers"),
    ("get", "/api/crm/customers/{id}"),
    ("patch", "/api/crm/customers/{id}"),
    ("get", "/api/crm/customers/{id}/calls"),
    ("get", "/api/crm/calls"),
    ("get", "/api/crm/calls/{id}"),
    ("post", "/api/crm/payments/create"),
    ("post", "/api/crm/payments/create-intent"),
    ("get", "/api/admin/businesses"),
    ("post", "/api/admin/businesses"),
    ("get", "/api/admin/businesses/{id}"),
    ("patch", "/api/admin/businesses/{id}"),
];

#[tokio::test]
async fn the_openapi_document_parses_and_lists_every_api_route() {
    let app = TestApp::spawn().await;
    let (status, spec) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let (_, spec) = app.get_json("/api/openapi.json").await;
    let anon = Api::new(&app, None);
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "1");
            let got = anon
                .send(
                    &method.to_uppercase(),
                    &concrete,
                    Some(&Value::Object(Default::default())),
                )
                .await;
            // 404/405 would mean the document lists something not routed.
            assert!(
                ![404, 405].contains(&got.status),
                "{method} {path}: {} {}",
                got.status,
                got.text
            );
            assert!(
                got.json["error"]["code"].is_string(),
                "{method} {path}: {}",
                got.text
            );
        }
    }
}

#[tokio::test]
async fn a_human_readable_page_lists_the_operations_offline() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/docs").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("POST /api/crm/payments/create"));
    assert!(!html.contains("<script"), "no script from a CDN");
}
