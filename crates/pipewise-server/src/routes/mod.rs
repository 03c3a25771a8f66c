//! The API's routes, one module per resource.

pub mod admin;
pub mod deals;
pub mod forecast;
pub mod ingest;
pub mod jobs;
pub mod leads;
pub mod metrics;
pub mod people;
pub mod pipeline;
pub mod quality;
pub mod session;
pub mod submissions;
pub mod views;

/// A fiscal quarter named in a query (`2026-Q2`, or its first..last days);
/// `what` names the parameter in the error.
pub fn fiscal_quarter(
    ws: &crate::workspace::Loaded,
    p: &str,
    what: &str,
) -> crate::error::ApiResult<pipewise_forecast::calendar::Quarter> {
    let fsm = ws.process.fiscal_year_start_month();
    let (first, last) =
        pipewise_model::time::parse_period_in(p, fsm, &ws.calendar).ok_or_else(|| {
            crate::ApiError::bad_request(format!("{what}={p:?}: a fiscal quarter like 2026-Q2"))
        })?;
    let q = pipewise_forecast::calendar::Quarter::containing(first, fsm, &ws.calendar);
    if q.first != first || q.last != last {
        return Err(crate::ApiError::bad_request(format!(
            "{what}={p:?}: not a fiscal quarter; {} is",
            q.label
        )));
    }
    Ok(q)
}

/// The scope of a request: the caller's, narrowed to the subtree under
/// `under` when asked (a team filter; 403 outside the caller's scope), and
/// the CRM user the metric layer's `under` takes (`None`: everything).
pub fn request_scope(
    ws: &crate::workspace::Loaded,
    p: &crate::Principal,
    under: Option<&str>,
) -> crate::error::ApiResult<(crate::Scope, Option<String>)> {
    let scope = ws.scope(&p.user);
    match under.filter(|u| !u.is_empty()) {
        None => {
            let root = match &scope {
                crate::Scope::Everything => None,
                crate::Scope::Owners(_) => p.user.owner_id.clone(),
            };
            Ok((scope, root))
        }
        Some(u) => match scope.narrow(u, &ws.org) {
            Some(s) => Ok((s, Some(u.to_string()))),
            None => Err(crate::ApiError::forbidden(format!(
                "under={u:?}: not someone in your scope ({})",
                scope.describe()
            ))),
        },
    }
}
