//! The OpenAPI document of `/api`, generated from the handlers' annotations
//! and the very routers that serve them (each group's `api()`), so the
//! document cannot list a route that is not served or miss one that is.
//! Served at `GET /api/openapi.json`, with a small self-contained HTML page
//! at `GET /api/docs` (no JavaScript from a CDN: it must work offline).

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::path::{Operation, Parameter};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;

use crate::domain::tenant::Role;
use crate::http::error::{ErrorBody, ErrorDetail};
use crate::http::extract::AuthUser;
use crate::state::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An opaque token from POST /api/auth/login, valid for 12 hours",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "AgentLocator API",
        description = "The CRM, admin and payments API behind the AgentLocator UI. \
            Errors always have the shape {\"error\": {\"code\", \"message\"}}."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "auth", description = "Login, logout and the current user"),
        (name = "crm", description = "The caller's own business, customers and calls"),
        (name = "payments", description = "Payment requests (PayPal, Tranzila; no Stripe)"),
        (name = "admin", description = "Platform operators: every business"),
    )
)]
struct ApiDoc;

/// Every documented route group, merged.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::http::auth::api())
        .merge(crate::http::crm::api())
        .merge(crate::http::payments::api())
        .merge(crate::http::admin::api())
}

/// The whole document, built once: what an anonymous reader gets.
pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = documented().into_openapi();
        add_common_responses(&mut spec);
        spec
    })
}

/// The document as one role may use it: owners and agents are not offered
/// the admin routes or the `business_id` they cannot pass; for admins,
/// `business_id` is required on `/api/crm`.
pub fn spec_for(role: Option<Role>) -> &'static OpenApi {
    static OWNER: OnceLock<OpenApi> = OnceLock::new();
    static ADMIN: OnceLock<OpenApi> = OnceLock::new();
    match role {
        None => spec(),
        Some(Role::Admin) => ADMIN.get_or_init(|| {
            let mut spec = spec().clone();
            for op in operations(&mut spec) {
                for p in op.parameters.iter_mut().flatten() {
                    if let RefOr::T(p) = p
                        && p.name == ACT_AS
                    {
                        p.required = Required::True;
                    }
                }
            }
            spec
        }),
        Some(Role::Owner | Role::Agent) => OWNER.get_or_init(|| {
            let mut spec = spec().clone();
            spec.paths
                .paths
                .retain(|path, _| !path.starts_with("/api/admin"));
            for op in operations(&mut spec) {
                if let Some(params) = &mut op.parameters {
                    params.retain(|p| !is_act_as(p));
                }
            }
            spec
        }),
    }
}

/// The query parameter an admin names a business with on `/api/crm`.
const ACT_AS: &str = "business_id";

fn is_act_as(p: &RefOr<Parameter>) -> bool {
    matches!(p, RefOr::T(p) if p.name == ACT_AS)
}

fn operations(spec: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    spec.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}

/// Statuses every route of a kind can answer, added in one place rather
/// than on each handler: a malformed request (400), a value the domain
/// refuses (422, bodies), no session (401, secured routes), an unknown
/// business an admin named (404), and the database unavailable (503).
fn add_common_responses(spec: &mut OpenApi) {
    for op in operations(spec) {
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let acts_as = op.parameters.iter().flatten().any(is_act_as);
        let common = [
            (true, "400", "The request is malformed"),
            (
                op.request_body.is_some(),
                "422",
                "A value is not acceptable; the message names it",
            ),
            (secured, "401", "No valid session"),
            (acts_as, "404", "No such business, or no such object in it"),
            (secured, "503", "The database is unavailable; retry"),
        ];
        for (applies, status, description) in common {
            if applies && !op.responses.responses.contains_key(status) {
                op.responses.responses.insert(
                    status.to_string(),
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build(),
                    ),
                );
            }
        }
    }
}

/// Route group `openapi`: `GET /api/openapi.json` and `GET /api/docs`.
pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page)))
}

/// With a valid token, the document for that user's role; without one, all of it.
async fn openapi_json(user: Option<AuthUser>) -> impl IntoResponse {
    axum::Json(spec_for(user.map(|u| u.user.role)))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain page listing every operation, rendered from the same document.
async fn docs_page() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(render_docs).clone())
}

fn render_docs() -> String {
    let spec = spec();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>AgentLocator API</title><style>body{font-family:sans-serif;max-width:60em;\
         margin:2em auto}code{background:#eee;padding:0 .3em}h3{margin-bottom:.2em}\
         </style></head><body><h1>AgentLocator API</h1>\
         <p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a>. \
         Send <code>Authorization: Bearer &lt;token&gt;</code> from \
         <code>POST /api/auth/login</code>.</p>",
    );
    for (path, item) in &spec.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let _ = write!(
                html,
                "<h3><code>{method} {}</code></h3><p>{}</p><p>Answers: {}</p>",
                escape(path),
                escape(op.summary.as_deref().unwrap_or_default()),
                op.responses
                    .responses
                    .keys()
                    .map(|k| escape(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    html.push_str("</body></html>");
    html
}
