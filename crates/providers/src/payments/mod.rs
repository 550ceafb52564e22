//! Payment-provider clients for the CRM API: PayPal Orders v2 and Tranzila.
//! Nothing charges a card in this stage; these exist so enabling payments is
//! configuration. Money is integer agorot everywhere and becomes a decimal
//! string only on the wire.

mod paypal;
mod tranzila;

pub use paypal::{Order, PayPalClient};
pub use tranzila::{PaymentRequest, PaymentRequestCreated, TranzilaClient};

use crate::error::ProviderError;

/// Formats integer minor units as the two-decimal string payment APIs want
/// (`10000` → `"100.00"`, `5` → `"0.05"`). ILS, USD and EUR all have two.
pub fn agorot_to_decimal(agorot: i64) -> String {
    let sign = if agorot < 0 { "-" } else { "" };
    let abs = agorot.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Rejects amounts and currencies no provider should ever see, before any
/// request is made.
pub(crate) fn check_amount(amount_agorot: i64, currency: &str) -> Result<(), ProviderError> {
    if amount_agorot <= 0 {
        return Err(ProviderError::Refused("amount must be positive".into()));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ProviderError::Refused(
            "currency must be a 3-letter ISO code".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agorot_become_two_decimal_strings() {
        assert_eq!(agorot_to_decimal(10000), "100.00");
        assert_eq!(agorot_to_decimal(5), "0.05");
        assert_eq!(agorot_to_decimal(1999), "19.99");
        assert_eq!(agorot_to_decimal(0), "0.00");
        assert_eq!(agorot_to_decimal(-150), "-1.50");
        assert_eq!(agorot_to_decimal(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn zero_negative_amounts_and_odd_currencies_are_refused() {
        assert!(check_amount(0, "ILS").is_err());
        assert!(check_amount(-1, "ILS").is_err());
        assert!(check_amount(100, "ils").is_err());
        assert!(check_amount(100, "SHEKEL").is_err());
        assert!(check_amount(100, "ILS").is_ok());
    }
}
