//! The team server (issue #14): a JSON API over a workspace, every answer
//! computed inside the caller's scope and written to the audit log.
//!
//! - [`router`] builds the whole app (tests drive it without a socket);
//!   [`serve`] runs it on a listener.
//! - [`auth`]: sessions and API tokens, CSRF, the login limiter, the audit
//!   middleware. [`scope`]: whose deals a user sees.
//! - [`workspace`]: the ledger loaded once, reloaded when a commit lands;
//!   CPU-heavy work on rayon's pool ([`compute`]).
//! - [`error`]: one error body, `{code, message}`.
//! - [`lead_book`]: the leads read and scored once per version.
//! - `routes/`: one module per resource; [`ApiDoc`] is the OpenAPI 3.1
//!   document generated from their types, served at `/api/openapi.json`.
//!
//! The engine crates know nothing of HTTP; this crate knows nothing of the
//! terminal.

pub mod answers;
pub mod assets;
pub mod auth;
pub mod error;
pub mod lead_book;
pub mod routes;
pub mod scope;
pub mod workspace;

pub use auth::{AuditScope, Principal};
pub use error::{ApiError, ErrorBody};
pub use scope::Scope;
pub use workspace::{Workspace, compute};

use axum::Router;
use axum::routing::{get, post};
use pipewise_state::StateDb;
use std::sync::{Arc, Mutex};
use utoipa::OpenApi;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "pipewise", description = "Revenue analytics over a pipeline ledger: every number as of any day, scoped by role."),
    paths(
        routes::session::login,
        routes::session::logout,
        routes::session::me,
        routes::session::period,
        routes::views::list,
        routes::views::save,
        routes::views::delete,
        routes::deals::deals,
        routes::deals::history,
        routes::deals::scores,
        routes::metrics::list,
        routes::metrics::value,
        routes::metrics::explain,
        routes::metrics::scorecard,
        routes::metrics::velocity,
        routes::pipeline::funnel,
        routes::pipeline::cohort,
        routes::pipeline::flow,
        routes::people::people,
        routes::leads::leads,
        routes::forecast::forecast,
        routes::forecast::backtest,
        routes::jobs::start_backtest,
        routes::ingest::start_ingest,
        routes::jobs::list,
        routes::jobs::get,
        routes::submissions::list,
        routes::submissions::submit,
        routes::submissions::bias,
        routes::submissions::scored,
        routes::submissions::debiased,
        routes::quality::quality,
        routes::quality::quarantine,
        routes::quality::changes,
        routes::admin::users,
        routes::admin::audit,
        openapi_json,
        health,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "session", description = "Logging in and out"),
        (name = "deals", description = "Deals as of a day"),
        (name = "metrics", description = "Metrics as code, in the caller's scope"),
        (name = "pipeline", description = "The funnel and the waterfall, in the caller's scope"),
        (name = "forecast", description = "Forecasts and forecast calls"),
        (name = "leads", description = "Lead scores, lift and routing SLAs, in the caller's scope"),
        (name = "quality", description = "What each ingest landed and quarantined, and how complete the deals are"),
        (name = "admin", description = "Users and the audit log (admins only)"),
        (name = "meta", description = "The API itself"),
    )
)]
pub struct ApiDoc;

/// What every handler shares (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The state behind [`AppState`].
pub struct Inner {
    /// The app state database.
    pub db: StateDb,
    /// The workspace served.
    pub workspace: Arc<Workspace>,
    /// Failed logins.
    pub limiter: Mutex<auth::LoginLimiter>,
    /// How long a session lasts (s).
    pub session_secs: i64,
    /// A hash to verify against for unknown logins (timing).
    pub dummy_hash: String,
    /// Long work started from the browser.
    pub jobs: Mutex<routes::jobs::Jobs>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// The state for `workspace` with app state `db`; sessions last
    /// `session_secs`.
    pub fn new(db: StateDb, workspace: Workspace, session_secs: i64) -> Result<AppState, ApiError> {
        Ok(AppState {
            inner: Arc::new(Inner {
                db,
                workspace: Arc::new(workspace),
                limiter: Mutex::new(auth::LoginLimiter::default()),
                session_secs,
                jobs: Mutex::new(routes::jobs::Jobs::default()),
                dummy_hash: pipewise_state::hash_password("no such user, no such password")
                    .map_err(ApiError::internal)?,
            }),
        })
    }

    /// The workspace's current version (reloaded off the HTTP runtime when
    /// a commit landed).
    pub async fn loaded(&self) -> Result<Arc<workspace::Loaded>, ApiError> {
        // (the usual case, a read of CURRENT, needs no hop to the pool)
        if let Some(c) = self.workspace.fresh() {
            return Ok(c);
        }
        let ws = self.workspace.clone();
        compute(move || ws.get())
            .await
            .ok_or_else(|| ApiError::internal("loading the workspace was cancelled"))?
            .map_err(ApiError::internal)
    }
}

/// The OpenAPI 3.1 document of every route.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Whether the server is up (no data).
#[utoipa::path(get, path = "/api/health", tag = "meta",
    responses((status = 200, description = "Up")))]
pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; the routes are in /api/openapi.json",
        uri.path()
    ))
}

/// The whole app.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/session",
            post(routes::session::login).delete(routes::session::logout),
        )
        .route("/api/me", get(routes::session::me))
        .route("/api/period", get(routes::session::period))
        .route(
            "/api/views",
            get(routes::views::list).post(routes::views::save),
        )
        .route(
            "/api/views/{id}",
            axum::routing::delete(routes::views::delete),
        )
        .route("/api/deals", get(routes::deals::deals))
        .route("/api/deals/scores", get(routes::deals::scores))
        .route("/api/deals/{id}/history", get(routes::deals::history))
        .route("/api/metrics", get(routes::metrics::list))
        .route("/api/metrics/{name}", get(routes::metrics::value))
        .route("/api/metrics/{name}/explain", get(routes::metrics::explain))
        .route("/api/scorecard", get(routes::metrics::scorecard))
        .route("/api/velocity", get(routes::metrics::velocity))
        .route("/api/people", get(routes::people::people))
        .route("/api/leads", get(routes::leads::leads))
        .route("/api/funnel", get(routes::pipeline::funnel))
        .route("/api/funnel/deals", get(routes::pipeline::cohort))
        .route("/api/flow", get(routes::pipeline::flow))
        .route("/api/forecast", get(routes::forecast::forecast))
        .route("/api/backtest", get(routes::forecast::backtest))
        .route("/api/jobs", get(routes::jobs::list))
        .route("/api/jobs/backtest", post(routes::jobs::start_backtest))
        .route(
            "/api/jobs/ingest",
            post(routes::ingest::start_ingest).layer(axum::extract::DefaultBodyLimit::max(
                routes::ingest::MAX_UPLOAD,
            )),
        )
        .route("/api/jobs/{id}", get(routes::jobs::get))
        .route("/api/submissions/bias", get(routes::submissions::bias))
        .route("/api/submissions/scored", get(routes::submissions::scored))
        .route(
            "/api/submissions/debiased",
            get(routes::submissions::debiased),
        )
        .route("/api/quality", get(routes::quality::quality))
        .route("/api/quality/quarantine", get(routes::quality::quarantine))
        .route("/api/quality/changes", get(routes::quality::changes))
        .route(
            "/api/submissions",
            get(routes::submissions::list).post(routes::submissions::submit),
        )
        .route("/api/users", get(routes::admin::users))
        .route("/api/audit", get(routes::admin::audit))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/health", get(health))
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .fallback(no_route);
    // (answers kept per version sit inside authentication and audit)
    api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        answers::cached,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ))
    .layer(tower_http::trace::TraceLayer::new_for_http())
    .with_state(state)
}

/// Serve `state` on `listener` until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
