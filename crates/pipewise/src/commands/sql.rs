//! `pipewise sql "QUERY"`

use crate::args::{Format, SqlArgs};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_engine::{CellValue, Engine, EngineError, rows};
use std::path::Path;

pub fn run(dir: &Path, a: &SqlArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("running");
    let batches = engine.sql(&a.query).map_err(|e| match e {
        // A query the engine rejects is the user's to fix.
        EngineError::DataFusion(d) => user(format!(
            "{d}\n\nhint: tables: users, accounts, opportunities, opportunity_events, activities, leads, \
             lead_events, quotas; table functions: pipeline_as_of('2026-09-30' [, known])"
        )),
        other => other.into(),
    })?;
    pb.finish_and_clear();
    let (columns, data) = rows(&batches)?;
    let mut t = Table::new(columns.iter().map(String::as_str).collect());
    for r in data {
        t.push(
            r.into_iter()
                .map(|v| match v {
                    CellValue::Null => Cell::Null,
                    CellValue::Int(i) => Cell::Int(i),
                    CellValue::Float(x) => Cell::Float(x),
                    CellValue::Bool(b) => Cell::Bool(b),
                    CellValue::Text(s) => Cell::Text(s),
                })
                .collect(),
        );
    }
    super::print(&t, format)
}
