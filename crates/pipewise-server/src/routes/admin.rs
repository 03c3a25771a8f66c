//! What only admins see: the users and the audit log.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_state::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn admin_only(p: &Principal) -> ApiResult<()> {
    if p.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only an admin may do this; {} is {}",
            p.user.login,
            p.user.role.as_str()
        )))
    }
}

/// A user, as admins see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRow {
    /// Login.
    pub login: String,
    /// Role.
    pub role: String,
    /// The CRM user they are.
    pub owner_id: Option<String>,
    /// Disabled.
    pub disabled: bool,
    /// Added (RFC 3339).
    pub created_at: String,
}

/// Every user.
#[utoipa::path(get, path = "/api/users", tag = "admin",
    responses((status = 200, body = [UserRow]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn users(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    admin_only(&p)?;
    let rows: Vec<UserRow> = app
        .db
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            login: u.login,
            role: u.role.as_str().into(),
            owner_id: u.owner_id,
            disabled: u.disabled,
            created_at: pipewise_model::time::format_timestamp(u.created_at),
        })
        .collect();
    Ok(Json(rows).into_response())
}

/// Which audit lines.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// After this seq (default: from the start).
    pub after: Option<i64>,
    /// At most this many (default 1,000, at most 100,000).
    pub limit: Option<i64>,
    /// `json` (default) or `csv` (a download).
    pub format: Option<String>,
}

/// A line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRow {
    /// Its number.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub login: Option<String>,
    /// Their role.
    pub role: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The scope answered in.
    pub scope: Option<String>,
    /// HTTP status.
    pub status: i64,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The audit log: every read and write, who, what, scope, when.
#[utoipa::path(get, path = "/api/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = [AuditRow]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    admin_only(&p)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 100_000);
    let rows: Vec<AuditRow> = app
        .db
        .audit_log(q.after.unwrap_or(0), limit)
        .await?
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            at: pipewise_model::time::format_timestamp(e.at),
            login: e.login,
            role: e.role,
            method: e.method,
            target: e.target,
            scope: e.scope,
            status: e.status,
        })
        .collect();
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => {
            let mut s = String::from("seq,at,login,role,method,target,scope,status\n");
            for r in &rows {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    r.seq,
                    r.at,
                    csv_field(r.login.as_deref().unwrap_or("")),
                    csv_field(r.role.as_deref().unwrap_or("")),
                    r.method,
                    csv_field(&r.target),
                    csv_field(r.scope.as_deref().unwrap_or("")),
                    r.status
                ));
            }
            let mut r = s.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.csv\""),
            );
            Ok(r)
        }
        Some(f) => Err(ApiError::bad_request(format!("format={f:?}: json or csv"))),
    }
}
