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
    let k = key as usize;
    if log.keys.created_at[k] > cut.effective {
        return false;
    }
    if let Some(r) = cut.recorded
        && log.keys.first_recorded_at[k] > r
    {
        return false;
    }
    if let Some(c) = log.column(&Field::IsDeleted)
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
        let mut v = vec![Field::Stage, Field::Amount, Field::IsDeleted];
        match self {
            GroupBy::Stage => {}
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

/// Counts and amounts of one chunk of keys, per (cut, group).
type Partial = (Vec<u64>, Vec<f64>);

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
    let empty_text = FieldColumn {
        field: Field::Stage,
        opp: Vec::new(),
        effective_at: Vec::new(),
        recorded_at: Vec::new(),
        seq: Vec::new(),
        source: Vec::new(),
        old: None,
        new: Values::Text {
            dict: Vec::new(),
            codes: Vec::new(),
        },
        offsets: Vec::new(),
    };
    let stage_col = log.column(&Field::Stage).unwrap_or(&empty_text);
    let Values::Text {
        dict: stage_dict,
        codes: stage_codes,
    } = &stage_col.new
    else {
        return vec![Vec::new(); cuts.len()];
    };
    // Stage dictionary code → process stage code (usize::MAX when unknown).
    let stage_map: Vec<usize> = stage_dict
        .iter()
        .map(|s| process.stage_code(s).unwrap_or(usize::MAX))
        .collect();

    // The column the groups come from (stage grouping uses the stage column itself).
    let group_col: Option<&FieldColumn> = match group {
        GroupBy::Stage => None,
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
        GroupBy::ForecastCategory => 1 + ForecastCategory::ALL.len(),
        _ => match group_col.map(|c| &c.new) {
            Some(Values::Text { dict, .. }) => 1 + dict.len(),
            _ => 1,
        },
    };
    let amount_col = log.column(&Field::Amount);
    let n_cuts = cuts.len();
    let n_keys = log.keys.len();

    let work = |lo: usize, hi: usize| -> (Vec<u64>, Vec<f64>) {
        let mut counts = vec![0u64; n_cuts * n_groups];
        let mut amounts = vec![0f64; n_cuts * n_groups];
        for key in lo as u32..hi as u32 {
            for (ci, &cut) in cuts.iter().enumerate() {
                if !exists(log, key, cut) {
                    continue;
                }
                let stage_pc = in_force(stage_col, key, cut)
                    .map(|i| stage_codes[i])
                    .filter(|&c| c != NULL_TEXT)
                    .map(|c| (c, stage_map[c as usize]));
                if open_only {
                    match stage_pc {
                        Some((_, pc))
                            if pc != usize::MAX && process.outcome(pc) == StageOutcome::Open => {}
                        _ => continue,
                    }
                }
                let g = match group {
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
                        Values::Number(v) if !v[i].is_nan() => v[i],
                        _ => 0.0,
                    })
                    .unwrap_or(0.0);
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
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(n_chunks);
    let mut parts: Vec<Option<Partial>> = vec![None; n_chunks];
    if threads <= 1 {
        for (c, p) in parts.iter_mut().enumerate() {
            *p = Some(work(c * CHUNK, ((c + 1) * CHUNK).min(n_keys)));
        }
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done: Vec<Vec<(usize, Partial)>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if c >= n_chunks {
                                break;
                            }
                            mine.push((c, work(c * CHUNK, ((c + 1) * CHUNK).min(n_keys))));
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (c, r) in done.into_iter().flatten() {
            parts[c] = Some(r);
        }
    }
    let mut counts = vec![0u64; n_cuts * n_groups];
    let mut amounts = vec![0f64; n_cuts * n_groups];
    for (c, a) in parts.into_iter().flatten() {
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
                    process.stages()[g - 1].name.clone()
                } else {
                    stage_dict[g - 1 - n_stage].clone()
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
                        amount: amounts[ci * n_groups + g],
                    },
                )
            })
            .collect();
        match group {
            GroupBy::Stage | GroupBy::ForecastCategory => {
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
    (0..log.keys.len() as u32)
        .filter(|&k| exists(log, k, cut))
        .collect()
}

/// For each key, the index of the event of `f` in force at `cut`.
fn in_force_all<'a>(
    log: &'a EventLog,
    f: &Field,
    keys: &[u32],
    cut: Cut,
) -> Option<(&'a FieldColumn, Vec<Option<usize>>)> {
    let c = log.column(f)?;
    Some((c, keys.iter().map(|&k| in_force(c, k, cut)).collect()))
}

/// The stage code of each entry of the stage column's dictionary (`None`:
/// not a stage of the process).
fn stage_codes(process: &SalesProcess, dict: &[String]) -> Vec<Option<usize>> {
    dict.iter().map(|s| process.stage_code(s)).collect()
}

/// The canonical `opportunities` table (see `pipewise_model::schema::opportunities`)
/// as of `cut`: one row per existing opportunity, in key order. Needs ids and
/// every field loaded. A deal without a forecast category takes its stage's;
/// `is_closed` / `is_won` follow the stage's configured outcome.
///
/// Built column by column: each field's in-force event per deal, gathered
/// straight from the ledger's typed columns (no per-deal maps).
pub fn opportunities_batch(
    log: &EventLog,
    process: &SalesProcess,
    cut: Cut,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    opportunities_batch_for(log, process, cut, &existing_keys(log, cut))
}

fn opportunities_batch_for(
    log: &EventLog,
    process: &SalesProcess,
    cut: Cut,
    keys: &[u32],
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    use crate::log::{NULL_BOOL, NULL_DATE};
    use arrow_array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, StringArray, TimestampMicrosecondArray,
    };
    use std::sync::Arc;
    let n = keys.len();
    let text = |f: Field| -> ArrayRef {
        match in_force_all(log, &f, keys, cut) {
            Some((c, idx)) => match &c.new {
                Values::Text { dict, codes } => Arc::new(
                    idx.iter()
                        .map(|i| {
                            i.and_then(|i| {
                                (codes[i] != NULL_TEXT).then(|| dict[codes[i] as usize].as_str())
                            })
                        })
                        .collect::<StringArray>(),
                ),
                v => Arc::new(
                    idx.iter()
                        .map(|i| i.and_then(|i| v.get(i).to_canonical_string()))
                        .collect::<StringArray>(),
                ),
            },
            None => Arc::new(StringArray::new_null(n)),
        }
    };
    let num = |f: Field| -> ArrayRef {
        match in_force_all(log, &f, keys, cut) {
            Some((c, idx)) => match &c.new {
                Values::Number(v) => Arc::new(
                    idx.iter()
                        .map(|i| i.map(|i| v[i]).filter(|x| !x.is_nan()))
                        .collect::<Float64Array>(),
                ),
                v => Arc::new(
                    idx.iter()
                        .map(|i| i.and_then(|i| v.get(i).as_number()))
                        .collect::<Float64Array>(),
                ),
            },
            None => Arc::new(Float64Array::new_null(n)),
        }
    };
    let date = |f: Field| -> ArrayRef {
        match in_force_all(log, &f, keys, cut) {
            Some((c, idx)) => match &c.new {
                Values::Date(v) => Arc::new(
                    idx.iter()
                        .map(|i| i.map(|i| v[i]).filter(|&d| d != NULL_DATE))
                        .collect::<Date32Array>(),
                ),
                v => Arc::new(
                    idx.iter()
                        .map(|i| i.and_then(|i| v.get(i).as_date()))
                        .collect::<Date32Array>(),
                ),
            },
            None => Arc::new(Date32Array::new_null(n)),
        }
    };
    let boolean = |f: Field| -> ArrayRef {
        match in_force_all(log, &f, keys, cut) {
            Some((c, idx)) => match &c.new {
                Values::Bool(v) => Arc::new(
                    idx.iter()
                        .map(|i| i.map(|i| v[i]).filter(|&b| b != NULL_BOOL).map(|b| b == 1))
                        .collect::<BooleanArray>(),
                ),
                v => Arc::new(
                    idx.iter()
                        .map(|i| match i.map(|i| v.get(i)) {
                            Some(Value::Bool(b)) => Some(b),
                            _ => None,
                        })
                        .collect::<BooleanArray>(),
                ),
            },
            None => Arc::new(BooleanArray::new_null(n)),
        }
    };
    // The stage code of each deal, through the stage dictionary.
    let stage: Vec<Option<usize>> = match in_force_all(log, &Field::Stage, keys, cut) {
        Some((c, idx)) => match &c.new {
            Values::Text { dict, codes } => {
                let code = stage_codes(process, dict);
                idx.iter()
                    .map(|i| i.and_then(|i| code.get(codes[i] as usize).copied().flatten()))
                    .collect()
            }
            _ => vec![None; n],
        },
        None => vec![None; n],
    };
    let outcome = |i: usize| stage[i].map(|c| process.outcome(c));
    let fc: ArrayRef = {
        let own = in_force_all(log, &Field::ForecastCategory, keys, cut);
        Arc::new(
            (0..n)
                .map(|j| {
                    let mine = own.as_ref().and_then(|(c, idx)| match &c.new {
                        Values::Text { dict, codes } => idx[j]
                            .filter(|&i| codes[i] != NULL_TEXT)
                            .map(|i| dict[codes[i] as usize].as_str()),
                        _ => None,
                    });
                    mine.or_else(|| {
                        stage[j].map(|c| process.stages()[c].forecast_category.as_str())
                    })
                })
                .collect::<StringArray>(),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            keys.iter().map(|&k| log.keys.id(k)),
        )),
        text(Field::AccountId),
        text(Field::OwnerId),
        text(Field::Name),
        text(Field::Type),
        text(Field::Segment),
        text(Field::Source),
        text(Field::Currency),
        num(Field::Amount),
        text(Field::Stage),
        fc,
        num(Field::Probability),
        date(Field::CloseDate),
        Arc::new(
            TimestampMicrosecondArray::from(
                keys.iter()
                    .map(|&k| log.keys.created_at[k as usize])
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            (0..n)
                .map(|i| Some(outcome(i).is_some_and(|o| o != StageOutcome::Open)))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            (0..n)
                .map(|i| Some(outcome(i) == Some(StageOutcome::Won)))
                .collect::<BooleanArray>(),
        ),
        text(Field::LossReason),
        text(Field::NextStep),
        date(Field::NextStepDate),
        boolean(Field::HasBusinessCase),
        Arc::new(BooleanArray::from(vec![false; n])),
    ];
    arrow_array::RecordBatch::try_new(pipewise_model::schema::opportunities(), columns)
}

/// Deal facts as of `cut`: the canonical opportunities table plus lifecycle
/// facts metrics need, and every custom field as a `custom_<name>` text column.
///
/// * `qualified` / `qualified_at` — the deal reached the process's
///   qualified (SAL-proxy) stage or a later open stage or won, and when it
///   first did (seed 004: close and win rates count only such deals);
/// * `closed_at` — when a closed deal entered its current closed stage;
/// * `stage_probability` — the probability `pipewise.toml` gives its stage.
pub fn deal_facts_batch(
    log: &EventLog,
    process: &SalesProcess,
    cut: Cut,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    use arrow_array::{ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};

    use std::sync::Arc;
    let keys = existing_keys(log, cut);
    let base = opportunities_batch_for(log, process, cut, &keys)?;
    let q = process.qualified_stage();
    let stage_col = log.column(&Field::Stage);
    let stage_code: Vec<Option<usize>> = match stage_col.map(|c| &c.new) {
        Some(Values::Text { dict, .. }) => stage_codes(process, dict),
        _ => Vec::new(),
    };
    let mut qualified = Vec::with_capacity(keys.len());
    let mut qualified_at = Vec::with_capacity(keys.len());
    let mut closed_at = Vec::with_capacity(keys.len());
    for &k in &keys {
        let mut first_q: Option<Timestamp> = None;
        let mut closed: Option<Timestamp> = None;
        if let Some(c) = stage_col
            && let Values::Text { codes, .. } = &c.new
        {
            let last = in_force(c, k, cut);
            for i in c.run(k) {
                if c.effective_at[i] > cut.effective
                    || cut.recorded.is_some_and(|r| c.recorded_at[i] > r)
                {
                    continue;
                }
                let code = stage_code.get(codes[i] as usize).copied().flatten();
                if let Some(code) = code
                    && code >= q
                    && process.outcome(code) != StageOutcome::Lost
                    && first_q.is_none()
                {
                    first_q = Some(c.effective_at[i]);
                }
                if Some(i) == last && code.is_some_and(|s| process.outcome(s) != StageOutcome::Open)
                {
                    closed = Some(c.effective_at[i]);
                }
            }
        }
        qualified.push(Some(first_q.is_some()));
        qualified_at.push(first_q);
        closed_at.push(closed);
    }
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns.push(Arc::new(qualified.into_iter().collect::<BooleanArray>()));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from(qualified_at).with_timezone("UTC"),
    ));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from(closed_at).with_timezone("UTC"),
    ));
    // The probability pipewise.toml gives the deal's current stage (percent).
    let stage_prob: arrow_array::Float64Array = keys
        .iter()
        .map(|&k| {
            let c = stage_col?;
            let i = in_force(c, k, cut)?;
            match &c.new {
                Values::Text { codes, .. } => stage_code
                    .get(codes[i] as usize)
                    .copied()
                    .flatten()
                    .and_then(|s| process.stages()[s].probability),
                _ => None,
            }
        })
        .collect();
    columns.push(Arc::new(stage_prob));
    let mut custom = Vec::new();
    for (f, c) in &log.columns {
        if let Field::Custom(name) = f {
            let vals: StringArray = keys
                .iter()
                .map(|&k| in_force(c, k, cut).and_then(|i| c.new.get(i).to_canonical_string()))
                .collect();
            custom.push(name.clone());
            columns.push(Arc::new(vals));
        }
    }
    arrow_array::RecordBatch::try_new(deal_facts_schema(&custom), columns)
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
    for name in custom {
        fields.push(ArrowField::new(
            format!("custom_{name}"),
            DataType::Utf8,
            true,
        ));
    }
    std::sync::Arc::new(Schema::new(fields))
}
