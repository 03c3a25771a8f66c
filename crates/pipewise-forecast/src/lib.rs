//! Forecasts of a period's bookings (issue #13): every method the seeds
//! describe, side by side, each with the terms of its number; Monte Carlo
//! quantiles from a seeded generator; walk-forward backtests that see only
//! what had been recorded by each cut.
//!
//! The data flows one way: [`scan`] reads the ledger (an in-memory
//! [`pipewise_ledger::EventLog`], no IO) at weekly cuts into open deals and
//! per-cell tallies of what became of them; [`rates`] turns past periods'
//! tallies at the same week into conversion rates; [`methods`] computes each
//! method's number from the deals open now and those rates; [`simulate`]
//! draws the probabilistic method's quantiles; [`groups`] splits deals by
//! owner, team, manager or segment and finds their quotas; [`backtest`]
//! walks past periods week by week and scores every method against what was
//! booked; [`submissions`] keeps people's calls and their bias ledger.

pub mod backtest;
pub mod calendar;
pub mod forecast;
pub mod groups;
pub mod methods;
pub mod rates;
pub mod scan;
pub mod simulate;
pub mod submissions;

pub use calendar::Quarter;
pub use methods::{Forecast, Method, Term};
