//! A quarter's forecast inside the caller's scope: every method side by
//! side with its terms, the recommended one first (the saved backtest's
//! winner at this week, else a backtest at this week run now). A manager's
//! quantiles come from simulating their subtree, never from adding up.

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope::Scope;
use crate::workspace::Forecasting;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_forecast::backtest;
use pipewise_forecast::calendar::quarter_at;
use pipewise_forecast::forecast::{self, Context, Options, past_quarters};
use pipewise_forecast::groups::By;
use pipewise_forecast::methods::Method;
use pipewise_forecast::scan::Ledger;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which forecast.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ForecastQuery {
    /// The fiscal quarter (default: the one holding `as_of`).
    pub period: Option<String>,
    /// When the forecast is made (default: now); within the quarter.
    pub as_of: Option<String>,
    /// Read the ledger as recorded by then.
    pub known: Option<bool>,
    /// Only these methods (comma-separated; default: all).
    pub method: Option<String>,
    /// Rows per owner, team, manager or segment besides the total.
    pub by: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only this segment's forecast (its group of `by=segment`, as `all`).
    pub segment: Option<String>,
    /// List the deals behind each term (ask it of one method: every open
    /// deal of the scope can stand behind a term).
    pub explain: Option<bool>,
}

/// One method's forecast for one group.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastRow {
    /// The group's key (`all` for the total in scope).
    pub group: String,
    /// Its name.
    pub label: String,
    /// The method.
    pub method: String,
    /// Whether it is the recommended method.
    pub recommended: bool,
    /// Why it is recommended.
    pub why: Option<String>,
    /// The point forecast.
    pub value: Option<f64>,
    /// 10th percentile, where the method has one.
    pub p10: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// The group's quota.
    pub quota: Option<f64>,
    /// quota − value.
    pub gap: Option<f64>,
    /// Excluded commit and best case (in_blood).
    pub upside: Option<f64>,
    /// The math: every term, with the deals behind it.
    #[schema(value_type = Object)]
    pub terms: serde_json::Value,
    /// How it was computed.
    pub notes: Vec<String>,
    /// What to watch.
    pub warnings: Vec<String>,
    /// The calls beside the group (the same for each method's row): whose
    /// call stands for it, that call per category with the bias used and
    /// de-biased, and the roll-up of the own calls under them (`null`: no
    /// calls, or a segment, which has no caller).
    #[schema(value_type = Option<Object>)]
    pub calls: Option<serde_json::Value>,
}

fn by(s: Option<&str>) -> ApiResult<By> {
    Ok(match s {
        None | Some("company") => By::Company,
        Some("owner") => By::Owner,
        Some("team") => By::Team,
        Some("manager") => By::Manager,
        Some("segment") => By::Segment,
        Some(o) => {
            return Err(ApiError::bad_request(format!(
                "by={o:?}: company, owner, team, manager or segment"
            )));
        }
    })
}

/// The forecast in the caller's scope.
#[utoipa::path(get, path = "/api/forecast", tag = "forecast", params(ForecastQuery),
    responses((status = 200, description = "One row per group and method, the recommended method first", body = [ForecastRow]),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn forecast(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ForecastQuery>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let (scope, root) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let at = crate::routes::deals::instant(q.as_of.as_deref(), "as_of")?;
    let fsm = ws.process.fiscal_year_start_month();
    let quarter = match &q.period {
        None => quarter_at(at, fsm, &ws.calendar),
        Some(s) => super::fiscal_quarter(&ws, s, "period")?,
    };
    if at < quarter.start() || at > quarter.end() {
        return Err(ApiError::bad_request(format!(
            "as_of is outside {} ({}): a forecast is made during its quarter",
            quarter.label,
            quarter.range()
        )));
    }
    let methods: Vec<Method> = match &q.method {
        None => Method::ALL.to_vec(),
        Some(m) => m
            .split(',')
            .map(|n| {
                Method::parse(n.trim())
                    .ok_or_else(|| ApiError::bad_request(format!("method={n:?}: not a method")))
            })
            .collect::<ApiResult<_>>()?,
    };
    let segment = q.segment.clone().filter(|s| !s.is_empty());
    let by = match (by(q.by.as_deref())?, &segment) {
        (b, None) => b,
        (By::Company, Some(_)) => By::Segment,
        (_, Some(_)) => {
            return Err(ApiError::bad_request(
                "segment= gives one segment's forecast: it does not combine with by=",
            ));
        }
    };
    let options = Options {
        methods: methods.clone(),
        by,
        scope: match scope {
            Scope::Everything => None,
            Scope::Owners(o) => Some(o),
        },
        known: q.known.unwrap_or(false),
        draws: 2000,
        seed: 42,
        explain: q.explain.unwrap_or(false),
        lookback: 4,
        learned: None,
    };
    let saved =
        std::fs::read_to_string(app.workspace.dir().join("reports").join("backtest.json")).ok();
    let store = app.workspace.store().clone();
    let known = options.known;
    let rows = crate::compute(move || -> ApiResult<Vec<ForecastRow>> {
        let subs = pipewise_forecast::submissions::from_batches(
            &store
                .read_journal(pipewise_forecast::submissions::JOURNAL)
                .map_err(ApiError::internal)?,
        );
        let ledger = Ledger::new(&ws.log, &ws.process);
        let week = quarter.week_of(at);
        let since = ws.log.keys.created_at.iter().copied().min().unwrap_or(0);
        // the past at this week, and the recommendation, once per version, quarter and week
        let key = (quarter.label.clone(), week);
        let cached = ws
            .forecasting
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        let learning = match cached {
            Some(l) => l,
            None => {
                let past_q = past_quarters(&quarter, at, since, fsm, &ws.calendar);
                let l = std::sync::Arc::new(Forecasting {
                    past: forecast::tallies(&ledger, &past_q, &[week], true),
                    recommended: std::sync::Mutex::new(std::collections::HashMap::new()),
                });
                if let Ok(mut c) = ws.forecasting.lock() {
                    c.insert(key, l.clone());
                }
                l
            }
        };
        let past = &learning.past;
        let cx = Context {
            ledger: &ledger,
            org: &ws.org,
            quarter: &quarter,
            cut: at,
            past,
        };
        let prepared = forecast::prepare(&cx, &options);
        let rows = forecast::forecast(&cx, &options, &prepared);
        let rec = saved
            .as_deref()
            .and_then(|t| backtest::saved_recommendation(t, week))
            .or_else(|| {
                let known = learning
                    .recommended
                    .lock()
                    .ok()
                    .and_then(|r| r.get(&methods).cloned());
                known.unwrap_or_else(|| {
                    let r = backtest::recommend(&ledger, &ws.org, past, week, &methods);
                    if let Ok(mut m) = learning.recommended.lock() {
                        m.insert(methods.clone(), r.clone());
                    }
                    r
                })
            });
        let groups: Vec<(By, String)> = rows
            .iter()
            .map(|r| {
                let b = if r.group == "all" { By::Company } else { by };
                (b, r.group.clone())
            })
            .collect();
        let calls = pipewise_forecast::submissions::calls_beside(
            &ledger,
            &ws.org,
            subs,
            &quarter.label,
            at,
            known,
            &groups,
            root.as_deref(),
        );
        let mut out = Vec::new();
        for (mut r, calls) in rows.into_iter().zip(calls) {
            let calls = calls.map(|c| c.to_json(&ws.org));
            if let Some(s) = &segment {
                if &r.group != s {
                    continue;
                }
                r.group = "all".into();
            }
            let mut fs = r.forecasts;
            if let Some((m, _)) = &rec
                && let Some(i) = fs.iter().position(|f| f.method == *m)
            {
                let f = fs.remove(i);
                fs.insert(0, f);
            }
            for f in fs {
                let recommended = rec.as_ref().is_some_and(|(m, _)| *m == f.method);
                out.push(ForecastRow {
                    group: r.group.clone(),
                    label: r.label.clone(),
                    method: f.method.as_str().into(),
                    recommended,
                    why: rec.as_ref().filter(|_| recommended).map(|(_, w)| w.clone()),
                    value: f.value,
                    p10: f.p10,
                    p50: f.p50,
                    p90: f.p90,
                    quota: r.quota,
                    gap: r.quota.zip(f.value).map(|(q, v)| q - v),
                    upside: f.upside,
                    terms: serde_json::to_value(&f.terms).unwrap_or_default(),
                    notes: f.notes,
                    warnings: f.warnings,
                    calls: calls.clone(),
                });
            }
        }
        Ok(out)
    })
    .await
    .ok_or_else(|| ApiError::internal("the forecast was cancelled"))??;
    let mut r = Json(rows).into_response();
    r.extensions_mut().insert(AuditScope(described));
    Ok(r)
}

/// The saved backtest (`pipewise backtest` writes `reports/backtest.json`):
/// each method's accuracy by week of the quarter over past quarters. Its
/// scores are ratios (WAPE, bias, coverage) of the company's forecasts; the
/// forecasts and actuals behind them (`points`) are amounts, shown only to
/// roles that see everything.
#[utoipa::path(get, path = "/api/backtest", tag = "forecast",
    responses((status = 200, description = "The saved backtest report", body = Object),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No backtest saved yet", body = ErrorBody)))]
pub async fn backtest(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let path = app.workspace.dir().join("reports").join("backtest.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(
                "no backtest saved yet: run `pipewise backtest` on the workspace to save one",
            ));
        }
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    let everything = p.user.role.sees_everything();
    if !everything && let Some(o) = v.as_object_mut() {
        o.remove("points");
    }
    let mut r = Json(v).into_response();
    r.extensions_mut().insert(AuditScope(
        if everything {
            "everything"
        } else {
            "company-level scores only"
        }
        .into(),
    ));
    Ok(r)
}
