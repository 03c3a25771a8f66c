//! Sales-process configuration: ordered stages, stage → forecast category,
//! the qualified-opportunity (SAL) proxy stage, won and lost stages, and the
//! fiscal year's first month. Read from TOML (`pipewise.toml` in a workspace).

use serde::Deserialize;
use std::collections::HashMap;

/// Forecast categories as seed 004 maps them to buyer phases: Conversations =
/// pipeline, Funded Projects = best case, Vendor-of-Choice negotiations =
/// commit, then closed. `Omitted` holds closed-lost and disqualified deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    Pipeline,
    BestCase,
    Commit,
    Closed,
    Omitted,
}

impl ForecastCategory {
    pub const ALL: [ForecastCategory; 5] = [
        ForecastCategory::Pipeline,
        ForecastCategory::BestCase,
        ForecastCategory::Commit,
        ForecastCategory::Closed,
        ForecastCategory::Omitted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Closed => "closed",
            ForecastCategory::Omitted => "omitted",
        }
    }

    pub fn parse(s: &str) -> Option<ForecastCategory> {
        ForecastCategory::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Map CRM spellings: Salesforce's "Best Case", "BestCase", "Commit",
    /// "Forecast", "Closed", "Omitted", "Pipeline"; HubSpot's "Not forecasted"
    /// (`OMIT`), "Best case" (`BEST_CASE`), "Closed won" (`CLOSED`).
    pub fn parse_loose(s: &str) -> Option<ForecastCategory> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match norm.as_str() {
            "pipeline" => Some(ForecastCategory::Pipeline),
            "bestcase" | "upside" => Some(ForecastCategory::BestCase),
            "commit" | "forecast" | "mostlikely" => Some(ForecastCategory::Commit),
            "closed" | "closedwon" => Some(ForecastCategory::Closed),
            "omitted" | "omit" | "closedlost" | "notforecasted" => Some(ForecastCategory::Omitted),
            _ => None,
        }
    }
}

/// What reaching a stage means for the deal's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    #[default]
    Open,
    Won,
    Lost,
}

/// One stage of a sales process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    pub forecast_category: ForecastCategory,
    /// Default probability in percent (0–100), as Salesforce stores it.
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub outcome: StageOutcome,
    /// Other spellings of this stage found in source data ("Closed/Won", "Prospecting").
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    #[serde(default = "default_fiscal")]
    fiscal_year_start_month: u32,
    qualified_stage: String,
    stages: Vec<Stage>,
}

fn default_fiscal() -> u32 {
    1
}

/// A validated sales process. Stage order is the order of the `stages` list;
/// stage codes are indexes into it.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesProcess {
    stages: Vec<Stage>,
    qualified: usize,
    fiscal_year_start_month: u32,
    lookup: HashMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The process `pipewise init` writes: seed 004's buyer phases with two stages
/// each (Conversations: Qualification, Discovery; Funded Projects: Proposal;
/// VOC negotiations: Negotiation, Redlining).
pub const DEFAULT_PROCESS_TOML: &str = r#"# pipewise sales process. Stages are listed in order; forecast categories follow
# seed 004: conversations = pipeline, funded projects = best_case,
# vendor-of-choice negotiations = commit.
fiscal_year_start_month = 1
# The stage that proxies a sales-accepted lead (SAL): close and win rates only
# count deals that reached it (seed 004).
qualified_stage = "Discovery"

[[stages]]
name = "Qualification"
forecast_category = "pipeline"
probability = 10
aliases = ["Prospecting", "Qualify", "Appointment Scheduled", "appointmentscheduled"]

[[stages]]
name = "Discovery"
forecast_category = "pipeline"
probability = 20
aliases = ["Needs Analysis", "Value Proposition", "Qualified To Buy", "qualifiedtobuy"]

[[stages]]
name = "Proposal"
forecast_category = "best_case"
probability = 40
aliases = ["Proposal/Price Quote", "Id. Decision Makers", "Perception Analysis", "Presentation Scheduled", "presentationscheduled"]

[[stages]]
name = "Negotiation"
forecast_category = "commit"
probability = 70
aliases = ["Negotiation/Review", "Decision Maker Bought-In", "decisionmakerboughtin"]

[[stages]]
name = "Redlining"
forecast_category = "commit"
probability = 90
aliases = ["Contract Sent", "contractsent"]

[[stages]]
name = "Closed Won"
forecast_category = "closed"
probability = 100
outcome = "won"
aliases = ["Won", "Closed/Won", "closedwon"]

[[stages]]
name = "Closed Lost"
forecast_category = "omitted"
probability = 0
outcome = "lost"
aliases = ["Lost", "Closed/Lost", "closedlost"]
"#;

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

impl SalesProcess {
    /// Parse and validate a process definition. `path` names the file in errors.
    pub fn from_toml(text: &str, path: &str) -> Result<SalesProcess, ProcessError> {
        let raw: RawProcess = toml::from_str(text).map_err(|e| ProcessError::Toml {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |message: String| ProcessError::Invalid {
            path: path.to_string(),
            message,
        };
        if !(1..=12).contains(&raw.fiscal_year_start_month) {
            return Err(invalid(format!(
                "fiscal_year_start_month must be 1-12, got {}",
                raw.fiscal_year_start_month
            )));
        }
        if raw.stages.is_empty() {
            return Err(invalid(
                "no stages: add at least one [[stages]] table".into(),
            ));
        }
        let mut lookup = HashMap::new();
        for (i, s) in raw.stages.iter().enumerate() {
            if s.name.trim().is_empty() {
                return Err(invalid(format!("stage #{} has an empty name", i + 1)));
            }
            if let Some(p) = s.probability
                && !(0.0..=100.0).contains(&p)
            {
                return Err(invalid(format!(
                    "stage {:?}: probability is a percentage 0-100, got {p}",
                    s.name
                )));
            }
            for n in std::iter::once(&s.name).chain(s.aliases.iter()) {
                if lookup.insert(norm(n), i).is_some() {
                    return Err(invalid(format!(
                        "stage name or alias {n:?} is used twice; each spelling must map to one stage"
                    )));
                }
            }
        }
        if !raw.stages.iter().any(|s| s.outcome == StageOutcome::Won) {
            return Err(invalid(
                "no won stage: mark one stage with outcome = \"won\"".into(),
            ));
        }
        if !raw.stages.iter().any(|s| s.outcome == StageOutcome::Lost) {
            return Err(invalid(
                "no lost stage: mark one stage with outcome = \"lost\"".into(),
            ));
        }
        let qualified = *lookup.get(&norm(&raw.qualified_stage)).ok_or_else(|| {
            invalid(format!(
                "qualified_stage {:?} is not one of the stages",
                raw.qualified_stage
            ))
        })?;
        Ok(SalesProcess {
            stages: raw.stages,
            qualified,
            fiscal_year_start_month: raw.fiscal_year_start_month,
            lookup,
        })
    }

    /// The built-in default process.
    pub fn default_process() -> SalesProcess {
        match SalesProcess::from_toml(DEFAULT_PROCESS_TOML, "<built-in>") {
            Ok(p) => p,
            Err(e) => panic!("built-in process is invalid: {e}"),
        }
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    pub fn stage(&self, code: usize) -> Option<&Stage> {
        self.stages.get(code)
    }

    /// Stage code for a name or alias (case-insensitive, trimmed).
    pub fn stage_code(&self, name: &str) -> Option<usize> {
        self.lookup.get(&norm(name)).copied()
    }

    /// Every name and alias a stage is known by (trimmed, lower-case), with its code.
    pub fn stage_names(&self) -> impl Iterator<Item = (&str, usize)> {
        self.lookup.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Canonical stage name for a name or alias.
    pub fn canonical_stage(&self, name: &str) -> Option<&str> {
        self.stage_code(name).map(|i| self.stages[i].name.as_str())
    }

    pub fn qualified_stage(&self) -> usize {
        self.qualified
    }

    pub fn fiscal_year_start_month(&self) -> u32 {
        self.fiscal_year_start_month
    }

    pub fn won_stage(&self) -> usize {
        self.stages
            .iter()
            .position(|s| s.outcome == StageOutcome::Won)
            .unwrap_or(0)
    }

    pub fn lost_stage(&self) -> usize {
        self.stages
            .iter()
            .position(|s| s.outcome == StageOutcome::Lost)
            .unwrap_or(0)
    }

    /// The first open stage in process order: where a deal is taken to be
    /// before its first recorded stage when that one is already closed.
    pub fn first_open_stage(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.outcome == StageOutcome::Open)
    }

    pub fn outcome(&self, code: usize) -> StageOutcome {
        self.stages.get(code).map(|s| s.outcome).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_process_is_valid() {
        let p = SalesProcess::default_process();
        assert_eq!(p.stages().len(), 7);
        assert_eq!(p.canonical_stage("closed/won"), Some("Closed Won"));
        assert_eq!(p.canonical_stage("  Prospecting "), Some("Qualification"));
        assert_eq!(p.stages()[p.qualified_stage()].name, "Discovery");
        assert_eq!(p.outcome(p.won_stage()), StageOutcome::Won);
        assert_eq!(p.stage_code("nope"), None);
    }

    #[test]
    fn invalid_processes_say_why() {
        let err = SalesProcess::from_toml("qualified_stage = \"X\"\nstages = []", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml: no stages"), "{err}");
        let bad = DEFAULT_PROCESS_TOML.replace(
            "qualified_stage = \"Discovery\"",
            "qualified_stage = \"Demo\"",
        );
        let err = SalesProcess::from_toml(&bad, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"Demo\" is not one of the stages"), "{err}");
        let err = SalesProcess::from_toml("qualified_stage = 3", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn loose_forecast_categories() {
        assert_eq!(
            ForecastCategory::parse_loose("Best Case"),
            Some(ForecastCategory::BestCase)
        );
        assert_eq!(
            ForecastCategory::parse_loose("Omitted"),
            Some(ForecastCategory::Omitted)
        );
        assert_eq!(ForecastCategory::parse_loose("??"), None);
        // HubSpot's labels and internal values
        for (raw, want) in [
            ("Not forecasted", ForecastCategory::Omitted),
            ("OMIT", ForecastCategory::Omitted),
            ("Best case", ForecastCategory::BestCase),
            ("BEST_CASE", ForecastCategory::BestCase),
            ("Closed won", ForecastCategory::Closed),
            ("CLOSED", ForecastCategory::Closed),
            ("COMMIT", ForecastCategory::Commit),
        ] {
            assert_eq!(ForecastCategory::parse_loose(raw), Some(want), "{raw}");
        }
    }
}
