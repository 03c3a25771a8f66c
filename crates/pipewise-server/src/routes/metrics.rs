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
    let metric = ws
        .metrics
        .get(&name)
        .map_err(|_| {
            ApiError::not_found(format!("no metric {name:?}; GET /api/metrics lists them"))
        })?
        .clone();
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let under = match (&scope, &p.user.owner_id) {
        (Scope::Everything, _) => None,
        (Scope::Owners(_), Some(o)) => Some(o.clone()),
        (Scope::Owners(_), None) => {
            let mut r = Json(Vec::<MetricValue>::new()).into_response();
            r.extensions_mut().insert(AuditScope(described));
            return Ok(r);
        }
    };
    let period = match &q.period {
        None => None,
        Some(s) => Some(
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
        ),
    };
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
    let query = MetricQuery {
        by: by.clone(),
        period,
        as_of,
        known: q.known.unwrap_or(false),
        under,
        dialect: pipewise_metrics::Dialect::DataFusion,
    };
    let rows = crate::compute(move || -> ApiResult<Vec<MetricValue>> {
        let engine = ws.engine().map_err(ApiError::internal)?;
        let rows = evaluate(engine, &metric, &query).map_err(|e| {
            if e.is_user_error() {
                ApiError::bad_request(e.to_string())
            } else {
                ApiError::internal(e)
            }
        })?;
        Ok(rows
            .into_iter()
            .map(|r| MetricValue {
                dims: r.dims.into_iter().collect(),
                value: r.value,
                numerator: r.numerator,
                denominator: r.denominator,
                status: r.status.map(str::to_string),
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the metric's computation was cancelled"))??;
    let mut r = Json(rows).into_response();
    r.extensions_mut().insert(AuditScope(described));
    Ok(r)
}
