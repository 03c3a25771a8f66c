//! Scores: lead scoring and deal win / slip probability (issue #12).
//!
//! This crate sits between the engine and the binary and links no SQL
//! engine: it takes plain feature columns and labels and gives scores,
//! explanations and model cards. So far it holds [`validate`], the measures
//! every model is judged by (seed 001's validation plan and more): AUC,
//! precision and recall at k, lift by decile, Brier score, log loss, a
//! reliability table and the no-information baseline.

pub mod boosted;
pub mod calibrate;
pub mod card;
pub mod dataset;
pub mod deals;
pub mod encode;
pub mod experiment;
pub mod leads;
pub mod leakage;
pub mod logistic;
pub mod model;
pub mod rules;
pub mod sla;
pub mod split;
mod tables;
pub mod validate;
