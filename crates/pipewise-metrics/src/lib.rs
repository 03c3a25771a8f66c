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
        if !PERIOD_FIELDS.contains(&m.sql.period.as_str()) {
            return Err(bad(
                "period",
                format!(
                    "sql.period {:?} must be one of {}",
                    m.sql.period,
                    PERIOD_FIELDS.join(", ")
                ),
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

const BUILT_IN: [(&str, &str); 12] = [
    (
        "qualified_opportunities.toml",
        include_str!("../library/qualified_opportunities.toml"),
    ),
    (
        "average_sales_cycle_days.toml",
        include_str!("../library/average_sales_cycle_days.toml"),
    ),
    (
        "slippage_adjusted_close_rate.toml",
        include_str!("../library/slippage_adjusted_close_rate.toml"),
    ),
    (
        "required_coverage.toml",
        include_str!("../library/required_coverage.toml"),
    ),
    (
        "weighted_pipeline.toml",
        include_str!("../library/weighted_pipeline.toml"),
    ),
    (
        "open_pipeline.toml",
        include_str!("../library/open_pipeline.toml"),
    ),
    (
        "close_rate.toml",
        include_str!("../library/close_rate.toml"),
    ),
    (
        "close_rate_by_amount.toml",
        include_str!("../library/close_rate_by_amount.toml"),
    ),
    ("win_rate.toml", include_str!("../library/win_rate.toml")),
    (
        "win_rate_by_amount.toml",
        include_str!("../library/win_rate_by_amount.toml"),
    ),
    (
        "average_won_deal_size.toml",
        include_str!("../library/average_won_deal_size.toml"),
    ),
    (
        "pipeline_created.toml",
        include_str!("../library/pipeline_created.toml"),
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

/// Dimensions a metric can be broken down by, and the SQL (over the `d` CTE) that gives each.
pub const DIMENSIONS: [(&str, &str); 15] = [
    ("owner", "owner_id"),
    ("manager", "owner_manager_id"),
    ("team", "owner_team"),
    ("region", "owner_region"),
    ("segment", "segment"),
    ("source", "source"),
    ("type", "type"),
    ("product", "custom_product"),
    ("industry", "account_industry"),
    ("account_region", "account_region"),
    ("stage", "stage"),
    ("forecast_category", "forecast_category"),
    (
        "cohort_month",
        "to_char(date_trunc('month', created_at), '%Y-%m')",
    ),
    (
        "cohort_quarter",
        "concat(CAST(date_part('year', created_at) AS INT), '-Q', CAST(date_part('quarter', created_at) AS INT))",
    ),
    ("loss_reason", "loss_reason"),
];

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

/// The SQL a metric compiles to (DataFusion dialect).
pub fn compile(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_inner(m, q, false)
}

/// The SQL that lists the deals behind a metric: one row per deal counted
/// (role `counted`) or left out (role `excluded`), with its contribution to
/// the numerator and the denominator. Summing the counted rows per dimension
/// gives exactly what [`compile`] gives.
pub fn compile_explain(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_inner(m, q, true)
}

fn compile_inner(m: &Metric, q: &MetricQuery, explain: bool) -> Result<String, MetricError> {
    use pipewise_model::time::{date_end, date_start, format_timestamp};
    let as_of = format_timestamp(q.as_of.unwrap_or(i64::MAX / 2));
    let mut dims = Vec::new();
    for d in &q.by {
        let Some((_, expr)) = DIMENSIONS.iter().find(|(n, _)| n == d) else {
            return Err(MetricError::Query(format!(
                "--by {d:?}: expected one of {}",
                DIMENSIONS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        dims.push((d.clone(), *expr));
    }
    let (period, start_at, end_at) = match q.period {
        None => ("TRUE".to_string(), None, None),
        Some((a, b)) => {
            let (ps, pe) = (
                format_timestamp(date_start(a)),
                format_timestamp(date_end(b)),
            );
            let col = m.sql.period.clone();
            let filter = match col.as_str() {
                "none" => "TRUE".to_string(),
                "close_date" => format!(
                    "{col} BETWEEN CAST({} AS DATE) AND CAST({} AS DATE)",
                    quote(&pipewise_model::time::format_date(a)),
                    quote(&pipewise_model::time::format_date(b))
                ),
                _ => format!(
                    "{col} >= CAST({} AS TIMESTAMP) AND {col} <= CAST({} AS TIMESTAMP)",
                    quote(&ps),
                    quote(&pe)
                ),
            };
            (filter, Some(ps), Some(pe))
        }
    };
    // Placeholders: the period's bounds (a metric without a period sees all time).
    let fill = |e: &str| -> String {
        let (ps, pe) = (
            start_at
                .clone()
                .unwrap_or_else(|| "1900-01-01T00:00:00Z".into()),
            end_at
                .clone()
                .unwrap_or_else(|| "2200-12-31T23:59:59Z".into()),
        );
        e.replace(
            "{period_start}",
            &format!("CAST({} AS TIMESTAMP)", quote(&ps)),
        )
        .replace(
            "{period_end}",
            &format!("CAST({} AS TIMESTAMP)", quote(&pe)),
        )
        .replace(
            "{period_start_date}",
            &format!("CAST({} AS DATE)", quote(&ps[..10])),
        )
        .replace(
            "{period_end_date}",
            &format!("CAST({} AS DATE)", quote(&pe[..10])),
        )
    };
    // The deal as it stood when the period began (start_* columns; null before
    // creation), joined only for metrics that read it.
    let uses_start = [
        Some(&m.sql.population),
        Some(&m.sql.numerator),
        m.sql.denominator.as_ref(),
        m.sql.excluded.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|e| e.contains("start_"));
    let start_snapshot = if !uses_start {
        String::new()
    } else {
        format!(
            "LEFT JOIN (SELECT id AS s_id, stage AS start_stage, is_closed AS start_is_closed, close_date AS start_close_date, \
         amount AS start_amount, forecast_category AS start_forecast_category, qualified AS start_qualified \
         FROM deal_facts({}{})) s ON s.s_id = f.id",
            quote(
                &start_at
                    .clone()
                    .map(|s| {
                        // the instant just before the period starts
                        let t = pipewise_model::time::parse_iso_instant(&s, false).unwrap_or(0) - 1;
                        format_timestamp(t)
                    })
                    .unwrap_or_else(|| "1900-01-01T00:00:00Z".into())
            ),
            if q.known { ", true" } else { "" },
        )
    };
    let start_cols = if uses_start { ", s.*" } else { "" };
    let select_dims: Vec<String> = dims
        .iter()
        .map(|(n, e)| format!("{e} AS \"{n}\""))
        .collect();
    let group: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
    let den = m
        .sql
        .denominator
        .as_deref()
        .map(fill)
        .unwrap_or_else(|| "NULL".into());
    let excluded = m
        .sql
        .excluded
        .as_deref()
        .map(|e| {
            format!(
                "SUM(CASE WHEN ({}) AND ({period}) THEN 1 ELSE 0 END)",
                fill(e)
            )
        })
        .unwrap_or_else(|| "NULL".into());
    // One CTE joins the deal facts to their owner and account once, with
    // unambiguous names, so metric expressions name plain columns.
    let cte = format!(
        "WITH d AS (SELECT f.*, u.manager_id AS owner_manager_id, u.team AS owner_team, u.region AS owner_region, \
         a.industry AS account_industry, a.region AS account_region{start_cols} \
         FROM deal_facts({as_of}{known}) f LEFT JOIN users u ON u.id = f.owner_id LEFT JOIN accounts a ON a.id = f.account_id \
         {start_snapshot})",
        as_of = quote(&as_of),
        known = if q.known { ", true" } else { "" },
    );
    let dims_sql = if select_dims.is_empty() {
        String::new()
    } else {
        format!("{}, ", select_dims.join(", "))
    };
    let (pop, num) = (fill(&m.sql.population), fill(&m.sql.numerator));
    let sql = if explain {
        let excl = m
            .sql
            .excluded
            .as_deref()
            .map(fill)
            .unwrap_or_else(|| "FALSE".into());
        let mut order: Vec<String> = (1..=dims.len()).map(|i| (i + 1).to_string()).collect();
        order.push("1".into());
        format!(
            "{cte} SELECT id AS opportunity_id, {dims_sql}name, stage, amount, \
             CASE WHEN ({pop}) THEN 'counted' ELSE 'excluded' END AS role, \
             CAST(CASE WHEN ({pop}) THEN ({num}) ELSE 0 END AS DOUBLE) AS numerator, \
             CAST(CASE WHEN ({pop}) THEN ({den}) ELSE 0 END AS DOUBLE) AS denominator \
             FROM d WHERE (({pop}) OR ({excl})) AND ({period}) ORDER BY {}",
            order.join(", ")
        )
    } else {
        let mut sql = format!(
            "{cte} SELECT {dims_sql}CAST(SUM(CASE WHEN ({pop}) AND ({period}) THEN ({num}) ELSE 0 END) AS DOUBLE) AS numerator, \
             CAST(SUM(CASE WHEN ({pop}) AND ({period}) THEN ({den}) ELSE 0 END) AS DOUBLE) AS denominator, \
             CAST({excluded} AS BIGINT) AS excluded FROM d"
        );
        if !group.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {} ORDER BY {}",
                group.join(", "),
                group.join(", ")
            ));
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
            let value = if m.sql.denominator.is_none() {
                Some(numerator)
            } else if denominator != 0.0 {
                Some(numerator / denominator)
            } else {
                None
            };
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
        by: Vec::new(),
        period: Some(period),
        as_of,
        known: false,
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

/// One deal behind a metric's number.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRow {
    pub opportunity_id: String,
    pub dims: Vec<(String, Option<String>)>,
    pub name: Option<String>,
    pub stage: Option<String>,
    pub amount: Option<f64>,
    /// `counted` or `excluded`.
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
            opportunity_id: text(&r[0]).unwrap_or_default(),
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
                    as_of: None,
                    known: false,
                },
            )
            .unwrap();
        }
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
