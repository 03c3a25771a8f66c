//! The canonical pipewise data model.
//!
//! Everything above this crate speaks these types: the entities a CRM holds
//! ([`User`], [`Account`], [`Activity`], [`Lead`], [`LeadEvent`], [`Quota`]),
//! the ledger's unit of change ([`OpportunityEvent`]: one field of one
//! opportunity changed at one time), the typed [`Value`]s fields carry, the
//! sales-process configuration ([`SalesProcess`]) and the Arrow schemas of the
//! canonical tables ([`schema`]).
//!
//! This crate does no IO and reads no clock.

pub mod currency;
mod entities;
mod field;
pub mod process;
pub mod schema;
pub mod time;

pub use entities::{
    Account, Activity, ActivityType, Direction, Lead, LeadEvent, OpportunityEvent, Quota, Role,
    User,
};
pub use field::{Field, FieldKind, LossReason, OpportunityType, Value};
pub use process::{ForecastCategory, Pipeline, ProcessError, SalesProcess, Stage, StageOutcome};
pub use time::{Date, FiscalCalendar, FiscalYear, Timestamp};
