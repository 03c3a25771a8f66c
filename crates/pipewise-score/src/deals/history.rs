//! What deal scores read from a workspace: the ledger's fields a deal's
//! features come from, its activities, and the owners and accounts they
//! belong to. Loaded once; every cut is then read from memory.
//!
//! The ledger is versioned by `recorded_at`, so a cut sees only what had
//! been recorded by then. Activities, users and accounts are not: an
//! activity counts from the time it occurred (it cannot be seen before it
//! happened, but one logged late is seen from its occurrence), and an
//! owner's hire date and an account's industry and size are today's values.
//! The model card says so.

use crate::tables::{strings, text};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, TimestampMicrosecondType};
use pipewise_ledger::{EventLog, LedgerError, Store};
use pipewise_model::{Date, Field, SalesProcess, Timestamp};
use std::collections::HashMap;

/// The ledger fields deal features read.
pub const FIELDS: [Field; 12] = [
    Field::Stage,
    Field::Pipeline,
    Field::Amount,
    Field::CloseDate,
    Field::ForecastCategory,
    Field::HasBusinessCase,
    Field::Segment,
    Field::Type,
    Field::Source,
    Field::OwnerId,
    Field::AccountId,
    Field::IsDeleted,
];

/// One activity on a deal.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    /// When it occurred.
    pub at: Timestamp,
    /// Outbound (the seller reached out), inbound (the buyer did), or unknown.
    pub outbound: Option<bool>,
    /// The contact, if any.
    pub contact: Option<String>,
}

/// Everything deal features are built from.
pub struct DealHistory {
    /// The ledger (the fields in [`FIELDS`]).
    pub log: EventLog,
    /// The sales process stages are read in.
    pub process: SalesProcess,
    /// Activities per deal key, by time.
    pub touches: Vec<Vec<Touch>>,
    /// Owner id → hire date.
    pub hired: HashMap<String, Date>,
    /// Account id → (industry, employees).
    pub accounts: HashMap<String, (Option<String>, Option<i64>)>,
    /// The ledger's custom fields (loaded; features unless the audit flags
    /// them).
    pub custom: Vec<Field>,
}

impl DealHistory {
    /// Load from a workspace's store, with the times events were recorded
    /// (what training and a `--known` cut need).
    pub fn load(store: &Store, process: SalesProcess) -> Result<DealHistory, LedgerError> {
        DealHistory::load_with(store, process, true)
    }

    /// Load from a workspace's store; without `recorded`, the ledger is read
    /// without recorded times (lighter), and only cuts of everything
    /// recorded (`Cut::at`) may be read from it.
    pub fn load_with(
        store: &Store,
        process: SalesProcess,
        recorded: bool,
    ) -> Result<DealHistory, LedgerError> {
        let started = std::time::Instant::now();
        let mut custom: Vec<Field> = store
            .manifest()?
            .segments
            .iter()
            .flat_map(|s| s.fields.keys())
            .filter_map(|f| Field::parse(f))
            .filter(|f| matches!(f, Field::Custom(_)))
            .collect();
        custom.sort();
        custom.dedup();
        let mut fields = FIELDS.to_vec();
        fields.extend(custom.iter().cloned());
        let manifest = store.manifest()?;
        let log = store.load_projected(
            &manifest,
            &pipewise_ledger::Projection {
                fields: Some(fields),
                old_values: false,
                recorded_at: recorded,
                ids: true,
                sources: false,
            },
        )?;
        tracing::debug!(elapsed = ?started.elapsed(), "deal history: ledger read");
        let mut touches: Vec<Vec<Touch>> = vec![Vec::new(); log.keys.len()];
        for b in store.read_table_columns(
            "activities",
            &["opportunity_id", "occurred_at", "direction", "contact_id"],
        )? {
            let at = b
                .column_by_name("occurred_at")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned());
            let Some(at) = at else { continue };
            let (opp, direction, contact) = (
                strings(&b, "opportunity_id"),
                strings(&b, "direction"),
                strings(&b, "contact_id"),
            );
            for i in 0..b.num_rows() {
                let Some(key) = text(opp, i).and_then(|id| log.keys.key(&id)) else {
                    continue;
                };
                if at.is_null(i) {
                    continue;
                }
                touches[key as usize].push(Touch {
                    at: at.value(i),
                    outbound: text(direction, i).and_then(|d| match d.as_str() {
                        "outbound" => Some(true),
                        "inbound" => Some(false),
                        _ => None,
                    }),
                    contact: text(contact, i),
                });
            }
        }
        for t in &mut touches {
            t.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.contact.cmp(&b.contact)));
        }
        tracing::debug!(elapsed = ?started.elapsed(), "deal history: activities read");
        let mut hired = HashMap::new();
        for b in store.read_table_columns("users", &["id", "hire_date"])? {
            let d = b
                .column_by_name("hire_date")
                .and_then(|c| c.as_primitive_opt::<Date32Type>().cloned());
            let ids = strings(&b, "id");
            for i in 0..b.num_rows() {
                if let (Some(id), Some(d)) = (text(ids, i), &d)
                    && !d.is_null(i)
                {
                    hired.insert(id, d.value(i));
                }
            }
        }
        let mut accounts = HashMap::new();
        for b in store.read_table_columns("accounts", &["id", "industry", "employees"])? {
            let e = b
                .column_by_name("employees")
                .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
            let (ids, industry) = (strings(&b, "id"), strings(&b, "industry"));
            for i in 0..b.num_rows() {
                if let Some(id) = text(ids, i) {
                    let employees = e.as_ref().and_then(|e| (!e.is_null(i)).then(|| e.value(i)));
                    accounts.insert(id, (text(industry, i), employees));
                }
            }
        }
        tracing::debug!(elapsed = ?started.elapsed(), "deal history: owners and accounts read");
        Ok(DealHistory {
            log,
            process,
            touches,
            hired,
            accounts,
            custom,
        })
    }

    /// The latest time anything was recorded: "now" for a ledger with no
    /// later events.
    pub fn last_recorded(&self) -> Timestamp {
        self.log
            .columns
            .values()
            .flat_map(|c| c.recorded_at.iter().copied())
            .max()
            .unwrap_or(0)
    }
}
