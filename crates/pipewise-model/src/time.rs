//! Time in pipewise: instants are microseconds since the Unix epoch (UTC),
//! calendar dates are days since the epoch. Both match Arrow's
//! `Timestamp(Microsecond, "UTC")` and `Date32`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;
/// Days since 1970-01-01.
pub type Date = i32;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Days since the epoch for a calendar date.
pub fn date_from_naive(d: NaiveDate) -> Date {
    (d - epoch()).num_days() as Date
}

/// Calendar date of a day number.
pub fn naive_from_date(d: Date) -> NaiveDate {
    epoch() + chrono::Duration::days(i64::from(d))
}

/// Build a date from year, month and day; `None` when it does not exist.
pub fn ymd(year: i32, month: u32, day: u32) -> Option<Date> {
    NaiveDate::from_ymd_opt(year, month, day).map(date_from_naive)
}

/// Midnight UTC at the start of a date.
pub fn date_start(d: Date) -> Timestamp {
    i64::from(d) * MICROS_PER_DAY
}

/// The last microsecond of a date: "as of 2026-09-30" means the end of that day.
pub fn date_end(d: Date) -> Timestamp {
    date_start(d) + MICROS_PER_DAY - 1
}

/// The date an instant falls on (UTC).
pub fn date_of(ts: Timestamp) -> Date {
    ts.div_euclid(MICROS_PER_DAY) as Date
}

pub fn timestamp_from_naive(dt: NaiveDateTime) -> Timestamp {
    dt.and_utc().timestamp_micros()
}

pub fn naive_from_timestamp(ts: Timestamp) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(ts)
        .map(|d| d.naive_utc())
        .unwrap_or(NaiveDateTime::MIN)
}

/// ISO 8601 date, `2026-09-30`.
pub fn format_date(d: Date) -> String {
    naive_from_date(d).format("%Y-%m-%d").to_string()
}

/// ISO 8601 instant in UTC with second precision (microseconds when present).
pub fn format_timestamp(ts: Timestamp) -> String {
    let dt = naive_from_timestamp(ts);
    if ts.rem_euclid(MICROS_PER_SECOND) == 0 {
        dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Parse an ISO date (`2026-09-30`) or ISO instant (`2026-09-30T12:00:00Z`,
/// `2026-09-30 12:00:00`, with optional fraction and `Z`/offset). A bare date
/// means the *end* of that day when `end_of_day` is set (the natural reading of
/// "as of 2026-09-30"), its start otherwise.
pub fn parse_iso_instant(s: &str, end_of_day: bool) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = date_from_naive(d);
        return Some(if end_of_day {
            date_end(d)
        } else {
            date_start(d)
        });
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        let t = s.trim_end_matches('Z');
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(timestamp_from_naive(dt));
        }
    }
    None
}

/// Quarter (1–4) of a date within a fiscal year starting in `fiscal_start_month`.
/// Returns the fiscal year (named after the calendar year in which it ends,
/// the common convention) and the quarter.
pub fn fiscal_quarter(d: Date, fiscal_start_month: u32) -> (i32, u32) {
    let nd = naive_from_date(d);
    let m0 = (nd.month() + 12 - fiscal_start_month) % 12; // 0-based month in fiscal year
    let fy = if fiscal_start_month == 1 || nd.month() < fiscal_start_month {
        nd.year()
    } else {
        nd.year() + 1
    };
    (fy, m0 / 3 + 1)
}

/// First and last date of calendar quarter `q` (1–4) of `year`.
pub fn calendar_quarter_bounds(year: i32, q: u32) -> Option<(Date, Date)> {
    let start = ymd(year, (q - 1) * 3 + 1, 1)?;
    let next = if q == 4 {
        ymd(year + 1, 1, 1)?
    } else {
        ymd(year, q * 3 + 1, 1)?
    };
    Some((start, next - 1))
}

/// First and last date of fiscal quarter `q` (1–4) of fiscal year `fy`, for a
/// fiscal year starting in `start_month`; fiscal years are named after the
/// calendar year they end in (as [`fiscal_quarter`] does).
pub fn fiscal_quarter_bounds(fy: i32, q: u32, start_month: u32) -> Option<(Date, Date)> {
    if !(1..=4).contains(&q) || !(1..=12).contains(&start_month) {
        return None;
    }
    let first_year = if start_month == 1 { fy } else { fy - 1 };
    let m0 = (start_month - 1) + 3 * (q - 1); // months since January of first_year
    let (y, m) = (first_year + (m0 / 12) as i32, m0 % 12 + 1);
    let start = ymd(y, m, 1)?;
    let m1 = m0 + 3;
    let next = ymd(first_year + (m1 / 12) as i32, m1 % 12 + 1, 1)?;
    Some((start, next - 1))
}

/// Parse a period: `2026-Q3` (calendar quarter), `FY2027-Q1` (fiscal quarter),
/// `2026-07` (month), `2026` (year), or `2026-07-01..2026-09-30`.
pub fn parse_period(s: &str, fiscal_start_month: u32) -> Option<(Date, Date)> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once("..") {
        let a = NaiveDate::parse_from_str(a.trim(), "%Y-%m-%d").ok()?;
        let b = NaiveDate::parse_from_str(b.trim(), "%Y-%m-%d").ok()?;
        return (a <= b).then(|| (date_from_naive(a), date_from_naive(b)));
    }
    if let Some(rest) = s.strip_prefix("FY").or_else(|| s.strip_prefix("fy")) {
        let (y, q) = rest.split_once(['-', ' '])?;
        let q = q.trim_start_matches(['Q', 'q']).parse().ok()?;
        return fiscal_quarter_bounds(y.parse().ok()?, q, fiscal_start_month);
    }
    if let Some((y, q)) = s.split_once("-Q").or_else(|| s.split_once("-q")) {
        return calendar_quarter_bounds(
            y.parse().ok()?,
            q.parse().ok().filter(|q| (1..=4).contains(q))?,
        );
    }
    if let Some((y, m)) = s.split_once('-') {
        let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
        let start = ymd(y, m, 1)?;
        let next = if m == 12 {
            ymd(y + 1, 1, 1)?
        } else {
            ymd(y, m + 1, 1)?
        };
        return Some((start, next - 1));
    }
    let y: i32 = s.parse().ok()?;
    Some((ymd(y, 1, 1)?, ymd(y, 12, 31)?))
}

/// Seconds since midnight expressed as a [`NaiveTime`], for formatting.
pub fn time_of_day(ts: Timestamp) -> NaiveTime {
    naive_from_timestamp(ts).time()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_round_trip() {
        let d = ymd(2026, 9, 30).unwrap();
        assert_eq!(format_date(d), "2026-09-30");
        assert_eq!(date_of(date_end(d)), d);
        assert_eq!(date_of(date_start(d)), d);
        assert_eq!(ymd(1970, 1, 1), Some(0));
        assert_eq!(ymd(1969, 12, 31), Some(-1));
    }

    #[test]
    fn parse_instants() {
        let end = parse_iso_instant("2026-09-30", true).unwrap();
        assert_eq!(format_timestamp(end), "2026-09-30T23:59:59.999999Z");
        let t = parse_iso_instant("2026-09-30T12:00:00Z", true).unwrap();
        assert_eq!(format_timestamp(t), "2026-09-30T12:00:00Z");
        let t2 = parse_iso_instant("2026-09-30T14:00:00+02:00", true).unwrap();
        assert_eq!(t, t2);
        assert_eq!(parse_iso_instant("2026-09-30 12:00:00", true), Some(t));
        assert_eq!(parse_iso_instant("30/09/2026", true), None);
    }

    #[test]
    fn periods() {
        let d = |y, m, dd| ymd(y, m, dd).unwrap();
        assert_eq!(
            parse_period("2026-Q3", 1),
            Some((d(2026, 7, 1), d(2026, 9, 30)))
        );
        assert_eq!(
            parse_period("2026-02", 1),
            Some((d(2026, 2, 1), d(2026, 2, 28)))
        );
        assert_eq!(
            parse_period("2026", 1),
            Some((d(2026, 1, 1), d(2026, 12, 31)))
        );
        assert_eq!(
            parse_period("2026-01-05..2026-01-09", 1),
            Some((d(2026, 1, 5), d(2026, 1, 9)))
        );
        // FY2027 starting February: Q1 = Feb–Apr 2026, Q4 = Nov 2026–Jan 2027.
        assert_eq!(
            parse_period("FY2027-Q1", 2),
            Some((d(2026, 2, 1), d(2026, 4, 30)))
        );
        assert_eq!(
            parse_period("FY2027-Q4", 2),
            Some((d(2026, 11, 1), d(2027, 1, 31)))
        );
        assert_eq!(
            parse_period("FY2026-Q2", 1),
            Some((d(2026, 4, 1), d(2026, 6, 30)))
        );
        // consistent with fiscal_quarter
        for s in 1..=12 {
            for q in 1..=4 {
                let (a, b) = fiscal_quarter_bounds(2027, q, s).unwrap();
                assert_eq!(fiscal_quarter(a, s), (2027, q));
                assert_eq!(fiscal_quarter(b, s), (2027, q));
            }
        }
        assert_eq!(parse_period("2026-Q5", 1), None);
        assert_eq!(parse_period("soon", 1), None);
    }

    #[test]
    fn fiscal_quarters() {
        let d = ymd(2026, 2, 15).unwrap();
        assert_eq!(fiscal_quarter(d, 1), (2026, 1));
        // fiscal year starting February: Feb is Q1 of FY2027
        assert_eq!(fiscal_quarter(d, 2), (2027, 1));
        assert_eq!(fiscal_quarter(ymd(2026, 1, 31).unwrap(), 2), (2026, 4));
        assert_eq!(
            calendar_quarter_bounds(2026, 4),
            Some((ymd(2026, 10, 1).unwrap(), ymd(2026, 12, 31).unwrap()))
        );
    }
}
