//! Resolved settings: the workspace, its sales process, times and date orders,
//! checked once before a command runs.

use anyhow::{Context, Result, anyhow, bail};
use pipewise_ledger::Store;
use pipewise_model::{SalesProcess, Timestamp};
use std::path::{Path, PathBuf};

pub const PROCESS_FILE: &str = "pipewise.toml";

/// Errors the user can fix get exit code 2 (see [`is_user_error`] for the
/// library errors that count as such).
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

pub fn user(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UserError(msg.into()))
}

pub fn is_user_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<UserError>().is_some()
            || c.downcast_ref::<pipewise_ingest::IngestError>()
                .is_some_and(|ie| {
                    !matches!(
                        ie,
                        pipewise_ingest::IngestError::Io { .. }
                            | pipewise_ingest::IngestError::Ledger(_)
                            | pipewise_ingest::IngestError::Arrow(_)
                    )
                })
            || c.downcast_ref::<pipewise_ledger::LedgerError>()
                .is_some_and(|le| matches!(le, pipewise_ledger::LedgerError::NotAWorkspace { .. }))
            || c.downcast_ref::<pipewise_model::ProcessError>().is_some()
            || c.downcast_ref::<pipewise_metrics::MetricError>()
                .is_some_and(|me| me.is_user_error())
            || c.downcast_ref::<pipewise_score::dataset::DatasetError>()
                .is_some()
            || c.downcast_ref::<pipewise_score::model::TrainError>()
                .is_some_and(|te| !matches!(te, pipewise_score::model::TrainError::Fit(_)))
            || c.downcast_ref::<pipewise_score::model::ModelFileError>()
                .is_some_and(|me| {
                    matches!(me, pipewise_score::model::ModelFileError::Format { .. })
                })
            || c.downcast_ref::<pipewise_score::rules::RuleError>()
                .is_some()
    })
}

/// The workspace folder: --workspace, else $PIPEWISE_WORKSPACE (clap reads it), else ".".
pub fn workspace_dir(flag: &Option<PathBuf>) -> PathBuf {
    flag.clone().unwrap_or_else(|| PathBuf::from("."))
}

/// An opened workspace: its ledger and its sales process.
pub struct Workspace {
    pub store: Store,
    pub process: SalesProcess,
    /// Fiscal years the CRM defines itself (Salesforce custom fiscal years).
    pub calendar: pipewise_model::FiscalCalendar,
}

impl Workspace {
    /// A period argument (`what` names the option in errors), with the
    /// workspace's fiscal year.
    pub fn period(&self, p: &str, what: &str) -> Result<(i32, i32)> {
        pipewise_model::time::parse_period_in(
            p,
            self.process.fiscal_year_start_month(),
            &self.calendar,
        )
        .ok_or_else(|| {
            user(format!(
                "{what} {p:?}: expected 2026-Q3, FY2027-Q1, FY2027, 2026-07, 2026 or 2026-07-01..2026-09-30"
            ))
        })
    }

    /// A `--currency CODE` argument: the code (upper case) and the factor
    /// that turns an amount in the corporate currency into it, at its static
    /// rate. `None` without the option.
    pub fn currency(&self, code: Option<&str>) -> Result<Option<(String, f64)>> {
        let Some(code) = code else {
            return Ok(None);
        };
        let rates =
            pipewise_ledger::tables::rates_from_batches(&self.store.read_table("currency_rates")?)
                .ok_or_else(|| {
                    user(format!(
                        "--currency {code}: this workspace has no exchange rates (its amounts are in one currency)\n\nhint: ingest an export with its rates (Salesforce CurrencyType.csv), or add a currencies.csv to the workspace before ingesting"
                    ))
                })?;
        let f = rates.from_corporate(1.0, code).ok_or_else(|| {
            user(format!(
                "--currency {code}: no rate for it; the workspace has {}",
                rates.codes().join(", ")
            ))
        })?;
        Ok(Some((code.to_ascii_uppercase(), f)))
    }

    /// A `--pipeline NAME` argument: the code of the sales process it names.
    pub fn pipeline(&self, name: &str) -> Result<usize> {
        self.process.pipeline_code(name).ok_or_else(|| {
            user(format!(
                "--pipeline {name:?}: pipewise.toml has no such sales process; it has {}",
                self.process
                    .pipelines()
                    .iter()
                    .map(|p| format!("{:?}", p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

pub fn open(dir: &Path) -> Result<Workspace> {
    let store = Store::open(dir)?;
    let process = load_process(dir)?;
    let calendar =
        pipewise_ledger::tables::fiscal_from_batches(&store.read_table("fiscal_periods")?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    Ok(Workspace {
        store,
        process,
        calendar,
    })
}

pub fn load_process(dir: &Path) -> Result<SalesProcess> {
    let path = dir.join(PROCESS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read the sales process", path.display()))?;
    Ok(SalesProcess::from_toml(&text, &path.display().to_string())?)
}

/// A point in time from the command line: `2026-09-30` means the end of that day.
/// An optional `--as-of`-style option as an instant.
pub fn opt_instant(s: Option<&str>, what: &str) -> Result<Option<Timestamp>> {
    s.map(|s| instant(s, what)).transpose()
}

pub fn instant(s: &str, what: &str) -> Result<Timestamp> {
    pipewise_model::time::parse_iso_instant(s, true)
        .ok_or_else(|| user(format!("{what}: {s:?} is not a date or time\n\nhint: use an ISO date like 2026-09-30 or an instant like 2026-09-30T17:00:00Z")))
}

pub fn date_order(s: &Option<String>) -> Result<Option<pipewise_ingest::DateOrder>> {
    match s {
        None => Ok(None),
        Some(v) => pipewise_ingest::DateOrder::parse(v)
            .map(Some)
            .ok_or_else(|| {
                user(format!(
                    "--date-order {v:?}: expected mdy (month first) or dmy (day first)"
                ))
            }),
    }
}

/// Now, from the clock: only the binary reads it.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub fn ensure_absent_or_empty(dir: &Path) -> Result<()> {
    if dir.join("ledger").exists() {
        bail!(user(format!(
            "{} already holds a pipewise workspace",
            dir.display()
        )));
    }
    Ok(())
}

pub fn not_found(dir: &Path) -> anyhow::Error {
    anyhow!(user(format!(
        "{} is not a pipewise workspace\n\nhint: run `pipewise init --workspace {}` first, or pass --workspace / set PIPEWISE_WORKSPACE",
        dir.display(),
        dir.display()
    )))
}
