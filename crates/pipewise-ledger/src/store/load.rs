//! Reading a version: its segments field by field, in parallel, into one
//! [`EventLog`].

use super::Store;
use super::manifest::Manifest;
use super::segment::*;
use crate::error::LedgerError;
use crate::log::{EventLog, FieldColumn, Keys, TextLookup, Values, intern};
use crate::parquet_io::read_parquet;
use arrow_array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use pipewise_model::Field;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

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

/// Run tasks on rayon's pool; results in task order.
pub(super) fn run_parallel<'a, T: Send>(
    tasks: Vec<Box<dyn FnOnce() -> Result<T, LedgerError> + Send + 'a>>,
) -> Result<Vec<T>, LedgerError> {
    tasks.into_par_iter().map(|t| t()).collect()
}

/// Apply `f` to every item, on rayon's pool.
pub(super) fn run_parallel_mut<T: Send>(items: Vec<&mut T>, f: impl Fn(&mut T) + Sync) {
    items.into_par_iter().for_each(&f);
}

impl Store {
    /// Load the ledger. `fields`: only these fields (all when `None`);
    /// `with_old`: also load the sources' claimed old values.
    pub fn load(&self, fields: Option<&[Field]>, with_old: bool) -> Result<EventLog, LedgerError> {
        let m = self.manifest()?;
        self.load_manifest(&m, fields, with_old)
    }

    /// Load version `m` (not necessarily the current one): `fields` only, with old values or not.
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
}
