//! Domain newtypes that parse input once at the edge: phone numbers (E.164),
//! money in agorot and stored timestamps. Constructors return `Result`; the
//! rest of the code can trust the value.

pub mod call_action;
pub mod hours;
pub mod settings;
pub mod tenant;

pub use call_action::{ArmedAction, CallAction, TransferStatus};

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

/// What every newtype here over parsed text has alike: its text (`as_str`,
/// `Display`, `Into<String>`) and parsing on the way in (`TryFrom<String>`,
/// which serde's `try_from` goes through), so that no value skips `parse`.
macro_rules! text_newtype {
    ($name:ident, $error:ty) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

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
}

text_newtype!(PhoneNumber, InvalidPhone);

/// An instant as the database stores it: UTC RFC 3339 text with exactly three
/// fraction digits (`2025-01-31T09:05:00.000Z`). Rows compare timestamps as
/// text, which orders instants only because every value has this one width.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 instant (for example 2025-01-31T09:05:00Z)")]
pub struct InvalidTimestamp(pub String);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// Accepts any RFC 3339 instant and rewrites it in the stored form, so a
    /// value from outside compares correctly with the stored ones.
    pub fn parse(input: &str) -> Result<Self, InvalidTimestamp> {
        OffsetDateTime::parse(input.trim(), &Rfc3339)
            .map(Self::from)
            .map_err(|_| InvalidTimestamp(input.to_string()))
    }

    /// The instant `by` later (earlier when negative): lets time-based
    /// queries take "now" as an argument, so tests pass explicit instants.
    pub fn shifted(&self, by: time::Duration) -> Self {
        // Every Timestamp was made from an OffsetDateTime, so it parses.
        let at =
            OffsetDateTime::parse(&self.0, &Rfc3339).unwrap_or_else(|_| OffsetDateTime::now_utc());
        Self::from(at.saturating_add(by))
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        // Written by hand rather than with `Rfc3339` formatting, which drops
        // trailing fraction zeros and so would vary the width.
        let t = t.to_offset(UtcOffset::UTC);
        Self(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ))
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

text_newtype!(Timestamp, InvalidTimestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_timestamp_keeps_the_stored_width_and_order() {
        let t = Timestamp::parse("2025-01-31T23:59:30Z").unwrap();
        let later = t.shifted(time::Duration::seconds(45));
        assert_eq!(later.as_str(), "2025-02-01T00:00:15.000Z");
        assert!(later > t);
        assert_eq!(later.shifted(time::Duration::seconds(-45)), t);
    }

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

    #[test]
    fn a_timestamp_is_utc_with_three_fraction_digits_whatever_its_input() {
        for (input, expected) in [
            ("2025-01-31T09:05:00Z", "2025-01-31T09:05:00.000Z"),
            ("2025-01-31T11:05:00.5+02:00", "2025-01-31T09:05:00.500Z"),
            ("2025-01-31T09:05:00.123456Z", "2025-01-31T09:05:00.123Z"),
        ] {
            assert_eq!(
                Timestamp::parse(input).unwrap().as_str(),
                expected,
                "{input}"
            );
        }
        assert_eq!(
            Timestamp::now().as_str().len(),
            "2025-01-31T09:05:00.000Z".len()
        );
    }

    #[test]
    fn timestamps_serialize_as_their_text_and_refuse_other_text() {
        let t = Timestamp::parse("2025-01-31T09:05:00Z").unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2025-01-31T09:05:00.000Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
