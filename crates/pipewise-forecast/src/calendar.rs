//! Forecast periods and their weeks.
//!
//! A forecast is for a fiscal quarter: the workspace's own fiscal calendar
//! where the CRM defines one (4-4-5 quarters), else the standard quarters of
//! its fiscal year start month. Week `w` of a quarter is forecast at the
//! start of its first day (00:00 UTC of day `7·(w − 1) + 1`): week 1's
//! forecast is made as the quarter opens, before anything in it has closed.

use pipewise_model::time::{
    MICROS_PER_DAY, date_end, date_of, date_start, fiscal_quarter, fiscal_quarter_bounds,
    format_date,
};
use pipewise_model::{Date, FiscalCalendar, Timestamp};
use pipewise_score::deals::rows::Period;
use serde::Serialize;

/// A fiscal quarter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarter {
    /// Its name: `2026-Q3` (calendar-year quarters) or `FY2027-Q1`.
    pub label: String,
    /// First day.
    pub first: Date,
    /// Last day.
    pub last: Date,
}

impl Quarter {
    /// The quarter holding day `d`.
    pub fn containing(d: Date, fiscal_start_month: u32, calendar: &FiscalCalendar) -> Quarter {
        if let Some(y) = calendar.year_of(d)
            && let Some((i, &(first, last))) = y
                .quarters
                .iter()
                .enumerate()
                .find(|(_, (a, b))| *a <= d && d <= *b)
        {
            return Quarter {
                label: format!("FY{}-Q{}", y.name, i + 1),
                first,
                last,
            };
        }
        let (fy, q) = fiscal_quarter(d, fiscal_start_month);
        let (first, last) = fiscal_quarter_bounds(fy, q, fiscal_start_month).unwrap_or((d, d));
        let label = if fiscal_start_month == 1 {
            format!("{fy}-Q{q}")
        } else {
            format!("FY{fy}-Q{q}")
        };
        Quarter { label, first, last }
    }

    /// The quarter before this one.
    pub fn previous(&self, fiscal_start_month: u32, calendar: &FiscalCalendar) -> Quarter {
        Quarter::containing(self.first - 1, fiscal_start_month, calendar)
    }

    /// The quarter after this one.
    pub fn next(&self, fiscal_start_month: u32, calendar: &FiscalCalendar) -> Quarter {
        Quarter::containing(self.last + 1, fiscal_start_month, calendar)
    }

    /// As the score crate's period.
    pub fn period(&self) -> Period {
        Period {
            first: self.first,
            last: self.last,
        }
    }

    /// Its first instant.
    pub fn start(&self) -> Timestamp {
        date_start(self.first)
    }

    /// Its last instant.
    pub fn end(&self) -> Timestamp {
        date_end(self.last)
    }

    /// Days in it.
    pub fn days(&self) -> i32 {
        self.last - self.first + 1
    }

    /// How many weeks it has (a 92-day quarter has a 14th week of one day).
    pub fn weeks(&self) -> u32 {
        (self.days().max(1) as u32).div_ceil(7)
    }

    /// When week `w` (1-based) is forecast: the start of its first day.
    pub fn week_cut(&self, w: u32) -> Timestamp {
        date_start(self.first + 7 * (w as i32 - 1))
    }

    /// The week of the quarter instant `t` falls in (1 at its start; `t`
    /// before the quarter is week 1, after it the last week).
    pub fn week_of(&self, t: Timestamp) -> u32 {
        let d = (t - self.start()).div_euclid(MICROS_PER_DAY);
        ((d / 7) as u32 + 1).clamp(1, self.weeks())
    }

    /// Whether day `d` is in it.
    pub fn holds(&self, d: Date) -> bool {
        self.first <= d && d <= self.last
    }

    /// `2026-07-01..2026-09-30`.
    pub fn range(&self) -> String {
        format!("{}..{}", format_date(self.first), format_date(self.last))
    }
}

/// The quarter holding instant `t`.
pub fn quarter_at(t: Timestamp, fiscal_start_month: u32, calendar: &FiscalCalendar) -> Quarter {
    Quarter::containing(date_of(t), fiscal_start_month, calendar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewise_model::time::ymd;

    #[test]
    fn quarters_and_their_weeks() {
        let cal = FiscalCalendar::default();
        let d = ymd(2026, 8, 15).unwrap();
        let q = Quarter::containing(d, 1, &cal);
        assert_eq!(q.label, "2026-Q3");
        assert_eq!(q.range(), "2026-07-01..2026-09-30");
        assert_eq!(q.days(), 92);
        assert_eq!(q.weeks(), 14);
        assert_eq!(q.week_cut(1), q.start());
        assert_eq!(q.week_of(q.start()), 1);
        assert_eq!(q.week_of(q.week_cut(2) - 1), 1);
        assert_eq!(q.week_of(q.week_cut(2)), 2);
        assert_eq!(q.week_of(q.end()), 14);
        assert_eq!(q.previous(1, &cal).label, "2026-Q2");
        assert_eq!(q.next(1, &cal).label, "2026-Q4");
        // a fiscal year starting in February: August 2026 is in FY2027's third quarter
        let f = Quarter::containing(d, 2, &cal);
        assert_eq!(f.label, "FY2027-Q3");
        assert_eq!(f.range(), "2026-08-01..2026-10-31");
    }
}
