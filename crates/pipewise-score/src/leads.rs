//! Lead rows from a workspace (issue #12 §1, "leads the same way"): each
//! lead with its fields as they were when it arrived and whether it
//! converted (to an opportunity, or to a won one) within N days — the flat
//! file `leads train` learns from.
//!
//! A field with a history in `lead_events` is read as it stood at the
//! lead's creation (as recorded by `known`). A field without one can only be
//! read as it is now, which may be later than the arrival: those columns are
//! named in [`LeadRows::current_only`] so the caller can say so. The status
//! is never a feature (it is set as the lead is worked), nor are the
//! conversion fields (they are the label).

use crate::tables::{stamp, stamps, strings, text};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use pipewise_ledger::asof::{StageCodes, in_force};
use pipewise_ledger::{Cut, LedgerError, Store};
use pipewise_model::time::MICROS_PER_DAY;
use pipewise_model::{Field, SalesProcess, StageOutcome, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a lead's label counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadOutcome {
    /// It became an opportunity.
    Converted,
    /// It became an opportunity that was won.
    Won,
}

/// The rows: a header and, per lead, its cells (the label last; empty when
/// the window had not passed by `known`).
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRows {
    /// Column names.
    pub header: Vec<String>,
    /// One row per lead, in id order.
    pub rows: Vec<Vec<String>>,
    /// Columns read as they are now (no history to read them at arrival).
    pub current_only: Vec<String>,
}

/// The fields read from the leads table, in column order.
const FIELDS: [&str; 6] = [
    "source",
    "title",
    "industry",
    "employees",
    "country",
    "owner_id",
];

/// One lead event: (effective, recorded, old, new).
type History = Vec<(Timestamp, Timestamp, Option<String>, Option<String>)>;

/// Build the rows of every lead in `store`, labelled by `outcome` within
/// `within_days`, as recorded by `known` (`None`: everything).
pub fn lead_rows(
    store: &Store,
    process: &SalesProcess,
    outcome: LeadOutcome,
    within_days: i64,
    known: Option<Timestamp>,
) -> Result<LeadRows, LedgerError> {
    // lead → field → its events
    let mut history: HashMap<String, HashMap<String, History>> = HashMap::new();
    // the latest record, for the windows still open when nothing else says "now"
    let mut last: Timestamp = 0;
    for b in store.read_table("lead_events")? {
        let (lead, field, old, new) = (
            strings(&b, "lead_id"),
            strings(&b, "field"),
            strings(&b, "old_value"),
            strings(&b, "new_value"),
        );
        let (eff, rec) = (stamps(&b, "effective_at"), stamps(&b, "recorded_at"));
        for i in 0..b.num_rows() {
            let (Some(l), Some(f), Some(e), Some(r)) =
                (text(lead, i), text(field, i), stamp(eff, i), stamp(rec, i))
            else {
                continue;
            };
            last = last.max(r);
            history.entry(l).or_default().entry(f).or_default().push((
                e,
                r,
                text(old, i),
                text(new, i),
            ));
        }
    }
    for fields in history.values_mut() {
        for h in fields.values_mut() {
            h.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        }
    }
    let log = match outcome {
        LeadOutcome::Won => Some(store.load(Some(&[Field::Stage, Field::Pipeline]), false)?),
        LeadOutcome::Converted => None,
    };
    let codes = log.as_ref().map(|l| StageCodes::new(l, process));
    let known_at = known.unwrap_or(Timestamp::MAX);
    let lead_batches = store.read_table("leads")?;
    for b in &lead_batches {
        if let Some(c) = stamps(b, "created_at") {
            last = last.max(c.iter().flatten().max().unwrap_or(0));
        }
    }
    // a window is complete when it ended by `known` (or by the last record)
    let now = known.unwrap_or(last);
    let window = within_days * MICROS_PER_DAY;
    let mut attributes: BTreeSet<String> = BTreeSet::new();
    let mut leads: BTreeMap<String, (BTreeMap<String, String>, String)> = BTreeMap::new();
    let mut current_only: BTreeSet<String> = BTreeSet::new();
    for b in &lead_batches {
        let ids = strings(b, "id");
        let created = stamps(b, "created_at");
        let converted = stamps(b, "converted_at");
        let opp = strings(b, "converted_opportunity_id");
        let attrs = strings(b, "attributes");
        let employees = b
            .column_by_name("employees")
            .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
        let cols: Vec<Option<&arrow_array::StringArray>> =
            FIELDS.iter().map(|f| strings(b, f)).collect();
        for i in 0..b.num_rows() {
            let (Some(id), Some(at)) = (text(ids, i), stamp(created, i)) else {
                continue;
            };
            if at > known_at {
                continue;
            }
            let mut cells = BTreeMap::new();
            let h = history.get(&id);
            for (j, f) in FIELDS.iter().enumerate() {
                let now = if *f == "employees" {
                    employees
                        .as_ref()
                        .and_then(|e| (!e.is_null(i)).then(|| e.value(i).to_string()))
                } else {
                    text(cols[j], i)
                };
                let value = match h.and_then(|h| h.get(*f)) {
                    Some(events) => value_at(events, at, known_at),
                    None => {
                        current_only.insert((*f).to_string());
                        now
                    }
                };
                cells.insert((*f).to_string(), value.unwrap_or_default());
            }
            if let Some(a) = text(attrs, i)
                && let Ok(serde_json::Value::Object(m)) =
                    serde_json::from_str::<serde_json::Value>(&a)
            {
                for (k, v) in m {
                    let name = format!("attr.{k}");
                    current_only.insert(name.clone());
                    attributes.insert(name.clone());
                    cells.insert(
                        name,
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    );
                }
            }
            let deadline = at + window;
            let hit = stamp(converted, i).is_some_and(|c| c <= deadline && c <= known_at)
                && match (outcome, &log, &codes) {
                    (LeadOutcome::Converted, _, _) => true,
                    (LeadOutcome::Won, Some(log), Some(codes)) => text(opp, i)
                        .and_then(|o| log.keys.key(&o))
                        .and_then(|k| {
                            let c = log.column(&Field::Stage)?;
                            let cut = Cut {
                                effective: deadline,
                                recorded: known,
                            };
                            in_force(c, k, cut).and_then(|e| codes.get(e))
                        })
                        .is_some_and(|s| process.outcome(s) == StageOutcome::Won),
                    _ => false,
                };
            let label = if hit {
                "1"
            } else if deadline <= now {
                "0"
            } else {
                "" // the window has not passed: no outcome yet
            };
            cells.insert("created".into(), pipewise_model::time::format_timestamp(at));
            leads.insert(id, (cells, label.to_string()));
        }
    }
    let target = format!(
        "{}_within_{within_days}_days",
        match outcome {
            LeadOutcome::Converted => "converted",
            LeadOutcome::Won => "won",
        }
    );
    let mut header = vec!["id".to_string(), "created".to_string()];
    header.extend(FIELDS.iter().map(|f| (*f).to_string()));
    header.extend(attributes.iter().cloned());
    header.push(target);
    let rows = leads
        .into_iter()
        .map(|(id, (cells, label))| {
            let mut r = vec![id];
            for h in &header[1..header.len() - 1] {
                r.push(cells.get(h).cloned().unwrap_or_default());
            }
            r.push(label);
            r
        })
        .collect();
    Ok(LeadRows {
        header,
        rows,
        current_only: current_only.into_iter().collect(),
    })
}

/// A field's value at `t` from its events: the last one in force by `t`
/// (and recorded by `known`), else the first event's old value.
fn value_at(events: &History, t: Timestamp, known: Timestamp) -> Option<String> {
    let seen: Vec<_> = events.iter().filter(|e| e.1 <= known).collect();
    match seen.iter().rev().find(|e| e.0 <= t) {
        Some(e) => e.3.clone(),
        None => seen.first().and_then(|e| e.2.clone()),
    }
}
