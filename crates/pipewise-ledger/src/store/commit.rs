//! Writing a version: new keys, events split by field and de-duplicated,
//! one segment of field files, entity tables, the manifest last.

use super::load::Projection;
use super::manifest::{IngestRecord, Manifest, SegmentInfo, TableInfo};
use super::segment::*;
use super::{COMMIT_LOCK_WAIT, Store};
use crate::error::LedgerError;
use crate::log::{
    EventLog, FieldColumn, Keys, NewOpportunity, TextLookup, Values, ValuesBuilder, intern,
};
use crate::parquet_io::write_parquet;
use arrow_array::{RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array};
use arrow_schema::SchemaRef;
use pipewise_model::{Field, FieldKind, OpportunityEvent, Timestamp};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    /// Entity tables the commit replaces.
    pub tables: TableSet,
    /// The ingest the commit records, if one made it.
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
    /// Per field: its events.
    pub fields: Vec<FieldEvents>,
}

/// One field's new events.
#[derive(Debug)]
#[allow(missing_docs)] // the columns of one field's events, as an OpportunityEvent's fields
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
#[allow(missing_docs)] // the new version and what it added
pub struct CommitSummary {
    pub version: u64,
    pub events_added: u64,
    pub events_duplicate: u64,
    pub opportunities_added: u64,
}

impl Store {
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
        let (new_keys, batch_keys) = assign_keys(&mut keys, &commit, batch.as_ref());
        tracing::debug!(
            ms = t0.elapsed().as_millis() as u64,
            keys = keys.len(),
            "commit: keys assigned"
        );

        let mut sources = Sources::default();
        let events = std::mem::take(&mut commit.events);
        let (building, mut seq, mut dup) =
            rows_by_field(&events, &keys, &existing, current.next_seq, &mut sources);
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
                &mut sources.dict,
                &mut sources.lookup,
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
            let (colm, d) = b.finish(field, keys.len());
            dup += d;
            columns.push(colm);
        }
        columns.retain(|c| !c.is_empty());
        columns.sort_by(|a, b| a.field.cmp(&b.field));
        let added: u64 = columns.iter().map(|c| c.len() as u64).sum();

        if let Some(seg) = self.write_segment(version, columns, &new_keys, &keys, &sources.dict)? {
            m.segments.push(seg);
        }
        tracing::debug!(
            ms = t0.elapsed().as_millis() as u64,
            "commit: segment written"
        );
        m.next_seq = seq;
        m.key_count = keys.len() as u64;
        self.write_tables(version, &commit.tables, &mut m)?;
        if let Some(mut rec) = commit.ingest.take() {
            rec.events_added = added;
            rec.events_duplicate = dup;
            rec.seqs = Some([current.next_seq, seq]);
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

    /// Write version `version`'s segment: the keys file of the new
    /// opportunities and one Parquet file per field, on every core (each
    /// file's bytes depend only on its column, so the order does not
    /// matter). `None` when there is nothing to write.
    fn write_segment(
        &self,
        version: u64,
        columns: Vec<FieldColumn>,
        new_keys: &[u32],
        keys: &Keys,
        src_dict: &[String],
    ) -> Result<Option<SegmentInfo>, LedgerError> {
        let added = columns.len();
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
                    Arc::new(UInt32Array::from(new_keys.to_vec())),
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
        let write_one = |colm: FieldColumn| -> Result<(String, u64), LedgerError> {
            let field = colm.field.clone();
            let kind = field.kind();
            let n = colm.len();
            let source_arr = values_to_array(&Values::Text {
                dict: src_dict.to_vec(),
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
        Ok((added > 0 || !new_keys.is_empty()).then_some(seg))
    }

    /// Write the commit's entity tables under version `version` and name
    /// them in manifest `m`.
    fn write_tables(
        &self,
        version: u64,
        tables: &TableSet,
        m: &mut Manifest,
    ) -> Result<(), LedgerError> {
        if !tables.is_empty() {
            let tdir = self
                .ledger_dir()
                .join("tables")
                .join(format!("v{version:06}"));
            std::fs::create_dir_all(&tdir).map_err(|e| LedgerError::io(&tdir, e))?;
            for (name, schema, batches) in tables {
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
        Ok(())
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
pub(super) fn columns_from_batch(
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

/// Source labels of a commit's events, interned.
#[derive(Default)]
pub(super) struct Sources {
    dict: Vec<String>,
    lookup: TextLookup,
}

/// Give every opportunity of a commit a key: declared opportunities first,
/// then any referenced only by events, then those the columns name. Returns
/// the new keys, and the key of each id of `batch` (in its index order).
pub(super) fn assign_keys(
    keys: &mut Keys,
    commit: &Commit,
    batch: Option<&EventColumns>,
) -> (Vec<u32>, Vec<u32>) {
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
    let (batch_first_rec, batch_first_eff) = match batch {
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
    if let Some(b) = batch {
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
    if let Some(b) = batch {
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

    (new_keys, batch_keys)
}

/// One field's events from a commit's rows, as they are gathered.
pub(super) struct Building {
    opp: Vec<u32>,
    eff: Vec<i64>,
    rec: Vec<i64>,
    seq: Vec<u64>,
    src: Vec<u32>,
    old: ValuesBuilder,
    new: ValuesBuilder,
}

impl Building {
    fn new(kind: FieldKind) -> Building {
        Building {
            opp: Vec::new(),
            eff: Vec::new(),
            rec: Vec::new(),
            seq: Vec::new(),
            src: Vec::new(),
            old: ValuesBuilder::new(kind),
            new: ValuesBuilder::new(kind),
        }
    }

    /// The field's column, sorted for `n_keys` keys, with duplicates within
    /// the commit removed; and how many were.
    fn finish(self, field: Field, n_keys: usize) -> (FieldColumn, u64) {
        let mut colm = FieldColumn {
            field,
            opp: self.opp,
            effective_at: self.eff,
            recorded_at: self.rec,
            seq: self.seq,
            source: self.src,
            old: Some(self.old.finish()),
            new: self.new.finish(),
            offsets: Vec::new(),
        };
        colm.finish(n_keys);
        let dup = colm.remove_duplicates();
        colm.finish(n_keys);
        (colm, dup)
    }
}

/// A commit's row events split by field, skipping events already in the
/// ledger (duplicates within the commit are removed when each field's column
/// is finished), with seq numbers from `seq` on in landing order. Returns the
/// fields, the next seq and how many were skipped.
pub(super) fn rows_by_field(
    events: &[OpportunityEvent],
    keys: &Keys,
    existing: &EventLog,
    mut seq: u64,
    sources: &mut Sources,
) -> (BTreeMap<Field, Building>, u64, u64) {
    let mut building: BTreeMap<Field, Building> = BTreeMap::new();
    let mut dup = 0u64;
    for e in events {
        let key = keys.key(&e.opportunity_id).unwrap_or(0);
        if let Some(c) = existing.column(&e.field)
            && c.run(key)
                .any(|i| c.effective_at[i] == e.effective_at && c.new.get(i).same_as(&e.new_value))
        {
            dup += 1;
            continue;
        }
        let b = building
            .entry(e.field.clone())
            .or_insert_with(|| Building::new(e.field.kind()));
        b.opp.push(key);
        b.eff.push(e.effective_at);
        b.rec.push(e.recorded_at);
        b.seq.push(seq);
        seq += 1;
        b.src
            .push(intern(&mut sources.dict, &mut sources.lookup, &e.source));
        b.old.push(&e.old_value);
        b.new.push(&e.new_value);
    }
    (building, seq, dup)
}
