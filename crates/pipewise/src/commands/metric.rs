//! `pipewise metrics`, `pipewise metric NAME …` and `pipewise explain NAME …`

use crate::args::{
    ExplainArgs, Format, FunnelArgs, MetricArgs, PacingArgs, ScorecardArgs, VelocityArgs,
};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::{
    Dialect, Library, Metric, MetricError, MetricQuery, MetricRow, Polarity, Unit,
};
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

pub fn list(dir: &Path, format: Format) -> Result<()> {
    let lib = library(dir)?;
    let mut t = Table::new(vec![
        "name", "unit", "polarity", "formula", "purpose", "origin",
    ]);
    for m in lib.metrics.values() {
        let purpose = if format == Format::Table {
            m.purpose.chars().take(80).collect::<String>() + "…"
        } else {
            m.purpose.clone()
        };
        let polarity = match m.polarity {
            Polarity::HigherIsBetter => "higher_is_better",
            Polarity::LowerIsBetter => "lower_is_better",
        };
        t.push(vec![
            Cell::Text(m.name.clone()),
            Cell::Text(format!("{:?}", m.unit).to_lowercase()),
            Cell::from(polarity),
            Cell::Text(m.formula.clone()),
            Cell::Text(purpose),
            Cell::Text(m.origin.clone()),
        ]);
    }
    super::print(&t, format)
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
    let m = lib.get(&a.name).map_err(|e| user(e.to_string()))?.clone();
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
    let pb = super::spinner("computing");
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
    super::print(&t, format)
}

/// Every metric, overall and per dimension.
pub fn scorecard(dir: &Path, a: &ScorecardArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let metrics: Vec<&Metric> = if a.metric.is_empty() {
        lib.metrics.values().collect()
    } else {
        a.metric
            .iter()
            .map(|n| lib.get(n).map_err(|e| user(e.to_string())))
            .collect::<Result<_>>()?
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
    let pb = super::spinner("computing");
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
    super::print(&t, format)?;
    tracing::debug!("scorecard printed");
    // The process ends next: freeing ~400k rows of cells one by one (and
    // shutting the engine's runtime down) would only delay it by ~40 ms.
    std::mem::forget(t);
    std::mem::forget(engine);
    Ok(())
}

/// Period-to-date pacing against the same point of earlier periods.
pub fn pacing(dir: &Path, a: &PacingArgs, format: Format) -> Result<()> {
    use pipewise_model::time::{date_end, date_of, format_date, shift_period};
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let m = lib.get(&a.name).map_err(|e| user(e.to_string()))?.clone();
    let (start, end) = ws.period(&a.period, "--period")?;
    let as_of_day = match &a.as_of {
        Some(s) => date_of(settings::instant(s, "--as-of")?),
        None => date_of(settings::now()),
    }
    .clamp(start, end);
    let day = as_of_day - start; // 0-based days into the period
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("computing");
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
    super::print(&t, format)
}

pub fn explain(dir: &Path, a: &ExplainArgs, format: Format) -> Result<()> {
    let (ws, m, q) = request(dir, &a.metric)?;
    if a.metric.emit_sql {
        println!(
            "{}",
            pipewise_metrics::compile_explain(&m, &q).map_err(query_error)?
        );
        return Ok(());
    }
    let factor = ws.currency(a.metric.currency.as_deref())?;
    let f = factor.as_ref().map_or(1.0, |f| f.1);
    let money = m.unit == Unit::Currency;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("explaining");
    let rows = pipewise_metrics::explain(&engine, &m, &q).map_err(query_error)?;
    pb.finish_and_clear();
    if a.events {
        if m.sql.share_at_or_above.is_some() {
            return Err(user(format!(
                "--events lists ledger events of deals; {} counts owners (explain it without --events)",
                m.name
            )));
        }
        if m.sql.from != pipewise_metrics::Source::Deals {
            return Err(user(format!(
                "--events lists ledger events of deals; {} counts {}",
                m.name,
                m.sql.from.as_str()
            )));
        }
        let role: std::collections::HashMap<&str, &str> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.role.as_str()))
            .collect();
        let log = ws.store.load(None, true)?;
        let (from, to) = match q.period {
            Some((s, e)) => (
                pipewise_model::time::date_start(s) - 1,
                pipewise_model::time::date_end(e),
            ),
            None => (i64::MIN, q.as_of.unwrap_or(i64::MAX)),
        };
        let mut t = Table::new(vec![
            "opportunity_id",
            "role",
            "effective_at",
            "field",
            "old_value",
            "new_value",
            "source",
        ]);
        for (_, e) in pipewise_ledger::asof::changes(&log, from, to) {
            let Some(r) = role.get(e.opportunity_id.as_str()) else {
                continue;
            };
            t.push(vec![
                Cell::Text(e.opportunity_id.clone()),
                Cell::from(*r),
                Cell::Text(pipewise_model::time::format_timestamp(e.effective_at)),
                Cell::Text(e.field.name().into_owned()),
                e.old_value.to_canonical_string().into(),
                e.new_value.to_canonical_string().into(),
                Cell::Text(e.source),
            ]);
        }
        return super::print(&t, format);
    }
    let share = m.sql.share_at_or_above.is_some();
    let mut cols: Vec<&str> = vec![if share {
        "owner_id"
    } else {
        m.sql.from.id_column()
    }];
    cols.extend(a.metric.by.iter().map(String::as_str));
    // A share metric's rows are owners: no stage, and each owner's own ratio
    // where a deal has its amount.
    if share {
        cols.extend(["name", "ratio"]);
    } else {
        cols.extend(["name", "stage", "amount"]);
    }
    cols.extend(["role", "numerator", "denominator"]);
    if factor.is_some() {
        cols.push("currency");
    }
    let mut t = Table::new(cols);
    for r in rows {
        let mut row = vec![Cell::Text(r.id)];
        row.extend(r.dims.into_iter().map(|(_, v)| Cell::from(v)));
        row.push(Cell::from(r.name));
        if share {
            row.push(r.amount.map(Cell::Float).unwrap_or(Cell::Null));
        } else {
            row.push(Cell::from(r.stage));
            row.push(r.amount.map(|x| Cell::Money(x * f)).unwrap_or(Cell::Null));
        }
        row.extend([
            Cell::Text(r.role),
            Cell::Float(if money { r.numerator * f } else { r.numerator }),
            Cell::Float(r.denominator),
        ]);
        row.extend(factor.iter().map(|(c, _)| Cell::Text(c.clone())));
        t.push(row);
    }
    super::print(&t, format)
}

pub fn velocity(dir: &Path, a: &VelocityArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let after_p = ws.period(&a.period, "--period")?;
    let before_p = a
        .compare
        .as_deref()
        .map(|p| ws.period(p, "--compare"))
        .transpose()?;
    let as_of = settings::opt_instant(a.as_of.as_deref(), "--as-of")?;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = super::spinner("computing");
    let after =
        pipewise_metrics::velocity_factors(&engine, &lib, after_p, as_of).map_err(query_error)?;
    let before = before_p
        .map(|p| pipewise_metrics::velocity_factors(&engine, &lib, p, as_of))
        .transpose()
        .map_err(query_error)?;
    pb.finish_and_clear();
    let value = |f: &pipewise_metrics::velocity::Factors, i: usize| match i {
        0 => f.qualified_opportunities,
        1 => f.average_won_deal_size,
        2 => f.close_rate,
        _ => f.average_sales_cycle_days,
    };
    let names = [
        "qualified_opportunities",
        "average_won_deal_size",
        "close_rate",
        "average_sales_cycle_days",
    ];
    let contributions = before
        .as_ref()
        .and_then(|b| pipewise_metrics::velocity::decompose(b, &after));
    let mut t = Table::new(vec!["factor", "before", "after", "contribution"]);
    for (i, n) in names.iter().enumerate() {
        t.push(vec![
            Cell::from(*n),
            before
                .as_ref()
                .map(|b| Cell::Float(value(b, i)))
                .unwrap_or(Cell::Null),
            Cell::Float(value(&after, i)),
            contributions
                .map(|c| Cell::Money(c[i].1))
                .unwrap_or(Cell::Null),
        ]);
    }
    let money = |x: Option<f64>| x.map(Cell::Money).unwrap_or(Cell::Null);
    let (vb, va) = (before.as_ref().and_then(|b| b.velocity()), after.velocity());
    t.push(vec![
        Cell::from("sales_velocity_per_day"),
        money(vb),
        money(va),
        match (vb, va, contributions) {
            (Some(b), Some(a), Some(_)) => Cell::Money(a - b),
            _ => Cell::Null,
        },
    ]);
    super::print(&t, format)?;
    if before.is_some() && contributions.is_none() && format == Format::Table {
        eprintln!("no decomposition: a factor is zero in one of the periods");
    }
    Ok(())
}

pub fn funnel(dir: &Path, a: &FunnelArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let (from, to) = match &a.period {
        None => (i64::MIN, i64::MAX),
        Some(p) => {
            let (s, e) = ws.period(p, "--period")?;
            (
                pipewise_model::time::date_start(s),
                pipewise_model::time::date_end(e),
            )
        }
    };
    let cut = match &a.as_of {
        Some(s) => pipewise_ledger::asof::Cut::at(settings::instant(s, "--as-of")?),
        None => pipewise_ledger::asof::Cut::at(i64::MAX),
    };
    // --pipeline: that process's stages only.
    let only = match &a.pipeline {
        None => None,
        Some(name) => Some(ws.process.pipelines()[ws.pipeline(name)?].name.clone()),
    };
    let keep = |p: &str| only.as_deref().is_none_or(|o| o == p);
    let pb = super::spinner("walking stage histories");
    let projection = pipewise_ledger::Projection {
        fields: Some(vec![
            pipewise_model::Field::Stage,
            pipewise_model::Field::Pipeline,
        ]),
        old_values: false,
        recorded_at: false,
        ids: false,
        sources: false,
    };
    let log = ws
        .store
        .load_projected(&ws.store.manifest()?, &projection)?;
    if a.aging {
        let rows = pipewise_metrics::funnel::aging(&log, &ws.process, cut);
        pb.finish_and_clear();
        let rows = rows.into_iter().filter(|r| keep(&r.pipeline));
        let share = |n: u64, of: u64| round4((of > 0).then(|| n as f64 / of as f64));
        let mut t = Table::new(vec![
            "pipeline",
            "stage",
            "open",
            "median_days",
            "p75_days",
            "over_1_5x_median",
            "share_over_1_5x_median",
            "over_p75",
            "share_over_p75",
        ]);
        for r in rows {
            t.push(vec![
                Cell::Text(r.pipeline),
                Cell::Text(r.stage),
                Cell::Int(r.open as i64),
                round4(r.median_days),
                round4(r.p75_days),
                Cell::Int(r.over_1_5x_median as i64),
                share(r.over_1_5x_median, r.open),
                Cell::Int(r.over_p75 as i64),
                share(r.over_p75, r.open),
            ]);
        }
        return super::print(&t, format);
    }
    let rows = pipewise_metrics::funnel::funnel(&log, &ws.process, from, to, cut);
    pb.finish_and_clear();
    let rows = rows.into_iter().filter(|r| keep(&r.pipeline));
    let mut t = Table::new(vec![
        "pipeline",
        "stage",
        "entered",
        "advanced",
        "conversion",
        "stays",
        "mean_days",
        "p25_days",
        "median_days",
        "p75_days",
    ]);
    for r in rows {
        t.push(vec![
            Cell::Text(r.pipeline),
            Cell::Text(r.stage),
            Cell::Int(r.entered as i64),
            Cell::Int(r.advanced as i64),
            round4(r.conversion),
            Cell::Int(r.stays as i64),
            round4(r.mean_days),
            round4(r.p25_days),
            round4(r.median_days),
            round4(r.p75_days),
        ]);
    }
    super::print(&t, format)
}
