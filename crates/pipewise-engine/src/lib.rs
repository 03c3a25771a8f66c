//! The SQL engine: DataFusion embedded over the ledger's canonical tables.
//!
//! [`Engine::open`] registers
//! * the entity tables of the current ledger version (`users`, `accounts`,
//!   `activities`, `leads`, `lead_events`, `quotas`, `ref_*`) straight from
//!   their Parquet files;
//! * `opportunity_events` — the ledger in its canonical, all-text shape — and
//!   `opportunities` — the current state — both built only when a query
//!   reads them;
//! * the table functions `pipeline_as_of(time [, known])` (alias
//!   `opportunities_as_of`): the `opportunities` table as of any time; with
//!   `known => true`, only what had been recorded by then (backtests); and
//!   `deal_facts(time [, known])`: the same plus `qualified`, `qualified_at`,
//!   `closed_at` and every custom field as `custom_<name>` (what metrics read).
//!
//! SQL runs on a Tokio runtime owned by the engine, apart from any server
//! runtime (DataFusion's advice for CPU-bound plans).

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{MemTable, Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use pipewise_ledger::asof::{self, Cut};
use pipewise_ledger::{EventLog, Store};
use pipewise_model::{Field, SalesProcess, Timestamp};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

pub use datafusion;

pub mod postgres;

/// Why a query or the engine failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // each variant is described by its #[error] message
pub enum EngineError {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Ledger(#[from] pipewise_ledger::LedgerError),
    #[error("cannot start the query runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(
        "pipewise sql is read-only: this statement would change tables or settings ({0}); the ledger changes only through `pipewise ingest`"
    )]
    ReadOnly(String),
}

impl EngineError {
    /// Was the statement rejected while being planned (its syntax, a table,
    /// column or type it names), rather than failing as it ran?
    pub fn is_planning(&self) -> bool {
        match self {
            EngineError::DataFusion(e) => matches!(
                e.find_root(),
                DataFusionError::Plan(_)
                    | DataFusionError::SchemaError(..)
                    | DataFusionError::SQL(..)
                    | DataFusionError::NotImplemented(_)
            ),
            _ => false,
        }
    }
}

/// A cut as a map key: (effective, recorded).
type CutKey = (Timestamp, Option<Timestamp>);

fn cut_key(c: Cut) -> CutKey {
    (c.effective, c.recorded)
}

/// One cut's column builder and the columns it has built.
#[derive(Debug)]
struct CutColumns {
    facts: Arc<asof::FactColumns>,
    columns: std::collections::HashMap<String, ArrayRef>,
}

/// A cut's columns, created (its deals listed) on first use.
fn cut_entry<'a>(
    cuts: &'a mut std::collections::HashMap<CutKey, CutColumns>,
    log: &EventLog,
    cut: Cut,
) -> &'a mut CutColumns {
    cuts.entry(cut_key(cut)).or_insert_with(|| CutColumns {
        facts: Arc::new(asof::FactColumns::new(log, cut)),
        columns: Default::default(),
    })
}

/// The row at the start cut of each deal at the later cut, and start columns.
type SinceColumns = (
    Arc<datafusion::arrow::array::UInt32Array>,
    std::collections::HashMap<String, ArrayRef>,
);

/// What the lazy tables and table functions share: the ledger, loaded once.
#[derive(Debug)]
struct Shared {
    store: Store,
    process: SalesProcess,
    log: OnceLock<Result<Arc<EventLog>, String>>,
    /// The lean ledger as-of tables read (no old values, no sources), without
    /// and with recorded times: each field loads when a query first reads it.
    lean: [std::sync::Mutex<Option<Lean>>; 2],
    /// Columns built by the as-of functions, per cut.
    cuts: std::sync::Mutex<std::collections::HashMap<CutKey, CutColumns>>,
    /// `deal_facts_since`'s start columns, per (cut, start): the row of each
    /// deal at the start, and the columns taken so far.
    since: std::sync::Mutex<std::collections::HashMap<(CutKey, CutKey), SinceColumns>>,
}

/// A ledger loaded field by field, as queries need them.
#[derive(Debug)]
struct Lean {
    log: EventLog,
    loaded: std::collections::BTreeSet<Field>,
    ids: bool,
}

impl Shared {
    /// Run `f` over the lean ledger (with recorded times for backtest cuts),
    /// first loading the `fields` (and ids) it lacks. On 1M deals a scorecard
    /// reads 6 of the ledger's 17 fields.
    fn with_lean<T>(
        &self,
        cut: Cut,
        fields: &[Field],
        ids: bool,
        f: impl FnOnce(&EventLog) -> datafusion::common::Result<T>,
    ) -> datafusion::common::Result<T> {
        let recorded = cut.recorded.is_some();
        let mut lean = self.lean[usize::from(recorded)]
            .lock()
            .map_err(|_| DataFusionError::Execution("ledger cache poisoned".into()))?;
        let mut want: Vec<Field> = fields.to_vec();
        want.push(Field::IsDeleted);
        want.sort();
        want.dedup();
        let missing: Vec<Field> = want
            .into_iter()
            .filter(|f| lean.as_ref().is_none_or(|l| !l.loaded.contains(f)))
            .collect();
        let need_ids = ids && lean.as_ref().is_none_or(|l| !l.ids);
        if lean.is_none() || !missing.is_empty() || need_ids {
            let m = self
                .store
                .manifest()
                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
            let started = std::time::Instant::now();
            let new = self
                .store
                .load_projected(
                    &m,
                    &pipewise_ledger::Projection {
                        fields: Some(missing.clone()),
                        old_values: false,
                        recorded_at: recorded,
                        ids: need_ids,
                        sources: false,
                    },
                )
                .map_err(|e| DataFusionError::Execution(e.to_string()))?;
            tracing::debug!(?missing, need_ids, elapsed = ?started.elapsed(), "ledger fields loaded");
            match lean.as_mut() {
                None => {
                    *lean = Some(Lean {
                        log: new,
                        loaded: missing.into_iter().collect(),
                        ids: need_ids,
                    })
                }
                Some(l) => {
                    // Every load of one ledger version numbers deals the same way.
                    if need_ids {
                        l.log.keys = new.keys;
                        l.ids = true;
                    }
                    l.log.columns.extend(new.columns);
                    l.loaded.extend(missing);
                }
            }
        }
        match lean.as_ref() {
            Some(l) => f(&l.log),
            None => Err(DataFusionError::Execution("ledger not loaded".into())),
        }
    }

    fn log(&self) -> datafusion::common::Result<Arc<EventLog>> {
        self.log
            .get_or_init(|| {
                self.store
                    .load(None, true)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(DataFusionError::Execution)
    }
}

/// A table whose batch is built on first scan.
#[derive(Debug)]
struct LazyTable {
    schema: SchemaRef,
    shared: Arc<Shared>,
    build: fn(&Shared) -> datafusion::common::Result<RecordBatch>,
    cache: OnceLock<RecordBatch>,
}

#[async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let batch = match self.cache.get() {
            Some(b) => b.clone(),
            None => {
                let b = (self.build)(&self.shared)?;
                self.cache.get_or_init(|| b).clone()
            }
        };
        scan_batch(batch, state, projection, filters, limit).await
    }
}

/// Scan one in-memory batch, as a `MemTable` would.
async fn scan_batch(
    batch: RecordBatch,
    state: &dyn Session,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    // One partition per core, in slices of the batch size (zero-copy): a
    // single 1M-row batch would be scanned — and aggregated — on one core.
    let n = batch.num_rows();
    let parts = state.config().target_partitions().clamp(1, n.max(1));
    let chunk = state.config().batch_size().max(1);
    let per_part = n.div_ceil(parts);
    let partitions: Vec<Vec<RecordBatch>> = (0..parts)
        .map(|p| {
            let (start, end) = ((p * per_part).min(n), ((p + 1) * per_part).min(n));
            (start..end)
                .step_by(chunk)
                .map(|o| batch.slice(o, chunk.min(end - o)))
                .collect()
        })
        .collect();
    let mem = MemTable::try_new(batch.schema(), partitions)?;
    mem.scan(state, projection, filters, limit).await
}

fn events_batch(shared: &Shared) -> datafusion::common::Result<RecordBatch> {
    use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    let log = shared.log()?;
    let events = log.all_events();
    let s = |f: &dyn Fn(&pipewise_model::OpportunityEvent) -> Option<String>| -> ArrayRef {
        Arc::new(events.iter().map(|(_, e)| f(e)).collect::<StringArray>())
    };
    let t = |f: &dyn Fn(&pipewise_model::OpportunityEvent) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(events.iter().map(|(_, e)| f(e)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    Ok(RecordBatch::try_new(
        pipewise_model::schema::opportunity_events(),
        vec![
            s(&|e| Some(e.opportunity_id.clone())),
            s(&|e| Some(e.field.name().into_owned())),
            s(&|e| e.old_value.to_canonical_string()),
            s(&|e| e.new_value.to_canonical_string()),
            t(&|e| e.effective_at),
            t(&|e| e.recorded_at),
            s(&|e| Some(e.source.clone())),
            Arc::new(arrow_array::Int64Array::from_iter_values(
                events.iter().map(|(seq, _)| *seq as i64),
            )),
        ],
    )?)
}

fn keys_batch(shared: &Shared) -> datafusion::common::Result<RecordBatch> {
    use arrow_array::{StringArray, TimestampMicrosecondArray};
    let log = shared.log()?;
    let k = &log.keys;
    Ok(RecordBatch::try_new(
        keys_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..k.len() as u32).map(|i| k.id(i)),
            )),
            Arc::new(TimestampMicrosecondArray::from(k.created_at.clone()).with_timezone("UTC")),
            Arc::new(
                TimestampMicrosecondArray::from(k.first_recorded_at.clone()).with_timezone("UTC"),
            ),
        ],
    )?)
}

/// `opportunity_keys`: every opportunity the ledger knows, when it was
/// created and when pipewise first recorded it.
pub fn keys_schema() -> SchemaRef {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", ts.clone(), false),
        Field::new("first_recorded_at", ts, false),
    ]))
}

fn current_batch(shared: &Shared) -> datafusion::common::Result<RecordBatch> {
    let log = shared.log()?;
    Ok(asof::opportunities_batch(
        &log,
        &shared.process,
        Cut::at(Timestamp::MAX),
    )?)
}

/// `pipeline_as_of(time [, known])` and `deal_facts(time [, known])`.
#[derive(Debug)]
struct PipelineAsOf {
    name: &'static str,
    shared: Arc<Shared>,
    facts: bool,
    /// `deal_facts_since(time, start [, known])`: also the deal as it stood at `start`.
    since: bool,
}

fn instant_arg(name: &str, e: &Expr) -> datafusion::common::Result<Timestamp> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => match pipewise_model::time::parse_iso_instant(s, true) {
            Some(t) => Ok(t),
            None => plan_err!(
                "{name}: {s:?} is not a date or instant; use '2026-09-30' or '2026-09-30T17:00:00Z'"
            ),
        },
        Expr::Literal(ScalarValue::TimestampMicrosecond(Some(t), _), _) => Ok(*t),
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(t), _), _) => Ok(t / 1000),
        Expr::Literal(ScalarValue::TimestampMillisecond(Some(t), _), _) => Ok(t * 1000),
        Expr::Literal(ScalarValue::TimestampSecond(Some(t), _), _) => Ok(t * 1_000_000),
        Expr::Literal(ScalarValue::Date32(Some(d)), _) => Ok(pipewise_model::time::date_end(*d)),
        other => {
            plan_err!("{name}: the first argument must be a date or time literal, got {other}")
        }
    }
}

impl TableFunctionImpl for PipelineAsOf {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let first = usize::from(self.since); // index of the first argument after the time(s)
        if exprs.len() < 1 + first || exprs.len() > 2 + first {
            return if self.since {
                plan_err!(
                    "{}(time, start [, known]) takes two or three arguments",
                    self.name
                )
            } else {
                plan_err!("{}(time [, known]) takes one or two arguments", self.name)
            };
        }
        let t = instant_arg(self.name, &exprs[0])?;
        let start = if self.since {
            Some(instant_arg(self.name, &exprs[1])?)
        } else {
            None
        };
        let known = match exprs.get(1 + first) {
            None => false,
            Some(Expr::Literal(ScalarValue::Boolean(Some(b)), _)) => *b,
            Some(other) => {
                return plan_err!(
                    "{}: the second argument (known) must be true or false, got {other}",
                    self.name
                );
            }
        };
        let cut = if known { Cut::known_at(t) } else { Cut::at(t) };
        let schema = if self.facts {
            self.shared.facts_schema(self.since)?
        } else {
            pipewise_model::schema::opportunities()
        };
        let start = start.map(|t| if known { Cut::known_at(t) } else { Cut::at(t) });
        Ok(Arc::new(AsOfTable {
            shared: self.shared.clone(),
            cut,
            start,
            schema,
        }))
    }
}

impl Shared {
    /// The schema of `deal_facts`: the opportunities table, the lifecycle
    /// facts and one `custom_<name>` column per custom field in the ledger.
    fn facts_schema(&self, since: bool) -> datafusion::common::Result<SchemaRef> {
        let m = self
            .store
            .manifest()
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let mut custom: Vec<String> = m
            .segments
            .iter()
            .flat_map(|s| s.fields.keys())
            .filter_map(|f| f.strip_prefix("custom.").map(str::to_string))
            .collect();
        custom.sort();
        custom.dedup();
        let schema = asof::deal_facts_schema(&custom);
        if !since {
            return Ok(schema);
        }
        let mut fields: Vec<arrow_schema::Field> =
            schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(start_fields());
        Ok(Arc::new(arrow_schema::Schema::new(fields)))
    }

    /// Deal `cut`'s column `name`, built once per session: several metrics and
    /// breakdowns asking for the same cut share it, and a query builds (and
    /// loads the ledger fields of) only the columns it reads.
    fn column(&self, cut: Cut, name: &str) -> datafusion::common::Result<ArrayRef> {
        let Some((fields, ids)) = asof::fields_for(name) else {
            return plan_err!("as-of tables have no column {name}");
        };
        self.with_lean(cut, &fields, ids, |log| {
            let mut cuts = self.lock_cuts()?;
            let entry = cut_entry(&mut cuts, log, cut);
            if let Some(c) = entry.columns.get(name) {
                return Ok(c.clone());
            }
            let Some(c) = entry.facts.column(log, &self.process, name) else {
                return plan_err!("as-of tables have no column {name}");
            };
            entry.columns.insert(name.to_string(), c.clone());
            Ok(c)
        })
    }

    /// Build (in parallel, on every core) the columns `names` of `cut` that
    /// are not built yet; later [`Shared::column`] calls find them ready.
    fn warm(&self, cut: Cut, names: &[String]) -> datafusion::common::Result<()> {
        let mut fields: Vec<Field> = Vec::new();
        let mut ids = false;
        for name in names {
            if let Some((fs, i)) = asof::fields_for(name) {
                fields.extend(fs);
                ids |= i;
            }
        }
        self.with_lean(cut, &fields, ids, |log| {
            let (facts, missing) = {
                let mut cuts = self.lock_cuts()?;
                let entry = cut_entry(&mut cuts, log, cut);
                let missing: Vec<&String> = names
                    .iter()
                    .filter(|n| !entry.columns.contains_key(n.as_str()))
                    .collect();
                (entry.facts.clone(), missing)
            };
            if missing.len() < 2 {
                return Ok(());
            }
            // One column per task on rayon's pool; a task that panics fails
            // the query, never a column short.
            let built: Vec<(String, ArrayRef)> = missing
                .par_iter()
                .filter_map(|name| {
                    facts
                        .column(log, &self.process, name)
                        .map(|c| (name.to_string(), c))
                })
                .collect();
            if let Ok(mut cuts) = self.cuts.lock()
                && let Some(entry) = cuts.get_mut(&cut_key(cut))
            {
                entry.columns.extend(built);
            }
            // The columns a query reads are built together, here: their
            // indexes are not worth their memory until the next query.
            facts.release_indexes();
            Ok(())
        })
    }

    fn lock_cuts(
        &self,
    ) -> datafusion::common::Result<
        std::sync::MutexGuard<'_, std::collections::HashMap<CutKey, CutColumns>>,
    > {
        self.cuts
            .lock()
            .map_err(|_| DataFusionError::Execution("as-of cache poisoned".into()))
    }

    /// The number of deals existing at `cut`.
    fn rows(&self, cut: Cut) -> datafusion::common::Result<usize> {
        self.with_keys(cut, |k| k.len())
    }

    fn with_keys<T>(&self, cut: Cut, f: impl FnOnce(&[u32]) -> T) -> datafusion::common::Result<T> {
        self.with_lean(cut, &[], false, |log| {
            let mut cuts = self.lock_cuts()?;
            Ok(f(cut_entry(&mut cuts, log, cut).facts.keys()))
        })
    }

    /// A `start_*` column of `deal_facts_since(cut, start)`: the deal as it
    /// stood at `start`, lined up with the deals at `cut` (null for deals
    /// that did not exist then).
    fn start_column(
        &self,
        cut: Cut,
        start: Cut,
        name: &str,
    ) -> datafusion::common::Result<ArrayRef> {
        use datafusion::arrow::array::UInt32Array;
        use datafusion::arrow::compute::kernels::zip::zip;
        use datafusion::arrow::compute::{is_not_null, take};
        let key = (cut_key(cut), cut_key(start));
        let cached = self.since.lock().ok().and_then(|m| {
            m.get(&key)
                .map(|(idx, cols)| (idx.clone(), cols.get(name).cloned()))
        });
        if let Some((_, Some(c))) = &cached {
            return Ok(c.clone());
        }
        // Both cuts list existing deals in key order: match them by key.
        let idx = match cached {
            Some((idx, _)) => idx,
            None => {
                let then = self.with_keys(start, |k| k.to_vec())?;
                let n_keys = self.with_lean(cut, &[], false, |log| Ok(log.keys.len()))?;
                let mut row_then = vec![u32::MAX; n_keys];
                for (i, &k) in then.iter().enumerate() {
                    row_then[k as usize] = i as u32;
                }
                let idx: UInt32Array = self.with_keys(cut, |now| {
                    now.iter()
                        .map(|&k| Some(row_then[k as usize]).filter(|&r| r != u32::MAX))
                        .collect()
                })?;
                Arc::new(idx)
            }
        };
        let col = |base: &str| -> datafusion::common::Result<ArrayRef> {
            Ok(take(
                self.column(start, base)?.as_ref(),
                idx.as_ref(),
                None,
            )?)
        };
        let c = match name.strip_prefix("start_") {
            // coalesce(probability, stage_probability)
            Some("probability") => {
                let probability = col("probability")?;
                zip(
                    &is_not_null(probability.as_ref())?,
                    &probability,
                    &col("stage_probability")?,
                )?
            }
            Some(base) => col(base)?,
            None => return plan_err!("{name} is not a start_* column"),
        };
        if let Ok(mut m) = self.since.lock() {
            let e = m
                .entry(key)
                .or_insert_with(|| (idx.clone(), Default::default()));
            e.1.insert(name.to_string(), c.clone());
        }
        Ok(c)
    }
}

/// The `start_*` columns of `deal_facts_since`, in order.
fn start_fields() -> Vec<arrow_schema::Field> {
    use arrow_schema::{DataType, Field};
    vec![
        Field::new("start_stage", DataType::Utf8, true),
        Field::new("start_is_closed", DataType::Boolean, true),
        Field::new("start_close_date", DataType::Date32, true),
        Field::new("start_amount", DataType::Float64, true),
        Field::new("start_forecast_category", DataType::Utf8, true),
        Field::new("start_qualified", DataType::Boolean, true),
        Field::new("start_probability", DataType::Float64, true),
    ]
}

/// The table `pipeline_as_of(…)` / `deal_facts(…)` return. When scanned it
/// builds only the columns the query reads (each once per session), from the
/// lean ledger unless the query reads `name`, `next_step` or `account_id`.
#[derive(Debug)]
struct AsOfTable {
    shared: Arc<Shared>,
    cut: Cut,
    /// `deal_facts_since`: the start cut.
    start: Option<Cut>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for AsOfTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        // Only the columns the query reads, each built once per session.
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&indices)?);
        // Their ledger fields, then the columns, on every core.
        let (now, mut then): (Vec<String>, Vec<String>) = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .partition(|n| self.start.is_none() || !n.starts_with("start_"));
        self.shared.warm(self.cut, &now)?;
        if let Some(start) = self.start {
            for n in then.iter_mut() {
                *n = n.trim_start_matches("start_").to_string();
            }
            if then.iter().any(|n| n == "probability") {
                then.push("stage_probability".into());
            }
            self.shared.warm(start, &then)?;
        }
        let started = std::time::Instant::now();
        let columns = schema
            .fields()
            .iter()
            .map(|f| match self.start {
                Some(start) if f.name().starts_with("start_") => {
                    self.shared.start_column(self.cut, start, f.name())
                }
                _ => self.shared.column(self.cut, f.name()),
            })
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        tracing::debug!(columns = schema.fields().len(), elapsed = ?started.elapsed(), "as-of columns");
        let batch = RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow_array::RecordBatchOptions::new()
                .with_row_count(Some(self.shared.rows(self.cut)?)),
        )?;
        scan_batch(batch, state, None, filters, limit).await
    }
}

/// A DataFusion session over one workspace.
pub struct Engine {
    ctx: SessionContext,
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

impl Engine {
    /// Forget the ledger fields and as-of columns cached so far; a later
    /// query loads and builds what it needs again. For a one-shot command
    /// that is done querying: what it allocates next reuses their memory.
    pub fn release_caches(&self) {
        for lean in &self.shared.lean {
            if let Ok(mut l) = lean.lock() {
                *l = None;
            }
        }
        if let Ok(mut c) = self.shared.cuts.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.shared.since.lock() {
            c.clear();
        }
    }

    /// Open the engine over the current version of `store`.
    pub fn open(store: &Store, process: &SalesProcess) -> Result<Engine, EngineError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            )
            .thread_name("pipewise-sql")
            .build()
            .map_err(EngineError::Runtime)?;
        let ctx = SessionContext::new();
        let m = store.manifest()?;
        let shared = Arc::new(Shared {
            store: store.clone(),
            process: process.clone(),
            log: OnceLock::new(),
            lean: Default::default(),
            cuts: std::sync::Mutex::new(std::collections::HashMap::new()),
            since: std::sync::Mutex::new(std::collections::HashMap::new()),
        });
        // Entity tables, read with their canonical schema (a workspace written
        // before a column was added reads it as NULL); one the workspace does
        // not have yet is still queryable, empty.
        let entities = [
            ("users", pipewise_model::schema::users()),
            ("accounts", pipewise_model::schema::accounts()),
            ("activities", pipewise_model::schema::activities()),
            ("leads", pipewise_model::schema::leads()),
            ("lead_events", pipewise_model::schema::lead_events()),
            ("quotas", pipewise_model::schema::quotas()),
        ];
        rt.block_on(async {
            for name in m.tables.keys() {
                if let Some(p) = store.table_path(&m, name) {
                    let schema = entities.iter().find(|(n, _)| n == name).map(|(_, s)| s);
                    let mut options = ParquetReadOptions::default();
                    if let Some(s) = schema {
                        options = options.schema(s);
                    }
                    ctx.register_parquet(name, p.to_string_lossy().as_ref(), options)
                        .await?;
                }
            }
            Ok::<_, DataFusionError>(())
        })?;
        for (name, schema) in entities {
            if !m.tables.contains_key(name) {
                ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            }
        }
        let lazy =
            |schema: SchemaRef, build: fn(&Shared) -> datafusion::common::Result<RecordBatch>| {
                Arc::new(LazyTable {
                    schema,
                    shared: shared.clone(),
                    build,
                    cache: OnceLock::new(),
                })
            };
        ctx.register_table(
            "opportunity_events",
            lazy(pipewise_model::schema::opportunity_events(), events_batch),
        )?;
        ctx.register_table(
            "opportunities",
            lazy(pipewise_model::schema::opportunities(), current_batch),
        )?;
        ctx.register_table("opportunity_keys", lazy(keys_schema(), keys_batch))?;
        for (name, facts, since) in [
            ("pipeline_as_of", false, false),
            ("opportunities_as_of", false, false),
            ("deal_facts", true, false),
            ("deal_facts_since", true, true),
        ] {
            let f = PipelineAsOf {
                name,
                shared: shared.clone(),
                facts,
                since,
            };
            ctx.register_udtf(name, Arc::new(f));
        }
        Ok(Engine { ctx, rt, shared })
    }

    /// Run one read-only SQL statement and collect its result. DDL
    /// (`CREATE`, `DROP`), DML (`INSERT`, `COPY`) and statements (`SET`,
    /// transactions) are refused with [`EngineError::ReadOnly`].
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let read_only = datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let (ctx, query) = (self.ctx.clone(), query.to_string());
        self.run(async move {
            let plan = ctx.state().create_logical_plan(&query).await?;
            if let Err(e) = read_only.verify_plan(&plan) {
                return Err(EngineError::ReadOnly(e.strip_backtrace()));
            }
            Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
        })
    }

    /// Run a query's future to its end on the engine's runtime, from any
    /// thread but one of that runtime's.
    ///
    /// A rayon worker does not `block_on` it: the query's own parallel work
    /// (loading ledger fields, building as-of columns) is rayon's, and a
    /// worker waiting for that work takes other queued jobs — another
    /// query, say another group of a scorecard or another request of the
    /// server — which would start a runtime inside a runtime (tokio
    /// panics, and rayon aborts the process) or take a lock its own thread
    /// already holds. On a worker the query is a task of the runtime, and
    /// the worker does the pool's other work while it waits (which may be
    /// that query's parallel parts: nothing waits on a worker that waits).
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        if rayon::current_thread_index().is_none() {
            return self.rt.block_on(fut);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            // (the receiver is gone only if the waiting thread is)
            let _ = tx.send(fut.await);
        });
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok(r) => return r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    rayon::yield_now();
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(EngineError::Runtime(std::io::Error::other(
                        "the query's task ended without an answer (it panicked; see the log)",
                    )));
                }
            }
        }
    }

    /// Plan a read-only statement without running it: the errors it would
    /// give for syntax, unknown tables and columns, and types, found without
    /// scanning anything.
    pub fn check(&self, query: &str) -> Result<(), EngineError> {
        let (ctx, query) = (self.ctx.clone(), query.to_string());
        self.run(async move {
            ctx.state().create_logical_plan(&query).await?;
            Ok(())
        })
    }

    /// The DataFusion session (table functions, UDFs, settings).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}

/// A value of a result cell, for renderers.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the variants are SQL's value kinds
pub enum CellValue {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// Result batches as column names and rows of plain values (dates and times as ISO text).
pub fn rows(batches: &[RecordBatch]) -> Result<(Vec<String>, Vec<Vec<CellValue>>), EngineError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let names: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)?;
        for r in 0..b.num_rows() {
            let mut row = Vec::with_capacity(b.num_columns());
            for (c, col) in b.columns().iter().enumerate() {
                if col.is_null(r) {
                    row.push(CellValue::Null);
                    continue;
                }
                let v = match col.data_type() {
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64 => match fmts[c].value(r).to_string().parse::<i64>() {
                        Ok(i) => CellValue::Int(i),
                        Err(_) => CellValue::Text(fmts[c].value(r).to_string()),
                    },
                    DataType::Float64 => CellValue::Float(
                        col.as_primitive::<arrow_array::types::Float64Type>()
                            .value(r),
                    ),
                    DataType::Float32 => CellValue::Float(f64::from(
                        col.as_primitive::<arrow_array::types::Float32Type>()
                            .value(r),
                    )),
                    DataType::Boolean => CellValue::Bool(col.as_boolean().value(r)),
                    _ => CellValue::Text(fmts[c].value(r).to_string()),
                };
                row.push(v);
            }
            out.push(row);
        }
    }
    Ok((names, out))
}
