//! Saved views: a user's pages with their filters (the address after `#`),
//! kept in the app state. Each user sees and deletes only their own.

use crate::AppState;
use crate::auth::{AuditScope, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A saved view.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewRow {
    /// Its number.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The page and filters, e.g. `/pipeline?period=2026-Q1&as_of=2026-03-31`.
    pub path: String,
    /// When it was saved.
    pub created_at: String,
}

fn row(v: pipewise_state::SavedView) -> ViewRow {
    ViewRow {
        id: v.id,
        name: v.name,
        path: v.path,
        created_at: pipewise_model::time::format_timestamp(v.created_at),
    }
}

fn own(r: impl IntoResponse) -> Response {
    let mut r = r.into_response();
    r.extensions_mut().insert(AuditScope("own views".into()));
    r
}

/// The caller's saved views, by name.
#[utoipa::path(get, path = "/api/views", tag = "session",
    responses((status = 200, body = [ViewRow]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let rows: Vec<ViewRow> = app
        .db
        .views(&p.user.login)
        .await?
        .into_iter()
        .map(row)
        .collect();
    Ok(own(Json(rows)))
}

/// A view to save.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewView {
    /// Its name (1–80 characters, unique among the caller's views).
    pub name: String,
    /// The page and filters: a path starting with `/` (what follows `#` in the address).
    pub path: String,
}

/// Save a view. Needs the `X-CSRF-Token` header with a session.
#[utoipa::path(post, path = "/api/views", tag = "session", request_body = NewView,
    responses((status = 201, body = ViewRow), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn save(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let v: NewView = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not {{\"name\", \"path\"}}: {e}"))
    })?;
    let name = v.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::bad_request("name: 1 to 80 characters"));
    }
    if !v.path.starts_with('/') || v.path.len() > 2000 || v.path.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "path: the page and its filters, starting with / (e.g. /pipeline?as_of=2026-03-31), at most 2000 characters",
        ));
    }
    let saved = app
        .db
        .save_view(&p.user.login, name, &v.path, crate::auth::now())
        .await?;
    Ok(own((StatusCode::CREATED, Json(row(saved)))))
}

/// Delete one of the caller's views.
#[utoipa::path(delete, path = "/api/views/{id}", tag = "session",
    params(("id" = i64, Path, description = "The view's number")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    if app.db.delete_view(&p.user.login, id).await? {
        Ok(own(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::not_found(format!("you have no view {id}")))
    }
}
