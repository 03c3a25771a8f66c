//! Answers kept per ledger version: a GET of a route whose answer is a pure
//! function of the ledger version, the caller's scope and the query is
//! computed once, then served from memory until a commit lands (the new
//! version starts with none). The audit log still gets every request (this
//! layer sits inside the authentication and audit one).
//!
//! Keyed by role, CRM user and the whole path and query: two users with the
//! same role and CRM user have the same scope; and by the change times of
//! what the kept routes read besides the ledger (the calls journal beside
//! the forecast, the saved backtest that picks its recommended method, the
//! trained lead and deal models), so a call, a backtest or a retrained model is seen
//! at once. Routes that read app state (saved views, jobs, the audit log)
//! are not kept.

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The routes whose answers are kept (path prefixes).
const KEPT: [&str; 12] = [
    "/api/deals",
    "/api/quality",
    "/api/submissions",
    "/api/velocity",
    "/api/metrics/",
    "/api/scorecard",
    "/api/funnel",
    "/api/flow",
    "/api/forecast",
    "/api/leads",
    "/api/people",
    "/api/period",
];

/// Not kept although under a kept prefix (none now: the trained models the
/// scores read are in the key).
const NOT_KEPT: [&str; 0] = [];

/// At most this many bytes of answers per version.
const BUDGET: usize = 512 << 20;

/// One kept answer.
#[derive(Clone)]
struct Kept {
    content_type: Option<HeaderValue>,
    scope: Option<AuditScope>,
    body: axum::body::Bytes,
}

/// The answers of one ledger version.
#[derive(Default)]
pub struct Answers {
    inner: Mutex<(HashMap<String, Kept>, VecDeque<String>, usize)>,
}

impl Answers {
    fn get(&self, key: &str) -> Option<Kept> {
        self.inner.lock().ok()?.0.get(key).cloned()
    }

    fn put(&self, key: String, kept: Kept) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let (map, order, bytes) = &mut *g;
        if kept.body.len() > BUDGET / 4 || map.contains_key(&key) {
            return;
        }
        *bytes += kept.body.len();
        order.push_back(key.clone());
        map.insert(key, kept);
        while *bytes > BUDGET {
            let Some(old) = order.pop_front() else { break };
            if let Some(k) = map.remove(&old) {
                *bytes -= k.body.len();
            }
        }
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.0.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn kept(path: &str) -> bool {
    KEPT.iter().any(|p| path.starts_with(p)) && !NOT_KEPT.iter().any(|p| path.starts_with(p))
}

fn respond(k: Kept) -> Response {
    let mut r = (StatusCode::OK, Body::from(k.body)).into_response();
    if let Some(ct) = k.content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(s) = k.scope {
        r.extensions_mut().insert(s);
    }
    r
}

/// The middleware: serve a kept answer, or compute it and keep it.
pub async fn cached(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if req.method() != Method::GET || !kept(&path) {
        return next.run(req).await;
    }
    let Some(p) = req.extensions().get::<Principal>().cloned() else {
        return next.run(req).await;
    };
    let Ok(ws) = app.loaded().await else {
        return next.run(req).await;
    };
    let key = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        side_stamp(app.workspace.dir()),
        p.user.role.as_str(),
        p.user.owner_id.as_deref().unwrap_or(""),
        req.uri()
            .path_and_query()
            .map_or(path.as_str(), |x| x.as_str())
    );
    if let Some(k) = ws.answers.get(&key) {
        return respond(k);
    }
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BUDGET).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the answer could not be read",
        )
            .into_response();
    };
    let k = Kept {
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        scope: parts.extensions.get::<AuditScope>().cloned(),
        body: bytes,
    };
    ws.answers.put(key, k.clone());
    respond(k)
}

/// The change times (ns) of what kept answers read besides the ledger: the
/// calls journal, the saved backtest, each trained model.
fn side_stamp(dir: &std::path::Path) -> String {
    let t = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    };
    let mut parts = vec![
        t(&dir.join("journals").join("submissions")),
        t(&dir.join("reports").join("backtest.json")),
    ];
    if let Ok(models) = std::fs::read_dir(dir.join("models")) {
        let mut m: Vec<(std::ffi::OsString, u128)> = models
            .filter_map(Result::ok)
            .map(|e| (e.file_name(), t(&e.path().join("model.json"))))
            .collect();
        m.sort();
        parts.extend(m.into_iter().map(|x| x.1));
    }
    parts
        .iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
