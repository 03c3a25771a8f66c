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
//!
//! Where things are: `manifest` (the versions and what each holds),
//! `segment` (a segment's Parquet files: schemas, values to and from Arrow),
//! `load` (reading a version into an [`EventLog`], in parallel), `commit`
//! (writing a version). This file holds [`Store`] itself: opening, the write
//! lock, reading the current manifest, entity tables.

mod commit;
mod journal;
mod load;
mod manifest;
mod segment;

pub use commit::{Commit, CommitSummary, EventColumns, FieldEvents, TableSet};
pub use load::Projection;
pub use manifest::{FORMAT, IngestRecord, Manifest, SegmentInfo, SourceFile};

use crate::error::LedgerError;
use crate::parquet_io::{read_parquet, write_atomic};
use arrow_array::RecordBatch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A workspace's ledger folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Set while a [`WriteLock`] taken through this store (or a clone) lives.
    locked: Arc<std::sync::atomic::AtomicBool>,
    /// Serialises journal appends through this store and its clones: with
    /// `locked` set by another thread, the file lock alone would let two
    /// appends pick the same next number.
    journal: Arc<std::sync::Mutex<()>>,
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
pub(super) const COMMIT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

impl Store {
    /// Create a new, empty ledger in `root` (the workspace folder). Fails if one exists.
    pub fn init(root: &Path) -> Result<Store, LedgerError> {
        let store = Store {
            root: root.to_path_buf(),
            locked: Default::default(),
            journal: Default::default(),
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
            journal: Default::default(),
        };
        if !store.current_path().exists() {
            return Err(LedgerError::NotAWorkspace {
                path: root.to_path_buf(),
            });
        }
        Ok(store)
    }

    /// The workspace folder.
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

    /// The current version's number, from `CURRENT` alone (it names
    /// `vNNNNNN.json`): what a reader polls to notice a commit without
    /// reading the manifest.
    pub fn current_version(&self) -> Result<u64, LedgerError> {
        let cur = self.current_path();
        let name = std::fs::read_to_string(&cur).map_err(|e| LedgerError::io(&cur, e))?;
        let n = name.trim();
        match n
            .strip_prefix('v')
            .and_then(|x| x.strip_suffix(".json"))
            .and_then(|x| x.parse::<u64>().ok())
        {
            Some(v) => Ok(v),
            // a name of another form: the manifest says
            None => Ok(self.manifest()?.version),
        }
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

    /// The Parquet file of an entity table in manifest `m`, if it has one.
    pub fn table_path(&self, m: &Manifest, name: &str) -> Option<PathBuf> {
        m.tables.get(name).map(|t| self.ledger_dir().join(&t.path))
    }

    /// Read an entity table of the current version (empty when absent).
    pub fn read_table(&self, name: &str) -> Result<Vec<RecordBatch>, LedgerError> {
        self.read_table_projected(name, None)
    }

    /// Only `columns` of entity table `name` (those it has; a column it
    /// lacks is simply absent from the batches). Reading three columns of
    /// a large accounts table decodes a fraction of the file.
    pub fn read_table_columns(
        &self,
        name: &str,
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>, LedgerError> {
        self.read_table_projected(name, Some(columns))
    }

    fn read_table_projected(
        &self,
        name: &str,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, LedgerError> {
        let m = self.manifest()?;
        match m.tables.get(name) {
            Some(t) => read_parquet(&self.ledger_dir().join(&t.path), columns),
            None => Ok(Vec::new()),
        }
    }
}
