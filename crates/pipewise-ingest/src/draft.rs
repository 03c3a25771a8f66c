//! What connectors produce, and how it becomes one ledger commit.
//!
//! A connector fills a [`Draft`]: per opportunity, its creation time, the
//! history events its source records, and the *current* values its
//! current-state record holds. [`Draft::into_commit`] then
//!
//! 1. gives new opportunities their values since creation (the old value of a
//!    field's first history event, else the current value when the field is
//!    one that only changes with history, [`Since::Creation`]);
//! 2. replays ledger + new events to the latest state and, wherever that
//!    differs from the current record, appends the difference as a change at
//!    the record's modification time or the ingest's `--as-of`
//!    (snapshot mode: history accumulates from the first ingest on);
//! 3. upserts the entity tables.
//!
//! Everything is ordered by opportunity id and event time, so the same input
//! gives the same commit.

use crate::quality::{QualityReport, QuarantineRecord, Reason};
use pipewise_ledger::{Commit, EventLog, NewOpportunity, Store, TableSet, tables};
use pipewise_model::{
    Account, Activity, Field, Lead, LeadEvent, OpportunityEvent, Quota, Timestamp, User, Value,
    schema,
};
use std::collections::BTreeMap;

/// Since when a current value is known to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The field only changes through recorded history (or never): its
    /// current value held since creation unless history says otherwise.
    Creation,
    /// Known only as of the snapshot.
    Snapshot,
    /// The source keeps no history of the field: its current value is taken
    /// as the value since creation, effective from creation but recorded at
    /// the ingest's `--as-of` (so `asof --known` does not see it earlier),
    /// with a `:carried_back` source.
    CarriedBack,
}

#[derive(Debug, Clone)]
pub struct HistEvent {
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub field: Field,
    pub old: Value,
    pub new: Value,
    pub source: &'static str,
    /// Input order, to keep same-time events in file order.
    pub order: u64,
}

#[derive(Debug, Clone, Default)]
pub struct OppDraft {
    pub created_at: Option<Timestamp>,
    pub history: Vec<HistEvent>,
    pub current: BTreeMap<Field, (Value, Since)>,
    /// When the current record was last modified, if the source says.
    pub current_at: Option<Timestamp>,
    /// Where the current record came from, for reports: (file, row).
    pub origin: Option<(String, u64)>,
}

/// Everything one ingest will land.
#[derive(Debug, Default)]
pub struct Draft {
    pub opps: BTreeMap<String, OppDraft>,
    pub users: Vec<User>,
    pub accounts: Vec<Account>,
    pub leads: Vec<Lead>,
    pub lead_events: Vec<LeadEvent>,
    pub activities: Vec<Activity>,
    pub quotas: Vec<Quota>,
    /// Reference tables kept as given (all text): name → (headers, rows).
    pub references: BTreeMap<String, (Vec<String>, Vec<Vec<String>>)>,
    next_order: u64,
}

fn latest_in_ledger(log: &EventLog, key: u32) -> BTreeMap<Field, (Timestamp, Value)> {
    let mut out = BTreeMap::new();
    for (f, c) in &log.columns {
        let r = c.run(key);
        if r.end > r.start {
            let i = r.end - 1; // sorted by (effective_at, seq): the last one is in force
            out.insert(f.clone(), (c.effective_at[i], c.new.get(i)));
        }
    }
    out
}

impl Draft {
    pub fn opp(&mut self, id: &str) -> &mut OppDraft {
        self.opps.entry(id.to_string()).or_default()
    }

    pub fn next_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// Turn the draft into a commit against the current ledger.
    pub fn into_commit(
        self,
        store: &Store,
        label: &str,
        as_of: Timestamp,
        report: &mut QualityReport,
    ) -> Result<Commit, crate::IngestError> {
        let log = store.load(None, false)?;
        let mut news = Vec::new();
        let mut events: Vec<(Timestamp, String, u64, OpportunityEvent)> = Vec::new();
        for (id, od) in &self.opps {
            let key = log.keys.key(id);
            let first_hist = od.history.iter().map(|h| h.effective_at).min();
            let created = od.created_at.or(first_hist).unwrap_or(as_of);
            let mut hist = od.history.clone();
            hist.sort_by_key(|h| (h.effective_at, h.order));
            let mut mine: Vec<(OpportunityEvent, u64)> = Vec::new();
            let push = |mine: &mut Vec<(OpportunityEvent, u64)>,
                        f: &Field,
                        old: Value,
                        new: Value,
                        eff: Timestamp,
                        rec: Timestamp,
                        src: &str,
                        order: u64| {
                mine.push((
                    OpportunityEvent {
                        opportunity_id: id.clone(),
                        field: f.clone(),
                        old_value: old,
                        new_value: new,
                        effective_at: eff,
                        recorded_at: rec,
                        source: src.to_string(),
                    },
                    order,
                ));
            };
            if key.is_none() {
                news.push(NewOpportunity {
                    id: id.clone(),
                    created_at: created,
                });
                // Values since creation.
                let mut fields: Vec<&Field> = od.current.keys().collect();
                for h in &hist {
                    if !fields.contains(&&h.field) {
                        fields.push(&h.field);
                    }
                }
                for f in fields {
                    let first = hist.iter().find(|h| &h.field == f);
                    match first {
                        Some(h) if h.effective_at > created && !h.old.is_null() => {
                            push(
                                &mut mine,
                                f,
                                Value::Null,
                                h.old.clone(),
                                created,
                                created.min(h.recorded_at),
                                &format!("{label}:initial"),
                                0,
                            );
                        }
                        Some(_) => {}
                        None => {
                            if let Some((v, since)) = od.current.get(f)
                                && !v.is_null()
                            {
                                match since {
                                    Since::Creation => push(
                                        &mut mine,
                                        f,
                                        Value::Null,
                                        v.clone(),
                                        created,
                                        created,
                                        &format!("{label}:initial"),
                                        0,
                                    ),
                                    Since::CarriedBack => push(
                                        &mut mine,
                                        f,
                                        Value::Null,
                                        v.clone(),
                                        created,
                                        as_of.max(created),
                                        &format!("{label}:carried_back"),
                                        0,
                                    ),
                                    Since::Snapshot => {
                                        let t = od.current_at.unwrap_or(as_of).max(created);
                                        push(
                                            &mut mine,
                                            f,
                                            Value::Null,
                                            v.clone(),
                                            t,
                                            as_of.max(t),
                                            &format!("{label}:snapshot"),
                                            0,
                                        )
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for h in &hist {
                push(
                    &mut mine,
                    &h.field,
                    h.old.clone(),
                    h.new.clone(),
                    h.effective_at,
                    h.recorded_at,
                    h.source,
                    h.order,
                );
            }
            // Latest state: ledger, then this ingest's events in (effective_at, order).
            let mut latest: BTreeMap<Field, (Timestamp, Value)> =
                key.map(|k| latest_in_ledger(&log, k)).unwrap_or_default();
            let mut sorted: Vec<&(OpportunityEvent, u64)> = mine.iter().collect();
            sorted.sort_by_key(|(e, o)| (e.effective_at, *o));
            for (e, _) in sorted {
                let replace = latest
                    .get(&e.field)
                    .is_none_or(|(t, _)| e.effective_at >= *t);
                if replace {
                    latest.insert(e.field.clone(), (e.effective_at, e.new_value.clone()));
                }
            }
            for (f, (v, _)) in &od.current {
                let (last_t, last_v) = latest.get(f).cloned().unwrap_or((created, Value::Null));
                if last_v.same_as(v) {
                    continue;
                }
                let had_history = hist.iter().any(|h| &h.field == f);
                if had_history {
                    let (file, row) = od.origin.clone().unwrap_or_default();
                    let r = QuarantineRecord {
                        file,
                        row,
                        column: f.name().into_owned(),
                        raw_value: v.to_canonical_string().unwrap_or_default(),
                        reason: Reason::HistoryCurrentMismatch,
                        detail: format!(
                            "latest history says {:?}, the current record says {:?}",
                            last_v.to_canonical_string().unwrap_or_default(),
                            v.to_canonical_string().unwrap_or_default()
                        ),
                        scope: crate::quality::Scope::Row,
                    };
                    report.record(&r);
                }
                let t = od
                    .current_at
                    .filter(|&t| t >= last_t)
                    .unwrap_or(as_of.max(last_t));
                push(
                    &mut mine,
                    f,
                    last_v,
                    v.clone(),
                    t,
                    as_of.max(t),
                    &format!("{label}:snapshot"),
                    u64::MAX,
                );
            }
            for (e, o) in mine {
                events.push((e.recorded_at, id.clone(), o, e));
            }
        }
        events.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        let events: Vec<OpportunityEvent> = events.into_iter().map(|(_, _, _, e)| e).collect();

        let mut tables_out: TableSet = Vec::new();
        let mut upsert = |name: &str,
                          sch: arrow_schema::SchemaRef,
                          batch: arrow_array::RecordBatch|
         -> Result<(), crate::IngestError> {
            if batch.num_rows() == 0 {
                return Ok(());
            }
            let existing = store.read_table(name)?;
            let (merged, counts) =
                tables::upsert(sch.clone(), tables::table_key(name), &existing, &batch)?;
            if counts.new + counts.replaced > 0 {
                tables_out.push((name.to_string(), sch, vec![merged]));
            }
            Ok(())
        };
        upsert("users", schema::users(), tables::users_batch(&self.users)?)?;
        upsert(
            "accounts",
            schema::accounts(),
            tables::accounts_batch(&self.accounts)?,
        )?;
        upsert("leads", schema::leads(), tables::leads_batch(&self.leads)?)?;
        upsert(
            "lead_events",
            schema::lead_events(),
            tables::lead_events_batch(&self.lead_events)?,
        )?;
        upsert(
            "activities",
            schema::activities(),
            tables::activities_batch(&self.activities)?,
        )?;
        upsert(
            "quotas",
            schema::quotas(),
            tables::quotas_batch(&self.quotas)?,
        )?;
        for (name, (headers, rows)) in &self.references {
            let fields: Vec<arrow_schema::Field> = headers
                .iter()
                .map(|h| arrow_schema::Field::new(h, arrow_schema::DataType::Utf8, true))
                .collect();
            let sch = std::sync::Arc::new(arrow_schema::Schema::new(fields));
            let cols: Vec<arrow_array::ArrayRef> = (0..headers.len())
                .map(|c| {
                    std::sync::Arc::new(arrow_array::StringArray::from_iter_values(
                        rows.iter().map(|r| r[c].as_str()),
                    )) as arrow_array::ArrayRef
                })
                .collect();
            let batch = arrow_array::RecordBatch::try_new(sch.clone(), cols)?;
            tables_out.push((format!("ref_{name}"), sch, vec![batch]));
        }
        Ok(Commit {
            new_opportunities: news,
            events,
            tables: tables_out,
            ingest: None,
        })
    }
}
