//! Metrics as code.
//!
//! A metric is a TOML file following seed 001's definition template (name,
//! purpose, formula, numerator, denominator, data source, cadence) plus owner,
//! unit, polarity, thresholds, and the SQL that computes it over
//! `deal_facts(as_of)`:
//!
//! ```toml
//! [sql]
//! population = "qualified AND is_closed"          # which deals count
//! period = "closed_at"                            # the time --period filters on
//! numerator = "CASE WHEN is_won THEN 1 ELSE 0 END"
//! denominator = "1"                               # optional: without it the value is the numerator
//! excluded = "…"                                  # optional: deals left out, reported
//! ```
//!
//! The built-in library ships in the binary (`library/*.toml`); files in a
//! workspace's `metrics/` folder add metrics or override built-ins by name.
//! [`evaluate`] compiles a definition with the requested dimensions, period and
//! as-of time into one SQL statement and runs it on the engine; every result
//! row carries the numerator and denominator next to the value.

pub mod funnel;
pub mod velocity;

use pipewise_engine::{CellValue, Engine};
use pipewise_model::Timestamp;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("{file}: {message}")]
    Definition { file: String, message: String },
    #[error("no metric named {name:?}; `pipewise metrics` lists them")]
    Unknown { name: String },
    #[error("{0}")]
    Query(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ratio,
    Currency,
    Count,
    Days,
    Hours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub green: f64,
    pub amber: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSql {
    pub population: String,
    /// The time column `--period` filters on; `none` when the expressions use
    /// `{period_start}` / `{period_end}` and the `start_*` columns themselves.
    pub period: String,
    pub numerator: String,
    #[serde(default)]
    pub denominator: Option<String>,
    #[serde(default)]
    pub excluded: Option<String>,
    /// Where the rows come from: deals (default), activities or leads.
    #[serde(default)]
    pub from: Source,
    /// Add the quota of each group's reps for the period (pro-rated by days)
    /// to the numerator or the denominator: coverage and attainment metrics.
    #[serde(default)]
    pub quota: Option<QuotaSide>,
    /// How the value follows from the sums: `ratio` (default) or
    /// `one_minus_abs_ratio` (accuracy from a signed error).
    #[serde(default)]
    pub value: ValueForm,
    /// Count owners instead of summing: the share of owners (with a
    /// denominator) whose own numerator ÷ denominator is at least this —
    /// e.g. 1.0 with quota for "the share of reps at or above quota".
    #[serde(default)]
    pub share_at_or_above: Option<f64>,
}

/// Which side of a metric's fraction the quota is added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaSide {
    Numerator,
    Denominator,
}

/// How a metric's value follows from its numerator and denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueForm {
    #[default]
    Ratio,
    OneMinusAbsRatio,
}

/// One metric definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub purpose: String,
    pub formula: String,
    pub numerator: String,
    pub denominator: String,
    pub data_source: String,
    pub cadence: String,
    pub owner: String,
    pub unit: Unit,
    pub polarity: Polarity,
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    pub sql: MetricSql,
    /// Where the definition came from: `built-in` or a file path.
    #[serde(skip)]
    pub origin: String,
}

/// Time columns of `deal_facts` a metric's period may filter on.
pub const PERIOD_FIELDS: [&str; 5] = [
    "closed_at",
    "qualified_at",
    "created_at",
    "close_date",
    "none",
];

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}

impl Metric {
    /// Parse and validate a definition; errors name the file and line.
    pub fn from_toml(text: &str, file: &str) -> Result<Metric, MetricError> {
        let mut m: Metric = toml::from_str(text).map_err(|e| MetricError::Definition {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let bad = |key: &str, message: String| MetricError::Definition {
            file: file.to_string(),
            message: format!("line {}: {message}", line_of(text, key)),
        };
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(bad(
                "name",
                format!("name {:?} must be snake_case (a-z, 0-9, _)", m.name),
            ));
        }
        let allowed = m.sql.from.period_fields();
        if !allowed.contains(&m.sql.period.as_str()) {
            return Err(bad(
                "period",
                format!(
                    "sql.period {:?} must be one of {} for a metric over {}",
                    m.sql.period,
                    allowed.join(", "),
                    m.sql.from.as_str()
                ),
            ));
        }
        if m.sql.quota.is_some() && m.sql.from == Source::Leads {
            return Err(bad(
                "quota",
                "sql.quota needs deals or activities, which have owners with quotas".into(),
            ));
        }
        for (key, v) in [
            ("population", &m.sql.population),
            ("numerator", &m.sql.numerator),
        ] {
            if v.trim().is_empty() {
                return Err(bad(
                    key,
                    format!("sql.{key} is empty: give a SQL expression over deal_facts"),
                ));
            }
        }
        if let Some(t) = &m.thresholds {
            let ordered = match m.polarity {
                Polarity::HigherIsBetter => t.green >= t.amber,
                Polarity::LowerIsBetter => t.green <= t.amber,
            };
            if !ordered {
                return Err(bad(
                    "green",
                    format!(
                        "thresholds: green {} and amber {} are in the wrong order for {:?}",
                        t.green, t.amber, m.polarity
                    ),
                ));
            }
        }
        m.origin = file.to_string();
        Ok(m)
    }

    /// Is the metric a plain total (no denominator)?
    pub fn is_total(&self) -> bool {
        self.sql.denominator.is_none() && self.sql.quota != Some(QuotaSide::Denominator)
    }

    /// The value from a numerator and denominator (none when dividing by zero).
    pub fn value(&self, numerator: f64, denominator: f64) -> Option<f64> {
        if self.is_total() {
            return Some(numerator);
        }
        if denominator == 0.0 {
            return None;
        }
        let r = numerator / denominator;
        Some(match self.sql.value {
            ValueForm::Ratio => r,
            ValueForm::OneMinusAbsRatio => 1.0 - r.abs(),
        })
    }

    /// Green, amber or red for a value (none without thresholds).
    pub fn status(&self, value: f64) -> Option<&'static str> {
        let t = self.thresholds.as_ref()?;
        let (g, a) = match self.polarity {
            Polarity::HigherIsBetter => (value >= t.green, value >= t.amber),
            Polarity::LowerIsBetter => (value <= t.green, value <= t.amber),
        };
        Some(if g {
            "green"
        } else if a {
            "amber"
        } else {
            "red"
        })
    }
}

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
    pub metrics: BTreeMap<String, Metric>,
    /// What loading found worth saying: a workspace metric that replaces a
    /// built-in one.
    pub warnings: Vec<String>,
}

impl Library {
    pub fn built_in() -> Result<Library, MetricError> {
        let mut lib = Library::default();
        for (file, text) in BUILT_IN {
            let mut m = Metric::from_toml(text, &format!("built-in {file}"))?;
            m.origin = "built-in".into();
            lib.metrics.insert(m.name.clone(), m);
        }
        Ok(lib)
    }

    pub fn load(workspace: &Path) -> Result<Library, MetricError> {
        let mut lib = Library::built_in()?;
        let dir = workspace.join("metrics");
        if dir.is_dir() {
            let rd = std::fs::read_dir(&dir).map_err(|source| MetricError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in rd {
                let p = entry
                    .map_err(|source| MetricError::Io {
                        path: dir.display().to_string(),
                        source,
                    })?
                    .path();
                if p.extension().is_some_and(|e| e == "toml") {
                    files.push(p);
                }
            }
            files.sort();
            for p in files {
                let text = std::fs::read_to_string(&p).map_err(|source| MetricError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
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

    pub fn get(&self, name: &str) -> Result<&Metric, MetricError> {
        self.metrics.get(name).ok_or_else(|| MetricError::Unknown {
            name: name.to_string(),
        })
    }
}

/// Where a metric's rows come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// One row per opportunity: `deal_facts(as_of)` with its owner and account.
    #[default]
    Deals,
    /// One row per activity logged on an opportunity by `as_of`, with the
    /// deal's facts and `activity_stage`, the stage the deal was in when the
    /// activity happened.
    Activities,
    /// One row per lead created by `as_of`, with its status then and
    /// `first_touch_at`, its first seller-to-buyer activity.
    Leads,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Deals => "deals",
            Source::Activities => "activities",
            Source::Leads => "leads",
        }
    }

    /// The id column a metric's explanation lists.
    pub fn id_column(self) -> &'static str {
        match self {
            Source::Deals => "opportunity_id",
            Source::Activities => "activity_id",
            Source::Leads => "lead_id",
        }
    }

    /// Time columns `--period` may filter on.
    pub fn period_fields(self) -> &'static [&'static str] {
        match self {
            Source::Deals => &PERIOD_FIELDS,
            Source::Activities => &["occurred_at", "closed_at", "created_at", "none"],
            Source::Leads => &["created_at", "first_touch_at", "converted_at", "none"],
        }
    }
}

/// The type terms are summed in: exact, so sums do not depend on the order
/// parallel partitions meet in (same input, same output, byte for byte),
/// and PostgreSQL sums the same way. Ten decimal places keep days (a
/// fraction of 86,400 seconds) and money exact to far below display.
const EXACT: &str = "DECIMAL(38, 10)";

/// 2199-12-31T23:59:59.999999Z: "as of now and forever" in SQL literals
/// (DataFusion casts timestamp literals through nanoseconds, which end in 2262).
const END_OF_TIME: Timestamp = 7_258_118_399_999_999;

/// The SQL dialect a metric compiles to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// pipewise's embedded engine.
    #[default]
    DataFusion,
    /// PostgreSQL over the tables and `deal_facts` function `pipewise export
    /// --dialect postgres` writes.
    Postgres,
}

impl Dialect {
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "datafusion" => Some(Dialect::DataFusion),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            _ => None,
        }
    }

    fn double(self) -> &'static str {
        match self {
            Dialect::DataFusion => "DOUBLE",
            Dialect::Postgres => "DOUBLE PRECISION",
        }
    }

    fn timestamp(self) -> &'static str {
        match self {
            Dialect::DataFusion => "TIMESTAMP",
            Dialect::Postgres => "TIMESTAMPTZ",
        }
    }

    fn month_label(self, col: &str) -> String {
        match self {
            Dialect::DataFusion => format!("to_char(date_trunc('month', {col}), '%Y-%m')"),
            Dialect::Postgres => format!("to_char({col}, 'YYYY-MM')"),
        }
    }
}

/// Dimensions a metric can be broken down by (`--by`).
pub const DIMENSIONS: [&str; 17] = [
    "owner",
    "manager",
    "team",
    "region",
    "segment",
    "source",
    "type",
    "product",
    "industry",
    "account_region",
    "stage",
    "pipeline",
    "forecast_category",
    "cohort_month",
    "cohort_quarter",
    "loss_reason",
    "business_case",
];

/// Dimensions of quota-based metrics: quotas are set per rep.
const QUOTA_DIMENSIONS: [&str; 4] = ["owner", "manager", "team", "region"];

/// The SQL for a dimension over a source's `d` CTE (`None`: the source lacks it).
fn dimension_sql(source: Source, name: &str, dialect: Dialect) -> Option<String> {
    let common = match name {
        "owner" => Some("owner_id".to_string()),
        "manager" => Some("owner_manager_id".into()),
        "team" => Some("owner_team".into()),
        "region" => Some("owner_region".into()),
        "source" => Some("source".into()),
        "industry" => Some("account_industry".into()),
        "cohort_month" => Some(dialect.month_label("created_at")),
        "cohort_quarter" => Some(
            "concat(CAST(date_part('year', created_at) AS INT), '-Q', CAST(date_part('quarter', created_at) AS INT))"
                .into(),
        ),
        _ => None,
    };
    if common.is_some() || source == Source::Leads {
        return common;
    }
    let e = match name {
        "segment" => "segment",
        "type" => "type",
        "product" => "custom_product",
        "account_region" => "account_region",
        "stage" if source == Source::Activities => "activity_stage",
        "stage" => "stage",
        "pipeline" => "pipeline",
        "forecast_category" => "forecast_category",
        "loss_reason" => "loss_reason",
        "business_case" => "CAST(coalesce(has_business_case, false) AS VARCHAR)",
        _ => return None,
    };
    Some(e.to_string())
}

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct MetricQuery {
    pub by: Vec<String>,
    /// First and last day of the period, inclusive.
    pub period: Option<(i32, i32)>,
    /// Evaluate as the world looked at this time (all history when `None`).
    pub as_of: Option<Timestamp>,
    /// Only what had been recorded by `as_of` (backtests).
    pub known: bool,
    /// Only deals (leads, activities, quotas) owned by this user or anyone
    /// under them in the manager hierarchy.
    pub under: Option<String>,
    pub dialect: Dialect,
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// (dimension, value) in the order asked for.
    pub dims: Vec<(String, Option<String>)>,
    pub value: Option<f64>,
    pub numerator: f64,
    pub denominator: f64,
    pub excluded: Option<i64>,
    pub status: Option<&'static str>,
}

impl MetricRow {
    /// A row of metric `m`: its value and status follow from the sums.
    pub fn new(
        m: &Metric,
        dims: Vec<(String, Option<String>)>,
        numerator: f64,
        denominator: f64,
        excluded: Option<i64>,
    ) -> MetricRow {
        let value = m.value(numerator, denominator);
        MetricRow {
            dims,
            value,
            numerator,
            denominator,
            excluded,
            status: value.and_then(|v| m.status(v)),
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL a metric compiles to.
pub fn compile(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_inner(m, q, false)
}

/// The SQL that lists the rows behind a metric: one per deal (activity, lead)
/// counted (role `counted`) or left out (role `excluded`), and for quota-based
/// metrics one per quota (role `quota`), with its contribution to the
/// numerator and the denominator. Summing them per dimension gives exactly
/// what [`compile`] gives.
pub fn compile_explain(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_inner(m, q, true)
}

/// Is an expression a 0/1 count? `Some(None)` for `1`, `Some(Some(cond))`
/// for `CASE WHEN cond THEN 1 ELSE 0 END` (no nested CASE), else `None`.
fn count_condition(e: &str) -> Option<Option<&str>> {
    let e = e.trim();
    if e == "1" {
        return Some(None);
    }
    e.strip_prefix("CASE WHEN ")
        .and_then(|r| r.strip_suffix(" THEN 1 ELSE 0 END"))
        .filter(|cond| !cond.contains("CASE") && !cond.contains(" THEN "))
        .map(Some)
}

/// Can an expression be evaluated on any row without failing? Divisions
/// by a number literal are safe; a division by anything else (a column that
/// may be zero) is not.
fn total_everywhere(e: &str) -> bool {
    e.match_indices('/').all(|(i, _)| {
        e[i + 1..]
            .trim_start_matches([' ', '('])
            .starts_with(|c: char| c.is_ascii_digit() && c != '0')
    })
}

/// A metric's expressions, with the period's placeholders filled in.
struct Filled {
    population: String,
    numerator: String,
    denominator: String,
    excluded: Option<String>,
}

fn compile_inner(m: &Metric, q: &MetricQuery, explain: bool) -> Result<String, MetricError> {
    compile_group(
        &[m],
        q,
        if explain {
            Mode::Explain
        } else {
            Mode::Aggregate
        },
    )
    .and_then(Compiled::sql)
}

/// What [`compile_group`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Sums per group (what [`evaluate`] runs).
    Aggregate,
    /// One row per deal / activity / lead (what [`explain`] runs).
    Explain,
    /// The raw sums per group, and the quota per group apart (what
    /// [`evaluate_breakdowns`] rolls up into coarser groups).
    Fine,
}

/// What [`compile_group`] gives.
enum Compiled {
    /// One statement (aggregate or explain).
    Sql(String),
    /// The statements of [`Mode::Fine`].
    Fine(FineSql),
}

impl Compiled {
    fn sql(self) -> Result<String, MetricError> {
        match self {
            Compiled::Sql(s) => Ok(s),
            Compiled::Fine(_) => Err(MetricError::Query(
                "a fine plan is not one statement".into(),
            )),
        }
    }
}

/// [`Mode::Fine`]: the dimensions then the sums `a0, a1, …` per group (exact:
/// integer counts and `DECIMAL(38, 10)` sums), the quota per group (a
/// `DECIMAL(38, 10)` sum), and per metric which sums are its numerator,
/// denominator, excluded count and row count.
struct FineSql {
    /// One statement per period window, each giving its window's sums
    /// (`a<k>`, numbered across the plan) per group.
    aggregates: Vec<String>,
    /// How many sums the plan has.
    width: usize,
    /// The quota statement and its dimensions (the plan's rep dimensions).
    quota: Option<(String, Vec<String>)>,
    slots: Vec<[Option<usize>; 4]>,
}

/// One SQL statement computing several metrics over the same rows: one scan,
/// one set of numerator / denominator / excluded columns per metric (named
/// `numerator_<i>` … when there are several). The metrics must count the same
/// source and all or none of them use quota; an explanation takes one metric.
fn compile_group(ms: &[&Metric], q: &MetricQuery, mode: Mode) -> Result<Compiled, MetricError> {
    if let (Some(t), Mode::Aggregate, [m]) = (ms[0].sql.share_at_or_above, mode, ms) {
        return compile_share(m, q, t).map(Compiled::Sql);
    }
    if ms.len() > 1 && ms.iter().any(|m| m.sql.share_at_or_above.is_some()) {
        return Err(MetricError::Query(
            "a metric that counts owners is compiled on its own".into(),
        ));
    }
    let explain = mode == Mode::Explain;
    use pipewise_model::time::{date_end, date_start, format_date, format_timestamp};
    let dialect = q.dialect;
    let (dbl, ts) = (dialect.double(), dialect.timestamp());
    let Some(m0) = ms.first() else {
        return Err(MetricError::Query("no metric to compile".into()));
    };
    if ms.iter().any(|m| {
        m.sql.from != m0.sql.from
                // (a fine plan sums quota apart, so it takes both kinds)
                || (mode != Mode::Fine && m.sql.quota.is_some() != m0.sql.quota.is_some())
    }) || (explain && ms.len() > 1)
    {
        return Err(MetricError::Query(
            "metrics compiled together must count the same rows, with or without quota".into(),
        ));
    }
    let source = m0.sql.from;
    let has_quota = ms.iter().any(|m| m.sql.quota.is_some());
    // Without an as-of time: everything, up to the end of year 9999.
    let as_of = quote(&format_timestamp(q.as_of.unwrap_or(END_OF_TIME)));
    let known = if q.known { ", true" } else { "" };
    let tlit = |s: &str| format!("CAST({} AS {ts})", quote(s));
    let as_of_t = tlit(&format_timestamp(q.as_of.unwrap_or(END_OF_TIME)));
    let dlit = |s: &str| format!("CAST({} AS DATE)", quote(s));

    // Dimensions.
    let mut dims: Vec<(String, String)> = Vec::new();
    for d in &q.by {
        if !DIMENSIONS.contains(&d.as_str()) {
            return Err(MetricError::Query(format!(
                "--by {d:?}: expected one of {}",
                DIMENSIONS.join(", ")
            )));
        }
        if has_quota && mode != Mode::Fine && !QUOTA_DIMENSIONS.contains(&d.as_str()) {
            return Err(MetricError::Query(format!(
                "--by {d:?}: {} counts quota, which is set per rep; break it down by {}",
                m0.name,
                QUOTA_DIMENSIONS.join(", ")
            )));
        }
        let Some(expr) = dimension_sql(source, d, dialect) else {
            return Err(MetricError::Query(format!(
                "--by {d:?}: {} counts {}, which have no {d}",
                m0.name,
                source.as_str()
            )));
        };
        dims.push((d.clone(), expr));
    }

    // The period and its placeholders (a metric without a period sees all time).
    let (ps_day, pe_day) = q.period.unwrap_or((
        pipewise_model::time::parse_period("1900", 1).map_or(0, |p| p.0),
        pipewise_model::time::parse_period("2200", 1).map_or(0, |p| p.1),
    ));
    let (ps, pe) = (
        format_timestamp(date_start(ps_day)),
        format_timestamp(date_end(pe_day)),
    );
    let fill = |e: &str| -> String {
        e.replace("{period_start}", &tlit(&ps))
            .replace("{period_end}", &tlit(&pe))
            .replace("{period_start_date}", &dlit(&format_date(ps_day)))
            .replace("{period_end_date}", &dlit(&format_date(pe_day)))
            .replace("{period_days}", &(pe_day - ps_day + 1).to_string())
    };
    // Per metric: its period filter and its expressions.
    let parts: Vec<(String, Filled)> =
        ms.iter()
            .map(|m| {
                let period = match (q.period, m.sql.period.as_str()) {
                    (None, _) | (_, "none") => "TRUE".to_string(),
                    (Some(_), "close_date") => format!(
                        "close_date BETWEEN {} AND {}",
                        dlit(&format_date(ps_day)),
                        dlit(&format_date(pe_day))
                    ),
                    (Some(_), col) => format!("{col} >= {} AND {col} <= {}", tlit(&ps), tlit(&pe)),
                };
                let f =
                    Filled {
                        population: fill(&m.sql.population),
                        numerator: fill(&m.sql.numerator),
                        denominator: m.sql.denominator.as_deref().map(fill).unwrap_or_else(|| {
                            if m.sql.quota.is_some() { "0" } else { "NULL" }.into()
                        }),
                        excluded: m.sql.excluded.as_deref().map(fill),
                    };
                (period, f)
            })
            .collect();

    // The CTEs: the owner subtree, the source's rows `d`, and quotas.
    let mut ctes: Vec<String> = Vec::new();
    let mut recursive = false;
    let owner_filter = match &q.under {
        None => "TRUE".to_string(),
        Some(u) => {
            recursive = true;
            ctes.push(format!(
                "sub(id) AS (SELECT id FROM users WHERE id = {} UNION ALL \
                 SELECT u.id FROM users u JOIN sub ON u.manager_id = sub.id)",
                quote(u)
            ));
            "owner_id IN (SELECT id FROM sub)".to_string()
        }
    };
    let uses_start = ms.iter().any(|m| {
        [
            Some(&m.sql.population),
            Some(&m.sql.numerator),
            m.sql.denominator.as_ref(),
            m.sql.excluded.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|e| e.contains("start_"))
    });
    // The deal as it stood just before the period began (start_* columns;
    // null for deals created later), joined only for metrics that read it.
    let before = format_timestamp(date_start(ps_day) - 1);
    // pipewise's engine has the start snapshot as a table function (no join);
    // other engines join deal_facts at the two times by id.
    let facts_call = if uses_start && dialect == Dialect::DataFusion {
        format!("deal_facts_since({as_of}, {}{known})", quote(&before))
    } else {
        format!("deal_facts({as_of}{known})")
    };
    let (start_cols, start_join) = if uses_start && dialect != Dialect::DataFusion {
        (
            ", s.*",
            format!(
                " LEFT JOIN (SELECT id AS s_id, stage AS start_stage, is_closed AS start_is_closed, \
                 close_date AS start_close_date, amount AS start_amount, forecast_category AS start_forecast_category, \
                 qualified AS start_qualified, coalesce(probability, stage_probability) AS start_probability \
                 FROM deal_facts({}{known})) s ON s.s_id = f.id",
                quote(&before)
            ),
        )
    } else {
        ("", String::new())
    };
    // Owner and account attributes are joined only when a dimension or an
    // expression reads them (each is a hash join over every deal).
    let part_reads = |f: &Filled, cols: &[&str]| {
        [&f.population, &f.numerator, &f.denominator]
            .into_iter()
            .chain(f.excluded.as_ref())
            .any(|e| cols.iter().any(|c| e.contains(c)))
    };
    let reads = |cols: &[&str]| {
        dims.iter().any(|(_, e)| cols.iter().any(|c| e.contains(c)))
            || parts.iter().any(|(_, f)| part_reads(f, cols))
    };
    let (user_cols, user_join) = if reads(&["owner_manager_id", "owner_team", "owner_region"])
        || source == Source::Activities
    {
        (
            ", u.manager_id AS owner_manager_id, u.team AS owner_team, u.region AS owner_region",
            " LEFT JOIN users u ON u.id = f.owner_id",
        )
    } else {
        ("", "")
    };
    let (account_cols, account_join) =
        if reads(&["account_industry", "account_region"]) || source == Source::Activities {
            (
                ", a.industry AS account_industry, a.region AS account_region",
                " LEFT JOIN accounts a ON a.id = f.account_id",
            )
        } else {
            ("", "")
        };
    // Engaged contacts per deal: distinct contacts with an activity on it
    // by the evaluation time.
    let (contact_cols, contact_join) = if reads(&["engaged_contacts"]) {
        (
            ", coalesce(ec.engaged_contacts, 0) AS engaged_contacts",
            format!(
                " LEFT JOIN (SELECT opportunity_id AS ec_id, COUNT(DISTINCT contact_id) AS engaged_contacts \
                 FROM activities WHERE contact_id IS NOT NULL AND opportunity_id IS NOT NULL \
                 AND occurred_at <= {as_of_t} GROUP BY opportunity_id) ec ON ec.ec_id = f.id"
            ),
        )
    } else {
        ("", String::new())
    };
    // (`contacts`: with the engaged-contacts join, when some metric reads it)
    let deals_sql = |contacts: bool| {
        let (cc, cj) = if contacts {
            (contact_cols, contact_join.as_str())
        } else {
            ("", "")
        };
        format!(
            "SELECT f.*{user_cols}{account_cols}{start_cols}{cc} \
             FROM {facts_call} f{user_join}{account_join}{start_join}{cj}"
        )
    };
    let deals = deals_sql(true);
    // Where the deals CTE sits among the CTEs, and its name.
    let deals_cte = (
        ctes.len(),
        if source == Source::Deals {
            "d"
        } else {
            "deals"
        },
    );
    let recorded = if q.known {
        format!(" AND recorded_at <= {as_of_t}")
    } else {
        String::new()
    };
    match source {
        Source::Deals => ctes.push(format!("d AS ({deals})")),
        Source::Activities => {
            ctes.push(format!("deals AS ({deals})"));
            ctes.push(format!(
                "spans AS (SELECT opportunity_id, new_value AS stage, effective_at AS since, \
                 LEAD(effective_at) OVER (PARTITION BY opportunity_id ORDER BY effective_at, seq) AS until \
                 FROM opportunity_events WHERE field = 'stage' AND effective_at <= {as_of_t}{recorded})"
            ));
            ctes.push(format!(
                "d AS (SELECT x.id AS activity_id, x.type AS activity_type, x.direction, x.occurred_at, \
                 x.duration_minutes, x.owner_id AS activity_owner_id, x.contact_id, x.contact_seniority, \
                 sp.stage AS activity_stage, deals.* \
                 FROM activities x JOIN deals ON deals.id = x.opportunity_id \
                 LEFT JOIN spans sp ON sp.opportunity_id = x.opportunity_id AND x.occurred_at >= sp.since \
                 AND (sp.until IS NULL OR x.occurred_at < sp.until) WHERE x.occurred_at <= {as_of_t})"
            ));
        }
        Source::Leads => {
            ctes.push(format!(
                "touch AS (SELECT lead_id, \
                 min(CASE WHEN direction = 'seller_to_buyer' THEN occurred_at END) AS first_touch_at, \
                 min(CASE WHEN direction = 'buyer_to_seller' THEN occurred_at END) AS first_response_at \
                 FROM activities WHERE lead_id IS NOT NULL AND occurred_at <= {as_of_t} GROUP BY lead_id)"
            ));
            ctes.push(format!(
                "lead_status AS (SELECT lead_id, status FROM (SELECT lead_id, new_value AS status, \
                 ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY effective_at DESC, recorded_at DESC) AS rn \
                 FROM lead_events WHERE field = 'status' AND effective_at <= {as_of_t}{recorded}) z WHERE rn = 1)"
            ));
            // Every status a lead has had, as `|A|B|…|`, for "reached" tests.
            ctes.push(format!(
                "lead_history AS (SELECT lead_id, concat('|', string_agg(new_value, '|'), '|') AS statuses \
                 FROM lead_events WHERE field = 'status' AND effective_at <= {as_of_t}{recorded} GROUP BY lead_id)"
            ));
            ctes.push(format!(
                "d AS (SELECT l.id AS lead_id, l.created_at, l.source, l.owner_id, l.industry AS account_industry, \
                 l.company, l.title, st.status, CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_at END AS converted_at, \
                 CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_opportunity_id END AS converted_opportunity_id, \
                 t.first_touch_at, t.first_response_at, coalesce(h.statuses, '|') AS statuses, u.manager_id AS owner_manager_id, \
                 u.team AS owner_team, u.region AS owner_region \
                 FROM leads l LEFT JOIN users u ON u.id = l.owner_id LEFT JOIN touch t ON t.lead_id = l.id \
                 LEFT JOIN lead_status st ON st.lead_id = l.id LEFT JOIN lead_history h ON h.lead_id = l.id \
                 WHERE l.created_at <= {as_of_t})"
            ));
        }
    }
    if has_quota {
        // Each quota counts with the share of its days inside the period.
        let (a, b) = (dlit(&format_date(ps_day)), dlit(&format_date(pe_day)));
        ctes.push(format!(
            "quota_rows AS (SELECT qt.owner_id, qt.period, u.manager_id AS owner_manager_id, u.team AS owner_team, \
             u.region AS owner_region, qt.amount * CAST(least(qt.period_end, {b}) - greatest(qt.period_start, {a}) + 1 AS {dbl}) \
             / CAST(qt.period_end - qt.period_start + 1 AS {dbl}) AS quota \
             FROM quotas qt LEFT JOIN users u ON u.id = qt.owner_id \
             WHERE qt.period_end >= {a} AND qt.period_start <= {b})"
        ));
    }

    let with_of = |ctes: &[String]| {
        format!(
            "WITH {}{} ",
            if recursive { "RECURSIVE " } else { "" },
            ctes.join(", ")
        )
    };
    let with = with_of(&ctes);
    // The CTEs without the engaged-contacts join (it aggregates every
    // activity): for a fine plan's windows whose metrics do not read it.
    let with_plain = if contact_join.is_empty() || source == Source::Leads {
        with.clone()
    } else {
        let mut plain = ctes.clone();
        plain[deals_cte.0] = format!("{} AS ({})", deals_cte.1, deals_sql(false));
        with_of(&plain)
    };
    let n = dims.len();
    let order: Vec<String> = (1..=n).map(|i| format!("{i} ASC NULLS LAST")).collect();
    let select_dims: String = dims
        .iter()
        .map(|(name, e)| format!("{e} AS \"{name}\", "))
        .collect();
    if explain {
        let (period, f) = &parts[0];
        let Filled {
            population: pop,
            numerator: num,
            denominator: den,
            excluded,
        } = f;
        let excl = excluded.clone().unwrap_or_else(|| "FALSE".into());
        let (id, name, stage, amount) = match source {
            Source::Deals => ("id", "name", "stage", "amount"),
            Source::Activities => ("activity_id", "activity_type", "activity_stage", "amount"),
            Source::Leads => ("lead_id", "company", "status", "NULL"),
        };
        let mut sql = format!(
            "{with}SELECT {id} AS item_id, {select_dims}{name} AS name, {stage} AS stage, \
             CAST({amount} AS {dbl}) AS amount, CASE WHEN ({pop}) THEN 'counted' ELSE 'excluded' END AS role, \
             CAST(CASE WHEN ({pop}) THEN ({num}) ELSE 0 END AS {dbl}) AS numerator, \
             CAST(CASE WHEN ({pop}) THEN ({den}) ELSE 0 END AS {dbl}) AS denominator \
             FROM d WHERE (({pop}) OR ({excl})) AND ({period}) AND {owner_filter}"
        );
        if let Some(side) = m0.sql.quota {
            let (qn, qd) = match side {
                QuotaSide::Numerator => ("quota", "0"),
                QuotaSide::Denominator => ("0", "quota"),
            };
            sql.push_str(&format!(
                " UNION ALL SELECT concat('quota ', owner_id, ' ', period) AS item_id, {select_dims}NULL AS name, \
                 NULL AS stage, CAST(NULL AS {dbl}) AS amount, 'quota' AS role, CAST({qn} AS {dbl}) AS numerator, \
                 CAST({qd} AS {dbl}) AS denominator FROM quota_rows WHERE {owner_filter}"
            ));
        }
        let mut ord: Vec<String> = (2..=n + 1).map(|i| format!("{i} ASC NULLS LAST")).collect();
        ord.push("1".into());
        sql.push_str(&format!(" ORDER BY {}", ord.join(", ")));
        return Ok(Compiled::Sql(sql));
    }

    // Column names: plain for one metric, numbered for several.
    let col = |what: &str, i: usize| {
        if ms.len() == 1 {
            what.to_string()
        } else {
            format!("{what}_{i}")
        }
    };
    let group_by = if n == 0 {
        String::new()
    } else {
        format!(
            " GROUP BY {}",
            (1..=n)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // Each distinct sum once (metrics may share one; SQL engines reject the
    // same aggregate twice in one select), as a0, a1, …; per metric the
    // indexes of its numerator, denominator, excluded count and row count.
    //
    // A fine plan also keeps each sum as its period window's statement
    // writes it: without the period test, which that statement's WHERE
    // makes (`windowed`, with the window of each).
    let mut aggs: Vec<String> = Vec::new();
    let mut windowed: Vec<(String, String)> = Vec::new();
    let mut intern = |(e, local): (String, String), period: &str| -> usize {
        match aggs.iter().position(|x| *x == e) {
            Some(k) => k,
            None => {
                aggs.push(e);
                windowed.push((period.to_string(), local));
                aggs.len() - 1
            }
        }
    };
    type Slot = ([Option<usize>; 4], (String, String));
    let slots: Vec<Slot> = parts
        .iter()
        .map(|(period, f)| {
            let (pop, num, den) = (&f.population, &f.numerator, &f.denominator);
            // Sums run in parallel partitions; summing exact decimals keeps
            // the result the same whatever order the partial sums meet in.
            // Counts are integers, exact as they are; anything else is
            // summed as an exact decimal.
            //
            // Each sum aggregates only its rows (`FILTER`), so a value
            // shared by several sums is computed once per row, not once per
            // sum inside a `CASE`. A sum of nothing (`NULL`, `0`) is no sum
            // at all: its slot stays empty and reads as 0.
            let sum_in = |e: &str, period: &str| match count_condition(e) {
                Some(None) => Some(format!("COUNT(1) FILTER (WHERE ({period}) AND ({pop}))")),
                Some(Some(c)) => Some(format!(
                    "COUNT(1) FILTER (WHERE ({period}) AND ({pop}) AND ({c}))"
                )),
                None if matches!(e.trim(), "NULL" | "0") => None,
                None if total_everywhere(e) => Some(format!(
                    "SUM(CAST(({e}) AS {EXACT})) FILTER (WHERE ({period}) AND ({pop}))"
                )),
                // An expression that could fail on rows it does not count
                // (a division by a column) is only evaluated on its rows.
                None => Some(format!(
                    "SUM(CAST(CASE WHEN ({period}) AND ({pop}) THEN ({e}) END AS {EXACT})) \
                     FILTER (WHERE ({period}) AND ({pop}))"
                )),
            };
            // (the sum with its period test, and without)
            let sum = |e: &str| Some((sum_in(e, period)?, sum_in(e, "TRUE")?));
            let count = |c: &str| {
                let with = |p: &str| format!("COUNT(1) FILTER (WHERE ({p}) AND ({c}))");
                (with(period), with("TRUE"))
            };
            let numerator = sum(num).map(|s| intern(s, period));
            let denominator = sum(den).map(|s| intern(s, period));
            let excluded = f.excluded.as_ref().map(|e| intern(count(e), period));
            let counted = match &f.excluded {
                Some(e) => format!("({pop}) OR ({e})"),
                None => pop.clone(),
            };
            let rows = intern(count(&counted), period);
            (
                [numerator, denominator, excluded, Some(rows)],
                (period.clone(), counted),
            )
        })
        .collect();
    let (slots, relevant): (Vec<[Option<usize>; 4]>, Vec<_>) = slots.into_iter().unzip();
    let sums: Vec<String> = aggs
        .iter()
        .enumerate()
        .map(|(k, e)| format!("{e} AS a{k}"))
        .collect();
    // A metric's column `what` (0 numerator, 1 denominator, 2 excluded, 3
    // rows) in the aggregate, qualified by `t` ("n." or "").
    let agg_col = |i: usize, what: usize, t: &str| match slots[i][what] {
        Some(k) => format!("{t}a{k}"),
        None => "NULL".to_string(),
    };
    // Only rows some metric counts or leaves out: with a period most deals
    // are neither, and skipping them early spares every sum. The test is
    // grouped by period window, each window tested first and once — (P AND
    // a) OR (P AND b) is P AND (a OR b) in SQL's three-valued logic too —
    // so the populations are only tested on the rows of their window.
    let mut windows: Vec<(&str, Vec<&str>)> = Vec::new();
    for (period, counted) in &relevant {
        match windows.iter_mut().find(|(p, _)| p == period) {
            Some((_, cs)) if cs.contains(&counted.as_str()) => {}
            Some((_, cs)) => cs.push(counted),
            None => windows.push((period, vec![counted])),
        }
    }
    if mode == Mode::Fine {
        // One statement per period window, over that window's rows only:
        // each row meets only its window's sums, not every sum of the plan.
        let aggregates = windows
            .iter()
            .map(|(p, cs)| {
                let sums: Vec<String> = windowed
                    .iter()
                    .enumerate()
                    .filter(|(_, (w, _))| w == p)
                    .map(|(k, (_, e))| format!("{e} AS a{k}"))
                    .collect();
                let contacts = parts
                    .iter()
                    .any(|(w, f)| w == p && part_reads(f, &["engaged_contacts"]));
                let with = if contacts { &with } else { &with_plain };
                format!(
                    "{with}SELECT {select_dims}{} FROM d WHERE {owner_filter} AND ({p}) AND (({})){group_by}",
                    sums.join(", "),
                    cs.join(") OR (")
                )
            })
            .collect();
        return Ok(Compiled::Fine(FineSql {
            aggregates,
            width: aggs.len(),
            // Quotas are per rep: by the plan's rep dimensions only.
            quota: has_quota.then(|| {
                let rep_dims: Vec<&(String, String)> = dims
                    .iter()
                    .filter(|(name, _)| QUOTA_DIMENSIONS.contains(&name.as_str()))
                    .collect();
                let select: String = rep_dims
                    .iter()
                    .map(|(name, e)| format!("{e} AS \"{name}\", "))
                    .collect();
                let group_by = if rep_dims.is_empty() {
                    String::new()
                } else {
                    format!(
                        " GROUP BY {}",
                        (1..=rep_dims.len())
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                (
                    format!(
                        "{with}SELECT {select}SUM(CAST(quota AS {EXACT})) AS quota FROM quota_rows WHERE {owner_filter}{group_by}"
                    ),
                    rep_dims.iter().map(|(name, _)| name.clone()).collect(),
                )
            }),
            slots,
        }));
    }
    let aggregate = format!(
        "SELECT {select_dims}{} FROM d WHERE {owner_filter} AND ({}){group_by}",
        sums.join(", "),
        windows
            .iter()
            .map(|(p, cs)| format!("(({p}) AND (({})))", cs.join(") OR (")))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    // Per metric: its four output columns from the aggregate `n`, plus the
    // quota `g` on the side its definition names.
    let outs: Vec<String> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let t = if has_quota { "n." } else { "" };
            let (qn, qd) = match m.sql.quota {
                None => ("", ""),
                Some(QuotaSide::Numerator) => ("coalesce(g.quota, 0) + ", ""),
                Some(QuotaSide::Denominator) => ("", "coalesce(g.quota, 0) + "),
            };
            let [an, ad, ax, ar] = [0, 1, 2, 3].map(|w| agg_col(i, w, t));
            let [nc, dc, xc, rc] =
                ["numerator", "denominator", "excluded", "rows"].map(|w| col(w, i));
            format!(
                "CAST({qn}coalesce({an}, 0) AS {dbl}) AS {nc}, \
                 CAST({qd}coalesce({ad}, 0) AS {dbl}) AS {dc}, CAST({ax} AS BIGINT) AS {xc}, \
                 CAST(coalesce({ar}, 0) AS BIGINT) AS {rc}"
            )
        })
        .collect();
    let sql = if has_quota {
        // Numerators per group, joined to the quota of the same group.
        let quota_agg = format!(
            "SELECT {select_dims}SUM(CAST(quota AS {EXACT})) AS quota FROM quota_rows WHERE {owner_filter}{group_by}"
        );
        let out_dims: String = dims
            .iter()
            .map(|(name, _)| format!("coalesce(n.\"{name}\", g.\"{name}\") AS \"{name}\", "))
            .collect();
        let on = if n == 0 {
            "TRUE".to_string()
        } else {
            dims.iter()
                // (a plain equality of non-null keys: PostgreSQL's FULL JOIN
                // needs a hashable condition, which IS NOT DISTINCT FROM is not)
                .map(|(name, _)| {
                    format!("coalesce(n.\"{name}\", '<none>') = coalesce(g.\"{name}\", '<none>')")
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        format!(
            "{with}SELECT {out_dims}{}, g.quota IS NOT NULL AS has_quota \
             FROM ({aggregate}) n FULL OUTER JOIN ({quota_agg}) g ON {on}",
            outs.join(", ")
        )
    } else {
        format!(
            "{with}SELECT {}{} FROM ({aggregate}) agg",
            dims.iter()
                .map(|(name, _)| format!("\"{name}\", "))
                .collect::<String>(),
            outs.join(", ")
        )
    };
    let mut sql = sql;
    if n > 0 {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Ok(Compiled::Sql(sql))
}

/// A metric with `share_at_or_above`: the metric per owner (within the asked
/// groups), then per group the owners at or above the threshold over the
/// owners with a denominator. Same output columns as any quota metric.
fn compile_share(m: &Metric, q: &MetricQuery, threshold: f64) -> Result<String, MetricError> {
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

/// Evaluate a metric.
pub fn evaluate(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    let sql = compile(m, q)?;
    let mut out = run_group(engine, &[m], q, &sql)?;
    Ok(out.pop().unwrap_or_default())
}

/// Evaluate many metrics with the same selectors, sharing work: metrics that
/// count the same rows (and use quota or not) are computed in one query, one
/// scan. Returns each metric's rows, or the error evaluating it alone would
/// give (a dimension its rows do not have, say), in the order given.
pub fn evaluate_many(
    engine: &Engine,
    ms: &[&Metric],
    q: &MetricQuery,
) -> Vec<Result<Vec<MetricRow>, MetricError>> {
    let mut out: Vec<Option<Result<Vec<MetricRow>, MetricError>>> =
        (0..ms.len()).map(|_| None).collect();
    // (source, quota, which metric when it counts owners: such metrics go alone)
    let mut groups: BTreeMap<(&'static str, bool, Option<usize>), Vec<usize>> = BTreeMap::new();
    for (i, m) in ms.iter().enumerate() {
        match compile(m, q) {
            Ok(_) => groups
                .entry((
                    m.sql.from.as_str(),
                    m.sql.quota.is_some(),
                    m.sql.share_at_or_above.map(|_| i),
                ))
                .or_default()
                .push(i),
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    for ((source, quota, _), idx) in &groups {
        let group: Vec<&Metric> = idx.iter().map(|&i| ms[i]).collect();
        // Activities and leads are optional: with none there is nothing to
        // scan (and no stage history to join), and the answer is known.
        if !quota && *source != "deals" {
            match source_is_empty(engine, source) {
                Ok(false) => {}
                Ok(true) => {
                    for &i in idx {
                        out[i] = Some(Ok(nothing_to_count(ms[i], &q.by)));
                    }
                    continue;
                }
                Err(e) => {
                    for &i in idx {
                        out[i] = Some(Err(MetricError::Query(e.to_string())));
                    }
                    continue;
                }
            }
        }
        let result = compile_group(&group, q, Mode::Aggregate)
            .and_then(Compiled::sql)
            .and_then(|sql| run_group(engine, &group, q, &sql));
        match result {
            Ok(rows) => {
                for (&i, r) in idx.iter().zip(rows) {
                    out[i] = Some(Ok(r));
                }
            }
            Err(e) => {
                for &i in idx {
                    out[i] = Some(Err(MetricError::Query(e.to_string())));
                }
            }
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(MetricError::Query("not evaluated".into()))))
        .collect()
}

/// Evaluate many metrics for several breakdowns of the same selectors (a
/// scorecard: overall, by owner, by team, …), sharing work: metrics that
/// count the same rows are aggregated once, by every dimension the
/// breakdowns name together, and each breakdown is rolled up from those fine
/// groups. Sums are exact (integer counts, 10-digit decimals), so the rolled
/// up numbers are exactly those of [`evaluate`] for each breakdown — a test
/// checks it. Returns, per breakdown, each metric's rows or its error.
pub fn evaluate_breakdowns(
    engine: &Engine,
    ms: &[&Metric],
    base: &MetricQuery,
    breakdowns: &[Vec<String>],
) -> Vec<Vec<Result<Vec<MetricRow>, MetricError>>> {
    sum_breakdowns(engine, ms, base, breakdowns).roll_up()
}

/// The sums behind [`evaluate_breakdowns`], queried and held apart from the
/// engine: [`ScorecardSums::roll_up`] needs no engine, so a one-shot command
/// can let the engine drop its caches before rolling up (their memory is
/// then reused instead of fresh memory faulted in).
pub struct ScorecardSums<'m> {
    ms: Vec<&'m Metric>,
    breakdowns: Vec<Vec<String>>,
    /// Per breakdown and metric: its rows or error when already known.
    out: Vec<Vec<Option<Evaluated>>>,
    sources: Vec<SourceSums>,
}

/// One kind of rows' fine sums and what rolling them up needs.
struct SourceSums {
    /// The metrics (indexes into `ms`) counting these rows.
    idx: Vec<usize>,
    /// (breakdown, metric) pairs to compute.
    pending: Vec<Vec<bool>>,
    /// The fine plan's dimensions.
    fine_by: Vec<String>,
    /// The metrics as summed (owner-counting ones per owner).
    per_owner: Vec<Metric>,
    plan: FineSql,
    fine: FineGroups,
    users: RepAttributes,
}

/// Query the fine sums of [`evaluate_breakdowns`].
pub fn sum_breakdowns<'m>(
    engine: &Engine,
    ms: &[&'m Metric],
    base: &MetricQuery,
    breakdowns: &[Vec<String>],
) -> ScorecardSums<'m> {
    let mut sources: Vec<SourceSums> = Vec::new();
    let query = |by: &[String]| MetricQuery {
        by: by.to_vec(),
        ..base.clone()
    };
    let mut out: Vec<Vec<Option<Evaluated>>> = breakdowns
        .iter()
        .map(|by| {
            ms.iter()
                .map(|m| compile(m, &query(by)).err().map(Err))
                .collect()
        })
        .collect();
    // One plan per kind of rows: quota and owner-counting metrics included
    // (quota is summed apart; owners are counted from per-owner sums).
    let mut groups: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, m) in ms.iter().enumerate() {
        groups.entry(m.sql.from.as_str()).or_default().push(i);
    }
    for (source, idx) in &groups {
        // (breakdown, metric) pairs to compute: those that compiled.
        let pending: Vec<Vec<bool>> = out
            .iter()
            .map(|row| row.iter().map(Option::is_none).collect())
            .collect();
        let todo = |b: usize, i: usize| pending[b][i];
        if !idx
            .iter()
            .any(|&i| (0..breakdowns.len()).any(|b| todo(b, i)))
        {
            continue;
        }
        if *source != "deals" {
            let empty = source_is_empty(engine, source);
            if !matches!(empty, Ok(false)) {
                for (b, by) in breakdowns.iter().enumerate() {
                    for &i in idx {
                        if todo(b, i) {
                            out[b][i] = Some(match &empty {
                                Err(e) => Err(MetricError::Query(e.to_string())),
                                _ => Ok(nothing_to_count(ms[i], by)),
                            });
                        }
                    }
                }
                continue;
            }
        }
        // Every dimension a breakdown to compute names (and the owner, when a
        // metric counts owners).
        let mut fine_by: Vec<String> = Vec::new();
        for (b, by) in breakdowns.iter().enumerate() {
            if idx.iter().any(|&i| todo(b, i)) {
                for d in by {
                    if !fine_by.contains(d) {
                        fine_by.push(d.clone());
                    }
                }
            }
        }
        let counts_owners = idx.iter().any(|&i| ms[i].sql.share_at_or_above.is_some());
        // A rep's team, region and manager come from the users table: group
        // by owner and look them up (what the SQL's join of users on the
        // owner does), rather than join users to every row.
        let derive = fine_by.iter().any(|d| rep_attribute(d).is_some());
        fine_by.retain(|d| rep_attribute(d).is_none());
        if (counts_owners || derive) && !fine_by.iter().any(|d| d == "owner") {
            fine_by.push("owner".into());
        }
        let users = if derive {
            match rep_attributes(engine) {
                Ok(u) => u,
                Err(e) => {
                    fail(&mut out, &pending, idx, &e);
                    continue;
                }
            }
        } else {
            Default::default()
        };
        // Owner-counting metrics are summed per owner first.
        let per_owner: Vec<Metric> = idx
            .iter()
            .map(|&i| {
                let mut m = ms[i].clone();
                m.sql.share_at_or_above = None;
                m
            })
            .collect();
        let group: Vec<&Metric> = per_owner.iter().collect();
        let fine = compile_group(&group, &query(&fine_by), Mode::Fine)
            .and_then(|c| match c {
                Compiled::Fine(f) => Ok(f),
                Compiled::Sql(_) => Err(MetricError::Query("expected a fine plan".into())),
            })
            .and_then(|f| FineGroups::run(engine, &f, fine_by.len()).map(|g| (f, g)));
        let (plan, fine) = match fine {
            Ok(x) => x,
            Err(e) => {
                fail(&mut out, &pending, idx, &e);
                continue;
            }
        };
        sources.push(SourceSums {
            idx: idx.clone(),
            pending,
            fine_by,
            per_owner,
            plan,
            fine,
            users,
        });
    }
    ScorecardSums {
        ms: ms.to_vec(),
        breakdowns: breakdowns.to_vec(),
        out,
        sources,
    }
}

impl ScorecardSums<'_> {
    /// Per breakdown, each metric's rows or its error.
    pub fn roll_up(self) -> Vec<Vec<Result<Vec<MetricRow>, MetricError>>> {
        let ScorecardSums {
            ms,
            breakdowns,
            mut out,
            sources,
        } = self;
        for src in &sources {
            let SourceSums {
                idx,
                pending,
                fine_by,
                per_owner,
                plan,
                fine,
                users,
            } = src;
            let todo = |b: usize, i: usize| pending[b][i];
            let group: Vec<&Metric> = per_owner.iter().collect();
            let positions = |by: &[String], among: &[String]| -> Option<Vec<FineDim>> {
                by.iter()
                    .map(|d| match among.iter().position(|x| x == d) {
                        Some(p) => Some(FineDim::Column(p)),
                        None => Some(FineDim::Rep(
                            rep_attribute(d)?,
                            among.iter().position(|x| x == "owner")?,
                        )),
                    })
                    .collect()
            };
            let quota_by: &[String] = plan.quota.as_ref().map_or(&[], |(_, by)| by);
            // One breakdown's metric rows: (metric index, rows) for each metric
            // it computes.
            let breakdown = |b: usize, by: &Vec<String>| -> Vec<RolledUp> {
                let rows = |by: &[String], which: &[usize]| {
                    let keep = positions(by, fine_by).unwrap_or_default();
                    let quota_keep = positions(by, quota_by);
                    fine.metric_rows(
                        plan,
                        &group,
                        which,
                        by,
                        (&keep, quota_keep.as_deref()),
                        users,
                    )
                };
                // Plain metrics; owner-counting ones from their per-owner rows.
                let (plain, counting): (Vec<usize>, Vec<usize>) = (0..idx.len())
                    .filter(|&k| todo(b, idx[k]))
                    .partition(|&k| ms[idx[k]].sql.share_at_or_above.is_none());
                let mut done: Vec<RolledUp> = plain
                    .iter()
                    .zip(rows(by, &plain))
                    .map(|(&k, r)| (idx[k], r))
                    .collect();
                if !counting.is_empty() {
                    let mut with_owner = by.clone();
                    if !with_owner.iter().any(|d| d == "owner") {
                        with_owner.push("owner".into());
                    }
                    for (&k, owners) in counting.iter().zip(rows(&with_owner, &counting)) {
                        done.push((idx[k], count_owners(ms[idx[k]], by, &owners)));
                    }
                }
                done
            };
            // Each breakdown rolls up apart: on threads of their own.
            let rolled: Vec<(usize, Vec<RolledUp>)> = std::thread::scope(|scope| {
                let handles: Vec<_> = breakdowns
                    .iter()
                    .enumerate()
                    .filter(|&(b, _)| idx.iter().any(|&i| todo(b, i)))
                    .map(|(b, by)| (b, scope.spawn(move || breakdown(b, by))))
                    .collect();
                handles
                    .into_iter()
                    // a worker that panicked fails the scorecard, never a breakdown short
                    .map(|(b, h)| (b, h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                    .collect()
            });
            for (b, done) in rolled {
                for (i, rows) in done {
                    out[b][i] = Some(Ok(rows));
                }
            }
        }
        out.into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(MetricError::Query("not evaluated".into()))))
                    .collect()
            })
            .collect()
    }
}

/// A metric's rows, or why it could not be evaluated.
type Evaluated = Result<Vec<MetricRow>, MetricError>;

/// A metric (its index) and its rows in one breakdown.
type RolledUp = (usize, Vec<MetricRow>);

/// Mark the pending (breakdown, metric) pairs of metrics `idx` failed.
fn fail(out: &mut [Vec<Option<Evaluated>>], pending: &[Vec<bool>], idx: &[usize], e: &MetricError) {
    for (row, todo) in out.iter_mut().zip(pending) {
        for &i in idx {
            if todo[i] {
                row[i] = Some(Err(MetricError::Query(e.to_string())));
            }
        }
    }
}

/// A metric with `share_at_or_above`, from its per-owner rows (the breakdown's
/// dimensions then the owner): per group, the owners at or above the
/// threshold over the owners with a denominator — what [`compile_share`]'s
/// SQL computes.
fn count_owners(m: &Metric, by: &[String], owners: &[MetricRow]) -> Vec<MetricRow> {
    let threshold = m.sql.share_at_or_above.unwrap_or(1.0);
    let n = by.len();
    // Per group, in order: owners at or above the threshold, owners with a
    // denominator. (Every group has an owner row, so every group shows.)
    type Group = (Vec<(String, Option<String>)>, f64, f64);
    let mut groups: Vec<Group> = Vec::new();
    for r in owners {
        let dims: Vec<(String, Option<String>)> = r.dims[..n].to_vec();
        if groups.last().is_none_or(|g| g.0 != dims) {
            groups.push((dims, 0.0, 0.0));
        }
        if let Some(g) = groups.last_mut()
            && r.denominator > 0.0
        {
            g.2 += 1.0;
            if r.numerator / r.denominator >= threshold {
                g.1 += 1.0;
            }
        }
    }
    if n == 0 && groups.is_empty() {
        groups.push((Vec::new(), 0.0, 0.0));
    }
    groups
        .into_iter()
        .map(|(dims, numerator, denominator)| MetricRow::new(m, dims, numerator, denominator, None))
        .collect()
}

/// Where a breakdown dimension comes from in a fine plan's rows.
#[derive(Debug, Clone, Copy)]
enum FineDim {
    /// The plan's dimension column.
    Column(usize),
    /// A rep attribute ([`rep_attribute`]) of the owner in the given column.
    Rep(usize, usize),
}

/// Per user id: team, region and manager.
type RepAttributes = std::collections::HashMap<String, [Option<String>; 3]>;

/// The index of a rep dimension in [`RepAttributes`].
fn rep_attribute(dimension: &str) -> Option<usize> {
    match dimension {
        "team" => Some(0),
        "region" => Some(1),
        "manager" => Some(2),
        _ => None,
    }
}

/// A result cell as text (`None` for NULL).
fn cell_text(v: &CellValue) -> Option<String> {
    match v {
        CellValue::Null => None,
        CellValue::Text(s) => Some(s.clone()),
        CellValue::Int(i) => Some(i.to_string()),
        CellValue::Float(x) => Some(x.to_string()),
        CellValue::Bool(b) => Some(b.to_string()),
    }
}

/// Every user's team, region and manager.
fn rep_attributes(engine: &Engine) -> Result<RepAttributes, MetricError> {
    let batches = engine
        .sql("SELECT id, team, region, manager_id FROM users")
        .map_err(|e| MetricError::Query(e.to_string()))?;
    let (_, rows) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let text = cell_text;
    Ok(rows
        .iter()
        .filter_map(|r| Some((text(r.first()?)?, [text(&r[1]), text(&r[2]), text(&r[3])])))
        .collect())
}

/// A fine group's dimension values.
type Dims = Vec<Option<String>>;

/// The groups of a fine plan: dimension values and exact sums.
struct FineGroups {
    /// Per group: its dimension values.
    dims: Vec<Dims>,
    /// Per group, `width` sums in a row (a SQL NULL, the sum of no rows,
    /// is 0: every use of a sum takes NULL for 0).
    sums: Vec<i128>,
    width: usize,
    /// Per sum: a `DECIMAL(38, 10)` (else an integer count).
    decimal: Vec<bool>,
    /// The quota per group (10-digit decimals), for quota metrics.
    quota: Option<Vec<(Dims, Option<i128>)>>,
}

/// 10^10: the scale of exact decimal sums.
const DECIMAL_ONE: i128 = 10_000_000_000;

/// A `DECIMAL(38, 10)` as a double, the way the SQL engine casts it.
fn decimal_to_f64(x: i128) -> f64 {
    x as f64 / 10_f64.powi(10)
}

impl FineGroups {
    fn run(engine: &Engine, plan: &FineSql, n: usize) -> Result<FineGroups, MetricError> {
        use pipewise_engine::datafusion::arrow::array::{Array, AsArray};
        use pipewise_engine::datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
        use std::collections::HashMap;
        let width = plan.width;
        let mut groups = FineGroups {
            dims: Vec::new(),
            sums: Vec::new(),
            width,
            decimal: vec![false; width],
            quota: None,
        };
        let query = |sql: &str| {
            engine
                .sql(sql)
                .map_err(|e| MetricError::Query(e.to_string()))
        };
        let started = std::time::Instant::now();
        // Each window's statement gives some of the sums for the groups
        // with rows in that window: merged into one row per group.
        let mut index: HashMap<Dims, usize> = HashMap::new();
        for sql in &plan.aggregates {
            tracing::trace!(%sql, "fine plan");
            for b in &query(sql)? {
                let schema = b.schema();
                let mut at: Vec<usize> = Vec::with_capacity(b.num_columns() - n);
                for f in &schema.fields()[n..] {
                    match f.name().strip_prefix('a').and_then(|k| k.parse().ok()) {
                        Some(k) if k < width => at.push(k),
                        _ => {
                            return Err(MetricError::Query(format!(
                                "a fine statement gave an unexpected column {:?}",
                                f.name()
                            )));
                        }
                    }
                }
                let mut rows: Vec<usize> = Vec::with_capacity(b.num_rows());
                for r in 0..b.num_rows() {
                    let dims = b.columns()[..n]
                        .iter()
                        .map(|c| text_cell(c.as_ref(), r))
                        .collect::<Result<Dims, _>>()?;
                    let g = *index.entry(dims).or_insert_with_key(|dims| {
                        groups.dims.push(dims.clone());
                        groups.sums.resize(groups.sums.len() + width, 0);
                        groups.dims.len() - 1
                    });
                    rows.push(g);
                }
                for (c, &k) in b.columns()[n..].iter().zip(&at) {
                    let cells = rows.iter().map(|&g| g * width + k);
                    match c.data_type() {
                        DataType::Int64 => {
                            let c = c.as_primitive::<Int64Type>();
                            for (r, cell) in cells.enumerate() {
                                if c.is_valid(r) {
                                    groups.sums[cell] += i128::from(c.value(r));
                                }
                            }
                        }
                        DataType::Decimal128(_, 10) => {
                            groups.decimal[k] = true;
                            let c = c.as_primitive::<Decimal128Type>();
                            for (r, cell) in cells.enumerate() {
                                if c.is_valid(r) {
                                    groups.sums[cell] += c.value(r);
                                }
                            }
                        }
                        t => {
                            return Err(MetricError::Query(format!(
                                "a fine sum came back as {t}, not an exact count or decimal"
                            )));
                        }
                    }
                }
            }
        }
        tracing::debug!(
            groups = groups.dims.len(),
            statements = plan.aggregates.len(),
            elapsed = ?started.elapsed(),
            "fine sums"
        );
        if let Some((sql, by)) = &plan.quota {
            let k = by.len();
            let mut quota = Vec::new();
            for b in &query(sql)? {
                let q = b.column(k);
                let Some(q) = q.as_primitive_opt::<Decimal128Type>() else {
                    return Err(MetricError::Query(format!(
                        "a quota sum came back as {}, not an exact decimal",
                        q.data_type()
                    )));
                };
                for r in 0..b.num_rows() {
                    let dims = b.columns()[..k]
                        .iter()
                        .map(|c| text_cell(c.as_ref(), r))
                        .collect::<Result<Dims, _>>()?;
                    quota.push((dims, q.is_valid(r).then(|| q.value(r))));
                }
            }
            groups.quota = Some(quota);
        }
        Ok(groups)
    }

    /// The rows of the plan's metrics `which` (indexes into `ms`, the plan's
    /// metrics) for the breakdown `by`, whose dimensions are the fine plan's
    /// columns `keep` (and, when they are all rep dimensions, the quota
    /// statement's columns `quota_keep`): the fine groups summed per
    /// breakdown group, then turned into numerator, denominator, excluded and
    /// row count exactly as the single-breakdown SQL does. Returns one row
    /// list per entry of `which`.
    fn metric_rows<'s>(
        &'s self,
        plan: &FineSql,
        ms: &[&Metric],
        which: &[usize],
        by: &[String],
        (keep, quota_keep): (&[FineDim], Option<&[FineDim]>),
        users: &'s RepAttributes,
    ) -> Vec<Vec<MetricRow>> {
        use std::collections::HashMap;
        fn value<'a>(
            dims: &'a [Option<String>],
            d: &FineDim,
            users: &'a RepAttributes,
        ) -> Option<&'a str> {
            match *d {
                FineDim::Column(p) => dims[p].as_deref(),
                FineDim::Rep(a, o) => dims[o]
                    .as_deref()
                    .and_then(|id| users.get(id))
                    .and_then(|u| u[a].as_deref()),
            }
        }
        type Key<'a> = Vec<Option<&'a str>>;
        // The sums these metrics read, `w` of them per breakdown group.
        let mut cols: Vec<usize> = which
            .iter()
            .flat_map(|&i| plan.slots[i].iter().flatten().copied())
            .collect();
        cols.sort_unstable();
        cols.dedup();
        let w = cols.len();
        let mut at = vec![usize::MAX; self.width];
        for (j, &c) in cols.iter().enumerate() {
            at[c] = j;
        }
        // Breakdown groups (keys borrow the fine rows' text), their sums and
        // quota.
        let mut index: HashMap<Key<'s>, usize> = HashMap::new();
        let mut keys: Vec<Key<'s>> = Vec::new();
        let mut sums: Vec<i128> = Vec::new();
        let mut quota: Vec<Option<i128>> = Vec::new();
        let mut group_of = |k: Key<'s>| -> usize {
            *index.entry(k).or_insert_with_key(|k| {
                keys.push(k.clone());
                sums.resize(sums.len() + w, 0);
                quota.push(None);
                keys.len() - 1
            })
        };
        let mut fine_group: Vec<usize> = Vec::with_capacity(self.dims.len());
        for dims in &self.dims {
            fine_group.push(group_of(
                keep.iter().map(|d| value(dims, d, users)).collect(),
            ));
        }
        let mut quota_group: Vec<usize> = Vec::new();
        if let (Some(rows), Some(qk)) = (&self.quota, quota_keep) {
            for (dims, _) in rows {
                quota_group.push(group_of(qk.iter().map(|d| value(dims, d, users)).collect()));
            }
        }
        if by.is_empty() && fine_group.is_empty() && quota_group.is_empty() {
            group_of(Vec::new());
        }
        for (g, &to) in fine_group.iter().enumerate() {
            let from = &self.sums[g * self.width..(g + 1) * self.width];
            for (acc, &c) in sums[to * w..(to + 1) * w].iter_mut().zip(&cols) {
                *acc += from[c];
            }
        }
        if let Some(rows) = &self.quota {
            for ((_, q), &to) in rows.iter().zip(&quota_group) {
                if let Some(q) = q {
                    quota[to] = Some(quota[to].unwrap_or(0) + q);
                }
            }
        }
        // In the SQL's order: ascending, nulls last.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| {
            keys[a]
                .iter()
                .map(|v| (v.is_none(), v.unwrap_or("")))
                .cmp(keys[b].iter().map(|v| (v.is_none(), v.unwrap_or(""))))
        });
        let mut out: Vec<Vec<MetricRow>> = (0..which.len())
            .map(|_| Vec::with_capacity(keys.len()))
            .collect();
        for g in order {
            let s = &sums[g * w..(g + 1) * w];
            let q = quota[g];
            let dims: Vec<(String, Option<String>)> = by
                .iter()
                .zip(&keys[g])
                .map(|(d, v)| (d.clone(), v.map(str::to_string)))
                .collect();
            for (o, &i) in which.iter().enumerate() {
                let m = ms[i];
                let has_quota = m.sql.quota.is_some() && q.is_some();
                let slot = plan.slots[i];
                let raw =
                    |what: usize| slot[what].map_or((0, false), |a| (s[at[a]], self.decimal[a]));
                // CAST([quota +] coalesce(sum, 0) AS DOUBLE)
                let side = |what: usize, with_quota: bool| -> f64 {
                    let (v, dec) = raw(what);
                    if with_quota {
                        let v = if dec { v } else { v * DECIMAL_ONE };
                        decimal_to_f64(q.unwrap_or(0) + v)
                    } else if dec {
                        decimal_to_f64(v)
                    } else {
                        v as f64
                    }
                };
                if !by.is_empty() && raw(3).0 == 0 && !has_quota {
                    continue;
                }
                let numerator = side(0, m.sql.quota == Some(QuotaSide::Numerator));
                let denominator = side(1, m.sql.quota == Some(QuotaSide::Denominator));
                let excluded = slot[2].map(|_| raw(2).0 as i64);
                out[o].push(MetricRow::new(
                    m,
                    dims.clone(),
                    numerator,
                    denominator,
                    excluded,
                ));
            }
        }
        out
    }
}

/// The rows behind a metric with `share_at_or_above`: one per owner (id: the
/// owner), counted when the owner has a denominator, with 1 in the
/// numerator when the owner's ratio is at or above the threshold and 1 in
/// the denominator when counted — summing them per group gives the metric.
/// `amount` is the owner's own ratio.
fn explain_share(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
    threshold: f64,
) -> Result<Vec<ExplainRow>, MetricError> {
    let mut per_owner = m.clone();
    per_owner.sql.share_at_or_above = None;
    let mut by = q.by.clone();
    if !by.iter().any(|d| d == "owner") {
        by.push("owner".into());
    }
    let owner = by.iter().position(|d| d == "owner").unwrap_or(0);
    let rows = evaluate(engine, &per_owner, &MetricQuery { by, ..q.clone() })?;
    let batches = engine
        .sql("SELECT id, name FROM users")
        .map_err(|e| MetricError::Query(e.to_string()))?;
    let (_, users) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let names: std::collections::HashMap<String, String> = users
        .iter()
        .filter_map(|u| Some((cell_text(u.first()?)?, cell_text(u.get(1)?)?)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = r.dims.get(owner).and_then(|(_, v)| v.clone());
            let counted = r.denominator > 0.0;
            let reached = counted && r.numerator / r.denominator >= threshold;
            ExplainRow {
                name: id.as_ref().and_then(|id| names.get(id).cloned()),
                id: id.unwrap_or_default(),
                dims: r.dims[..q.by.len()].to_vec(),
                stage: None,
                amount: counted.then(|| r.numerator / r.denominator),
                role: if counted { "counted" } else { "excluded" }.into(),
                numerator: if reached { 1.0 } else { 0.0 },
                denominator: if counted { 1.0 } else { 0.0 },
            }
        })
        .collect())
}

/// A dimension value of a result batch as text (dimensions are text).
fn text_cell(
    c: &dyn pipewise_engine::datafusion::arrow::array::Array,
    r: usize,
) -> Result<Option<String>, MetricError> {
    use pipewise_engine::datafusion::arrow::array::AsArray;
    use pipewise_engine::datafusion::arrow::datatypes::DataType;
    if c.is_null(r) {
        return Ok(None);
    }
    Ok(Some(match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(r).to_string(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(r).to_string(),
        DataType::Utf8View => c.as_string_view().value(r).to_string(),
        t => {
            return Err(MetricError::Query(format!(
                "a dimension came back as {t}, not text"
            )));
        }
    }))
}

/// A metric's rows over a source with no rows: one row of zeros overall,
/// no groups in a breakdown.
fn nothing_to_count(m: &Metric, by: &[String]) -> Vec<MetricRow> {
    if !by.is_empty() {
        return Vec::new();
    }
    vec![MetricRow::new(
        m,
        Vec::new(),
        0.0,
        0.0,
        m.sql.excluded.as_ref().map(|_| 0),
    )]
}

/// Does the table a source reads have no rows at all?
/// Whether an optional source (leads, activities) has no rows. An engine
/// failure is an error, not "not empty".
fn source_is_empty(engine: &Engine, source: &str) -> Result<bool, MetricError> {
    let table = if source == "leads" {
        "leads"
    } else {
        "activities"
    };
    let failed = |e: String| MetricError::Query(format!("counting {table}: {e}"));
    let batches = engine
        .sql(&format!("SELECT count(*) FROM {table}"))
        .map_err(|e| failed(e.to_string()))?;
    let (_, rows) = pipewise_engine::rows(&batches).map_err(|e| failed(e.to_string()))?;
    match rows.first().and_then(|r| r.first()) {
        Some(CellValue::Int(n)) => Ok(*n == 0),
        other => Err(failed(format!("expected a count, got {other:?}"))),
    }
}

/// Run the SQL of [`compile_group`] and split its rows per metric.
fn run_group(
    engine: &Engine,
    ms: &[&Metric],
    q: &MetricQuery,
    sql: &str,
) -> Result<Vec<Vec<MetricRow>>, MetricError> {
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    let batches = engine
        .sql(sql)
        .map_err(|e| MetricError::Query(format!("{}: {e}", names.join(", "))))?;
    let (_, rows) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let f = |v: &CellValue| match v {
        CellValue::Float(x) => *x,
        CellValue::Int(i) => *i as f64,
        _ => 0.0,
    };
    let n = q.by.len();
    let mut out: Vec<Vec<MetricRow>> = vec![Vec::with_capacity(rows.len()); ms.len()];
    for r in rows {
        let dims: Vec<(String, Option<String>)> =
            q.by.iter()
                .zip(&r[..n])
                .map(|(d, v)| (d.clone(), cell_text(v)))
                .collect();
        let has_quota =
            ms[0].sql.quota.is_some() && matches!(r.last(), Some(CellValue::Bool(true)));
        for (i, m) in ms.iter().enumerate() {
            let c = n + 4 * i;
            // A group is this metric's when one of its rows counts or is left
            // out there (or, for quota metrics, its reps have quota): what
            // the metric alone returns, even when computed with others.
            let rows_here = matches!(&r[c + 3], CellValue::Int(k) if *k > 0);
            if n > 0 && !rows_here && !has_quota {
                continue;
            }
            let numerator = f(&r[c]);
            let denominator = f(&r[c + 1]);
            let excluded = match &r[c + 2] {
                CellValue::Int(i) => Some(*i),
                _ => None,
            };
            out[i].push(MetricRow::new(
                m,
                dims.clone(),
                numerator,
                denominator,
                excluded,
            ));
        }
    }
    Ok(out)
}

/// The four sales-velocity factors for a period (whole company), from the
/// built-in metrics of the same names.
pub fn velocity_factors(
    engine: &Engine,
    lib: &Library,
    period: (i32, i32),
    as_of: Option<Timestamp>,
) -> Result<velocity::Factors, MetricError> {
    let q = MetricQuery {
        period: Some(period),
        as_of,
        ..Default::default()
    };
    let names = [
        "qualified_opportunities",
        "average_won_deal_size",
        "close_rate",
        "average_sales_cycle_days",
    ];
    let ms = names
        .iter()
        .map(|n| lib.get(n))
        .collect::<Result<Vec<_>, _>>()?;
    // One scan for the four factors.
    let mut v = [0.0; 4];
    for (slot, rows) in v.iter_mut().zip(evaluate_many(engine, &ms, &q)) {
        *slot = rows?.first().and_then(|r| r.value).unwrap_or(0.0);
    }
    Ok(velocity::Factors {
        qualified_opportunities: v[0],
        average_won_deal_size: v[1],
        close_rate: v[2],
        average_sales_cycle_days: v[3],
    })
}

/// One deal (activity, lead or quota) behind a metric's number.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRow {
    /// The opportunity, activity or lead id; `quota OWNER PERIOD` for a quota.
    pub id: String,
    pub dims: Vec<(String, Option<String>)>,
    pub name: Option<String>,
    pub stage: Option<String>,
    pub amount: Option<f64>,
    /// `counted`, `excluded` or `quota`.
    pub role: String,
    pub numerator: f64,
    pub denominator: f64,
}

/// The deals behind a metric, with their contributions.
pub fn explain(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
) -> Result<Vec<ExplainRow>, MetricError> {
    if let Some(threshold) = m.sql.share_at_or_above {
        return explain_share(engine, m, q, threshold);
    }
    let sql = compile_explain(m, q)?;
    let batches = engine
        .sql(&sql)
        .map_err(|e| MetricError::Query(format!("{}: {e}", m.name)))?;
    let (_, rows) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let text = cell_text;
    let num = |v: &CellValue| match v {
        CellValue::Float(x) => Some(*x),
        CellValue::Int(i) => Some(*i as f64),
        _ => None,
    };
    let n = q.by.len();
    Ok(rows
        .into_iter()
        .map(|r| ExplainRow {
            id: text(&r[0]).unwrap_or_default(),
            dims: q
                .by
                .iter()
                .cloned()
                .zip(r[1..=n].iter().map(text))
                .collect(),
            name: text(&r[n + 1]),
            stage: text(&r[n + 2]),
            amount: num(&r[n + 3]),
            role: text(&r[n + 4]).unwrap_or_default(),
            numerator: num(&r[n + 5]).unwrap_or(0.0),
            denominator: num(&r[n + 6]).unwrap_or(0.0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_valid() {
        let lib = Library::built_in().unwrap();
        assert!(lib.metrics.contains_key("close_rate") && lib.metrics.contains_key("win_rate"));
        for m in lib.metrics.values() {
            compile(
                m,
                &MetricQuery {
                    by: vec!["owner".into()],
                    period: Some((20_000, 20_090)),
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }

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
    fn invalid_definitions_name_file_and_line() {
        let good = include_str!("../library/close_rate.toml");
        let e = Metric::from_toml(
            &good.replace("period = \"closed_at\"", "period = \"someday\""),
            "m/x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("m/x.toml: line ") && e.contains("someday"),
            "{e}"
        );
        let line = good.lines().position(|l| l.starts_with("period")).unwrap() + 1;
        assert!(e.contains(&format!("line {line}:")), "{e}");
        let e = Metric::from_toml(
            &good.replace("unit = \"ratio\"", "unit = \"percent\""),
            "m/x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("m/x.toml") && e.contains("percent") && e.contains("line"),
            "{e}"
        );
        let e = Metric::from_toml(&good.replace("green = 0.33", "green = 0.1"), "m/x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong order"), "{e}");
        let e = Metric::from_toml("name = \"x\"\n", "m/x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field"), "{e}");
    }

    #[test]
    fn status_follows_polarity() {
        let m = Library::built_in()
            .unwrap()
            .get("win_rate")
            .unwrap()
            .clone();
        assert_eq!(m.status(0.7), Some("green"));
        assert_eq!(m.status(0.5), Some("amber"));
        assert_eq!(m.status(0.49), Some("red"));
    }
}
