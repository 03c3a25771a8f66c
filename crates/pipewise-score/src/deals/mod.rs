//! Deal scores (issue #12 §1, §3): for every deal open at a time, the
//! probability that it is won in the period, lost, or slips past it.
//!
//! - [`history`]: what is read from a workspace (the ledger's fields, the
//!   activities, owners and accounts);
//! - [`rows`]: the deals open at a cut, their features as recorded by then,
//!   and their outcomes — training rows at weekly cuts;
//! - [`pooled`]: the small-data model, stage × segment × time in stage with
//!   empirical-Bayes shrinkage;
//! - [`model`]: the deal model, the pooled one or a richer learned one when
//!   validation says it is better, with its card.

pub mod history;
pub mod leakage;
pub mod model;
pub mod pooled;
pub mod rows;
