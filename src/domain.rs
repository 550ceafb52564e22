//! Domain newtypes that parse input once at the edge: phone numbers (E.164)
//! and money in agorot. Constructors return `Result`; the rest of the code
//! can trust the value.

pub mod settings;
pub mod tenant;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

/// A phone number in E.164 form (`+` and 8–15 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a phone number in E.164 form (for example +97235550001)")]
pub struct InvalidPhone(pub String);

impl PhoneNumber {
    /// Accepts E.164 with spaces, dashes, dots or parentheses, `00` as an
    /// international prefix, and Israeli national numbers (`03-555-0001`,
    /// `050-123-4567`), which become `+972…`.
    pub fn parse(input: &str) -> Result<Self, InvalidPhone> {
        let bad = || InvalidPhone(input.to_string());
        let trimmed = input.trim();
        let mut digits = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(bad()),
            }
        }
        let international = if trimmed.starts_with('+') {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(rest) = digits.strip_prefix('0') {
            // An Israeli national number: drop the trunk 0, add the country code.
            format!("972{rest}")
        } else {
            return Err(bad());
        };
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(bad());
        }
        Ok(Self(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhone;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// A string that is not a phone number is an invalid *value* (422 at the
/// API), not a malformed body.
impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&raw),
                &"a phone number in E.164 form (for example +97235550001)",
            )
        })
    }
}

impl PhoneNumber {
    /// What the API documents: E.164 as it is stored and served. Input is
    /// also accepted with punctuation or as an Israeli national number.
    pub const E164_PATTERN: &str = r"^\+[1-9][0-9]{7,14}$";
}

impl utoipa::PartialSchema for PhoneNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(Self::E164_PATTERN))
            .examples(["+97235550001"])
            .into()
    }
}

impl utoipa::ToSchema for PhoneNumber {}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_kept_and_punctuation_is_removed() {
        for (input, expected) in [
            ("+97235550001", "+97235550001"),
            ("+972 3-555-0001", "+97235550001"),
            ("+1 (415) 867-5309", "+14158675309"),
            ("00972501234567", "+972501234567"),
            ("03-555-0001", "+97235550001"),
            ("050-123-4567", "+972501234567"),
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_str(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn things_that_are_not_phone_numbers_are_refused() {
        for input in [
            "",
            "+",
            "abc",
            "+12",
            "12345678",
            "+9725a",
            "+0123456789",
            "anonymous",
        ] {
            assert!(PhoneNumber::parse(input).is_err(), "{input}");
        }
    }
}
