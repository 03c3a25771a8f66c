//! A deterministic synthetic B2B company for demos, tests and benchmarks.
//!
//! [`generate`] builds a [`Company`]: reps in a manager hierarchy with a
//! spread of skill and ramping new hires, quotas per quarter, accounts, a lead
//! funnel (lead → SAL → SQL → opportunity), and opportunities that move
//! through the default sales process with the seeds' benchmark conversion
//! rates and time in stage per segment (seed-requirements §2.5), log-normal
//! amounts, slipping close dates, forecast-category overrides, losses split
//! between competition and no decision, quarter-end pull-ins, seller and
//! buyer activities and business cases that raise win rates (seed 000).
//!
//! Every opportunity draws from its own random stream derived from the seed
//! and its index, so output is identical for the same seed and size, on any
//! machine and thread count. The company can be written straight into a
//! ledger ([`Company::commit`]), or as a Salesforce export folder
//! ([`salesforce::write_export`]) together with the generator's own truth
//! ([`truth`]).

mod company;
mod params;
pub mod salesforce;
mod sim;
pub mod truth;

pub use company::{Company, Config, Size, SynthError, generate};
pub use params::Segment;
pub use sim::{Change, SimOpportunity};
