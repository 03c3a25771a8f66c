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
/// each time). Always inlined: the as-of loops call it for every deal at
/// every cut (52 million calls for a year of weeks over 1M deals), and left
/// to itself the compiler stopped inlining it into the rayon task.
#[inline(always)]
pub fn exists_with(log: &EventLog, deleted: Option<&FieldColumn>, key: u32, cut: Cut) -> bool {
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
    /// The opportunity's id.
    pub id: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Every loaded field that has a value in force (null values included).
    pub values: BTreeMap<Field, Value>,
}

impl OpportunityState {
    /// The field's value in this state (null when the deal has none).
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
    /// By stage (labelled `Process: Stage` with several processes).
    Stage,
    /// The sales process: the `pipeline` field as `pipewise.toml` names it (a
    /// source name no process has as is), else the process of the deal's stage.
    Pipeline,
    /// The forecast_category field; deals without one take their stage's category.
    ForecastCategory,
    /// By owner id.
    Owner,
    /// By segment.
    Segment,
    /// Any other text field.
    Field(Field),
}

impl GroupBy {
    /// A `--by` name: `stage`, `owner`, `forecast_category`, `pipeline`, … or `custom.<name>`.
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
    /// The group's value (`(none)` for deals without one).
    pub group: String,
    /// Deals in the group.
    pub count: u64,
    /// Their amount.
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

/// How [`totals_in`] groups deals: the grouping's column and lookups, and
/// the group ids. Group id layout: 0 = none; stage grouping: 1 + process
/// code, then 1 + n_stage + dictionary code for unknown stages; pipeline
/// grouping: 1 + process code, then 1 + n_pipes + dictionary code for
/// unknown processes; forecast categories: 1 + category index; text
/// grouping: 1 + dictionary code.
struct Groups<'a> {
    group: &'a GroupBy,
    process: &'a SalesProcess,
    /// The column the groups come from (stage and pipeline grouping use
    /// their own columns).
    col: Option<&'a FieldColumn>,
    pipe_col: Option<&'a FieldColumn>,
    stage_dict: &'a [String],
    /// Per forecast-category dictionary code: its category index (MAX: none).
    fc_map: Vec<usize>,
    n_stage: usize,
    n_pipes: usize,
    n: usize,
}

impl<'a> Groups<'a> {
    fn new(
        log: &'a EventLog,
        process: &'a SalesProcess,
        group: &'a GroupBy,
        stage_dict: &'a [String],
    ) -> Groups<'a> {
        let col: Option<&FieldColumn> = match group {
            GroupBy::Stage | GroupBy::Pipeline => None,
            GroupBy::ForecastCategory => log.column(&Field::ForecastCategory),
            GroupBy::Owner => log.column(&Field::OwnerId),
            GroupBy::Segment => log.column(&Field::Segment),
            GroupBy::Field(f) => log.column(f),
        };
        let pipe_col = log.column(&Field::Pipeline);
        let fc_map: Vec<usize> = match (group, col) {
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
        let text_len = |c: Option<&FieldColumn>| match c.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict.len(),
            _ => 0,
        };
        let (n_stage, n_pipes) = (process.stages().len(), process.pipelines().len());
        let n = match group {
            GroupBy::Stage => 1 + n_stage + stage_dict.len(),
            GroupBy::Pipeline => 1 + n_pipes + text_len(pipe_col),
            GroupBy::ForecastCategory => 1 + ForecastCategory::ALL.len(),
            _ => 1 + text_len(col),
        };
        Groups {
            group,
            process,
            col,
            pipe_col,
            stage_dict,
            fc_map,
            n_stage,
            n_pipes,
            n,
        }
    }

    /// The group of a deal at `cut`: its stage (dictionary code, process
    /// code or MAX) and process (code, and the raw pipeline value's code when
    /// it names none).
    #[inline(always)]
    fn id(
        &self,
        key: u32,
        cut: Cut,
        stage_pc: Option<(u32, usize)>,
        (deal_pipe, raw_pipe): (usize, Option<u32>),
    ) -> usize {
        let text_code = |c: &FieldColumn, i: usize| match &c.new {
            Values::Text { codes, .. } if codes[i] != NULL_TEXT => Some(codes[i]),
            _ => None,
        };
        match self.group {
            GroupBy::Pipeline => match raw_pipe {
                Some(d) => 1 + self.n_pipes + d as usize,
                None => 1 + deal_pipe,
            },
            GroupBy::Stage => match stage_pc {
                None => 0,
                Some((_, pc)) if pc != usize::MAX => 1 + pc,
                Some((dc, _)) => 1 + self.n_stage + dc as usize,
            },
            GroupBy::ForecastCategory => {
                let from_field = self
                    .col
                    .and_then(|c| in_force(c, key, cut).and_then(|i| text_code(c, i)))
                    .map(|code| self.fc_map[code as usize])
                    .filter(|&m| m != usize::MAX);
                match (from_field, stage_pc) {
                    (Some(m), _) => 1 + m,
                    (None, Some((_, pc))) if pc != usize::MAX => {
                        1 + fc_index(self.process.stages()[pc].forecast_category)
                    }
                    _ => 0,
                }
            }
            _ => self
                .col
                .and_then(|c| in_force(c, key, cut).and_then(|i| text_code(c, i)))
                .map_or(0, |code| 1 + code as usize),
        }
    }

    /// A group's label (`pipeline`: totals of one process, whose stages need
    /// no process prefix).
    fn label(&self, g: usize, pipeline: Option<usize>) -> String {
        if g == 0 {
            return NO_VALUE.to_string();
        }
        let dict_entry = |c: Option<&FieldColumn>, i: usize| match c.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => dict[i].clone(),
            _ => NO_VALUE.to_string(),
        };
        match self.group {
            GroupBy::Stage if g <= self.n_stage && pipeline.is_some() => {
                self.process.stages()[g - 1].name.clone()
            }
            GroupBy::Stage if g <= self.n_stage => self.process.stage_label(g - 1),
            GroupBy::Stage => self.stage_dict[g - 1 - self.n_stage].clone(),
            GroupBy::Pipeline if g <= self.n_pipes => self.process.pipelines()[g - 1].name.clone(),
            GroupBy::Pipeline => dict_entry(self.pipe_col, g - 1 - self.n_pipes),
            GroupBy::ForecastCategory => ForecastCategory::ALL[g - 1].as_str().to_string(),
            _ => dict_entry(self.col, g - 1),
        }
    }

    /// One cut's totals as rows, in the grouping's order: stage, process and
    /// category order, else by name; "(none)" last.
    fn rows(
        &self,
        counts: &[u64],
        amounts: &[crate::flow::Fixed],
        pipeline: Option<usize>,
    ) -> Vec<GroupTotal> {
        let mut rows: Vec<(usize, GroupTotal)> = (0..self.n)
            .filter(|&g| counts[g] > 0)
            .map(|g| {
                (
                    g,
                    GroupTotal {
                        group: self.label(g, pipeline),
                        count: counts[g],
                        amount: crate::flow::from_fixed(amounts[g]),
                    },
                )
            })
            .collect();
        match self.group {
            GroupBy::Stage | GroupBy::ForecastCategory | GroupBy::Pipeline => {
                rows.sort_by_key(|(g, _)| if *g == 0 { usize::MAX } else { *g })
            }
            _ => rows.sort_by(|a, b| {
                (a.0 == 0)
                    .cmp(&(b.0 == 0))
                    .then_with(|| a.1.group.cmp(&b.1.group))
            }),
        }
        rows.into_iter().map(|(_, r)| r).collect()
    }
}

/// A forecast category's index in [`ForecastCategory::ALL`].
fn fc_index(c: ForecastCategory) -> usize {
    ForecastCategory::ALL
        .iter()
        .position(|x| *x == c)
        .unwrap_or(0)
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
    let groups = Groups::new(log, process, group, stage_dict);
    let n_groups = groups.n;
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
                let pipe = if need_pipeline {
                    deal_pipeline(key, cut, known_stage)
                } else {
                    (0, None)
                };
                if pipeline.is_some_and(|p| p != pipe.0) {
                    continue;
                }
                if open_only {
                    match stage_pc {
                        Some((_, pc))
                            if pc != usize::MAX && process.outcome(pc) == StageOutcome::Open => {}
                        _ => continue,
                    }
                }
                let g = groups.id(key, cut, stage_pc, pipe);
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
    (0..n_cuts)
        .map(|ci| {
            let at = ci * n_groups..(ci + 1) * n_groups;
            groups.rows(&counts[at.clone()], &amounts[at], pipeline)
        })
        .collect()
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
    /// The stage codes of `log`'s stage events in `process`.
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

mod facts;

pub use facts::{
    FactColumns, deal_facts_batch, deal_facts_schema, fields_for, opportunities_batch,
};
