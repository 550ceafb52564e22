//! Route group `payments`: `POST /api/crm/payments/create` records a payment
//! request for the caller's business through PayPal or Tranzila, and the
//! historic Stripe routes answer 410 Gone (MISSION §7: no Stripe in IL).
//!
//! The order of checks is the contract: input first (400, or 404 for a
//! customer that is not the tenant's), then the business's flag (403), then
//! the provider's keys (501), and only then a `stub_ready` row (200). No
//! provider API is called in this stage; the clients in `providers` are
//! ready for when charging is turned on. Nothing here answers 500: a
//! database failure is a 503.

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::any;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::payments::{self, NewPayment};
use crate::db::{business, crm};
use crate::domain::tenant::Tenant;
use crate::http::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{API_BODY_LIMIT, ApiJson};
use crate::state::AppState;

/// Above this, a request is a typo or an attack, not a small business's
/// invoice: ₪100,000.
pub const MAX_AMOUNT_AGOROT: i64 = 10_000_000;
/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

const STRIPE_GONE: &str = "Stripe is not supported in IL. Use PayPal or Tranzila.";

/// The group's documented routes (see `crate::http::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(create_intent))
}

pub fn router(_state: &AppState) -> anyhow::Result<Router<AppState>> {
    let (routes, _) = api().split_for_parts();
    Ok(routes
        // Stripe once posted here; any method still gets the explanation.
        .route("/webhook/stripe", any(stripe_gone))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// Whole agorot (₪1 = 100), 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub amount_agorot: i64,
    /// Only `ILS`.
    #[schema(pattern = r"^\s*ILS\s*$")]
    pub currency: String,
    /// `paypal` or `tranzila` (any case).
    #[schema(pattern = r"^\s*([Pp][Aa][Yy][Pp][Aa][Ll]|[Tt][Rr][Aa][Nn][Zz][Ii][Ll][Aa])\s*$")]
    pub provider: String,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// A customer of the caller's business.
    pub customer_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCreated {
    pub provider: String,
    /// `stub_ready`: recorded, nothing charged yet.
    pub status: String,
    pub payment_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    PayPal,
    Tranzila,
}

impl Provider {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "paypal" => Ok(Provider::PayPal),
            "tranzila" => Ok(Provider::Tranzila),
            "stripe" => Err(ApiError::BadRequest(STRIPE_GONE.into())),
            _ => Err(ApiError::BadRequest(
                "provider must be paypal or tranzila".into(),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Provider::PayPal => "paypal",
            Provider::Tranzila => "tranzila",
        }
    }
}

/// A validated request.
struct Valid {
    provider: Provider,
    amount_agorot: i64,
    description: Option<String>,
}

fn validate(req: &CreatePayment) -> Result<Valid, ApiError> {
    let provider = Provider::parse(&req.provider)?;
    if req.currency.trim() != "ILS" {
        return Err(ApiError::BadRequest("currency must be ILS".into()));
    }
    if req.amount_agorot <= 0 {
        return Err(ApiError::BadRequest(
            "amount_agorot must be a positive whole number of agorot".into(),
        ));
    }
    if req.amount_agorot > MAX_AMOUNT_AGOROT {
        return Err(ApiError::BadRequest(format!(
            "amount_agorot must be at most {MAX_AMOUNT_AGOROT} (₪100,000)"
        )));
    }
    let description = req
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(ApiError::BadRequest(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(Valid {
        provider,
        amount_agorot: req.amount_agorot,
        description,
    })
}

/// Records a payment request for the caller's business (owners and admins).
#[utoipa::path(post, path = "/api/crm/payments/create", tag = "payments",
    security(("bearer" = [])), params(super::crm::views::ActAs),
    request_body = CreatePayment,
    responses(
        (status = 200, description = "Recorded as stub_ready; nothing was charged", body = PaymentCreated),
        (status = 400, description = "Bad amount, currency, provider or body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The provider is turned off for this business, or the caller is an agent", body = ErrorBody),
        (status = 404, description = "customer_id is not a customer of this business", body = ErrorBody),
        (status = 501, description = "The provider's keys are not configured", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn create_payment(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(req): ApiJson<CreatePayment>,
) -> Result<Json<PaymentCreated>, ApiError> {
    tenant.require_write()?;
    let valid = validate(&req)?;
    if let Some(customer_id) = req.customer_id {
        crm::get_customer(&state.db, &tenant, customer_id)
            .await?
            .ok_or(ApiError::NotFound)?;
    }
    let b = business::get(&state.db, tenant.business_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    let (enabled, configured, not_configured) = match valid.provider {
        Provider::PayPal => (
            b.enable_payments_paypal,
            state.providers.paypal.is_some(),
            "PayPal is not configured: set PAYPAL_CLIENT_ID and PAYPAL_SECRET",
        ),
        Provider::Tranzila => (
            b.enable_payments_tranzila,
            state.providers.tranzila.is_some(),
            "Tranzila is not configured: set TRANZILA_TERMINAL, TRANZILA_APP_KEY and TRANZILA_SECRET",
        ),
    };
    let provider = valid.provider.as_str();
    if !enabled {
        return Err(ApiError::Forbidden(format!(
            "{provider} payments are turned off for this business (enable_payments_{provider})"
        )));
    }
    if !configured {
        return Err(ApiError::NotImplemented(not_configured.into()));
    }
    let payment = payments::insert(
        &state.db,
        &tenant,
        &NewPayment {
            customer_id: req.customer_id,
            provider,
            amount_agorot: valid.amount_agorot,
            currency: "ILS",
            description: valid.description.as_deref(),
            status: "stub_ready",
        },
    )
    .await?;
    tracing::info!(
        business_id = tenant.business_id(),
        payment_id = payment.id,
        provider,
        amount_agorot = payment.amount_agorot,
        "payment request recorded (stub, nothing charged)"
    );
    Ok(Json(PaymentCreated {
        provider: provider.to_string(),
        status: payment.status,
        payment_id: payment.id,
    }))
}

/// Stripe's payment intents: gone for good (use `POST /api/crm/payments/create`).
#[utoipa::path(post, path = "/api/crm/payments/create-intent", tag = "payments",
    responses((status = 410, description = "Stripe is not supported in IL", body = ErrorBody)))]
pub async fn create_intent() -> ApiError {
    stripe_gone().await
}

async fn stripe_gone() -> ApiError {
    ApiError::Gone(STRIPE_GONE.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(amount: i64, currency: &str, provider: &str) -> CreatePayment {
        CreatePayment {
            amount_agorot: amount,
            currency: currency.into(),
            provider: provider.into(),
            description: None,
            customer_id: None,
        }
    }

    #[test]
    fn only_positive_reasonable_shekel_amounts_through_known_providers_pass() {
        assert!(validate(&req(100, "ILS", "paypal")).is_ok());
        assert!(validate(&req(MAX_AMOUNT_AGOROT, "ILS", "Tranzila")).is_ok());
        for bad in [
            req(0, "ILS", "paypal"),
            req(-5, "ILS", "paypal"),
            req(MAX_AMOUNT_AGOROT + 1, "ILS", "paypal"),
            req(100, "USD", "paypal"),
            req(100, "ILS", "stripe"),
            req(100, "ILS", "bitcoin"),
        ] {
            assert!(matches!(validate(&bad), Err(ApiError::BadRequest(_))));
        }
    }
}
