//! Logging in and out, and who one is.

use crate::auth::{CSRF_COOKIE, Principal, SESSION_COOKIE, Via, now};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::{AppState, AuditScope};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use pipewise_state::{new_token, token_hash, verify_password};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    /// The login.
    pub login: String,
    /// The password.
    pub password: String,
}

/// A new session. The session itself is the HttpOnly cookie
/// `pipewise_session`; send `csrf_token` back as `X-CSRF-Token` on every
/// state-changing request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// Who.
    pub login: String,
    /// Their role.
    pub role: String,
    /// The CRM user they are.
    pub owner_id: Option<String>,
    /// The CSRF token.
    pub csrf_token: String,
    /// When the session expires (RFC 3339).
    pub expires_at: String,
}

/// Who one is and what one sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The login.
    pub login: String,
    /// The role.
    pub role: String,
    /// The CRM user they are.
    pub owner_id: Option<String>,
    /// Their scope, in words.
    pub scope: String,
    /// How many CRM users' deals they see (`null`: everyone's).
    pub owners_in_scope: Option<usize>,
    /// The day of the ledger's latest change (the pages' default as-of day).
    pub data_through: String,
    /// The fiscal quarter holding that day (the pages' default period).
    pub quarter: String,
}

fn set_cookie(name: &str, value: &str, max_age: i64, http_only: bool) -> HeaderValue {
    let v = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; Secure; SameSite=Strict{}",
        if http_only { "; HttpOnly" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// Log in: sets the session cookie.
#[utoipa::path(post, path = "/api/session", tag = "session", request_body = Login,
    responses(
        (status = 200, description = "Logged in", body = SessionInfo),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins", body = ErrorBody)))]
pub async fn login(State(app): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let l: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not {{\"login\": …, \"password\": …}}: {e}"
        ))
    })?;
    let t = now();
    let key = format!("login:{}", l.login);
    if let Some(wait) = app.limiter.lock().ok().and_then(|mut m| m.wait(&key, t)) {
        return Err(ApiError::too_many_attempts(wait));
    }
    let found = app.db.credentials(&l.login).await?;
    // verify even for an unknown login, so timing does not tell logins apart
    let hash = found
        .as_ref()
        .map_or_else(|| app.dummy_hash.clone(), |(_, h)| h.clone());
    let password = l.password.clone();
    let ok = crate::compute(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match found {
        Some((u, _)) if ok && !u.disabled => u,
        _ => {
            if let Ok(mut m) = app.limiter.lock() {
                m.fail(&key, t);
            }
            return Err(ApiError::bad_credentials());
        }
    };
    if let Ok(mut m) = app.limiter.lock() {
        m.clear(&key);
    }
    let token = new_token("pws_");
    let csrf = new_token("");
    let expires = t + app.session_secs * 1_000_000;
    app.db
        .create_session(&user.login, &token_hash(&token), &csrf, t, expires)
        .await?;
    let info = SessionInfo {
        login: user.login.clone(),
        role: user.role.as_str().into(),
        owner_id: user.owner_id.clone(),
        csrf_token: csrf.clone(),
        expires_at: pipewise_model::time::format_timestamp(expires),
    };
    let mut r = Json(info).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, app.session_secs, true),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, &csrf, app.session_secs, false),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.extensions_mut().insert(user);
    Ok(r)
}

/// Log out: revokes the session and clears its cookies.
#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 204, description = "Logged out"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logout(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    if let Via::Session { token_hash, .. } = &p.via {
        app.db.revoke_session(token_hash, now()).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, true));
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, "", 0, false));
    Ok(r)
}

/// Who the caller is and what they see.
#[utoipa::path(get, path = "/api/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let me = Me {
        login: p.user.login.clone(),
        role: p.user.role.as_str().into(),
        owner_id: p.user.owner_id.clone(),
        scope: scope.describe(),
        owners_in_scope: match &scope {
            crate::Scope::Everything => None,
            crate::Scope::Owners(o) => Some(o.len()),
        },
        data_through: pipewise_model::time::format_date(pipewise_model::time::date_of(ws.latest)),
        quarter: pipewise_forecast::calendar::quarter_at(
            ws.latest,
            ws.process.fiscal_year_start_month(),
            &ws.calendar,
        )
        .label,
    };
    let mut r = Json(me).into_response();
    r.extensions_mut().insert(AuditScope(scope.describe()));
    Ok(r)
}

/// Which day's quarter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PeriodQuery {
    /// The day (default: the ledger's latest change).
    pub as_of: Option<String>,
}

/// A fiscal quarter.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodInfo {
    /// Its label (2026-Q2, or FY2027-Q1 where the fiscal year is named by its end).
    pub quarter: String,
    /// Its first day.
    pub first: String,
    /// Its last day.
    pub last: String,
}

/// The fiscal quarter holding a day (the pages' default period).
#[utoipa::path(get, path = "/api/period", tag = "session", params(PeriodQuery),
    responses((status = 200, body = PeriodInfo), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn period(
    State(app): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<PeriodQuery>,
) -> ApiResult<Json<PeriodInfo>> {
    let ws = app.loaded().await?;
    let at = match &q.as_of {
        None => ws.latest,
        Some(s) => crate::routes::deals::instant(Some(s), "as_of")?,
    };
    let quarter = pipewise_forecast::calendar::quarter_at(
        at,
        ws.process.fiscal_year_start_month(),
        &ws.calendar,
    );
    Ok(Json(PeriodInfo {
        first: pipewise_model::time::format_date(quarter.first),
        last: pipewise_model::time::format_date(quarter.last),
        quarter: quarter.label,
    }))
}
