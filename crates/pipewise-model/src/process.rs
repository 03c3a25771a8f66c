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
#[allow(missing_docs)] // the categories are seed 004's, named as there
pub enum ForecastCategory {
    Pipeline,
    BestCase,
    Commit,
    Closed,
    Omitted,
}

impl ForecastCategory {
    /// Every forecast category, from most to least committed.
    pub const ALL: [ForecastCategory; 5] = [
        ForecastCategory::Pipeline,
        ForecastCategory::BestCase,
        ForecastCategory::Commit,
        ForecastCategory::Closed,
        ForecastCategory::Omitted,
    ];

    /// The category's name in `pipewise.toml` and the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Closed => "closed",
            ForecastCategory::Omitted => "omitted",
        }
    }

    /// A category by its name in `pipewise.toml` and the tables.
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
#[allow(missing_docs)] // the outcomes are their names
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
    /// The stage's name as pipewise shows it.
    pub name: String,
    /// The category of deals in the stage without one of their own.
    pub forecast_category: ForecastCategory,
    /// Default probability in percent (0–100), as Salesforce stores it.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Open, won or lost.
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
    /// The name of the process the top-level stages form ("default").
    #[serde(default)]
    pipeline: Option<String>,
    /// Source names of that process (HubSpot pipeline labels or ids,
    /// Salesforce business process or record type names).
    #[serde(default)]
    pipeline_aliases: Vec<String>,
    #[serde(default)]
    qualified_stage: Option<String>,
    #[serde(default)]
    stages: Vec<Stage>,
    /// More sales processes, each with its own stages.
    #[serde(default)]
    pipelines: Vec<RawPipeline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    qualified_stage: String,
    stages: Vec<Stage>,
}

fn default_fiscal() -> u32 {
    1
}

/// The name the top-level stages' process has when `pipeline` does not name it.
pub const DEFAULT_PIPELINE: &str = "default";

/// One sales process (a HubSpot pipeline, a Salesforce record type's business
/// process): a contiguous run of the stage codes of a [`SalesProcess`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The process's name (`default` for a single one without).
    pub name: String,
    /// Source spellings that name this process.
    pub aliases: Vec<String>,
    /// Its stages: `first..end` of the workspace's stage codes.
    first: usize,
    end: usize,
    qualified: usize,
}

impl Pipeline {
    /// The stage codes of this process, in stage order.
    pub fn codes(&self) -> std::ops::Range<usize> {
        self.first..self.end
    }

    /// The code of its qualified (SAL-proxy) stage.
    pub fn qualified_stage(&self) -> usize {
        self.qualified
    }
}

/// The workspace's sales processes, validated. Every stage of every process
/// has one code (an index into [`SalesProcess::stages`]); the codes of one
/// process are contiguous and in its stage order. A workspace with no
/// `[[pipelines]]` has one process, named `default` (or `pipeline = "…"`).
#[derive(Debug, Clone, PartialEq)]
pub struct SalesProcess {
    stages: Vec<Stage>,
    /// Per stage code: its process.
    stage_pipeline: Vec<usize>,
    pipelines: Vec<Pipeline>,
    fiscal_year_start_month: u32,
    /// Per process: spelling → code.
    lookup: Vec<HashMap<String, usize>>,
    /// Spelling → process.
    pipeline_lookup: HashMap<String, usize>,
}

/// Why a `pipewise.toml` is invalid: the file and what to change.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // each variant is described by its #[error] message
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
        let top_level = !raw.stages.is_empty();
        let mut raws: Vec<RawPipeline> = Vec::new();
        match (raw.stages.is_empty(), raw.qualified_stage) {
            (false, Some(q)) => raws.push(RawPipeline {
                name: raw.pipeline.unwrap_or_else(|| DEFAULT_PIPELINE.to_string()),
                aliases: raw.pipeline_aliases,
                qualified_stage: q,
                stages: raw.stages,
            }),
            (false, None) => {
                return Err(invalid(
                    "qualified_stage is missing: name the stage that proxies a sales-accepted lead"
                        .into(),
                ));
            }
            (true, _) if raw.pipelines.is_empty() => {
                return Err(invalid(
                    "no stages: add at least one [[stages]] table".into(),
                ));
            }
            (true, _) => {}
        }
        raws.extend(raw.pipelines);
        let mut out = SalesProcess {
            stages: Vec::new(),
            stage_pipeline: Vec::new(),
            pipelines: Vec::new(),
            fiscal_year_start_month: raw.fiscal_year_start_month,
            lookup: Vec::new(),
            pipeline_lookup: HashMap::new(),
        };
        for (pi, rp) in raws.into_iter().enumerate() {
            let name = rp.name.clone();
            let multi = |m: String| {
                if pi == 0 && top_level {
                    m
                } else {
                    format!("pipeline {name:?}: {m}")
                }
            };
            if rp.name.trim().is_empty() {
                return Err(invalid(format!("pipeline #{} has an empty name", pi + 1)));
            }
            for n in std::iter::once(&rp.name).chain(rp.aliases.iter()) {
                if out.pipeline_lookup.insert(norm(n), pi).is_some() {
                    return Err(invalid(format!(
                        "pipeline name or alias {n:?} is used twice; each spelling must name one pipeline"
                    )));
                }
            }
            if rp.stages.is_empty() {
                return Err(invalid(multi(
                    "no stages: add at least one [[stages]] table".into(),
                )));
            }
            let first = out.stages.len();
            let mut lookup = HashMap::new();
            for (i, s) in rp.stages.iter().enumerate() {
                if s.name.trim().is_empty() {
                    return Err(invalid(multi(format!(
                        "stage #{} has an empty name",
                        i + 1
                    ))));
                }
                if let Some(p) = s.probability
                    && !(0.0..=100.0).contains(&p)
                {
                    return Err(invalid(multi(format!(
                        "stage {:?}: probability is a percentage 0-100, got {p}",
                        s.name
                    ))));
                }
                for n in std::iter::once(&s.name).chain(s.aliases.iter()) {
                    if lookup.insert(norm(n), first + i).is_some() {
                        return Err(invalid(multi(format!(
                            "stage name or alias {n:?} is used twice; each spelling must map to one stage"
                        ))));
                    }
                }
            }
            if !rp.stages.iter().any(|s| s.outcome == StageOutcome::Won) {
                return Err(invalid(multi(
                    "no won stage: mark one stage with outcome = \"won\"".into(),
                )));
            }
            if !rp.stages.iter().any(|s| s.outcome == StageOutcome::Lost) {
                return Err(invalid(multi(
                    "no lost stage: mark one stage with outcome = \"lost\"".into(),
                )));
            }
            let qualified = *lookup.get(&norm(&rp.qualified_stage)).ok_or_else(|| {
                invalid(multi(format!(
                    "qualified_stage {:?} is not one of the stages",
                    rp.qualified_stage
                )))
            })?;
            let n = rp.stages.len();
            out.stages.extend(rp.stages);
            out.stage_pipeline.extend(std::iter::repeat_n(pi, n));
            out.pipelines.push(Pipeline {
                name: rp.name.trim().to_string(),
                aliases: rp.aliases,
                first,
                end: first + n,
                qualified,
            });
            out.lookup.push(lookup);
        }
        Ok(out)
    }

    /// The built-in default process.
    pub fn default_process() -> SalesProcess {
        match SalesProcess::from_toml(DEFAULT_PROCESS_TOML, "<built-in>") {
            Ok(p) => p,
            Err(e) => panic!("built-in process is invalid: {e}"),
        }
    }

    /// Every stage of every process, in code order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The stage with this code.
    pub fn stage(&self, code: usize) -> Option<&Stage> {
        self.stages.get(code)
    }

    /// Stage code for a name or alias (case-insensitive, trimmed), in the
    /// first process that knows it (processes in file order).
    pub fn stage_code(&self, name: &str) -> Option<usize> {
        let k = norm(name);
        self.lookup.iter().find_map(|l| l.get(&k).copied())
    }

    /// Stage code for a name or alias in one process only.
    pub fn stage_code_in(&self, pipeline: usize, name: &str) -> Option<usize> {
        self.lookup.get(pipeline)?.get(&norm(name)).copied()
    }

    /// The stage a deal in `pipeline` (a process code; `None`: not known)
    /// with the stage `name` is in: that process's stage of that name, else
    /// the first process's that knows it. This is how the ledger's stage
    /// values are read everywhere (as-of, facts, flow, funnel).
    pub fn resolve_stage(&self, pipeline: Option<usize>, name: &str) -> Option<usize> {
        pipeline
            .and_then(|p| self.stage_code_in(p, name))
            .or_else(|| self.stage_code(name))
    }

    /// Every name and alias a stage is known by (trimmed, lower-case), with
    /// its code, process by process.
    pub fn stage_names(&self) -> impl Iterator<Item = (&str, usize)> {
        self.lookup
            .iter()
            .flat_map(|l| l.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Canonical stage name for a name or alias.
    pub fn canonical_stage(&self, name: &str) -> Option<&str> {
        self.stage_code(name).map(|i| self.stages[i].name.as_str())
    }

    /// The processes, in file order; the first is the default one (a deal
    /// with no known pipeline follows it).
    pub fn pipelines(&self) -> &[Pipeline] {
        &self.pipelines
    }

    /// Whether the workspace has more than one process.
    pub fn is_multi(&self) -> bool {
        self.pipelines.len() > 1
    }

    /// The process a source pipeline name or alias names (case-insensitive, trimmed).
    pub fn pipeline_code(&self, name: &str) -> Option<usize> {
        self.pipeline_lookup.get(&norm(name)).copied()
    }

    /// The process of a stage code.
    pub fn pipeline_of(&self, code: usize) -> usize {
        self.stage_pipeline.get(code).copied().unwrap_or(0)
    }

    /// A stage's name for people: `Pipeline: Stage` when the workspace has
    /// several processes, the stage name otherwise.
    pub fn stage_label(&self, code: usize) -> String {
        let name = self.stages.get(code).map_or("", |s| s.name.as_str());
        if self.is_multi() {
            format!("{}: {name}", self.pipelines[self.pipeline_of(code)].name)
        } else {
            name.to_string()
        }
    }

    /// The default process's qualified stage.
    pub fn qualified_stage(&self) -> usize {
        self.pipelines[0].qualified
    }

    /// Whether a deal in stage `code` has reached its process's qualified
    /// stage: that stage or a later one of the same process, and not lost
    /// (seed 004's SAL proxy).
    pub fn reaches_qualified(&self, code: usize) -> bool {
        let p = &self.pipelines[self.pipeline_of(code)];
        code >= p.qualified && code < p.end && self.outcome(code) != StageOutcome::Lost
    }

    /// The month the fiscal year starts in (1 = January).
    pub fn fiscal_year_start_month(&self) -> u32 {
        self.fiscal_year_start_month
    }

    /// The default process's (first) won stage.
    pub fn won_stage(&self) -> usize {
        self.won_stage_in(0)
    }

    /// The default process's (first) lost stage.
    pub fn lost_stage(&self) -> usize {
        self.lost_stage_in(0)
    }

    /// A process's first won stage.
    pub fn won_stage_in(&self, pipeline: usize) -> usize {
        self.first_with(pipeline, StageOutcome::Won).unwrap_or(0)
    }

    /// A process's first lost stage.
    pub fn lost_stage_in(&self, pipeline: usize) -> usize {
        self.first_with(pipeline, StageOutcome::Lost).unwrap_or(0)
    }

    fn first_with(&self, pipeline: usize, outcome: StageOutcome) -> Option<usize> {
        self.pipelines
            .get(pipeline)?
            .codes()
            .find(|&c| self.stages[c].outcome == outcome)
    }

    /// The first open stage of the default process: where a deal is taken to
    /// be before its first recorded stage when that one is already closed.
    pub fn first_open_stage(&self) -> Option<usize> {
        self.first_open_stage_in(0)
    }

    /// A process's first open stage.
    pub fn first_open_stage_in(&self, pipeline: usize) -> Option<usize> {
        self.first_with(pipeline, StageOutcome::Open)
    }

    /// Whether the stage with this code is open, won or lost.
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

    const TWO: &str = r#"
fiscal_year_start_month = 2
[[pipelines]]
name = "New Business"
aliases = ["default", "NB Process"]
qualified_stage = "Discovery"
[[pipelines.stages]]
name = "Discovery"
forecast_category = "pipeline"
probability = 20
[[pipelines.stages]]
name = "Negotiation"
forecast_category = "commit"
probability = 80
[[pipelines.stages]]
name = "Won"
forecast_category = "closed"
outcome = "won"
[[pipelines.stages]]
name = "Lost"
forecast_category = "omitted"
outcome = "lost"

[[pipelines]]
name = "Renewals"
qualified_stage = "Negotiation"
[[pipelines.stages]]
name = "Review"
forecast_category = "best_case"
[[pipelines.stages]]
name = "Negotiation"
forecast_category = "commit"
probability = 90
aliases = ["Renewal Negotiation"]
[[pipelines.stages]]
name = "Renewed"
forecast_category = "closed"
outcome = "won"
[[pipelines.stages]]
name = "Churned"
forecast_category = "omitted"
outcome = "lost"
"#;

    #[test]
    fn several_processes() {
        let p = SalesProcess::from_toml(TWO, "p.toml").unwrap();
        assert!(p.is_multi());
        assert_eq!(p.fiscal_year_start_month(), 2);
        assert_eq!(p.stages().len(), 8);
        assert_eq!(p.pipelines()[1].codes(), 4..8);
        assert_eq!(p.pipeline_code(" nb process "), Some(0));
        assert_eq!(p.pipeline_code("RENEWALS"), Some(1));
        assert_eq!(p.pipeline_code("Partners"), None);
        // One name, two stages: each process reads its own.
        assert_eq!(p.stage_code_in(0, "negotiation"), Some(1));
        assert_eq!(p.stage_code_in(1, "negotiation"), Some(5));
        assert_eq!(p.resolve_stage(Some(1), "Negotiation"), Some(5));
        // Unknown process, or a name its process lacks: the first that has it.
        assert_eq!(p.resolve_stage(None, "Negotiation"), Some(1));
        assert_eq!(p.resolve_stage(Some(0), "Renewal Negotiation"), Some(5));
        assert_eq!(p.resolve_stage(Some(1), "Discovery"), Some(0));
        assert_eq!(p.stage_label(5), "Renewals: Negotiation");
        // Qualification is per process: Review comes before Renewals' qualified stage.
        assert!(p.reaches_qualified(1) && p.reaches_qualified(5) && p.reaches_qualified(6));
        assert!(!p.reaches_qualified(4) && !p.reaches_qualified(7) && !p.reaches_qualified(3));
        assert_eq!(p.won_stage_in(1), 6);
        assert_eq!(p.lost_stage_in(1), 7);
        assert_eq!(p.first_open_stage_in(1), Some(4));
        assert_eq!(p.won_stage(), 2);
    }

    #[test]
    fn invalid_processes_name_their_pipeline() {
        // (the last stage of Renewals loses its outcome: no lost stage there)
        let bad = TWO
            .rsplit_once("outcome = \"lost\"")
            .map(|(a, b)| format!("{a}{b}"))
            .unwrap();
        let err2 = SalesProcess::from_toml(&bad, "p.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err2,
            "p.toml: pipeline \"Renewals\": no lost stage: mark one stage with outcome = \"lost\""
        );
        let dup = TWO.replace("name = \"Renewals\"", "name = \"NB Process\"");
        let err = SalesProcess::from_toml(&dup, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"NB Process\" is used twice"), "{err}");
        // A stage name may repeat across processes, not within one.
        let dup = TWO.replace("name = \"Review\"", "name = \"Churned\"");
        let err = SalesProcess::from_toml(&dup, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline \"Renewals\": stage name or alias \"Churned\" is used twice"),
            "{err}"
        );
        // Top-level stages need their qualified stage.
        let err = SalesProcess::from_toml(
            "[[stages]]\nname = \"A\"\nforecast_category = \"pipeline\"",
            "p.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("qualified_stage is missing"), "{err}");
    }

    #[test]
    fn the_top_level_process_can_be_named() {
        let t = DEFAULT_PROCESS_TOML.replace(
            "fiscal_year_start_month = 1",
            "fiscal_year_start_month = 1\npipeline = \"Sales Pipeline\"\npipeline_aliases = [\"default\"]",
        );
        let p = SalesProcess::from_toml(&t, "p.toml").unwrap();
        assert!(!p.is_multi());
        assert_eq!(p.pipelines()[0].name, "Sales Pipeline");
        assert_eq!(p.pipeline_code("default"), Some(0));
        assert_eq!(p.stage_label(0), "Qualification");
        assert_eq!(
            SalesProcess::default_process().pipelines()[0].name,
            DEFAULT_PIPELINE
        );
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
