//! Append-only journals beside the ledger: records that are kept forever
//! and never rewritten (forecast submissions, later alerts and audit
//! entries). A journal is a folder `journals/<name>/` of numbered Parquet
//! files, one per append, each written whole under the ledger's write lock
//! (a second writer waits, as for a commit; threads sharing a handle take
//! turns) and renamed into place, so a crash leaves either the file or
//! nothing. Reading concatenates them in
//! number order.

use super::{COMMIT_LOCK_WAIT, Store};
use crate::error::LedgerError;
use crate::parquet_io::{read_parquet, write_parquet};
use arrow_array::RecordBatch;
use std::path::PathBuf;

fn valid(name: &str) -> Result<(), LedgerError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(LedgerError::Invalid(format!(
            "journal name {name:?}: use lower-case letters, digits and _"
        )));
    }
    Ok(())
}

impl Store {
    fn journal_dir(&self, name: &str) -> PathBuf {
        self.root().join("journals").join(name)
    }

    /// The journal's files, in order.
    fn journal_files(&self, name: &str) -> Result<Vec<(u64, PathBuf)>, LedgerError> {
        let dir = self.journal_dir(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LedgerError::io(&dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|err| LedgerError::io(&dir, err))?;
            let file = e.file_name();
            let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".parquet")) else {
                continue; // a leftover .tmp from a crash, or anything else
            };
            if let Ok(n) = stem.parse::<u64>() {
                out.push((n, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Append `batches` (one schema) to journal `name` as its next file.
    /// Returns the file's number.
    pub fn append_journal(&self, name: &str, batches: &[RecordBatch]) -> Result<u64, LedgerError> {
        valid(name)?;
        let Some(first) = batches.first() else {
            return Err(LedgerError::Invalid(format!(
                "journal {name}: nothing to append"
            )));
        };
        // one append at a time through this handle (a poisoned mutex only
        // means another append panicked; the files are still whole)
        let _one = self
            .journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _lock = if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            None
        } else {
            Some(self.lock(COMMIT_LOCK_WAIT, &|m| tracing::info!("{m}"))?)
        };
        let dir = self.journal_dir(name);
        std::fs::create_dir_all(&dir).map_err(|e| LedgerError::io(&dir, e))?;
        let next = self.journal_files(name)?.last().map_or(1, |(n, _)| n + 1);
        let path = dir.join(format!("{next:08}.parquet"));
        write_parquet(&path, first.schema(), batches)?;
        Ok(next)
    }

    /// Every record of journal `name`, in the order appended (empty when it
    /// has none).
    pub fn read_journal(&self, name: &str) -> Result<Vec<RecordBatch>, LedgerError> {
        valid(name)?;
        let mut out = Vec::new();
        for (_, path) in self.journal_files(name)? {
            out.extend(read_parquet(&path, None)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(i: i64, s: &str) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![i])),
                Arc::new(StringArray::from(vec![s])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn appends_are_kept_in_order_and_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        assert!(store.read_journal("subs").unwrap().is_empty());
        assert_eq!(store.append_journal("subs", &[batch(1, "a")]).unwrap(), 1);
        let first = std::fs::read(dir.path().join("journals/subs/00000001.parquet")).unwrap();
        // a crash's leftover is ignored
        std::fs::write(
            dir.path().join("journals/subs/00000002.parquet.tmp"),
            b"junk",
        )
        .unwrap();
        // writers at once — two handles, as two processes would have, and
        // two threads sharing this one: each append gets its own file
        std::thread::scope(|s| {
            for k in 0..2 {
                let root = dir.path();
                s.spawn(move || {
                    let other = Store::open(root).unwrap();
                    other.append_journal("subs", &[batch(10 + k, "b")]).unwrap()
                });
            }
            for k in 0..2 {
                let store = &store;
                s.spawn(move || store.append_journal("subs", &[batch(20 + k, "c")]).unwrap());
            }
        });
        assert_eq!(store.append_journal("subs", &[batch(4, "d")]).unwrap(), 6);
        let all = store.read_journal("subs").unwrap();
        let is: Vec<i64> = all
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(is.len(), 6);
        assert_eq!((is[0], is[5]), (1, 4));
        assert_eq!(
            std::fs::read(dir.path().join("journals/subs/00000001.parquet")).unwrap(),
            first
        );
        assert!(store.append_journal("Bad Name", &[batch(1, "a")]).is_err());
        assert!(store.append_journal("subs", &[]).is_err());
    }
}
