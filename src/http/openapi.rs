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
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;

use crate::http::error::{ErrorBody, ErrorDetail};
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

/// The document, built once.
pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| documented().into_openapi())
}

/// Route group `openapi`: `GET /api/openapi.json` and `GET /api/docs`.
pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    Ok(Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page)))
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(spec())
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
