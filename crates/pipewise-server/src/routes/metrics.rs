//! Metrics as code, computed inside the caller's scope: a rep's win rate is
//! their own deals', a manager's their subtree's (the metric layer's
//! `under`, which reaches deals, leads, activities and quotas alike).

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope::Scope;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use axum::{Extension, Json};
use pipewise_metrics::{MetricQuery, evaluate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A metric of the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricInfo {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub purpose: String,
    /// Its formula, in words.
    pub formula: String,
    /// ratio, currency, count, days, …
    pub unit: String,
    /// What it counts: deals, leads, activities, …
    pub source: String,
}

/// The metric library.
#[utoipa::path(get, path = "/api/metrics", tag = "metrics",
    responses((status = 200, body = [MetricInfo]), (status = 401, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Vec<MetricInfo>>> {
    let ws = app.loaded().await?;
    Ok(Json(
        ws.metrics
            .metrics
            .values()
            .map(|m| MetricInfo {
                name: m.name.clone(),
                purpose: m.purpose.clone(),
                formula: m.formula.clone(),
                unit: format!("{:?}", m.unit).to_lowercase(),
                source: m.sql.from.as_str().to_string(),
            })
            .collect(),
    ))
}

/// Which numbers of a metric.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MetricParams {
    /// The period: 2026-Q1, FY2027, 2026-07, 2026, or 2026-07-01..2026-09-30.
    pub period: Option<String>,
    /// Evaluate as the world looked at this day's end (or instant).
    pub as_of: Option<String>,
    /// Only what had been recorded by `as_of`.
    pub known: Option<bool>,
    /// Break down by these dimensions (comma-separated: owner, team, segment, stage, …).
    pub by: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only this segment: the metric broken down by segment, that
    /// segment's numbers (exact: each segment's are computed apart).
    pub segment: Option<String>,
}

/// One number of a metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricValue {
    /// The dimensions' values of this row (empty: the total).
    pub dims: BTreeMap<String, Option<String>>,
    /// numerator ÷ denominator (or the total); `null` when dividing by zero.
    pub value: Option<f64>,
    /// The numerator.
    pub numerator: f64,
    /// The denominator (0 for a total).
    pub denominator: f64,
    /// green, amber or red by the metric's thresholds.
    pub status: Option<String>,
}

/// A metric's numbers in the caller's scope.
#[utoipa::path(get, path = "/api/metrics/{name}", tag = "metrics",
    params(("name" = String, Path, description = "The metric"), MetricParams),
    responses((status = 200, body = [MetricValue]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn value(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<MetricParams>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let metric = metric_named(&ws, &name)?;
    let (query, described) = metric_query(&ws, &p, &q)?;
    let Some(query) = query else {
        return Ok(audited(Vec::<MetricValue>::new(), described));
    };
    let seg = segment(&q).map(str::to_string);
    let rows = crate::compute(move || -> ApiResult<Vec<MetricValue>> {
        let engine = ws.engine().map_err(ApiError::internal)?;
        let rows = evaluate(engine, &metric, &query).map_err(metric_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((in_segment(r.dims.clone(), seg.as_deref())?, r)))
            .map(|(dims, r)| MetricValue {
                dims: dims.into_iter().collect(),
                value: r.value,
                numerator: r.numerator,
                denominator: r.denominator,
                status: r.status.map(str::to_string),
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the metric's computation was cancelled"))??;
    Ok(audited(rows, described))
}

/// A JSON answer with its scope for the audit log.
pub fn audited<T: Serialize>(body: T, scope: String) -> Response {
    let mut r = Json(body).into_response();
    r.extensions_mut().insert(AuditScope(scope));
    r
}

/// The period a query names (`None`: none named).
pub fn period(
    ws: &crate::workspace::Loaded,
    p: Option<&str>,
) -> ApiResult<Option<(pipewise_model::Date, pipewise_model::Date)>> {
    match p {
        None => Ok(None),
        Some(s) => Ok(Some(
            pipewise_model::time::parse_period_in(
                s,
                ws.process.fiscal_year_start_month(),
                &ws.calendar,
            )
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "period={s:?}: expected 2026-Q3, FY2027-Q1, FY2027, 2026-07, 2026 or 2026-07-01..2026-09-30"
                ))
            })?,
        )),
    }
}

/// The metric query of a request inside the caller's scope (`None`: the
/// caller's scope is empty), and the scope in words.
pub fn metric_query(
    ws: &crate::workspace::Loaded,
    p: &Principal,
    q: &MetricParams,
) -> ApiResult<(Option<MetricQuery>, String)> {
    let (scope, under) = super::request_scope(ws, p, q.under.as_deref())?;
    let described = scope.describe();
    if matches!(scope, Scope::Owners(_)) && under.is_none() {
        return Ok((None, described));
    }
    let period = period(ws, q.period.as_deref())?;
    let as_of = match &q.as_of {
        None => None,
        Some(s) => Some(crate::routes::deals::instant(Some(s), "as_of")?),
    };
    let by: Vec<String> =
        q.by.as_deref()
            .map(|b| {
                b.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
    let mut by = by;
    if segment(q).is_some() {
        if by.iter().any(|d| d == "segment") {
            return Err(ApiError::bad_request(
                "segment= and by=segment together: drop one",
            ));
        }
        by.insert(0, "segment".into());
    }
    for d in &by {
        if !pipewise_metrics::DIMENSIONS.contains(&d.as_str()) {
            return Err(ApiError::bad_request(format!(
                "by={d:?}: expected one of {}",
                pipewise_metrics::DIMENSIONS.join(", ")
            )));
        }
    }
    Ok((
        Some(MetricQuery {
            by,
            period,
            as_of,
            known: q.known.unwrap_or(false),
            under,
            dialect: pipewise_metrics::Dialect::DataFusion,
        }),
        described,
    ))
}

/// The library's metric `name` (404 naming where the list is).
fn metric_named(ws: &crate::workspace::Loaded, name: &str) -> ApiResult<pipewise_metrics::Metric> {
    ws.metrics.get(name).cloned().map_err(|_| {
        ApiError::not_found(format!("no metric {name:?}; GET /api/metrics lists them"))
    })
}

/// The segment a request narrows to.
fn segment(q: &MetricParams) -> Option<&str> {
    q.segment.as_deref().filter(|s| !s.is_empty())
}

/// A row's dimensions with the segment filter applied: `None` when the row
/// is another segment's; else its dimensions without the segment (which
/// [`metric_query`] put first).
fn in_segment(
    mut dims: Vec<(String, Option<String>)>,
    segment: Option<&str>,
) -> Option<Vec<(String, Option<String>)>> {
    let Some(want) = segment else {
        return Some(dims);
    };
    if dims.first().is_some_and(|d| d.1.as_deref() == Some(want)) {
        dims.remove(0);
        Some(dims)
    } else {
        None
    }
}

fn metric_error(e: pipewise_metrics::MetricError) -> ApiError {
    if e.is_user_error() {
        ApiError::bad_request(e.to_string())
    } else {
        ApiError::internal(e)
    }
}

/// One deal (activity, lead, quota) behind a metric's number.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainRow {
    /// The opportunity (activity, lead) id; `quota OWNER PERIOD` for a quota.
    pub id: String,
    /// The dimensions' values of its group.
    pub dims: BTreeMap<String, Option<String>>,
    /// The deal's name.
    pub name: Option<String>,
    /// Its stage (a lead: its status).
    pub stage: Option<String>,
    /// Its amount.
    pub amount: Option<f64>,
    /// counted, excluded or quota.
    pub role: String,
    /// What it adds to the numerator.
    pub numerator: f64,
    /// What it adds to the denominator.
    pub denominator: f64,
}

/// The deals behind a metric's numbers (explain), in the caller's scope.
#[utoipa::path(get, path = "/api/metrics/{name}/explain", tag = "metrics",
    params(("name" = String, Path, description = "The metric"), MetricParams),
    responses((status = 200, body = [ExplainRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn explain(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<MetricParams>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let metric = metric_named(&ws, &name)?;
    let (query, described) = metric_query(&ws, &p, &q)?;
    let Some(query) = query else {
        return Ok(audited(Vec::<ExplainRow>::new(), described));
    };
    let seg = segment(&q).map(str::to_string);
    let rows = crate::compute(move || -> ApiResult<Vec<ExplainRow>> {
        let engine = ws.engine().map_err(ApiError::internal)?;
        let rows = pipewise_metrics::explain(engine, &metric, &query).map_err(metric_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((in_segment(r.dims.clone(), seg.as_deref())?, r)))
            .map(|(dims, r)| ExplainRow {
                id: r.id,
                dims: dims.into_iter().collect(),
                name: r.name,
                stage: r.stage,
                amount: r.amount,
                role: r.role,
                numerator: r.numerator,
                denominator: r.denominator,
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("explaining was cancelled"))??;
    Ok(audited(rows, described))
}

/// Which metrics of a scorecard.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ScorecardParams {
    /// The period (see /api/metrics/{name}).
    pub period: Option<String>,
    /// Evaluate as of this day's end (or instant).
    pub as_of: Option<String>,
    /// Only what had been recorded by `as_of`.
    pub known: Option<bool>,
    /// Also break every metric down by this dimension (owner, team, segment, …).
    pub by: Option<String>,
    /// These metrics (comma-separated; default: every metric).
    pub metrics: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only this segment.
    pub segment: Option<String>,
}

/// One metric's number in a scorecard.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardRow {
    /// The metric.
    pub metric: String,
    /// The metric's unit.
    pub unit: String,
    /// The breakdown's dimension (`null`: the total).
    pub dimension: Option<String>,
    /// Its value in the breakdown (`null`: the total).
    pub group: Option<String>,
    /// numerator ÷ denominator (or the total).
    pub value: Option<f64>,
    /// The numerator.
    pub numerator: f64,
    /// The denominator.
    pub denominator: f64,
    /// green, amber or red by the metric's thresholds.
    pub status: Option<String>,
    /// Why the metric could not be computed here.
    pub error: Option<String>,
}

/// Many metrics at once, overall and by one dimension, in the caller's scope.
#[utoipa::path(get, path = "/api/scorecard", tag = "metrics", params(ScorecardParams),
    responses((status = 200, body = [ScorecardRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn scorecard(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ScorecardParams>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let names: Vec<String> = match &q.metrics {
        None => ws.metrics.metrics.keys().cloned().collect(),
        Some(m) => m
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    for n in &names {
        if ws.metrics.get(n).is_err() {
            return Err(ApiError::not_found(format!(
                "metrics: no metric {n:?}; GET /api/metrics lists them"
            )));
        }
    }
    let (query, described) = metric_query(
        &ws,
        &p,
        &MetricParams {
            period: q.period.clone(),
            as_of: q.as_of.clone(),
            known: q.known,
            by: q.by.clone(),
            under: q.under.clone(),
            segment: q.segment.clone(),
        },
    )?;
    let Some(mut query) = query else {
        return Ok(audited(Vec::<ScorecardRow>::new(), described));
    };
    // (with a segment, metric_query put it first in `by`: every breakdown
    // starts with it, and rows of other segments are left out)
    let seg = q.segment.clone().filter(|s| !s.is_empty());
    let by = std::mem::take(&mut query.by);
    let lead: Vec<String> = by
        .iter()
        .take(usize::from(seg.is_some()))
        .cloned()
        .collect();
    let mut breakdowns = vec![lead.clone()];
    if by.len() > lead.len() {
        breakdowns.push(by.clone());
    }
    let rows = crate::compute(move || -> ApiResult<Vec<ScorecardRow>> {
        let engine = ws.engine().map_err(ApiError::internal)?;
        let ms: Vec<&pipewise_metrics::Metric> = names
            .iter()
            .filter_map(|n| ws.metrics.get(n).ok())
            .collect();
        let all = pipewise_metrics::evaluate_breakdowns(engine, &ms, &query, &breakdowns);
        let mut out = Vec::new();
        for (b, per_metric) in breakdowns.iter().zip(all) {
            for (m, e) in ms.iter().zip(per_metric) {
                let unit = format!("{:?}", m.unit).to_lowercase();
                match e {
                    Err(e) if e.is_user_error() => out.push(ScorecardRow {
                        metric: m.name.clone(),
                        unit,
                        dimension: b.get(lead.len()).cloned(),
                        group: None,
                        value: None,
                        numerator: 0.0,
                        denominator: 0.0,
                        status: None,
                        error: Some(e.to_string()),
                    }),
                    Err(e) => return Err(ApiError::internal(e)),
                    Ok(rows) => out.extend(
                        rows.into_iter()
                            .filter_map(|r| {
                                let dims = in_segment(r.dims.clone(), seg.as_deref())?;
                                Some((dims, r))
                            })
                            .map(|(dims, r)| ScorecardRow {
                                metric: m.name.clone(),
                                unit: unit.clone(),
                                dimension: b.get(lead.len()).cloned(),
                                group: dims.first().and_then(|d| d.1.clone()),
                                value: r.value,
                                numerator: r.numerator,
                                denominator: r.denominator,
                                status: r.status.map(str::to_string),
                                error: None,
                            }),
                    ),
                }
            }
        }
        Ok(out)
    })
    .await
    .ok_or_else(|| ApiError::internal("the scorecard was cancelled"))??;
    Ok(audited(rows, described))
}

/// Which sales velocity.
#[derive(Debug, Deserialize, IntoParams)]
pub struct VelocityParams {
    /// The period (a fiscal quarter, month, year or range).
    pub period: String,
    /// The period to compare with (default, when `period` is a fiscal
    /// quarter: the one before it).
    pub compare: Option<String>,
    /// Evaluate as of this day's end (or instant).
    pub as_of: Option<String>,
    /// Only what had been recorded by `as_of`.
    pub known: Option<bool>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only this segment.
    pub segment: Option<String>,
}

/// One factor of sales velocity.
#[derive(Debug, Serialize, ToSchema)]
pub struct VelocityFactor {
    /// qualified_opportunities, average_won_deal_size, close_rate,
    /// average_sales_cycle_days, or sales_velocity_per_day.
    pub factor: String,
    /// In the compared period.
    pub before: Option<f64>,
    /// In the period.
    pub after: Option<f64>,
    /// Its share of the change in velocity per day (log decomposition);
    /// for sales_velocity_per_day, the change itself.
    pub contribution: Option<f64>,
}

/// Sales velocity and its four factors (seed 001), in the caller's scope,
/// against a period before: which factor moved it.
#[utoipa::path(get, path = "/api/velocity", tag = "metrics", params(VelocityParams),
    responses((status = 200, body = [VelocityFactor]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn velocity(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<VelocityParams>,
) -> ApiResult<Response> {
    use pipewise_metrics::velocity::{Factors, decompose};
    let ws = app.loaded().await?;
    let params = |period: &str| MetricParams {
        period: Some(period.to_string()),
        as_of: q.as_of.clone(),
        known: q.known,
        by: None,
        under: q.under.clone(),
        segment: q.segment.clone(),
    };
    let compare = match &q.compare {
        Some(c) => Some(c.clone()),
        None => crate::routes::fiscal_quarter(&ws, &q.period, "period")
            .ok()
            .map(|quarter| {
                quarter
                    .previous(ws.process.fiscal_year_start_month(), &ws.calendar)
                    .label
            }),
    };
    let (after_q, described) = metric_query(&ws, &p, &params(&q.period))?;
    let before_q = match &compare {
        Some(c) => metric_query(&ws, &p, &params(c))?.0,
        None => None,
    };
    let Some(after_q) = after_q else {
        return Ok(audited(Vec::<VelocityFactor>::new(), described));
    };
    let seg = q.segment.clone().filter(|s| !s.is_empty());
    let rows = crate::compute(move || -> ApiResult<Vec<VelocityFactor>> {
        let engine = ws.engine().map_err(ApiError::internal)?;
        let names = [
            "qualified_opportunities",
            "average_won_deal_size",
            "close_rate",
            "average_sales_cycle_days",
        ];
        let ms: Vec<&pipewise_metrics::Metric> = names
            .iter()
            .map(|n| ws.metrics.get(n))
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?;
        let factors = |query: &MetricQuery| -> ApiResult<Factors> {
            let mut v = [0.0; 4];
            for (slot, rows) in v
                .iter_mut()
                .zip(pipewise_metrics::evaluate_many(engine, &ms, query))
            {
                let rows = rows.map_err(metric_error)?;
                *slot = rows
                    .into_iter()
                    .find_map(|r| in_segment(r.dims, seg.as_deref()).map(|_| r.value))
                    .flatten()
                    .unwrap_or(0.0);
            }
            Ok(Factors {
                qualified_opportunities: v[0],
                average_won_deal_size: v[1],
                close_rate: v[2],
                average_sales_cycle_days: v[3],
            })
        };
        let after = factors(&after_q)?;
        let before = before_q.as_ref().map(&factors).transpose()?;
        let value = |f: &Factors, i: usize| match i {
            0 => f.qualified_opportunities,
            1 => f.average_won_deal_size,
            2 => f.close_rate,
            _ => f.average_sales_cycle_days,
        };
        let parts = before.as_ref().and_then(|b| decompose(b, &after));
        let mut out: Vec<VelocityFactor> = names
            .iter()
            .enumerate()
            .map(|(i, n)| VelocityFactor {
                factor: n.to_string(),
                before: before.as_ref().map(|b| value(b, i)),
                after: Some(value(&after, i)),
                contribution: parts.map(|c| c[i].1),
            })
            .collect();
        let (vb, va) = (
            before.as_ref().and_then(Factors::velocity),
            after.velocity(),
        );
        out.push(VelocityFactor {
            factor: "sales_velocity_per_day".into(),
            before: vb,
            after: va,
            contribution: vb.zip(va).map(|(b, a)| a - b),
        });
        Ok(out)
    })
    .await
    .ok_or_else(|| ApiError::internal("the velocity was cancelled"))??;
    Ok(audited(rows, described))
}
