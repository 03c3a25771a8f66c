//! The columns of `deal_facts` and `opportunities` as of a cut, built column
//! by column (only those a query reads, each once per cut): each deal's
//! fields in force, its lifecycle (qualified, closed) and what follows from
//! its stage in its own process.

use super::{Cut, StageCodes, existing_keys, in_force};
use crate::log::{EventLog, NULL_TEXT, Values};
use pipewise_model::{Field, SalesProcess, StageOutcome, Timestamp, Value};

/// "No event in force" in an in-force index vector.
const NONE: u32 = u32::MAX;

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
