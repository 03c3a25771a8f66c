//! CRM ingestion into the pipeline ledger.
//!
//! Connectors ([`salesforce`], [`hubspot`], [`mapping`]) read export folders
//! into a [`draft::Draft`]; the driver ([`run`]) sniffs the date order, runs
//! the connector, turns the draft into one atomic ledger commit, and writes
//! the quarantine file and the data-quality report.
//!
//! **Nothing is lost.** Every input row either lands or becomes a
//! [`QuarantineRecord`] (file, row, column, raw value, reason), and every
//! file's tally reconciles: read = landed + quarantined. Broken rows are
//! results, not errors: only an unreadable file, a missing required column or
//! an undecidable date order stops an ingest, with a message naming the file
//! and column and saying what was expected.

pub mod csvread;
pub mod draft;
pub mod hubspot;
pub mod mapping;
pub mod quality;
pub mod salesforce;
pub mod values;

pub use quality::{FileTally, QualityReport, QuarantineRecord, Reason};
pub use values::DateOrder;

use csvread::{RawFile, RawRow};
use draft::Draft;
use pipewise_ledger::{IngestRecord, SourceFile, Store};
use pipewise_model::time::format_timestamp;
use pipewise_model::{SalesProcess, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use values::{DateSniffer, SniffResult, ValueParser};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: cannot read it: {message}")]
    Unreadable { file: String, message: String },
    #[error("{file}: missing required column {column:?} (found: {found})\n\nhint: {hint}")]
    MissingColumn {
        file: String,
        column: String,
        found: String,
        hint: String,
    },
    #[error(
        "{file}, column {column}: dates like {example:?} could be month-first or day-first, and no date in this export decides it\n\nhint: pass --date-order mdy (03/04/2025 = March 4) or --date-order dmy (03/04/2025 = 3 April)"
    )]
    AmbiguousDates {
        file: String,
        column: String,
        example: String,
    },
    #[error(
        "this export mixes date orders: {day_first:?} can only be day-first but {month_first:?} can only be month-first\n\nhint: pass --date-order mdy or dmy; rows that do not parse in that order are quarantined"
    )]
    ConflictingDates {
        day_first: String,
        month_first: String,
    },
    #[error("{dir}: {message}")]
    NoInput { dir: String, message: String },
    #[error("{path}: {message}")]
    Mapping { path: String, message: String },
    #[error("{0}")]
    Ledger(#[from] pipewise_ledger::LedgerError),
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Settings every ingest takes.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// The snapshot time: current-state values without history are stamped
    /// with it, and it is the recorded time of everything learned now.
    pub as_of: Timestamp,
    /// Order of numeric dates; `None` = detect, and stop when undecidable.
    pub date_order: Option<DateOrder>,
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub report: QualityReport,
    pub quarantine: Vec<QuarantineRecord>,
    pub summary: pipewise_ledger::CommitSummary,
    /// Workspace-relative paths.
    pub quarantine_path: String,
    pub report_path: String,
}

/// The row was quarantined (the record is already in the context): skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantined;

/// Shared state of one ingest run, handed to the connector.
pub struct Ctx<'a> {
    pub parser: ValueParser,
    pub as_of: Timestamp,
    pub process: &'a SalesProcess,
    pub report: QualityReport,
    pub quarantine: Vec<QuarantineRecord>,
    tallies: BTreeMap<String, (u64, u64)>, // file → (landed, quarantined)
}

impl Ctx<'_> {
    /// Quarantine a row.
    pub fn reject(
        &mut self,
        file: &RawFile,
        row: &RawRow,
        column: &str,
        raw: &str,
        reason: Reason,
        detail: impl Into<String>,
    ) {
        let r = QuarantineRecord {
            file: file.name.clone(),
            row: row.line,
            column: column.to_string(),
            raw_value: raw.to_string(),
            reason,
            detail: detail.into(),
        };
        self.report.record(&r);
        self.quarantine.push(r);
        self.tallies.entry(file.name.clone()).or_default().1 += 1;
    }

    /// Report a problem on a row that lands anyway.
    pub fn flag(
        &mut self,
        file: &str,
        row: u64,
        column: &str,
        raw: &str,
        reason: Reason,
        detail: impl Into<String>,
    ) {
        let r = QuarantineRecord {
            file: file.to_string(),
            row,
            column: column.to_string(),
            raw_value: raw.to_string(),
            reason,
            detail: detail.into(),
        };
        self.report.record(&r);
    }

    /// An optional instant: `Ok(None)` when blank; quarantines the row and
    /// returns `Err(())` when it does not parse.
    pub fn opt_instant(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<Timestamp>, Quarantined> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return Ok(None);
        }
        self.parser.instant(raw).map(Some).map_err(|e| {
            self.reject(f, r, name, raw, Reason::UnparsableDate, e);
            Quarantined
        })
    }

    /// A required instant: blank is `missing_required`, unreadable is `unparsable_date`.
    pub fn req_instant(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<Timestamp, Quarantined> {
        match self.opt_instant(f, r, col, name)? {
            Some(t) => Ok(t),
            None => {
                self.reject(
                    f,
                    r,
                    name,
                    "",
                    Reason::MissingRequired,
                    format!("{name} is required"),
                );
                Err(Quarantined)
            }
        }
    }

    /// An optional calendar date.
    pub fn opt_date(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<pipewise_model::Date>, Quarantined> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return Ok(None);
        }
        self.parser.date(raw).map(Some).map_err(|e| {
            self.reject(f, r, name, raw, Reason::UnparsableDate, e);
            Quarantined
        })
    }

    /// An optional non-negative number (counts, revenue, durations).
    pub fn opt_count(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<f64>, Quarantined> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return Ok(None);
        }
        match values::number(raw) {
            Ok(v) if v >= 0.0 => Ok(Some(v)),
            _ => {
                self.reject(
                    f,
                    r,
                    name,
                    raw,
                    Reason::UnparsableNumber,
                    "expected a non-negative number",
                );
                Err(Quarantined)
            }
        }
    }

    /// Quarantine a change dated after `--as-of` (plus a day of clock skew); true when it did.
    pub fn reject_future(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        t: Timestamp,
        column: &str,
        raw: &str,
    ) -> bool {
        if t <= self.as_of + pipewise_model::time::MICROS_PER_DAY {
            return false;
        }
        self.reject(
            f,
            r,
            column,
            raw,
            Reason::FutureDated,
            "dated after the ingest's --as-of time",
        );
        true
    }

    /// Count a row as landed.
    pub fn landed(&mut self, file: &RawFile) {
        self.tallies.entry(file.name.clone()).or_default().0 += 1;
    }
}

/// A cell helper: the trimmed value of column `c` (empty when the column is absent).
pub fn cell(row: &RawRow, c: Option<usize>) -> &str {
    c.and_then(|i| row.fields.get(i))
        .map(|s| s.trim())
        .unwrap_or("")
}

/// Files of `dir` with the given extensions, sorted by name.
pub fn list_files(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, IngestError> {
    let rd = std::fs::read_dir(dir).map_err(|e| IngestError::NoInput {
        dir: dir.display().to_string(),
        message: format!("cannot read the folder: {e}"),
    })?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A connector: reads the files into the draft, reporting through the context.
pub type Connector<'c> =
    dyn FnMut(&mut Ctx<'_>, &[RawFile], &mut Draft) -> Result<(), IngestError> + 'c;

/// The input of one ingest.
pub struct Job<'j> {
    /// Connector name: `salesforce`, `hubspot`, `csv`.
    pub source: &'j str,
    pub files: Vec<RawFile>,
    /// Files in the folder the connector does not read.
    pub skipped: Vec<String>,
    /// The date columns of each file, for date-order detection.
    pub date_columns: &'j dyn Fn(&RawFile) -> Vec<usize>,
}

/// Run one ingest: sniff dates over the job's date columns, call the connector, commit.
pub fn run(
    store: &Store,
    process: &SalesProcess,
    job: Job<'_>,
    opts: IngestOptions,
    connector: &mut Connector<'_>,
) -> Result<IngestOutcome, IngestError> {
    let Job {
        source,
        files,
        skipped,
        date_columns,
    } = job;
    // Date order.
    let order = match opts.date_order {
        Some(o) => Some(o),
        None => {
            let mut sniff = DateSniffer::default();
            let mut first_ambiguous: Option<(String, String)> = None;
            for f in &files {
                for c in date_columns(f) {
                    let mut col_sniff = DateSniffer::default();
                    for r in &f.rows {
                        if let Some(v) = r.fields.get(c) {
                            sniff.feed(v);
                            col_sniff.feed(v);
                        }
                    }
                    if first_ambiguous.is_none()
                        && matches!(col_sniff.result(), SniffResult::Ambiguous(_))
                    {
                        first_ambiguous = Some((f.name.clone(), f.headers[c].clone()));
                    }
                }
            }
            match sniff.result() {
                SniffResult::NotNeeded => None,
                SniffResult::Decided(o) => Some(o),
                SniffResult::Ambiguous(example) => {
                    let (file, column) = first_ambiguous.unwrap_or_default();
                    return Err(IngestError::AmbiguousDates {
                        file,
                        column,
                        example,
                    });
                }
                SniffResult::Conflict(day_first, month_first) => {
                    return Err(IngestError::ConflictingDates {
                        day_first,
                        month_first,
                    });
                }
            }
        }
    };
    let base = store.manifest()?;
    let ingest_id = format!("ingest-v{:06}", base.version + 1);
    let mut ctx = Ctx {
        parser: ValueParser { order },
        as_of: opts.as_of,
        process,
        report: QualityReport {
            ingest_id: ingest_id.clone(),
            source: source.to_string(),
            as_of: format_timestamp(opts.as_of),
            date_order: order.map(|o| o.as_str().to_string()),
            skipped_files: skipped,
            ..QualityReport::default()
        },
        quarantine: Vec::new(),
        tallies: BTreeMap::new(),
    };
    for f in &files {
        for m in &f.malformed {
            ctx.report.record(m);
            ctx.quarantine.push(m.clone());
            ctx.tallies.entry(f.name.clone()).or_default().1 += 1;
        }
        if let Some(enc) = f.decoded_from {
            ctx.report
                .notes
                .push(format!("{} is not UTF-8; decoded as {enc}", f.name));
        }
        for (c, h) in f.headers.iter().enumerate() {
            let filled = f
                .rows
                .iter()
                .filter(|r| r.fields.get(c).is_some_and(|v| !v.trim().is_empty()))
                .count() as u64;
            ctx.report.completeness.push(quality::Completeness {
                file: f.name.clone(),
                column: h.clone(),
                filled,
                rows: f.rows.len() as u64,
            });
        }
    }
    let mut draft = Draft::default();
    connector(&mut ctx, &files, &mut draft)?;

    for f in &files {
        let (landed, quarantined) = ctx.tallies.get(&f.name).copied().unwrap_or_default();
        ctx.report.files.push(FileTally {
            file: f.name.clone(),
            sha256: f.sha256.clone(),
            read: f.rows_read(),
            landed,
            quarantined,
        });
    }
    let mut report = ctx.report;
    let quarantine = ctx.quarantine;
    let mut commit = draft.into_commit(store, source, opts.as_of, &mut report)?;

    // Quarantine and report files go in first; the manifest names them.
    let qdir = store.root().join("quarantine");
    let rdir = store.root().join("reports");
    for d in [&qdir, &rdir] {
        std::fs::create_dir_all(d).map_err(|source| IngestError::Io {
            path: d.display().to_string(),
            source,
        })?;
    }
    let quarantine_path = format!("quarantine/{ingest_id}.csv");
    let report_path = format!("reports/{ingest_id}.json");
    write_quarantine(&store.root().join(&quarantine_path), &quarantine)?;
    commit.ingest = Some(IngestRecord {
        id: ingest_id.clone(),
        kind: source.to_string(),
        recorded_at: format_timestamp(opts.as_of),
        files: report
            .files
            .iter()
            .map(|f| SourceFile {
                path: f.file.clone(),
                sha256: f.sha256.clone(),
                rows_read: f.read,
                rows_landed: f.landed,
                rows_quarantined: f.quarantined,
            })
            .collect(),
        events_added: 0,
        events_duplicate: 0,
        quarantine: Some(quarantine_path.clone()),
        report: Some(report_path.clone()),
    });
    let summary = store.commit(&base, commit)?;
    report.opportunities_added = summary.opportunities_added;
    report.events_added = summary.events_added;
    report.events_duplicate = summary.events_duplicate;
    let write = |rel: &str, body: String| -> Result<(), IngestError> {
        let p = store.root().join(rel);
        std::fs::write(&p, body).map_err(|source| IngestError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    write(&report_path, report.to_json())?;
    write(&report_path.replace(".json", ".txt"), report.to_text())?;
    Ok(IngestOutcome {
        report,
        quarantine,
        summary,
        quarantine_path,
        report_path,
    })
}

fn write_quarantine(path: &Path, records: &[QuarantineRecord]) -> Result<(), IngestError> {
    let err = |e: csv::Error| IngestError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(["file", "row", "column", "raw_value", "reason", "detail"])
        .map_err(err)?;
    for r in records {
        w.write_record([
            r.file.as_str(),
            &r.row.to_string(),
            &r.column,
            &r.raw_value,
            r.reason.as_str(),
            &r.detail,
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|source| IngestError::Io {
        path: path.display().to_string(),
        source,
    })
}

use crate::values::{boolean, number};
use pipewise_model::{Field, ForecastCategory, LossReason, OpportunityType, Value};

/// Parse one raw value for a field. `Ok(Value::Null)` for blanks.
pub(crate) fn parse_value(
    ctx: &Ctx<'_>,
    field: &Field,
    raw: &str,
) -> Result<Value, (Reason, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(if *field == Field::HasBusinessCase {
            Value::Bool(false)
        } else {
            Value::Null
        });
    }
    match field {
        Field::Stage => match ctx.process.canonical_stage(raw) {
            Some(s) => Ok(Value::Text(s.to_string())),
            None => Err((
                Reason::UnknownStage,
                format!(
                    "stage {raw:?} is not in pipewise.toml; add it as a stage or as an alias of one"
                ),
            )),
        },
        Field::ForecastCategory => match ForecastCategory::parse_loose(raw) {
            Some(c) => Ok(Value::Text(c.as_str().into())),
            None => Err((
                Reason::MissingRequired,
                format!(
                    "forecast category {raw:?} is not Pipeline, Best Case, Commit, Closed or Omitted"
                ),
            )),
        },
        Field::Amount => match number(raw) {
            Ok(v) if v < 0.0 => Err((Reason::NegativeAmount, "amounts cannot be negative".into())),
            Ok(v) => Ok(Value::Number(v)),
            Err(e) => Err((Reason::UnparsableNumber, e)),
        },
        Field::Probability => match number(raw) {
            Ok(v) if (0.0..=100.0).contains(&v) => Ok(Value::Number(v)),
            Ok(_) => Err((
                Reason::UnparsableNumber,
                "probability is a percentage 0-100".into(),
            )),
            Err(e) => Err((Reason::UnparsableNumber, e)),
        },
        Field::CloseDate | Field::NextStepDate => ctx
            .parser
            .date(raw)
            .map(Value::Date)
            .map_err(|e| (Reason::UnparsableDate, e)),
        Field::HasBusinessCase | Field::IsDeleted => boolean(raw)
            .map(Value::Bool)
            .map_err(|e| (Reason::UnparsableBool, e)),
        Field::LossReason => Ok(Value::Text(LossReason::parse_loose(raw).as_str().into())),
        Field::Type => Ok(Value::Text(
            OpportunityType::parse_loose(raw)
                .map(|t| t.as_str().to_string())
                .unwrap_or_else(|| raw.to_string()),
        )),
        _ => Ok(Value::Text(raw.to_string())),
    }
}
