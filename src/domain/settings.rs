//! A business's settings, written once: the full type the API serves and the
//! database stores, the changes an owner and an admin may send, which role
//! may change which field, and the validated value types they are made of.
//!
//! Adding a setting means adding one line to [`business_settings!`] below
//! (its type parses and validates through serde), one migration pair adding
//! the column, and a test. The admin API, the owner API, the CLI and
//! `db::business` all work from what the macro generates, so none of them
//! lists fields by hand.
//!
//! The database sees each value as a [`Column`]: this module stays free of
//! sqlx, and `db::business` reads and binds columns by their [`ColumnKind`].

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

use super::PhoneNumber;
use super::hours::Hours;

/// How a setting is stored: one column of one of these SQL kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int,
    Bool,
}

/// A setting's value as the database stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Text(Option<String>),
    Int(i64),
    Bool(bool),
}

/// A value that can be a business setting: it knows its column.
pub trait SettingValue: Sized {
    const KIND: ColumnKind;
    fn to_column(&self) -> Column;
    /// Reads a stored value. Rows were validated when written; a value
    /// older code let through is brought into range rather than refused,
    /// so one odd row never stops a business from taking calls.
    fn from_column(column: Column) -> Result<Self, String>;
}

fn wrong_kind<T>(column: &Column) -> Result<T, String> {
    Err(format!("unexpected stored value {column:?}"))
}

impl SettingValue for bool {
    const KIND: ColumnKind = ColumnKind::Bool;
    fn to_column(&self) -> Column {
        Column::Bool(*self)
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Bool(b) => Ok(b),
            other => wrong_kind(&other),
        }
    }
}

impl SettingValue for PhoneNumber {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        Column::Text(Some(self.to_string()))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Text(Some(s)) => PhoneNumber::parse(&s).map_err(|e| e.to_string()),
            other => wrong_kind(&other),
        }
    }
}

/// An optional number; a stored value that no longer parses reads as unset.
impl SettingValue for Option<PhoneNumber> {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        Column::Text(self.as_ref().map(PhoneNumber::to_string))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Text(t) => Ok(t.and_then(|t| PhoneNumber::parse(&t).ok())),
            other => wrong_kind(&other),
        }
    }
}

/// Stored as its JSON in one TEXT column; NULL is always open. A stored
/// schedule that no longer validates reads as always open: the agent
/// answering too often is better than a business that cannot load.
impl SettingValue for Option<Hours> {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        // Serializing validated hours cannot fail.
        Column::Text(self.as_ref().and_then(|h| serde_json::to_string(h).ok()))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Text(t) => Ok(t.and_then(|t| serde_json::from_str(&t).ok())),
            other => wrong_kind(&other),
        }
    }
}

/// Short free text: trimmed, never blank, at most `MAX` characters. A
/// setting that may be unset is `Option<Text>`; `null` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize = 4000>(String);

/// A business's name: text of at most 200 characters.
pub type BusinessName = Text<200>;

impl<const MAX: usize> Text<MAX> {
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("text that is not blank (send null to clear it)".into());
        }
        if trimmed.chars().count() > MAX {
            return Err(format!("text of at most {MAX} characters"));
        }
        Ok(Self(trimmed.to_string()))
    }
}

impl<const MAX: usize> Deref for Text<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw)
            .map_err(|expected| de::Error::invalid_value(Unexpected::Str(&raw), &expected.as_str()))
    }
}

impl<const MAX: usize> utoipa::PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .min_length(Some(1))
            .max_length(Some(MAX))
            .pattern(Some(r"\S"))
            .into()
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Text{MAX}").into()
    }
}

impl SettingValue for Option<Text> {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        Column::Text(self.as_ref().map(|t| t.0.clone()))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Text(t) => Ok(t.and_then(|t| Text::parse(&t).ok())),
            other => wrong_kind(&other),
        }
    }
}

impl SettingValue for BusinessName {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        Column::Text(Some(self.0.clone()))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Text(Some(s)) => Ok(Self::parse(&s).unwrap_or(Self(s))),
            other => wrong_kind(&other),
        }
    }
}

/// A whole number in `MIN..=MAX` with a default: the numeric settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Ranged<const MIN: u32, const MAX: u32, const DEFAULT: u32>(u32);

/// The silence that ends a caller's turn, in milliseconds. Its default is
/// the turn detector's own (a test keeps them equal), so a business that
/// never chose one gets what the detector was tuned for.
pub type EndOfTurn = Ranged<200, 3000, 600>;
/// The shortest end-of-turn wait the endpointing rules may choose, in ms;
/// its default is `voice::EndpointBounds`'s (a test keeps them equal).
pub type EndOfTurnMin = Ranged<150, 1500, 300>;
/// The longest end-of-turn wait the endpointing rules may choose, in ms.
pub type EndOfTurnMax = Ranged<600, 4000, 1500>;
/// Calls of one business streamed at once; beyond it callers record a message.
pub type MaxConcurrentCalls = Ranged<1, 500, 20>;
/// Minutes a streamed call may last before the agent hands it to a message.
pub type MaxCallMinutes = Ranged<1, 120, 20>;

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Ranged<MIN, MAX, DEFAULT> {
    pub fn new(value: i64) -> Option<Self> {
        u32::try_from(value)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Self)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Default for Ranged<MIN, MAX, DEFAULT> {
    fn default() -> Self {
        Self(DEFAULT)
    }
}

/// A value of the right JSON type that the domain does not accept is
/// serde's `invalid value`: the API answers it with 422 and malformed bodies
/// with 400 (see `http::extract`).
impl<'de, const MIN: u32, const MAX: u32, const DEFAULT: u32> Deserialize<'de>
    for Ranged<MIN, MAX, DEFAULT>
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(d)?;
        Self::new(value).ok_or_else(|| {
            de::Error::invalid_value(
                Unexpected::Signed(value),
                &format!("a whole number between {MIN} and {MAX}").as_str(),
            )
        })
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> utoipa::PartialSchema
    for Ranged<MIN, MAX, DEFAULT>
{
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(f64::from(MIN)))
            .maximum(Some(f64::from(MAX)))
            .default(Some(DEFAULT.into()))
            .into()
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> ToSchema for Ranged<MIN, MAX, DEFAULT> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Integer{MIN}To{MAX}").into()
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> SettingValue
    for Ranged<MIN, MAX, DEFAULT>
{
    const KIND: ColumnKind = ColumnKind::Int;
    fn to_column(&self) -> Column {
        Column::Int(i64::from(self.0))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            Column::Int(v) => Ok(Self(v.clamp(i64::from(MIN), i64::from(MAX)) as u32)),
            other => wrong_kind(&other),
        }
    }
}

/// Where the owner hears about each call: by SMS, by WhatsApp (through an
/// approved template, see `TWILIO_WHATSAPP_CONTENT_SID`) or not at all.
/// Off by default, so no business is messaged before its owner asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyChannel {
    Sms,
    Whatsapp,
    #[default]
    None,
}

impl NotifyChannel {
    pub const ALL: [Self; 3] = [Self::Sms, Self::Whatsapp, Self::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
            Self::None => "none",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == input.trim())
    }
}

/// An unknown channel name is an invalid *value* (422), not a malformed body.
impl<'de> Deserialize<'de> for NotifyChannel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| {
            de::Error::invalid_value(Unexpected::Str(&raw), &"one of sms, whatsapp, none")
        })
    }
}

impl utoipa::PartialSchema for NotifyChannel {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .default(Some(Self::default().as_str().into()))
            .into()
    }
}

impl ToSchema for NotifyChannel {}

impl SettingValue for NotifyChannel {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        Column::Text(Some(self.as_str().to_string()))
    }
    fn from_column(column: Column) -> Result<Self, String> {
        match column {
            // A channel this code does not know sends nothing rather than
            // stopping the business from loading.
            Column::Text(t) => Ok(t.as_deref().and_then(Self::parse).unwrap_or_default()),
            other => wrong_kind(&other),
        }
    }
}

/// A tool the agent may use during a call. The names are what the model
/// sees; `crate::tools` declares what each one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    TransferToHuman,
    EndCall,
    TakeMessage,
    BusinessHours,
}

impl ToolName {
    pub const ALL: [Self; 4] = [
        Self::TransferToHuman,
        Self::EndCall,
        Self::TakeMessage,
        Self::BusinessHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransferToHuman => "transfer_to_human",
            Self::EndCall => "end_call",
            Self::TakeMessage => "take_message",
            Self::BusinessHours => "business_hours",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == input.trim())
    }
}

/// An unknown tool name is an invalid *value* (422 naming `tools`).
impl<'de> Deserialize<'de> for ToolName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| {
            de::Error::invalid_value(
                Unexpected::Str(&raw),
                &"one of transfer_to_human, end_call, take_message, business_hours",
            )
        })
    }
}

impl utoipa::PartialSchema for ToolName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .into()
    }
}

impl ToSchema for ToolName {}

/// The tools a business's agent may use: all of them unless the owner
/// chose, and `[]` for plain conversation. Unlike [`List`], empty is a
/// choice of its own, so the column stores `[]` and NULL means the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EnabledTools(Vec<ToolName>);

impl Default for EnabledTools {
    fn default() -> Self {
        Self(ToolName::ALL.to_vec())
    }
}

impl EnabledTools {
    pub fn contains(&self, tool: ToolName) -> bool {
        self.0.contains(&tool)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `null` restores the default (every tool); a repeat is an invalid value.
impl<'de> Deserialize<'de> for EnabledTools {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(items) = Option::<Vec<ToolName>>::deserialize(d)? else {
            return Ok(Self::default());
        };
        if items
            .iter()
            .enumerate()
            .any(|(i, item)| items[..i].contains(item))
        {
            return Err(de::Error::invalid_value(
                Unexpected::Other("a list with a repeated tool"),
                &"tool names without repeats",
            ));
        }
        Ok(Self(items))
    }
}

impl utoipa::PartialSchema for EnabledTools {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ToolName::schema())
            .max_items(Some(ToolName::ALL.len()))
            .unique_items(true)
            .into()
    }
}

impl ToSchema for EnabledTools {
    fn name() -> std::borrow::Cow<'static, str> {
        "EnabledTools".into()
    }
}

impl SettingValue for EnabledTools {
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        let names: Vec<&str> = self.0.iter().map(|t| t.as_str()).collect();
        // Serializing strings cannot fail.
        Column::Text(serde_json::to_string(&names).ok())
    }
    fn from_column(column: Column) -> Result<Self, String> {
        let Column::Text(text) = column else {
            return wrong_kind(&column);
        };
        let Some(json) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Self::default());
        };
        // A name this code no longer knows is dropped, not the business.
        let raw: Vec<String> = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        let mut tools = Vec::new();
        for tool in raw.iter().filter_map(|n| ToolName::parse(n)) {
            if !tools.contains(&tool) {
                tools.push(tool);
            }
        }
        Ok(Self(tools))
    }
}

/// At most `MAX` distinct values, each validated by its own type; empty
/// means none. Stored as one TEXT column holding a JSON array (NULL when
/// empty), so a list setting needs no table of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct List<T, const MAX: usize>(Vec<T>);

/// Up to three numbers the owner's call notifications go to.
pub type NotifyTo = List<PhoneNumber, 3>;
/// A short label such as "הזמנה" or "תלונה": what a call was about.
pub type Category = Text<40>;
/// The labels a call summary may choose its intent from.
pub type Categories = List<Category, 12>;

impl<T, const MAX: usize> Default for List<T, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const MAX: usize> Deref for List<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: PartialEq, const MAX: usize> List<T, MAX> {
    /// Refuses more than `MAX` items and repeats; the message completes
    /// "expected …".
    pub fn new(items: Vec<T>) -> Result<Self, String> {
        if items.len() > MAX {
            return Err(format!("at most {MAX} items"));
        }
        if items
            .iter()
            .enumerate()
            .any(|(i, item)| items[..i].contains(item))
        {
            return Err("items without repeats".into());
        }
        Ok(Self(items))
    }
}

/// `null` reads as the empty list, so the command line's "empty clears"
/// holds for lists too. Each item fails through its own type (an invalid
/// value at `field[i]`); too many or repeated items are an invalid value of
/// the whole field. Both are 422 at the API.
impl<'de, T: Deserialize<'de> + PartialEq, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Option::<Vec<T>>::deserialize(d)?.unwrap_or_default();
        let count = items.len();
        Self::new(items).map_err(|expected| {
            de::Error::invalid_value(
                Unexpected::Other(&format!("a list of {count} items")),
                &expected.as_str(),
            )
        })
    }
}

impl<T: ToSchema, const MAX: usize> utoipa::PartialSchema for List<T, MAX> {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(T::schema())
            .max_items(Some(MAX))
            .unique_items(true)
            .into()
    }
}

impl<T: ToSchema, const MAX: usize> ToSchema for List<T, MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("ListOf{MAX}{}", T::name()).into()
    }
}

impl<T, const MAX: usize> SettingValue for List<T, MAX>
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq,
{
    const KIND: ColumnKind = ColumnKind::Text;
    fn to_column(&self) -> Column {
        if self.0.is_empty() {
            return Column::Text(None);
        }
        // Serializing validated strings cannot fail.
        Column::Text(serde_json::to_string(&self.0).ok())
    }
    fn from_column(column: Column) -> Result<Self, String> {
        let Column::Text(text) = column else {
            return wrong_kind(&column);
        };
        // Keeps what still validates, once each, up to MAX: an odd row
        // loses an item rather than the business.
        let raw: Vec<serde_json::Value> = match text.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(json) => serde_json::from_str(json).map_err(|e| e.to_string())?,
        };
        let mut items: Vec<T> = Vec::new();
        for item in raw
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
        {
            if items.len() < MAX && !items.contains(&item) {
                items.push(item);
            }
        }
        Ok(Self(items))
    }
}

impl AdminChange {
    /// Refuses a change that would leave `end_of_turn_min_ms ≤
    /// end_of_turn_ms ≤ end_of_turn_max_ms` out of order, naming a field the
    /// change set. A change that sets only some of the three is checked
    /// against the stored values of the others (`current`; `None` for a
    /// business not yet created, which has the defaults): the owner who
    /// lowers the maximum below the base learns it now, rather than the
    /// rules silently clamping it.
    pub fn end_of_turn_out_of_order(&self, current: Option<&BusinessSettings>) -> Option<String> {
        let min = self
            .end_of_turn_min_ms
            .or(current.map(|c| c.end_of_turn_min_ms))
            .unwrap_or_default()
            .get();
        let base = self
            .end_of_turn_ms
            .or(current.map(|c| c.end_of_turn_ms))
            .unwrap_or_default()
            .get();
        let max = self
            .end_of_turn_max_ms
            .or(current.map(|c| c.end_of_turn_max_ms))
            .unwrap_or_default()
            .get();
        if min > base {
            return Some(if self.end_of_turn_min_ms.is_some() {
                format!("end_of_turn_min_ms: {min} is above end_of_turn_ms ({base})")
            } else {
                format!("end_of_turn_ms: {base} is below end_of_turn_min_ms ({min})")
            });
        }
        if base > max {
            return Some(if self.end_of_turn_max_ms.is_some() {
                format!("end_of_turn_max_ms: {max} is below end_of_turn_ms ({base})")
            } else {
                format!("end_of_turn_ms: {base} is above end_of_turn_max_ms ({max})")
            });
        }
        None
    }

    /// Whether the change touches any of the end-of-turn settings.
    pub fn sets_end_of_turn(&self) -> bool {
        self.end_of_turn_ms.is_some()
            || self.end_of_turn_min_ms.is_some()
            || self.end_of_turn_max_ms.is_some()
    }
}

/// Deserializes a field that is present (as `Some`), whatever its value:
/// with `#[serde(default)]`, absent stays `None`, so a change can tell
/// "leave it" from "set it to null".
fn present<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}

/// Declares every setting once. Fields under `owner` may be changed by the
/// business's owner (and admins); fields under `admin` only by platform
/// admins. Generates [`BusinessSettings`], [`OwnerChange`], [`AdminChange`].
macro_rules! business_settings {
    (
        owner { $( $(#[$odoc:meta])* $ofield:ident : $oty:ty ),* $(,)? }
        admin { $( $(#[$adoc:meta])* $afield:ident : $aty:ty ),* $(,)? }
    ) => {
        /// Every setting of a business, as served and stored.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct BusinessSettings {
            $( $(#[$odoc])* pub $ofield: $oty, )*
            $( $(#[$adoc])* pub $afield: $aty, )*
        }

        /// The settings an owner may change. Absent fields stay as they
        /// are; `null` clears a setting that may be unset.
        #[derive(Debug, Clone, Default, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct OwnerChange {
            $(
                $(#[$odoc])*
                #[serde(default, deserialize_with = "present")]
                #[schema(value_type = $oty, required = false)]
                pub $ofield: Option<$oty>,
            )*
        }

        /// What an admin may change: everything an owner may, and more.
        #[derive(Debug, Clone, Default, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct AdminChange {
            $(
                $(#[$odoc])*
                #[serde(default, deserialize_with = "present")]
                #[schema(value_type = $oty, required = false)]
                pub $ofield: Option<$oty>,
            )*
            $(
                $(#[$adoc])*
                #[serde(default, deserialize_with = "present")]
                #[schema(value_type = $aty, required = false)]
                pub $afield: Option<$aty>,
            )*
        }

        impl From<OwnerChange> for AdminChange {
            fn from(owner: OwnerChange) -> Self {
                Self {
                    $( $ofield: owner.$ofield, )*
                    ..Self::default()
                }
            }
        }

        impl AdminChange {
            /// The admin-only settings this change names, so an owner who
            /// names one is refused (403) rather than silently ignored.
            pub fn admin_only_fields(&self) -> Vec<&'static str> {
                let mut named = Vec::new();
                $( if self.$afield.is_some() { named.push(stringify!($afield)); } )*
                named
            }

            /// The columns this change sets, with their new values.
            pub fn columns(&self) -> Vec<(&'static str, Column)> {
                let mut set = Vec::new();
                $( if let Some(v) = &self.$ofield { set.push((stringify!($ofield), v.to_column())); } )*
                $( if let Some(v) = &self.$afield { set.push((stringify!($afield), v.to_column())); } )*
                set
            }
        }

        impl BusinessSettings {
            /// Every setting's column, in declaration order.
            pub const COLUMNS: &[(&str, ColumnKind)] = &[
                $( (stringify!($ofield), <$oty as SettingValue>::KIND), )*
                $( (stringify!($afield), <$aty as SettingValue>::KIND), )*
            ];

            /// Builds the settings from stored columns, read through `get`.
            pub fn from_columns<E>(
                mut get: impl FnMut(&'static str, ColumnKind) -> Result<Column, E>,
                invalid: impl Fn(String) -> E,
            ) -> Result<Self, E> {
                Ok(Self {
                    $( $ofield: <$oty as SettingValue>::from_column(
                        get(stringify!($ofield), <$oty as SettingValue>::KIND)?,
                    ).map_err(|e| invalid(format!("{}: {e}", stringify!($ofield))))?, )*
                    $( $afield: <$aty as SettingValue>::from_column(
                        get(stringify!($afield), <$aty as SettingValue>::KIND)?,
                    ).map_err(|e| invalid(format!("{}: {e}", stringify!($afield))))?, )*
                })
            }
        }
    };
}

business_settings! {
    owner {
        name: BusinessName,
        /// What the agent says first; `null` uses a greeting with the name.
        greeting: Option<Text>,
        /// The agent's instructions; `null` uses the default receptionist.
        system_prompt: Option<Text>,
        /// Text-to-speech voice; `null` uses the service default.
        voice: Option<Text>,
        /// Silence that ends the caller's turn, in milliseconds.
        end_of_turn_ms: EndOfTurn,
        /// The shortest wait for the end of a turn, in milliseconds (after
        /// a complete question); at most `end_of_turn_ms`.
        end_of_turn_min_ms: EndOfTurnMin,
        /// The longest wait for the end of a turn, in milliseconds (while a
        /// number is dictated); at least `end_of_turn_ms`.
        end_of_turn_max_ms: EndOfTurnMax,
        enable_calls_stream: bool,
        enable_recording_fallback: bool,
        /// Minutes a streamed call may last; then the agent says so and the
        /// caller leaves a message.
        max_call_minutes: MaxCallMinutes,
        /// How the owner is told of each call; `whatsapp` needs
        /// `TWILIO_WHATSAPP_FROM` and `TWILIO_WHATSAPP_CONTENT_SID`.
        notify_channel: NotifyChannel,
        /// Up to 3 numbers (E.164) the notification goes to; `[]` for none.
        notify_to: NotifyTo,
        /// Up to 12 short labels (1–40 characters) a call's intent is chosen from.
        categories: Categories,
        /// Opening hours in the business's zone (see `domain::hours`);
        /// `null` means always open.
        hours: Option<Hours>,
        /// Where the agent transfers a caller who asks for a person: E.164,
        /// or an Israeli national number (`050-123-4567`) stored as E.164;
        /// `null` for none.
        transfer_number: Option<PhoneNumber>,
        /// The tools the agent may use in a call (`transfer_to_human`,
        /// `end_call`, `take_message`, `business_hours`); all by default,
        /// `[]` for conversation only. Transfer also needs `transfer_number`.
        tools: EnabledTools,
    }
    admin {
        /// E.164 (`+9723…`); an Israeli national number (`03-555-0001`) is
        /// accepted and stored as E.164. Calls to it reach this business;
        /// no two businesses share one. Admin-only: the number is what the
        /// platform provisioned at Twilio.
        phone_number: PhoneNumber,
        /// Calls streamed at once; beyond it new callers go straight to the
        /// recording. Admin-only: it is what the plan pays for.
        max_concurrent_calls: MaxConcurrentCalls,
        /// Admin-only: payments are a contract with the platform.
        enable_payments_paypal: bool,
        enable_payments_tranzila: bool,
        /// `false` deactivates: its users can no longer log in or act.
        active: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_change_names_only_what_was_sent_and_null_clears() {
        let change: OwnerChange =
            serde_json::from_str(r#"{"greeting": null, "end_of_turn_ms": 800}"#).unwrap();
        let columns = AdminChange::from(change).columns();
        assert_eq!(
            columns,
            vec![
                ("greeting", Column::Text(None)),
                ("end_of_turn_ms", Column::Int(800)),
            ]
        );
    }

    #[test]
    fn phone_payments_and_active_are_admin_only_settings() {
        for field in ["active", "phone_number", "enable_payments_paypal"] {
            let err = serde_json::from_str::<OwnerChange>(&format!(r#"{{"{field}": null}}"#))
                .unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{field}: {err}");
        }
        let admin: AdminChange =
            serde_json::from_str(r#"{"active": false, "greeting": "שלום"}"#).unwrap();
        assert_eq!(admin.admin_only_fields(), vec!["active"]);
        assert_eq!(admin.columns().len(), 2);
    }

    #[test]
    fn values_the_domain_refuses_are_invalid_values_not_malformed_bodies() {
        for body in [
            r#"{"end_of_turn_ms": 50}"#,
            r#"{"end_of_turn_ms": 3001}"#,
            r#"{"name": "   "}"#,
            r#"{"greeting": ""}"#,
        ] {
            let err = serde_json::from_str::<OwnerChange>(body).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid value"),
                "{body}: {err}"
            );
        }
        let wrong_type =
            serde_json::from_str::<OwnerChange>(r#"{"enable_calls_stream": "yes"}"#).unwrap_err();
        assert!(wrong_type.to_string().starts_with("invalid type"));
    }

    #[test]
    fn the_end_of_turn_default_is_the_turn_detectors_and_within_range() {
        let default = EndOfTurn::default();
        assert_eq!(default.get(), voice::TurnConfig::default().end_silence_ms);
        assert_eq!(EndOfTurn::new(i64::from(default.get())), Some(default));
        assert_eq!(EndOfTurn::new(199), None);
        assert_eq!(EndOfTurn::new(3000).map(EndOfTurn::get), Some(3000));
    }

    #[test]
    fn the_end_of_turn_bounds_default_to_the_endpointing_rules_and_refuse_out_of_range() {
        let rules = voice::EndpointBounds::default();
        assert_eq!(EndOfTurnMin::default().get(), rules.min_ms);
        assert_eq!(EndOfTurnMax::default().get(), rules.max_ms);
        assert_eq!(EndOfTurn::default().get(), rules.base_ms);
        for body in [
            r#"{"end_of_turn_min_ms": 149}"#,
            r#"{"end_of_turn_min_ms": 1501}"#,
            r#"{"end_of_turn_max_ms": 599}"#,
            r#"{"end_of_turn_max_ms": 4001}"#,
        ] {
            let err = serde_json::from_str::<OwnerChange>(body).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid value"),
                "{body}: {err}"
            );
        }
    }

    fn change(body: serde_json::Value) -> AdminChange {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn end_of_turn_bounds_out_of_order_name_the_field_the_change_set() {
        let defaults = None;
        assert_eq!(
            change(serde_json::json!({"end_of_turn_min_ms": 700}))
                .end_of_turn_out_of_order(defaults),
            Some("end_of_turn_min_ms: 700 is above end_of_turn_ms (600)".into())
        );
        assert_eq!(
            change(serde_json::json!({"end_of_turn_max_ms": 600, "end_of_turn_ms": 800}))
                .end_of_turn_out_of_order(defaults),
            Some("end_of_turn_max_ms: 600 is below end_of_turn_ms (800)".into())
        );
        assert_eq!(
            change(serde_json::json!({"end_of_turn_ms": 2000})).end_of_turn_out_of_order(defaults),
            Some("end_of_turn_ms: 2000 is above end_of_turn_max_ms (1500)".into())
        );
        // Raising the base and the maximum together is in order.
        let together =
            change(serde_json::json!({"end_of_turn_ms": 2000, "end_of_turn_max_ms": 3000}));
        assert_eq!(together.end_of_turn_out_of_order(defaults), None);
        assert_eq!(
            change(serde_json::json!({})).end_of_turn_out_of_order(defaults),
            None
        );
    }

    #[test]
    fn stored_values_out_of_range_are_brought_into_range_not_refused() {
        assert_eq!(EndOfTurn::from_column(Column::Int(50)).unwrap().get(), 200);
        assert_eq!(
            <Option<Text>>::from_column(Column::Text(Some("  ".into()))).unwrap(),
            None
        );
    }
    fn owner_change(body: serde_json::Value) -> Result<OwnerChange, String> {
        serde_json::from_value(body).map_err(|e| e.to_string())
    }

    #[test]
    fn the_notify_channel_is_sms_whatsapp_or_none_and_none_by_default() {
        for name in ["sms", "whatsapp", "none"] {
            let change = owner_change(serde_json::json!({ "notify_channel": name })).unwrap();
            assert_eq!(change.notify_channel.unwrap().as_str(), name);
        }
        assert_eq!(NotifyChannel::default(), NotifyChannel::None);
        let err = owner_change(serde_json::json!({ "notify_channel": "טלגרם" })).unwrap_err();
        assert!(err.starts_with("invalid value"), "{err}");
        assert_eq!(
            NotifyChannel::from_column(Column::Text(Some("fax".into()))).unwrap(),
            NotifyChannel::None,
            "an unknown stored channel sends nothing"
        );
    }

    #[test]
    fn up_to_three_notify_numbers_are_accepted_and_stored_as_e164_json() {
        let change = owner_change(serde_json::json!({
            "notify_to": ["050-123-4567", "+97235550001"]
        }))
        .unwrap();
        let to = change.notify_to.unwrap();
        assert_eq!(to.len(), 2);
        let column = to.to_column();
        assert_eq!(
            column,
            Column::Text(Some(r#"["+972501234567","+97235550001"]"#.into()))
        );
        assert_eq!(NotifyTo::from_column(column).unwrap(), to);
        assert_eq!(NotifyTo::default().to_column(), Column::Text(None));
        assert!(
            NotifyTo::from_column(Column::Text(None))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn four_notify_numbers_a_repeat_or_a_bad_number_are_invalid_values() {
        for numbers in [
            serde_json::json!([
                "+97235550001",
                "+97235550002",
                "+97235550003",
                "+97235550004"
            ]),
            serde_json::json!(["03-555-0001", "+97235550001"]),
            serde_json::json!(["+97235550001", "לא מספר"]),
        ] {
            let err = owner_change(serde_json::json!({ "notify_to": numbers })).unwrap_err();
            assert!(err.starts_with("invalid value"), "{numbers}: {err}");
        }
    }

    #[test]
    fn hebrew_categories_are_trimmed_and_kept_in_order() {
        let change = owner_change(serde_json::json!({
            "categories": [" הזמנה ", "תלונה", "שאלה על מחירים"]
        }))
        .unwrap();
        let categories = change.categories.unwrap();
        let labels: Vec<&str> = categories.iter().map(|c| &**c).collect();
        assert_eq!(labels, vec!["הזמנה", "תלונה", "שאלה על מחירים"]);
    }

    #[test]
    fn thirteen_categories_a_repeat_an_empty_or_an_overlong_label_are_invalid_values() {
        let thirteen: Vec<String> = (1..=13).map(|i| format!("נושא {i}")).collect();
        for labels in [
            serde_json::json!(thirteen),
            serde_json::json!(["הזמנה", " הזמנה"]),
            serde_json::json!(["הזמנה", "  "]),
            serde_json::json!(["א".repeat(41)]),
        ] {
            let err = owner_change(serde_json::json!({ "categories": labels })).unwrap_err();
            assert!(err.starts_with("invalid value"), "{labels}: {err}");
        }
        assert!(owner_change(serde_json::json!({ "categories": ["א".repeat(40)] })).is_ok());
    }

    #[test]
    fn every_tool_is_enabled_until_the_owner_chooses_and_an_empty_choice_is_kept() {
        let default = EnabledTools::from_column(Column::Text(None)).unwrap();
        assert_eq!(default, EnabledTools::default());
        assert!(ToolName::ALL.iter().all(|t| default.contains(*t)));
        let none = owner_change(serde_json::json!({ "tools": [] }))
            .unwrap()
            .tools
            .unwrap();
        assert_eq!(none.to_column(), Column::Text(Some("[]".into())));
        assert!(
            EnabledTools::from_column(none.to_column())
                .unwrap()
                .is_empty()
        );
        let stored = Column::Text(Some(r#"["end_call", "teleport", "end_call"]"#.into()));
        let kept = EnabledTools::from_column(stored).unwrap();
        assert!(kept.contains(ToolName::EndCall) && !kept.contains(ToolName::TakeMessage));
        for tools in [
            serde_json::json!(["teleport"]),
            serde_json::json!(["end_call", "end_call"]),
        ] {
            let err = owner_change(serde_json::json!({ "tools": tools })).unwrap_err();
            assert!(err.starts_with("invalid value"), "{tools}: {err}");
        }
    }

    #[test]
    fn stored_lists_keep_what_still_validates_rather_than_failing_the_business() {
        let stored = Column::Text(Some(r#"["הזמנה", "", "הזמנה", "תלונה"]"#.into()));
        let labels: Vec<String> = Categories::from_column(stored)
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(labels, vec!["הזמנה", "תלונה"]);
    }
}
