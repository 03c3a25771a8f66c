//! Parsing dates, instants, numbers and booleans from export text.
//!
//! Numeric dates (`03/04/2025`, `3.4.25`, `03-04-2025 14:05`) are read in the
//! ingest's [`DateOrder`]. [`DateSniffer`] looks at every date of an ingest
//! first: a first part above 12 proves day-first, a second part above 12
//! proves month-first. When no value decides it, the ingest stops and asks for
//! `--date-order`; it never guesses.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use pipewise_model::time::{date_from_naive, timestamp_from_naive};
use pipewise_model::{Date, Timestamp};

/// How to read an all-numeric date such as 03/04/2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    /// 03/04/2025 is March 4th (US).
    MonthFirst,
    /// 03/04/2025 is April 3rd (most of the world).
    DayFirst,
}

impl DateOrder {
    /// `dmy`, `mdy` or `ymd`.
    pub fn parse(s: &str) -> Option<DateOrder> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "mdy" | "month_first" | "us" => Some(DateOrder::MonthFirst),
            "dmy" | "day_first" | "eu" => Some(DateOrder::DayFirst),
            _ => None,
        }
    }

    /// `dmy`, `mdy` or `ymd`.
    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::MonthFirst => "mdy",
            DateOrder::DayFirst => "dmy",
        }
    }
}

/// Split a numeric date `a/b/y` (separators `/`, `.`, `-`) and the rest.
fn numeric_parts(s: &str) -> Option<(u32, u32, i32, &str)> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut parts = [0u32; 3];
    let mut widths = [0usize; 3];
    for (k, part) in parts.iter_mut().enumerate() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 4 {
            return None;
        }
        *part = s[start..i].parse().ok()?;
        widths[k] = i - start;
        if k < 2 {
            if i >= bytes.len() || !matches!(bytes[i], b'/' | b'.' | b'-') {
                return None;
            }
            i += 1;
        }
    }
    if widths[0] > 2 || widths[1] > 2 {
        return None; // ISO (year first) is not a numeric a/b/y date
    }
    let year = match widths[2] {
        4 => parts[2] as i32,
        2 => {
            let y = parts[2] as i32;
            if y < 70 { 2000 + y } else { 1900 + y }
        }
        _ => return None,
    };
    Some((parts[0], parts[1], year, &s[i..]))
}

fn parse_time(rest: &str) -> Option<NaiveTime> {
    let t = rest.trim().trim_start_matches('T').trim();
    if t.is_empty() {
        return NaiveTime::from_hms_opt(0, 0, 0);
    }
    let t = t.trim_end_matches('Z');
    for f in [
        "%H:%M:%S%.f",
        "%H:%M:%S",
        "%H:%M",
        "%I:%M:%S %p",
        "%I:%M %p",
        "%I:%M:%S%p",
        "%I:%M%p",
    ] {
        if let Ok(x) = NaiveTime::parse_from_str(&t.to_uppercase(), f) {
            return Some(x);
        }
    }
    None
}

/// Collects evidence about the date order of an ingest.
#[derive(Debug, Default, Clone)]
pub struct DateSniffer {
    day_first_proof: Option<String>,
    month_first_proof: Option<String>,
    ambiguous: Option<String>,
    numeric: u64,
}

/// What the sniffer concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniffResult {
    /// No numeric dates: ISO only.
    NotNeeded,
    /// The order the dates prove.
    Decided(DateOrder),
    /// Numeric dates, none of which decides the order. Carries an example.
    Ambiguous(String),
    /// Both orders are proven: e.g. `13/01/2025` and `01/13/2025` in one export.
    Conflict(String, String),
}

impl DateSniffer {
    /// Look at one more raw date.
    pub fn feed(&mut self, raw: &str) {
        let Some((a, b, _, _)) = numeric_parts(raw) else {
            return;
        };
        self.numeric += 1;
        if a > 12 && b <= 12 {
            self.day_first_proof.get_or_insert_with(|| raw.to_string());
        } else if b > 12 && a <= 12 {
            self.month_first_proof
                .get_or_insert_with(|| raw.to_string());
        } else if a != b {
            self.ambiguous.get_or_insert_with(|| raw.to_string());
        }
    }

    /// What the dates seen so far say about their order.
    pub fn result(&self) -> SniffResult {
        match (&self.day_first_proof, &self.month_first_proof) {
            (Some(d), Some(m)) => SniffResult::Conflict(d.clone(), m.clone()),
            (Some(_), None) => SniffResult::Decided(DateOrder::DayFirst),
            (None, Some(_)) => SniffResult::Decided(DateOrder::MonthFirst),
            (None, None) => match &self.ambiguous {
                Some(ex) => SniffResult::Ambiguous(ex.clone()),
                // every numeric date has day == month (or there are none): either order reads them alike
                None if self.numeric > 0 => SniffResult::Decided(DateOrder::MonthFirst),
                None => SniffResult::NotNeeded,
            },
        }
    }
}

/// Parses dates and instants in one ingest's conventions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueParser {
    /// The order numeric dates are read in (`None`: only ISO dates).
    pub order: Option<DateOrder>,
    /// The zone of date-times written without one (`None`: UTC, as Salesforce
    /// Data Loader writes them; a HubSpot export writes the account's zone).
    pub zone: Option<chrono_tz::Tz>,
}

/// Whether a date-time says its zone (`Z`, `+02:00`, `-0500`) after its date.
fn has_offset(s: &str) -> bool {
    s.get(8..).is_some_and(|t| {
        t.contains(['Z', 'z', '+']) || t.find(['T', ' ']).is_some_and(|i| t[i..].contains('-'))
    })
}

impl ValueParser {
    /// An instant. ISO forms with `Z` or an offset are converted to UTC; forms
    /// without a zone are in [`ValueParser::zone`] (UTC when none is given).
    /// A local time that a daylight-saving change makes ambiguous is the
    /// earlier instant; one it skips is read with the offset before the change.
    pub fn instant(&self, raw: &str) -> Result<Timestamp, String> {
        let t = self.wall(raw)?;
        match self.zone {
            Some(z) if !has_offset(raw.trim()) => Ok(localize(z, t)),
            _ => Ok(t),
        }
    }

    /// A date-time as written: UTC when it says its zone, else its wall-clock
    /// reading (as if UTC).
    fn wall(&self, raw: &str) -> Result<Timestamp, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("empty".into());
        }
        if let Some(t) = pipewise_model::time::parse_iso_instant(s, false) {
            return Ok(t);
        }
        if let Some((a, b, y, rest)) = numeric_parts(s) {
            let order = self
                .order
                .ok_or_else(|| "numeric date but no date order is known".to_string())?;
            let (m, d) = match order {
                DateOrder::MonthFirst => (a, b),
                DateOrder::DayFirst => (b, a),
            };
            let date = NaiveDate::from_ymd_opt(y, m, d)
                .ok_or_else(|| format!("no such date ({} order)", order.as_str()))?;
            let time =
                parse_time(rest).ok_or_else(|| format!("unreadable time {:?}", rest.trim()))?;
            return Ok(timestamp_from_naive(NaiveDateTime::new(date, time)));
        }
        Err("not a date: expected ISO 2025-03-04, 2025-03-04T09:30:00Z or a numeric date like 03/04/2025".into())
    }

    /// A calendar date; a date-time is cut to its date as written (its UTC
    /// date when it says its zone): a close date is a date, never shifted by
    /// a zone.
    pub fn date(&self, raw: &str) -> Result<Date, String> {
        let s = raw.trim();
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(date_from_naive(d));
        }
        self.wall(s).map(pipewise_model::time::date_of)
    }
}

/// A wall-clock reading in `zone` (held as if UTC) as the instant it names.
fn localize(zone: chrono_tz::Tz, wall: Timestamp) -> Timestamp {
    use chrono::TimeZone;
    let naive = pipewise_model::time::naive_from_timestamp(wall);
    let hour = chrono::Duration::hours(1);
    let utc = zone
        .from_local_datetime(&naive)
        .earliest()
        .map(|d| d.naive_utc())
        // (in a spring-forward gap: an hour earlier is before it)
        .or_else(|| {
            zone.from_local_datetime(&(naive - hour))
                .earliest()
                .map(|d| d.naive_utc() + hour)
        })
        .unwrap_or(naive);
    timestamp_from_naive(utc)
}

/// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`).
pub fn parse_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("{name:?} is not an IANA time zone name; expected e.g. Europe/Berlin, America/New_York or UTC")
    })
}

/// A number as exports write it: `1200`, `1,200.50`, `$1,200`, `1.200,50`,
/// `(300)` is rejected as ambiguous accounting notation.
pub fn number(raw: &str) -> Result<f64, String> {
    let mut s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '$' | '€' | '£' | '¥' | ' ' | '\u{a0}' | '\''))
        .collect();
    for code in ["USD", "EUR", "GBP"] {
        s = s
            .trim_start_matches(code)
            .trim_end_matches(code)
            .to_string();
    }
    if s.is_empty() {
        return Err("empty".into());
    }
    let has_dot = s.contains('.');
    let has_comma = s.contains(',');
    let normalized = if has_dot && has_comma {
        if s.rfind(',') > s.rfind('.') {
            s.replace('.', "").replace(',', ".")
        } else {
            s.replace(',', "")
        }
    } else if has_comma {
        // "1,200" and "1,200,000" are thousands; "12,5" is a decimal comma.
        let groups: Vec<&str> = s.split(',').collect();
        if groups.len() > 1 && groups[1..].iter().all(|g| g.len() == 3) {
            s.replace(',', "")
        } else if groups.len() == 2 {
            s.replace(',', ".")
        } else {
            return Err("unreadable number".into());
        }
    } else {
        s
    };
    match normalized.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("not a number".into()),
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`.
pub fn boolean(raw: &str) -> Result<bool, String> {
    let r = raw.trim();
    let is = |words: &[&str]| words.iter().any(|w| r.eq_ignore_ascii_case(w));
    if is(&["true", "1", "yes", "y", "t", "on", "checked", "x"]) {
        Ok(true)
    } else if is(&["false", "0", "no", "n", "f", "off", "unchecked"]) {
        Ok(false)
    } else {
        Err("not true/false (nor yes/no, on/off, 1/0)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewise_model::time::{format_timestamp, ymd};

    #[test]
    fn sniffing_date_order() {
        let mut s = DateSniffer::default();
        s.feed("2025-03-04");
        assert_eq!(s.result(), SniffResult::NotNeeded);
        s.feed("03/04/2025");
        assert_eq!(s.result(), SniffResult::Ambiguous("03/04/2025".into()));
        s.feed("25/04/2025 10:00");
        assert_eq!(s.result(), SniffResult::Decided(DateOrder::DayFirst));
        s.feed("04/25/2025");
        assert!(matches!(s.result(), SniffResult::Conflict(_, _)));
        let mut same = DateSniffer::default();
        same.feed("01/01/2025");
        assert_eq!(same.result(), SniffResult::Decided(DateOrder::MonthFirst));
    }

    #[test]
    fn parsing_dates_in_both_orders() {
        let us = ValueParser {
            order: Some(DateOrder::MonthFirst),
            zone: None,
        };
        let eu = ValueParser {
            order: Some(DateOrder::DayFirst),
            zone: None,
        };
        assert_eq!(us.date("03/04/2025"), Ok(ymd(2025, 3, 4).unwrap()));
        assert_eq!(eu.date("03/04/2025"), Ok(ymd(2025, 4, 3).unwrap()));
        assert_eq!(eu.date("3.4.25"), Ok(ymd(2025, 4, 3).unwrap()));
        assert_eq!(us.date("2025-03-04"), Ok(ymd(2025, 3, 4).unwrap()));
        assert!(eu.date("13/13/2025").is_err());
        let t = us.instant("3/4/2025 2:05 PM").unwrap();
        assert_eq!(format_timestamp(t), "2025-03-04T14:05:00Z");
        let t = us.instant("2025-03-04T14:05:00.000Z").unwrap();
        assert_eq!(format_timestamp(t), "2025-03-04T14:05:00Z");
        let none = ValueParser::default();
        assert!(
            none.date("03/04/2025")
                .unwrap_err()
                .contains("no date order")
        );
        assert!(us.date("yesterday").is_err());
    }

    #[test]
    fn booleans_as_exports_write_them() {
        for t in [
            "true", "TRUE", "1", "Yes", "y", "t", "on", "ON", "checked", "x",
        ] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["false", "0", "no", "N", "f", "off", "Unchecked"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn date_times_in_a_zone() {
        let berlin = ValueParser {
            order: Some(DateOrder::DayFirst),
            zone: Some(parse_zone("Europe/Berlin").unwrap()),
        };
        let at = |s: &str| format_timestamp(berlin.instant(s).unwrap());
        // winter +01:00, summer +02:00
        assert_eq!(at("2025-01-10 09:00"), "2025-01-10T08:00:00Z");
        assert_eq!(at("2025-07-10T09:00:00"), "2025-07-10T07:00:00Z");
        assert_eq!(at("10.07.2025 09:00"), "2025-07-10T07:00:00Z");
        // a zone written out wins
        assert_eq!(at("2025-07-10T09:00:00Z"), "2025-07-10T09:00:00Z");
        assert_eq!(at("2025-07-10T09:00:00-05:00"), "2025-07-10T14:00:00Z");
        // 2025-10-26 02:30 happens twice: the first; 2025-03-30 02:30 never: read at +01:00
        assert_eq!(at("2025-10-26 02:30"), "2025-10-26T00:30:00Z");
        assert_eq!(at("2025-03-30 02:30"), "2025-03-30T01:30:00Z");
        // Past midnight local is still that day: a date is never shifted.
        assert_eq!(
            berlin.date("2025-04-01 00:30"),
            Ok(ymd(2025, 4, 1).unwrap())
        );
        assert_eq!(berlin.date("2025-04-01"), Ok(ymd(2025, 4, 1).unwrap()));
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }

    #[test]
    fn parsing_numbers() {
        assert_eq!(number("1200"), Ok(1200.0));
        assert_eq!(number("$1,100.04"), Ok(1100.04));
        assert_eq!(number("1.100,04"), Ok(1100.04));
        assert_eq!(number("12,5"), Ok(12.5));
        assert_eq!(number("-300"), Ok(-300.0));
        assert_eq!(number("1,234,567"), Ok(1_234_567.0));
        assert!(number("abc").is_err());
        assert!(number("NaN").is_err());
        assert!(number("").is_err());
    }
}
