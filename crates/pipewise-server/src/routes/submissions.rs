//! Forecast calls from the browser: read inside the scope, submitted as
//! oneself (a manager's team call for their subtree), kept in the app state
//! (who made which call in the browser) and in the workspace's append-only
//! `submissions` journal beside the CLI's (what forecasts read).

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
    // Kept twice: in the app state (the app's record of what was made in the
    // browser, by whom) and in the workspace's submissions journal (what
    // every forecast, backtest and CLI command reads). The app state first;
    // if the journal then cannot keep it, the app state forgets it, so the
    // two never disagree.
    let id = app
        .db
        .record_call(&pipewise_state::Call {
            id: 0,
            login: p.user.login.clone(),
            submitter: s.submitter.clone(),
            period: s.period.clone(),
            first_day: i64::from(s.first),
            last_day: i64::from(s.last),
            level: s.level.as_str().into(),
            commit: s.commit,
            best_case: s.best_case,
            most_likely: s.most_likely,
            note: s.note.clone(),
            submitted_at: s.submitted_at,
        })
        .await
        .map_err(ApiError::internal)?;
    let store = app.workspace.store().clone();
    let batch = submissions::to_batch(std::slice::from_ref(&s)).map_err(ApiError::internal)?;
    let kept = crate::compute(move || store.append_journal(JOURNAL, &[batch]))
        .await
        .ok_or_else(|| ApiError::internal("keeping the call was cancelled"))
        .and_then(|r| r.map_err(ApiError::internal));
    if let Err(e) = kept {
        if let Err(d) = app.db.delete_call(id).await {
            tracing::error!(error = %d, id, "a call the journal did not keep stays in the app state");
        }
        return Err(e);
    }
    let mut r = (axum::http::StatusCode::CREATED, Json(row(&s))).into_response();
    r.extensions_mut()
        .insert(AuditScope(ws.scope(&p.user).describe()));
    Ok(r)
}

/// Every call in the journal, and the bias ledger of those on quarters that
/// have ended, scored against what was booked as recorded today.
fn bias_ledger(
    ws: &crate::workspace::Loaded,
    store: &pipewise_ledger::Store,
) -> ApiResult<(Vec<Submission>, Vec<submissions::Bias>)> {
    let all = submissions::from_batches(&store.read_journal(JOURNAL).map_err(ApiError::internal)?);
    let ledger = pipewise_forecast::scan::Ledger::new(&ws.log, &ws.process);
    let scored = submissions::score(&ledger, &ws.org, &all, ws.log.latest(), None);
    let team_of = |id: &str| ws.org.person(id).and_then(|p| p.team.clone());
    let bias = submissions::ledger(&scored, &team_of);
    Ok((all, bias))
}

/// One row of the bias ledger: how far a person's calls have been from
/// what they then booked.
#[derive(Debug, Serialize, ToSchema)]
pub struct BiasRow {
    /// The CRM user who called.
    pub submitter: String,
    /// Their name.
    pub name: String,
    /// own or team.
    pub level: String,
    /// commit, best_case or most_likely.
    pub category: String,
    /// The week of the quarter (`null`: every week).
    pub week: Option<u32>,
    /// Calls scored.
    pub calls: usize,
    /// Quarters they were on.
    pub quarters: usize,
    /// Mean signed error, (call − booked) ÷ booked.
    pub error: f64,
    /// Shrunk towards their team's (or everyone's).
    pub shrunk: f64,
    /// In words.
    pub reading: String,
}

/// The bias ledger of the calls in the caller's scope, scored against what
/// was booked in quarters that have ended (as recorded today).
#[utoipa::path(get, path = "/api/submissions/bias", tag = "forecast",
    responses((status = 200, body = [BiasRow]), (status = 401, body = ErrorBody)))]
pub async fn bias(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let store = app.workspace.store().clone();
    let rows = crate::compute(move || -> ApiResult<Vec<BiasRow>> {
        let (_, bias) = bias_ledger(&ws, &store)?;
        Ok(bias
            .into_iter()
            .filter(|b| scope.admits(Some(&b.submitter)))
            .map(|b| BiasRow {
                name: ws
                    .org
                    .person(&b.submitter)
                    .map_or(b.submitter.clone(), |p| p.name.clone()),
                submitter: b.submitter,
                level: b.level.as_str().into(),
                category: b.category,
                week: b.week,
                calls: b.calls,
                quarters: b.quarters,
                error: b.error,
                shrunk: b.shrunk,
                reading: b.reading,
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the bias ledger was cancelled"))??;
    Ok(crate::routes::metrics::audited(rows, described))
}

/// Which scored calls.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ScoredQuery {
    /// Only this CRM user's calls.
    pub submitter: Option<String>,
    /// Only own or team calls.
    pub level: Option<String>,
    /// Only calls of this week of the quarter.
    pub week: Option<u32>,
}

/// A call on a quarter that has ended, beside what was booked: the rows
/// behind the bias ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredCallRow {
    /// The call, as kept.
    #[serde(flatten)]
    pub call: CallRow,
    /// The caller's name.
    pub name: String,
    /// Its week of the quarter.
    pub week: u32,
    /// What the caller (their subtree, for a team call) booked in the
    /// quarter, as recorded today.
    pub booked: f64,
    /// (commit − booked) ÷ booked; `null` when nothing was booked (such a
    /// call is left out of the bias ledger).
    pub commit_error: Option<f64>,
    /// (best case − booked) ÷ booked.
    pub best_case_error: Option<f64>,
    /// (most likely − booked) ÷ booked.
    pub most_likely_error: Option<f64>,
}

/// The calls behind the bias ledger in the caller's scope: each call on a
/// quarter that has ended with what was booked and its error per category.
/// A bias row's error is the mean of its calls' errors.
#[utoipa::path(get, path = "/api/submissions/scored", tag = "forecast", params(ScoredQuery),
    responses((status = 200, body = [ScoredCallRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn scored(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ScoredQuery>,
) -> ApiResult<Response> {
    let level =
        match q.level.as_deref() {
            None | Some("") => None,
            Some(l) => Some(Level::parse(l).ok_or_else(|| {
                ApiError::bad_request(format!("level={l:?}: expected own or team"))
            })?),
        };
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let store = app.workspace.store().clone();
    let rows = crate::compute(move || -> ApiResult<Vec<ScoredCallRow>> {
        let all =
            submissions::from_batches(&store.read_journal(JOURNAL).map_err(ApiError::internal)?);
        let ledger = pipewise_forecast::scan::Ledger::new(&ws.log, &ws.process);
        let scored = submissions::score(&ledger, &ws.org, &all, ws.log.latest(), None);
        let error = |call: f64, booked: f64| (booked > 0.0).then(|| (call - booked) / booked);
        let mut rows: Vec<ScoredCallRow> = scored
            .iter()
            .filter(|s| {
                let c = s.submission;
                scope.admits(Some(&c.submitter))
                    && q.submitter.as_deref().is_none_or(|w| w == c.submitter)
                    && level.is_none_or(|l| l == c.level)
                    && q.week.is_none_or(|w| w == s.week)
            })
            .map(|s| {
                let c = s.submission;
                ScoredCallRow {
                    call: row(c),
                    name: ws
                        .org
                        .person(&c.submitter)
                        .map_or(c.submitter.clone(), |p| p.name.clone()),
                    week: s.week,
                    booked: s.booked,
                    commit_error: error(c.commit, s.booked),
                    best_case_error: error(c.best_case, s.booked),
                    most_likely_error: error(c.most_likely, s.booked),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            (&a.call.submitter, &a.call.period, &a.call.submitted_at).cmp(&(
                &b.call.submitter,
                &b.call.period,
                &b.call.submitted_at,
            ))
        });
        Ok(rows)
    })
    .await
    .ok_or_else(|| ApiError::internal("the scored calls were cancelled"))??;
    Ok(crate::routes::metrics::audited(rows, described))
}

/// Which de-biased calls.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DebiasedQuery {
    /// The quarter (2026-Q2).
    pub period: String,
    /// The latest calls made by then (default: now).
    pub as_of: Option<String>,
}

/// A person's latest call, de-biased by their own record.
#[derive(Debug, Serialize, ToSchema)]
pub struct DebiasedRow {
    /// The CRM user who called.
    pub submitter: String,
    /// Their name.
    pub name: String,
    /// own or team.
    pub level: String,
    /// When.
    pub submitted_at: String,
    /// Commit as called.
    pub commit: f64,
    /// Commit de-biased.
    pub commit_debiased: f64,
    /// Most likely as called.
    pub most_likely: f64,
    /// Most likely de-biased.
    pub most_likely_debiased: f64,
    /// Best case as called.
    pub best_case: f64,
    /// Best case de-biased.
    pub best_case_debiased: f64,
    /// Which bias was used, in words.
    pub why: String,
}

/// The latest call of each person in the caller's scope for a quarter, and
/// each de-biased by their bias ledger (the roll-up's adjustments).
#[utoipa::path(get, path = "/api/submissions/debiased", tag = "forecast", params(DebiasedQuery),
    responses((status = 200, body = [DebiasedRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn debiased(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<DebiasedQuery>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let quarter = super::fiscal_quarter(&ws, &q.period, "period")?;
    let at = crate::routes::deals::instant(q.as_of.as_deref(), "as_of")?;
    let scope = ws.scope(&p.user);
    let described = scope.describe();
    let store = app.workspace.store().clone();
    let rows = crate::compute(move || -> ApiResult<Vec<DebiasedRow>> {
        let (all, bias) = bias_ledger(&ws, &store)?;
        let call = |d: &submissions::Debiased, c: &str| d.calls.get(c).copied().unwrap_or_default();
        Ok(submissions::debiased(&all, &quarter.label, at, &bias)
            .into_iter()
            .filter(|d| scope.admits(Some(&d.submitter)))
            .map(|d| DebiasedRow {
                name: ws
                    .org
                    .person(&d.submitter)
                    .map_or(d.submitter.clone(), |p| p.name.clone()),
                level: d.level.as_str().into(),
                submitted_at: format_timestamp(d.submitted_at),
                commit: call(&d, "commit").0,
                commit_debiased: call(&d, "commit").2,
                most_likely: call(&d, "most_likely").0,
                most_likely_debiased: call(&d, "most_likely").2,
                best_case: call(&d, "best_case").0,
                best_case_debiased: call(&d, "best_case").2,
                why: d.why.clone(),
                submitter: d.submitter,
            })
            .collect())
    })
    .await
    .ok_or_else(|| ApiError::internal("the de-biased calls were cancelled"))??;
    Ok(crate::routes::metrics::audited(rows, described))
}
