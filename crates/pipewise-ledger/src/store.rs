//! The on-disk ledger: a workspace folder holding append-only Parquet
//! segments, entity tables and versioned manifests.
//!
//! ```text
//! WORKSPACE/ledger/CURRENT                  name of the current manifest
//! WORKSPACE/ledger/manifests/v000007.json   one manifest per version
//! WORKSPACE/ledger/segments/s000007/        events added by version 7:
//!     keys.parquet                          new opportunity keys
//!     stage.parquet, amount.parquet, ...    one typed file per field
//! WORKSPACE/ledger/tables/v000007/*.parquet entity tables changed in version 7
//! ```
//!
//! A commit writes its segment, tables and manifest under new names, and only
//! then replaces `CURRENT` by an atomic rename. A process killed at any point
//! leaves `CURRENT` naming the previous, complete version; unreferenced files
//! from the interrupted commit are ignored (and removed by the next commit).

use crate::error::LedgerError;
use crate::log::{
    EventLog, FieldColumn, Keys, NULL_BOOL, NULL_DATE, NULL_TEXT, NewOpportunity, TextLookup,
    Values, ValuesBuilder, intern,
};
use crate::parquet_io::{read_parquet, write_atomic, write_parquet};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use pipewise_model::{Field, FieldKind, OpportunityEvent, Timestamp};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The ledger format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentInfo {
    pub id: String,
    /// Field name → number of events of that field in the segment.
    pub fields: BTreeMap<String, u64>,
    pub new_keys: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableInfo {
    /// Path relative to the ledger folder.
    pub path: String,
    pub rows: u64,
}

/// One input file of an ingest and how its rows were accounted for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_landed: u64,
    pub rows_quarantined: u64,
}

/// What one ingest (or synth) added, kept in the manifest forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRecord {
    pub id: String,
    pub kind: String,
    pub recorded_at: String,
    pub files: Vec<SourceFile>,
    pub events_added: u64,
    pub events_duplicate: u64,
    /// Workspace-relative paths of the quarantine and data-quality report.
    pub quarantine: Option<String>,
    pub report: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    pub next_seq: u64,
    pub key_count: u64,
    pub segments: Vec<SegmentInfo>,
    pub tables: BTreeMap<String, TableInfo>,
    pub ingests: Vec<IngestRecord>,
}

impl Manifest {
    fn empty() -> Manifest {
        Manifest {
            format: FORMAT,
            version: 0,
            next_seq: 0,
            key_count: 0,
            segments: Vec::new(),
            tables: BTreeMap::new(),
            ingests: Vec::new(),
        }
    }

    pub fn event_count(&self) -> u64 {
        self.segments.iter().flat_map(|s| s.fields.values()).sum()
    }
}

/// What to load: fewer columns load faster.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Only these fields; all when `None`.
    pub fields: Option<Vec<Field>>,
    /// The sources' claimed old values.
    pub old_values: bool,
    /// Recorded times (needed for known-as-of cuts).
    pub recorded_at: bool,
    /// Opportunity ids (needed to name opportunities, not to count them).
    pub ids: bool,
    /// Each event's source (provenance; as-of state does not need it).
    pub sources: bool,
}

/// The events of one field in one segment file, with the file's own source
/// names (`events.source` indexes `sources`).
struct FieldPart {
    events: FieldColumn,
    sources: Vec<String>,
}

/// One segment file's batches of `field` as events.
fn field_part(
    field: &Field,
    batches: Vec<RecordBatch>,
    old_values: bool,
    path: &Path,
) -> Result<FieldPart, LedgerError> {
    let kind = field.kind();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut e = FieldColumn {
        old: old_values.then(|| Values::empty(kind)),
        ..FieldColumn::empty(field.clone())
    };
    e.opp.reserve_exact(rows);
    e.effective_at.reserve_exact(rows);
    let mut sources: Vec<String> = Vec::new();
    let mut source_lookup = TextLookup::default();
    let (mut new_lookup, mut old_lookup) = (TextLookup::default(), TextLookup::default());
    for b in batches {
        e.opp
            .extend_from_slice(col::<UInt32Array>(&b, "opportunity_key", path)?.values());
        e.effective_at.extend_from_slice(
            col::<TimestampMicrosecondArray>(&b, "effective_at", path)?.values(),
        );
        if b.column_by_name("recorded_at").is_some() {
            e.recorded_at.extend_from_slice(
                col::<TimestampMicrosecondArray>(&b, "recorded_at", path)?.values(),
            );
        }
        if b.column_by_name("seq").is_some() {
            e.seq
                .extend_from_slice(col::<UInt64Array>(&b, "seq", path)?.values());
        }
        if b.column_by_name("source").is_some() {
            let src = col::<DictionaryArray<Int32Type>>(&b, "source", path)?;
            let sv = src
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| corrupt(path, "source"))?;
            let remap: Vec<u32> = (0..sv.len())
                .map(|i| intern(&mut sources, &mut source_lookup, sv.value(i)))
                .collect();
            e.source
                .extend(src.keys().values().iter().map(|&k| remap[k as usize]));
        }
        let new = b
            .column_by_name("new_value")
            .ok_or_else(|| corrupt(path, "new_value"))?;
        e.new
            .extend(&array_to_values(new.as_ref(), kind, path)?, &mut new_lookup);
        if let Some(old) = e.old.as_mut() {
            let a = b
                .column_by_name("old_value")
                .ok_or_else(|| corrupt(path, "old_value"))?;
            old.extend(&array_to_values(a.as_ref(), kind, path)?, &mut old_lookup);
        }
    }
    Ok(FieldPart { events: e, sources })
}

/// Run tasks on rayon's pool; results in task order.
fn run_parallel<'a, T: Send>(
    tasks: Vec<Box<dyn FnOnce() -> Result<T, LedgerError> + Send + 'a>>,
) -> Result<Vec<T>, LedgerError> {
    tasks.into_par_iter().map(|t| t()).collect()
}

/// Apply `f` to every item, on rayon's pool.
fn run_parallel_mut<T: Send>(items: Vec<&mut T>, f: impl Fn(&mut T) + Sync) {
    items.into_par_iter().for_each(&f);
}

/// Entity tables to replace in a commit: name → (schema, batches).
pub type TableSet = Vec<(String, SchemaRef, Vec<RecordBatch>)>;

/// What a commit adds.
#[derive(Debug, Default)]
pub struct Commit {
    /// New opportunities (id, creation time). Ids already in the ledger are ignored.
    pub new_opportunities: Vec<NewOpportunity>,
    /// Events in landing order: seq numbers are assigned in this order.
    pub events: Vec<OpportunityEvent>,
    /// Events in columns (a large ingest's form); they land after `events`.
    pub columns: Option<EventColumns>,
    pub tables: TableSet,
    pub ingest: Option<IngestRecord>,
}

/// Events as columns, one per field, naming opportunities and sources by
/// index: what a large ingest builds instead of one struct per event.
#[derive(Debug, Default)]
pub struct EventColumns {
    /// Opportunity ids; `FieldEvents::opp` indexes this.
    pub ids: Vec<String>,
    /// Source labels; `FieldEvents::source` indexes this.
    pub sources: Vec<String>,
    pub fields: Vec<FieldEvents>,
}

/// One field's new events.
#[derive(Debug)]
pub struct FieldEvents {
    pub field: Field,
    pub opp: Vec<u32>,
    pub effective_at: Vec<Timestamp>,
    pub recorded_at: Vec<Timestamp>,
    pub source: Vec<u32>,
    pub old: Values,
    pub new: Values,
    /// Landing order across every field: distinct ranks, in the order the
    /// events land; seq numbers follow it.
    pub rank: Vec<u128>,
}

/// Outcome of a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitSummary {
    pub version: u64,
    pub events_added: u64,
    pub events_duplicate: u64,
    pub opportunities_added: u64,
}

/// A workspace's ledger folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Set while a [`WriteLock`] taken through this store (or a clone) lives.
    locked: Arc<std::sync::atomic::AtomicBool>,
}

/// An exclusive hold on a workspace's ledger for writing ([`Store::lock`]).
/// While it lives no other writer commits; readers never wait (they read the
/// version `CURRENT` names, whose files are never changed). Dropping it, or
/// the process ending however it ends, releases it.
#[derive(Debug)]
pub struct WriteLock {
    _file: std::fs::File,
    locked: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.locked
            .store(false, std::sync::atomic::Ordering::SeqCst);
        // (the file lock goes with the file)
    }
}

/// How long a commit waits for another writer when its caller took no lock.
const COMMIT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn value_type(kind: FieldKind) -> DataType {
    match kind {
        FieldKind::Text => text_type(),
        FieldKind::Number => DataType::Float64,
        FieldKind::Date => DataType::Date32,
        FieldKind::Bool => DataType::Boolean,
    }
}

/// Schema of one field's segment file.
pub fn field_file_schema(kind: FieldKind) -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("opportunity_key", DataType::UInt32, false),
        ArrowField::new("effective_at", ts_type(), false),
        ArrowField::new("recorded_at", ts_type(), false),
        ArrowField::new("seq", DataType::UInt64, false),
        ArrowField::new("source", text_type(), false),
        ArrowField::new("old_value", value_type(kind), true),
        ArrowField::new("new_value", value_type(kind), true),
    ]))
}

fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("opportunity_key", DataType::UInt32, false),
        ArrowField::new("opportunity_id", DataType::Utf8, false),
        ArrowField::new("created_at", ts_type(), false),
        ArrowField::new("first_recorded_at", ts_type(), false),
    ]))
}

fn values_to_array(v: &Values) -> ArrayRef {
    match v {
        Values::Text { dict, codes } => {
            let keys: Int32Array = codes
                .iter()
                .map(|&c| (c != NULL_TEXT).then_some(c as i32))
                .collect();
            let values = Arc::new(StringArray::from_iter_values(dict.iter()));
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values).unwrap_or_else(|_| {
                    DictionaryArray::<Int32Type>::from_iter(std::iter::empty::<&str>())
                }),
            )
        }
        Values::Number(n) => Arc::new(
            n.iter()
                .map(|x| (!x.is_nan()).then_some(*x))
                .collect::<Float64Array>(),
        ),
        Values::Date(d) => Arc::new(
            d.iter()
                .map(|x| (*x != NULL_DATE).then_some(*x))
                .collect::<Date32Array>(),
        ),
        Values::Bool(b) => Arc::new(
            b.iter()
                .map(|x| (*x != NULL_BOOL).then_some(*x == 1))
                .collect::<BooleanArray>(),
        ),
    }
}

fn corrupt(path: &Path, what: &str) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        message: format!("unexpected column type for {what}"),
    }
}

fn array_to_values(a: &dyn Array, kind: FieldKind, path: &Path) -> Result<Values, LedgerError> {
    Ok(match kind {
        FieldKind::Text => {
            if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
                let vals = d
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| corrupt(path, "text dictionary"))?;
                // Every batch of a column carries the column chunk's whole
                // dictionary (1M entries for names): copy only the entries
                // this batch uses.
                let keys = d.keys();
                let mut remap = vec![NULL_TEXT; vals.len()];
                let mut dict: Vec<String> = Vec::new();
                let codes = (0..keys.len())
                    .map(|i| {
                        if keys.is_null(i) {
                            return NULL_TEXT;
                        }
                        let k = keys.value(i) as usize;
                        if remap[k] == NULL_TEXT {
                            remap[k] = dict.len() as u32;
                            dict.push(vals.value(k).to_string());
                        }
                        remap[k]
                    })
                    .collect();
                Values::Text { dict, codes }
            } else if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
                // Plain-encoded text (Parquet falls back from dictionaries on
                // high-cardinality columns such as names): look values up by
                // reference, allocate each distinct value once.
                let mut lookup: HashMap<&str, u32, foldhash::fast::FixedState> = HashMap::default();
                let mut dict: Vec<String> = Vec::new();
                let codes = (0..s.len())
                    .map(|i| {
                        if s.is_null(i) {
                            return NULL_TEXT;
                        }
                        let v = s.value(i);
                        *lookup.entry(v).or_insert_with(|| {
                            dict.push(v.to_string());
                            (dict.len() - 1) as u32
                        })
                    })
                    .collect();
                Values::Text { dict, codes }
            } else {
                return Err(corrupt(path, "text value"));
            }
        }
        FieldKind::Number => {
            let n = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| corrupt(path, "number value"))?;
            Values::Number(
                (0..n.len())
                    .map(|i| if n.is_null(i) { f64::NAN } else { n.value(i) })
                    .collect(),
            )
        }
        FieldKind::Date => {
            let d = a
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or_else(|| corrupt(path, "date value"))?;
            Values::Date(
                (0..d.len())
                    .map(|i| if d.is_null(i) { NULL_DATE } else { d.value(i) })
                    .collect(),
            )
        }
        FieldKind::Bool => {
            let b = a
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| corrupt(path, "bool value"))?;
            Values::Bool(
                (0..b.len())
                    .map(|i| {
                        if b.is_null(i) {
                            NULL_BOOL
                        } else {
                            u8::from(b.value(i))
                        }
                    })
                    .collect(),
            )
        }
    })
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, LedgerError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupt(path, name))
}

impl Store {
    /// Create a new, empty ledger in `root` (the workspace folder). Fails if one exists.
    pub fn init(root: &Path) -> Result<Store, LedgerError> {
        let store = Store {
            root: root.to_path_buf(),
            locked: Default::default(),
        };
        if store.current_path().exists() {
            return Err(LedgerError::Invalid(format!(
                "{} already holds a pipewise workspace",
                root.display()
            )));
        }
        for d in ["manifests", "segments", "tables"] {
            let p = store.ledger_dir().join(d);
            std::fs::create_dir_all(&p).map_err(|e| LedgerError::io(&p, e))?;
        }
        store.write_manifest(&Manifest::empty())?;
        Ok(store)
    }

    /// Open an existing workspace.
    pub fn open(root: &Path) -> Result<Store, LedgerError> {
        let store = Store {
            root: root.to_path_buf(),
            locked: Default::default(),
        };
        if !store.current_path().exists() {
            return Err(LedgerError::NotAWorkspace {
                path: root.to_path_buf(),
            });
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    fn current_path(&self) -> PathBuf {
        self.ledger_dir().join("CURRENT")
    }

    /// Take the workspace's write lock (`ledger/LOCK`), waiting up to `wait`
    /// for another writer to finish; `waiting` is told once, with who holds
    /// it, when there is one. Hold it from reading the version a change is
    /// computed against until [`Store::commit`] returns, so that two writers
    /// land one after the other.
    pub fn lock(
        &self,
        wait: std::time::Duration,
        waiting: &dyn Fn(&str),
    ) -> Result<WriteLock, LedgerError> {
        use std::io::{Read, Seek, Write};
        let path = self.ledger_dir().join("LOCK");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LedgerError::io(&path, e))?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ =
                        std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut holder));
                    let holder = holder.trim().to_string();
                    if started.elapsed() >= wait {
                        return Err(LedgerError::Locked {
                            path,
                            holder,
                            waited: started.elapsed().as_secs(),
                        });
                    }
                    if !told {
                        waiting(&format!(
                            "waiting for another writer of this workspace ({})",
                            if holder.is_empty() {
                                "unknown"
                            } else {
                                &holder
                            }
                        ));
                        told = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(LedgerError::io(&path, e)),
            }
        }
        // Who holds it, for a writer that has to wait.
        let _ = file.set_len(0);
        let _ = file.seek(std::io::SeekFrom::Start(0));
        let _ = write!(file, "process {}", std::process::id());
        let _ = file.flush();
        self.locked.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(WriteLock {
            _file: file,
            locked: self.locked.clone(),
        })
    }

    fn write_manifest(&self, m: &Manifest) -> Result<(), LedgerError> {
        let name = format!("v{:06}.json", m.version);
        let path = self.ledger_dir().join("manifests").join(&name);
        let json = serde_json::to_vec_pretty(m)
            .map_err(|e| LedgerError::Invalid(format!("manifest: {e}")))?;
        write_atomic(&path, &json)?;
        // The commit point: CURRENT names the new manifest only once it is complete.
        write_atomic(&self.current_path(), format!("{name}\n").as_bytes())
    }

    /// The manifest `CURRENT` names.
    pub fn manifest(&self) -> Result<Manifest, LedgerError> {
        let cur = self.current_path();
        let name = std::fs::read_to_string(&cur).map_err(|e| LedgerError::io(&cur, e))?;
        let path = self.ledger_dir().join("manifests").join(name.trim());
        let bytes = std::fs::read(&path).map_err(|e| LedgerError::io(&path, e))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| LedgerError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if m.format > FORMAT {
            return Err(LedgerError::NewerFormat {
                path,
                found: m.format,
                supported: FORMAT,
            });
        }
        Ok(m)
    }

    /// Load the ledger. `fields`: only these fields (all when `None`);
    /// `with_old`: also load the sources' claimed old values.
    pub fn load(&self, fields: Option<&[Field]>, with_old: bool) -> Result<EventLog, LedgerError> {
        let m = self.manifest()?;
        self.load_manifest(&m, fields, with_old)
    }

    pub fn load_manifest(
        &self,
        m: &Manifest,
        fields: Option<&[Field]>,
        with_old: bool,
    ) -> Result<EventLog, LedgerError> {
        let p = Projection {
            fields: fields.map(<[Field]>::to_vec),
            old_values: with_old,
            recorded_at: true,
            ids: true,
            sources: true,
        };
        self.load_projected(m, &p)
    }

    /// Load only what `p` asks for, reading files in parallel.
    pub fn load_projected(&self, m: &Manifest, p: &Projection) -> Result<EventLog, LedgerError> {
        let mut log = EventLog {
            next_seq: m.next_seq,
            ..EventLog::default()
        };
        // Which (segment, field) files to read; a field in several segments needs `seq` to merge.
        let mut jobs: Vec<(usize, Field, PathBuf)> = Vec::new();
        let mut segs_per_field: HashMap<Field, usize> = HashMap::new();
        for (si, seg) in m.segments.iter().enumerate() {
            let dir = self.ledger_dir().join("segments").join(&seg.id);
            for fname in seg.fields.keys() {
                let Some(field) = Field::parse(fname) else {
                    return Err(LedgerError::Corrupt {
                        path: dir.clone(),
                        message: format!("unknown field {fname:?} in manifest"),
                    });
                };
                if p.fields.as_ref().is_some_and(|want| !want.contains(&field)) {
                    continue;
                }
                *segs_per_field.entry(field.clone()).or_default() += 1;
                jobs.push((si, field, dir.join(format!("{fname}.parquet"))));
            }
        }
        let key_files: Vec<PathBuf> = m
            .segments
            .iter()
            .filter(|s| s.new_keys > 0)
            .map(|s| {
                self.ledger_dir()
                    .join("segments")
                    .join(&s.id)
                    .join("keys.parquet")
            })
            .collect();

        enum Part {
            Keys(Vec<RecordBatch>),
            Field(usize, Field, Box<FieldPart>),
        }
        let key_cols: Vec<&str> = if p.ids {
            vec!["opportunity_id", "created_at", "first_recorded_at"]
        } else {
            vec!["created_at", "first_recorded_at"]
        };
        let field_cols = |field: &Field| -> Vec<&'static str> {
            let mut c = vec!["opportunity_key", "effective_at", "new_value"];
            if p.sources {
                c.push("source");
            }
            if p.recorded_at {
                c.push("recorded_at");
            }
            if p.old_values {
                c.push("old_value");
            }
            if p.recorded_at || p.old_values || segs_per_field.get(field).copied().unwrap_or(0) > 1
            {
                c.push("seq");
            }
            c
        };
        let mut tasks: Vec<Box<dyn FnOnce() -> Result<Part, LedgerError> + Send + '_>> = Vec::new();
        for kf in &key_files {
            let cols = key_cols.clone();
            tasks.push(Box::new(move || {
                Ok(Part::Keys(read_parquet(kf, Some(&cols))?))
            }));
        }
        // Each file is read and turned into events on its own thread; its
        // Arrow batches are freed as soon as it is done.
        for (si, field, path) in &jobs {
            let cols = field_cols(field);
            let old_values = p.old_values;
            tasks.push(Box::new(move || {
                let batches = read_parquet(path, Some(&cols))?;
                Ok(Part::Field(
                    *si,
                    field.clone(),
                    Box::new(field_part(field, batches, old_values, path)?),
                ))
            }));
        }
        let parts = run_parallel(tasks)?;

        let mut keys = Keys::default();
        let mut key_batches = Vec::new();
        let mut field_parts: BTreeMap<Field, Vec<(usize, Box<FieldPart>)>> = BTreeMap::new();
        for part in parts {
            match part {
                Part::Keys(b) => key_batches.push(b),
                Part::Field(si, f, b) => field_parts.entry(f).or_default().push((si, b)),
            }
        }
        // Keys in segment order (key files were queued in segment order).
        for (kf, batches) in key_files.iter().zip(key_batches) {
            for b in batches {
                let created = col::<TimestampMicrosecondArray>(&b, "created_at", kf)?;
                let rec = col::<TimestampMicrosecondArray>(&b, "first_recorded_at", kf)?;
                if p.ids {
                    let ids = col::<StringArray>(&b, "opportunity_id", kf)?;
                    for i in 0..b.num_rows() {
                        keys.push(ids.value(i), created.value(i), rec.value(i));
                    }
                } else {
                    keys.created_at.extend_from_slice(created.values());
                    keys.first_recorded_at.extend_from_slice(rec.values());
                }
            }
        }
        let mut source_lookup = TextLookup::default();
        for (field, mut segs) in field_parts {
            segs.sort_by_key(|(si, _)| *si);
            // Each file's source codes mapped to the log's source list.
            let mut parts: Vec<FieldColumn> = segs
                .into_iter()
                .map(|(_, part)| {
                    let FieldPart {
                        mut events,
                        sources,
                    } = *part;
                    let remap: Vec<u32> = sources
                        .iter()
                        .map(|s| intern(&mut log.sources, &mut source_lookup, s))
                        .collect();
                    for c in &mut events.source {
                        *c = remap[*c as usize];
                    }
                    events
                })
                .collect();
            // One segment (the usual case): its events as they are; more:
            // appended in segment order, dictionaries merged.
            let entry = if parts.len() == 1 {
                parts.remove(0)
            } else {
                let mut merged = FieldColumn {
                    old: p.old_values.then(|| Values::empty(field.kind())),
                    ..FieldColumn::empty(field.clone())
                };
                let (mut new_lookup, mut old_lookup) =
                    (TextLookup::default(), TextLookup::default());
                for mut e in parts {
                    merged.opp.append(&mut e.opp);
                    merged.effective_at.append(&mut e.effective_at);
                    merged.recorded_at.append(&mut e.recorded_at);
                    merged.seq.append(&mut e.seq);
                    merged.source.append(&mut e.source);
                    merged.new.extend(&e.new, &mut new_lookup);
                    if let (Some(o), Some(eo)) = (merged.old.as_mut(), e.old.as_ref()) {
                        o.extend(eo, &mut old_lookup);
                    }
                }
                merged
            };
            log.columns.insert(field, entry);
        }
        let n = keys.len();
        let cols: Vec<&mut FieldColumn> = log.columns.values_mut().collect();
        run_parallel_mut(cols, |c| c.finish(n));
        log.keys = keys;
        Ok(log)
    }

    /// The Parquet file of an entity table in manifest `m`, if it has one.
    pub fn table_path(&self, m: &Manifest, name: &str) -> Option<PathBuf> {
        m.tables.get(name).map(|t| self.ledger_dir().join(&t.path))
    }

    /// Read an entity table of the current version (empty when absent).
    pub fn read_table(&self, name: &str) -> Result<Vec<RecordBatch>, LedgerError> {
        let m = self.manifest()?;
        match m.tables.get(name) {
            Some(t) => read_parquet(&self.ledger_dir().join(&t.path), None),
            None => Ok(Vec::new()),
        }
    }

    /// Append a commit on top of `base`, which must still be the current
    /// version. Events identical to one already in the ledger (same
    /// opportunity, field, effective time and new value) are skipped, so
    /// landing the same data twice adds nothing.
    pub fn commit(
        &self,
        base: &Manifest,
        mut commit: Commit,
    ) -> Result<CommitSummary, LedgerError> {
        // Under the write lock: the caller's, or one taken for this commit.
        let _own = if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            None
        } else {
            Some(self.lock(COMMIT_LOCK_WAIT, &|m| tracing::info!("{m}"))?)
        };
        let current = self.manifest()?;
        if current.version != base.version {
            return Err(LedgerError::Invalid(format!(
                "the workspace changed while this command ran (version {} is now {}); run it again",
                base.version, current.version
            )));
        }
        self.remove_orphans(&current);
        let version = base.version + 1;
        let mut m = current.clone();
        m.version = version;

        // Existing events, for de-duplication.
        // Keys (to skip known ids) and, when there are events, every field's
        // new values (to skip events already landed), in one projected load.
        let batch = commit.columns.take();
        let has_events = !commit.events.is_empty()
            || batch
                .as_ref()
                .is_some_and(|b| b.fields.iter().any(|f| !f.opp.is_empty()));
        let projection = Projection {
            fields: if !has_events { Some(Vec::new()) } else { None },
            old_values: false,
            recorded_at: false,
            ids: true,
            sources: true,
        };
        let t0 = std::time::Instant::now();
        let mut existing = self.load_projected(&current, &projection)?;
        tracing::debug!(
            ms = t0.elapsed().as_millis() as u64,
            "commit: existing events loaded"
        );
        let mut keys = std::mem::take(&mut existing.keys);
        let base_keys = keys.len();

        // Assign keys: declared opportunities first, then any referenced only by events.
        let mut first_rec: HashMap<&str, Timestamp> = HashMap::new();
        let mut first_eff: HashMap<&str, Timestamp> = HashMap::new();
        for e in &commit.events {
            let r = first_rec
                .entry(e.opportunity_id.as_str())
                .or_insert(e.recorded_at);
            *r = (*r).min(e.recorded_at);
            let f = first_eff
                .entry(e.opportunity_id.as_str())
                .or_insert(e.effective_at);
            *f = (*f).min(e.effective_at);
        }
        // The columns' first times per id (index into `batch.ids`).
        let (batch_first_rec, batch_first_eff) = match &batch {
            Some(b) => {
                let mut rec = vec![Timestamp::MAX; b.ids.len()];
                let mut eff = vec![Timestamp::MAX; b.ids.len()];
                for fe in &b.fields {
                    for (i, &o) in fe.opp.iter().enumerate() {
                        let o = o as usize;
                        rec[o] = rec[o].min(fe.recorded_at[i]);
                        eff[o] = eff[o].min(fe.effective_at[i]);
                    }
                }
                (rec, eff)
            }
            None => (Vec::new(), Vec::new()),
        };
        if let Some(b) = &batch {
            for (i, id) in b.ids.iter().enumerate() {
                if batch_first_rec[i] != Timestamp::MAX {
                    let r = first_rec.entry(id.as_str()).or_insert(batch_first_rec[i]);
                    *r = (*r).min(batch_first_rec[i]);
                    let f = first_eff.entry(id.as_str()).or_insert(batch_first_eff[i]);
                    *f = (*f).min(batch_first_eff[i]);
                }
            }
        }
        let mut new_keys: Vec<u32> = Vec::new();
        for o in &commit.new_opportunities {
            if keys.key(&o.id).is_none() {
                let rec = first_rec
                    .get(o.id.as_str())
                    .copied()
                    .unwrap_or(o.created_at);
                new_keys.push(keys.push(&o.id, o.created_at, rec));
            }
        }
        for e in &commit.events {
            if keys.key(&e.opportunity_id).is_none() {
                let id = e.opportunity_id.as_str();
                let created = first_eff.get(id).copied().unwrap_or(e.effective_at);
                let rec = first_rec.get(id).copied().unwrap_or(e.recorded_at);
                new_keys.push(keys.push(&e.opportunity_id, created, rec));
            }
        }
        // Ids the columns name, in index order: their keys.
        let mut batch_keys: Vec<u32> = Vec::new();
        if let Some(b) = &batch {
            batch_keys.reserve(b.ids.len());
            for (i, id) in b.ids.iter().enumerate() {
                let k = match keys.key(id) {
                    Some(k) => k,
                    None => {
                        let k = keys.push(id, batch_first_eff[i], batch_first_rec[i]);
                        new_keys.push(k);
                        k
                    }
                };
                batch_keys.push(k);
            }
        }

        tracing::debug!(
            ms = t0.elapsed().as_millis() as u64,
            keys = keys.len(),
            "commit: keys assigned"
        );
        // Split by field, skipping events already in the ledger; duplicates
        // within this commit are removed after sorting (below).
        struct Building {
            opp: Vec<u32>,
            eff: Vec<i64>,
            rec: Vec<i64>,
            seq: Vec<u64>,
            src: Vec<u32>,
            old: ValuesBuilder,
            new: ValuesBuilder,
        }
        let mut building: BTreeMap<Field, Building> = BTreeMap::new();
        let mut src_dict: Vec<String> = Vec::new();
        let mut src_lookup = TextLookup::default();
        let mut seq = current.next_seq;
        let mut dup = 0u64;
        let events = std::mem::take(&mut commit.events);
        for e in &events {
            let key = keys.key(&e.opportunity_id).unwrap_or(0);
            if let Some(c) = existing.column(&e.field)
                && c.run(key).any(|i| {
                    c.effective_at[i] == e.effective_at && c.new.get(i).same_as(&e.new_value)
                })
            {
                dup += 1;
                continue;
            }
            let kind = e.field.kind();
            let b = building.entry(e.field.clone()).or_insert_with(|| Building {
                opp: Vec::new(),
                eff: Vec::new(),
                rec: Vec::new(),
                seq: Vec::new(),
                src: Vec::new(),
                old: ValuesBuilder::new(kind),
                new: ValuesBuilder::new(kind),
            });
            b.opp.push(key);
            b.eff.push(e.effective_at);
            b.rec.push(e.recorded_at);
            b.seq.push(seq);
            seq += 1;
            b.src
                .push(intern(&mut src_dict, &mut src_lookup, &e.source));
            b.old.push(&e.old_value);
            b.new.push(&e.new_value);
        }
        drop(events);
        let mut columns: Vec<FieldColumn> = Vec::new();
        if let Some(b) = batch {
            if let Some(fe) = b.fields.iter().find(|fe| building.contains_key(&fe.field)) {
                return Err(LedgerError::Invalid(format!(
                    "a commit names events of {} both as rows and as columns",
                    fe.field
                )));
            }
            let (cols, next, d) = columns_from_batch(
                b,
                &batch_keys,
                &existing,
                seq,
                &mut src_dict,
                &mut src_lookup,
                keys.len(),
            );
            seq = next;
            dup += d;
            columns.extend(cols);
            tracing::debug!(
                ms = t0.elapsed().as_millis() as u64,
                "commit: columns built"
            );
        }
        for (field, b) in building {
            let mut colm = FieldColumn {
                field,
                opp: b.opp,
                effective_at: b.eff,
                recorded_at: b.rec,
                seq: b.seq,
                source: b.src,
                old: Some(b.old.finish()),
                new: b.new.finish(),
                offsets: Vec::new(),
            };
            colm.finish(keys.len());
            dup += colm.remove_duplicates();
            colm.finish(keys.len());
            columns.push(colm);
        }
        columns.retain(|c| !c.is_empty());
        columns.sort_by(|a, b| a.field.cmp(&b.field));
        let added: u64 = columns.iter().map(|c| c.len() as u64).sum();

        let seg_id = format!("s{version:06}");
        let seg_dir = self.ledger_dir().join("segments").join(&seg_id);
        let mut seg = SegmentInfo {
            id: seg_id.clone(),
            fields: BTreeMap::new(),
            new_keys: new_keys.len() as u64,
        };
        if added > 0 || !new_keys.is_empty() {
            std::fs::create_dir_all(&seg_dir).map_err(|e| LedgerError::io(&seg_dir, e))?;
        }
        if !new_keys.is_empty() {
            let ids: Vec<&str> = new_keys.iter().map(|&k| keys.id(k)).collect();
            let batch = RecordBatch::try_new(
                keys_schema(),
                vec![
                    Arc::new(UInt32Array::from(new_keys.clone())),
                    Arc::new(StringArray::from(ids)),
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            new_keys
                                .iter()
                                .map(|&k| keys.created_at[k as usize])
                                .collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            new_keys
                                .iter()
                                .map(|&k| keys.first_recorded_at[k as usize])
                                .collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                ],
            )
            .map_err(|e| LedgerError::Invalid(e.to_string()))?;
            write_parquet(&seg_dir.join("keys.parquet"), keys_schema(), &[batch])?;
        }
        // One Parquet file per field, written on every core (each file's
        // bytes depend only on its column, so the order does not matter).
        let write_one = |colm: FieldColumn| -> Result<(String, u64), LedgerError> {
            let field = colm.field.clone();
            let kind = field.kind();
            let n = colm.len();
            let source_arr = values_to_array(&Values::Text {
                dict: src_dict.clone(),
                codes: colm.source,
            });
            let batch = RecordBatch::try_new(
                field_file_schema(kind),
                vec![
                    Arc::new(UInt32Array::from(colm.opp)),
                    Arc::new(
                        TimestampMicrosecondArray::from(colm.effective_at).with_timezone("UTC"),
                    ),
                    Arc::new(
                        TimestampMicrosecondArray::from(colm.recorded_at).with_timezone("UTC"),
                    ),
                    Arc::new(UInt64Array::from(colm.seq)),
                    source_arr,
                    values_to_array(colm.old.as_ref().unwrap_or(&Values::empty(kind))),
                    values_to_array(&colm.new),
                ],
            )
            .map_err(|e| LedgerError::Invalid(format!("{field}: {e}")))?;
            let name = field.name().into_owned();
            write_parquet(
                &seg_dir.join(format!("{name}.parquet")),
                field_file_schema(kind),
                &[batch],
            )?;
            Ok((name, n as u64))
        };
        // Largest first, so the long files start early: rayon's workers take
        // the files in this order (a writer that panics fails the commit).
        let mut queue = columns;
        queue.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let written: Vec<Result<(String, u64), LedgerError>> =
            queue.into_iter().par_bridge().map(write_one).collect();
        for w in written {
            let (name, n) = w?;
            seg.fields.insert(name, n);
        }
        tracing::debug!(
            ms = t0.elapsed().as_millis() as u64,
            "commit: segment written"
        );
        if added > 0 || !new_keys.is_empty() {
            m.segments.push(seg);
        }
        m.next_seq = seq;
        m.key_count = keys.len() as u64;

        if !commit.tables.is_empty() {
            let tdir = self
                .ledger_dir()
                .join("tables")
                .join(format!("v{version:06}"));
            std::fs::create_dir_all(&tdir).map_err(|e| LedgerError::io(&tdir, e))?;
            for (name, schema, batches) in &commit.tables {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                write_parquet(
                    &tdir.join(format!("{name}.parquet")),
                    schema.clone(),
                    batches,
                )?;
                m.tables.insert(
                    name.clone(),
                    TableInfo {
                        path: format!("tables/v{version:06}/{name}.parquet"),
                        rows: rows as u64,
                    },
                );
            }
        }
        if let Some(mut rec) = commit.ingest.take() {
            rec.events_added = added;
            rec.events_duplicate = dup;
            m.ingests.push(rec);
        }
        self.write_manifest(&m)?;
        tracing::debug!(version, added, dup, "ledger commit");
        Ok(CommitSummary {
            version,
            events_added: added,
            events_duplicate: dup,
            opportunities_added: (keys.len() - base_keys) as u64,
        })
    }

    /// Remove files an interrupted commit left behind (never referenced by a manifest).
    fn remove_orphans(&self, m: &Manifest) {
        let next = m.version + 1;
        for p in [
            self.ledger_dir()
                .join("segments")
                .join(format!("s{next:06}")),
            self.ledger_dir().join("tables").join(format!("v{next:06}")),
        ] {
            if p.exists() {
                tracing::warn!(path = %p.display(), "removing files of an interrupted commit");
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }
}

/// The columns of a commit's [`EventColumns`]: events already in the ledger
/// are skipped; the rest get seq numbers from `seq` on, dense, in rank order.
/// Returns the columns (finished for `n_keys`), the next seq and the number
/// of duplicates skipped.
fn columns_from_batch(
    b: EventColumns,
    batch_keys: &[u32],
    existing: &EventLog,
    seq: u64,
    src_dict: &mut Vec<String>,
    src_lookup: &mut TextLookup,
    n_keys: usize,
) -> (Vec<FieldColumn>, u64, u64) {
    let src_map: Vec<u32> = b
        .sources
        .iter()
        .map(|s| intern(src_dict, src_lookup, s))
        .collect();
    let mut dup = 0u64;
    // The kept rows of each field.
    let mut kept: Vec<Vec<u32>> = Vec::with_capacity(b.fields.len());
    for fe in &b.fields {
        let col = existing.column(&fe.field);
        let mut k = Vec::with_capacity(fe.opp.len());
        for i in 0..fe.opp.len() {
            let key = batch_keys[fe.opp[i] as usize];
            if let Some(c) = col {
                let v = fe.new.get(i);
                if c.run(key)
                    .any(|j| c.effective_at[j] == fe.effective_at[i] && c.new.get(j).same_as(&v))
                {
                    dup += 1;
                    continue;
                }
            }
            k.push(i as u32);
        }
        kept.push(k);
    }
    // Seq numbers in rank order: each field's kept rows sorted by rank, then
    // merged across fields (sequential reads, no search per event).
    let by_rank: Vec<Vec<(u128, u32)>> = kept
        .iter()
        .zip(&b.fields)
        .map(|(k, fe)| {
            let mut v: Vec<(u128, u32)> = k.iter().map(|&i| (fe.rank[i as usize], i)).collect();
            v.sort_unstable();
            v
        })
        .collect();
    let mut seq_of: Vec<Vec<u64>> = b.fields.iter().map(|fe| vec![0; fe.opp.len()]).collect();
    let mut heads = vec![0usize; by_rank.len()];
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u128, usize)>> = by_rank
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(f, v)| std::cmp::Reverse((v[0].0, f)))
        .collect();
    let mut next = seq;
    while let Some(std::cmp::Reverse((_, f))) = heap.pop() {
        let (_, row) = by_rank[f][heads[f]];
        seq_of[f][row as usize] = next;
        next += 1;
        heads[f] += 1;
        if let Some(&(r, _)) = by_rank[f].get(heads[f]) {
            heap.push(std::cmp::Reverse((r, f)));
        }
    }
    drop(by_rank);
    tracing::debug!(events = next - seq, "commit: seq numbers in rank order");
    let t0 = std::time::Instant::now();
    let mut out = Vec::with_capacity(b.fields.len());
    for ((fe, k), seqs) in b.fields.into_iter().zip(kept).zip(seq_of) {
        let pick_i64 = |v: &[i64]| k.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        let mut colm = FieldColumn {
            field: fe.field.clone(),
            opp: k
                .iter()
                .map(|&i| batch_keys[fe.opp[i as usize] as usize])
                .collect(),
            effective_at: pick_i64(&fe.effective_at),
            recorded_at: pick_i64(&fe.recorded_at),
            seq: k.iter().map(|&i| seqs[i as usize]).collect(),
            source: k
                .iter()
                .map(|&i| src_map[fe.source[i as usize] as usize])
                .collect(),
            old: Some(fe.old.permute(&k)),
            new: fe.new.permute(&k),
            offsets: Vec::new(),
        };
        let t1 = std::time::Instant::now();
        colm.finish(n_keys);
        dup += colm.remove_duplicates();
        colm.finish(n_keys);
        tracing::debug!(field = %colm.field, events = colm.len(), finish_ms = t1.elapsed().as_millis() as u64, "commit: column");
        out.push(colm);
    }
    tracing::debug!(
        ms = t0.elapsed().as_millis() as u64,
        "commit: columns from the batch"
    );
    (out, next, dup)
}
