//! Business hours: when a business is open, in its own time zone, and how the agent says so in Hebrew.
//!
//! The JSON shape an owner sends and reads back:
//!
//! ```json
//! {"timezone": "Asia/Jerusalem",
//!  "weekly": {"sun": [["09:00","18:00"]], "fri": [["09:00","13:00"]], "sat": []},
//!  "closed_dates": ["2026-12-25"]}
//! ```
//!
//! - A day holds up to [`MAX_RANGES_A_DAY`] `["HH:MM","HH:MM"]` ranges; an
//!   empty list closes the day, and **a missing day is closed too**.
//! - Times run 00:00–23:59; `"24:00"` may end a range (midnight at its end).
//!   A range starts before it ends, and ranges of one day do not overlap.
//! - `closed_dates` (`YYYY-MM-DD`, up to [`MAX_CLOSED_DATES`]) close the
//!   whole day, whatever the week says.
//!
//! A business is open whenever the wall clock in its zone reads inside one
//! of today's ranges. Across a daylight-saving change that is what the
//! owner means: on the night the clock jumps 02:00 → 03:00 a range
//! 01:30–02:30 closes at the jump, and on the night it falls back an hour
//! that happens twice is open both times.

use std::fmt;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Unexpected, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};

/// Ranges one day may hold (a split shift with a lunch break needs two).
pub const MAX_RANGES_A_DAY: usize = 6;
/// Closed dates one schedule may list: a year of them.
pub const MAX_CLOSED_DATES: usize = 366;
/// How far ahead the next opening is searched for.
pub const HORIZON_DAYS: i64 = 400;
/// The zone a business without hours is described in.
pub const DEFAULT_ZONE: &str = "Asia/Jerusalem";

const MINUTES_A_DAY: u16 = 24 * 60;

/// A business's weekly schedule, its zone and the dates it is closed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    timezone: Zone,
    weekly: Weekly,
    #[serde(default)]
    closed_dates: ClosedDates,
}

/// Whether a business is open at a moment, and until or from when.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenStatus {
    /// Open; `closes_at` is when the wall clock next leaves the schedule
    /// (ranges that meet at midnight are one stretch). An always-open
    /// schedule reports [`HORIZON_DAYS`] ahead.
    Open { closes_at: Zoned },
    /// Closed; `opens_at` is `None` when nothing opens within [`HORIZON_DAYS`].
    Closed { opens_at: Option<Zoned> },
}

impl PartialEq for Hours {
    fn eq(&self, other: &Self) -> bool {
        self.timezone.name == other.timezone.name
            && self.weekly == other.weekly
            && self.closed_dates == other.closed_dates
    }
}

impl Hours {
    /// The zone the schedule is read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.timezone.tz
    }

    pub fn is_open(&self, at: Timestamp) -> bool {
        self.open_on_the_wall_clock(self.timezone.tz.to_datetime(at))
    }

    pub fn status_at(&self, at: Timestamp) -> OpenStatus {
        let open = self.is_open(at);
        // A week covers every ordinary schedule; only long closures need
        // the whole horizon.
        let change = self
            .next_change(at, open, 8)
            .or_else(|| self.next_change(at, open, HORIZON_DAYS));
        let zoned = |t: Timestamp| t.to_zoned(self.timezone.tz.clone());
        if open {
            let horizon = at
                .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
                .unwrap_or(at);
            OpenStatus::Open {
                closes_at: zoned(change.unwrap_or(horizon)),
            }
        } else {
            OpenStatus::Closed {
                opens_at: change.map(zoned),
            }
        }
    }

    /// One short spoken sentence for a caller who reaches a closed
    /// business; `None` while it is open.
    pub fn opening_line_he(&self, at: Timestamp) -> Option<String> {
        let OpenStatus::Closed { opens_at } = self.status_at(at) else {
            return None;
        };
        let today = self.timezone.tz.to_datetime(at).date();
        Some(match opens_at {
            Some(opens) => format!(
                "אנחנו סגורים עכשיו, ניפתח {}.",
                when_short_he(today, &opens)
            ),
            None => "אנחנו סגורים עכשיו.".to_string(),
        })
    }

    fn open_on_the_wall_clock(&self, dt: DateTime) -> bool {
        let date = dt.date();
        if self.closed_dates.0.contains(&date) {
            return false;
        }
        let second =
            i32::from(dt.hour()) * 3600 + i32::from(dt.minute()) * 60 + i32::from(dt.second());
        self.weekly
            .day(date.weekday())
            .iter()
            .any(|r| i32::from(r.start) * 60 <= second && second < i32::from(r.end) * 60)
    }

    /// The first moment after `at`, within `days` days, at which being open
    /// stops being `open`. Openness only changes where the wall clock
    /// reads a range's start or end or where the zone's offset changes, so
    /// those moments are the only ones checked.
    fn next_change(&self, at: Timestamp, open: bool, days: i64) -> Option<Timestamp> {
        let tz = &self.timezone.tz;
        let limit = at.checked_add(SignedDuration::from_hours(24 * days)).ok()?;
        let mut moments: Vec<Timestamp> = tz
            .following(at)
            .map(|t| t.timestamp())
            .take_while(|t| *t <= limit)
            .collect();
        let mut day = tz.to_datetime(at).date().yesterday().ok()?;
        for _ in 0..days + 3 {
            for range in self.weekly.day(day.weekday()) {
                for minutes in [range.start, range.end] {
                    moments.extend(instants_of(tz, wall_clock(day, minutes)?));
                }
            }
            day = day.tomorrow().ok()?;
        }
        moments.retain(|t| *t > at && *t <= limit);
        moments.sort();
        moments.dedup();
        moments.into_iter().find(|t| self.is_open(*t) != open)
    }
}

/// The civil moment `minutes` after midnight of `day` ("24:00" is the next
/// day's midnight).
fn wall_clock(day: Date, minutes: u16) -> Option<DateTime> {
    if minutes >= MINUTES_A_DAY {
        return Some(day.tomorrow().ok()?.at(0, 0, 0, 0));
    }
    let (h, m) = (minutes / 60, minutes % 60);
    Some(day.at(h as i8, m as i8, 0, 0))
}

/// Every moment the wall clock reads `dt`: none in a spring-forward gap
/// (the offset change itself is checked instead), two in a fall-back hour.
fn instants_of(tz: &TimeZone, dt: DateTime) -> Vec<Timestamp> {
    let offsets = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { .. } => vec![],
        AmbiguousOffset::Fold { before, after } => vec![before, after],
    };
    offsets
        .into_iter()
        .filter_map(|o| o.to_timestamp(dt).ok())
        .collect()
}

/// What the agent's system prompt says about today and the schedule: the
/// day, date and time in the business's zone, whether it is open now and
/// until or from when, the week, and closed dates in the next 30 days.
/// Without hours the business is always available.
pub fn describe_he(hours: Option<&Hours>, at: Timestamp) -> String {
    let tz = hours.map_or_else(default_zone, |h| h.timezone.tz.clone());
    let now = at.to_zoned(tz);
    let today = now.date();
    let mut out = format!(
        "היום יום {}, {}, השעה {}.",
        day_name_he(today.weekday()),
        date_he(today),
        hh_mm(now.datetime()),
    );
    let Some(hours) = hours else {
        out.push_str(" העסק זמין בכל שעה, בכל יום.");
        return out;
    };
    match hours.status_at(at) {
        OpenStatus::Open { closes_at } if closes_at.date() == today => {
            out.push_str(&format!(
                " העסק פתוח עכשיו עד {}.",
                hh_mm(closes_at.datetime())
            ));
        }
        OpenStatus::Open { closes_at }
            if closes_at.timestamp().duration_since(at) > SignedDuration::from_hours(24 * 7) =>
        {
            out.push_str(" העסק פתוח עכשיו, בכל שעה.");
        }
        OpenStatus::Open { closes_at } => {
            out.push_str(&format!(
                " העסק פתוח עכשיו עד {}.",
                when_long_he(today, &closes_at)
            ));
        }
        OpenStatus::Closed {
            opens_at: Some(opens),
        } => {
            out.push_str(&format!(
                " העסק סגור עכשיו. ייפתח {}.",
                when_long_he(today, &opens)
            ));
        }
        OpenStatus::Closed { opens_at: None } => {
            out.push_str(" העסק סגור עכשיו, ואין מועד פתיחה קרוב.");
        }
    }
    let week: Vec<String> = Weekly::DAYS
        .into_iter()
        .map(|weekday| {
            let ranges = hours.weekly.day(weekday);
            let text = if ranges.is_empty() {
                "סגור".to_string()
            } else {
                ranges
                    .iter()
                    .map(Range::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{} {text}", day_name_he(weekday))
        })
        .collect();
    out.push_str(&format!(
        " שעות הפעילות (לפי שעון {}): {}.",
        hours.timezone.name,
        week.join("; ")
    ));
    let month_ahead = today
        .checked_add(jiff::Span::new().days(30))
        .unwrap_or(today);
    let closed: Vec<String> = hours
        .closed_dates
        .0
        .iter()
        .filter(|d| (today..=month_ahead).contains(d))
        .map(|d| format!("יום {}, {}", day_name_he(d.weekday()), date_he(*d)))
        .collect();
    if !closed.is_empty() {
        out.push_str(&format!(" סגור בתאריכים: {}.", closed.join("; ")));
    }
    out
}

fn default_zone() -> TimeZone {
    // The bundled database always has it; UTC only guards the impossible.
    TimeZone::get(DEFAULT_ZONE).unwrap_or(TimeZone::UTC)
}

fn day_name_he(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Sunday => "ראשון",
        Weekday::Monday => "שני",
        Weekday::Tuesday => "שלישי",
        Weekday::Wednesday => "רביעי",
        Weekday::Thursday => "חמישי",
        Weekday::Friday => "שישי",
        Weekday::Saturday => "שבת",
    }
}

/// "1 בדצמבר 2026".
fn date_he(date: Date) -> String {
    const MONTHS: [&str; 12] = [
        "ינואר",
        "פברואר",
        "מרץ",
        "אפריל",
        "מאי",
        "יוני",
        "יולי",
        "אוגוסט",
        "ספטמבר",
        "אוקטובר",
        "נובמבר",
        "דצמבר",
    ];
    let month = MONTHS[(date.month() - 1) as usize];
    format!("{} ב{month} {}", date.day(), date.year())
}

fn hh_mm(dt: DateTime) -> String {
    format!("{:02}:{:02}", dt.hour(), dt.minute())
}

/// "היום ב-16:00", "מחר, יום רביעי, ב-09:00", "ביום ראשון, 6 בדצמבר 2026, ב-09:00".
fn when_long_he(today: Date, at: &Zoned) -> String {
    let time = hh_mm(at.datetime());
    let (date, weekday) = (at.date(), day_name_he(at.date().weekday()));
    if date == today {
        format!("היום ב-{time}")
    } else if today.tomorrow().ok() == Some(date) {
        format!("מחר, יום {weekday}, ב-{time}")
    } else {
        format!("ביום {weekday}, {}, ב-{time}", date_he(date))
    }
}

/// The spoken form: "היום ב-16:00", "מחר ב-09:00", "ביום ראשון ב-09:00",
/// and the date as well beyond the coming week.
fn when_short_he(today: Date, at: &Zoned) -> String {
    let time = hh_mm(at.datetime());
    let date = at.date();
    let weekday = day_name_he(date.weekday());
    if date == today {
        format!("היום ב-{time}")
    } else if today.tomorrow().ok() == Some(date) {
        format!("מחר ב-{time}")
    } else if date
        .since(today)
        .map(|span| span.get_days())
        .unwrap_or(i32::MAX)
        < 7
    {
        format!("ביום {weekday} ב-{time}")
    } else {
        format!("ביום {weekday}, {}, ב-{time}", date_he(date))
    }
}

/// An IANA zone name and the zone it names.
#[derive(Debug, Clone)]
struct Zone {
    name: String,
    tz: TimeZone,
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let tz = TimeZone::get(name.trim()).map_err(|_| {
            de::Error::invalid_value(
                Unexpected::Str(&name),
                &"an IANA time zone such as Asia/Jerusalem",
            )
        })?;
        // The database's own spelling, so "asia/jerusalem" reads back canonical.
        let name = tz.iana_name().unwrap_or(name.trim()).to_string();
        Ok(Self { name, tz })
    }
}

/// The seven days; a day left out of the JSON is closed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Weekly {
    #[serde(default)]
    sun: Day,
    #[serde(default)]
    mon: Day,
    #[serde(default)]
    tue: Day,
    #[serde(default)]
    wed: Day,
    #[serde(default)]
    thu: Day,
    #[serde(default)]
    fri: Day,
    #[serde(default)]
    sat: Day,
}

impl Weekly {
    const DAYS: [Weekday; 7] = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];

    fn day(&self, weekday: Weekday) -> &[Range] {
        let day = match weekday {
            Weekday::Sunday => &self.sun,
            Weekday::Monday => &self.mon,
            Weekday::Tuesday => &self.tue,
            Weekday::Wednesday => &self.wed,
            Weekday::Thursday => &self.thu,
            Weekday::Friday => &self.fri,
            Weekday::Saturday => &self.sat,
        };
        &day.0
    }
}

/// One day's ranges, kept in order of their start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
struct Day(Vec<Range>);

/// Each range is read knowing the ones before it, so an overlap or one
/// range too many is refused at its own index (`weekly.mon[1]`).
impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DayVisitor;
        impl<'de> Visitor<'de> for DayVisitor {
            type Value = Day;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a list of ["HH:MM", "HH:MM"] ranges"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Day, A::Error> {
                let mut ranges: Vec<Range> = Vec::new();
                while let Some(range) = seq.next_element_seed(RangeAfter(&ranges))? {
                    ranges.push(range);
                }
                ranges.sort_by_key(|r| r.start);
                Ok(Day(ranges))
            }
        }
        d.deserialize_seq(DayVisitor)
    }
}

/// Opening and closing time, in minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u16,
    end: u16,
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", Clock(self.start), Clock(self.end))
    }
}

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pair = s.serialize_tuple(2)?;
        pair.serialize_element(&Clock(self.start).to_string())?;
        pair.serialize_element(&Clock(self.end).to_string())?;
        pair.end()
    }
}

struct RangeAfter<'a>(&'a [Range]);

impl<'de> DeserializeSeed<'de> for RangeAfter<'_> {
    type Value = Range;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Range, D::Error> {
        let (Clock(start), Clock(end)) = <(Clock, Clock)>::deserialize(d)?;
        let range = Range { start, end };
        let refuse = |expected: &str| {
            de::Error::invalid_value(Unexpected::Other(&format!("the range {range}")), &expected)
        };
        if self.0.len() >= MAX_RANGES_A_DAY {
            return Err(refuse(&format!("at most {MAX_RANGES_A_DAY} ranges a day")));
        }
        if start >= end {
            return Err(refuse("a range that starts before it ends"));
        }
        if let Some(other) = self.0.iter().find(|o| o.start < end && start < o.end) {
            return Err(refuse(&format!("a range that does not overlap {other}")));
        }
        Ok(range)
    }
}

/// "HH:MM" from 00:00 to 24:00, as minutes after midnight.
struct Clock(u16);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let parsed = raw
            .split_once(':')
            .filter(|(h, m)| h.len() == 2 && m.len() == 2)
            .and_then(|(h, m)| Some((h.parse::<u16>().ok()?, m.parse::<u16>().ok()?)))
            .filter(|&(h, m)| (h < 24 && m < 60) || (h, m) == (24, 0));
        parsed.map(|(h, m)| Clock(h * 60 + m)).ok_or_else(|| {
            de::Error::invalid_value(Unexpected::Str(&raw), &"a time HH:MM from 00:00 to 24:00")
        })
    }
}

/// Whole days closed, kept in date order.
#[derive(Debug, Clone, Default, PartialEq)]
struct ClosedDates(Vec<Date>);

impl Serialize for ClosedDates {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Date::to_string))
    }
}

impl<'de> Deserialize<'de> for ClosedDates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DatesVisitor;
        impl<'de> Visitor<'de> for DatesVisitor {
            type Value = ClosedDates;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of YYYY-MM-DD dates")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClosedDates, A::Error> {
                let mut dates: Vec<Date> = Vec::new();
                while let Some(date) = seq.next_element_seed(DateAfter(&dates))? {
                    dates.push(date);
                }
                dates.sort();
                Ok(ClosedDates(dates))
            }
        }
        d.deserialize_seq(DatesVisitor)
    }
}

struct DateAfter<'a>(&'a [Date]);

impl<'de> DeserializeSeed<'de> for DateAfter<'_> {
    type Value = Date;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Date, D::Error> {
        let raw = String::deserialize(d)?;
        let refuse = |expected: &str| de::Error::invalid_value(Unexpected::Str(&raw), &expected);
        // Only the one spelling, so what is read back is what was sent.
        let date = raw
            .parse::<Date>()
            .ok()
            .filter(|date| date.to_string() == raw)
            .ok_or_else(|| refuse("a date YYYY-MM-DD"))?;
        if self.0.len() >= MAX_CLOSED_DATES {
            return Err(refuse(&format!("at most {MAX_CLOSED_DATES} closed dates")));
        }
        if self.0.contains(&date) {
            return Err(refuse("dates without repeats"));
        }
        Ok(date)
    }
}

impl utoipa::PartialSchema for Hours {
    fn schema() -> RefOr<Schema> {
        let time = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"));
        let range = ArrayBuilder::new()
            .items(time)
            .min_items(Some(2))
            .max_items(Some(2));
        let day: Schema = ArrayBuilder::new()
            .items(range)
            .max_items(Some(MAX_RANGES_A_DAY))
            .description(Some("Ranges [start, end]; [] or a missing day is closed."))
            .into();
        let weekly = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            .into_iter()
            .fold(ObjectBuilder::new(), |o, name| {
                o.property(name, day.clone())
            });
        let dates = ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
            )
            .max_items(Some(MAX_CLOSED_DATES))
            .unique_items(true);
        ObjectBuilder::new()
            .property(
                "timezone",
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .examples([DEFAULT_ZONE]),
            )
            .required("timezone")
            .property("weekly", weekly)
            .required("weekly")
            .property("closed_dates", dates)
            .description(Some(
                "Opening hours in the business's zone; null means always open.",
            ))
            .into()
    }
}

impl ToSchema for Hours {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hours(weekly: serde_json::Value, closed_dates: serde_json::Value) -> Hours {
        serde_json::from_value(json!({
            "timezone": "Asia/Jerusalem", "weekly": weekly, "closed_dates": closed_dates
        }))
        .unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn closes_at(h: &Hours, at: &str) -> Timestamp {
        match h.status_at(utc(at)) {
            OpenStatus::Open { closes_at } => closes_at.timestamp(),
            closed => panic!("closed at {at}: {closed:?}"),
        }
    }

    fn opens_at(h: &Hours, at: &str) -> Option<Timestamp> {
        match h.status_at(utc(at)) {
            OpenStatus::Closed { opens_at } => opens_at.map(|z| z.timestamp()),
            open => panic!("open at {at}: {open:?}"),
        }
    }

    /// The path serde_path_to_error names, as the API's 422 does.
    fn refused_at(body: serde_json::Value) -> String {
        let e = serde_path_to_error::deserialize::<_, Hours>(body).unwrap_err();
        assert!(e.inner().to_string().starts_with("invalid value"), "{e}");
        e.path().to_string()
    }

    #[test]
    fn sunday_0630_utc_is_0930_in_summer_and_0830_after_the_clocks_go_back() {
        // "פתוח בראשון 09:00–18:00": שבוע לפני סוף שעון הקיץ 06:30 UTC היא 09:30 בישראל,
        // ובבוקר שבו השעון חוזר אחורה היא 08:30 — עוד סגור.
        let h = hours(json!({ "sun": [["09:00", "18:00"]] }), json!([]));
        assert!(h.is_open(utc("2026-10-18T06:30:00Z")));
        assert!(!h.is_open(utc("2026-10-25T06:30:00Z")));
        assert_eq!(
            opens_at(&h, "2026-10-25T06:30:00Z"),
            Some(utc("2026-10-25T07:00:00Z")),
            "09:00 in winter time is 07:00 UTC"
        );
        assert_eq!(
            closes_at(&h, "2026-10-18T06:30:00Z"),
            utc("2026-10-18T15:00:00Z")
        );
    }

    #[test]
    fn a_range_through_the_spring_forward_gap_closes_when_the_clock_jumps() {
        // ביום שישי 27.3.2026 השעון קופץ מ-02:00 ל-03:00: טווח 01:30–02:30
        // נסגר ברגע הקפיצה, כי 02:30 לא מגיעה באותו לילה.
        let h = hours(json!({ "fri": [["01:30", "02:30"]] }), json!([]));
        assert!(h.is_open(utc("2026-03-26T23:45:00Z")), "01:45 local");
        assert_eq!(
            closes_at(&h, "2026-03-26T23:45:00Z"),
            utc("2026-03-27T00:00:00Z")
        );
        assert!(!h.is_open(utc("2026-03-27T00:15:00Z")), "03:15 local");
        assert_eq!(
            opens_at(&h, "2026-03-26T23:00:00Z"),
            Some(utc("2026-03-26T23:30:00Z"))
        );
    }

    #[test]
    fn an_hour_that_happens_twice_is_open_both_times() {
        // ב-25.10.2026 השעה 01:00–02:00 עוברת פעמיים (02:00 קיץ → 01:00 חורף).
        let h = hours(json!({ "sun": [["01:15", "01:45"]] }), json!([]));
        assert!(h.is_open(utc("2026-10-24T22:30:00Z")), "01:30 summer time");
        assert_eq!(
            closes_at(&h, "2026-10-24T22:30:00Z"),
            utc("2026-10-24T22:45:00Z")
        );
        assert_eq!(
            opens_at(&h, "2026-10-24T22:50:00Z"),
            Some(utc("2026-10-24T23:15:00Z")),
            "01:15 again, in winter time"
        );
        assert!(h.is_open(utc("2026-10-24T23:30:00Z")), "01:30 winter time");
        assert_eq!(
            closes_at(&h, "2026-10-24T23:30:00Z"),
            utc("2026-10-24T23:45:00Z")
        );
    }

    #[test]
    fn a_closed_date_closes_the_whole_day_and_the_next_opening_skips_the_weekend() {
        // חג המולד 2026 נופל ביום שישי; שבת סגורה; נפתחים שוב בראשון 27.12.
        let h = hours(
            json!({ "thu": [["09:00", "18:00"]], "fri": [["09:00", "13:00"]], "sun": [["09:00", "18:00"]] }),
            json!(["2026-12-25"]),
        );
        assert!(
            !h.is_open(utc("2026-12-25T08:00:00Z")),
            "10:00 on the closed Friday"
        );
        assert_eq!(
            opens_at(&h, "2026-12-25T08:00:00Z"),
            Some(utc("2026-12-27T07:00:00Z"))
        );
        assert_eq!(
            closes_at(&h, "2026-12-24T15:00:00Z"),
            utc("2026-12-24T16:00:00Z")
        );
        assert_eq!(
            h.opening_line_he(utc("2026-12-25T08:00:00Z")).unwrap(),
            "אנחנו סגורים עכשיו, ניפתח ביום ראשון ב-09:00."
        );
    }

    #[test]
    fn a_lunch_break_closes_between_two_ranges_of_one_day() {
        // יום שני 30.11.2026: 09:00–12:30 ו-14:00–18:00, נשלחו לא לפי הסדר.
        let h = hours(
            json!({ "mon": [["14:00", "18:00"], ["09:00", "12:30"]] }),
            json!([]),
        );
        assert_eq!(
            closes_at(&h, "2026-11-30T08:00:00Z"),
            utc("2026-11-30T10:30:00Z")
        );
        assert_eq!(
            h.opening_line_he(utc("2026-11-30T10:45:00Z")).unwrap(),
            "אנחנו סגורים עכשיו, ניפתח היום ב-14:00."
        );
        assert_eq!(h.opening_line_he(utc("2026-11-30T12:00:00Z")), None, "open");
        assert_eq!(
            serde_json::to_value(&h).unwrap()["weekly"]["mon"],
            json!([["09:00", "12:30"], ["14:00", "18:00"]])
        );
    }

    #[test]
    fn ranges_that_meet_at_midnight_close_at_the_end_of_the_second() {
        let h = hours(
            json!({ "thu": [["20:00", "24:00"]], "fri": [["00:00", "02:00"]] }),
            json!([]),
        );
        // חמישי 3.12.2026 ב-23:00 (21:00 UTC): פתוח עד 02:00 בשישי.
        assert_eq!(
            closes_at(&h, "2026-12-03T21:00:00Z"),
            utc("2026-12-04T00:00:00Z")
        );
    }

    #[test]
    fn describe_he_tells_the_day_the_time_and_until_when_the_business_is_open() {
        let h = hours(
            json!({ "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]] }),
            json!(["2026-12-25", "2027-03-01"]),
        );
        // שלישי 1.12.2026, 14:05 שעון ישראל (חורף, UTC+2).
        let open = describe_he(Some(&h), utc("2026-12-01T12:05:00Z"));
        assert!(
            open.starts_with(
                "היום יום שלישי, 1 בדצמבר 2026, השעה 14:05. העסק פתוח עכשיו עד 18:00."
            ),
            "{open}"
        );
        assert!(open.contains("שלישי 09:00–18:00"), "{open}");
        assert!(open.contains("שבת סגור"), "{open}");
        assert!(
            open.contains("25 בדצמבר 2026"),
            "closed within 30 days: {open}"
        );
        assert!(
            !open.contains("2027"),
            "closed dates beyond 30 days stay out: {open}"
        );

        let closed = describe_he(Some(&h), utc("2026-12-01T17:00:00Z"));
        assert!(
            closed.contains("העסק סגור עכשיו. ייפתח מחר, יום רביעי, ב-09:00."),
            "{closed}"
        );

        let always = describe_he(None, utc("2026-12-01T12:05:00Z"));
        assert!(
            always.starts_with("היום יום שלישי, 1 בדצמבר 2026, השעה 14:05."),
            "{always}"
        );
        assert!(always.contains("זמין בכל שעה"), "{always}");
    }

    #[test]
    fn a_schedule_round_trips_and_a_missing_day_is_closed() {
        let sent = json!({
            "timezone": "Asia/Jerusalem",
            "weekly": { "sun": [["09:00", "18:00"]], "fri": [["09:00", "13:00"]] },
            "closed_dates": ["2026-12-25"],
        });
        let h: Hours = serde_json::from_value(sent).unwrap();
        let back = serde_json::to_value(&h).unwrap();
        assert_eq!(back["weekly"]["sun"], json!([["09:00", "18:00"]]));
        assert_eq!(back["weekly"]["mon"], json!([]), "missing is closed");
        assert_eq!(back["closed_dates"], json!(["2026-12-25"]));
        assert_eq!(serde_json::from_value::<Hours>(back).unwrap(), h);
        assert!(!h.is_open(utc("2026-11-30T10:00:00Z")), "Monday");
    }

    #[test]
    fn a_bad_zone_time_overlap_or_date_is_refused_at_its_own_path() {
        let body = |weekly: serde_json::Value, zone: &str, dates: serde_json::Value| json!({ "timezone": zone, "weekly": weekly, "closed_dates": dates });
        let z = "Asia/Jerusalem";
        let seven: Vec<[String; 2]> = (1..=7)
            .map(|h| [format!("{h:02}:00"), format!("{h:02}:30")])
            .collect();
        for (sent, path) in [
            (body(json!({}), "Mars/Olympus", json!([])), "timezone"),
            (
                body(
                    json!({ "mon": [["09:00", "12:00"], ["11:00", "14:00"]] }),
                    z,
                    json!([]),
                ),
                "weekly.mon[1]",
            ),
            (
                body(json!({ "mon": [["09:00", "25:00"]] }), z, json!([])),
                "weekly.mon[0][1]",
            ),
            (
                body(json!({ "mon": [["18:00", "09:00"]] }), z, json!([])),
                "weekly.mon[0]",
            ),
            (
                body(json!({ "mon": [["24:00", "24:00"]] }), z, json!([])),
                "weekly.mon[0]",
            ),
            (body(json!({ "sun": seven }), z, json!([])), "weekly.sun[6]"),
            (body(json!({}), z, json!(["2026-02-30"])), "closed_dates[0]"),
            (
                body(json!({}), z, json!(["2026-12-25", "2026-12-25"])),
                "closed_dates[1]",
            ),
        ] {
            assert_eq!(refused_at(sent.clone()), path, "{sent}");
        }
    }
}
