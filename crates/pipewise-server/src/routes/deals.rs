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

fn rows(b: &RecordBatch, admits: impl Fn(Option<&str>) -> bool, open_only: bool) -> Vec<DealRow> {
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
    let (closed, won, deleted) = (flag("is_closed"), flag("is_won"), flag("is_deleted"));
    let get = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string())
    };
    let mut out = Vec::new();
    for i in 0..b.num_rows() {
        let o = owner.filter(|a| a.is_valid(i)).map(|a| a.value(i));
        let is_closed = closed.is_some_and(|c| c.value(i));
        if !admits(o) || (open_only && is_closed) || deleted.is_some_and(|d| d.value(i)) {
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
    let at = instant(q.as_of.as_deref(), "as_of")?;
    let cut = if q.known.unwrap_or(false) {
        Cut::known_at(at)
    } else {
        Cut::at(at)
    };
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let open = q.open.unwrap_or(false);
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(usize::MAX));
    let out = crate::compute(move || -> ApiResult<Vec<DealRow>> {
        let b = ws.opportunities(cut).map_err(ApiError::internal)?;
        let mut r = rows(&b, |o| scope.admits(o), open);
        Ok(r.drain(..).skip(offset).take(limit).collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the deals computation was cancelled"))??;
    let mut r = Json(out).into_response();
    r.extensions_mut().insert(AuditScope(described));
    Ok(r)
}
