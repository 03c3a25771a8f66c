//! The deals in the caller's scope as of a day.

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_ledger::Cut;
use pipewise_model::time::{format_date, format_timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which deals.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DealsQuery {
    /// The day (its end) or instant to read the ledger at (default: now).
    pub as_of: Option<String>,
    /// Only deals open then.
    pub open: Option<bool>,
    /// Read the ledger as recorded by then (what anyone could see that day),
    /// not as known today.
    pub known: Option<bool>,
    /// At most this many rows (by opportunity id).
    pub limit: Option<usize>,
    /// Skip this many first.
    pub offset: Option<usize>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only deals of this segment (as they stood at the day).
    pub segment: Option<String>,
    /// Only deals with no value of this field at the day (a column of the
    /// `opportunities` table: close_date, amount, next_step, …): the deals
    /// behind the data quality page's completeness.
    pub missing: Option<String>,
}

/// A deal as it stood.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DealRow {
    /// The CRM's opportunity id.
    pub opportunity_id: String,
    /// Its name.
    pub name: Option<String>,
    /// The account.
    pub account_id: Option<String>,
    /// The CRM user who owns it.
    pub owner_id: Option<String>,
    /// Segment.
    pub segment: Option<String>,
    /// Stage.
    pub stage: Option<String>,
    /// Forecast category.
    pub forecast_category: Option<String>,
    /// Amount (corporate currency).
    pub amount: Option<f64>,
    /// Close date.
    pub close_date: Option<String>,
    /// Created.
    pub created_at: String,
    /// Closed.
    pub is_closed: bool,
    /// Won.
    pub is_won: bool,
}

/// An instant from a query parameter: a date means its end.
pub fn instant(s: Option<&str>, what: &str) -> ApiResult<i64> {
    match s {
        None => Ok(crate::auth::now()),
        Some(s) => pipewise_model::time::parse_iso_instant(s, true).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{what}={s:?} is not a date or time: use 2026-09-30 or 2026-09-30T17:00:00Z"
            ))
        }),
    }
}

/// The deals at `rows` of `b` (closed ones left out when `open_only`).
pub fn rows(b: &RecordBatch, rows: &[u32], open_only: bool) -> Vec<DealRow> {
    let text = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>());
    let (id, name, account, owner, segment, stage, category) = (
        text("id"),
        text("name"),
        text("account_id"),
        text("owner_id"),
        text("segment"),
        text("stage"),
        text("forecast_category"),
    );
    let amount = b
        .column_by_name("amount")
        .map(|c| c.as_primitive::<Float64Type>());
    let close = b
        .column_by_name("close_date")
        .map(|c| c.as_primitive::<Date32Type>());
    let created = b
        .column_by_name("created_at")
        .map(|c| c.as_primitive::<TimestampMicrosecondType>());
    let flag = |name: &str| b.column_by_name(name).map(|c| c.as_boolean());
    let (closed, won) = (flag("is_closed"), flag("is_won"));
    let get = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string())
    };
    let mut out = Vec::new();
    for &i in rows {
        let i = i as usize;
        let o = owner.filter(|a| a.is_valid(i)).map(|a| a.value(i));
        let is_closed = closed.is_some_and(|c| c.value(i));
        if open_only && is_closed {
            continue;
        }
        out.push(DealRow {
            opportunity_id: get(id, i).unwrap_or_default(),
            name: get(name, i),
            account_id: get(account, i),
            owner_id: o.map(str::to_string),
            segment: get(segment, i),
            stage: get(stage, i),
            forecast_category: get(category, i),
            amount: amount.filter(|a| a.is_valid(i)).map(|a| a.value(i)),
            close_date: close
                .filter(|a| a.is_valid(i))
                .map(|a| format_date(a.value(i))),
            created_at: created.map_or(String::new(), |a| format_timestamp(a.value(i))),
            is_closed,
            is_won: won.is_some_and(|c| c.value(i)),
        });
    }
    out.sort_by(|a, b| a.opportunity_id.cmp(&b.opportunity_id));
    out
}

/// The cut a query asks for: the end of `as_of` (default now), as known
/// then when `known`.
pub fn cut(as_of: Option<&str>, known: Option<bool>) -> ApiResult<Cut> {
    let at = instant(as_of, "as_of")?;
    Ok(if known.unwrap_or(false) {
        Cut::known_at(at)
    } else {
        Cut::at(at)
    })
}

/// The deals in the caller's scope as they stood at `as_of`.
#[utoipa::path(get, path = "/api/deals", tag = "deals", params(DealsQuery),
    responses(
        (status = 200, description = "The deals in scope, by opportunity id", body = [DealRow]),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn deals(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<DealsQuery>,
) -> ApiResult<Response> {
    let cut = cut(q.as_of.as_deref(), q.known)?;
    let ws = app.loaded().await?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let open = q.open.unwrap_or(false);
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(usize::MAX));
    let segment = q.segment.clone();
    let missing = q.missing.clone();
    let out = crate::compute(move || -> ApiResult<Vec<DealRow>> {
        let s = ws
            .scoped(cut, &scope, segment.as_deref())
            .map_err(ApiError::internal)?;
        let picked: Vec<u32> = match missing.as_deref().filter(|m| !m.is_empty()) {
            None => s.rows.clone(),
            Some(field) => {
                use arrow_array::Array;
                let col = s.batch.column_by_name(field).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "missing={field:?}: not a column of the deals (the data quality page lists them)"
                    ))
                })?;
                s.rows
                    .iter()
                    .copied()
                    .filter(|&i| col.is_null(i as usize))
                    .collect()
            }
        };
        // (rows are in key order; the page is by opportunity id)
        let mut r = rows(&s.batch, &picked, open);
        Ok(r.drain(..).skip(offset).take(limit).collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the deals computation was cancelled"))??;
    let mut r = Json(out).into_response();
    r.extensions_mut().insert(AuditScope(described));
    Ok(r)
}

/// Which history.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// The deal must be in the caller's scope as of this day (default: now).
    pub as_of: Option<String>,
}

/// One change of a deal, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryEvent {
    /// When it took effect.
    pub effective_at: String,
    /// When the ledger learned of it.
    pub recorded_at: String,
    /// The field.
    pub field: String,
    /// The value it took (`null`: cleared).
    pub value: Option<String>,
}

/// A deal's every change from the ledger, oldest first: its timeline.
#[utoipa::path(get, path = "/api/deals/{id}/history", tag = "deals",
    params(("id" = String, Path, description = "The opportunity id"), HistoryQuery),
    responses((status = 200, body = [HistoryEvent]), (status = 401, body = ErrorBody),
        (status = 404, description = "No such deal in the caller's scope", body = ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Response> {
    let c = cut(q.as_of.as_deref(), None)?;
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let out = crate::compute(move || -> ApiResult<Vec<HistoryEvent>> {
        let missing = || {
            ApiError::not_found(format!(
                "no deal {id:?} in your scope as of that day; GET /api/deals lists them"
            ))
        };
        let key = ws.log.keys.key(&id).ok_or_else(missing)?;
        let s = ws.scoped(c, &scope, None).map_err(ApiError::internal)?;
        if !s.keys.get(key as usize).copied().unwrap_or(false) {
            return Err(missing());
        }
        let mut events: Vec<(i64, i64, u64, HistoryEvent)> = Vec::new();
        for col in ws.log.columns.values() {
            for i in col.run(key) {
                let e = ws.log.event(col, i);
                events.push((
                    e.effective_at,
                    e.recorded_at,
                    col.seq[i],
                    HistoryEvent {
                        effective_at: format_timestamp(e.effective_at),
                        recorded_at: format_timestamp(e.recorded_at),
                        field: e.field.name().into_owned(),
                        value: e.new_value.to_canonical_string(),
                    },
                ));
            }
        }
        events.sort_by_key(|e| (e.0, e.1, e.2));
        Ok(events.into_iter().map(|e| e.3).collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the history was cancelled"))??;
    Ok(crate::routes::metrics::audited(out, described))
}

/// Which deals' scores.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ScoresQuery {
    /// Score the deals open at this day's end (default: now).
    pub as_of: Option<String>,
    /// The period P(won) is for (default: the fiscal quarter of `as_of`).
    pub period: Option<String>,
    /// The trained deal model (`models/NAME/`, from `pipewise deals train`).
    pub model: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only deals of this segment (as they stood at the day).
    pub segment: Option<String>,
}

/// A factor of a deal's P(won).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScoreFactor {
    /// In words.
    pub text: String,
    /// Points of P(won) (of 100) it adds or takes.
    pub points: f64,
}

/// An open deal's chances in the period, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScoreRow {
    /// The deal.
    pub opportunity_id: String,
    /// P(won in the period).
    pub p_won: f64,
    /// P(lost in the period).
    pub p_lost: f64,
    /// P(slipped past the period).
    pub p_slipped: f64,
    /// The low end of an 80% interval for P(won).
    pub p_won_low: f64,
    /// The high end.
    pub p_won_high: f64,
    /// The model that gave the probabilities (pooled or learned).
    pub model: String,
    /// The strongest factors, for and against.
    pub factors: Vec<ScoreFactor>,
}

/// Win probability with its factors for every open deal in the caller's
/// scope, from the workspace's trained deal model.
#[utoipa::path(get, path = "/api/deals/scores", tag = "deals", params(ScoresQuery),
    responses((status = 200, body = [ScoreRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such trained model", body = ErrorBody)))]
pub async fn scores(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ScoresQuery>,
) -> ApiResult<Response> {
    let at = instant(q.as_of.as_deref(), "as_of")?;
    let name = q.model.clone().unwrap_or_else(|| "deals".into());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::bad_request(format!(
            "model={name:?}: letters, digits, - and _ only"
        )));
    }
    let ws = app.loaded().await?;
    let period = match crate::routes::metrics::period(&ws, q.period.as_deref())? {
        Some((first, last)) => pipewise_score::deals::rows::Period { first, last },
        None => pipewise_score::deals::rows::Period::quarter_of(
            at,
            ws.process.fiscal_year_start_month(),
        ),
    };
    if pipewise_model::time::date_end(period.last) < at {
        return Err(ApiError::bad_request(
            "period ends before as_of: a deal open then cannot close in it",
        ));
    }
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let dir = app.workspace.dir().join("models").join(&name);
    let rows = crate::compute(move || -> ApiResult<Vec<ScoreRow>> {
        let all = ws
            .deal_scores(&dir, &name, Cut::at(at), period)
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no trained deal model {name:?}: train one with `pipewise deals train --name {name}`"
                ))
            })?;
        let s = ws
            .scoped(Cut::at(at), &scope, q.segment.as_deref())
            .map_err(ApiError::internal)?;
        Ok(all
            .iter()
            .filter(|r| {
                ws.log
                    .keys
                    .key(&r.opportunity_id)
                    .is_some_and(|k| s.keys.get(k as usize).copied().unwrap_or(false))
            })
            .map(|d| ScoreRow {
                opportunity_id: d.opportunity_id.clone(),
                p_won: d.p_won,
                p_lost: d.p_lost,
                p_slipped: d.p_slipped,
                p_won_low: d.won_interval.0,
                p_won_high: d.won_interval.1,
                model: d.model.clone(),
                factors: d
                    .factors
                    .iter()
                    .map(|f| ScoreFactor {
                        text: f.text.clone(),
                        points: f.points,
                    })
                    .collect(),
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("scoring was cancelled"))??;
    Ok(crate::routes::metrics::audited(rows, described))
}
