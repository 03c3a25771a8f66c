//! Compiling metric definitions to SQL.
//!
//! A group of metrics over the same rows compiles to one statement ([`Mode::Aggregate`]),
//! a per-row listing ([`Mode::Explain`]) or the fine plan a scorecard rolls up
//! ([`Mode::Fine`]). The steps, each in its own place:
//! - [`Group::new`] checks the group and the query, resolves the dimensions
//!   and fills each metric's expressions in for the period (parsing them:
//!   what the compiler decides about an expression it reads from the parse,
//!   [`crate::expr`]);
//! - [`rows`] writes the CTEs of the rows the metrics count (deals,
//!   activities or leads, joined only to what is read) and of quotas;
//! - [`sums`] turns every numerator, denominator and count into one exact sum
//!   each and writes the aggregate or fine statements;
//! - [`explain_sql`] lists the rows instead; [`share`] counts owners.

mod rows;
mod share;
mod sums;

use crate::dialect::{DIMENSIONS, Dialect, QUOTA_DIMENSIONS, dimension_sql};
use crate::expr::{Expression, PLACEHOLDERS, with_placeholder_idents};
use crate::{Metric, MetricError, QuotaSide, Source};
use pipewise_model::Timestamp;
use pipewise_model::time::{date_end, date_start, format_date, format_timestamp};
use rows::Rows;
use std::collections::BTreeSet;

pub(crate) use sums::FineSql;

/// The type terms are summed in: exact, so sums do not depend on the order
/// parallel partitions meet in (same input, same output, byte for byte),
/// and PostgreSQL sums the same way. Ten decimal places keep days (a
/// fraction of 86,400 seconds) and money exact to far below display.
const EXACT: &str = "DECIMAL(38, 10)";

/// 2199-12-31T23:59:59.999999Z: "as of now and forever" in SQL literals
/// (DataFusion casts timestamp literals through nanoseconds, which end in 2262).
const END_OF_TIME: Timestamp = 7_258_118_399_999_999;

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct MetricQuery {
    /// Dimensions to break the metric down by, in order ([`DIMENSIONS`]).
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
    /// The SQL dialect to write.
    pub dialect: Dialect,
}

/// A SQL string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL a metric compiles to.
pub fn compile(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_group(&[m], q, Mode::Aggregate).and_then(Compiled::sql)
}

/// The SQL that lists the rows behind a metric: one per deal (activity, lead)
/// counted (role `counted`) or left out (role `excluded`), and for quota-based
/// metrics one per quota (role `quota`), with its contribution to the
/// numerator and the denominator. Summing them per dimension gives exactly
/// what [`compile`] gives.
pub fn compile_explain(m: &Metric, q: &MetricQuery) -> Result<String, MetricError> {
    compile_group(&[m], q, Mode::Explain).and_then(Compiled::sql)
}

/// What [`compile_group`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Sums per group (what [`crate::evaluate`] runs).
    Aggregate,
    /// One row per deal / activity / lead (what [`crate::explain`] runs).
    Explain,
    /// The raw sums per group, and the quota per group apart (what
    /// [`crate::evaluate_breakdowns`] rolls up into coarser groups).
    Fine,
}

/// What [`compile_group`] gives.
pub(crate) enum Compiled {
    /// One statement (aggregate or explain).
    Sql(String),
    /// The statements of [`Mode::Fine`].
    Fine(FineSql),
}

impl Compiled {
    pub(crate) fn sql(self) -> Result<String, MetricError> {
        match self {
            Compiled::Sql(s) => Ok(s),
            Compiled::Fine(_) => Err(MetricError::Internal(
                "a fine plan is not one statement".into(),
            )),
        }
    }

    pub(crate) fn fine(self) -> Result<FineSql, MetricError> {
        match self {
            Compiled::Fine(f) => Ok(f),
            Compiled::Sql(_) => Err(MetricError::Internal("expected a fine plan".into())),
        }
    }
}

/// One SQL statement computing several metrics over the same rows: one scan,
/// one set of numerator / denominator / excluded columns per metric (named
/// `numerator_<i>` … when there are several). The metrics must count the same
/// source and all or none of them use quota; an explanation takes one metric.
pub(crate) fn compile_group(
    ms: &[&Metric],
    q: &MetricQuery,
    mode: Mode,
) -> Result<Compiled, MetricError> {
    if let (Some(t), Mode::Aggregate, [m]) =
        (ms.first().and_then(|m| m.sql.share_at_or_above), mode, ms)
    {
        return share::compile_share(m, q, t).map(Compiled::Sql);
    }
    let g = Group::new(ms, q, mode)?;
    let rows = Rows::new(&g);
    Ok(match mode {
        Mode::Explain => Compiled::Sql(explain_sql(&g, &rows)),
        Mode::Aggregate => Compiled::Sql(sums::Sums::new(&g).aggregate_sql(&g, &rows)),
        Mode::Fine => Compiled::Fine(sums::Sums::new(&g).fine_plan(&g, &rows)),
    })
}

/// The times a query's SQL names, as literals of the dialect.
pub(super) struct Times {
    /// The as-of time as a string literal (for table functions).
    as_of: String,
    /// The as-of time as a timestamp literal (for comparisons).
    as_of_t: String,
    /// `, true` when only what was recorded by then counts.
    known: &'static str,
    /// First and last day of the period (all time without one).
    days: (i32, i32),
    /// Just before the period began (the `start_*` snapshot).
    before: String,
    timestamp: &'static str,
}

impl Times {
    fn new(q: &MetricQuery) -> Times {
        let as_of = format_timestamp(q.as_of.unwrap_or(END_OF_TIME));
        // A metric without a period sees all time.
        let days = q.period.unwrap_or((
            pipewise_model::time::parse_period("1900", 1).map_or(0, |p| p.0),
            pipewise_model::time::parse_period("2200", 1).map_or(0, |p| p.1),
        ));
        let timestamp = q.dialect.timestamp();
        Times {
            as_of_t: format!("CAST({} AS {timestamp})", quote(&as_of)),
            as_of: quote(&as_of),
            known: if q.known { ", true" } else { "" },
            days,
            before: quote(&format_timestamp(date_start(days.0) - 1)),
            timestamp,
        }
    }

    /// A timestamp literal.
    fn timestamp_literal(&self, t: Timestamp) -> String {
        format!(
            "CAST({} AS {})",
            quote(&format_timestamp(t)),
            self.timestamp
        )
    }

    /// A date literal.
    fn date_literal(day: i32) -> String {
        format!("CAST({} AS DATE)", quote(&format_date(day)))
    }

    fn period_start(&self) -> String {
        self.timestamp_literal(date_start(self.days.0))
    }

    fn period_end(&self) -> String {
        self.timestamp_literal(date_end(self.days.1))
    }

    /// An expression with its placeholder identifiers filled in.
    fn fill(&self, e: &str) -> String {
        let value = |p: &str| match p {
            "period_start" => self.period_start(),
            "period_end" => self.period_end(),
            "period_start_date" => Times::date_literal(self.days.0),
            "period_end_date" => Times::date_literal(self.days.1),
            _ => (self.days.1 - self.days.0 + 1).to_string(),
        };
        let mut out = e.to_string();
        for p in PLACEHOLDERS {
            let ident = format!("__{p}__");
            if out.contains(&ident) {
                out = out.replace(&ident, &value(p));
            }
        }
        out
    }
}

/// One of a metric's expressions: its SQL for the query, and its parse.
pub(super) struct Term {
    sql: String,
    parsed: Expression,
}

impl Term {
    fn new(m: &Metric, key: &str, template: &str, times: &Times) -> Result<Term, MetricError> {
        let idents = with_placeholder_idents(template);
        let parsed = Expression::parse(&idents).map_err(|e| MetricError::Definition {
            file: m.origin.clone(),
            message: format!("sql.{key} is not a SQL expression: {e}"),
        })?;
        Ok(Term {
            sql: times.fill(&idents),
            parsed,
        })
    }

    /// `Some(None)` for a count of every row, `Some(Some(condition))` for a
    /// count of the rows meeting a condition (filled in), else `None`.
    fn count_condition(&self, times: &Times) -> Option<Option<String>> {
        self.parsed
            .count_condition()
            .map(|c| c.map(|c| times.fill(&c)))
    }
}

/// A metric's expressions, with the period's placeholders filled in.
pub(super) struct Filled {
    population: Term,
    numerator: Term,
    denominator: Term,
    excluded: Option<Term>,
}

impl Filled {
    /// The columns any of the expressions reads.
    fn columns(&self) -> BTreeSet<String> {
        [&self.population, &self.numerator, &self.denominator]
            .into_iter()
            .chain(self.excluded.as_ref())
            .flat_map(|t| t.parsed.columns())
            .collect()
    }
}

/// One metric of a group: its period test and its expressions.
pub(super) struct Part {
    period: String,
    f: Filled,
    /// The columns its expressions read.
    columns: BTreeSet<String>,
}

/// A group of metrics to compile together, checked, with what every
/// statement of it shares.
pub(super) struct Group<'a> {
    ms: &'a [&'a Metric],
    q: &'a MetricQuery,
    mode: Mode,
    source: Source,
    has_quota: bool,
    times: Times,
    /// (name, SQL) per dimension, in the order asked for.
    dims: Vec<(String, String)>,
    /// The columns the dimensions read.
    dim_columns: BTreeSet<String>,
    parts: Vec<Part>,
}

impl<'a> Group<'a> {
    fn new(ms: &'a [&'a Metric], q: &'a MetricQuery, mode: Mode) -> Result<Group<'a>, MetricError> {
        let Some(m0) = ms.first() else {
            return Err(MetricError::Internal("no metric to compile".into()));
        };
        if ms.len() > 1 && ms.iter().any(|m| m.sql.share_at_or_above.is_some()) {
            return Err(MetricError::Internal(
                "a metric that counts owners is compiled on its own".into(),
            ));
        }
        let mixed = ms.iter().any(|m| {
            m.sql.from != m0.sql.from
                // (a fine plan sums quota apart, so it takes both kinds)
                || (mode != Mode::Fine && m.sql.quota.is_some() != m0.sql.quota.is_some())
        });
        if mixed || (mode == Mode::Explain && ms.len() > 1) {
            return Err(MetricError::Internal(
                "metrics compiled together must count the same rows, with or without quota".into(),
            ));
        }
        let has_quota = ms.iter().any(|m| m.sql.quota.is_some());
        let dims = dimensions(m0, q, has_quota && mode != Mode::Fine)?;
        let mut dim_columns = BTreeSet::new();
        for (name, sql) in &dims {
            let parsed = Expression::parse(sql).map_err(|e| {
                MetricError::Internal(format!("dimension {name} is not an expression: {e}"))
            })?;
            dim_columns.extend(parsed.columns());
        }
        let times = Times::new(q);
        let parts = ms
            .iter()
            .map(|m| part(m, q, &times))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Group {
            ms,
            q,
            mode,
            source: m0.sql.from,
            has_quota,
            times,
            dims,
            dim_columns,
            parts,
        })
    }

    /// Does a dimension or any metric's expression read one of `cols`?
    fn reads(&self, cols: &[&str]) -> bool {
        cols.iter().any(|c| {
            self.dim_columns.contains(*c) || self.parts.iter().any(|p| p.columns.contains(*c))
        })
    }

    /// Does any expression read a column of the deal as it stood before the
    /// period (`start_*`)?
    fn reads_start(&self) -> bool {
        self.parts.iter().any(|p| {
            p.columns
                .iter()
                .any(|c| rows::START_COLUMNS.contains(&c.as_str()))
        })
    }

    /// `SELECT`'s dimension columns: `expr AS "name", ` each.
    fn select_dims(&self) -> String {
        self.dims
            .iter()
            .map(|(name, e)| format!("{e} AS \"{name}\", "))
            .collect()
    }

    /// ` GROUP BY 1, 2, …` over the first `n` columns (nothing for none).
    fn group_by(n: usize) -> String {
        if n == 0 {
            return String::new();
        }
        let cols: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        format!(" GROUP BY {}", cols.join(", "))
    }
}

/// The dimensions asked for, as (name, SQL over the rows); `rep_only` when
/// quota limits them to rep dimensions.
fn dimensions(
    m: &Metric,
    q: &MetricQuery,
    rep_only: bool,
) -> Result<Vec<(String, String)>, MetricError> {
    let source = m.sql.from;
    let refuse = |d: &str, reason: String| MetricError::Dimension {
        dimension: d.to_string(),
        reason,
    };
    q.by.iter()
        .map(|d| {
            if !DIMENSIONS.contains(&d.as_str()) {
                return Err(refuse(
                    d,
                    format!("expected one of {}", DIMENSIONS.join(", ")),
                ));
            }
            if rep_only && !QUOTA_DIMENSIONS.contains(&d.as_str()) {
                return Err(refuse(
                    d,
                    format!(
                        "{} counts quota, which is set per rep; break it down by {}",
                        m.name,
                        QUOTA_DIMENSIONS.join(", ")
                    ),
                ));
            }
            match dimension_sql(source, d, q.dialect) {
                Some(e) => Ok((d.clone(), e)),
                None => Err(refuse(
                    d,
                    format!("{} counts {}, which have no {d}", m.name, source.as_str()),
                )),
            }
        })
        .collect()
}

/// A metric's period test and filled-in expressions.
fn part(m: &Metric, q: &MetricQuery, times: &Times) -> Result<Part, MetricError> {
    let (first, last) = times.days;
    let period = match (q.period, m.sql.period.as_str()) {
        (None, _) | (_, "none") => "TRUE".to_string(),
        (Some(_), "close_date") => format!(
            "close_date BETWEEN {} AND {}",
            Times::date_literal(first),
            Times::date_literal(last)
        ),
        (Some(_), col) => format!(
            "{col} >= {} AND {col} <= {}",
            times.period_start(),
            times.period_end()
        ),
    };
    let term = |key: &str, e: &str| Term::new(m, key, e, times);
    let no_denominator = if m.sql.quota.is_some() { "0" } else { "NULL" };
    let f = Filled {
        population: term("population", &m.sql.population)?,
        numerator: term("numerator", &m.sql.numerator)?,
        denominator: term(
            "denominator",
            m.sql.denominator.as_deref().unwrap_or(no_denominator),
        )?,
        excluded: m
            .sql
            .excluded
            .as_deref()
            .map(|e| term("excluded", e))
            .transpose()?,
    };
    Ok(Part {
        period,
        columns: f.columns(),
        f,
    })
}

/// [`Mode::Explain`]: one row per deal (activity, lead) the metric counts
/// or leaves out, and per quota, with its contributions.
fn explain_sql(g: &Group, rows: &Rows) -> String {
    let dbl = g.q.dialect.double();
    let Part { period, f, .. } = &g.parts[0];
    let (pop, num, den) = (&f.population.sql, &f.numerator.sql, &f.denominator.sql);
    let excl = f.excluded.as_ref().map_or("FALSE", |t| t.sql.as_str());
    let (id, name, stage, amount) = match g.source {
        Source::Deals => ("id", "name", "stage", "amount"),
        Source::Activities => ("activity_id", "activity_type", "activity_stage", "amount"),
        Source::Leads => ("lead_id", "company", "status", "NULL"),
    };
    let (with, owner_filter) = (rows.with(), &rows.owner_filter);
    let select_dims = g.select_dims();
    let mut sql = format!(
        "{with}SELECT {id} AS item_id, {select_dims}{name} AS name, {stage} AS stage, \
         CAST({amount} AS {dbl}) AS amount, CASE WHEN ({pop}) THEN 'counted' ELSE 'excluded' END AS role, \
         CAST(CASE WHEN ({pop}) THEN ({num}) ELSE 0 END AS {dbl}) AS numerator, \
         CAST(CASE WHEN ({pop}) THEN ({den}) ELSE 0 END AS {dbl}) AS denominator \
         FROM d WHERE (({pop}) OR ({excl})) AND ({period}) AND {owner_filter}"
    );
    if let Some(side) = g.ms[0].sql.quota {
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
    let mut ord: Vec<String> = (2..=g.dims.len() + 1)
        .map(|i| format!("{i} ASC NULLS LAST"))
        .collect();
    ord.push("1".into());
    sql.push_str(&format!(" ORDER BY {}", ord.join(", ")));
    sql
}
