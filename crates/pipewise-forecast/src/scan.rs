//! Reading the ledger at cuts: the deals open at a cut, the deals won in the
//! quarter by then, and — for past quarters — per-cell tallies of what
//! became of the deals open at each weekly cut.
//!
//! A cut reads the ledger as recorded by then when `known` (what a backtest
//! may see); a past quarter's outcomes are read as recorded by its last
//! instant (`known`), so a forecast at T learns only from quarters that had
//! ended, and been recorded, by T. `booked_now` is the quarter's bookings as
//! recorded today: the truth a backtest scores against.
//!
//! Every parallel loop runs over fixed chunks of deal keys whose results are
//! combined in chunk order, so sums are the same bytes on any core count.

use crate::calendar::Quarter;
use pipewise_ledger::asof::{StageCodes, exists_with, in_force};
use pipewise_ledger::{Cut, EventLog, FieldColumn, NULL_TEXT, Values};
use pipewise_model::time::MICROS_PER_DAY;
use pipewise_model::{Date, Field, ForecastCategory, SalesProcess, StageOutcome, Timestamp};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

const NULL_DATE: i32 = i32::MIN;
const CHUNK: usize = 8192;

/// Where a deal's close date falls against the quarter being forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dated {
    /// In the quarter, on or after the cut.
    InPeriod,
    /// After the quarter.
    Later,
    /// Before the cut: the date has passed and the deal is still open.
    Overdue,
    /// No close date.
    Undated,
}

impl Dated {
    /// Every value, in order.
    pub const ALL: [Dated; 4] = [
        Dated::InPeriod,
        Dated::Later,
        Dated::Overdue,
        Dated::Undated,
    ];

    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            Dated::InPeriod => "dated in the quarter",
            Dated::Later => "dated after the quarter",
            Dated::Overdue => "close date passed",
            Dated::Undated => "no close date",
        }
    }

    fn of(close: Option<Date>, cut: Timestamp, q: &Quarter) -> Dated {
        let today = pipewise_model::time::date_of(cut);
        match close {
            None => Dated::Undated,
            Some(d) if d < today => Dated::Overdue,
            Some(d) if d > q.last => Dated::Later,
            Some(_) => Dated::InPeriod,
        }
    }
}

/// Days-in-stage buckets (lower bounds), the pooled deal model's.
pub const BUCKETS: [f64; 5] = pipewise_score::deals::pooled::BUCKETS;

/// The bucket of a time in stage.
pub fn bucket_of(days: f64) -> u8 {
    BUCKETS.iter().rposition(|&b| days >= b).unwrap_or(0) as u8
}

/// A deal open at a cut.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenDeal {
    /// The ledger's key.
    pub key: u32,
    /// Stage code.
    pub stage: usize,
    /// When it entered the stage.
    pub entered: Timestamp,
    /// Its forecast category (its own, else its stage's).
    pub category: ForecastCategory,
    /// Its amount (0 when it has none: `amount_missing`).
    pub amount: f64,
    /// Whether the amount was missing.
    pub amount_missing: bool,
    /// Its close date.
    pub close: Option<Date>,
    /// Where the close date falls.
    pub dated: Dated,
    /// Segment (a code: [`Ledger::segment_name`]).
    pub segment: Option<u32>,
    /// Owner (a code: [`Ledger::owner_name`]).
    pub owner: Option<u32>,
    /// When it was created.
    pub created: Timestamp,
    /// How often its close date has been pushed later so far.
    pub pushes: u32,
}

impl OpenDeal {
    /// Days in its stage at `cut`.
    pub fn days_in_stage(&self, cut: Timestamp) -> f64 {
        (cut - self.entered) as f64 / MICROS_PER_DAY as f64
    }
}

/// A deal won in the quarter by the cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Won {
    /// The ledger's key.
    pub key: u32,
    /// Its amount when won.
    pub amount: f64,
    /// When it was won.
    pub at: Timestamp,
    /// Owner (a code).
    pub owner: Option<u32>,
    /// Segment (a code).
    pub segment: Option<u32>,
}

/// The deals at one cut of one quarter.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Open at the cut, in key order.
    pub open: Vec<OpenDeal>,
    /// Won in the quarter by the cut, in key order.
    pub won: Vec<Won>,
}

/// A cell of deals at a cut: what the rates are learned per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// Stage code.
    pub stage: u16,
    /// Forecast category (index in [`ForecastCategory::ALL`]).
    pub category: u8,
    /// Where the close date falls.
    pub dated: Dated,
    /// Segment code (`u32::MAX`: none).
    pub segment: u32,
    /// Days-in-stage bucket.
    pub bucket: u8,
}

impl CellKey {
    /// The cell of a deal open at `cut`.
    pub fn of(d: &OpenDeal, cut: Timestamp) -> CellKey {
        CellKey {
            stage: d.stage as u16,
            category: category_index(d.category),
            dated: d.dated,
            segment: d.segment.unwrap_or(u32::MAX),
            bucket: bucket_of(d.days_in_stage(cut)),
        }
    }
}

/// The index of a category in [`ForecastCategory::ALL`].
pub fn category_index(c: ForecastCategory) -> u8 {
    ForecastCategory::ALL
        .iter()
        .position(|&x| x == c)
        .unwrap_or(0) as u8
}

/// What became of the deals of one cell by the quarter's end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Deals.
    pub n: f64,
    /// Their amounts at the cut.
    pub amount: f64,
    /// Won in the quarter.
    pub won_n: f64,
    /// Their amounts when won.
    pub won_amount: f64,
    /// The won deals' amounts at the cut.
    pub won_amount_at_cut: f64,
    /// Lost (or deleted) in the quarter.
    pub lost_n: f64,
}

impl Tally {
    /// Add another tally to this one.
    pub fn add(&mut self, o: &Tally) {
        self.n += o.n;
        self.amount += o.amount;
        self.won_n += o.won_n;
        self.won_amount += o.won_amount;
        self.won_amount_at_cut += o.won_amount_at_cut;
        self.lost_n += o.lost_n;
    }

    /// Slipped past the quarter: neither won nor lost in it.
    pub fn slipped_n(&self) -> f64 {
        self.n - self.won_n - self.lost_n
    }
}

/// One weekly cut of a past quarter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekTally {
    /// Week of the quarter (1-based).
    pub week: u32,
    /// The cut.
    pub cut: Timestamp,
    /// The deals open at the cut, per cell, and what became of them; sorted.
    pub cells: Vec<(CellKey, Tally)>,
    /// Won in the quarter by the cut.
    pub won_so_far: f64,
    /// How many.
    pub won_so_far_n: f64,
    /// Created after the cut and won in the quarter: amount, count, and the
    /// amounts one by one (in key order).
    pub new_won: f64,
    /// How many.
    pub new_won_n: f64,
    /// Each, in key order.
    pub new_won_amounts: Vec<f64>,
    /// Created after the cut, by the quarter's end: amount and count.
    pub new_created: f64,
    /// How many.
    pub new_created_n: f64,
}

impl WeekTally {
    /// The sum of the cells `keep` accepts.
    pub fn sum(&self, keep: impl Fn(&CellKey) -> bool) -> Tally {
        let mut t = Tally::default();
        for (k, v) in &self.cells {
            if keep(k) {
                t.add(v);
            }
        }
        t
    }
}

/// A past quarter, week by week.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarterTally {
    /// The quarter.
    pub quarter: Quarter,
    /// The weeks asked for, in order.
    pub weeks: Vec<WeekTally>,
    /// Won in the quarter, as its outcomes were read (recorded by its end
    /// when `known`).
    pub booked: f64,
    /// Won in the quarter as recorded today: what a backtest scores against.
    pub booked_now: f64,
    /// How many deals were won in it (as recorded today).
    pub booked_now_n: f64,
    /// `booked` per (owner code, segment code) of the won deals
    /// (`u32::MAX`: none).
    pub booked_by: std::collections::BTreeMap<(u32, u32), f64>,
}

impl QuarterTally {
    /// Week `w`'s tally, if it was read.
    pub fn week(&self, w: u32) -> Option<&WeekTally> {
        self.weeks.iter().find(|t| t.week == w)
    }
}

/// Per stage: deals closed in a window that had been in that stage, and
/// how many of them were won.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversions {
    /// Per stage code: (won, closed).
    pub by_stage: Vec<(f64, f64)>,
}

/// The ledger, ready to be read at cuts.
pub struct Ledger<'a> {
    /// The event log.
    pub log: &'a EventLog,
    /// The sales process.
    pub process: &'a SalesProcess,
    codes: StageCodes<'a>,
    stage: Option<&'a FieldColumn>,
    amount: Option<&'a FieldColumn>,
    close: Option<&'a FieldColumn>,
    category: Option<&'a FieldColumn>,
    segment: Option<&'a FieldColumn>,
    owner: Option<&'a FieldColumn>,
    deleted: Option<&'a FieldColumn>,
    /// Per dictionary entry of the category column.
    category_codes: Vec<Option<ForecastCategory>>,
}

/// The ledger fields a forecast reads.
pub const FIELDS: [Field; 8] = [
    Field::Stage,
    Field::Pipeline,
    Field::Amount,
    Field::CloseDate,
    Field::ForecastCategory,
    Field::Segment,
    Field::OwnerId,
    Field::IsDeleted,
];

fn text_of(c: Option<&FieldColumn>, code: u32) -> &str {
    match c.map(|c| &c.new) {
        Some(Values::Text { dict, .. }) => dict.get(code as usize).map_or("", String::as_str),
        _ => "",
    }
}

impl<'a> Ledger<'a> {
    /// Read `log` (loaded with at least [`FIELDS`]; with recorded times for
    /// `known` cuts) in `process`.
    pub fn new(log: &'a EventLog, process: &'a SalesProcess) -> Ledger<'a> {
        let category = log.column(&Field::ForecastCategory);
        let category_codes = match category.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict
                .iter()
                .map(|s| ForecastCategory::parse_loose(s))
                .collect(),
            _ => Vec::new(),
        };
        Ledger {
            log,
            process,
            codes: StageCodes::new(log, process),
            stage: log.column(&Field::Stage),
            amount: log.column(&Field::Amount),
            close: log.column(&Field::CloseDate),
            category,
            segment: log.column(&Field::Segment),
            owner: log.column(&Field::OwnerId),
            deleted: log.column(&Field::IsDeleted),
            category_codes,
        }
    }

    /// The name of segment code `c`.
    pub fn segment_name(&self, c: u32) -> &str {
        text_of(self.segment, c)
    }

    /// The id of owner code `c`.
    pub fn owner_name(&self, c: u32) -> &str {
        text_of(self.owner, c)
    }

    /// The code of owner id `id`, if any deal has it.
    pub fn owner_code(&self, id: &str) -> Option<u32> {
        match self.owner.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict.iter().position(|s| s == id).map(|i| i as u32),
            _ => None,
        }
    }

    /// Every owner code's id.
    pub fn owner_names(&self) -> Vec<&str> {
        match self.owner.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Every segment code's name.
    pub fn segment_names(&self) -> Vec<&str> {
        match self.segment.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// How many deals the ledger has.
    pub fn len(&self) -> usize {
        self.log.keys.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.log.keys.is_empty()
    }

    /// A deal's id.
    pub fn id(&self, key: u32) -> &str {
        self.log.keys.id(key)
    }

    fn exists(&self, key: u32, cut: Cut) -> bool {
        exists_with(self.log, self.deleted, key, cut)
    }

    /// The stage code in force at `cut` and when it was entered.
    pub fn stage_at(&self, key: u32, cut: Cut) -> Option<(usize, Timestamp)> {
        let c = self.stage?;
        let i = in_force(c, key, cut)?;
        Some((self.codes.get(i)?, c.effective_at[i]))
    }

    fn code_at(&self, c: Option<&FieldColumn>, key: u32, cut: Cut) -> Option<u32> {
        let c = c?;
        let i = in_force(c, key, cut)?;
        match &c.new {
            Values::Text { codes, .. } if codes[i] != NULL_TEXT => Some(codes[i]),
            _ => None,
        }
    }

    fn amount_at(&self, key: u32, cut: Cut) -> Option<f64> {
        let c = self.amount?;
        let i = in_force(c, key, cut)?;
        match &c.new {
            Values::Number(v) if !v[i].is_nan() => Some(v[i]),
            _ => None,
        }
    }

    fn close_at(&self, key: u32, cut: Cut) -> (Option<Date>, u32) {
        let Some(c) = self.close else {
            return (None, 0);
        };
        let Values::Date(v) = &c.new else {
            return (None, 0);
        };
        // the date in force (the last visible value, even a cleared one),
        // and pushes: a date later than the last one set before it
        let (mut current, mut last, mut pushes) = (None, None, 0u32);
        for i in c.run(key) {
            if c.effective_at[i] > cut.effective {
                break;
            }
            if cut.recorded.is_some_and(|r| c.recorded_at[i] > r) {
                continue;
            }
            let d = (v[i] != NULL_DATE).then_some(v[i]);
            if let (Some(p), Some(d)) = (last, d)
                && d > p
            {
                pushes += 1;
            }
            if d.is_some() {
                last = d;
            }
            current = d;
        }
        (current, pushes)
    }

    /// The deal `key` if it is open at `cut`, as it stood then.
    pub fn open_deal(&self, key: u32, cut: Cut, q: &Quarter) -> Option<OpenDeal> {
        let created = self.log.keys.created_at[key as usize];
        if created > cut.effective || !self.exists(key, cut) {
            return None;
        }
        let (stage, entered) = self.stage_at(key, cut)?;
        if self.process.outcome(stage) != StageOutcome::Open {
            return None;
        }
        let category = self
            .code_at(self.category, key, cut)
            .and_then(|c| self.category_codes.get(c as usize).copied().flatten())
            .or_else(|| self.process.stage(stage).map(|s| s.forecast_category))
            .unwrap_or(ForecastCategory::Pipeline);
        let amount = self.amount_at(key, cut);
        let (close, pushes) = self.close_at(key, cut);
        Some(OpenDeal {
            key,
            stage,
            entered,
            category,
            amount: amount.unwrap_or(0.0),
            amount_missing: amount.is_none(),
            close,
            dated: Dated::of(close, cut.effective, q),
            segment: self.code_at(self.segment, key, cut),
            owner: self.code_at(self.owner, key, cut),
            created,
            pushes,
        })
    }

    /// The deal `key` if, at `cut`, it stands won, and was won in `q`.
    pub fn won_in(&self, key: u32, cut: Cut, q: &Quarter) -> Option<Won> {
        if self.log.keys.created_at[key as usize] > cut.effective || !self.exists(key, cut) {
            return None;
        }
        let (stage, at) = self.stage_at(key, cut)?;
        if self.process.outcome(stage) != StageOutcome::Won || at < q.start() || at > q.end() {
            return None;
        }
        Some(Won {
            key,
            amount: self.amount_at(key, cut).unwrap_or(0.0),
            at,
            owner: self.code_at(self.owner, key, cut),
            segment: self.code_at(self.segment, key, cut),
        })
    }

    /// Whether, at `cut`, the deal stands lost (or deleted), lost in `q`.
    fn lost_in(&self, key: u32, cut: Cut, q: &Quarter) -> bool {
        if !self.exists(key, cut) {
            return true;
        }
        matches!(self.stage_at(key, cut), Some((s, at))
            if self.process.outcome(s) == StageOutcome::Lost && at >= q.start())
    }

    /// The deals open at `cut` and those won in `q` by then.
    pub fn snapshot(&self, q: &Quarter, cut: Cut) -> Snapshot {
        let n = self.len();
        let parts: Vec<Snapshot> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut s = Snapshot::default();
                for key in (c * CHUNK) as u32..((c + 1) * CHUNK).min(n) as u32 {
                    if let Some(d) = self.open_deal(key, cut, q) {
                        s.open.push(d);
                    } else if let Some(w) = self.won_in(key, cut, q) {
                        s.won.push(w);
                    }
                }
                s
            })
            .collect();
        let mut out = Snapshot::default();
        for p in parts {
            out.open.extend(p.open);
            out.won.extend(p.won);
        }
        out
    }

    /// Whether deal `key` has no stage or deletion event that happened, or
    /// was recorded, from `from` on (so a state read at `from` still holds).
    fn quiet_since(&self, key: u32, from: Timestamp) -> bool {
        [self.stage, self.deleted].iter().flatten().all(|c| {
            c.run(key)
                .all(|i| c.effective_at[i] < from && c.recorded_at.get(i).is_none_or(|&r| r < from))
        })
    }

    /// Tally quarter `q` at the cuts of `weeks`, reading it as recorded by
    /// each cut (and its outcomes as recorded by its end) when `known`.
    pub fn tally(&self, q: &Quarter, weeks: &[u32], known: bool) -> QuarterTally {
        let n = self.len();
        let cut_at = |t: Timestamp| Cut {
            effective: t,
            recorded: known.then_some(t),
        };
        let end = cut_at(q.end());
        let now = Cut::at(q.end());
        let cuts: Vec<Timestamp> = weeks.iter().map(|&w| q.week_cut(w)).collect();
        #[derive(Default)]
        struct Part {
            cells: Vec<HashMap<CellKey, Tally>>,
            won_so_far: Vec<(f64, f64)>,
            new_won: Vec<(f64, f64, Vec<f64>)>,
            new_created: Vec<(f64, f64)>,
            booked: f64,
            booked_now: (f64, f64),
            booked_by: HashMap<(u32, u32), f64>,
        }
        let parts: Vec<Part> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut p = Part {
                    cells: vec![HashMap::new(); cuts.len()],
                    won_so_far: vec![(0.0, 0.0); cuts.len()],
                    new_won: vec![(0.0, 0.0, Vec::new()); cuts.len()],
                    new_created: vec![(0.0, 0.0); cuts.len()],
                    ..Part::default()
                };
                for key in (c * CHUNK) as u32..((c + 1) * CHUNK).min(n) as u32 {
                    let created = self.log.keys.created_at[key as usize];
                    if created > q.end() {
                        continue;
                    }
                    // closed before the quarter and untouched since: nothing to count
                    if let Some((s, at)) = self.stage_at(key, Cut::at(q.start()))
                        && self.process.outcome(s) != StageOutcome::Open
                        && at < q.start()
                        && self.quiet_since(key, q.start())
                    {
                        continue;
                    }
                    let won = self.won_in(key, end, q);
                    if let Some(w) = &won {
                        p.booked += w.amount;
                        let at = (w.owner.unwrap_or(u32::MAX), w.segment.unwrap_or(u32::MAX));
                        *p.booked_by.entry(at).or_default() += w.amount;
                    }
                    if let Some(w) = self.won_in(key, now, q) {
                        p.booked_now.0 += w.amount;
                        p.booked_now.1 += 1.0;
                    }
                    let lost = won.is_none() && self.lost_in(key, end, q);
                    for (j, &t) in cuts.iter().enumerate() {
                        let cut = cut_at(t);
                        if created > t {
                            if self.exists(key, end) {
                                let amount = self.amount_at(key, end).unwrap_or(0.0);
                                p.new_created[j].0 += amount;
                                p.new_created[j].1 += 1.0;
                            }
                            if let Some(w) = &won {
                                p.new_won[j].0 += w.amount;
                                p.new_won[j].1 += 1.0;
                                p.new_won[j].2.push(w.amount);
                            }
                        } else if let Some(d) = self.open_deal(key, cut, q) {
                            let e = p.cells[j].entry(CellKey::of(&d, t)).or_default();
                            e.n += 1.0;
                            e.amount += d.amount;
                            if let Some(w) = &won {
                                e.won_n += 1.0;
                                e.won_amount += w.amount;
                                e.won_amount_at_cut += d.amount;
                            } else if lost {
                                e.lost_n += 1.0;
                            }
                        } else if let Some(w) = self.won_in(key, cut, q) {
                            p.won_so_far[j].0 += w.amount;
                            p.won_so_far[j].1 += 1.0;
                        }
                    }
                }
                p
            })
            .collect();
        let mut cells: Vec<HashMap<CellKey, Tally>> = vec![HashMap::new(); cuts.len()];
        let mut weeks_out: Vec<WeekTally> = weeks
            .iter()
            .zip(&cuts)
            .map(|(&week, &cut)| WeekTally {
                week,
                cut,
                ..WeekTally::default()
            })
            .collect();
        let (mut booked, mut booked_now, mut booked_now_n) = (0.0, 0.0, 0.0);
        let mut booked_by = std::collections::BTreeMap::new();
        for p in parts {
            booked += p.booked;
            for (k, v) in &p.booked_by {
                *booked_by.entry(*k).or_default() += v;
            }
            booked_now += p.booked_now.0;
            booked_now_n += p.booked_now.1;
            for (j, w) in weeks_out.iter_mut().enumerate() {
                for (k, v) in &p.cells[j] {
                    cells[j].entry(*k).or_default().add(v);
                }
                w.won_so_far += p.won_so_far[j].0;
                w.won_so_far_n += p.won_so_far[j].1;
                w.new_won += p.new_won[j].0;
                w.new_won_n += p.new_won[j].1;
                w.new_won_amounts.extend(&p.new_won[j].2);
                w.new_created += p.new_created[j].0;
                w.new_created_n += p.new_created[j].1;
            }
        }
        for (w, c) in weeks_out.iter_mut().zip(cells) {
            let mut v: Vec<(CellKey, Tally)> = c.into_iter().collect();
            v.sort_by_key(|c| c.0);
            w.cells = v;
        }
        QuarterTally {
            quarter: q.clone(),
            weeks: weeks_out,
            booked,
            booked_now,
            booked_now_n,
            booked_by,
        }
    }

    /// Stage → won conversion as known at `t` (as recorded by then when
    /// `known`): among deals that closed in the `window_days` before `t`,
    /// per stage, how many had been in it and how many of those were won.
    pub fn conversions(&self, t: Timestamp, known: bool, window_days: i64) -> Conversions {
        let n = self.len();
        let stages = self.process.stages().len();
        let cut = Cut {
            effective: t,
            recorded: known.then_some(t),
        };
        let since = t - window_days * MICROS_PER_DAY;
        let Some(col) = self.stage else {
            return Conversions {
                by_stage: vec![(0.0, 0.0); stages],
            };
        };
        let parts: Vec<Vec<(f64, f64)>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut v = vec![(0.0, 0.0); stages];
                let mut seen = vec![false; stages];
                for key in (c * CHUNK) as u32..((c + 1) * CHUNK).min(n) as u32 {
                    if self.log.keys.created_at[key as usize] > t || !self.exists(key, cut) {
                        continue;
                    }
                    let Some((s, at)) = self.stage_at(key, cut) else {
                        continue;
                    };
                    let outcome = self.process.outcome(s);
                    if outcome == StageOutcome::Open || at < since {
                        continue;
                    }
                    seen.iter_mut().for_each(|x| *x = false);
                    for i in col.run(key) {
                        if col.effective_at[i] > t {
                            break;
                        }
                        if cut.recorded.is_some_and(|r| col.recorded_at[i] > r) {
                            continue;
                        }
                        if let Some(code) = self.codes.get(i)
                            && code < stages
                        {
                            seen[code] = true;
                        }
                    }
                    for (code, was) in seen.iter().enumerate() {
                        if *was {
                            v[code].1 += 1.0;
                            if outcome == StageOutcome::Won {
                                v[code].0 += 1.0;
                            }
                        }
                    }
                }
                v
            })
            .collect();
        let mut by_stage = vec![(0.0, 0.0); stages];
        for p in parts {
            for (a, b) in by_stage.iter_mut().zip(p) {
                a.0 += b.0;
                a.1 += b.1;
            }
        }
        Conversions { by_stage }
    }
}
