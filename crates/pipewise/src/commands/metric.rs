//! `pipewise metrics` and `pipewise metric NAME …`

use crate::args::{Format, MetricArgs};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::{Library, MetricError, MetricQuery};
use std::path::Path;

fn library(dir: &Path) -> Result<Library> {
    Library::load(dir).map_err(|e| match e {
        MetricError::Definition { .. } => user(e.to_string()),
        other => other.into(),
    })
}

pub fn list(dir: &Path, format: Format) -> Result<()> {
    let lib = library(dir)?;
    let mut t = Table::new(vec![
        "name", "unit", "polarity", "formula", "purpose", "origin",
    ]);
    for m in lib.metrics.values() {
        t.push(vec![
            Cell::Text(m.name.clone()),
            Cell::Text(format!("{:?}", m.unit).to_lowercase()),
            Cell::Text(
                if m.polarity == pipewise_metrics::Polarity::HigherIsBetter {
                    "higher_is_better"
                } else {
                    "lower_is_better"
                }
                .into(),
            ),
            Cell::Text(m.formula.clone()),
            Cell::Text(if format == Format::Table {
                m.purpose.chars().take(80).collect::<String>() + "…"
            } else {
                m.purpose.clone()
            }),
            Cell::Text(m.origin.clone()),
        ]);
    }
    super::print(&t, format)
}

pub fn run(dir: &Path, a: &MetricArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let m = lib.get(&a.name).map_err(|e| user(e.to_string()))?;
    let period = match (&a.period, &a.from, &a.to) {
        (Some(p), _, _) => Some(
            pipewise_model::time::parse_period(p, ws.process.fiscal_year_start_month())
                .ok_or_else(|| user(format!("--period {p:?}: expected 2026-Q3, FY2027-Q1, 2026-07, 2026 or 2026-07-01..2026-09-30")))?,
        ),
        (None, Some(f), Some(t)) => {
            let day = |s: &str, what: &str| settings::instant(s, what).map(pipewise_model::time::date_of);
            Some((day(f, "--from")?, day(t, "--to")?))
        }
        _ => None,
    };
    let as_of = a
        .as_of
        .as_deref()
        .map(|s| settings::instant(s, "--as-of"))
        .transpose()?;
    let q = MetricQuery {
        by: a.by.clone(),
        period,
        as_of,
        known: a.known,
    };
    if a.emit_sql {
        let sql = pipewise_metrics::compile(m, &q).map_err(|e| user(e.to_string()))?;
        println!("{sql}");
        return Ok(());
    }
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("computing");
    let rows = pipewise_metrics::evaluate(&engine, m, &q).map_err(|e| match e {
        MetricError::Query(s) => user(s),
        other => other.into(),
    })?;
    pb.finish_and_clear();
    let mut cols: Vec<&str> = a.by.iter().map(String::as_str).collect();
    cols.extend(["value", "numerator", "denominator", "status"]);
    let with_excluded = m.sql.excluded.is_some();
    if with_excluded {
        cols.push("excluded");
    }
    let mut t = Table::new(cols);
    let money = m.unit == pipewise_metrics::Unit::Currency;
    for r in rows {
        let mut row: Vec<Cell> = r.dims.into_iter().map(|(_, v)| Cell::from(v)).collect();
        row.push(match r.value {
            Some(v) if money => Cell::Money(v),
            Some(v) => Cell::Float((v * 1e6).round() / 1e6),
            None => Cell::Null,
        });
        row.push(if money {
            Cell::Money(r.numerator)
        } else {
            Cell::Float(r.numerator)
        });
        row.push(Cell::Float(r.denominator));
        row.push(Cell::from(r.status.map(str::to_string)));
        if with_excluded {
            row.push(r.excluded.map(Cell::Int).unwrap_or(Cell::Null));
        }
        t.push(row);
    }
    super::print(&t, format)
}
