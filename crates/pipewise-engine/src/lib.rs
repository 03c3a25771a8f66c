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

use arrow_array::RecordBatch;
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
use std::sync::{Arc, OnceLock};

pub use datafusion;

pub mod postgres;

#[derive(Debug, thiserror::Error)]
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
}

/// (deal facts rather than opportunities, effective cut, recorded cut, the
/// start cut of `deal_facts_since`, heavy fields loaded).
type BuiltKey = (
    bool,
    Timestamp,
    Option<Timestamp>,
    Option<(Timestamp, Option<Timestamp>)>,
    u8,
);

/// What the lazy tables and table functions share: the ledger, loaded once.
#[derive(Debug)]
struct Shared {
    store: Store,
    process: SalesProcess,
    log: OnceLock<Result<Arc<EventLog>, String>>,
    /// Ledgers loaded for as-of tables, per heavy-field mask.
    partial: std::sync::Mutex<std::collections::HashMap<u8, Arc<EventLog>>>,
    /// Tables built by the as-of functions, per (function, cut): one session
    /// asking for the same time twice (several metrics, several breakdowns)
    /// builds it once.
    built: std::sync::Mutex<std::collections::HashMap<BuiltKey, RecordBatch>>,
}

/// Fields as-of tables can do without unless a query reads them: text with
/// a distinct value per deal, the costliest to load (on 1M deals: names 0.7 s,
/// account ids 0.25 s of a 1.7 s full load).
const HEAVY_FIELDS: [(Field, &str); 3] = [
    (Field::Name, "name"),
    (Field::NextStep, "next_step"),
    (Field::AccountId, "account_id"),
];

/// Every heavy field (bit i: `HEAVY_FIELDS[i]`).
const ALL_HEAVY: u8 = 0b111;

/// Mask bit: load recorded times too (only cuts with a recorded time, the
/// backtests' `known` view, read them; on 1M deals they are 14.6M timestamps).
const RECORDED: u8 = 0b1000;

fn recorded_bit(cut: Cut) -> u8 {
    if cut.recorded.is_some() { RECORDED } else { 0 }
}

impl Shared {
    /// The ledger without old values, with the [`HEAVY_FIELDS`] of the mask
    /// `heavy` only, and recorded times only with [`RECORDED`]: what as-of
    /// tables read. Loaded once per mask.
    fn log_for(&self, heavy: u8) -> datafusion::common::Result<Arc<EventLog>> {
        if let Some(l) = self
            .partial
            .lock()
            .ok()
            .and_then(|m| m.get(&heavy).cloned())
        {
            return Ok(l);
        }
        let load = || -> Result<EventLog, pipewise_ledger::LedgerError> {
            let m = self.store.manifest()?;
            let mut fields: Vec<Field> = m
                .segments
                .iter()
                .flat_map(|s| s.fields.keys())
                .filter_map(|f| Field::parse(f))
                .filter(|f| {
                    HEAVY_FIELDS
                        .iter()
                        .position(|(h, _)| h == f)
                        .is_none_or(|i| heavy & (1 << i) != 0)
                })
                .collect();
            fields.sort();
            fields.dedup();
            self.store.load_projected(
                &m,
                &pipewise_ledger::Projection {
                    fields: Some(fields),
                    old_values: false,
                    recorded_at: heavy & RECORDED != 0,
                    ids: true,
                },
            )
        };
        let log = Arc::new(load().map_err(|e| DataFusionError::Execution(e.to_string()))?);
        if let Ok(mut m) = self.partial.lock() {
            m.insert(heavy, log.clone());
        }
        Ok(log)
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
    let mem = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
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
            facts: self.facts,
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

    /// Deal facts at `cut` with the `start_*` columns of [`start_fields`]: each
    /// deal as it stood at `start` (nulls for deals that did not exist then).
    fn since_batch(
        &self,
        cut: Cut,
        start: Cut,
        heavy: u8,
    ) -> datafusion::common::Result<RecordBatch> {
        use datafusion::arrow::array::{Array, UInt32Array};
        use datafusion::arrow::compute::kernels::zip::zip;
        use datafusion::arrow::compute::{is_not_null, take};
        let key = (
            true,
            cut.effective,
            cut.recorded,
            Some((start.effective, start.recorded)),
            heavy,
        );
        self.cached(key, || {
            let now = self.as_of_batch(true, cut, heavy)?;
            let then = self.as_of_batch(true, start, heavy)?;
            let log = self.log_for(heavy | recorded_bit(cut))?;
            // Both batches list existing deals in key order: match them by key.
            let keys_now = asof::existing_keys(&log, cut);
            let keys_then = asof::existing_keys(&log, start);
            let mut row_then = vec![u32::MAX; log.keys.len()];
            for (i, &k) in keys_then.iter().enumerate() {
                row_then[k as usize] = i as u32;
            }
            let idx: UInt32Array = keys_now
                .iter()
                .map(|&k| Some(row_then[k as usize]).filter(|&r| r != u32::MAX))
                .collect();
            let col = |name: &str| -> datafusion::common::Result<Arc<dyn Array>> {
                let i = then.schema().index_of(name)?;
                Ok(take(then.column(i).as_ref(), &idx, None)?)
            };
            // coalesce(probability, stage_probability)
            let probability = col("probability")?;
            let start_probability = zip(
                &is_not_null(probability.as_ref())?,
                &probability,
                &col("stage_probability")?,
            )?;
            let mut columns = now.columns().to_vec();
            for name in [
                "stage",
                "is_closed",
                "close_date",
                "amount",
                "forecast_category",
                "qualified",
            ] {
                columns.push(col(name)?);
            }
            columns.push(start_probability);
            let mut fields: Vec<arrow_schema::Field> = now
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.extend(start_fields());
            Ok(RecordBatch::try_new(
                Arc::new(arrow_schema::Schema::new(fields)),
                columns,
            )?)
        })
    }

    /// A batch built once per session: one session asking for the same cut
    /// twice (several metrics, several breakdowns) builds it once.
    fn cached(
        &self,
        key: BuiltKey,
        build: impl FnOnce() -> datafusion::common::Result<RecordBatch>,
    ) -> datafusion::common::Result<RecordBatch> {
        if let Some(b) = self.built.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(b);
        }
        let b = build()?;
        if let Ok(mut m) = self.built.lock() {
            m.insert(key, b.clone());
        }
        Ok(b)
    }

    /// The as-of batch for a cut, built once per session (and ledger tier).
    fn as_of_batch(
        &self,
        facts: bool,
        cut: Cut,
        heavy: u8,
    ) -> datafusion::common::Result<RecordBatch> {
        self.cached((facts, cut.effective, cut.recorded, None, heavy), || {
            let log = self.log_for(heavy | recorded_bit(cut))?;
            Ok(if facts {
                asof::deal_facts_batch(&log, &self.process, cut)?
            } else {
                asof::opportunities_batch(&log, &self.process, cut)?
            })
        })
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

/// The table `pipeline_as_of(…)` / `deal_facts(…)` return. It builds its
/// batch when scanned, from the lean ledger unless the query reads `name`
/// or `next_step`.
#[derive(Debug)]
struct AsOfTable {
    shared: Arc<Shared>,
    facts: bool,
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
        // The heavy fields this query reads.
        let heavy = match projection {
            None => ALL_HEAVY,
            Some(cols) => cols.iter().fold(0u8, |m, &i| {
                let name = self.schema.field(i).name();
                m | HEAVY_FIELDS
                    .iter()
                    .position(|(_, h)| h == name)
                    .map_or(0, |k| 1 << k)
            }),
        };
        let batch = match self.start {
            Some(start) => self.shared.since_batch(self.cut, start, heavy)?,
            None => self.shared.as_of_batch(self.facts, self.cut, heavy)?,
        };
        // The lean batch has the same columns (heavy ones null), so the
        // projection indexes it the same way.
        scan_batch(batch, state, projection, filters, limit).await
    }
}

/// A DataFusion session over one workspace.
pub struct Engine {
    ctx: SessionContext,
    rt: tokio::runtime::Runtime,
}

impl Engine {
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
            partial: std::sync::Mutex::new(std::collections::HashMap::new()),
            built: std::sync::Mutex::new(std::collections::HashMap::new()),
        });
        rt.block_on(async {
            for name in m.tables.keys() {
                if let Some(p) = store.table_path(&m, name) {
                    ctx.register_parquet(
                        name,
                        p.to_string_lossy().as_ref(),
                        ParquetReadOptions::default(),
                    )
                    .await?;
                }
            }
            Ok::<_, DataFusionError>(())
        })?;
        // Entity tables an empty workspace does not have yet are still queryable (empty).
        for (name, schema) in [
            ("users", pipewise_model::schema::users()),
            ("accounts", pipewise_model::schema::accounts()),
            ("activities", pipewise_model::schema::activities()),
            ("leads", pipewise_model::schema::leads()),
            ("lead_events", pipewise_model::schema::lead_events()),
            ("quotas", pipewise_model::schema::quotas()),
        ] {
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
        Ok(Engine { ctx, rt })
    }

    /// Run one SQL statement and collect its result.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, EngineError> {
        Ok(self
            .rt
            .block_on(async { self.ctx.sql(query).await?.collect().await })?)
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}

/// A value of a result cell, for renderers.
#[derive(Debug, Clone, PartialEq)]
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
