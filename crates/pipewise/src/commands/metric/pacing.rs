//! `pipewise pacing`: a metric period to date, next to the same days of earlier periods.

use super::{library, period_label, query_error, value_cell};
use crate::args::{Format, PacingArgs};
use crate::output::{Cell, Table};
use crate::settings::{self};
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::MetricQuery;
use std::path::Path;

/// Period-to-date pacing against the same point of earlier periods.
pub fn pacing(dir: &Path, a: &PacingArgs, format: Format) -> Result<()> {
    use pipewise_model::time::{date_end, date_of, format_date, shift_period};
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let m = lib.get(&a.name)?.clone();
    let (start, end) = ws.period(&a.period, "--period")?;
    let as_of_day = match &a.as_of {
        Some(s) => date_of(settings::instant(s, "--as-of")?),
        None => date_of(settings::now()),
    }
    .clamp(start, end);
    let day = as_of_day - start; // 0-based days into the period
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = crate::commands::spinner("computing");
    let mut cols: Vec<&str> = vec!["period", "through", "day"];
    cols.extend(a.by.iter().map(String::as_str));
    cols.extend(["value", "numerator", "denominator"]);
    let mut t = Table::new(cols);
    for i in 0..=a.previous as i32 {
        let Some((s, e)) = shift_period(start, end, -i) else {
            break;
        };
        let through = (s + day).min(e);
        let q = MetricQuery {
            by: a.by.clone(),
            period: Some((s, through)),
            as_of: Some(date_end(through)),
            under: a.under.clone(),
            ..Default::default()
        };
        for r in pipewise_metrics::evaluate(&engine, &m, &q).map_err(query_error)? {
            let mut row = vec![
                Cell::Text(period_label(&ws, (s, e))),
                Cell::Text(format_date(through)),
                Cell::Text(format!("{} of {}", through - s + 1, e - s + 1)),
            ];
            row.extend(r.dims.into_iter().map(|(_, v)| Cell::from(v)));
            row.push(value_cell(&m, r.value));
            row.push(Cell::Float(r.numerator));
            row.push(Cell::Float(r.denominator));
            t.push(row);
        }
    }
    pb.finish_and_clear();
    crate::commands::print(&t, format)
}
