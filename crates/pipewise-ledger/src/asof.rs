//! As-of reconstruction.
//!
//! **Semantics.** The value of field F of opportunity O as of a [`Cut`] is the
//! new value of the event that is last in (effective_at, seq) order among O's
//! F-events with `effective_at <= cut.effective` and, when the cut has a
//! recorded time (backtests), `recorded_at <= cut.recorded`. `seq` is the
//! ledger's landing order, so of two events with the same effective time the
//! one that landed later wins. O exists at the cut when it was created by then
//! (and, with a recorded time, pipewise had learned of it by then) and its
//! `is_deleted` field is not true.

use crate::log::{EventLog, FieldColumn, NULL_TEXT, Values};
use pipewise_model::{
    Field, ForecastCategory, OpportunityEvent, SalesProcess, StageOutcome, Timestamp, Value,
};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// A point in time to reconstruct at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Only events that happened by this time.
    pub effective: Timestamp,
    /// Only events pipewise had recorded by this time (backtests); `None` = all.
    pub recorded: Option<Timestamp>,
}

impl Cut {
    /// Everything that had happened by `t`, whenever it was recorded.
    pub fn at(t: Timestamp) -> Cut {
        Cut {
            effective: t,
            recorded: None,
        }
    }

    /// Only what had happened *and had been recorded* by `t`: what a backtest may see.
    pub fn known_at(t: Timestamp) -> Cut {
        Cut {
            effective: t,
            recorded: Some(t),
        }
    }
}

/// Index of the event in force for one opportunity's run, or `None`.
#[inline]
pub fn in_force(col: &FieldColumn, key: u32, cut: Cut) -> Option<usize> {
    let mut best = None;
    for i in col.run(key) {
        if col.effective_at[i] > cut.effective {
            break;
        }
        if let Some(r) = cut.recorded
            && col.recorded_at[i] > r
        {
            continue;
        }
        best = Some(i);
    }
    best
}

/// Does opportunity `key` exist at `cut`?
pub fn exists(log: &EventLog, key: u32, cut: Cut) -> bool {
    exists_with(log, log.column(&Field::IsDeleted), key, cut)
}

/// [`exists`], with the `is_deleted` column looked up once by the caller
/// (a loop over every deal and cut would otherwise search the field map
/// each time).
#[inline]
fn exists_with(log: &EventLog, deleted: Option<&FieldColumn>, key: u32, cut: Cut) -> bool {
    let k = key as usize;
    if log.keys.created_at[k] > cut.effective {
        return false;
    }
    if let Some(r) = cut.recorded
        && log.keys.first_recorded_at[k] > r
    {
        return false;
    }
    if let Some(c) = deleted
        && let Some(i) = in_force(c, key, cut)
        && let Values::Bool(v) = &c.new
    {
        return v[i] != 1;
    }
    true
}

/// One opportunity's reconstructed state.
#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityState {
    pub id: String,
    pub created_at: Timestamp,
    /// Every loaded field that has a value in force (null values included).
    pub values: BTreeMap<Field, Value>,
}

impl OpportunityState {
    pub fn get(&self, f: &Field) -> &Value {
        self.values.get(f).unwrap_or(&Value::Null)
    }
}

/// The state of every opportunity that exists at `cut`, in key order.
pub fn states(log: &EventLog, cut: Cut) -> Vec<OpportunityState> {
    let mut out = Vec::new();
    for key in 0..log.keys.len() as u32 {
        if !exists(log, key, cut) {
            continue;
        }
        let mut values = BTreeMap::new();
        for (f, c) in &log.columns {
            if let Some(i) = in_force(c, key, cut) {
                values.insert(f.clone(), c.new.get(i));
            }
        }
        out.push(OpportunityState {
            id: log.keys.id(key).to_string(),
            created_at: log.keys.created_at[key as usize],
            values,
        });
    }
    out
}

/// What to group pipeline totals by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Stage,
    /// The sales process: the `pipeline` field as `pipewise.toml` names it (a
    /// source name no process has as is), else the process of the deal's stage.
    Pipeline,
    /// The forecast_category field; deals without one take their stage's category.
    ForecastCategory,
    Owner,
    Segment,
    /// Any other text field.
    Field(Field),
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "stage" => GroupBy::Stage,
            "pipeline" => GroupBy::Pipeline,
            "forecast_category" => GroupBy::ForecastCategory,
            "owner" | "owner_id" => GroupBy::Owner,
            "segment" => GroupBy::Segment,
            other => {
                let f = Field::parse(other)?;
                if f.kind() != pipewise_model::FieldKind::Text {
                    return None;
                }
                GroupBy::Field(f)
            }
        })
    }

    /// Fields a [`totals`] call with this grouping needs loaded.
    pub fn fields(&self) -> Vec<Field> {
        let mut v = vec![
            Field::Stage,
            Field::Pipeline,
            Field::Amount,
            Field::IsDeleted,
        ];
        match self {
            GroupBy::Stage | GroupBy::Pipeline => {}
            GroupBy::ForecastCategory => v.push(Field::ForecastCategory),
            GroupBy::Owner => v.push(Field::OwnerId),
            GroupBy::Segment => v.push(Field::Segment),
            GroupBy::Field(f) => v.push(f.clone()),
        }
        v
    }
}

/// Count and amount of one group at one cut.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTotal {
    pub group: String,
    pub count: u64,
    pub amount: f64,
}

/// Counts and amounts (fixed point, exact) of one chunk of keys, per (cut, group).
type Partial = (Vec<u64>, Vec<crate::flow::Fixed>);

/// Label of deals with no value for the grouping field.
pub const NO_VALUE: &str = "(none)";

/// Pipeline totals per group at each cut, in one pass over the ledger.
/// `open_only` keeps only deals whose stage in force is open. Groups are
/// ordered by stage order (stage), category order (forecast category), or
/// name; groups with no deals are left out.
pub fn totals(
    log: &EventLog,
    process: &SalesProcess,
    group: &GroupBy,
    cuts: &[Cut],
    open_only: bool,
) -> Vec<Vec<GroupTotal>> {
    totals_in(log, process, group, cuts, open_only, None)
}

/// [`totals`] of the deals of one sales process only (`pipeline`: a process
/// code; `None`: every deal). A deal's process is its `pipeline` value's, or
/// when that names none, its stage's.
pub fn totals_in(
    log: &EventLog,
    process: &SalesProcess,
    group: &GroupBy,
    cuts: &[Cut],
    open_only: bool,
    pipeline: Option<usize>,
) -> Vec<Vec<GroupTotal>> {
    let empty_text = FieldColumn::empty(Field::Stage);
    let stage_col = log.column(&Field::Stage).unwrap_or(&empty_text);
    let Values::Text {
        dict: stage_dict,
        codes: stage_codes,
    } = &stage_col.new
    else {
        return vec![Vec::new(); cuts.len()];
    };
    // Per stage event: its process stage code.
    let stage_map = StageCodes::new(log, process);
    let pipe_col = log.column(&Field::Pipeline);
    let pipe_map = pipeline_codes(process, log);
    let n_pipes = process.pipelines().len();
    // The deal's process, and its pipeline value's dictionary code when that
    // names no process.
    let deal_pipeline = |key: u32, cut: Cut, stage: Option<usize>| -> (usize, Option<u32>) {
        let raw = pipe_col.and_then(|c| {
            let i = in_force(c, key, cut)?;
            match &c.new {
                Values::Text { codes, .. } if codes[i] != NULL_TEXT => Some(codes[i]),
                _ => None,
            }
        });
        match raw.and_then(|d| pipe_map[d as usize]) {
            Some(p) => (p, None),
            None => (stage.map_or(0, |s| process.pipeline_of(s)), raw),
        }
    };

    // The column the groups come from (stage grouping uses the stage column itself).
    let group_col: Option<&FieldColumn> = match group {
        GroupBy::Stage | GroupBy::Pipeline => None,
        GroupBy::ForecastCategory => log.column(&Field::ForecastCategory),
        GroupBy::Owner => log.column(&Field::OwnerId),
        GroupBy::Segment => log.column(&Field::Segment),
        GroupBy::Field(f) => log.column(f),
    };
    let n_stage = process.stages().len();
    let fc_index = |c: ForecastCategory| {
        ForecastCategory::ALL
            .iter()
            .position(|x| *x == c)
            .unwrap_or(0)
    };
    // Group id layout: 0 = none; stage grouping: 1 + process code, then 1 + n_stage + dict code for unknown stages;
    // fc grouping: 1 + category index; text grouping: 1 + dict code.
    let fc_map: Vec<usize> = match (group, group_col) {
        (GroupBy::ForecastCategory, Some(c)) => match &c.new {
            Values::Text { dict, .. } => dict
                .iter()
                .map(|s| {
                    ForecastCategory::parse(s)
                        .or_else(|| ForecastCategory::parse_loose(s))
                        .map(fc_index)
                        .unwrap_or(usize::MAX)
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let n_groups = match group {
        GroupBy::Stage => 1 + n_stage + stage_dict.len(),
        GroupBy::Pipeline => {
            1 + n_pipes
                + match pipe_col.map(|c| &c.new) {
                    Some(Values::Text { dict, .. }) => dict.len(),
                    _ => 0,
                }
        }
        GroupBy::ForecastCategory => 1 + ForecastCategory::ALL.len(),
        _ => match group_col.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => 1 + dict.len(),
            _ => 1,
        },
    };
    let amount_col = log.column(&Field::Amount);
    let n_cuts = cuts.len();
    let n_keys = log.keys.len();
    let need_pipeline = pipeline.is_some() || *group == GroupBy::Pipeline;
    let deleted_col = log.column(&Field::IsDeleted);

    // Amounts are summed in fixed point (1/10,000), exactly: no amount, however
    // large, makes the others vanish in rounding, and the order does not matter.
    let work = |lo: usize, hi: usize| -> Partial {
        let mut counts = vec![0u64; n_cuts * n_groups];
        let mut amounts: Vec<crate::flow::Fixed> = vec![0; n_cuts * n_groups];
        for key in lo as u32..hi as u32 {
            for (ci, &cut) in cuts.iter().enumerate() {
                if !exists_with(log, deleted_col, key, cut) {
                    continue;
                }
                let stage_pc = in_force(stage_col, key, cut)
                    .filter(|&i| stage_codes[i] != NULL_TEXT)
                    .map(|i| (stage_codes[i], stage_map.get(i).unwrap_or(usize::MAX)));
                let known_stage = stage_pc.map(|(_, pc)| pc).filter(|&pc| pc != usize::MAX);
                let (deal_pipe, raw_pipe) = if need_pipeline {
                    deal_pipeline(key, cut, known_stage)
                } else {
                    (0, None)
                };
                if pipeline.is_some_and(|p| p != deal_pipe) {
                    continue;
                }
                if open_only {
                    match stage_pc {
                        Some((_, pc))
                            if pc != usize::MAX && process.outcome(pc) == StageOutcome::Open => {}
                        _ => continue,
                    }
                }
                let g = match group {
                    GroupBy::Pipeline => match raw_pipe {
                        Some(d) => 1 + n_pipes + d as usize,
                        None => 1 + deal_pipe,
                    },
                    GroupBy::Stage => match stage_pc {
                        None => 0,
                        Some((_, pc)) if pc != usize::MAX => 1 + pc,
                        Some((dc, _)) => 1 + n_stage + dc as usize,
                    },
                    GroupBy::ForecastCategory => {
                        let from_field =
                            group_col.and_then(|c| in_force(c, key, cut)).and_then(|i| {
                                match &group_col.map(|c| &c.new) {
                                    Some(Values::Text { codes, .. }) if codes[i] != NULL_TEXT => {
                                        let m = fc_map[codes[i] as usize];
                                        (m != usize::MAX).then_some(m)
                                    }
                                    _ => None,
                                }
                            });
                        match from_field {
                            Some(m) => 1 + m,
                            None => match stage_pc {
                                Some((_, pc)) if pc != usize::MAX => {
                                    1 + fc_index(process.stages()[pc].forecast_category)
                                }
                                _ => 0,
                            },
                        }
                    }
                    _ => match group_col.and_then(|c| in_force(c, key, cut).map(|i| (c, i))) {
                        Some((c, i)) => match &c.new {
                            Values::Text { codes, .. } if codes[i] != NULL_TEXT => {
                                1 + codes[i] as usize
                            }
                            _ => 0,
                        },
                        None => 0,
                    },
                };
                let amount = amount_col
                    .and_then(|c| in_force(c, key, cut).map(|i| (c, i)))
                    .map(|(c, i)| match &c.new {
                        Values::Number(v) if !v[i].is_nan() => crate::flow::to_fixed(v[i]),
                        _ => 0,
                    })
                    .unwrap_or(0);
                counts[ci * n_groups + g] += 1;
                amounts[ci * n_groups + g] += amount;
            }
        }
        (counts, amounts)
    };

    // Fixed-size chunks of keys, summed in chunk order: the result is the same
    // bit for bit whatever the number of threads.
    const CHUNK: usize = 1 << 16;
    let n_chunks = n_keys.div_ceil(CHUNK).max(1);
    // (on rayon's pool; a chunk that panics fails the call: a total is
    // never short of a chunk)
    let parts: Vec<Partial> = (0..n_chunks)
        .into_par_iter()
        .map(|c| work(c * CHUNK, ((c + 1) * CHUNK).min(n_keys)))
        .collect();
    let mut counts = vec![0u64; n_cuts * n_groups];
    let mut amounts: Vec<crate::flow::Fixed> = vec![0; n_cuts * n_groups];
    for (c, a) in parts {
        for i in 0..counts.len() {
            counts[i] += c[i];
            amounts[i] += a[i];
        }
    }

    let label = |g: usize| -> String {
        if g == 0 {
            return NO_VALUE.to_string();
        }
        match group {
            GroupBy::Stage => {
                if g <= n_stage {
                    if pipeline.is_some() {
                        process.stages()[g - 1].name.clone()
                    } else {
                        process.stage_label(g - 1)
                    }
                } else {
                    stage_dict[g - 1 - n_stage].clone()
                }
            }
            GroupBy::Pipeline => {
                if g <= n_pipes {
                    process.pipelines()[g - 1].name.clone()
                } else {
                    match pipe_col.map(|c| &c.new) {
                        Some(Values::Text { dict, .. }) => dict[g - 1 - n_pipes].clone(),
                        _ => NO_VALUE.to_string(),
                    }
                }
            }
            GroupBy::ForecastCategory => ForecastCategory::ALL[g - 1].as_str().to_string(),
            _ => match group_col.map(|c| &c.new) {
                Some(Values::Text { dict, .. }) => dict[g - 1].clone(),
                _ => NO_VALUE.to_string(),
            },
        }
    };
    let mut out = Vec::with_capacity(n_cuts);
    for ci in 0..n_cuts {
        let mut rows: Vec<(usize, GroupTotal)> = (0..n_groups)
            .filter(|&g| counts[ci * n_groups + g] > 0)
            .map(|g| {
                (
                    g,
                    GroupTotal {
                        group: label(g),
                        count: counts[ci * n_groups + g],
                        amount: crate::flow::from_fixed(amounts[ci * n_groups + g]),
                    },
                )
            })
            .collect();
        match group {
            GroupBy::Stage | GroupBy::ForecastCategory | GroupBy::Pipeline => {
                rows.sort_by_key(|(g, _)| if *g == 0 { usize::MAX } else { *g })
            }
            _ => rows.sort_by(|a, b| {
                (a.0 == 0)
                    .cmp(&(b.0 == 0))
                    .then_with(|| a.1.group.cmp(&b.1.group))
            }),
        }
        out.push(rows.into_iter().map(|(_, r)| r).collect());
    }
    out
}

/// Every event with `from < effective_at <= to`, in (effective_at, seq) order.
pub fn changes(log: &EventLog, from: Timestamp, to: Timestamp) -> Vec<(u64, OpportunityEvent)> {
    let mut idx: Vec<(Timestamp, u64, &FieldColumn, usize)> = Vec::new();
    for c in log.columns.values() {
        for i in 0..c.len() {
            let t = c.effective_at[i];
            if t > from && t <= to {
                idx.push((t, c.seq[i], c, i));
            }
        }
    }
    idx.sort_by_key(|(t, s, _, _)| (*t, *s));
    idx.into_iter()
        .map(|(_, s, c, i)| (s, log.event(c, i)))
        .collect()
}

/// The opportunities that exist at `cut`, in key order.
pub fn existing_keys(log: &EventLog, cut: Cut) -> Vec<u32> {
    let deleted = log.column(&Field::IsDeleted);
    (0..log.keys.len() as u32)
        .filter(|&k| exists_with(log, deleted, k, cut))
        .collect()
}

/// "No event in force" in an in-force index vector.
const NONE: u32 = u32::MAX;

/// "No stage of the process" in a per-event stage code vector.
const NO_STAGE: u32 = u32::MAX;

/// The process code of each entry of the pipeline column's dictionary.
fn pipeline_codes(process: &SalesProcess, log: &EventLog) -> Vec<Option<usize>> {
    match log.column(&Field::Pipeline).map(|c| &c.new) {
        Some(Values::Text { dict, .. }) => dict.iter().map(|s| process.pipeline_code(s)).collect(),
        _ => Vec::new(),
    }
}

/// The stage code of every event of the stage column (`None`: a null or a
/// name no process knows). A stage value is read in the process the deal
/// followed when it changed: the `pipeline` value in force at the stage
/// event's effective time (whenever it was recorded), by
/// [`SalesProcess::resolve_stage`]. With one process (or no pipeline values)
/// this is a lookup by dictionary code; only several processes need a code
/// per event.
pub struct StageCodes<'a> {
    /// The stage column's dictionary codes, per event.
    codes: &'a [u32],
    /// Per dictionary entry.
    by_dict: Vec<u32>,
    /// Per event, when the deal's process decides.
    by_event: Option<Vec<u32>>,
}

impl<'a> StageCodes<'a> {
    pub fn new(log: &'a EventLog, process: &SalesProcess) -> StageCodes<'a> {
        let empty = StageCodes {
            codes: &[],
            by_dict: Vec::new(),
            by_event: None,
        };
        let Some(stage) = log.column(&Field::Stage) else {
            return empty;
        };
        let Values::Text { dict, codes } = &stage.new else {
            return StageCodes {
                by_event: Some(vec![NO_STAGE; stage.len()]),
                ..empty
            };
        };
        let code = |p: Option<usize>, d: u32| -> u32 {
            if d == NULL_TEXT {
                return NO_STAGE;
            }
            process
                .resolve_stage(p, &dict[d as usize])
                .map_or(NO_STAGE, |c| c as u32)
        };
        let by_dict: Vec<u32> = (0..dict.len() as u32).map(|d| code(None, d)).collect();
        let pipe = match log.column(&Field::Pipeline) {
            Some(p) if process.is_multi() => p,
            _ => {
                return StageCodes {
                    codes,
                    by_dict,
                    by_event: None,
                };
            }
        };
        let pcodes = pipeline_codes(process, log);
        let pipe_text = match &pipe.new {
            Values::Text { codes, .. } => Some(codes),
            _ => None,
        };
        // (pipeline, stage dictionary code) → stage code, memoised.
        let mut memo: std::collections::HashMap<(Option<usize>, u32), u32> = Default::default();
        let mut out = vec![NO_STAGE; stage.len()];
        for key in 0..log.keys.len() as u32 {
            let prun = pipe.run(key);
            let mut j = prun.start;
            let mut current: Option<usize> = None;
            for i in stage.run(key) {
                let t = stage.effective_at[i];
                while j < prun.end && pipe.effective_at[j] <= t {
                    current = pipe_text.and_then(|c| {
                        let d = c[j];
                        (d != NULL_TEXT).then(|| pcodes[d as usize]).flatten()
                    });
                    j += 1;
                }
                let d = codes[i];
                out[i] = *memo.entry((current, d)).or_insert_with(|| code(current, d));
            }
        }
        StageCodes {
            codes,
            by_dict,
            by_event: Some(out),
        }
    }

    /// The stage code of stage event `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<usize> {
        let c = match &self.by_event {
            Some(v) => v[i],
            None => match self.codes[i] {
                NULL_TEXT => NO_STAGE,
                d => self.by_dict[d as usize],
            },
        };
        (c != NO_STAGE).then_some(c as usize)
    }
}

/// What the column `name` of [`FactColumns`] reads from the ledger: the
/// fields (besides `is_deleted`, which every column needs to know which deals
/// exist) and whether opportunity ids. `None` for a name it has no column of.
pub fn fields_for(name: &str) -> Option<(Vec<Field>, bool)> {
    let one = |f: Field| Some((vec![f], false));
    match name {
        "id" => Some((Vec::new(), true)),
        "created_at" | "is_deleted" => Some((Vec::new(), false)),
        "account_id" => one(Field::AccountId),
        "owner_id" => one(Field::OwnerId),
        "name" => one(Field::Name),
        "type" => one(Field::Type),
        "segment" => one(Field::Segment),
        "source" => one(Field::Source),
        "currency" => one(Field::Currency),
        "loss_reason" => one(Field::LossReason),
        "next_step" => one(Field::NextStep),
        "next_step_date" => one(Field::NextStepDate),
        "amount" => one(Field::Amount),
        "probability" => one(Field::Probability),
        "close_date" => one(Field::CloseDate),
        "has_business_case" => one(Field::HasBusinessCase),
        "stage" => one(Field::Stage),
        "is_closed" | "is_won" | "qualified" | "qualified_at" | "closed_at"
        | "stage_probability" | "pipeline" => Some((vec![Field::Stage, Field::Pipeline], false)),
        "forecast_category" => Some((
            vec![Field::ForecastCategory, Field::Stage, Field::Pipeline],
            false,
        )),
        _ => name
            .strip_prefix("custom_")
            .map(|c| (vec![Field::Custom(c.to_string())], false)),
    }
}

/// The columns of `deal_facts` (and of the canonical `opportunities` table,
/// its first columns) as of one cut, built one at a time and only when asked
/// for: a query that reads six columns pays for six.
///
/// Each field's column gathers, per deal, the new value of the event in force
/// (found once per field and kept), straight from the ledger's typed columns.
/// The ledger passed to [`FactColumns::column`] must hold the field asked for
/// (a lean load without names cannot give `name`); any load of the same ledger
/// version gives the same keys, so columns from different loads line up.
#[derive(Debug)]
pub struct FactColumns {
    cut: Cut,
    keys: Vec<u32>,
    /// Per field: the index of the event in force for each deal ([`NONE`]: none).
    in_force: std::sync::Mutex<std::collections::HashMap<Field, std::sync::Arc<Vec<u32>>>>,
    /// The stage code of each deal (computed once; many columns read it).
    stage: std::sync::Mutex<Option<std::sync::Arc<Vec<Option<usize>>>>>,
    /// When each deal qualified and closed (one pass serves three columns).
    lifecycle: std::sync::Mutex<Option<Lifecycle>>,
}

/// The value in `slot`, computed by `f` when there is none (and kept).
fn cached<T: Clone>(slot: &std::sync::Mutex<Option<T>>, f: impl FnOnce() -> T) -> T {
    let mut g = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = g.as_ref() {
        return v.clone();
    }
    let v = f();
    *g = Some(v.clone());
    v
}

/// Per deal: when it first qualified, when it entered its closed stage.
type Lifecycle = std::sync::Arc<(Vec<Option<Timestamp>>, Vec<Option<Timestamp>>)>;

impl FactColumns {
    /// The deals that exist at `cut`, in key order; no column built yet.
    pub fn new(log: &EventLog, cut: Cut) -> FactColumns {
        FactColumns {
            cut,
            keys: existing_keys(log, cut),
            in_force: Default::default(),
            stage: Default::default(),
            lifecycle: Default::default(),
        }
    }

    /// The rows: existing deals' keys, in key order.
    pub fn keys(&self) -> &[u32] {
        &self.keys
    }

    /// Drop what building columns keeps for the next column (per field, the
    /// event in force for each deal; stage codes; lifecycle times: ~100 MB
    /// on 1M deals). A column built later finds them again.
    pub fn release_indexes(&self) {
        if let Ok(mut m) = self.in_force.lock() {
            m.clear();
        }
        if let Ok(mut s) = self.stage.lock() {
            *s = None;
        }
        if let Ok(mut l) = self.lifecycle.lock() {
            *l = None;
        }
    }

    fn in_force_of(&self, log: &EventLog, f: &Field) -> Option<std::sync::Arc<Vec<u32>>> {
        let c = log.column(f)?;
        if let Some(v) = self.in_force.lock().ok().and_then(|m| m.get(f).cloned()) {
            return Some(v);
        }
        let cut = self.cut;
        let v: std::sync::Arc<Vec<u32>> = std::sync::Arc::new(
            self.keys
                .iter()
                .map(|&k| in_force(c, k, cut).map_or(NONE, |i| i as u32))
                .collect(),
        );
        // (two threads may both compute a field; the first to land is kept)
        match self.in_force.lock() {
            Ok(mut m) => Some(m.entry(f.clone()).or_insert(v).clone()),
            Err(_) => Some(v),
        }
    }

    fn stage_codes(
        &self,
        log: &EventLog,
        process: &SalesProcess,
    ) -> std::sync::Arc<Vec<Option<usize>>> {
        cached(&self.stage, || {
            std::sync::Arc::new(self.compute_stage_codes(log, process))
        })
    }

    fn compute_stage_codes(&self, log: &EventLog, process: &SalesProcess) -> Vec<Option<usize>> {
        let n = self.keys.len();
        match (
            self.in_force_of(log, &Field::Stage),
            log.column(&Field::Stage),
        ) {
            (Some(idx), Some(_)) => {
                let code = StageCodes::new(log, process);
                idx.iter()
                    .map(|&i| (i != NONE).then(|| code.get(i as usize)).flatten())
                    .collect()
            }
            _ => vec![None; n],
        }
    }

    /// A field's text column: dictionary strings copied once into a buffer
    /// sized up front.
    fn text(&self, log: &EventLog, f: &Field) -> arrow_array::ArrayRef {
        use arrow_array::{StringArray, builder::StringBuilder};
        let n = self.keys.len();
        let Some(idx) = self.in_force_of(log, f) else {
            return std::sync::Arc::new(StringArray::new_null(n));
        };
        let Some(c) = log.column(f) else {
            return std::sync::Arc::new(StringArray::new_null(n));
        };
        match &c.new {
            Values::Text { dict, codes } => {
                let code = |i: u32| {
                    if i == NONE {
                        NULL_TEXT
                    } else {
                        codes[i as usize]
                    }
                };
                let bytes: usize = idx
                    .iter()
                    .map(|&i| match code(i) {
                        NULL_TEXT => 0,
                        c => dict[c as usize].len(),
                    })
                    .sum();
                let mut b = StringBuilder::with_capacity(n, bytes);
                for &i in idx.iter() {
                    match code(i) {
                        NULL_TEXT => b.append_null(),
                        c => b.append_value(&dict[c as usize]),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            v => std::sync::Arc::new(
                idx.iter()
                    .map(|&i| {
                        (i != NONE)
                            .then(|| v.get(i as usize).to_canonical_string())
                            .flatten()
                    })
                    .collect::<StringArray>(),
            ),
        }
    }

    fn number(&self, log: &EventLog, f: &Field) -> arrow_array::ArrayRef {
        use arrow_array::Float64Array;
        let n = self.keys.len();
        let (Some(idx), Some(c)) = (self.in_force_of(log, f), log.column(f)) else {
            return std::sync::Arc::new(Float64Array::new_null(n));
        };
        std::sync::Arc::new(match &c.new {
            Values::Number(v) => idx
                .iter()
                .map(|&i| (i != NONE).then(|| v[i as usize]).filter(|x| !x.is_nan()))
                .collect::<Float64Array>(),
            v => idx
                .iter()
                .map(|&i| (i != NONE).then(|| v.get(i as usize).as_number()).flatten())
                .collect::<Float64Array>(),
        })
    }

    fn date(&self, log: &EventLog, f: &Field) -> arrow_array::ArrayRef {
        use crate::log::NULL_DATE;
        use arrow_array::Date32Array;
        let n = self.keys.len();
        let (Some(idx), Some(c)) = (self.in_force_of(log, f), log.column(f)) else {
            return std::sync::Arc::new(Date32Array::new_null(n));
        };
        std::sync::Arc::new(match &c.new {
            Values::Date(v) => idx
                .iter()
                .map(|&i| {
                    (i != NONE)
                        .then(|| v[i as usize])
                        .filter(|&d| d != NULL_DATE)
                })
                .collect::<Date32Array>(),
            v => idx
                .iter()
                .map(|&i| (i != NONE).then(|| v.get(i as usize).as_date()).flatten())
                .collect::<Date32Array>(),
        })
    }

    fn boolean(&self, log: &EventLog, f: &Field) -> arrow_array::ArrayRef {
        use crate::log::NULL_BOOL;
        use arrow_array::BooleanArray;
        let n = self.keys.len();
        let (Some(idx), Some(c)) = (self.in_force_of(log, f), log.column(f)) else {
            return std::sync::Arc::new(BooleanArray::new_null(n));
        };
        std::sync::Arc::new(match &c.new {
            Values::Bool(v) => idx
                .iter()
                .map(|&i| {
                    (i != NONE)
                        .then(|| v[i as usize])
                        .filter(|&b| b != NULL_BOOL)
                        .map(|b| b == 1)
                })
                .collect::<BooleanArray>(),
            v => idx
                .iter()
                .map(|&i| match (i != NONE).then(|| v.get(i as usize)) {
                    Some(Value::Bool(b)) => Some(b),
                    _ => None,
                })
                .collect::<BooleanArray>(),
        })
    }

    /// When each deal first reached the qualified stage (or a later open
    /// stage, or won), and when a closed deal entered its current closed
    /// stage: one pass over each deal's stage events.
    fn lifecycle(&self, log: &EventLog, process: &SalesProcess) -> Lifecycle {
        cached(&self.lifecycle, || self.compute_lifecycle(log, process))
    }

    fn compute_lifecycle(&self, log: &EventLog, process: &SalesProcess) -> Lifecycle {
        let n = self.keys.len();
        let (mut qualified_at, mut closed_at) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let cut = self.cut;
        let last = self.in_force_of(log, &Field::Stage);
        let stage_col = log.column(&Field::Stage);
        let stage_code = StageCodes::new(log, process);
        for (j, &k) in self.keys.iter().enumerate() {
            let mut first_q: Option<Timestamp> = None;
            let mut closed: Option<Timestamp> = None;
            if let (Some(c), Some(last)) = (stage_col, &last) {
                let last = last[j];
                for i in c.run(k) {
                    if c.effective_at[i] > cut.effective
                        || cut.recorded.is_some_and(|r| c.recorded_at[i] > r)
                    {
                        continue;
                    }
                    let code = stage_code.get(i);
                    if let Some(code) = code
                        && process.reaches_qualified(code)
                        && first_q.is_none()
                    {
                        first_q = Some(c.effective_at[i]);
                    }
                    if i as u32 == last
                        && code.is_some_and(|s| process.outcome(s) != StageOutcome::Open)
                    {
                        closed = Some(c.effective_at[i]);
                    }
                }
            }
            qualified_at.push(first_q);
            closed_at.push(closed);
        }
        std::sync::Arc::new((qualified_at, closed_at))
    }

    /// The column `name` of [`deal_facts_schema`] (or of the opportunities
    /// table), or `None` for a name neither has.
    pub fn column(
        &self,
        log: &EventLog,
        process: &SalesProcess,
        name: &str,
    ) -> Option<arrow_array::ArrayRef> {
        use arrow_array::{BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray};
        use std::sync::Arc;
        let n = self.keys.len();
        let field = |name: &str| -> Option<Field> {
            Some(match name {
                "account_id" => Field::AccountId,
                "owner_id" => Field::OwnerId,
                "name" => Field::Name,
                "type" => Field::Type,
                "segment" => Field::Segment,
                "source" => Field::Source,
                "currency" => Field::Currency,
                "loss_reason" => Field::LossReason,
                "next_step" => Field::NextStep,
                _ => return None,
            })
        };
        if let Some(f) = field(name) {
            return Some(self.text(log, &f));
        }
        if let Some(custom) = name.strip_prefix("custom_") {
            let f = Field::Custom(custom.to_string());
            log.column(&f)?;
            return Some(self.text(log, &f));
        }
        Some(match name {
            "id" => Arc::new(StringArray::from_iter_values(
                self.keys.iter().map(|&k| log.keys.id(k)),
            )),
            "amount" => self.number(log, &Field::Amount),
            "probability" => self.number(log, &Field::Probability),
            "stage" => self.text(log, &Field::Stage),
            "close_date" => self.date(log, &Field::CloseDate),
            "next_step_date" => self.date(log, &Field::NextStepDate),
            "has_business_case" => self.boolean(log, &Field::HasBusinessCase),
            "created_at" => Arc::new(
                TimestampMicrosecondArray::from(
                    self.keys
                        .iter()
                        .map(|&k| log.keys.created_at[k as usize])
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            "forecast_category" => {
                // A deal without a forecast category takes its stage's.
                let stage = self.stage_codes(log, process);
                let own = self.in_force_of(log, &Field::ForecastCategory);
                let own_text = |j: usize| -> Option<&str> {
                    let i = *own.as_ref()?.get(j)?;
                    match &log.column(&Field::ForecastCategory)?.new {
                        Values::Text { dict, codes } if i != NONE => {
                            let c = codes[i as usize];
                            (c != NULL_TEXT).then(|| dict[c as usize].as_str())
                        }
                        _ => None,
                    }
                };
                let value = |j: usize| {
                    own_text(j).or_else(|| {
                        stage[j].map(|c| process.stages()[c].forecast_category.as_str())
                    })
                };
                let bytes: usize = (0..n).map(|j| value(j).map_or(0, str::len)).sum();
                let mut b = arrow_array::builder::StringBuilder::with_capacity(n, bytes);
                for j in 0..n {
                    b.append_option(value(j));
                }
                Arc::new(b.finish())
            }
            "is_closed" | "is_won" => {
                let stage = self.stage_codes(log, process);
                let won = name == "is_won";
                Arc::new(BooleanArray::from_iter(stage.iter().map(|s| {
                    Some(s.map(|c| process.outcome(c)).is_some_and(|o| {
                        if won {
                            o == StageOutcome::Won
                        } else {
                            o != StageOutcome::Open
                        }
                    }))
                })))
            }
            "is_deleted" => Arc::new(BooleanArray::from(vec![false; n])),
            "qualified" | "qualified_at" | "closed_at" => {
                let l = self.lifecycle(log, process);
                let (qualified_at, closed_at) = (&l.0, &l.1);
                match name {
                    "qualified" => Arc::new(BooleanArray::from_iter(
                        qualified_at.iter().map(|t| Some(t.is_some())),
                    )),
                    "qualified_at" => Arc::new(
                        TimestampMicrosecondArray::from(qualified_at.clone()).with_timezone("UTC"),
                    ),
                    _ => Arc::new(
                        TimestampMicrosecondArray::from(closed_at.clone()).with_timezone("UTC"),
                    ),
                }
            }
            "pipeline" => {
                // The process the deal follows: its pipeline value as
                // pipewise.toml names it (a source name no process has, as
                // is), else its stage's process, else the default one.
                let stage = self.stage_codes(log, process);
                let own = self.in_force_of(log, &Field::Pipeline);
                let col = log.column(&Field::Pipeline);
                let value = |j: usize| -> &str {
                    let raw = own.as_ref().zip(col).and_then(|(own, c)| {
                        let i = own[j];
                        match &c.new {
                            Values::Text { dict, codes }
                                if i != NONE && codes[i as usize] != NULL_TEXT =>
                            {
                                Some(dict[codes[i as usize] as usize].as_str())
                            }
                            _ => None,
                        }
                    });
                    match raw {
                        Some(r) => match process.pipeline_code(r) {
                            Some(p) => process.pipelines()[p].name.as_str(),
                            None => r,
                        },
                        None => {
                            let p = stage[j].map_or(0, |c| process.pipeline_of(c));
                            process.pipelines()[p].name.as_str()
                        }
                    }
                };
                let bytes: usize = (0..n).map(|j| value(j).len()).sum();
                let mut b = arrow_array::builder::StringBuilder::with_capacity(n, bytes);
                for j in 0..n {
                    b.append_value(value(j));
                }
                Arc::new(b.finish())
            }
            "stage_probability" => {
                // The probability pipewise.toml gives the deal's current stage (percent).
                let stage = self.stage_codes(log, process);
                Arc::new(
                    stage
                        .iter()
                        .map(|s| s.and_then(|c| process.stages()[c].probability))
                        .collect::<Float64Array>(),
                )
            }
            _ => return None,
        })
    }

    /// The columns of `schema`, in order.
    pub fn batch(
        &self,
        log: &EventLog,
        process: &SalesProcess,
        schema: arrow_schema::SchemaRef,
    ) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                self.column(log, process, f.name()).ok_or_else(|| {
                    arrow_schema::ArrowError::SchemaError(format!("no column {}", f.name()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        arrow_array::RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(self.keys.len())),
        )
    }
}

/// The canonical `opportunities` table (see `pipewise_model::schema::opportunities`)
/// as of `cut`: one row per existing opportunity, in key order. Needs ids and
/// every field loaded. A deal without a forecast category takes its stage's;
/// `is_closed` / `is_won` follow the stage's configured outcome.
pub fn opportunities_batch(
    log: &EventLog,
    process: &SalesProcess,
    cut: Cut,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    FactColumns::new(log, cut).batch(log, process, pipewise_model::schema::opportunities())
}

/// Deal facts as of `cut`: the canonical opportunities table plus lifecycle
/// facts metrics need, and every custom field as a `custom_<name>` text column.
///
/// * `qualified` / `qualified_at` — the deal reached the process's
///   qualified (SAL-proxy) stage or a later open stage or won, and when it
///   first did (seed 004: close and win rates count only such deals);
/// * `closed_at` — when a closed deal entered its current closed stage;
/// * `stage_probability` — the probability `pipewise.toml` gives its stage;
/// * `pipeline` — the sales process it follows (see [`GroupBy::Pipeline`]).
pub fn deal_facts_batch(
    log: &EventLog,
    process: &SalesProcess,
    cut: Cut,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    let custom: Vec<String> = log
        .columns
        .keys()
        .filter_map(|f| match f {
            Field::Custom(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    FactColumns::new(log, cut).batch(log, process, deal_facts_schema(&custom))
}

/// The schema of [`deal_facts_batch`] for a ledger with these custom fields
/// (in name order).
pub fn deal_facts_schema(custom: &[String]) -> arrow_schema::SchemaRef {
    use arrow_schema::{DataType, Field as ArrowField, Schema, TimeUnit};
    let mut fields: Vec<ArrowField> = pipewise_model::schema::opportunities()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    fields.push(ArrowField::new("qualified", DataType::Boolean, false));
    fields.push(ArrowField::new("qualified_at", ts.clone(), true));
    fields.push(ArrowField::new("closed_at", ts, true));
    fields.push(ArrowField::new(
        "stage_probability",
        DataType::Float64,
        true,
    ));
    fields.push(ArrowField::new("pipeline", DataType::Utf8, false));
    for name in custom {
        fields.push(ArrowField::new(
            format!("custom_{name}"),
            DataType::Utf8,
            true,
        ));
    }
    std::sync::Arc::new(Schema::new(fields))
}
