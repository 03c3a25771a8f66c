//! The workspace a server answers from: the ledger loaded once (every
//! field, recorded times included) and reloaded when a commit lands, the
//! sales process and the people.
//!
//! CPU-heavy work (loading, reconstructing a cut) runs on rayon's pool via
//! [`compute`], never on the HTTP runtime's workers.

use crate::scope::Scope;
use arrow_array::RecordBatch;
use pipewise_forecast::groups::Org;
use pipewise_ledger::{Cut, EventLog, Store};
use pipewise_model::{SalesProcess, Timestamp};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Why a workspace cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The ledger.
    #[error("{0}")]
    Ledger(#[from] pipewise_ledger::LedgerError),
    /// The sales process.
    #[error("{path}: {message}")]
    Process {
        /// pipewise.toml.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A table.
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The SQL engine.
    #[error("{0}")]
    Engine(#[from] pipewise_engine::EngineError),
    /// The metric library.
    #[error("{0}")]
    Metrics(#[from] pipewise_metrics::MetricError),
    /// The fiscal calendar.
    #[error("{0}")]
    Calendar(String),
    /// A trained model's files.
    #[error("{path}: {message}")]
    Model {
        /// Its folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One version of the workspace, as loaded.
pub struct Loaded {
    /// The ledger version.
    pub version: u64,
    /// The sales process.
    pub process: SalesProcess,
    /// Every event.
    pub log: EventLog,
    /// People, their hierarchy and quotas.
    pub org: Org,
    /// The latest change in the ledger.
    pub latest: Timestamp,
    /// The CRM's own fiscal years, where it defines them.
    pub calendar: pipewise_model::FiscalCalendar,
    /// The SQL engine over this version, opened on first use.
    engine: std::sync::OnceLock<pipewise_engine::Engine>,
    /// The metric library (built-ins and the workspace's metrics/*.toml).
    pub metrics: pipewise_metrics::Library,
    store: Store,
    /// Per (quarter, week of the quarter): the past quarters' tallies at that
    /// week and the method the backtest recommends there. Both depend only on
    /// the ledger version, the quarter and the week, so each is computed once.
    pub forecasting: Mutex<std::collections::HashMap<(String, u32), Arc<Forecasting>>>,
    /// The last cuts' opportunities tables (the dashboard asks for the same
    /// day again and again).
    cuts: Mutex<Vec<(Cut, Arc<RecordBatch>)>>,
    /// The last (cut, scope)s' rows.
    scoped: Mutex<Vec<ScopedEntry>>,
    /// The ledger as the deal model reads it, loaded on first use.
    deal_history: std::sync::OnceLock<pipewise_score::deals::history::DealHistory>,
    /// Answers kept for this version (see [`crate::answers`]).
    pub answers: crate::answers::Answers,
    /// The leads, scored, read on first use.
    lead_book: std::sync::OnceLock<Arc<crate::lead_book::LeadBook>>,
    /// Held while the leads are read or scored (once, not beside another).
    leads_work: Mutex<()>,
    /// Trained lead models' scores, by name and model file time.
    lead_scores: Mutex<std::collections::HashMap<String, Arc<crate::lead_book::ModelScores>>>,
    /// Deal scores per (model, cut, period).
    deal_scores: Mutex<
        std::collections::HashMap<DealScoresKey, Arc<Vec<pipewise_score::deals::model::DealScore>>>,
    >,
}

/// A model's name, the cut (effective, recorded) and the period's first
/// and last days.
type DealScoresKey = (
    String,
    Timestamp,
    Option<Timestamp>,
    pipewise_model::Date,
    pipewise_model::Date,
);

/// A cut's opportunities in a scope: which rows of its table, which keys of
/// the log.
pub struct Scoped {
    /// The cut's `opportunities` table (every deal).
    pub batch: Arc<RecordBatch>,
    /// The rows in the scope that are not deleted, in key order.
    pub rows: Vec<u32>,
    /// Per log key: whether its owner at the cut is in the scope (deleted
    /// deals included, for flows).
    pub keys: Vec<bool>,
}

const SCOPES_KEPT: usize = 32;

/// A cached (cut, scope, segment) and its deals.
type ScopedEntry = ((Cut, Scope, Option<String>), Arc<Scoped>);

const CUTS_KEPT: usize = 8;

/// What a forecast at a week of a quarter learns from (see [`Loaded::forecasting`]).
pub struct Forecasting {
    /// The quarters before, tallied at the week.
    pub past: Vec<pipewise_forecast::scan::QuarterTally>,
    /// The recommended method and why, per list of methods asked for.
    pub recommended: Mutex<std::collections::HashMap<Vec<Method>, Recommendation>>,
}

/// A recommended method and why (`None`: too little history to rank).
pub type Recommendation = Option<(Method, String)>;

use pipewise_forecast::methods::Method;

impl Loaded {
    /// The `opportunities` table as of `cut` (see
    /// `pipewise_ledger::asof::opportunities_batch`).
    pub fn opportunities(&self, cut: Cut) -> Result<Arc<RecordBatch>, WorkspaceError> {
        if let Ok(c) = self.cuts.lock()
            && let Some((_, b)) = c.iter().find(|(k, _)| *k == cut)
        {
            return Ok(b.clone());
        }
        let b = Arc::new(pipewise_ledger::asof::opportunities_batch(
            &self.log,
            &self.process,
            cut,
        )?);
        if let Ok(mut c) = self.cuts.lock() {
            c.retain(|(k, _)| *k != cut);
            c.insert(0, (cut, b.clone()));
            c.truncate(CUTS_KEPT);
        }
        Ok(b)
    }

    /// The deals of `scope` at `cut` (owners as they stood then), of
    /// `segment` then when one is named, cached.
    pub fn scoped(
        &self,
        cut: Cut,
        scope: &Scope,
        segment: Option<&str>,
    ) -> Result<Arc<Scoped>, WorkspaceError> {
        let segment = segment.filter(|s| !s.is_empty());
        let same = |k: &(Cut, Scope, Option<String>)| {
            k.0 == cut && &k.1 == scope && k.2.as_deref() == segment
        };
        if let Ok(c) = self.scoped.lock()
            && let Some((_, s)) = c.iter().find(|(k, _)| same(k))
        {
            return Ok(s.clone());
        }
        let batch = self.opportunities(cut)?;
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::StringArray>())
        };
        let (id, owner, seg) = (text("id"), text("owner_id"), text("segment"));
        let deleted = batch
            .column_by_name("is_deleted")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::BooleanArray>());
        let mut keys = vec![false; self.log.keys.len()];
        let mut rows = Vec::new();
        use arrow_array::Array;
        for i in 0..batch.num_rows() {
            let o = owner.filter(|a| a.is_valid(i)).map(|a| a.value(i));
            if !scope.admits(o) {
                continue;
            }
            if let Some(want) = segment
                && seg.filter(|a| a.is_valid(i)).map(|a| a.value(i)) != Some(want)
            {
                continue;
            }
            if let Some(k) = id.and_then(|a| self.log.keys.key(a.value(i))) {
                keys[k as usize] = true;
            }
            if !deleted.is_some_and(|d| d.is_valid(i) && d.value(i)) {
                rows.push(i as u32);
            }
        }
        let s = Arc::new(Scoped { batch, rows, keys });
        if let Ok(mut c) = self.scoped.lock() {
            c.retain(|(k, _)| !same(k));
            c.insert(
                0,
                ((cut, scope.clone(), segment.map(str::to_string)), s.clone()),
            );
            c.truncate(SCOPES_KEPT);
        }
        Ok(s)
    }

    /// The leads, scored (read on first use).
    pub fn lead_book(&self) -> Result<Arc<crate::lead_book::LeadBook>, crate::ApiError> {
        if let Some(b) = self.lead_book.get() {
            return Ok(b.clone());
        }
        // one reader at a time: a request waits for the warming thread's
        // read instead of doing it again beside it
        self.one_at_a_time(
            || self.lead_book.get().cloned(),
            || {
                let b = Arc::new(crate::lead_book::LeadBook::load(&self.store)?);
                Ok(self.lead_book.get_or_init(|| b).clone())
            },
        )
    }

    /// `cached()` if it has it, else `compute()` — by one thread at a time
    /// (the leads' reading and scoring), the others waiting for it. The
    /// work runs on a thread of its own under the lock, never on the
    /// caller's: a rayon worker that held the lock would, waiting for its
    /// own parallel parts, take another queued request for the same work,
    /// which would wait for it in turn. The caller does the pool's other
    /// work while it waits.
    fn one_at_a_time<T: Send>(
        &self,
        cached: impl Fn() -> Option<T> + Sync,
        compute: impl FnOnce() -> Result<T, crate::ApiError> + Send,
    ) -> Result<T, crate::ApiError> {
        if let Some(v) = cached() {
            return Ok(v);
        }
        std::thread::scope(|s| {
            let work = std::thread::Builder::new()
                .name("pipewise-leads".into())
                .spawn_scoped(s, || {
                    let _one = self
                        .leads_work
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match cached() {
                        Some(v) => Ok(v),
                        None => compute(),
                    }
                })
                .map_err(crate::ApiError::internal)?;
            while !work.is_finished() {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            work.join()
                .unwrap_or_else(|_| Err(crate::ApiError::internal("reading the leads panicked")))
        })
    }

    /// Every lead's score by the trained lead model in `dir` (named
    /// `name`), computed once per ledger version and model file.
    pub fn lead_scores(
        &self,
        dir: &Path,
        name: &str,
    ) -> Result<Arc<crate::lead_book::ModelScores>, crate::ApiError> {
        let key = format!("{name}@{}", model_stamp(dir));
        let cached = || {
            self.lead_scores
                .lock()
                .ok()
                .and_then(|c| c.get(&key).cloned())
        };
        // (as for the lead book: one scoring at a time, the others wait for it)
        self.one_at_a_time(cached, || {
            let s = Arc::new(crate::lead_book::ModelScores::score(
                &self.store,
                &self.process,
                dir,
                name,
            )?);
            if let Ok(mut c) = self.lead_scores.lock() {
                c.insert(key.clone(), s.clone());
            }
            Ok(s)
        })
    }

    /// Every open deal's score at `cut` for `period` by the trained model
    /// in `dir` (named `name`), computed once per ledger version and model
    /// file. `None` when there is no such model.
    pub fn deal_scores(
        &self,
        dir: &Path,
        name: &str,
        cut: Cut,
        period: pipewise_score::deals::rows::Period,
    ) -> Result<Option<Arc<Vec<pipewise_score::deals::model::DealScore>>>, WorkspaceError> {
        let key = (
            format!("{name}@{}", model_stamp(dir)),
            cut.effective,
            cut.recorded,
            period.first,
            period.last,
        );
        if let Ok(c) = self.deal_scores.lock()
            && let Some(s) = c.get(&key)
        {
            return Ok(Some(s.clone()));
        }
        if !dir.join("model.json").exists() {
            return Ok(None);
        }
        let model = pipewise_score::deals::model::DealModel::load(dir).map_err(|e| {
            WorkspaceError::Model {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let history = match self.deal_history.get() {
            Some(h) => h,
            None => {
                let h = pipewise_score::deals::history::DealHistory::load_with(
                    &self.store,
                    self.process.clone(),
                    false,
                )?;
                self.deal_history.get_or_init(|| h)
            }
        };
        let scores = Arc::new(model.score(history, cut, period, 3, None));
        if let Ok(mut c) = self.deal_scores.lock() {
            if c.len() >= 16 {
                c.clear();
            }
            c.insert(key, scores.clone());
        }
        Ok(Some(scores))
    }

    /// The SQL engine (opened on first use).
    pub fn engine(&self) -> Result<&pipewise_engine::Engine, WorkspaceError> {
        if let Some(e) = self.engine.get() {
            return Ok(e);
        }
        let e = pipewise_engine::Engine::open(&self.store, &self.process)?;
        Ok(self.engine.get_or_init(|| e))
    }

    /// The scope of a user: see [`Scope::of`].
    pub fn scope(&self, user: &pipewise_state::User) -> Scope {
        Scope::of(user, &self.org)
    }
}

impl Drop for Loaded {
    /// The engine owns a Tokio runtime, which may not be dropped on an async
    /// worker (the last reference to an old version can go in a handler):
    /// it is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = std::thread::Builder::new()
                .name("pipewise-engine-drop".into())
                .spawn(move || drop(engine));
        }
    }
}

/// A workspace being served.
pub struct Workspace {
    dir: PathBuf,
    store: Store,
    current: RwLock<Arc<Loaded>>,
}

fn load(dir: &Path, store: &Store) -> Result<Loaded, WorkspaceError> {
    let path = dir.join("pipewise.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| WorkspaceError::Process {
        path: path.clone(),
        message: format!("cannot read the sales process: {e}"),
    })?;
    let process = SalesProcess::from_toml(&text, &path.display().to_string()).map_err(|e| {
        WorkspaceError::Process {
            path: path.clone(),
            message: e.to_string(),
        }
    })?;
    let manifest = store.manifest()?;
    let log = store.load_projected(
        &manifest,
        &pipewise_ledger::Projection {
            fields: None,
            old_values: false,
            recorded_at: true,
            ids: true,
            sources: false,
        },
    )?;
    let org = Org::from_batches(&store.read_table("users")?, &store.read_table("quotas")?);
    let calendar =
        pipewise_ledger::tables::fiscal_from_batches(&store.read_table("fiscal_periods")?)
            .map_err(|e| WorkspaceError::Calendar(e.to_string()))?;
    Ok(Loaded {
        version: manifest.version,
        process,
        latest: log.latest(),
        log,
        org,
        calendar,
        engine: std::sync::OnceLock::new(),
        metrics: pipewise_metrics::Library::load(dir)?,
        store: store.clone(),
        forecasting: Mutex::new(std::collections::HashMap::new()),
        cuts: Mutex::new(Vec::new()),
        scoped: Mutex::new(Vec::new()),
        deal_history: std::sync::OnceLock::new(),
        lead_book: std::sync::OnceLock::new(),
        leads_work: Mutex::new(()),
        lead_scores: Mutex::new(std::collections::HashMap::new()),
        answers: crate::answers::Answers::default(),
        deal_scores: Mutex::new(std::collections::HashMap::new()),
    })
}

/// Work the first request of a page would otherwise wait for, done on a
/// thread of its own as soon as a version is loaded: the leads read and
/// scored (by the trained lead model named `leads`, when there is one —
/// seconds on a company with a million leads).
fn warm(loaded: &Arc<Loaded>, dir: &Path) {
    let (l, models) = (loaded.clone(), dir.join("models").join("leads"));
    let spawned = std::thread::Builder::new()
        .name("pipewise-warm".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            if let Err(e) = l.lead_book() {
                tracing::warn!(error = %e.message(), "warming the leads");
            }
            if models.join("model.json").exists()
                && let Err(e) = l.lead_scores(&models, "leads")
            {
                tracing::warn!(error = %e.message(), "scoring the leads with the trained model");
            }
            tracing::info!(version = l.version, elapsed = ?started.elapsed(), "caches warm");
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread to warm the caches");
    }
}

impl Workspace {
    /// Open and load the workspace in `dir` (its caches warming on a
    /// thread of their own).
    pub fn open(dir: &Path) -> Result<Workspace, WorkspaceError> {
        let store = Store::open(dir)?;
        let loaded = Arc::new(load(dir, &store)?);
        warm(&loaded, dir);
        Ok(Workspace {
            dir: dir.to_path_buf(),
            store,
            current: RwLock::new(loaded),
        })
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its ledger store (for journals: submissions).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The loaded version if no commit landed since (one small file read:
    /// `CURRENT`), else `None`.
    pub fn fresh(&self) -> Option<Arc<Loaded>> {
        let have = self.current.read().map(|c| c.clone()).ok()?;
        let now = self.store.current_version().ok()?;
        (have.version == now).then_some(have)
    }

    /// The current version, reloaded first if a commit landed since.
    pub fn get(&self) -> Result<Arc<Loaded>, WorkspaceError> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let fresh = Arc::new(load(&self.dir, &self.store)?);
        tracing::info!(version = fresh.version, "workspace reloaded");
        warm(&fresh, &self.dir);
        if let Ok(mut c) = self.current.write() {
            *c = fresh.clone();
        }
        Ok(fresh)
    }
}

/// Run CPU-heavy `f` on rayon's pool and wait for it without blocking the
/// HTTP runtime.
pub async fn compute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.ok()
}

/// A model file's change time (ns), so that a model retrained under the
/// same name is used afresh.
fn model_stamp(dir: &Path) -> u128 {
    std::fs::metadata(dir.join("model.json"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}
