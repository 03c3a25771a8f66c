//! `pipewise metric NAME`: one metric, as of any time, by dimensions, over one or several periods.

use super::{LabelledPeriod, dims_key, period_label, query_error, request, value_cell};
use crate::args::{Format, MetricArgs};
use crate::output::{Cell, Table};
use crate::settings::user;
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::{MetricQuery, Unit};
use std::path::Path;

pub fn run(dir: &Path, a: &MetricArgs, format: Format) -> Result<()> {
    let (ws, m, q) = request(dir, a)?;
    if a.emit_sql {
        println!(
            "{}",
            pipewise_metrics::compile(&m, &q).map_err(query_error)?
        );
        return Ok(());
    }
    // The periods to compute: one, or one per grain period.
    let periods: Vec<LabelledPeriod> = match &a.every {
        None => vec![(None, q.period)],
        Some(g) => {
            let grain = pipewise_model::time::Grain::parse(g).ok_or_else(|| {
                user(format!(
                    "--every {g:?}: expected week, month, quarter or fiscal_year"
                ))
            })?;
            let Some((first, last)) = q.period else {
                return Err(user("--every needs --period or --from/--to to split"));
            };
            pipewise_model::time::split_period_in(
                first,
                last,
                grain,
                ws.process.fiscal_year_start_month(),
                &ws.calendar,
            )
            .into_iter()
            .map(|(label, s, e)| (Some(label), Some((s, e))))
            .collect()
        }
    };
    let shift = match a.compare.as_deref() {
        None => None,
        Some("previous") => Some(-1),
        Some("year") => Some(0),
        Some(other) => {
            return Err(user(format!(
                "--compare {other:?}: expected previous or year"
            )));
        }
    };
    if shift.is_some() && q.period.is_none() {
        return Err(user("--compare needs a period (--period or --from/--to)"));
    }
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = crate::commands::spinner("computing");
    let mut cols: Vec<&str> = Vec::new();
    if a.every.is_some() {
        cols.push("period");
    }
    cols.extend(a.by.iter().map(String::as_str));
    cols.extend(["value", "numerator", "denominator", "status"]);
    let with_excluded = m.sql.excluded.is_some();
    if with_excluded {
        cols.push("excluded");
    }
    if shift.is_some() {
        cols.extend(["compared_period", "compared_value", "change", "change_pct"]);
    }
    // A money metric's value and numerator (its denominator counts deals)
    // in another currency; statuses stay those of the corporate figures.
    let factor = ws.currency(a.currency.as_deref())?;
    let money = m.unit == Unit::Currency;
    let f = if money {
        factor.as_ref().map_or(1.0, |f| f.1)
    } else {
        1.0
    };
    if factor.is_some() {
        cols.push("currency");
    }
    let mut t = Table::new(cols);
    for (label, period) in periods {
        let pq = MetricQuery {
            period,
            ..q.clone()
        };
        let rows = pipewise_metrics::evaluate(&engine, &m, &pq).map_err(query_error)?;
        let compared = match (shift, period) {
            (Some(k), Some((s, e))) => {
                let before = if k == 0 {
                    pipewise_model::time::year_earlier(s, e)
                } else {
                    pipewise_model::time::shift_period(s, e, k)
                };
                let Some(before) = before else {
                    return Err(user("--compare: the earlier period is out of range"));
                };
                // As of the same distance before the period's as-of.
                let as_of = q
                    .as_of
                    .map(|t| t - i64::from(s - before.0) * pipewise_model::time::MICROS_PER_DAY);
                let cq = MetricQuery {
                    period: Some(before),
                    as_of,
                    ..q.clone()
                };
                let rows = pipewise_metrics::evaluate(&engine, &m, &cq).map_err(query_error)?;
                let map: std::collections::HashMap<Vec<Option<String>>, Option<f64>> =
                    rows.iter().map(|r| (dims_key(r), r.value)).collect();
                Some((period_label(&ws, before), map))
            }
            _ => None,
        };
        for r in rows {
            let mut row: Vec<Cell> = Vec::new();
            if let Some(l) = &label {
                row.push(Cell::Text(l.clone()));
            }
            let key = dims_key(&r);
            row.extend(r.dims.into_iter().map(|(_, v)| Cell::from(v)));
            row.push(value_cell(&m, r.value.map(|v| v * f)));
            row.push(if money {
                Cell::Money(r.numerator * f)
            } else {
                Cell::Float(r.numerator)
            });
            row.push(Cell::Float(r.denominator));
            row.push(Cell::from(r.status.map(str::to_string)));
            if with_excluded {
                row.push(r.excluded.map(Cell::Int).unwrap_or(Cell::Null));
            }
            if let Some((clabel, map)) = &compared {
                let before = map.get(&key).copied().flatten().map(|v| v * f);
                row.push(Cell::Text(clabel.clone()));
                row.push(value_cell(&m, before));
                let change = r.value.map(|v| v * f).zip(before).map(|(a, b)| a - b);
                row.push(value_cell(&m, change));
                row.push(match (change, before) {
                    (Some(c), Some(b)) if b != 0.0 => {
                        Cell::Float((c / b.abs() * 1e6).round() / 1e4)
                    }
                    _ => Cell::Null,
                });
            }
            if let Some((code, _)) = &factor {
                row.push(if money {
                    Cell::Text(code.clone())
                } else {
                    Cell::Null
                });
            }
            t.push(row);
        }
    }
    pb.finish_and_clear();
    crate::commands::print(&t, format)
}
