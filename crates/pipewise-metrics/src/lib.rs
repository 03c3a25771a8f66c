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
use std::path::Path;

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

const BUILT_IN: [(&str, &str); 29] = [
    (
        "average_cycle_days_all_closed.toml",
        include_str!("../library/average_cycle_days_all_closed.toml"),
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
        "business_case_coverage.toml",
        include_str!("../library/business_case_coverage.toml"),
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
        "deal_velocity_funnel_days_per_win.toml",
        include_str!("../library/deal_velocity_funnel_days_per_win.toml"),
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
        "lead_response_hours.toml",
        include_str!("../library/lead_response_hours.toml"),
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
        "required_coverage.toml",
        include_str!("../library/required_coverage.toml"),
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
            let mut files: Vec<_> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for p in files {
                let text = std::fs::read_to_string(&p).map_err(|source| MetricError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                let m = Metric::from_toml(&text, &p.display().to_string())?;
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
pub const DIMENSIONS: [&str; 16] = [
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

/// A metric's expressions, with the period's placeholders filled in.
struct Filled {
    population: String,
    numerator: String,
    denominator: String,
    excluded: Option<String>,
}

fn compile_inner(m: &Metric, q: &MetricQuery, explain: bool) -> Result<String, MetricError> {
    use pipewise_model::time::{date_end, date_start, format_date, format_timestamp};
    let dialect = q.dialect;
    let (dbl, ts) = (dialect.double(), dialect.timestamp());
    let source = m.sql.from;
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
        if m.sql.quota.is_some() && !QUOTA_DIMENSIONS.contains(&d.as_str()) {
            return Err(MetricError::Query(format!(
                "--by {d:?}: {} counts quota, which is set per rep; break it down by {}",
                m.name,
                QUOTA_DIMENSIONS.join(", ")
            )));
        }
        let Some(expr) = dimension_sql(source, d, dialect) else {
            return Err(MetricError::Query(format!(
                "--by {d:?}: {} counts {}, which have no {d}",
                m.name,
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
    let period = match (q.period, m.sql.period.as_str()) {
        (None, _) | (_, "none") => "TRUE".to_string(),
        (Some(_), "close_date") => format!(
            "close_date BETWEEN {} AND {}",
            dlit(&format_date(ps_day)),
            dlit(&format_date(pe_day))
        ),
        (Some(_), col) => format!("{col} >= {} AND {col} <= {}", tlit(&ps), tlit(&pe)),
    };
    let fill = |e: &str| -> String {
        e.replace("{period_start}", &tlit(&ps))
            .replace("{period_end}", &tlit(&pe))
            .replace("{period_start_date}", &dlit(&format_date(ps_day)))
            .replace("{period_end_date}", &dlit(&format_date(pe_day)))
            .replace("{period_days}", &(pe_day - ps_day + 1).to_string())
    };
    let f = Filled {
        population: fill(&m.sql.population),
        numerator: fill(&m.sql.numerator),
        denominator: m
            .sql
            .denominator
            .as_deref()
            .map(fill)
            .unwrap_or_else(|| if m.sql.quota.is_some() { "0" } else { "NULL" }.into()),
        excluded: m.sql.excluded.as_deref().map(fill),
    };

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
    let uses_start = [
        Some(&m.sql.population),
        Some(&m.sql.numerator),
        m.sql.denominator.as_ref(),
        m.sql.excluded.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|e| e.contains("start_"));
    // The deal as it stood just before the period began (start_* columns;
    // null for deals created later), joined only for metrics that read it.
    let (start_cols, start_join) = if uses_start {
        let before = format_timestamp(date_start(ps_day) - 1);
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
    let deals = format!(
        "SELECT f.*, u.manager_id AS owner_manager_id, u.team AS owner_team, u.region AS owner_region, \
         a.industry AS account_industry, a.region AS account_region{start_cols} \
         FROM deal_facts({as_of}{known}) f LEFT JOIN users u ON u.id = f.owner_id \
         LEFT JOIN accounts a ON a.id = f.account_id{start_join}"
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
                 x.duration_minutes, x.owner_id AS activity_owner_id, sp.stage AS activity_stage, deals.* \
                 FROM activities x JOIN deals ON deals.id = x.opportunity_id \
                 LEFT JOIN spans sp ON sp.opportunity_id = x.opportunity_id AND x.occurred_at >= sp.since \
                 AND (sp.until IS NULL OR x.occurred_at < sp.until) WHERE x.occurred_at <= {as_of_t})"
            ));
        }
        Source::Leads => {
            ctes.push(format!(
                "touch AS (SELECT lead_id, min(occurred_at) AS first_touch_at FROM activities \
                 WHERE lead_id IS NOT NULL AND direction = 'seller_to_buyer' AND occurred_at <= {as_of_t} GROUP BY lead_id)"
            ));
            ctes.push(format!(
                "lead_status AS (SELECT lead_id, status FROM (SELECT lead_id, new_value AS status, \
                 ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY effective_at DESC, recorded_at DESC) AS rn \
                 FROM lead_events WHERE field = 'status' AND effective_at <= {as_of_t}{recorded}) z WHERE rn = 1)"
            ));
            ctes.push(format!(
                "d AS (SELECT l.id AS lead_id, l.created_at, l.source, l.owner_id, l.industry AS account_industry, \
                 l.company, l.title, st.status, CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_at END AS converted_at, \
                 CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_opportunity_id END AS converted_opportunity_id, \
                 t.first_touch_at, u.manager_id AS owner_manager_id, u.team AS owner_team, u.region AS owner_region \
                 FROM leads l LEFT JOIN users u ON u.id = l.owner_id LEFT JOIN touch t ON t.lead_id = l.id \
                 LEFT JOIN lead_status st ON st.lead_id = l.id WHERE l.created_at <= {as_of_t})"
            ));
        }
    }
    if m.sql.quota.is_some() {
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

    let with = format!(
        "WITH {}{} ",
        if recursive { "RECURSIVE " } else { "" },
        ctes.join(", ")
    );
    let n = dims.len();
    let order: Vec<String> = (1..=n).map(|i| format!("{i} ASC NULLS LAST")).collect();
    let select_dims: String = dims
        .iter()
        .map(|(name, e)| format!("{e} AS \"{name}\", "))
        .collect();
    let Filled {
        population: pop,
        numerator: num,
        denominator: den,
        excluded,
    } = f;

    if explain {
        let excl = excluded.unwrap_or_else(|| "FALSE".into());
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
        if let Some(side) = m.sql.quota {
            let (qn, qd) = match side {
                QuotaSide::Numerator => ("quota", "0"),
                QuotaSide::Denominator => ("0", "quota"),
            };
            let qdims: String = dims
                .iter()
                .map(|(name, e)| format!("{e} AS \"{name}\", "))
                .collect();
            sql.push_str(&format!(
                " UNION ALL SELECT concat('quota ', owner_id, ' ', period) AS item_id, {qdims}NULL AS name, \
                 NULL AS stage, CAST(NULL AS {dbl}) AS amount, 'quota' AS role, CAST({qn} AS {dbl}) AS numerator, \
                 CAST({qd} AS {dbl}) AS denominator FROM quota_rows WHERE {owner_filter}"
            ));
        }
        let mut ord: Vec<String> = (2..=n + 1).map(|i| format!("{i} ASC NULLS LAST")).collect();
        ord.push("1".into());
        sql.push_str(&format!(" ORDER BY {}", ord.join(", ")));
        return Ok(sql);
    }

    let excluded = excluded
        .map(|e| format!("SUM(CASE WHEN ({e}) AND ({period}) THEN 1 ELSE 0 END)"))
        .unwrap_or_else(|| "NULL".into());
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
    let aggregate = format!(
        "SELECT {select_dims}SUM(CASE WHEN ({pop}) AND ({period}) THEN ({num}) ELSE 0 END) AS numerator, \
         SUM(CASE WHEN ({pop}) AND ({period}) THEN ({den}) ELSE 0 END) AS denominator, \
         {excluded} AS excluded FROM d WHERE {owner_filter}{group_by}"
    );
    let sql = if let Some(side) = m.sql.quota {
        // Numerators per group, joined to the quota of the same group.
        let (qn, qd) = match side {
            QuotaSide::Numerator => ("coalesce(g.quota, 0) + ", ""),
            QuotaSide::Denominator => ("", "coalesce(g.quota, 0) + "),
        };
        let quota_agg = format!(
            "SELECT {select_dims}SUM(quota) AS quota FROM quota_rows WHERE {owner_filter}{group_by}"
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
        let mut sql = format!(
            "{with}SELECT {out_dims}CAST({qn}coalesce(n.numerator, 0) AS {dbl}) AS numerator, \
             CAST({qd}coalesce(n.denominator, 0) AS {dbl}) AS denominator, \
             CAST(n.excluded AS BIGINT) AS excluded \
             FROM ({aggregate}) n FULL OUTER JOIN ({quota_agg}) g ON {on}"
        );
        if n > 0 {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        sql
    } else {
        let mut sql = format!(
            "{with}SELECT {}CAST(numerator AS {dbl}) AS numerator, CAST(denominator AS {dbl}) AS denominator, \
             CAST(excluded AS BIGINT) AS excluded FROM ({aggregate}) agg",
            dims.iter()
                .map(|(name, _)| format!("\"{name}\", "))
                .collect::<String>()
        );
        if n > 0 {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        sql
    };
    Ok(sql)
}

/// Evaluate a metric.
pub fn evaluate(
    engine: &Engine,
    m: &Metric,
    q: &MetricQuery,
) -> Result<Vec<MetricRow>, MetricError> {
    let sql = compile(m, q)?;
    let batches = engine
        .sql(&sql)
        .map_err(|e| MetricError::Query(format!("{}: {e}", m.name)))?;
    let (_, rows) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let f = |v: &CellValue| match v {
        CellValue::Float(x) => *x,
        CellValue::Int(i) => *i as f64,
        _ => 0.0,
    };
    let n = q.by.len();
    Ok(rows
        .into_iter()
        .map(|r| {
            let dims =
                q.by.iter()
                    .zip(&r[..n])
                    .map(|(d, v)| {
                        let s = match v {
                            CellValue::Null => None,
                            CellValue::Text(s) => Some(s.clone()),
                            CellValue::Int(i) => Some(i.to_string()),
                            CellValue::Float(x) => Some(x.to_string()),
                            CellValue::Bool(b) => Some(b.to_string()),
                        };
                        (d.clone(), s)
                    })
                    .collect();
            let numerator = f(&r[n]);
            let denominator = f(&r[n + 1]);
            let value = m.value(numerator, denominator);
            let excluded = match &r[n + 2] {
                CellValue::Int(i) => Some(*i),
                _ => None,
            };
            MetricRow {
                dims,
                value,
                numerator,
                denominator,
                excluded,
                status: value.and_then(|v| m.status(v)),
            }
        })
        .collect())
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
    let v = |name: &str| -> Result<f64, MetricError> {
        Ok(evaluate(engine, lib.get(name)?, &q)?
            .first()
            .and_then(|r| r.value)
            .unwrap_or(0.0))
    };
    Ok(velocity::Factors {
        qualified_opportunities: v("qualified_opportunities")?,
        average_won_deal_size: v("average_won_deal_size")?,
        close_rate: v("close_rate")?,
        average_sales_cycle_days: v("average_sales_cycle_days")?,
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
    let sql = compile_explain(m, q)?;
    let batches = engine
        .sql(&sql)
        .map_err(|e| MetricError::Query(format!("{}: {e}", m.name)))?;
    let (_, rows) =
        pipewise_engine::rows(&batches).map_err(|e| MetricError::Query(e.to_string()))?;
    let text = |v: &CellValue| match v {
        CellValue::Text(s) => Some(s.clone()),
        CellValue::Null => None,
        CellValue::Int(i) => Some(i.to_string()),
        CellValue::Float(x) => Some(x.to_string()),
        CellValue::Bool(b) => Some(b.to_string()),
    };
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
