//! The metric commands, one file each: `metrics` (list), `metric` (run),
//! `scorecard`, `pacing`, `explain`, `velocity`, `funnel`. This module holds
//! what they share: the library, a request's workspace / definition / query,
//! and cell formatting.

mod explain;
mod funnel;
mod list;
mod pacing;
mod run;
mod scorecard;
mod velocity;

pub use explain::explain;
pub use funnel::funnel;
pub use list::list;
pub use pacing::pacing;
pub use run::run;
pub use scorecard::scorecard;
pub use velocity::velocity;

use crate::args::MetricArgs;
use crate::output::Cell;
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_metrics::{Dialect, Library, Metric, MetricError, MetricQuery, MetricRow, Unit};
use std::path::Path;

fn library(dir: &Path) -> Result<Library> {
    let lib = Library::load(dir)?;
    for w in &lib.warnings {
        eprintln!("warning: {w}");
    }
    Ok(lib)
}

/// A metric error at the binary edge: its cause chain kept; whether it is
/// the user's to fix (exit 2) is `MetricError::is_user_error`
/// (`settings::is_user_error` asks it).
fn query_error(e: MetricError) -> anyhow::Error {
    anyhow::Error::new(e)
}

/// A period's name: `2026-Q3`, `2026-07`, `2026` when it is one, else `first..last`.
fn period_label(ws: &settings::Workspace, (a, b): (i32, i32)) -> String {
    use pipewise_model::time::{Grain, format_date, grain_period_in};
    let fy = ws.process.fiscal_year_start_month();
    for g in [Grain::Month, Grain::Quarter, Grain::FiscalYear, Grain::Week] {
        if let Some((label, s, e)) = grain_period_in(a, g, fy, &ws.calendar)
            && (s, e) == (a, b)
        {
            return label;
        }
    }
    format!("{}..{}", format_date(a), format_date(b))
}

/// Resolve a metric request: the workspace, the definition and the query.
fn request(dir: &Path, a: &MetricArgs) -> Result<(settings::Workspace, Metric, MetricQuery)> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let m = lib.get(&a.name)?.clone();
    let period = match (&a.period, &a.from, &a.to) {
        (Some(p), _, _) => Some(ws.period(p, "--period")?),
        (None, Some(f), Some(t)) => {
            let day =
                |s: &str, what: &str| settings::instant(s, what).map(pipewise_model::time::date_of);
            Some((day(f, "--from")?, day(t, "--to")?))
        }
        _ => None,
    };
    let as_of = settings::opt_instant(a.as_of.as_deref(), "--as-of")?;
    let dialect = Dialect::parse(&a.dialect).ok_or_else(|| {
        user(format!(
            "--dialect {:?}: expected datafusion or postgres",
            a.dialect
        ))
    })?;
    let q = MetricQuery {
        by: a.by.clone(),
        period,
        as_of,
        known: a.known,
        under: a.under.clone(),
        dialect,
    };
    Ok((ws, m, q))
}

/// A period to compute (first and last day), named when it is one of several.
type LabelledPeriod = (Option<String>, Option<(i32, i32)>);

fn value_cell(m: &Metric, v: Option<f64>) -> Cell {
    match v {
        Some(v) if m.unit == Unit::Currency => Cell::Money(v),
        Some(v) => Cell::Float((v * 1e6).round() / 1e6),
        None => Cell::Null,
    }
}

/// A ratio or a number of days, to four decimals.
fn round4(x: Option<f64>) -> Cell {
    x.map(|v| Cell::Float((v * 1e4).round() / 1e4))
        .unwrap_or(Cell::Null)
}

fn dims_key(r: &MetricRow) -> Vec<Option<String>> {
    r.dims.iter().map(|(_, v)| v.clone()).collect()
}
