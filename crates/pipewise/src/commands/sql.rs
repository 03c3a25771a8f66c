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
        // Reading the workspace failed, or the engine did: not the query's fault.
        EngineError::DataFusion(d) if engine_side(&d) => anyhow::Error::new(d),
        // A query the engine rejects, or that fails on the data, is the user's to fix.
        EngineError::DataFusion(d) => user(format!(
            "{d}\n\nhint: tables: users, accounts, opportunities, opportunity_events, activities, leads, \
             lead_events, quotas, opportunity_keys; table functions: pipeline_as_of('2026-09-30' [, known])"
        )),
        e @ EngineError::ReadOnly(_) => user(e.to_string()),
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

/// `pipewise export DIR --dialect postgres`
pub fn export(dir: &Path, a: &crate::args::ExportArgs, format: Format) -> Result<()> {
    if a.dialect != "postgres" && a.dialect != "postgresql" {
        return Err(user(format!(
            "--dialect {:?}: pipewise exports to postgres",
            a.dialect
        )));
    }
    let ws = settings::open(dir)?;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("exporting");
    let out = pipewise_engine::postgres::export(&engine, &ws.process, &a.dir)?;
    pb.finish_and_clear();
    let mut t = Table::new(vec!["table", "rows", "file"]);
    for (name, n) in out.tables {
        t.push(vec![
            Cell::Text(name.clone()),
            Cell::Int(n as i64),
            Cell::Text(format!("data/{name}.csv")),
        ]);
    }
    super::print(&t, format)?;
    if format == Format::Table {
        eprintln!(
            "load it: cd {} && PGTZ=UTC psql -v ON_ERROR_STOP=1 -f schema.sql -f load.sql",
            out.dir.display()
        );
    }
    Ok(())
}

/// Is a failure of a query the engine's or the workspace's (files, memory,
/// a fault), not the query's?
fn engine_side(e: &pipewise_engine::datafusion::error::DataFusionError) -> bool {
    use pipewise_engine::datafusion::error::DataFusionError as E;
    matches!(
        e.find_root(),
        E::IoError(_)
            | E::ParquetError(_)
            | E::ObjectStore(_)
            | E::ResourcesExhausted(_)
            | E::Internal(_)
            | E::External(_)
    )
}
