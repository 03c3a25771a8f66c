//! Deal rows (issue #12 §1): every deal open at a cut, with its features as
//! the ledger had recorded them by then, and what happened next — won in
//! the period of the cut, lost, or slipped past its end.
//!
//! A row at cut `t` reads the ledger through `Cut { effective: t, recorded:
//! known }` (with `known` = `t` for training rows: what was recorded by the
//! cut), activities that occurred by `t`, and nothing else of the future.
//! Its label reads the deal at the period's end as recorded by the label
//! time. Changing or adding events recorded after a cut cannot change that
//! cut's features (the test `deals_no_look_ahead` proves it on a ledger).

use super::history::DealHistory;
use crate::dataset::{Column, ColumnKind, Dataset, Values};
use pipewise_ledger::asof::{StageCodes, exists, in_force};
use pipewise_ledger::{Cut, EventLog, NULL_TEXT};

/// The ledger's null date (days since 1970).
const NULL_DATE: i32 = i32::MIN;
use pipewise_model::time::{
    MICROS_PER_DAY, date_end, date_of, fiscal_quarter, fiscal_quarter_bounds,
};
use pipewise_model::{Date, Field, ForecastCategory, StageOutcome, Timestamp};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What happened to a deal open at a cut, by the end of the cut's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Closed won by the period's end.
    Won,
    /// Closed lost (or deleted) by the period's end.
    Lost,
    /// Still open at the period's end (or closed after reopening).
    Slipped,
}

impl Outcome {
    /// All three, in the order probabilities are listed.
    pub const ALL: [Outcome; 3] = [Outcome::Won, Outcome::Lost, Outcome::Slipped];

    /// Its index in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        match self {
            Outcome::Won => 0,
            Outcome::Lost => 1,
            Outcome::Slipped => 2,
        }
    }
}

/// A forecast period: first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub first: Date,
    /// Last day.
    pub last: Date,
}

impl Period {
    /// The fiscal quarter holding instant `t`.
    pub fn quarter_of(t: Timestamp, fiscal_start_month: u32) -> Period {
        let d = date_of(t);
        let (fy, q) = fiscal_quarter(d, fiscal_start_month);
        let (first, last) = fiscal_quarter_bounds(fy, q, fiscal_start_month).unwrap_or((d, d));
        Period { first, last }
    }

    /// The period's last instant.
    pub fn end(&self) -> Timestamp {
        date_end(self.last)
    }
}

/// Deal rows: a dataset of features (its `target` is "won"), and per row the
/// deal, the cut, the period and the outcome.
#[derive(Debug, Clone)]
pub struct DealRows {
    /// The features, one column per feature.
    pub dataset: Dataset,
    /// Each row's deal key.
    pub keys: Vec<u32>,
    /// Each row's cut.
    pub cuts: Vec<Timestamp>,
    /// Each row's period.
    pub periods: Vec<Period>,
    /// Each row's outcome (`None` when its period had not ended by the label
    /// time).
    pub outcomes: Vec<Option<Outcome>>,
}

/// The names of the feature columns, in order.
pub const FEATURES: [&str; 23] = [
    "stage",
    "days in stage",
    "age in days",
    "amount",
    "amount changes",
    "amount against the first",
    "close date pushes",
    "days to close date",
    "close date in period",
    "forecast category",
    "business case",
    "segment",
    "type",
    "source",
    "activities in the last 30 days",
    "days since the last activity",
    "seller to buyer touches, last 90 days",
    "contacts engaged, last 90 days",
    "owner's win rate, last 365 days",
    "owner tenure in days",
    "industry",
    "employees",
    "days left in period",
];

/// One feature value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Num(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

/// Reads one cut of the ledger.
struct At<'a> {
    log: &'a EventLog,
    cut: Cut,
}

impl At<'_> {
    fn index(&self, f: &Field, key: u32) -> Option<(usize, &pipewise_ledger::FieldColumn)> {
        let c = self.log.column(f)?;
        in_force(c, key, self.cut).map(|i| (i, c))
    }

    fn text(&self, f: &Field, key: u32) -> Option<String> {
        let (i, c) = self.index(f, key)?;
        match &c.new {
            pipewise_ledger::Values::Text { dict, codes } if codes[i] != NULL_TEXT => {
                Some(dict[codes[i] as usize].clone())
            }
            _ => None,
        }
    }

    fn number(&self, f: &Field, key: u32) -> Option<f64> {
        let (i, c) = self.index(f, key)?;
        match &c.new {
            pipewise_ledger::Values::Number(v) if !v[i].is_nan() => Some(v[i]),
            _ => None,
        }
    }

    fn boolean(&self, f: &Field, key: u32) -> Option<bool> {
        let (i, c) = self.index(f, key)?;
        match &c.new {
            pipewise_ledger::Values::Bool(v) if v[i] <= 1 => Some(v[i] == 1),
            _ => None,
        }
    }

    /// The visible events of `f` for `key`, in order.
    fn visible<'b>(
        &'b self,
        c: &'b pipewise_ledger::FieldColumn,
        key: u32,
    ) -> impl Iterator<Item = usize> + 'b {
        c.run(key).filter(move |&i| {
            c.effective_at[i] <= self.cut.effective
                && self.cut.recorded.is_none_or(|r| c.recorded_at[i] <= r)
        })
    }
}

/// What rows are built with, computed once per run.
pub struct Builder<'a> {
    h: &'a DealHistory,
    stage_codes: StageCodes<'a>,
    /// Custom fields read as features, after the fixed ones.
    custom: Vec<Field>,
}

impl<'a> Builder<'a> {
    /// A builder over `h`, reading the custom fields named `custom`
    /// (`custom.<name>`) as features too.
    pub fn new(h: &'a DealHistory, custom: &[String]) -> Builder<'a> {
        Builder {
            h,
            stage_codes: StageCodes::new(&h.log, &h.process),
            custom: custom.iter().filter_map(|c| Field::parse(c)).collect(),
        }
    }

    /// The stage code in force at `cut` and when it was entered (for the
    /// audit).
    pub(crate) fn stage_at(&self, key: u32, cut: Cut) -> Option<(usize, Timestamp)> {
        self.stage(
            &At {
                log: &self.h.log,
                cut,
            },
            key,
        )
    }

    /// The stage code in force and when it was entered.
    fn stage(&self, at: &At, key: u32) -> Option<(usize, Timestamp)> {
        let (i, c) = at.index(&Field::Stage, key)?;
        Some((self.stage_codes.get(i)?, c.effective_at[i]))
    }

    /// The deals open at `cut`, in key order (only those in `keep`, when given).
    pub fn open_at(&self, cut: Cut, keep: Option<&(dyn Fn(u32) -> bool + Sync)>) -> Vec<u32> {
        let at = At {
            log: &self.h.log,
            cut,
        };
        (0..self.h.log.keys.len() as u32)
            .filter(|&k| keep.is_none_or(|f| f(k)))
            .filter(|&k| exists(&self.h.log, k, cut))
            .filter(|&k| {
                self.stage(&at, k)
                    .is_some_and(|(s, _)| self.h.process.outcome(s) == StageOutcome::Open)
            })
            .collect()
    }

    /// What happened to `key` by the end of `period`, as recorded by `known`.
    pub fn outcome(&self, key: u32, period: Period, known: Option<Timestamp>) -> Outcome {
        let cut = Cut {
            effective: period.end(),
            recorded: known,
        };
        if !exists(&self.h.log, key, cut) {
            return Outcome::Lost;
        }
        let at = At {
            log: &self.h.log,
            cut,
        };
        match self.stage(&at, key).map(|(s, _)| self.h.process.outcome(s)) {
            Some(StageOutcome::Won) => Outcome::Won,
            Some(StageOutcome::Lost) => Outcome::Lost,
            _ => Outcome::Slipped,
        }
    }

    /// Per owner: (won, closed) among deals that closed in the 365 days up
    /// to the cut, as recorded by then.
    fn owner_records(&self, cut: Cut) -> HashMap<String, (u32, u32)> {
        let at = At {
            log: &self.h.log,
            cut,
        };
        let since = cut.effective - 365 * MICROS_PER_DAY;
        // each deal's (owner's dictionary code, won) when it closed in the
        // window, in parallel; counts are integers, so the sums do not
        // depend on the order
        let Some(owner_column) = self.h.log.column(&Field::OwnerId) else {
            return HashMap::new();
        };
        let pipewise_ledger::Values::Text { dict, codes } = &owner_column.new else {
            return HashMap::new();
        };
        let closed: Vec<(u32, bool)> = (0..self.h.log.keys.len() as u32)
            .into_par_iter()
            .filter_map(|k| {
                if !exists(&self.h.log, k, cut) {
                    return None;
                }
                let (s, entered) = self.stage(&at, k)?;
                let outcome = self.h.process.outcome(s);
                if outcome == StageOutcome::Open || entered < since {
                    return None;
                }
                let owner = codes[in_force(owner_column, k, cut)?];
                (owner != NULL_TEXT).then_some((owner, outcome == StageOutcome::Won))
            })
            .collect();
        let mut by_code: HashMap<u32, (u32, u32)> = HashMap::new();
        for (owner, won) in closed {
            let e = by_code.entry(owner).or_default();
            e.0 += u32::from(won);
            e.1 += 1;
        }
        by_code
            .into_iter()
            .map(|(code, record)| (dict[code as usize].clone(), record))
            .collect()
    }

    /// The features of every deal in `keys` at `cut`, for `period`.
    fn features(&self, keys: &[u32], cut: Cut, period: Period) -> Vec<Vec<Cell>> {
        let at = At {
            log: &self.h.log,
            cut,
        };
        let started = std::time::Instant::now();
        let owners = self.owner_records(cut);
        tracing::trace!(elapsed = ?started.elapsed(), "rows: owner records");
        let t = cut.effective;
        let days = |d: i64| d as f64 / MICROS_PER_DAY as f64;
        keys.par_iter()
            .map(|&k| {
                let (stage, entered) = self.stage(&at, k).unwrap_or((usize::MAX, t));
                let st = self.h.process.stage(stage);
                let amount = at.number(&Field::Amount, k);
                let (mut first_amount, mut amount_events) = (None, 0u32);
                if let Some(c) = self.h.log.column(&Field::Amount) {
                    for i in at.visible(c, k) {
                        if let pipewise_ledger::Values::Number(v) = &c.new
                            && first_amount.is_none()
                            && !v[i].is_nan()
                        {
                            first_amount = Some(v[i]);
                        }
                        amount_events += 1;
                    }
                }
                let mut pushes = 0u32;
                if let Some(c) = self.h.log.column(&Field::CloseDate)
                    && let pipewise_ledger::Values::Date(v) = &c.new
                {
                    let mut prev: Option<i32> = None;
                    for i in at.visible(c, k) {
                        if let Some(p) = prev
                            && v[i] > p
                            && v[i] != NULL_DATE
                        {
                            pushes += 1;
                        }
                        if v[i] != NULL_DATE {
                            prev = Some(v[i]);
                        }
                    }
                }
                let close = at
                    .index(&Field::CloseDate, k)
                    .and_then(|(i, c)| match &c.new {
                        pipewise_ledger::Values::Date(v) if v[i] != NULL_DATE => Some(v[i]),
                        _ => None,
                    });
                let category = at
                    .text(&Field::ForecastCategory, k)
                    .and_then(|s| ForecastCategory::parse_loose(&s))
                    .or(st.map(|s| s.forecast_category))
                    .map(|c| c.as_str().to_string());
                let touches: Vec<&super::history::Touch> = self.h.touches[k as usize]
                    .iter()
                    .take_while(|x| x.at <= t)
                    .collect();
                let within = |d: i64| {
                    touches
                        .iter()
                        .filter(move |x| x.at > t - d * MICROS_PER_DAY)
                };
                let out90 = within(90).filter(|x| x.outbound == Some(true)).count();
                let in90 = within(90).filter(|x| x.outbound == Some(false)).count();
                let mut contacts: Vec<&str> =
                    within(90).filter_map(|x| x.contact.as_deref()).collect();
                contacts.sort_unstable();
                contacts.dedup();
                let owner = at.text(&Field::OwnerId, k);
                let record = owner
                    .as_ref()
                    .and_then(|o| owners.get(o))
                    .filter(|r| r.1 > 0);
                let account = at
                    .text(&Field::AccountId, k)
                    .and_then(|a| self.h.accounts.get(&a));
                let created = self.h.log.keys.created_at[k as usize];
                vec![
                    Cell::Text(st.map(|s| s.name.clone())),
                    Cell::Num(Some(days(t - entered))),
                    Cell::Num(Some(days(t - created))),
                    Cell::Num(amount),
                    Cell::Num(Some(f64::from(amount_events.saturating_sub(1)))),
                    Cell::Num(match (amount, first_amount) {
                        (Some(a), Some(f)) if f > 0.0 => Some(a / f),
                        _ => None,
                    }),
                    Cell::Num(Some(f64::from(pushes))),
                    Cell::Num(close.map(|c| f64::from(c - date_of(t)))),
                    Cell::Bool(close.map(|c| c >= period.first && c <= period.last)),
                    Cell::Text(category),
                    Cell::Bool(at.boolean(&Field::HasBusinessCase, k)),
                    Cell::Text(at.text(&Field::Segment, k)),
                    Cell::Text(at.text(&Field::Type, k)),
                    Cell::Text(at.text(&Field::Source, k)),
                    Cell::Num(Some(within(30).count() as f64)),
                    Cell::Num(touches.last().map(|x| days(t - x.at))),
                    Cell::Num((in90 > 0).then(|| out90 as f64 / in90 as f64)),
                    Cell::Num(Some(contacts.len() as f64)),
                    Cell::Num(record.map(|r| f64::from(r.0) / f64::from(r.1))),
                    Cell::Num(
                        owner
                            .as_ref()
                            .and_then(|o| self.h.hired.get(o))
                            .map(|&d| f64::from(date_of(t) - d)),
                    ),
                    Cell::Text(account.and_then(|a| a.0.clone())),
                    Cell::Num(account.and_then(|a| a.1).map(|e| e as f64)),
                    Cell::Num(Some(f64::from(period.last - date_of(t)))),
                ]
                .into_iter()
                .chain(self.custom.iter().map(|f| Cell::Text(at.text(f, k))))
                .collect()
            })
            .collect()
    }

    /// Rows for the deals open at `cut` (those `keep` accepts), in `period`,
    /// labelled as recorded by `label_known` when the period has ended by
    /// then.
    pub(crate) fn rows_at(
        &self,
        cut: Cut,
        period: Period,
        label_known: Option<Timestamp>,
        keep: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> (Vec<u32>, Vec<Vec<Cell>>, Vec<Option<Outcome>>) {
        let started = std::time::Instant::now();
        let keys = self.open_at(cut, keep);
        tracing::trace!(elapsed = ?started.elapsed(), "rows: open deals found");
        let cells = self.features(&keys, cut, period);
        tracing::trace!(elapsed = ?started.elapsed(), "rows: features read");
        let ended = label_known.is_none_or(|k| period.end() <= k);
        let outcomes = keys
            .iter()
            .map(|&k| ended.then(|| self.outcome(k, period, label_known)))
            .collect();
        (keys, cells, outcomes)
    }
}

/// Rows as a dataset: one column per feature (the fixed ones, then the
/// custom fields named `custom`).
fn to_dataset(
    ids: Vec<String>,
    rows: &[Vec<Cell>],
    target: Vec<bool>,
    custom: &[String],
) -> Dataset {
    let names: Vec<&str> = FEATURES
        .iter()
        .copied()
        .chain(custom.iter().map(String::as_str))
        .collect();
    let columns = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let kind_of = rows.first().map(|r| &r[j]);
            let (kind, values) = match kind_of {
                Some(Cell::Text(_)) => {
                    let mut levels: Vec<String> = Vec::new();
                    let mut index: BTreeMap<String, u32> = BTreeMap::new();
                    let codes = rows
                        .iter()
                        .map(|r| match &r[j] {
                            Cell::Text(Some(s)) => {
                                Some(*index.entry(s.clone()).or_insert_with(|| {
                                    levels.push(s.clone());
                                    (levels.len() - 1) as u32
                                }))
                            }
                            _ => None,
                        })
                        .collect();
                    (ColumnKind::Categorical, Values::Levels { levels, codes })
                }
                Some(Cell::Bool(_)) => (
                    ColumnKind::Boolean,
                    Values::Numbers(
                        rows.iter()
                            .map(|r| match &r[j] {
                                Cell::Bool(b) => b.map(|b| f64::from(u8::from(b))),
                                _ => None,
                            })
                            .collect(),
                    ),
                ),
                _ => (
                    ColumnKind::Numeric,
                    Values::Numbers(
                        rows.iter()
                            .map(|r| match &r[j] {
                                Cell::Num(x) => x.filter(|v| v.is_finite()),
                                _ => None,
                            })
                            .collect(),
                    ),
                ),
            };
            let (missing, distinct) = match &values {
                Values::Numbers(v) => {
                    let mut d: Vec<u64> = v.iter().flatten().map(|x| x.to_bits()).collect();
                    d.sort_unstable();
                    d.dedup();
                    (v.iter().filter(|x| x.is_none()).count(), d.len())
                }
                Values::Levels { levels, codes } => {
                    (codes.iter().filter(|c| c.is_none()).count(), levels.len())
                }
            };
            Column {
                name: (*name).to_string(),
                kind,
                values,
                missing,
                distinct,
            }
        })
        .collect();
    Dataset {
        columns,
        target,
        ids,
        positive: "won".into(),
        left_out: Vec::new(),
    }
}

/// Training rows: weekly cuts (each the end of a day, seven days apart, from
/// four weeks after the first deal was created) whose period ended by
/// `known`, each cut read as recorded by itself and labelled as recorded by
/// `known` (`None`: everything recorded). At most about `max_rows` rows:
/// beyond that, a fixed share of deals (by key) is kept on every cut.
pub fn training_rows(
    h: &DealHistory,
    known: Option<Timestamp>,
    max_rows: usize,
    custom: &[String],
) -> DealRows {
    let b = Builder::new(h, custom);
    let fiscal = h.process.fiscal_year_start_month();
    let limit = known.unwrap_or_else(|| h.last_recorded());
    let first = h.log.keys.created_at.iter().copied().min().unwrap_or(limit);
    let mut cuts = Vec::new();
    let mut day = date_of(first) + 28;
    while date_end(day) <= limit {
        let t = date_end(day);
        if Period::quarter_of(t, fiscal).end() <= limit {
            cuts.push(t);
        }
        day += 7;
    }
    // estimate the rows from five cuts, and keep a share of deals past the cap
    let probe: Vec<Timestamp> = (0..5)
        .filter_map(|i| cuts.get(i * cuts.len() / 5).copied())
        .collect();
    let open: usize = probe
        .iter()
        .map(|&t| b.open_at(Cut::known_at(t), None).len())
        .sum();
    let estimate = open as f64 / probe.len().max(1) as f64 * cuts.len() as f64;
    let share = if estimate > max_rows as f64 {
        max_rows as f64 / estimate
    } else {
        1.0
    };
    let permille = (share * 1000.0).ceil() as u64;
    let keep = move |k: u32| (u64::from(k).wrapping_mul(2_654_435_761) >> 7) % 1000 < permille;
    let keep_ref: Option<&(dyn Fn(u32) -> bool + Sync)> =
        if share < 1.0 { Some(&keep) } else { None };
    // cuts in parallel on rayon's pool, collected in cut order
    let per_cut: Vec<_> = cuts
        .par_iter()
        .map(|&t| {
            let period = Period::quarter_of(t, fiscal);
            (
                t,
                period,
                b.rows_at(Cut::known_at(t), period, known, keep_ref),
            )
        })
        .collect();
    let mut out = RowsBuilder::default();
    for (t, period, (keys, cells, outcomes)) in per_cut {
        out.push(h, t, period, keys, cells, outcomes);
    }
    out.finish(custom)
}

/// The rows to score: every deal open at `cut`, in `period`.
pub fn scoring_rows(h: &DealHistory, cut: Cut, period: Period, custom: &[String]) -> DealRows {
    let started = std::time::Instant::now();
    let b = Builder::new(h, custom);
    tracing::trace!(elapsed = ?started.elapsed(), "rows: stage codes");
    let (keys, cells, _) = b.rows_at(cut, period, Some(i64::MIN), None);
    let mut out = RowsBuilder::default();
    let n = keys.len();
    out.push(h, cut.effective, period, keys, cells, vec![None; n]);
    out.finish(custom)
}

#[derive(Default)]
struct RowsBuilder {
    ids: Vec<String>,
    cells: Vec<Vec<Cell>>,
    keys: Vec<u32>,
    cuts: Vec<Timestamp>,
    periods: Vec<Period>,
    outcomes: Vec<Option<Outcome>>,
}

impl RowsBuilder {
    fn push(
        &mut self,
        h: &DealHistory,
        t: Timestamp,
        period: Period,
        keys: Vec<u32>,
        cells: Vec<Vec<Cell>>,
        outcomes: Vec<Option<Outcome>>,
    ) {
        for &k in &keys {
            self.ids.push(h.log.keys.id(k).to_string());
            self.cuts.push(t);
            self.periods.push(period);
        }
        self.keys.extend(keys);
        self.cells.extend(cells);
        self.outcomes.extend(outcomes);
    }

    fn finish(self, custom: &[String]) -> DealRows {
        let target = self
            .outcomes
            .iter()
            .map(|o| *o == Some(Outcome::Won))
            .collect();
        DealRows {
            dataset: to_dataset(self.ids, &self.cells, target, custom),
            keys: self.keys,
            cuts: self.cuts,
            periods: self.periods,
            outcomes: self.outcomes,
        }
    }
}
