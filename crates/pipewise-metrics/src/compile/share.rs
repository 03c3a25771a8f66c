//! Metrics that count owners (`share_at_or_above`): the metric per owner,
//! then per group the owners at or above the threshold.

use super::{MetricQuery, Mode, compile_group};
use crate::{Metric, MetricError};

/// A metric with `share_at_or_above`: the metric per owner (within the asked
/// groups), then per group the owners at or above the threshold over the
/// owners with a denominator. Same output columns as any quota metric.
pub(super) fn compile_share(
    m: &Metric,
    q: &MetricQuery,
    threshold: f64,
) -> Result<String, MetricError> {
    let mut per_owner = m.clone();
    per_owner.sql.share_at_or_above = None;
    let mut inner_q = q.clone();
    if !inner_q.by.iter().any(|d| d == "owner") {
        inner_q.by.push("owner".into());
    }
    let inner = compile_group(&[&per_owner], &inner_q, Mode::Aggregate)?.sql()?;
    let dbl = q.dialect.double();
    let dims: Vec<String> = q.by.iter().map(|d| format!("\"{d}\"")).collect();
    let (select_dims, group_by, order) = if dims.is_empty() {
        (String::new(), String::new(), String::new())
    } else {
        (
            format!("{}, ", dims.join(", ")),
            format!(" GROUP BY {}", dims.join(", ")),
            format!(
                " ORDER BY {}",
                (1..=dims.len())
                    .map(|i| format!("{i} ASC NULLS LAST"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    let has_quota = if m.sql.quota.is_some() {
        ", bool_or(has_quota) AS has_quota"
    } else {
        ""
    };
    Ok(format!(
        "SELECT {select_dims}\
         CAST(COUNT(CASE WHEN denominator > 0 AND numerator / denominator >= {threshold:?} THEN 1 END) AS {dbl}) AS numerator, \
         CAST(COUNT(CASE WHEN denominator > 0 THEN 1 END) AS {dbl}) AS denominator, \
         CAST(NULL AS BIGINT) AS excluded, CAST(COUNT(*) AS BIGINT) AS rows{has_quota} \
         FROM ({inner}) per_owner{group_by}{order}"
    ))
}
