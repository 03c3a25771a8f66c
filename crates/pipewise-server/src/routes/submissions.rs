//! Forecast calls from the browser: read inside the scope, submitted as
//! oneself (a manager's team call for their subtree), kept in the
//! workspace's append-only `submissions` journal beside the CLI's.

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_forecast::submissions::{self, JOURNAL, Level, Submission};
use pipewise_model::time::{format_date, format_timestamp};
use pipewise_state::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which calls.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CallsQuery {
    /// Only this quarter's (2026-Q2).
    pub period: Option<String>,
}

/// A call, as kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallRow {
    /// The quarter.
    pub period: String,
    /// Its first day.
    pub first: String,
    /// Its last day.
    pub last: String,
    /// The CRM user who made it.
    pub submitter: String,
    /// own or team.
    pub level: String,
    /// Commit.
    pub commit: f64,
    /// Best case.
    pub best_case: f64,
    /// Most likely.
    pub most_likely: f64,
    /// A note.
    pub note: Option<String>,
    /// When it was made.
    pub submitted_at: String,
    /// When pipewise kept it.
    pub recorded_at: String,
    /// Where it came from (cli, csv, web:LOGIN).
    pub source: String,
}

fn row(s: &Submission) -> CallRow {
    CallRow {
        period: s.period.clone(),
        first: format_date(s.first),
        last: format_date(s.last),
        submitter: s.submitter.clone(),
        level: s.level.as_str().into(),
        commit: s.commit,
        best_case: s.best_case,
        most_likely: s.most_likely,
        note: s.note.clone(),
        submitted_at: format_timestamp(s.submitted_at),
        recorded_at: format_timestamp(s.recorded_at),
        source: s.source.clone(),
    }
}

/// The calls in the caller's scope: their own, their subtree's, or everyone's.
#[utoipa::path(get, path = "/api/submissions", tag = "forecast", params(CallsQuery),
    responses((status = 200, body = [CallRow]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<CallsQuery>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let label = q
        .period
        .as_deref()
        .map(|s| super::fiscal_quarter(&ws, s, "period"))
        .transpose()?
        .map(|q| q.label);
    let store = app.workspace.store().clone();
    let all = crate::compute(move || store.read_journal(JOURNAL))
        .await
        .ok_or_else(|| ApiError::internal("reading the calls was cancelled"))?
        .map_err(ApiError::internal)?;
    let rows: Vec<CallRow> = submissions::from_batches(&all)
        .iter()
        .filter(|s| {
            scope.admits(Some(&s.submitter)) && label.as_ref().is_none_or(|l| *l == s.period)
        })
        .map(row)
        .collect();
    let mut r = Json(rows).into_response();
    r.extensions_mut().insert(AuditScope(scope.describe()));
    Ok(r)
}

/// A new call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCall {
    /// The quarter (2026-Q2).
    pub period: String,
    /// Commit.
    pub commit: f64,
    /// Best case.
    pub best_case: f64,
    /// Most likely.
    pub most_likely: f64,
    /// A note.
    pub note: Option<String>,
    /// A manager's adjusted roll-up of their subtree (default: their own deals).
    #[serde(default)]
    pub team: bool,
}

/// Submit a call as oneself (the CRM user one is mapped to). Needs the
/// `X-CSRF-Token` header with a session.
#[utoipa::path(post, path = "/api/submissions", tag = "forecast", request_body = NewCall,
    responses((status = 201, body = CallRow), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn submit(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let c: NewCall = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not {{\"period\", \"commit\", \"best_case\", \"most_likely\"[, \"note\", \"team\"]}}: {e}"
        ))
    })?;
    let Some(submitter) = p.user.owner_id.clone() else {
        return Err(ApiError::forbidden(format!(
            "{} is mapped to no CRM user; a call is made as one (pipewise users add --owner)",
            p.user.login
        )));
    };
    if c.team && !matches!(p.user.role, Role::Manager | Role::Exec | Role::Admin) {
        return Err(ApiError::forbidden("only a manager makes a team call"));
    }
    if let Some(why) = submissions::bad_amount([
        ("commit", c.commit),
        ("best_case", c.best_case),
        ("most_likely", c.most_likely),
    ]) {
        return Err(ApiError::bad_request(why));
    }
    let ws = app.loaded().await?;
    let q = super::fiscal_quarter(&ws, &c.period, "period")?;
    let now = crate::auth::now();
    let s = Submission {
        period: q.label.clone(),
        first: q.first,
        last: q.last,
        submitter,
        level: if c.team { Level::Team } else { Level::Own },
        commit: c.commit,
        best_case: c.best_case,
        most_likely: c.most_likely,
        note: c.note.clone(),
        submitted_at: now,
        recorded_at: now,
        source: format!("web:{}", p.user.login),
    };
    let store = app.workspace.store().clone();
    let batch = submissions::to_batch(std::slice::from_ref(&s)).map_err(ApiError::internal)?;
    crate::compute(move || store.append_journal(JOURNAL, &[batch]))
        .await
        .ok_or_else(|| ApiError::internal("keeping the call was cancelled"))?
        .map_err(ApiError::internal)?;
    let mut r = (axum::http::StatusCode::CREATED, Json(row(&s))).into_response();
    r.extensions_mut()
        .insert(AuditScope(ws.scope(&p.user).describe()));
    Ok(r)
}
