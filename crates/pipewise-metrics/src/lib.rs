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
//! Where things are, in the order a metric travels:
//! - [`definition`]: a metric's definition, parsed and validated;
//!   [`library`]: the built-ins (`library/*.toml`, shipped in the binary) and
//!   a workspace's `metrics/` folder, which adds metrics or overrides them;
//! - [`dialect`]: the dimensions a metric breaks down by and the SQL
//!   dialects it compiles to; `expr`: what is decided about an expression,
//!   from its parse;
//! - [`compile`](mod@compile): a metric (or a group sharing one scan) to SQL;
//! - [`evaluate`](mod@evaluate): running it on the engine, one metric or many;
//!   [`scorecard`]: many metrics for many breakdowns, rolled up from fine
//!   sums; [`explain`](mod@explain): the rows behind a number;
//! - [`funnel`], [`velocity`]: stage funnel and aging; the velocity factors.
//!
//! Every result row carries the numerator and denominator next to the
//! value. Errors ([`MetricError`]) say whether they are the user's to fix.

pub mod compile;
pub mod definition;
pub mod dialect;
mod error;
pub mod evaluate;
pub mod explain;
mod expr;
pub mod funnel;
pub mod library;
pub mod scorecard;
pub mod velocity;

pub use compile::{MetricQuery, compile, compile_explain};
pub use definition::{
    Metric, MetricSql, PERIOD_FIELDS, Polarity, QuotaSide, Source, Thresholds, Unit, ValueForm,
};
pub use dialect::{DIMENSIONS, Dialect};
pub use error::MetricError;
pub use evaluate::{MetricRow, evaluate, evaluate_many, velocity_factors};
pub use explain::{ExplainRow, explain};
pub use library::Library;
pub use scorecard::{ScorecardSums, evaluate_breakdowns, sum_breakdowns};
