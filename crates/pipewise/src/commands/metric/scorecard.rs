//! `pipewise scorecard`: every metric for a period, overall and by each `--by` in turn.

use super::{library, query_error, value_cell};
use crate::args::{Format, ScorecardArgs};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::{Dialect, Metric, MetricError, MetricQuery, Unit};
use std::path::Path;

/// Every metric, overall and per dimension.
pub fn scorecard(dir: &Path, a: &ScorecardArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let metrics: Vec<&Metric> = if a.metric.is_empty() {
        lib.metrics.values().collect()
    } else {
        a.metric
            .iter()
            .map(|n| lib.get(n))
            .collect::<Result<_, _>>()?
    };
    for d in &a.by {
        if !pipewise_metrics::DIMENSIONS.contains(&d.as_str()) {
            return Err(user(format!(
                "--by {d:?}: expected one of {}",
                pipewise_metrics::DIMENSIONS.join(", ")
            )));
        }
    }
    let period = a
        .period
        .as_deref()
        .map(|p| ws.period(p, "--period"))
        .transpose()?;
    let as_of = settings::opt_instant(a.as_of.as_deref(), "--as-of")?;
    let factor = ws.currency(a.currency.as_deref())?;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = crate::commands::spinner("computing");
    let mut cols = vec![
        "metric",
        "dimension",
        "group",
        "value",
        "numerator",
        "denominator",
        "status",
    ];
    if factor.is_some() {
        cols.push("currency");
    }
    let mut t = Table::new(cols);
    let code_cell = factor
        .as_ref()
        .map(|(c, _)| Cell::Shared(c.as_str().into()));
    let mut breakdowns: Vec<Option<&str>> = vec![None];
    breakdowns.extend(a.by.iter().map(|d| Some(d.as_str())));
    let q = MetricQuery {
        by: Vec::new(),
        period,
        as_of,
        known: a.known,
        under: a.under.clone(),
        dialect: Dialect::DataFusion,
    };
    // All metrics and breakdowns at once: metrics counting the same rows
    // are aggregated together (one statement per period window) by every
    // dimension at once, then rolled up.
    let by: Vec<Vec<String>> = breakdowns
        .iter()
        .map(|d| d.iter().map(|d| d.to_string()).collect())
        .collect();
    let sums = pipewise_metrics::sum_breakdowns(&engine, &metrics, &q, &by);
    // Done querying: the rows and the table below reuse the caches' memory.
    engine.release_caches();
    let all = sums.roll_up();
    tracing::debug!("scorecard evaluated");
    // Names repeat on every row of a metric: shared, not copied per row.
    let names: Vec<Cell> = metrics
        .iter()
        .map(|m| Cell::Shared(m.name.as_str().into()))
        .collect();
    let statuses: Vec<(&str, Cell)> = ["green", "amber", "red"]
        .into_iter()
        .map(|s| (s, Cell::Shared(s.into())))
        .collect();
    let status = |s: Option<&str>| {
        statuses
            .iter()
            .find(|(k, _)| Some(*k) == s)
            .map_or_else(|| Cell::from(s.map(str::to_string)), |(_, c)| c.clone())
    };
    for (dim, results) in breakdowns.iter().zip(all) {
        let dim_cell = dim.map_or(Cell::Null, |d| Cell::Shared(d.into()));
        for ((m, name), result) in metrics.iter().zip(&names).zip(results) {
            let rows = match result {
                Ok(rows) => rows,
                // A breakdown the metric's rows do not have (leads by stage, quota by product).
                Err(e @ MetricError::Dimension { .. }) if dim.is_some() => {
                    tracing::info!("skipped: {e}");
                    continue;
                }
                Err(e) => return Err(query_error(e)),
            };
            // A money metric in --currency: value and numerator converted.
            let f = match &factor {
                Some((_, f)) if m.unit == Unit::Currency => *f,
                _ => 1.0,
            };
            for r in rows {
                let mut row = vec![
                    name.clone(),
                    dim_cell.clone(),
                    Cell::from(r.dims.into_iter().next().and_then(|(_, v)| v)),
                    value_cell(m, r.value.map(|v| v * f)),
                    Cell::Float(r.numerator * f),
                    Cell::Float(r.denominator),
                    status(r.status),
                ];
                if let Some(c) = &code_cell {
                    row.push(if m.unit == Unit::Currency {
                        c.clone()
                    } else {
                        Cell::Null
                    });
                }
                t.push(row);
            }
        }
    }
    pb.finish_and_clear();
    tracing::debug!(rows = t.rows.len(), "scorecard table built");
    crate::commands::print(&t, format)?;
    tracing::debug!("scorecard printed");
    // The process ends next: freeing ~400k rows of cells one by one (and
    // shutting the engine's runtime down) would only delay it by ~40 ms.
    std::mem::forget(t);
    std::mem::forget(engine);
    Ok(())
}
