//! The pipeline's shape in the caller's scope: the funnel (stage conversion
//! and time in stage) and the flow (the waterfall between two days). Both
//! walk only the deals in scope, owners as they stood at the day viewed.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::deals::{cut, instant};
use crate::routes::metrics::{audited, period};
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use pipewise_ledger::Cut;
use pipewise_ledger::flow::{Bucket, from_fixed};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which funnel.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FunnelParams {
    /// Deals whose first entry into a stage fell in this period (default: all).
    pub period: Option<String>,
    /// As the ledger stood at this day's end (default: now); scope by owners then.
    pub as_of: Option<String>,
    /// Only what had been recorded by `as_of`.
    pub known: Option<bool>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only deals of this segment (as they stood at the day).
    pub segment: Option<String>,
}

/// One stage of the funnel.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelRow {
    /// The sales process.
    pub pipeline: String,
    /// The stage.
    pub stage: String,
    /// Deals that first entered the stage in the period.
    pub entered: u64,
    /// Of those, deals that reached a later open stage or won.
    pub advanced: u64,
    /// advanced ÷ entered.
    pub conversion: Option<f64>,
    /// entered ÷ the previous stage's entered (same pipeline).
    pub of_previous: Option<f64>,
    /// Mean days of the first stay.
    pub mean_days: Option<f64>,
    /// Median days of the first stay.
    pub median_days: Option<f64>,
    /// 75th percentile of the first stay, in days.
    pub p75_days: Option<f64>,
}

/// Stage conversion and time in stage of the deals in the caller's scope.
#[utoipa::path(get, path = "/api/funnel", tag = "pipeline", params(FunnelParams),
    responses((status = 200, body = [FunnelRow]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn funnel(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<FunnelParams>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let c = cut(q.as_of.as_deref(), q.known)?;
    let (from, to) = match period(&ws, q.period.as_deref())? {
        None => (i64::MIN, i64::MAX),
        Some((s, e)) => (
            pipewise_model::time::date_start(s),
            pipewise_model::time::date_end(e),
        ),
    };
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let rows = crate::compute(move || -> ApiResult<Vec<FunnelRow>> {
        let s = ws
            .scoped(c, &scope, q.segment.as_deref())
            .map_err(ApiError::internal)?;
        let keys = &s.keys;
        let stages = pipewise_metrics::funnel::funnel_of(&ws.log, &ws.process, from, to, c, &|k| {
            keys.get(k as usize).copied().unwrap_or(false)
        });
        let mut out: Vec<FunnelRow> = Vec::new();
        for st in stages {
            let of_previous = out
                .last()
                .filter(|p| p.pipeline == st.pipeline && p.entered > 0)
                .map(|p| st.entered as f64 / p.entered as f64);
            out.push(FunnelRow {
                pipeline: st.pipeline,
                stage: st.stage,
                entered: st.entered,
                advanced: st.advanced,
                conversion: st.conversion,
                of_previous,
                mean_days: st.mean_days,
                median_days: st.median_days,
                p75_days: st.p75_days,
            });
        }
        Ok(out)
    })
    .await
    .ok_or_else(|| ApiError::internal("the funnel was cancelled"))??;
    Ok(audited(rows, described))
}

/// Which flow.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FlowParams {
    /// The start (its end of day, or an instant).
    pub from: String,
    /// The end; the scope is the owners of deals as they stood then.
    pub to: String,
    /// The pipeline closing in this period (default: every open deal).
    pub period: Option<String>,
    /// Also list the deals behind each bucket.
    pub deals: Option<bool>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// Only deals of this segment (as they stood at `to`).
    pub segment: Option<String>,
}

/// A bucket of the waterfall.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowBucket {
    /// start, new, reopened, …, won, lost, …, end, then the movements.
    pub bucket: String,
    /// Whether it is a bar of the waterfall (start, what entered or left
    /// the pipeline or changed its amount, end); the rest are movements
    /// inside it.
    pub waterfall: bool,
    /// Deals in it.
    pub deals: i64,
    /// Change in the pipeline's deal count (start and end: the count).
    pub count: i64,
    /// Change in the pipeline's amount (start and end: the amount).
    pub amount: f64,
}

/// A deal behind a bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDeal {
    /// The bucket.
    pub bucket: String,
    /// The deal.
    pub opportunity_id: String,
    /// +1 entered, −1 left, 0 otherwise.
    pub count: i64,
    /// Its amount.
    pub amount: f64,
}

/// The waterfall between two days.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowAnswer {
    /// The buckets, in the waterfall's order.
    pub buckets: Vec<FlowBucket>,
    /// The deals behind them (when asked for).
    pub deals: Vec<FlowDeal>,
}

/// The pipeline waterfall between two days, in the caller's scope.
#[utoipa::path(get, path = "/api/flow", tag = "pipeline", params(FlowParams),
    responses((status = 200, body = FlowAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn flow(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<FlowParams>,
) -> ApiResult<Response> {
    let (from, to) = (instant(Some(&q.from), "from")?, instant(Some(&q.to), "to")?);
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from={:?} is after to={:?}",
            q.from, q.to
        )));
    }
    let ws = app.loaded().await?;
    let period = period(&ws, q.period.as_deref())?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let with_deals = q.deals.unwrap_or(false);
    let answer = crate::compute(move || -> ApiResult<FlowAnswer> {
        let s = ws
            .scoped(Cut::at(to), &scope, q.segment.as_deref())
            .map_err(ApiError::internal)?;
        let keys = &s.keys;
        let f = pipewise_ledger::flow::flow_of(
            &ws.log,
            &ws.process,
            Cut::at(from),
            Cut::at(to),
            period,
            &|k| keys.get(k as usize).copied().unwrap_or(false),
        );
        let buckets = f
            .totals
            .iter()
            .filter(|b| b.deals > 0 || matches!(b.bucket, Bucket::Start | Bucket::End))
            .map(|b| FlowBucket {
                bucket: b.bucket.as_str().to_string(),
                waterfall: b.bucket.is_membership()
                    || matches!(b.bucket, Bucket::Start | Bucket::End),
                deals: b.deals,
                count: b.count,
                amount: from_fixed(b.amount),
            })
            .collect();
        let deals = if with_deals {
            f.items
                .iter()
                .map(|i| FlowDeal {
                    bucket: i.bucket.as_str().to_string(),
                    opportunity_id: ws.log.keys.id(i.opportunity_key).to_string(),
                    count: i.count,
                    amount: from_fixed(i.amount),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(FlowAnswer { buckets, deals })
    })
    .await
    .ok_or_else(|| ApiError::internal("the flow was cancelled"))??;
    Ok(audited(answer, described))
}

/// Which stage's deals.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CohortParams {
    /// The stage (its name in the sales process).
    pub stage: String,
    /// As for /api/funnel.
    pub period: Option<String>,
    /// As for /api/funnel.
    pub as_of: Option<String>,
    /// As for /api/funnel.
    pub known: Option<bool>,
    /// As for /api/funnel.
    pub under: Option<String>,
    /// As for /api/funnel.
    pub segment: Option<String>,
}

/// A deal behind a funnel stage's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortDeal {
    /// The deal: it first entered the stage in the period.
    pub opportunity_id: String,
    /// Whether it went on to a later open stage or won (the stage's `advanced`).
    pub advanced: bool,
}

/// The deals behind a funnel stage: those that first entered it in the
/// period (its `entered`), each with whether it advanced.
#[utoipa::path(get, path = "/api/funnel/deals", tag = "pipeline", params(CohortParams),
    responses((status = 200, body = [CohortDeal]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cohort(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<CohortParams>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let c = cut(q.as_of.as_deref(), q.known)?;
    let (from, to) = match period(&ws, q.period.as_deref())? {
        None => (i64::MIN, i64::MAX),
        Some((s, e)) => (
            pipewise_model::time::date_start(s),
            pipewise_model::time::date_end(e),
        ),
    };
    let stage = ws.process.stage_code(&q.stage).ok_or_else(|| {
        ApiError::not_found(format!(
            "stage={:?}: no such stage; /api/funnel lists them",
            q.stage
        ))
    })?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let rows = crate::compute(move || -> ApiResult<Vec<CohortDeal>> {
        let s = ws
            .scoped(c, &scope, q.segment.as_deref())
            .map_err(ApiError::internal)?;
        let keys = &s.keys;
        let mut out: Vec<CohortDeal> = pipewise_metrics::funnel::funnel_cohort(
            &ws.log,
            &ws.process,
            from,
            to,
            c,
            &|k| keys.get(k as usize).copied().unwrap_or(false),
            stage,
        )
        .into_iter()
        .map(|(k, advanced)| CohortDeal {
            opportunity_id: ws.log.keys.id(k).to_string(),
            advanced,
        })
        .collect();
        out.sort_by(|a, b| a.opportunity_id.cmp(&b.opportunity_id));
        Ok(out)
    })
    .await
    .ok_or_else(|| ApiError::internal("the funnel's deals were cancelled"))??;
    Ok(audited(rows, described))
}
