//! Pipeline flow (waterfall) between two times.
//!
//! The *pipeline for a period* at time *t* is every opportunity that exists at
//! *t*, is open at *t*, and — when a period is given — whose close date as of
//! *t* falls in the period. [`flow`] walks every opportunity's changes between
//! `from` and `to` in time order; each change that moves it into or out of the
//! pipeline, or changes its amount while in it, is one item in a
//! **membership** bucket:
//!
//! * while in: `amount_up` / `amount_down`;
//! * entering: `new` (created after `from`), `reopened` (closed
//!   at `from`), `restored` (deleted at `from`), `pulled_in` (its close date
//!   was after the period), `pushed_in` (slipped in from an earlier period),
//!   `other_in` (e.g. a close date that was blank);
//! * leaving: `deleted`, `won`, `lost`, `pushed_out` (slipped:
//!   close date moved after the period), `pulled_out` (moved before it),
//!   `other_out`.
//!
//! Changes while in the pipeline also land in count-only **movement** buckets:
//! `stage_advanced` / `stage_regressed`, `forecast_category_up` / `_down`,
//! `owner_changed`. Amounts are summed in fixed point (1/10,000 of a currency
//! unit), so `start + Σ membership buckets = end` holds exactly, in amount and
//! in count — for the whole pipeline and for every single opportunity.

use crate::asof::{Cut, in_force};
use crate::log::{EventLog, FieldColumn, Values};
use pipewise_model::{Date, Field, ForecastCategory, SalesProcess, StageOutcome};
use rayon::prelude::*;

/// Amounts in fixed point: 1/10,000 of a currency unit.
pub type Fixed = i128;
/// Fixed-point scale of amounts in a flow: 1/10,000 of a currency unit.
pub const FIXED_SCALE: f64 = 10_000.0;

/// `x` in units of 1/10,000, rounded half away from zero (as `f64::round`),
/// with native instructions only: the float-to-i128 conversion and `round`
/// are library calls, and as-of totals convert one amount per deal and cut.
pub fn to_fixed(x: f64) -> Fixed {
    const EXACT: f64 = 4_503_599_627_370_496.0; // 2^52: below it, y - trunc(y) is exact
    let y = x * FIXED_SCALE;
    if y.abs() < EXACT {
        let t = y as i64; // toward zero
        let f = y - t as f64;
        (if f >= 0.5 {
            t + 1
        } else if f <= -0.5 {
            t - 1
        } else {
            t
        }) as Fixed
    } else {
        y as Fixed // (an integer already; NaN is 0)
    }
}

/// A fixed-point amount as a float.
pub fn from_fixed(x: Fixed) -> f64 {
    x as f64 / FIXED_SCALE
}

/// Why a deal's membership in the pipeline or its amount changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)] // each bucket is described in the module doc
pub enum Bucket {
    Start,
    New,
    Reopened,
    Restored,
    PulledIn,
    PushedIn,
    OtherIn,
    AmountUp,
    AmountDown,
    Won,
    Lost,
    Deleted,
    PushedOut,
    PulledOut,
    OtherOut,
    End,
    StageAdvanced,
    StageRegressed,
    ForecastCategoryUp,
    ForecastCategoryDown,
    OwnerChanged,
}

impl Bucket {
    /// Every bucket, in the waterfall's order.
    pub const ALL: [Bucket; 21] = [
        Bucket::Start,
        Bucket::New,
        Bucket::Reopened,
        Bucket::Restored,
        Bucket::PulledIn,
        Bucket::PushedIn,
        Bucket::OtherIn,
        Bucket::AmountUp,
        Bucket::AmountDown,
        Bucket::Won,
        Bucket::Lost,
        Bucket::Deleted,
        Bucket::PushedOut,
        Bucket::PulledOut,
        Bucket::OtherOut,
        Bucket::End,
        Bucket::StageAdvanced,
        Bucket::StageRegressed,
        Bucket::ForecastCategoryUp,
        Bucket::ForecastCategoryDown,
        Bucket::OwnerChanged,
    ];

    /// The bucket's name in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Start => "start",
            Bucket::New => "new",
            Bucket::Reopened => "reopened",
            Bucket::Restored => "restored",
            Bucket::PulledIn => "pulled_in",
            Bucket::PushedIn => "pushed_in",
            Bucket::OtherIn => "other_in",
            Bucket::AmountUp => "amount_up",
            Bucket::AmountDown => "amount_down",
            Bucket::Won => "won",
            Bucket::Lost => "lost",
            Bucket::Deleted => "deleted",
            Bucket::PushedOut => "pushed_out",
            Bucket::PulledOut => "pulled_out",
            Bucket::OtherOut => "other_out",
            Bucket::End => "end",
            Bucket::StageAdvanced => "stage_advanced",
            Bucket::StageRegressed => "stage_regressed",
            Bucket::ForecastCategoryUp => "forecast_category_up",
            Bucket::ForecastCategoryDown => "forecast_category_down",
            Bucket::OwnerChanged => "owner_changed",
        }
    }

    /// Does this bucket carry membership (amount and count) rather than a movement?
    pub fn is_membership(self) -> bool {
        !matches!(
            self,
            Bucket::Start
                | Bucket::End
                | Bucket::StageAdvanced
                | Bucket::StageRegressed
                | Bucket::ForecastCategoryUp
                | Bucket::ForecastCategoryDown
                | Bucket::OwnerChanged
        )
    }
}

/// One opportunity's place in the flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowItem {
    /// Which bucket.
    pub bucket: Bucket,
    /// The deal's key in the log.
    pub opportunity_key: u32,
    /// +1 entered, −1 left, 0 otherwise.
    pub count: i64,
    /// Its amount (fixed point): what it adds to or takes from the pipeline.
    pub amount: Fixed,
}

/// A bucket's totals in a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketTotal {
    /// Which bucket.
    pub bucket: Bucket,
    /// Opportunities in the bucket.
    pub deals: i64,
    /// Change in the pipeline's deal count (start and end: the count itself).
    pub count: i64,
    /// Change in the pipeline's amount (start and end: the amount itself).
    pub amount: Fixed,
}

/// The pipeline waterfall between two times: start, each bucket, end, and the items behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// start, the membership buckets in order, end, then the movement buckets.
    pub totals: Vec<BucketTotal>,
    /// Every item, in deal key and time order.
    pub items: Vec<FlowItem>,
}

/// An opportunity's pipeline-relevant state at one cut.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Snap {
    exists: bool,
    deleted: bool,
    created_after: bool,
    stage: Option<usize>,
    outcome: StageOutcome,
    fc: Option<usize>,
    owner: Option<u32>,
    close: Option<Date>,
    amount: Fixed,
}

/// What [`snap`] reads, looked up once per flow rather than per deal: the
/// fields' columns and, per text code, its stage and forecast-category rank.
struct Columns<'a> {
    log: &'a EventLog,
    process: &'a SalesProcess,
    deleted: Option<&'a FieldColumn>,
    /// The stage column and each of its events' stage code.
    stage: Option<(&'a FieldColumn, crate::asof::StageCodes<'a>)>,
    fc: Option<(&'a FieldColumn, Vec<Option<usize>>)>,
    close: Option<&'a FieldColumn>,
    amount: Option<&'a FieldColumn>,
    owner: Option<&'a FieldColumn>,
}

fn fc_rank(c: ForecastCategory) -> Option<usize> {
    ForecastCategory::ALL.iter().position(|x| *x == c)
}

impl<'a> Columns<'a> {
    fn new(log: &'a EventLog, process: &'a SalesProcess) -> Columns<'a> {
        // A text column with what each of its dictionary's values means.
        let coded = |f: Field, meaning: &dyn Fn(&str) -> Option<usize>| {
            log.column(&f).map(|c| {
                let codes = match &c.new {
                    Values::Text { dict, .. } => dict.iter().map(|v| meaning(v)).collect(),
                    _ => Vec::new(),
                };
                (c, codes)
            })
        };
        Columns {
            log,
            process,
            deleted: log.column(&Field::IsDeleted),
            stage: log
                .column(&Field::Stage)
                .map(|c| (c, crate::asof::StageCodes::new(log, process))),
            fc: coded(Field::ForecastCategory, &|v| {
                ForecastCategory::parse(v).and_then(fc_rank)
            }),
            close: log.column(&Field::CloseDate),
            amount: log.column(&Field::Amount),
            owner: log.column(&Field::OwnerId),
        }
    }
}

/// The meaning of the text value in force (`None`: no value, or none known).
fn coded(column: &Option<(&FieldColumn, Vec<Option<usize>>)>, key: u32, cut: Cut) -> Option<usize> {
    let (c, meaning) = column.as_ref()?;
    let i = in_force(c, key, cut)?;
    match &c.new {
        Values::Text { codes, .. } if codes[i] != crate::log::NULL_TEXT => {
            meaning.get(codes[i] as usize).copied().flatten()
        }
        _ => None,
    }
}

fn snap(cols: &Columns, key: u32, cut: Cut) -> Snap {
    let (log, process) = (cols.log, cols.process);
    let k = key as usize;
    let created_after = log.keys.created_at[k] > cut.effective;
    let deleted = cols
        .deleted
        .and_then(|c| in_force(c, key, cut).map(|i| (c, i)))
        .is_some_and(|(c, i)| matches!(&c.new, Values::Bool(v) if v[i] == 1));
    let stage = cols
        .stage
        .as_ref()
        .and_then(|(c, codes)| codes.get(in_force(c, key, cut)?));
    let outcome = stage
        .map(|s| process.outcome(s))
        .unwrap_or(StageOutcome::Open);
    let fc = coded(&cols.fc, key, cut)
        .or_else(|| stage.and_then(|s| fc_rank(process.stages()[s].forecast_category)));
    let close = cols.close.and_then(|c| {
        let i = in_force(c, key, cut)?;
        match &c.new {
            Values::Date(v) if v[i] != crate::log::NULL_DATE => Some(v[i]),
            _ => None,
        }
    });
    let amount = cols
        .amount
        .and_then(|c| {
            let i = in_force(c, key, cut)?;
            match &c.new {
                Values::Number(v) if !v[i].is_nan() => Some(to_fixed(v[i])),
                _ => None,
            }
        })
        .unwrap_or(0);
    let owner = cols.owner.and_then(|c| {
        let i = in_force(c, key, cut)?;
        match &c.new {
            Values::Text { codes, .. } if codes[i] != crate::log::NULL_TEXT => Some(codes[i]),
            _ => None,
        }
    });
    Snap {
        // the same rule as asof::exists, from the pieces already looked up
        exists: !created_after
            && cut
                .recorded
                .is_none_or(|r| log.keys.first_recorded_at[k] <= r)
            && !deleted,
        deleted,
        created_after,
        stage,
        outcome,
        fc,
        owner,
        close,
        amount,
    }
}

fn in_pipeline(s: &Snap, period: Option<(Date, Date)>) -> bool {
    s.exists
        && s.outcome == StageOutcome::Open
        && match period {
            None => true,
            Some((a, b)) => s.close.is_some_and(|d| d >= a && d <= b),
        }
}

/// Fields [`flow`] needs loaded.
pub fn fields() -> Vec<Field> {
    vec![
        Field::Stage,
        Field::Amount,
        Field::CloseDate,
        Field::ForecastCategory,
        Field::OwnerId,
        Field::IsDeleted,
        Field::Pipeline,
    ]
}

/// Distinct effective times of an opportunity's events in (from, to], in order.
fn change_times(log: &EventLog, all: &[&FieldColumn], key: u32, from: Cut, to: Cut) -> Vec<i64> {
    let mut ts: Vec<i64> = Vec::new();
    for c in all {
        for i in c.run(key) {
            let t = c.effective_at[i];
            if t > from.effective
                && t <= to.effective
                && to.recorded.is_none_or(|r| c.recorded_at[i] <= r)
            {
                ts.push(t);
            }
        }
    }
    let created = log.keys.created_at[key as usize];
    if created > from.effective && created <= to.effective {
        ts.push(created);
    }
    ts.sort_unstable();
    ts.dedup();
    ts
}

/// The flow of the pipeline for `period` (first and last day, inclusive; all
/// open deals when `None`) from `from` to `to`. Each opportunity's changes in
/// (from, to] are walked in time order, so a deal created and won inside the
/// window shows as `new` and `won`, and one won then reopened as both.
pub fn flow(
    log: &EventLog,
    process: &SalesProcess,
    from: Cut,
    to: Cut,
    period: Option<(Date, Date)>,
) -> Flow {
    flow_of(log, process, from, to, period, &|_| true)
}

/// [`flow`] of the deals whose keys `admit` accepts (a team's pipeline: the
/// server's row-level scope), computed over those deals alone.
pub fn flow_of(
    log: &EventLog,
    process: &SalesProcess,
    from: Cut,
    to: Cut,
    period: Option<(Date, Date)>,
    admit: &(dyn Fn(u32) -> bool + Sync),
) -> Flow {
    let cols = Columns::new(log, process);
    let all: Vec<&FieldColumn> = log.columns.values().collect();
    // Deals are independent: fixed key ranges on rayon's pool, items in key
    // order (a range that panics fails the flow, never a bucket short).
    const CHUNK: u32 = 1 << 14;
    let n = log.keys.len() as u32;
    let items: Vec<FlowItem> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let a = c * CHUNK;
            flow_items(&cols, &all, a..(a + CHUNK).min(n), from, to, period, admit)
        })
        .collect::<Vec<Vec<FlowItem>>>()
        .concat();
    let totals = Bucket::ALL
        .iter()
        .map(|&bucket| {
            let (deals, count, amount) = items.iter().filter(|i| i.bucket == bucket).fold(
                (0i64, 0i64, 0 as Fixed),
                |(d, c, a), i| {
                    (
                        d + 1,
                        c + if bucket.is_membership() { i.count } else { 1 },
                        a + i.amount,
                    )
                },
            );
            BucketTotal {
                bucket,
                deals,
                count,
                amount,
            }
        })
        .collect();
    Flow { totals, items }
}

/// The flow items of the deals `keys`, in key order.
fn flow_items(
    cols: &Columns,
    all: &[&FieldColumn],
    keys: std::ops::Range<u32>,
    from: Cut,
    to: Cut,
    period: Option<(Date, Date)>,
    admit: &(dyn Fn(u32) -> bool + Sync),
) -> Vec<FlowItem> {
    let mut items = Vec::new();
    for key in keys.filter(|&k| admit(k)) {
        let mut s = snap(cols, key, from);
        let mut member = in_pipeline(&s, period);
        let times = change_times(cols.log, all, key, from, to);
        if !member && times.is_empty() {
            continue;
        }
        let item = |bucket, count, amount| FlowItem {
            bucket,
            opportunity_key: key,
            count,
            amount,
        };
        if member {
            items.push(item(Bucket::Start, 1, s.amount));
        }
        for t in times {
            let n = snap(
                cols,
                key,
                Cut {
                    effective: t,
                    recorded: to.recorded,
                },
            );
            let next_member = in_pipeline(&n, period);
            match (member, next_member) {
                (true, true) => {
                    let d = n.amount - s.amount;
                    if d > 0 {
                        items.push(item(Bucket::AmountUp, 0, d));
                    } else if d < 0 {
                        items.push(item(Bucket::AmountDown, 0, d));
                    }
                    if let (Some(x), Some(y)) = (s.stage, n.stage) {
                        if y > x {
                            items.push(item(Bucket::StageAdvanced, 0, 0));
                        } else if y < x {
                            items.push(item(Bucket::StageRegressed, 0, 0));
                        }
                    }
                    if let (Some(x), Some(y)) = (s.fc, n.fc) {
                        if y > x {
                            items.push(item(Bucket::ForecastCategoryUp, 0, 0));
                        } else if y < x {
                            items.push(item(Bucket::ForecastCategoryDown, 0, 0));
                        }
                    }
                    if s.owner != n.owner {
                        items.push(item(Bucket::OwnerChanged, 0, 0));
                    }
                }
                (false, true) => {
                    let bucket = if !s.exists && s.created_after {
                        Bucket::New
                    } else if s.deleted {
                        Bucket::Restored
                    } else if s.exists && s.outcome != StageOutcome::Open {
                        Bucket::Reopened
                    } else {
                        match (period, s.close) {
                            (Some((_, end)), Some(d)) if d > end => Bucket::PulledIn,
                            (Some((start, _)), Some(d)) if d < start => Bucket::PushedIn,
                            _ => Bucket::OtherIn,
                        }
                    };
                    items.push(item(bucket, 1, n.amount));
                }
                (true, false) => {
                    let bucket = if n.deleted {
                        Bucket::Deleted
                    } else if n.outcome == StageOutcome::Won {
                        Bucket::Won
                    } else if n.outcome == StageOutcome::Lost {
                        Bucket::Lost
                    } else {
                        match (period, n.close) {
                            (Some((_, end)), Some(d)) if d > end => Bucket::PushedOut,
                            (Some((start, _)), Some(d)) if d < start => Bucket::PulledOut,
                            _ => Bucket::OtherOut,
                        }
                    };
                    items.push(item(bucket, -1, -s.amount));
                }
                (false, false) => {}
            }
            s = n;
            member = next_member;
        }
        if member {
            items.push(item(Bucket::End, 1, s.amount));
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_rounds_as_f64_round() {
        let mut xs = vec![
            0.0,
            0.00005,
            -0.00005,
            0.000049999,
            1.23456,
            -1.23455,
            0.1,
            1e10 + 0.00015,
            4.5e11,
            4.6e11 + 0.5,
            1e20,
            -1e20,
            123_456.789_05,
            // y = 0.49999999999999994 after scaling: adding ½ would round to 1
            0.49999999999999994 / FIXED_SCALE,
        ];
        // and a spread of amounts, cents and fractions of cents
        let mut state: u64 = 42;
        for _ in 0..100_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi((state % 15) as i32 - 4);
            xs.push(if state & 1 == 0 {
                mantissa * scale
            } else {
                -mantissa * scale
            });
        }
        for x in xs {
            assert_eq!(to_fixed(x), (x * FIXED_SCALE).round() as Fixed, "{x}");
        }
        assert_eq!(to_fixed(f64::NAN), 0);
    }
}
