//! Time in pipewise: instants are microseconds since the Unix epoch (UTC),
//! calendar dates are days since the epoch. Both match Arrow's
//! `Timestamp(Microsecond, "UTC")` and `Date32`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;
/// Days since 1970-01-01.
pub type Date = i32;

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a day.
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

/// A UTC date-time as a timestamp.
pub fn timestamp_from_naive(dt: NaiveDateTime) -> Timestamp {
    dt.and_utc().timestamp_micros()
}

/// A timestamp as a UTC date-time.
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
    if let Some(t) = fast_iso(s, end_of_day) {
        return Some(t);
    }
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

/// The common shapes without a format parser: `2025-03-04`,
/// `2025-03-04T09:30:00Z` and `2025-03-04T09:30:00.000Z` (also with a space
/// for the `T`, or no `Z`). Anything else is left to the general parser.
fn fast_iso(s: &str, end_of_day: bool) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let d = date_from_naive(date);
    if b.len() == 10 {
        return Some(if end_of_day {
            date_end(d)
        } else {
            date_start(d)
        });
    }
    if !(b[10] == b'T' || b[10] == b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (k, &c) in frac[..n].iter().enumerate() {
            if k < 6 {
                micros = micros * 10 + u32::from(c - b'0');
            }
        }
        for _ in n..6 {
            micros *= 10;
        }
        rest = &frac[n..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None; // an offset: the general parser converts it
    }
    Some(
        date_start(d) + i64::from(h * 3600 + mi * 60 + sec) * MICROS_PER_SECOND + i64::from(micros),
    )
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
        let Some((y, q)) = rest.split_once(['-', ' ']) else {
            // a whole fiscal year
            let fy: i32 = rest.parse().ok()?;
            let (a, _) = fiscal_quarter_bounds(fy, 1, fiscal_start_month)?;
            let (_, b) = fiscal_quarter_bounds(fy, 4, fiscal_start_month)?;
            return Some((a, b));
        };
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

/// A time grain periods can be split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the grains are their names
pub enum Grain {
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    /// Fiscal quarters (calendar quarters when the fiscal year starts in January).
    Quarter,
    FiscalYear,
}

impl Grain {
    /// `week`, `month`, `quarter`, `year` or `fiscal_year`.
    pub fn parse(s: &str) -> Option<Grain> {
        match s {
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            "quarter" => Some(Grain::Quarter),
            "fiscal_year" | "year" => Some(Grain::FiscalYear),
            _ => None,
        }
    }
}

fn add_months(d: Date, months: i32) -> Option<Date> {
    let nd = naive_from_date(d);
    let m0 = nd.year() * 12 + nd.month0() as i32 + months;
    ymd(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1)
}

/// The grain period containing `d`: its label, first and last day.
pub fn grain_period(
    d: Date,
    grain: Grain,
    fiscal_start_month: u32,
) -> Option<(String, Date, Date)> {
    let nd = naive_from_date(d);
    Some(match grain {
        Grain::Week => {
            let start = d - nd.weekday().num_days_from_monday() as i32;
            let w = nd.iso_week();
            (format!("{}-W{:02}", w.year(), w.week()), start, start + 6)
        }
        Grain::Month => {
            let start = ymd(nd.year(), nd.month(), 1)?;
            (
                format!("{}-{:02}", nd.year(), nd.month()),
                start,
                add_months(start, 1)? - 1,
            )
        }
        Grain::Quarter => {
            let (fy, q) = fiscal_quarter(d, fiscal_start_month);
            let (a, b) = fiscal_quarter_bounds(fy, q, fiscal_start_month)?;
            let label = if fiscal_start_month == 1 {
                format!("{fy}-Q{q}")
            } else {
                format!("FY{fy}-Q{q}")
            };
            (label, a, b)
        }
        Grain::FiscalYear => {
            let (fy, _) = fiscal_quarter(d, fiscal_start_month);
            let (a, _) = fiscal_quarter_bounds(fy, 1, fiscal_start_month)?;
            let (_, b) = fiscal_quarter_bounds(fy, 4, fiscal_start_month)?;
            let label = if fiscal_start_month == 1 {
                format!("{fy}")
            } else {
                format!("FY{fy}")
            };
            (label, a, b)
        }
    })
}

/// The grain periods that overlap `first..=last`, whole, in order.
pub fn split_period(
    first: Date,
    last: Date,
    grain: Grain,
    fiscal_start_month: u32,
) -> Vec<(String, Date, Date)> {
    let mut out = Vec::new();
    let mut d = first;
    while d <= last {
        let Some(p) = grain_period(d, grain, fiscal_start_month) else {
            break;
        };
        d = p.2 + 1;
        out.push(p);
    }
    out
}

/// The period `steps` periods of the same length before (negative) or after
/// `first..=last`. Whole months (quarters, years) move by months, so 2026-Q3
/// shifted by −1 is 2026-Q2 and by −4 is 2025-Q3; other ranges move by days.
pub fn shift_period(first: Date, last: Date, steps: i32) -> Option<(Date, Date)> {
    let (a, b) = (naive_from_date(first), naive_from_date(last + 1));
    if a.day() == 1 && b.day() == 1 {
        let months = (b.year() * 12 + b.month0() as i32) - (a.year() * 12 + a.month0() as i32);
        let start = add_months(first, months * steps)?;
        let end = add_months(start, months)? - 1;
        return Some((start, end));
    }
    let len = last - first + 1;
    Some((first + len * steps, last + len * steps))
}

/// The same period a year earlier: whole months move by 12 months, other
/// ranges keep their month and day (29 February becomes the 28th).
pub fn year_earlier(first: Date, last: Date) -> Option<(Date, Date)> {
    let (a, b) = (naive_from_date(first), naive_from_date(last + 1));
    if a.day() == 1 && b.day() == 1 {
        return Some((add_months(first, -12)?, add_months(last + 1, -12)? - 1));
    }
    let back = |d: NaiveDate| {
        d.with_year(d.year() - 1)
            .or_else(|| d.pred_opt()?.with_year(d.year() - 1))
            .map(date_from_naive)
    };
    Some((back(a)?, back(naive_from_date(last))?))
}

/// Seconds since midnight expressed as a [`NaiveTime`], for formatting.
pub fn time_of_day(ts: Timestamp) -> NaiveTime {
    naive_from_timestamp(ts).time()
}

/// One fiscal year the CRM defines itself (a Salesforce custom fiscal year:
/// 4-4-5 quarters, 52/53-week years): its name (`FY2027` is 2027), dates,
/// quarters and months, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct FiscalYear {
    /// The fiscal year's name (the CRM's, e.g. 2027).
    pub name: i32,
    /// Its first day.
    pub start: Date,
    /// Its last day.
    pub end: Date,
    /// First and last day of each quarter, in order (may be empty).
    pub quarters: Vec<(Date, Date)>,
    /// First and last day of each fiscal month, in order (may be empty).
    pub months: Vec<(Date, Date)>,
}

/// The fiscal years a workspace's CRM defines itself. A year it holds is
/// read from it (`FY2027`, `FY2027-Q2`, quarters of `--every quarter`);
/// any other year follows the standard calendar of `fiscal_year_start_month`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiscalCalendar {
    years: Vec<FiscalYear>,
}

impl FiscalCalendar {
    /// A calendar of these years (in any order). Fails, saying why, when two
    /// years overlap or share a name, or a quarter or month lies outside its
    /// year.
    pub fn new(mut years: Vec<FiscalYear>) -> Result<FiscalCalendar, String> {
        years.sort_by_key(|y| y.start);
        for y in &mut years {
            if y.start > y.end {
                return Err(format!("fiscal year {} ends before it starts", y.name));
            }
            y.quarters.sort();
            y.months.sort();
            for (a, b) in y.quarters.iter().chain(&y.months) {
                if a < &y.start || b > &y.end || a > b {
                    return Err(format!(
                        "fiscal year {}: the period {}..{} is not within {}..{}",
                        y.name,
                        format_date(*a),
                        format_date(*b),
                        format_date(y.start),
                        format_date(y.end)
                    ));
                }
            }
        }
        for w in years.windows(2) {
            if w[1].start <= w[0].end {
                return Err(format!(
                    "fiscal years {} and {} overlap",
                    w[0].name, w[1].name
                ));
            }
        }
        let mut names: Vec<i32> = years.iter().map(|y| y.name).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two fiscal years are named {}", w[0]));
        }
        Ok(FiscalCalendar { years })
    }

    /// Whether the CRM defines no fiscal years of its own.
    pub fn is_empty(&self) -> bool {
        self.years.is_empty()
    }

    /// The years, in date order.
    pub fn years(&self) -> &[FiscalYear] {
        &self.years
    }

    /// The year named `name`.
    pub fn year(&self, name: i32) -> Option<&FiscalYear> {
        self.years.iter().find(|y| y.name == name)
    }

    /// The year holding `d`.
    pub fn year_of(&self, d: Date) -> Option<&FiscalYear> {
        self.years.iter().find(|y| y.start <= d && d <= y.end)
    }
}

/// [`parse_period`], with `FY<name>` and `FY<name>-Q<n>` read from `calendar`
/// when it holds that year (`None` for a quarter it lacks).
pub fn parse_period_in(
    s: &str,
    fiscal_start_month: u32,
    calendar: &FiscalCalendar,
) -> Option<(Date, Date)> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("FY").or_else(|| t.strip_prefix("fy")) {
        let (y, q) = match rest.split_once(['-', ' ']) {
            Some((y, q)) => (y, Some(q)),
            None => (rest, None),
        };
        if let Some(year) = y.parse().ok().and_then(|fy: i32| calendar.year(fy)) {
            return match q {
                None => Some((year.start, year.end)),
                Some(q) => {
                    let n: usize = q.trim_start_matches(['Q', 'q']).parse().ok()?;
                    year.quarters.get(n.checked_sub(1)?).copied()
                }
            };
        }
    }
    parse_period(s, fiscal_start_month)
}

/// [`grain_period`], with quarters and fiscal years of a year `calendar`
/// holds read from it (labelled `FY<name>-Q<n>`, `FY<name>`).
pub fn grain_period_in(
    d: Date,
    grain: Grain,
    fiscal_start_month: u32,
    calendar: &FiscalCalendar,
) -> Option<(String, Date, Date)> {
    if let Some(y) = calendar.year_of(d) {
        match grain {
            Grain::FiscalYear => return Some((format!("FY{}", y.name), y.start, y.end)),
            Grain::Quarter => {
                if let Some((i, (a, b))) = y
                    .quarters
                    .iter()
                    .enumerate()
                    .find(|(_, (a, b))| *a <= d && d <= *b)
                {
                    return Some((format!("FY{}-Q{}", y.name, i + 1), *a, *b));
                }
            }
            Grain::Week | Grain::Month => {}
        }
    }
    grain_period(d, grain, fiscal_start_month)
}

/// [`split_period`] over [`grain_period_in`].
pub fn split_period_in(
    first: Date,
    last: Date,
    grain: Grain,
    fiscal_start_month: u32,
    calendar: &FiscalCalendar,
) -> Vec<(String, Date, Date)> {
    let mut out = Vec::new();
    let mut d = first;
    while d <= last {
        let Some(p) = grain_period_in(d, grain, fiscal_start_month, calendar) else {
            break;
        };
        // A standard period running into a custom year stops where it starts.
        let end = match calendar
            .years()
            .iter()
            .find(|y| y.start > p.1 && y.start <= p.2)
        {
            Some(y) => y.start - 1,
            None => p.2,
        };
        d = end + 1;
        out.push((p.0, p.1, end));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fast_iso_path_reads_as_the_general_parser_does() {
        // The general parser alone (chrono), as the fast path must agree with it.
        let general = |s: &str, eod: bool| -> Option<Timestamp> {
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                let d = date_from_naive(d);
                return Some(if eod { date_end(d) } else { date_start(d) });
            }
            if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(dt.timestamp_micros());
            }
            for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                if let Ok(dt) = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), fmt) {
                    return Some(timestamp_from_naive(dt));
                }
            }
            None
        };
        for s in [
            "2025-03-04",
            "2024-02-29",
            "2025-03-04T09:30:00Z",
            "2025-03-04T09:30:00.000Z",
            "2025-03-04T09:30:00.123456Z",
            "2025-03-04T09:30:00.1Z",
            "2025-03-04 23:59:59",
            "2025-12-31T00:00:00",
        ] {
            for eod in [false, true] {
                assert_eq!(fast_iso(s, eod), general(s, eod), "{s}");
                assert!(fast_iso(s, eod).is_some(), "{s}");
            }
        }
        // Not its to read: no date, no such day, offsets, odd shapes.
        for s in [
            "2025-02-30",
            "2025-13-01",
            "2025-03-04T24:00:00Z",
            "2025-03-04T09:30:00+01:00",
            "03/04/2025",
            "2025-3-4",
        ] {
            assert_eq!(fast_iso(s, false), None, "{s}");
        }
        assert_eq!(
            parse_iso_instant("2025-03-04T09:30:00+01:00", false),
            parse_iso_instant("2025-03-04T08:30:00Z", false)
        );
    }

    use super::*;

    fn d(s: &str) -> Date {
        date_from_naive(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn grains_split_and_shift() {
        let fq = |a, b| (format_date(a), format_date(b));
        let w = split_period(d("2026-06-30"), d("2026-07-13"), Grain::Week, 1);
        let got: Vec<_> = w.iter().map(|(l, a, b)| (l.clone(), fq(*a, *b))).collect();
        assert_eq!(
            got,
            vec![
                (
                    "2026-W27".to_string(),
                    ("2026-06-29".into(), "2026-07-05".into())
                ),
                (
                    "2026-W28".to_string(),
                    ("2026-07-06".into(), "2026-07-12".into())
                ),
                (
                    "2026-W29".to_string(),
                    ("2026-07-13".into(), "2026-07-19".into())
                ),
            ]
        );
        let q = split_period(d("2026-01-15"), d("2026-05-01"), Grain::Quarter, 2);
        let labels: Vec<_> = q.iter().map(|(l, a, b)| (l.as_str(), fq(*a, *b))).collect();
        assert_eq!(
            labels,
            vec![
                ("FY2026-Q4", ("2025-11-01".into(), "2026-01-31".into())),
                ("FY2027-Q1", ("2026-02-01".into(), "2026-04-30".into())),
                ("FY2027-Q2", ("2026-05-01".into(), "2026-07-31".into())),
            ]
        );
        let y = split_period(d("2026-03-01"), d("2026-03-01"), Grain::FiscalYear, 2);
        assert_eq!(
            (y[0].0.as_str(), fq(y[0].1, y[0].2)),
            ("FY2027", ("2026-02-01".into(), "2027-01-31".into()))
        );
        assert_eq!(parse_period("FY2027", 2), Some((y[0].1, y[0].2)));
        let m = split_period(d("2024-02-10"), d("2024-02-10"), Grain::Month, 1);
        assert_eq!(
            fq(m[0].1, m[0].2),
            ("2024-02-01".into(), "2024-02-29".into())
        );
        // Quarters shift by months, ranges by days.
        let q3 = parse_period("2026-Q3", 1).unwrap();
        assert_eq!(shift_period(q3.0, q3.1, -1), parse_period("2026-Q2", 1));
        assert_eq!(shift_period(q3.0, q3.1, -4), parse_period("2025-Q3", 1));
        let feb = parse_period("2026-03", 1).unwrap();
        assert_eq!(shift_period(feb.0, feb.1, -1), parse_period("2026-02", 1));
        assert_eq!(year_earlier(q3.0, q3.1), parse_period("2025-Q3", 1));
        assert_eq!(
            year_earlier(d("2024-02-29"), d("2024-03-10")),
            Some((d("2023-02-28"), d("2023-03-10")))
        );
        assert_eq!(
            shift_period(d("2026-07-05"), d("2026-07-14"), -1),
            Some((d("2026-06-25"), d("2026-07-04")))
        );
    }

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

    /// FY2027 as a 4-4-5 year of 52 weeks from Sunday 2026-02-01 (Salesforce
    /// custom fiscal year), after a standard FY2026 starting in February.
    fn retail() -> FiscalCalendar {
        let d = |s: &str| date_from_naive(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        let start = d("2026-02-01");
        let weeks = [4, 4, 5, 4, 4, 5, 4, 4, 5, 4, 4, 5];
        let mut months = Vec::new();
        let mut at = start;
        for w in weeks {
            months.push((at, at + 7 * w - 1));
            at += 7 * w;
        }
        let quarters = (0..4)
            .map(|q| (months[3 * q].0, months[3 * q + 2].1))
            .collect();
        FiscalCalendar::new(vec![FiscalYear {
            name: 2027,
            start,
            end: at - 1,
            quarters,
            months,
        }])
        .unwrap()
    }

    #[test]
    fn custom_fiscal_years() {
        let cal = retail();
        let d = |s: &str| date_from_naive(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        // 52 weeks: 2026-02-01 .. 2027-01-30
        assert_eq!(
            parse_period_in("FY2027", 2, &cal),
            Some((d("2026-02-01"), d("2027-01-30")))
        );
        // Q1 = 13 weeks
        assert_eq!(
            parse_period_in("FY2027-Q1", 2, &cal),
            Some((d("2026-02-01"), d("2026-05-02")))
        );
        assert_eq!(
            parse_period_in("FY2027-Q4", 2, &cal),
            Some((d("2026-11-01"), d("2027-01-30")))
        );
        assert_eq!(parse_period_in("FY2027-Q5", 2, &cal), None);
        // Other years: the standard calendar.
        assert_eq!(
            parse_period_in("FY2026-Q1", 2, &cal),
            parse_period("FY2026-Q1", 2)
        );
        assert_eq!(
            parse_period_in("2026-07", 2, &cal),
            parse_period("2026-07", 2)
        );
        assert_eq!(
            grain_period_in(d("2026-05-03"), Grain::Quarter, 2, &cal),
            Some(("FY2027-Q2".into(), d("2026-05-03"), d("2026-08-01")))
        );
        // Splitting across the switch: the standard FY2026-Q4 (Nov–Jan) runs
        // until the custom year starts.
        let parts = split_period_in(d("2025-12-01"), d("2026-06-30"), Grain::Quarter, 2, &cal);
        let labels: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(labels, ["FY2026-Q4", "FY2027-Q1", "FY2027-Q2"]);
        assert_eq!(parts[0].2, d("2026-01-31"));
        // Overlapping years are refused.
        let mut y = cal.years()[0].clone();
        y.name = 2028;
        y.start = d("2027-01-01");
        y.end = d("2027-12-31");
        y.quarters.clear();
        y.months.clear();
        let err = FiscalCalendar::new(vec![cal.years()[0].clone(), y]).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }
}
