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
    ("post", "/api/auth/password"),
    ("get", "/api/auth/sessions"),
    ("delete", "/api/auth/sessions/{id}"),
    ("get", "/api/crm/business"),
    ("patch", "/api/crm/business"),
    ("get", "/api/crm/customers"),
    ("get", "/api/crm/customers/{id}"),
    ("patch", "/api/crm/customers/{id}"),
    ("get", "/api/crm/customers/{id}/calls"),
    ("get", "/api/crm/calls"),
    ("get", "/api/crm/calls/{id}"),
    ("get", "/api/crm/followups"),
    ("post", "/api/crm/calls/{id}/followup"),
    ("post", "/api/crm/payments/create"),
    ("post", "/api/crm/payments/create-intent"),
    ("get", "/api/admin/businesses"),
    ("post", "/api/admin/businesses"),
    ("get", "/api/admin/businesses/{id}"),
    ("patch", "/api/admin/businesses/{id}"),
    ("get", "/api/admin/users"),
    ("patch", "/api/admin/users/{id}"),
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

#[tokio::test]
async fn each_role_is_offered_only_what_it_can_use() {
    let f = crate::crm_support::Fixture::spawn().await;
    let params = |spec: &Value, path: &str, method: &str| -> Vec<Value> {
        spec["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let owner = f.api(&f.a.owner).get("/api/openapi.json").await.json;
    assert!(owner["paths"]["/api/admin/businesses"].is_null());
    assert!(
        params(&owner, "/api/crm/customers", "get")
            .iter()
            .all(|p| p["name"] != "business_id"),
        "an owner cannot pass business_id"
    );
    let admin = f.api(&f.admin).get("/api/openapi.json").await.json;
    assert!(admin["paths"]["/api/admin/businesses"].is_object());
    let act_as = params(&admin, "/api/crm/customers", "get")
        .into_iter()
        .find(|p| p["name"] == "business_id")
        .expect("admins name the business");
    assert_eq!(act_as["required"], true);
    let anonymous = f.app.get_json("/api/openapi.json").await.1;
    assert!(anonymous["paths"]["/api/admin/businesses"].is_object());
}

#[tokio::test]
async fn the_document_states_the_constraints_the_code_enforces() {
    let app = TestApp::spawn().await;
    let (_, spec) = app.get_json("/api/openapi.json").await;
    let schemas = &spec["components"]["schemas"];
    let owner_change = &schemas["OwnerChange"]["properties"];
    let end_of_turn = &schemas["Integer200To3000"];
    assert_eq!(end_of_turn["minimum"], 200, "{owner_change}");
    assert_eq!(end_of_turn["maximum"], 3000);
    assert_eq!(
        schemas["PhoneNumber"]["pattern"],
        agentlocator::domain::PhoneNumber::E164_PATTERN
    );
    assert!(owner_change["active"].is_null(), "active is admin-only");
    assert!(schemas["AdminChange"]["properties"]["active"].is_object());
    let limit = spec["paths"]["/api/crm/calls"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["maximum"], 200);
    let responses = &spec["paths"]["/api/crm/customers/{id}"]["patch"]["responses"];
    for status in ["400", "401", "404", "422", "503"] {
        assert!(responses[status].is_object(), "{status} documented");
    }
}
