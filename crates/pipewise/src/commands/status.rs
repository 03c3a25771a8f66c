//! `pipewise status`

use crate::args::Format;
use crate::output::{Cell, Table};
use crate::settings;
use anyhow::Result;
use pipewise_model::time::format_timestamp;
use std::path::Path;

pub fn table(dir: &Path) -> Result<Table> {
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let m = ws.store.manifest()?;
    let log = ws
        .store
        .load(Some(&[pipewise_model::Field::Stage]), false)?;
    let mut t = Table::new(vec!["item", "value"]);
    let mut add = |k: &str, v: Cell| t.push(vec![Cell::from(k), v]);
    add("workspace", Cell::Text(dir.display().to_string()));
    add("ledger_version", Cell::Int(m.version as i64));
    add("opportunities", Cell::Int(m.key_count as i64));
    add("opportunity_events", Cell::Int(m.event_count() as i64));
    for name in [
        "users",
        "accounts",
        "leads",
        "lead_events",
        "activities",
        "quotas",
    ] {
        add(
            name,
            Cell::Int(m.tables.get(name).map(|t| t.rows as i64).unwrap_or(0)),
        );
    }
    for (name, info) in &m.tables {
        if let Some(r) = name.strip_prefix("ref_") {
            t.push(vec![
                Cell::Text(format!("reference:{r}")),
                Cell::Int(info.rows as i64),
            ]);
        }
    }
    let mut add = |k: &str, v: Cell| t.push(vec![Cell::from(k), v]);
    if !log.keys.is_empty() {
        let first = log.keys.created_at.iter().min().copied().unwrap_or(0);
        let last_event = log
            .columns
            .values()
            .flat_map(|c| c.effective_at.iter())
            .max()
            .copied()
            .unwrap_or(first);
        add("first_created_at", Cell::Text(format_timestamp(first)));
        add(
            "last_stage_change_at",
            Cell::Text(format_timestamp(last_event)),
        );
    }
    add(
        "stages",
        Cell::Text(
            ws.process
                .stages()
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(" > "),
        ),
    );
    add("ingests", Cell::Int(m.ingests.len() as i64));
    if let Some(last) = m.ingests.last() {
        add(
            "last_ingest",
            Cell::Text(format!(
                "{} ({}, as of {})",
                last.id, last.kind, last.recorded_at
            )),
        );
        let read: u64 = last.files.iter().map(|f| f.rows_read).sum();
        let landed: u64 = last.files.iter().map(|f| f.rows_landed).sum();
        let quarantined: u64 = last.files.iter().map(|f| f.rows_quarantined).sum();
        if !last.files.is_empty() {
            add(
                "last_ingest_rows",
                Cell::Text(format!(
                    "read {read} = landed {landed} + quarantined {quarantined}"
                )),
            );
        }
        add(
            "last_ingest_events",
            Cell::Text(format!(
                "{} added, {} duplicates skipped",
                last.events_added, last.events_duplicate
            )),
        );
        if let Some(r) = &last.report {
            let path = dir.join(r);
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(checks) = v.get("checks").and_then(|c| c.as_object())
            {
                for (name, c) in checks {
                    let count = c.get("count").and_then(|x| x.as_i64()).unwrap_or(0);
                    t.push(vec![Cell::Text(format!("check:{name}")), Cell::Int(count)]);
                }
            }
            let mut add = |k: &str, v: Cell| t.push(vec![Cell::from(k), v]);
            add("last_ingest_report", Cell::Text(path.display().to_string()));
        }
    }
    Ok(t)
}

pub fn run(dir: &Path, format: Format) -> Result<()> {
    let t = table(dir)?;
    super::print(&t, format)
}
