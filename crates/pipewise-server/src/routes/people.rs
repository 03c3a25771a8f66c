//! The CRM users in the caller's scope: names for owner ids, and the teams
//! a page may narrow to (`under`).

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::routes::metrics::audited;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

/// A CRM user.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRow {
    /// The CRM user id (deals' `owner_id`).
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their manager's id.
    pub manager_id: Option<String>,
    /// Their team.
    pub team: Option<String>,
    /// Their segment.
    pub segment: Option<String>,
    /// Whether anyone reports to them (a team to narrow to).
    pub manages: bool,
}

/// The CRM users in the caller's scope, by id.
#[utoipa::path(get, path = "/api/people", tag = "deals",
    responses((status = 200, body = [PersonRow]), (status = 401, body = ErrorBody)))]
pub async fn people(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let ws = app.loaded().await?;
    let scope = ws.scope(&p.user);
    let rows: Vec<PersonRow> = ws
        .org
        .people()
        .filter(|x| scope.admits(Some(&x.id)))
        .map(|x| PersonRow {
            id: x.id.clone(),
            name: x.name.clone(),
            manager_id: x.manager.clone(),
            team: x.team.clone(),
            segment: x.segment.clone(),
            manages: ws.org.manages(&x.id),
        })
        .collect();
    Ok(audited(rows, scope.describe()))
}
