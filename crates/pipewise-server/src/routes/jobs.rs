//! Long work started from the browser, with its progress: a backtest of
//! every forecasting method over the past quarters (what `pipewise
//! backtest` does with its defaults), written to `reports/backtest.json`
//! and `reports/backtest.md` when it ends; an ingest of uploaded files
//! (`routes::ingest`).
//!
//! A backtest is company-level and rewrites the saved report everyone's
//! forecast page reads, so only exec and admin start one; one runs at a
//! time. Jobs live in the server's memory: a restart forgets them (the
//! report they wrote stays).

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_forecast::backtest::{self, BacktestOptions};
use pipewise_forecast::methods::Method;
use pipewise_forecast::scan::Ledger;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// A job's state, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobInfo {
    /// Its number.
    pub id: u64,
    /// What it does (backtest).
    pub kind: String,
    /// Who started it.
    pub login: String,
    /// running, done or failed.
    pub state: String,
    /// Steps done.
    pub done: u64,
    /// Steps in all (0 while it is still planning).
    pub total: u64,
    /// What it is doing, or what it did, in words.
    pub message: String,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
}

/// The jobs this server has run.
#[derive(Default)]
pub struct Jobs {
    next: u64,
    jobs: BTreeMap<u64, Arc<Mutex<JobInfo>>>,
}

/// One job's state, shared by the thread doing it and the API showing it.
pub(crate) type Job = Arc<Mutex<JobInfo>>;

/// Change a job's state (a poisoned lock leaves it as it was).
pub(crate) fn update(job: &Job, f: impl FnOnce(&mut JobInfo)) {
    if let Ok(mut j) = job.lock() {
        f(&mut j);
    }
}

fn now_text() -> String {
    pipewise_model::time::format_timestamp(crate::auth::now())
}

fn backtest_job(app: &AppState, job: &Job) -> Result<String, String> {
    let ws = app.workspace.get().map_err(|e| e.to_string())?;
    update(job, |j| j.message = "tallying the past quarters".into());
    let ledger = Ledger::new(&ws.log, &ws.process);
    let fsm = ws.process.fiscal_year_start_month();
    let first = ws.log.keys.created_at.iter().copied().min().unwrap_or(0);
    let (quarters, targets) = backtest::quarters(ws.latest, first, fsm, &ws.calendar, 4);
    if targets.is_empty() {
        return Err(format!(
            "the ledger holds {} complete quarter(s); a backtest forecasts a quarter with at least two before it",
            quarters.len()
        ));
    }
    let weeks: Vec<u32> = (1..=13).collect();
    let all = pipewise_forecast::forecast::tallies(&ledger, &quarters, &weeks, true);
    update(job, |j| {
        j.message = format!(
            "forecasting {} quarters × {} weeks with every method",
            targets.len(),
            weeks.len()
        )
    });
    let bt = backtest::run_with_progress(
        &ledger,
        &ws.org,
        &all,
        &targets,
        &BacktestOptions {
            weeks,
            methods: Method::ALL.to_vec(),
            draws: 1000,
            seed: 42,
            lookback: 4,
        },
        None,
        &|done, total| {
            update(job, |j| {
                j.done = done as u64;
                j.total = total as u64;
            })
        },
    );
    let dir = app.workspace.dir().join("reports");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(&bt).map_err(|e| e.to_string())? + "\n";
    // written whole, then moved into place: a reader never sees half a report
    let tmp = dir.join("backtest.json.tmp");
    std::fs::write(&tmp, json).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("backtest.json")).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("backtest.md"), backtest::markdown(&bt))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(format!(
        "backtested {}; wrote reports/backtest.json and reports/backtest.md",
        bt.quarters.join(", ")
    ))
}

/// Start a backtest of every method over the last four quarters (exec and
/// admin; one at a time). Needs the `X-CSRF-Token` header with a session.
#[utoipa::path(post, path = "/api/jobs/backtest", tag = "forecast",
    responses((status = 202, description = "Started; poll /api/jobs/{id}", body = JobInfo),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "A backtest is running", body = ErrorBody)))]
pub async fn start_backtest(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    if !p.user.role.sees_everything() {
        return Err(ApiError::forbidden(
            "a backtest is company-level and rewrites the saved report: exec and admin only",
        ));
    }
    start(&app, &p, "backtest", "reading the ledger", backtest_job)
}

/// A job of `kind` is running.
pub(crate) fn running(app: &AppState, kind: &str) -> ApiResult<bool> {
    let jobs = app
        .jobs
        .lock()
        .map_err(|_| ApiError::internal("the jobs lock is poisoned"))?;
    Ok(jobs.jobs.values().any(|j| {
        j.lock()
            .is_ok_and(|j| j.kind == kind && j.state == "running")
    }))
}

/// Start `work` as a job of `kind` for `p` on a thread of its own (minutes
/// of CPU, off the HTTP runtime and off the pool the pages' requests use),
/// one of each kind at a time: 202 with the job, 409 when one runs.
/// `work` returns what it did in words, or why it failed.
pub(crate) fn start(
    app: &AppState,
    p: &Principal,
    kind: &str,
    first: &str,
    work: impl FnOnce(&AppState, &Job) -> Result<String, String> + Send + 'static,
) -> ApiResult<Response> {
    let job = {
        let mut jobs = app
            .jobs
            .lock()
            .map_err(|_| ApiError::internal("the jobs lock is poisoned"))?;
        let running = jobs.jobs.values().any(|j| {
            j.lock()
                .is_ok_and(|j| j.kind == kind && j.state == "running")
        });
        if running {
            return Err(ApiError::conflict(format!(
                "a job of this kind ({kind}) is running already: GET /api/jobs shows its progress"
            )));
        }
        jobs.next += 1;
        let id = jobs.next;
        let job = Arc::new(Mutex::new(JobInfo {
            id,
            kind: kind.into(),
            login: p.user.login.clone(),
            state: "running".into(),
            done: 0,
            total: 0,
            message: first.into(),
            started_at: now_text(),
            ended_at: None,
        }));
        jobs.jobs.insert(id, job.clone());
        job
    };
    let (a, j) = (app.clone(), job.clone());
    let name = format!("pipewise-{kind}");
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&a, &j)))
                .unwrap_or_else(|_| Err("the job failed unexpectedly (see the server log)".into()));
            if let Err(e) = &r {
                tracing::error!(error = %e, "job failed");
            }
            update(&j, |x| {
                x.ended_at = Some(now_text());
                match r {
                    Ok(m) => {
                        x.state = "done".into();
                        x.message = m;
                    }
                    Err(e) => {
                        x.state = "failed".into();
                        x.message = e;
                    }
                }
            });
        })
        .map_err(ApiError::internal)?;
    let info = job
        .lock()
        .map(|j| j.clone())
        .map_err(|_| ApiError::internal("the job's lock is poisoned"))?;
    let mut r = (StatusCode::ACCEPTED, Json(info)).into_response();
    r.extensions_mut().insert(AuditScope("everything".into()));
    Ok(r)
}

/// The jobs the caller may see (their own; an admin every one), newest first.
#[utoipa::path(get, path = "/api/jobs", tag = "forecast",
    responses((status = 200, body = [JobInfo]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<JobInfo>>> {
    let jobs = app
        .jobs
        .lock()
        .map_err(|_| ApiError::internal("the jobs lock is poisoned"))?;
    let admin = p.user.role == pipewise_state::Role::Admin;
    Ok(Json(
        jobs.jobs
            .values()
            .rev()
            .filter_map(|j| j.lock().ok().map(|j| j.clone()))
            .filter(|j| admin || j.login == p.user.login)
            .collect(),
    ))
}

/// One job's progress.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "forecast",
    params(("id" = u64, Path, description = "The job")),
    responses((status = 200, body = JobInfo), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
) -> ApiResult<Json<JobInfo>> {
    let jobs = app
        .jobs
        .lock()
        .map_err(|_| ApiError::internal("the jobs lock is poisoned"))?;
    let admin = p.user.role == pipewise_state::Role::Admin;
    jobs.jobs
        .get(&id)
        .and_then(|j| j.lock().ok().map(|j| j.clone()))
        .filter(|j| admin || j.login == p.user.login)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("you have no job {id}")))
}
