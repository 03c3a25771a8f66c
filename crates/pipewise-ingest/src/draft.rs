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
use pipewise_ledger::{
    Commit, EventColumns, FieldEvents, NewOpportunity, Store, TableSet, ValuesBuilder, tables,
};
use pipewise_model::{
    Account, Activity, Field, Lead, LeadEvent, Quota, Timestamp, User, Value, schema,
};
use std::collections::{BTreeMap, HashMap};

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

impl Since {
    /// Since when a field of a CRM's current record is known to hold when the
    /// export has no history of it: stage, amount, close date, probability,
    /// forecast category, loss reason, next step and the business-case and
    /// deleted flags change over a deal's life, so only the snapshot knows
    /// them; anything else is taken to hold from creation.
    pub fn of_current(field: &Field) -> Since {
        match field {
            Field::Stage
            | Field::Amount
            | Field::CloseDate
            | Field::Probability
            | Field::ForecastCategory
            | Field::LossReason
            | Field::NextStep
            | Field::NextStepDate
            | Field::HasBusinessCase
            | Field::IsDeleted => Since::Snapshot,
            _ => Since::Creation,
        }
    }
}

/// One change a source records, as a connector hands it over.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the fields are an opportunity event's, as the connector reads it
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

/// A field's recorded changes, as columns (opportunities by draft index).
#[derive(Debug)]
struct History {
    opp: Vec<u32>,
    eff: Vec<Timestamp>,
    rec: Vec<Timestamp>,
    order: Vec<u64>,
    source: Vec<u16>,
    old: ValuesBuilder,
    new: ValuesBuilder,
}

/// A field's current values: the last one set for an opportunity wins.
#[derive(Debug)]
struct Current {
    opp: Vec<u32>,
    since: Vec<Since>,
    values: ValuesBuilder,
}

/// Everything one ingest will land. Opportunities are kept by index, and
/// their changes and current values in one set of columns per field, so
/// that a large export's tens of millions of changes stay compact.
#[derive(Debug, Default)]
#[allow(missing_docs)] // the entity fields are the canonical tables
pub struct Draft {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    created_at: Vec<Option<Timestamp>>,
    current_at: Vec<Option<Timestamp>>,
    /// Where the current record came from: (file index, line); file
    /// `u32::MAX` = not said.
    origin: Vec<(u32, u64)>,
    origin_files: Vec<String>,
    history: BTreeMap<Field, History>,
    current: BTreeMap<Field, Current>,
    sources: Vec<std::borrow::Cow<'static, str>>,
    pub users: Vec<User>,
    pub accounts: Vec<Account>,
    pub leads: Vec<Lead>,
    pub lead_events: Vec<LeadEvent>,
    pub activities: Vec<Activity>,
    pub quotas: Vec<Quota>,
    /// Reference tables kept as given (all text): name → (headers, rows).
    pub references: BTreeMap<String, (Vec<String>, Vec<Vec<String>>)>,
    /// The exchange rates amounts were converted with, if any.
    pub rates: Option<pipewise_model::currency::Rates>,
    /// The fiscal years the export defines itself, if any.
    pub fiscal: Option<pipewise_model::FiscalCalendar>,
    /// The export lists every opportunity (Salesforce's Opportunity.csv, a
    /// HubSpot deals file): a ledger deal it lacks was deleted in the CRM.
    pub complete: bool,
    /// What to do with such deals.
    pub missing: Missing,
    /// Ids of opportunities the export has but whose rows were quarantined:
    /// not landed, and not deleted either.
    kept: std::collections::HashSet<String>,
    next_order: u64,
}

/// What an ingest does with opportunities of the ledger that a complete
/// export no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// Mark them deleted, unless more than half of the ledger's deals are
    /// missing (then the export looks partial: they are kept, and the report
    /// says so).
    #[default]
    Auto,
    /// Mark them deleted however many there are.
    Deleted,
    /// Keep them as they are (a partial export).
    Keep,
}

/// One event being generated for an (opportunity, field).
struct Gen {
    eff: Timestamp,
    rec: Timestamp,
    /// 0 = initial, 1 = recorded history (in input order), 2 = snapshot.
    class: u8,
    order: u64,
    source: u16,
    old: Value,
    new: Value,
}

impl Draft {
    fn opp_index(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.index.insert(id.to_string(), i);
        self.created_at.push(None);
        self.current_at.push(None);
        self.origin.push((u32::MAX, 0));
        i
    }

    /// An opportunity the export has whose row did not land (quarantined):
    /// a complete export does not delete it.
    pub fn keep(&mut self, id: &str) {
        self.kept.insert(id.to_string());
    }

    fn source_code(&mut self, s: impl Into<std::borrow::Cow<'static, str>>) -> u16 {
        let s = s.into();
        match self.sources.iter().position(|x| *x == s) {
            Some(i) => i as u16,
            None => {
                self.sources.push(s);
                (self.sources.len() - 1) as u16
            }
        }
    }

    /// The next landing rank: events land (and get seq numbers) in rank order.
    pub fn next_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// When an opportunity was created, as its current record says (`None`
    /// for one only history names).
    pub fn created_of(&self, id: &str) -> Option<Timestamp> {
        self.index
            .get(id)
            .and_then(|&o| self.created_at[o as usize])
    }

    /// An opportunity's current record: when it was created (if the source
    /// says), when it was last modified, and where it was read.
    pub fn set_record(
        &mut self,
        id: &str,
        created_at: Option<Timestamp>,
        current_at: Option<Timestamp>,
        file: &str,
        line: u64,
    ) -> u32 {
        let oi = self.opp_index(id);
        let o = oi as usize;
        self.created_at[o] = created_at;
        self.current_at[o] = current_at;
        let f = match self.origin_files.iter().position(|x| x == file) {
            Some(i) => i as u32,
            None => {
                self.origin_files.push(file.to_string());
                (self.origin_files.len() - 1) as u32
            }
        };
        self.origin[o] = (f, line);
        oi
    }

    /// A current value of the opportunity [`Draft::set_record`] returned.
    pub fn set_current_at(&mut self, o: u32, field: Field, value: &Value, since: Since) {
        let c = self.current.entry(field).or_insert_with_key(|f| Current {
            opp: Vec::new(),
            since: Vec::new(),
            values: ValuesBuilder::new(f.kind()),
        });
        c.opp.push(o);
        c.since.push(since);
        c.values.push(value);
    }

    /// A recorded change of an opportunity.
    pub fn push_history(&mut self, id: &str, h: HistEvent) {
        let src = self.source_code(h.source);
        self.push_history_from(id, h, src);
    }

    fn push_history_from(&mut self, id: &str, h: HistEvent, src: u16) {
        let o = self.opp_index(id);
        let c = self.history.entry(h.field).or_insert_with_key(|f| History {
            opp: Vec::new(),
            eff: Vec::new(),
            rec: Vec::new(),
            order: Vec::new(),
            source: Vec::new(),
            old: ValuesBuilder::new(f.kind()),
            new: ValuesBuilder::new(f.kind()),
        });
        c.opp.push(o);
        c.eff.push(h.effective_at);
        c.rec.push(h.recorded_at);
        c.order.push(h.order);
        c.source.push(src);
        c.old.push(&h.old);
        c.new.push(&h.new);
    }

    /// Deletes and restores a complete export implies: a ledger deal (not
    /// deleted at `as_of`) that the export lacks is deleted as of `as_of`
    /// (source `<label>:missing_from_export`: when between the last ingest
    /// and now it went, the export does not say); a deleted one the export
    /// has again is restored (`<label>:reappeared`).
    fn deletions(
        &mut self,
        log: &pipewise_ledger::EventLog,
        label: &str,
        as_of: Timestamp,
        report: &mut QualityReport,
    ) {
        use pipewise_ledger::asof::{Cut, in_force};
        let cut = Cut::at(as_of);
        let deleted_col = log.column(&Field::IsDeleted);
        let deleted = |k: u32| -> bool {
            deleted_col
                .and_then(|c| in_force(c, k, cut).map(|i| c.new.get(i)))
                .is_some_and(|v| v == Value::Bool(true))
        };
        let says_deleted: std::collections::HashSet<u32> = self
            .current
            .get(&Field::IsDeleted)
            .map(|c| {
                (0..c.opp.len())
                    .filter(|&i| c.values.values().get(i) == Value::Bool(true))
                    .map(|i| c.opp[i])
                    .collect()
            })
            .unwrap_or_default();
        let mut restore: Vec<String> = Vec::new();
        for (o, id) in self.ids.iter().enumerate() {
            if let Some(k) = log.keys.key(id)
                && deleted(k)
                && !says_deleted.contains(&(o as u32))
            {
                restore.push(id.clone());
            }
        }
        let restored = restore.len();
        if restored > 0 {
            let src = self.source_code(format!("{label}:reappeared"));
            for id in restore {
                let order = self.next_order();
                let h = HistEvent {
                    effective_at: as_of,
                    recorded_at: as_of,
                    field: Field::IsDeleted,
                    old: Value::Bool(true),
                    new: Value::Bool(false),
                    source: "",
                    order,
                };
                self.push_history_from(&id, h, src);
            }
            report.notes.push(format!(
                "{restored} deleted opportunities are in this export again: restored as of the ingest's --as-of ({label}:reappeared)"
            ));
        }
        if !self.complete || self.missing == Missing::Keep {
            return;
        }
        let existing: Vec<u32> = (0..log.keys.len() as u32)
            .filter(|&k| log.keys.created_at[k as usize] <= as_of && !deleted(k))
            .collect();
        let gone: Vec<String> = existing
            .iter()
            .map(|&k| log.keys.id(k))
            .filter(|id| !self.index.contains_key(*id) && !self.kept.contains(*id))
            .map(str::to_string)
            .collect();
        if gone.is_empty() {
            return;
        }
        if self.missing == Missing::Auto && gone.len() * 2 > existing.len() {
            report.warnings.push(format!(
                "{} of the ledger's {} opportunities are not in this export: it looks partial, so they are kept as they were. If they were deleted in the CRM, ingest again with --missing deleted",
                gone.len(),
                existing.len()
            ));
            return;
        }
        let src = self.source_code(format!("{label}:missing_from_export"));
        for id in &gone {
            let order = self.next_order();
            let h = HistEvent {
                effective_at: as_of,
                recorded_at: as_of,
                field: Field::IsDeleted,
                old: Value::Null,
                new: Value::Bool(true),
                source: "",
                order,
            };
            self.push_history_from(id, h, src);
        }
        let sample: Vec<&str> = gone.iter().take(5).map(String::as_str).collect();
        report.notes.push(format!(
            "{} opportunities of the ledger are not in this export ({}{}): deleted as of the ingest's --as-of ({label}:missing_from_export; pass --missing keep for a partial export)",
            gone.len(),
            sample.join(", "),
            if gone.len() > sample.len() { ", …" } else { "" }
        ));
    }

    /// Turn the draft into a commit against the current ledger:
    ///
    /// 1. new opportunities get their values since creation (the old value
    ///    of a field's first history event, else the current value as its
    ///    [`Since`] says);
    /// 2. the latest state (ledger, then this ingest's events by time) is
    ///    compared with each current value; a difference lands as a change at
    ///    the record's modification time or `--as-of`.
    ///
    /// Each field is worked out on its own; events land in (recorded time,
    /// opportunity id, input order) order, whatever the order of the input.
    pub fn into_commit(
        mut self,
        store: &Store,
        label: &str,
        as_of: Timestamp,
        report: &mut QualityReport,
    ) -> Result<Commit, crate::IngestError> {
        // The ledger as far as this draft needs it: keys, and each of its
        // fields' latest values (no recorded times, sources or old values).
        let mut draft_fields: Vec<Field> = self.current.keys().cloned().collect();
        draft_fields.extend(self.history.keys().cloned());
        draft_fields.push(Field::IsDeleted);
        draft_fields.sort();
        draft_fields.dedup();
        let log = store.load_projected(
            &store.manifest()?,
            &pipewise_ledger::Projection {
                fields: Some(draft_fields),
                old_values: false,
                recorded_at: false,
                ids: true,
                sources: false,
            },
        )?;
        self.deletions(&log, label, as_of, report);
        let n = self.ids.len();
        let key_of: Vec<Option<u32>> = self.ids.iter().map(|id| log.keys.key(id)).collect();
        // Creation: as the source says, else the first history time, else --as-of.
        let mut first_hist = vec![Timestamp::MAX; n];
        for h in self.history.values() {
            for (i, &o) in h.opp.iter().enumerate() {
                first_hist[o as usize] = first_hist[o as usize].min(h.eff[i]);
            }
        }
        let created: Vec<Timestamp> = (0..n)
            .map(|o| {
                self.created_at[o]
                    .or((first_hist[o] != Timestamp::MAX).then_some(first_hist[o]))
                    .unwrap_or(as_of)
            })
            .collect();
        drop(first_hist);
        // Ids in sorted order: the rank of each.
        let mut by_id: Vec<u32> = (0..n as u32).collect();
        by_id.sort_unstable_by(|&a, &b| self.ids[a as usize].cmp(&self.ids[b as usize]));
        let mut id_rank = vec![0u32; n];
        for (r, &o) in by_id.iter().enumerate() {
            id_rank[o as usize] = r as u32;
        }
        let news: Vec<NewOpportunity> = by_id
            .iter()
            .filter(|&&o| key_of[o as usize].is_none())
            .map(|&o| NewOpportunity {
                id: self.ids[o as usize].clone(),
                created_at: created[o as usize],
            })
            .collect();
        let src_initial = self.source_code(format!("{label}:initial"));
        let src_snapshot = self.source_code(format!("{label}:snapshot"));
        let src_carried = self.source_code(format!("{label}:carried_back"));

        tracing::debug!(opportunities = n, "draft: keys and creation");
        let mut fields: Vec<Field> = self.current.keys().cloned().collect();
        for f in self.history.keys() {
            if !self.current.contains_key(f) {
                fields.push(f.clone());
            }
        }
        fields.sort();
        let mut out: Vec<FieldEvents> = Vec::new();
        for (field_ord, field) in fields.iter().enumerate() {
            let hist = self.history.remove(field);
            let cur = self.current.remove(field);
            // Recorded changes by (opportunity id, time, input order).
            let mut hidx: Vec<u32> = (0..hist.as_ref().map_or(0, |h| h.opp.len() as u32)).collect();
            if let Some(h) = &hist {
                hidx.sort_by_key(|&i| {
                    let i = i as usize;
                    (id_rank[h.opp[i] as usize], h.eff[i], h.order[i])
                });
            }
            // The current value of each opportunity (the last set wins).
            let mut cur_of = vec![u32::MAX; if cur.is_some() { n } else { 0 }];
            if let Some(c) = &cur {
                for (i, &o) in c.opp.iter().enumerate() {
                    cur_of[o as usize] = i as u32;
                }
            }
            let ledger_col = log.column(field);
            let kind = field.kind();
            let mut fe = FieldEvents {
                field: field.clone(),
                opp: Vec::new(),
                effective_at: Vec::new(),
                recorded_at: Vec::new(),
                source: Vec::new(),
                old: pipewise_ledger::Values::empty(kind),
                new: pipewise_ledger::Values::empty(kind),
                rank: Vec::new(),
            };
            let (mut old_b, mut new_b) = (ValuesBuilder::new(kind), ValuesBuilder::new(kind));
            let mut made: Vec<Gen> = Vec::new();
            let mut cursor = 0usize;
            // In id order: the order the ledger gives new opportunities their
            // keys, so a new ledger's columns come out sorted.
            for &o in &by_id {
                let o = o as usize;
                let start = cursor;
                if let Some(h) = &hist {
                    while cursor < hidx.len() && h.opp[hidx[cursor] as usize] as usize == o {
                        cursor += 1;
                    }
                }
                let run = &hidx[start..cursor];
                let cur_i = cur_of.get(o).copied().filter(|&i| i != u32::MAX);
                if run.is_empty() && cur_i.is_none() {
                    continue;
                }
                made.clear();
                let c = created[o];
                if key_of[o].is_none() {
                    // Values since creation.
                    match (run.first(), &hist) {
                        (Some(&h0), Some(h)) => {
                            let h0 = h0 as usize;
                            let old = h.old.values().get(h0);
                            if h.eff[h0] > c && !old.is_null() {
                                made.push(Gen {
                                    eff: c,
                                    rec: c.min(h.rec[h0]),
                                    class: 0,
                                    order: 0,
                                    source: src_initial,
                                    old: Value::Null,
                                    new: old,
                                });
                            }
                        }
                        _ => {
                            if let (Some(ci), Some(cc)) = (cur_i, &cur) {
                                let v = cc.values.values().get(ci as usize);
                                if !v.is_null() {
                                    let (eff, rec, source) = match cc.since[ci as usize] {
                                        Since::Creation => (c, c, src_initial),
                                        Since::CarriedBack => (c, as_of.max(c), src_carried),
                                        Since::Snapshot => {
                                            let t = self.current_at[o].unwrap_or(as_of).max(c);
                                            (t, as_of.max(t), src_snapshot)
                                        }
                                    };
                                    made.push(Gen {
                                        eff,
                                        rec,
                                        class: 0,
                                        order: 0,
                                        source,
                                        old: Value::Null,
                                        new: v,
                                    });
                                }
                            }
                        }
                    }
                }
                if let Some(h) = &hist {
                    for &i in run {
                        let i = i as usize;
                        made.push(Gen {
                            eff: h.eff[i],
                            rec: h.rec[i],
                            class: 1,
                            order: h.order[i],
                            source: h.source[i],
                            old: h.old.values().get(i),
                            new: h.new.values().get(i),
                        });
                    }
                }
                // Latest state: the ledger's, then this ingest's by (time, order).
                if let (Some(ci), Some(cc)) = (cur_i, &cur) {
                    let v = cc.values.values().get(ci as usize);
                    let mut latest: Option<(Timestamp, Value)> = key_of[o].and_then(|k| {
                        let col = ledger_col?;
                        let r = col.run(k);
                        (r.end > r.start)
                            .then(|| (col.effective_at[r.end - 1], col.new.get(r.end - 1)))
                    });
                    // made is in (time, order) order already: initial, then history sorted.
                    for g in &made {
                        if latest.as_ref().is_none_or(|(t, _)| g.eff >= *t) {
                            latest = Some((g.eff, g.new.clone()));
                        }
                    }
                    let (last_t, last_v) = latest.unwrap_or((c, Value::Null));
                    if !last_v.same_as(&v) {
                        if !run.is_empty() {
                            let (fi, line) = self.origin[o];
                            let r = QuarantineRecord {
                                file: self
                                    .origin_files
                                    .get(fi as usize)
                                    .cloned()
                                    .unwrap_or_default(),
                                row: line,
                                column: field.name().into_owned(),
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
                        let t = self.current_at[o]
                            .filter(|&t| t >= last_t)
                            .unwrap_or(as_of.max(last_t));
                        made.push(Gen {
                            eff: t,
                            rec: as_of.max(t),
                            class: 2,
                            order: 0,
                            source: src_snapshot,
                            old: last_v,
                            new: v,
                        });
                    }
                }
                for g in made.drain(..) {
                    fe.opp.push(o as u32);
                    fe.effective_at.push(g.eff);
                    fe.recorded_at.push(g.rec);
                    fe.source.push(u32::from(g.source));
                    fe.rank
                        .push(rank(g.rec, id_rank[o], g.class, g.order, field_ord));
                    old_b.push(&g.old);
                    new_b.push(&g.new);
                }
            }
            drop(hist);
            drop(cur);
            fe.old = old_b.finish();
            fe.new = new_b.finish();
            if !fe.opp.is_empty() {
                out.push(fe);
            }
        }
        let columns = EventColumns {
            ids: std::mem::take(&mut self.ids),
            sources: self.sources.iter().map(|s| s.to_string()).collect(),
            fields: out,
        };

        let tables_out = self.tables(store)?;
        Ok(Commit {
            new_opportunities: news,
            events: Vec::new(),
            columns: Some(columns),
            tables: tables_out,
            ingest: None,
        })
    }

    /// The entity tables the commit replaces: each drafted table upserted into
    /// the ledger's (only those that change), the exchange rates and fiscal
    /// calendar when the export had them, and the mapping's reference tables.
    fn tables(&self, store: &Store) -> Result<TableSet, crate::IngestError> {
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
        if let Some(r) = &self.rates {
            tables_out.push((
                "currency_rates".into(),
                schema::currency_rates(),
                vec![tables::rates_batch(r)?],
            ));
        }
        if let Some(c) = &self.fiscal {
            tables_out.push((
                "fiscal_periods".into(),
                schema::fiscal_periods(),
                vec![tables::fiscal_batch(c)?],
            ));
        }
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
        Ok(tables_out)
    }
}

/// Landing order: (recorded time, opportunity id, class, input order), with
/// the field's place breaking ties between an opportunity's initial values
/// (or its snapshot changes) recorded at the same time. Every key is distinct.
fn rank(rec: Timestamp, id_rank: u32, class: u8, order: u64, field_ord: usize) -> u128 {
    let rec = (rec as u64) ^ (1 << 63); // order-preserving: i64 → u64
    let within: u32 = match class {
        0 => field_ord.min(255) as u32,
        1 => 256 + order.min(u64::from(u32::MAX - 512)) as u32,
        _ => u32::MAX - 255 + field_ord.min(255) as u32,
    };
    (u128::from(rec) << 64) | (u128::from(id_rank) << 32) | u128::from(within)
}
