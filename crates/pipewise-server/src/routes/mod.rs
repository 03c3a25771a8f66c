//! The API's routes, one module per resource.

pub mod admin;
pub mod deals;
pub mod forecast;
pub mod metrics;
pub mod session;
pub mod submissions;

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
