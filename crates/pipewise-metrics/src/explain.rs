//! The deals (activities, leads, quotas) behind a metric's number, each with
//! its contribution to the numerator and the denominator.

use crate::evaluate::{cell_text, engine_failure};
use crate::{Metric, MetricError, MetricQuery, compile_explain, evaluate};
use pipewise_engine::{CellValue, Engine};

/// The rows behind a metric with `share_at_or_above`: one per owner (id: the
/// owner), counted when the owner has a denominator, with 1 in the
/// numerator when the owner's ratio is at or above the threshold and 1 in
/// the denominator when counted — summing them per group gives the metric.
/// `amount` is the owner's own ratio.
fn explain_share(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
    threshold: f64,
) -> Result<Vec<ExplainRow>, MetricError> {
    let mut per_owner = m.clone();
    per_owner.sql.share_at_or_above = None;
    let mut by = q.by.clone();
    if !by.iter().any(|d| d == "owner") {
        by.push("owner".into());
    }
    let owner = by.iter().position(|d| d == "owner").unwrap_or(0);
    let rows = evaluate(engine, &per_owner, &MetricQuery { by, ..q.clone() })?;
    let doing = "reading the reps' names";
    let batches = engine
        .sql("SELECT id, name FROM users")
        .map_err(|e| MetricError::engine(doing, e))?;
    let (_, users) = pipewise_engine::rows(&batches).map_err(|e| MetricError::engine(doing, e))?;
    let names: std::collections::HashMap<String, String> = users
        .iter()
        .filter_map(|u| Some((cell_text(u.first()?)?, cell_text(u.get(1)?)?)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = r.dims.get(owner).and_then(|(_, v)| v.clone());
            let counted = r.denominator > 0.0;
            let reached = counted && r.numerator / r.denominator >= threshold;
            ExplainRow {
                name: id.as_ref().and_then(|id| names.get(id).cloned()),
                id: id.unwrap_or_default(),
                dims: r.dims[..q.by.len()].to_vec(),
                stage: None,
                amount: counted.then(|| r.numerator / r.denominator),
                role: if counted { "counted" } else { "excluded" }.into(),
                numerator: if reached { 1.0 } else { 0.0 },
                denominator: if counted { 1.0 } else { 0.0 },
            }
        })
        .collect())
}

/// One deal (activity, lead or quota) behind a metric's number.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRow {
    /// The opportunity, activity or lead id; `quota OWNER PERIOD` for a quota.
    pub id: String,
    /// (dimension, value) in the order asked for.
    pub dims: Vec<(String, Option<String>)>,
    /// The deal's (lead's company, activity type's, owner's) name.
    pub name: Option<String>,
    /// The stage (activity: the deal's stage then; lead: its status).
    pub stage: Option<String>,
    /// The amount (for an owner-counting metric: the owner's own ratio).
    pub amount: Option<f64>,
    /// `counted`, `excluded` or `quota`.
    pub role: String,
    /// What the row adds to the numerator.
    pub numerator: f64,
    /// What the row adds to the denominator.
    pub denominator: f64,
}

/// The deals behind a metric, with their contributions.
pub fn explain(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
) -> Result<Vec<ExplainRow>, MetricError> {
    if let Some(threshold) = m.sql.share_at_or_above {
        return explain_share(engine, m, q, threshold);
    }
    let sql = compile_explain(m, q)?;
    let batches = engine
        .sql(&sql)
        .map_err(|e| engine_failure(&[m], "explaining", e))?;
    let (_, rows) = pipewise_engine::rows(&batches)
        .map_err(|e| MetricError::engine(format!("reading the rows behind {}", m.name), e))?;
    let text = cell_text;
    let num = |v: &CellValue| match v {
        CellValue::Float(x) => Some(*x),
        CellValue::Int(i) => Some(*i as f64),
        _ => None,
    };
    let n = q.by.len();
    Ok(rows
        .into_iter()
        .map(|r| ExplainRow {
            id: text(&r[0]).unwrap_or_default(),
            dims: q
                .by
                .iter()
                .cloned()
                .zip(r[1..=n].iter().map(text))
                .collect(),
            name: text(&r[n + 1]),
            stage: text(&r[n + 2]),
            amount: num(&r[n + 3]),
            role: text(&r[n + 4]).unwrap_or_default(),
            numerator: num(&r[n + 5]).unwrap_or(0.0),
            denominator: num(&r[n + 6]).unwrap_or(0.0),
        })
        .collect())
}
