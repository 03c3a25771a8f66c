//! A metric definition: seed 001's template (name, purpose, formula,
//! numerator, denominator, data source, cadence) plus owner, unit, polarity,
//! thresholds and the SQL that computes it, parsed and validated.

use crate::MetricError;
use crate::expr::Expression;
use serde::Deserialize;

/// What a metric's value measures, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the units are their names
pub enum Unit {
    Ratio,
    Currency,
    Count,
    Days,
    Hours,
}

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the names say which way is better
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
}

/// The values at which a metric turns green and amber (else red).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Green at or past this value.
    pub green: f64,
    /// Amber at or past this value (else red).
    pub amber: f64,
}

/// The `[sql]` table: how a metric is computed over its rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSql {
    /// Which rows count (a SQL condition).
    pub population: String,
    /// The time column `--period` filters on; `none` when the expressions use
    /// `{period_start}` / `{period_end}` and the `start_*` columns themselves.
    pub period: String,
    /// The term summed into the numerator over the counted rows.
    pub numerator: String,
    /// The term summed into the denominator; without it the value is the
    /// numerator (a total).
    #[serde(default)]
    pub denominator: Option<String>,
    /// Rows left out on purpose, counted and reported (a SQL condition).
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
#[allow(missing_docs)] // the side of the fraction the quota is added to
pub enum QuotaSide {
    Numerator,
    Denominator,
}

/// How a metric's value follows from its numerator and denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueForm {
    /// numerator ÷ denominator.
    #[default]
    Ratio,
    /// 1 − |numerator ÷ denominator|: an accuracy from a signed error.
    OneMinusAbsRatio,
}

/// One metric definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// snake_case; a workspace metric of a built-in's name replaces it.
    pub name: String,
    /// What the metric is for (seed 001's template).
    pub purpose: String,
    /// The formula in words.
    pub formula: String,
    /// What the numerator counts, in words.
    pub numerator: String,
    /// What the denominator counts, in words.
    pub denominator: String,
    /// Where the data comes from.
    pub data_source: String,
    /// How often it is looked at.
    pub cadence: String,
    /// Who owns the definition.
    pub owner: String,
    /// What the value measures.
    pub unit: Unit,
    /// Which way is better.
    pub polarity: Polarity,
    /// When it turns green and amber.
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    /// How it is computed.
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

/// The line of `key = …` in a definition: in the `[sql]` table when it is
/// one of its keys (the template's own `numerator` and `denominator` are
/// prose at the top), else the first.
fn line_of(text: &str, key: &str) -> usize {
    let is_key = |l: &str| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    let lines: Vec<&str> = text.lines().collect();
    let sql = lines.iter().position(|l| l.trim() == "[sql]");
    let in_sql = sql.and_then(|s| {
        lines[s + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| is_key(l))
            .map(|i| s + 1 + i)
    });
    in_sql
        .or_else(|| lines.iter().position(|l| is_key(l)))
        .map_or(1, |i| i + 1)
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
        // Every expression must be one SQL expression: a typo is reported
        // here, with its line, not when a query first runs.
        for (key, v) in [
            ("population", Some(&m.sql.population)),
            ("numerator", Some(&m.sql.numerator)),
            ("denominator", m.sql.denominator.as_ref()),
            ("excluded", m.sql.excluded.as_ref()),
        ] {
            if let Some(Err(e)) = v.map(|v| Expression::parse_template(v)) {
                return Err(bad(key, format!("sql.{key} is not a SQL expression: {e}")));
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
    /// `deals`, `activities` or `leads`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Library;

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
        let line = good.lines().position(|l| l.starts_with("period ")).unwrap() + 1;
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
    fn an_expression_that_does_not_parse_is_reported_with_its_line() {
        let good = include_str!("../library/close_rate.toml");
        let line = good
            .lines()
            .position(|l| l.starts_with("numerator = \"CASE"))
            .unwrap()
            + 1;
        let bad = good.replace("THEN 1 ELSE 0 END", "THEN 1 ELSE 0");
        assert_ne!(bad, good);
        let e = Metric::from_toml(&bad, "m/x.toml").unwrap_err();
        assert!(e.is_user_error());
        let e = e.to_string();
        assert!(
            e.starts_with(&format!(
                "m/x.toml: line {line}: sql.numerator is not a SQL expression"
            )),
            "{e}"
        );
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
