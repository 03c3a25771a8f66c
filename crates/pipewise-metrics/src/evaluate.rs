//! Evaluating metrics on the engine: one metric, or many sharing scans.

use crate::compile::{Compiled, Mode, compile_group};
use crate::{Library, Metric, MetricError, MetricQuery, compile, velocity};
use pipewise_engine::{CellValue, Engine, EngineError};
use pipewise_model::Timestamp;
use std::collections::BTreeMap;

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// (dimension, value) in the order asked for.
    pub dims: Vec<(String, Option<String>)>,
    /// numerator ÷ denominator (or the numerator of a total); none when
    /// dividing by zero.
    pub value: Option<f64>,
    /// The sum of the numerator's terms over the counted rows.
    pub numerator: f64,
    /// The sum of the denominator's terms (0 for a total).
    pub denominator: f64,
    /// Rows left out on purpose (for metrics that define `excluded`).
    pub excluded: Option<i64>,
    /// `green`, `amber` or `red` by the metric's thresholds.
    pub status: Option<&'static str>,
}

impl MetricRow {
    /// A row of metric `m`: its value and status follow from the sums.
    pub fn new(
        m: &Metric,
        dims: Vec<(String, Option<String>)>,
        numerator: f64,
        denominator: f64,
        excluded: Option<i64>,
    ) -> MetricRow {
        let value = m.value(numerator, denominator);
        MetricRow {
            dims,
            value,
            numerator,
            denominator,
            excluded,
            status: value.and_then(|v| m.status(v)),
        }
    }
}

/// Evaluate a metric.
pub fn evaluate(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    let sql = compile(m, q)?;
    let mut out = run_group(engine, &[m], q, &sql)?;
    Ok(out.pop().unwrap_or_default())
}

/// A metric's rows, or why it could not be evaluated.
pub(crate) type Evaluated = Result<Vec<MetricRow>, MetricError>;

/// Evaluate many metrics with the same selectors, sharing work: metrics that
/// count the same rows (and use quota or not) are computed in one query, one
/// scan. Returns each metric's rows, or the error evaluating it alone would
/// give (a dimension its rows do not have, a workspace metric whose SQL the
/// engine rejects), in the order given.
pub fn evaluate_many(engine: &Engine, ms: &[&Metric], q: &MetricQuery) -> Vec<Evaluated> {
    let mut out: Vec<Option<Evaluated>> = (0..ms.len()).map(|_| None).collect();
    // (source, quota, which metric when it counts owners: such metrics go alone)
    let mut groups: BTreeMap<(&'static str, bool, Option<usize>), Vec<usize>> = BTreeMap::new();
    for (i, m) in ms.iter().enumerate() {
        match compile(m, q) {
            Ok(_) => groups
                .entry((
                    m.sql.from.as_str(),
                    m.sql.quota.is_some(),
                    m.sql.share_at_or_above.map(|_| i),
                ))
                .or_default()
                .push(i),
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    for ((source, quota, _), idx) in &groups {
        // Activities and leads are optional: with none there is nothing to
        // scan (and no stage history to join), and the answer is known.
        if !quota && *source != "deals" {
            match source_is_empty(engine, source) {
                Ok(false) => {}
                Ok(true) => {
                    for &i in idx {
                        out[i] = Some(Ok(nothing_to_count(ms[i], &q.by)));
                    }
                    continue;
                }
                Err(e) => {
                    for &i in idx {
                        out[i] = Some(Err(e.clone()));
                    }
                    continue;
                }
            }
        }
        let run = |idx: &[usize]| {
            let group: Vec<&Metric> = idx.iter().map(|&i| ms[i]).collect();
            compile_group(&group, q, Mode::Aggregate)
                .and_then(Compiled::sql)
                .and_then(|sql| run_group(engine, &group, q, &sql))
        };
        let (rejected, idx) = match run(idx) {
            Ok(rows) => {
                for (&i, r) in idx.iter().zip(rows) {
                    out[i] = Some(Ok(r));
                }
                continue;
            }
            Err(e) => isolate(engine, ms, idx, q, e),
        };
        for (i, e) in rejected {
            out[i] = Some(Err(e));
        }
        match idx.map(|(idx, first)| (run(&idx), idx, first)) {
            None => {}
            Some((Ok(rows), idx, _)) => {
                for (&i, r) in idx.iter().zip(rows) {
                    out[i] = Some(Ok(r));
                }
            }
            Some((Err(_), idx, first)) => {
                for &i in &idx {
                    out[i] = Some(Err(first.clone()));
                }
            }
        }
    }
    out.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(MetricError::Internal("a metric was not evaluated".into())))
        })
        .collect()
}

/// After a group of metrics (indexes `idx` into `ms`) failed with `e`:
/// which of them the engine rejects alone, each with its own error, and the
/// others to run again together with the group's error for when that fails
/// too (none: nothing left to run, or nothing to gain).
#[allow(clippy::type_complexity)]
pub(crate) fn isolate(
    engine: &Engine,
    ms: &[&Metric],
    idx: &[usize],
    q: &MetricQuery,
    e: MetricError,
) -> (Vec<(usize, MetricError)>, Option<(Vec<usize>, MetricError)>) {
    if idx.len() < 2 || !matches!(e, MetricError::Engine { .. }) {
        return (idx.iter().map(|&i| (i, e.clone())).collect(), None);
    }
    let mut rejected = Vec::new();
    let mut rest = Vec::new();
    for &i in idx {
        match rejected_alone(engine, ms[i], q) {
            Some(err) => rejected.push((i, err)),
            None => rest.push(i),
        }
    }
    if rejected.is_empty() {
        // every metric plans alone: the failure is the group's
        return (rest.into_iter().map(|i| (i, e.clone())).collect(), None);
    }
    (rejected, (!rest.is_empty()).then_some((rest, e)))
}

/// The error the engine gives planning a metric's SQL alone, if any
/// (nothing is run).
fn rejected_alone(engine: &Engine, m: &Metric, q: &MetricQuery) -> Option<MetricError> {
    let sql = match compile(m, q) {
        Ok(sql) => sql,
        Err(e) => return Some(e),
    };
    engine
        .check(&sql)
        .err()
        .map(|e| engine_failure(&[m], "evaluating", e))
}

/// An engine error running what metrics `ms` compiled to. A workspace
/// metric's SQL the engine rejects as it plans (a column that does not
/// exist, a type mismatch) is a mistake in its definition, the user's to
/// fix; anything else is the engine's failure.
pub(crate) fn engine_failure(ms: &[&Metric], doing: &str, e: EngineError) -> MetricError {
    match ms {
        [m] if m.origin != "built-in" && e.is_planning() => MetricError::Definition {
            file: m.origin.clone(),
            message: format!(
                "metric {}: the engine rejects its SQL: {}",
                m.name,
                e.to_string().trim_end()
            ),
        },
        _ => {
            let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
            MetricError::engine(format!("{doing} {}", names.join(", ")), e)
        }
    }
}

/// A metric's rows over a source with no rows: one row of zeros overall,
/// no groups in a breakdown.
pub(crate) fn nothing_to_count(m: &Metric, by: &[String]) -> Vec<MetricRow> {
    if !by.is_empty() {
        return Vec::new();
    }
    vec![MetricRow::new(
        m,
        Vec::new(),
        0.0,
        0.0,
        m.sql.excluded.as_ref().map(|_| 0),
    )]
}

/// Whether an optional source (leads, activities) has no rows. An engine
/// failure is an error, not "not empty".
pub(crate) fn source_is_empty(engine: &Engine, source: &str) -> Result<bool, MetricError> {
    let table = if source == "leads" {
        "leads"
    } else {
        "activities"
    };
    let doing = format!("counting {table}");
    let batches = engine
        .sql(&format!("SELECT count(*) FROM {table}"))
        .map_err(|e| MetricError::engine(&doing, e))?;
    let (_, rows) = pipewise_engine::rows(&batches).map_err(|e| MetricError::engine(&doing, e))?;
    match rows.first().and_then(|r| r.first()) {
        Some(CellValue::Int(n)) => Ok(*n == 0),
        other => Err(MetricError::Internal(format!(
            "{doing}: expected a count, got {other:?}"
        ))),
    }
}

/// Run the SQL of [`compile_group`] and split its rows per metric.
fn run_group(
    engine: &Engine,
    ms: &[&Metric],
    q: &MetricQuery,
    sql: &str,
) -> Result<Vec<Vec<MetricRow>>, MetricError> {
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    let batches = engine
        .sql(sql)
        .map_err(|e| engine_failure(ms, "evaluating", e))?;
    let (_, rows) = pipewise_engine::rows(&batches).map_err(|e| {
        MetricError::engine(format!("reading the result of {}", names.join(", ")), e)
    })?;
    let f = |v: &CellValue| match v {
        CellValue::Float(x) => *x,
        CellValue::Int(i) => *i as f64,
        _ => 0.0,
    };
    let n = q.by.len();
    let mut out: Vec<Vec<MetricRow>> = vec![Vec::with_capacity(rows.len()); ms.len()];
    for r in rows {
        let dims: Vec<(String, Option<String>)> =
            q.by.iter()
                .zip(&r[..n])
                .map(|(d, v)| (d.clone(), cell_text(v)))
                .collect();
        let has_quota =
            ms[0].sql.quota.is_some() && matches!(r.last(), Some(CellValue::Bool(true)));
        for (i, m) in ms.iter().enumerate() {
            let c = n + 4 * i;
            // A group is this metric's when one of its rows counts or is left
            // out there (or, for quota metrics, its reps have quota): what
            // the metric alone returns, even when computed with others.
            let rows_here = matches!(&r[c + 3], CellValue::Int(k) if *k > 0);
            if n > 0 && !rows_here && !has_quota {
                continue;
            }
            let numerator = f(&r[c]);
            let denominator = f(&r[c + 1]);
            let excluded = match &r[c + 2] {
                CellValue::Int(i) => Some(*i),
                _ => None,
            };
            out[i].push(MetricRow::new(
                m,
                dims.clone(),
                numerator,
                denominator,
                excluded,
            ));
        }
    }
    Ok(out)
}

/// A result cell as text (`None` for NULL).
pub(crate) fn cell_text(v: &CellValue) -> Option<String> {
    match v {
        CellValue::Null => None,
        CellValue::Text(s) => Some(s.clone()),
        CellValue::Int(i) => Some(i.to_string()),
        CellValue::Float(x) => Some(x.to_string()),
        CellValue::Bool(b) => Some(b.to_string()),
    }
}

/// The four sales-velocity factors for a period (whole company), from the
/// built-in metrics of the same names.
pub fn velocity_factors(
    engine: &Engine,
    lib: &Library,
    period: (i32, i32),
    as_of: Option<Timestamp>,
) -> Result<velocity::Factors, MetricError> {
    let q = MetricQuery {
        period: Some(period),
        as_of,
        ..Default::default()
    };
    let names = [
        "qualified_opportunities",
        "average_won_deal_size",
        "close_rate",
        "average_sales_cycle_days",
    ];
    let ms = names
        .iter()
        .map(|n| lib.get(n))
        .collect::<Result<Vec<_>, _>>()?;
    // One scan for the four factors.
    let mut v = [0.0; 4];
    for (slot, rows) in v.iter_mut().zip(evaluate_many(engine, &ms, &q)) {
        *slot = rows?.first().and_then(|r| r.value).unwrap_or(0.0);
    }
    Ok(velocity::Factors {
        qualified_opportunities: v[0],
        average_won_deal_size: v[1],
        close_rate: v[2],
        average_sales_cycle_days: v[3],
    })
}
