//! The pipeline ledger: every change of every opportunity, kept forever.
//!
//! * [`EventLog`] is the in-memory, columnar form: one [`FieldColumn`] per
//!   field, each sorted by (opportunity key, effective_at, seq).
//! * [`Store`] is the on-disk form: a workspace folder of append-only Parquet
//!   segments plus entity tables, and a manifest naming the current consistent
//!   version. A commit writes new files first and swaps the manifest pointer
//!   last with an atomic rename, so a crash leaves the previous version intact.
//! * [`asof`] reconstructs state as of any time (by effective time and,
//!   optionally, recorded time for backtests), grouped totals over many cut
//!   times in one pass, and the changes between two times.
//!
//! Architecture invariant: this crate knows nothing of SQL engines, CSV or
//! the clock; callers pass every timestamp in.

pub mod asof;
mod error;
pub mod flow;
mod log;
mod parquet_io;
mod store;
pub mod tables;

pub use asof::{Cut, GroupBy, GroupTotal, OpportunityState};
pub use error::LedgerError;
pub use log::{EventLog, FieldColumn, Keys, NULL_TEXT, NewOpportunity, Values, ValuesBuilder};
pub use store::{
    IngestRecord, Manifest, Projection, SegmentInfo, SourceFile, Store, TableSet, WriteLock,
};

pub use store::{Commit, CommitSummary, EventColumns, FieldEvents};

/// A commit of opportunities and events only.
pub fn store_commit(
    new_opportunities: Vec<NewOpportunity>,
    events: Vec<pipewise_model::OpportunityEvent>,
) -> Commit {
    Commit {
        new_opportunities,
        events,
        ..Commit::default()
    }
}
