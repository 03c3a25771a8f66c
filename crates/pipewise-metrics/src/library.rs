//! The metric library: the built-in definitions shipped in the binary
//! (`library/*.toml`), extended or overridden by a workspace's `metrics/`.

use crate::{Metric, MetricError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BUILT_IN: [(&str, &str); 47] = [
    (
        "average_cycle_days_all_closed.toml",
        include_str!("../library/average_cycle_days_all_closed.toml"),
    ),
    (
        "average_days_qualified_to_close.toml",
        include_str!("../library/average_days_qualified_to_close.toml"),
    ),
    (
        "average_sales_cycle_days.toml",
        include_str!("../library/average_sales_cycle_days.toml"),
    ),
    (
        "average_won_deal_size.toml",
        include_str!("../library/average_won_deal_size.toml"),
    ),
    (
        "booked_new_business.toml",
        include_str!("../library/booked_new_business.toml"),
    ),
    (
        "business_case_coverage.toml",
        include_str!("../library/business_case_coverage.toml"),
    ),
    (
        "churn_rate.toml",
        include_str!("../library/churn_rate.toml"),
    ),
    (
        "close_rate.toml",
        include_str!("../library/close_rate.toml"),
    ),
    (
        "close_rate_by_amount.toml",
        include_str!("../library/close_rate_by_amount.toml"),
    ),
    (
        "commit_not_redlining_share.toml",
        include_str!("../library/commit_not_redlining_share.toml"),
    ),
    (
        "created_and_won_in_period.toml",
        include_str!("../library/created_and_won_in_period.toml"),
    ),
    (
        "deal_velocity_funnel_days_per_win.toml",
        include_str!("../library/deal_velocity_funnel_days_per_win.toml"),
    ),
    (
        "discovery_calls_per_month.toml",
        include_str!("../library/discovery_calls_per_month.toml"),
    ),
    (
        "engaged_contacts_per_deal.toml",
        include_str!("../library/engaged_contacts_per_deal.toml"),
    ),
    (
        "enterprise_coverage.toml",
        include_str!("../library/enterprise_coverage.toml"),
    ),
    (
        "gap_coverage.toml",
        include_str!("../library/gap_coverage.toml"),
    ),
    (
        "lead_disqualification_rate.toml",
        include_str!("../library/lead_disqualification_rate.toml"),
    ),
    (
        "lead_no_response_rate.toml",
        include_str!("../library/lead_no_response_rate.toml"),
    ),
    (
        "lead_response_hours.toml",
        include_str!("../library/lead_response_hours.toml"),
    ),
    (
        "lead_to_sal_rate.toml",
        include_str!("../library/lead_to_sal_rate.toml"),
    ),
    (
        "meetings_per_week.toml",
        include_str!("../library/meetings_per_week.toml"),
    ),
    (
        "minutes_above_the_line_share.toml",
        include_str!("../library/minutes_above_the_line_share.toml"),
    ),
    (
        "open_deal_completeness.toml",
        include_str!("../library/open_deal_completeness.toml"),
    ),
    (
        "open_pipeline.toml",
        include_str!("../library/open_pipeline.toml"),
    ),
    (
        "pipeline_coverage.toml",
        include_str!("../library/pipeline_coverage.toml"),
    ),
    (
        "pipeline_created.toml",
        include_str!("../library/pipeline_created.toml"),
    ),
    (
        "qualified_opportunities.toml",
        include_str!("../library/qualified_opportunities.toml"),
    ),
    (
        "quota_attainment.toml",
        include_str!("../library/quota_attainment.toml"),
    ),
    (
        "renewal_rate.toml",
        include_str!("../library/renewal_rate.toml"),
    ),
    (
        "reps_at_quota_share.toml",
        include_str!("../library/reps_at_quota_share.toml"),
    ),
    (
        "required_coverage.toml",
        include_str!("../library/required_coverage.toml"),
    ),
    (
        "sal_to_sql_rate.toml",
        include_str!("../library/sal_to_sql_rate.toml"),
    ),
    (
        "seller_buyer_activity_ratio.toml",
        include_str!("../library/seller_buyer_activity_ratio.toml"),
    ),
    (
        "slippage_adjusted_close_rate.toml",
        include_str!("../library/slippage_adjusted_close_rate.toml"),
    ),
    (
        "slippage_adjusted_required_coverage.toml",
        include_str!("../library/slippage_adjusted_required_coverage.toml"),
    ),
    (
        "smb_coverage.toml",
        include_str!("../library/smb_coverage.toml"),
    ),
    (
        "sql_to_opportunity_rate.toml",
        include_str!("../library/sql_to_opportunity_rate.toml"),
    ),
    (
        "stage_weighted_pipeline_velocity.toml",
        include_str!("../library/stage_weighted_pipeline_velocity.toml"),
    ),
    (
        "weighted_coverage.toml",
        include_str!("../library/weighted_coverage.toml"),
    ),
    (
        "weighted_forecast_accuracy.toml",
        include_str!("../library/weighted_forecast_accuracy.toml"),
    ),
    (
        "weighted_forecast_bias.toml",
        include_str!("../library/weighted_forecast_bias.toml"),
    ),
    (
        "weighted_forecast_wape.toml",
        include_str!("../library/weighted_forecast_wape.toml"),
    ),
    (
        "weighted_pipeline.toml",
        include_str!("../library/weighted_pipeline.toml"),
    ),
    ("win_rate.toml", include_str!("../library/win_rate.toml")),
    (
        "win_rate_by_amount.toml",
        include_str!("../library/win_rate_by_amount.toml"),
    ),
    (
        "win_rate_with_business_case.toml",
        include_str!("../library/win_rate_with_business_case.toml"),
    ),
    (
        "win_rate_without_business_case.toml",
        include_str!("../library/win_rate_without_business_case.toml"),
    ),
];

/// The metrics available in a workspace: built-ins, overridden or extended by
/// `WORKSPACE/metrics/*.toml`.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// Every metric by name.
    pub metrics: BTreeMap<String, Metric>,
    /// What loading found worth saying: a workspace metric that replaces a
    /// built-in one.
    pub warnings: Vec<String>,
}

impl Library {
    /// The built-in metrics alone.
    pub fn built_in() -> Result<Library, MetricError> {
        let mut lib = Library::default();
        for (file, text) in BUILT_IN {
            let mut m = Metric::from_toml(text, &format!("built-in {file}"))?;
            m.origin = "built-in".into();
            lib.metrics.insert(m.name.clone(), m);
        }
        Ok(lib)
    }

    /// The built-ins and the workspace's own `metrics/*.toml`.
    pub fn load(workspace: &Path) -> Result<Library, MetricError> {
        let mut lib = Library::built_in()?;
        let dir = workspace.join("metrics");
        if dir.is_dir() {
            let rd = std::fs::read_dir(&dir).map_err(|e| MetricError::io(&dir, e))?;
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in rd {
                let p = entry.map_err(|e| MetricError::io(&dir, e))?.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    files.push(p);
                }
            }
            files.sort();
            for p in files {
                let text = std::fs::read_to_string(&p).map_err(|e| MetricError::io(&p, e))?;
                let m = Metric::from_toml(&text, &p.display().to_string())?;
                if let Some(old) = lib.metrics.get(&m.name) {
                    lib.warnings.push(format!(
                        "{}: metric {:?} replaces the {} one of that name",
                        p.display(),
                        m.name,
                        if old.origin == "built-in" {
                            "built-in"
                        } else {
                            "earlier workspace"
                        }
                    ));
                }
                lib.metrics.insert(m.name.clone(), m);
            }
        }
        Ok(lib)
    }

    /// A metric by name.
    pub fn get(&self, name: &str) -> Result<&Metric, MetricError> {
        self.metrics.get(name).ok_or_else(|| MetricError::Unknown {
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_file_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("library");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let built: Vec<String> = BUILT_IN.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(files, built);
    }

    #[test]
    fn built_ins_are_valid() {
        let lib = Library::built_in().unwrap();
        assert!(lib.metrics.contains_key("close_rate") && lib.metrics.contains_key("win_rate"));
        for m in lib.metrics.values() {
            crate::compile(
                m,
                &crate::MetricQuery {
                    by: vec!["owner".into()],
                    period: Some((20_000, 20_090)),
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
}
