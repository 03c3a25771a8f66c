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
pub mod propose;
pub mod quality;
pub mod salesforce;
pub mod values;

pub use quality::{FileTally, QualityReport, QuarantineRecord, Reason, Scope};
pub use values::DateOrder;

use csvread::{RawFile, RawRow, read_file};
use draft::Draft;
use pipewise_ledger::{IngestRecord, SourceFile, Store};
use pipewise_model::time::format_timestamp;
use pipewise_model::{Field, SalesProcess, Timestamp, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use values::{DateSniffer, SniffResult, ValueParser};

/// Why an ingest stopped: nothing was written.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // each variant is described by its #[error] message, which names its fields
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
    #[error(
        "the export names {} stage(s) that pipewise.toml does not have; nothing was written:\n{list}\n\nhint: add each one to pipewise.toml, either as an alias of the stage it means:\n    aliases = [\"…\", {quoted}]\nor as a stage of its own, in its place in the order:\n{stanzas}",
        .count
    )]
    UnknownStages {
        count: usize,
        list: String,
        quoted: String,
        stanzas: String,
    },
    #[error(
        "{file}: {quarantined} of {read} rows ({share:.1}%) were quarantined, more than --max-quarantine {max:.1}%; nothing was written to the ledger. The quarantine is in {quarantine_path} and the report in {report_path}\n\nhint: fix the export, or pass --max-quarantine 100 to land the rest anyway"
    )]
    TooMuchQuarantined {
        file: String,
        quarantined: u64,
        read: u64,
        share: f64,
        max: f64,
        quarantine_path: String,
        report_path: String,
    },
    #[error("{path}: {message}")]
    Mapping { path: String, message: String },
    #[error(
        "this export has amounts in several currencies ({codes}) and no exchange rates; nothing was written: pipewise never adds one currency to another\n\nhint: include CurrencyType.csv (and DatedConversionRate.csv) in a Salesforce export, or put a currencies.csv in the workspace: code,rate[,start_date,end_date][,corporate] with rate = units per corporate unit"
    )]
    MixedCurrencies { codes: String },
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

/// What an ingest tells a progress display as it starts each phase
/// ("reading Opportunity.csv", "writing the ledger"): a spinner in the
/// terminal, a job's progress in the server.
#[derive(Clone)]
pub struct Progress(std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl Progress {
    /// A display told each phase by `f`.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress(std::sync::Arc::new(f))
    }

    /// Tell the display the phase that starts.
    pub fn say(&self, what: &str) {
        (self.0)(what)
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// Settings every ingest takes.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The snapshot time: current-state values without history are stamped
    /// with it, and it is the recorded time of everything learned now.
    pub as_of: Timestamp,
    /// Order of numeric dates; `None` = detect, and stop when undecidable.
    pub date_order: Option<DateOrder>,
    /// The largest share of a file's rows (percent) that may be quarantined
    /// before the ingest refuses to land anything.
    pub max_quarantine_pct: f64,
    /// Told what the ingest is doing as it goes ("reading Opportunity.csv",
    /// "writing the ledger"), for a progress display.
    pub progress: Option<Progress>,
    /// The zone of date-times the export writes without one (`None`: UTC).
    /// Dates (close dates) are never shifted by it.
    pub timezone: Option<chrono_tz::Tz>,
    /// What a complete export's missing opportunities become.
    pub missing: draft::Missing,
    /// How long to wait for another writer of the workspace.
    pub lock_wait: std::time::Duration,
}

impl IngestOptions {
    /// The default quarantine threshold, percent of a file's rows.
    pub const DEFAULT_MAX_QUARANTINE_PCT: f64 = 10.0;
    /// A file refuses the ingest only from this many quarantined rows on, so
    /// that one duplicate in a six-row file does not.
    pub const MIN_QUARANTINED_TO_REFUSE: u64 = 5;

    /// Options for an ingest as of `as_of`, everything else at its default.
    pub fn new(as_of: Timestamp, date_order: Option<DateOrder>) -> IngestOptions {
        IngestOptions {
            as_of,
            date_order,
            max_quarantine_pct: IngestOptions::DEFAULT_MAX_QUARANTINE_PCT,
            progress: None,
            timezone: None,
            missing: draft::Missing::Auto,
            lock_wait: std::time::Duration::from_secs(600),
        }
    }
}

/// What an ingest did.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // what an ingest landed, reported and quarantined
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
#[allow(missing_docs)] // the ingest's parser, as-of time, sales process, report and quarantine
pub struct Ctx<'a> {
    pub parser: ValueParser,
    pub as_of: Timestamp,
    pub process: &'a SalesProcess,
    pub report: QualityReport,
    pub quarantine: Vec<QuarantineRecord>,
    tallies: BTreeMap<String, (u64, u64)>, // file → (landed, quarantined)
    /// Stage names not in the process: name → file → (first line, rows).
    unknown_stages: UnknownStages,
    /// Source spellings of each configured stage: code → spelling → rows.
    /// Two spellings that differ beyond case and spaces fold two source
    /// stages into one, which the ingest warns about.
    stage_spellings: std::cell::RefCell<StageSpellings>,
    /// Stage values as they appear → (stage code, rows): most exports repeat
    /// a dozen spellings millions of times.
    /// (One map per process the row is read in, then one for none.)
    stage_memo: std::cell::RefCell<Vec<HashMap<String, (usize, u64)>>>,
    /// The sales process of the row being read, when the workspace has
    /// several and the row's pipeline names one: its stage values must be
    /// that process's ([`Ctx::set_pipeline`]).
    row_pipeline: std::cell::Cell<Option<usize>>,
    /// Amounts parsed, per (file, column): (line, value), for the plausibility check.
    amounts: std::cell::RefCell<Amounts>,
    /// The files, with what opening each one found.
    inputs: Vec<(Input, Option<Scanned>)>,
    /// Exchange rates (the workspace's `currencies.csv`, then the export's
    /// own); empty when there are none.
    pub rates: pipewise_model::currency::Rates,
    /// Currency codes of amounts seen without rates to convert them.
    currencies_seen: std::collections::BTreeSet<String>,
    progress: Option<Progress>,
}

impl Ctx<'_> {
    /// Whether a row's id was seen before (`seen`: id → line of its first
    /// row), quarantining the row when it was: an exact duplicate of that
    /// row, or another row reusing its id (the first is kept). Every
    /// connector's one rule for repeated ids.
    pub fn duplicate(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        id_col: &str,
        id: &str,
        seen: &mut HashMap<String, u64>,
    ) -> bool {
        let Some(&line) = seen.get(id) else {
            seen.insert(id.to_string(), r.line);
            return false;
        };
        let (reason, detail) = if f.row_at(line).is_some_and(|first| first.fields == r.fields) {
            (
                Reason::DuplicateRow,
                format!("exact duplicate of line {line}"),
            )
        } else {
            (
                Reason::DuplicateId,
                format!("{id_col} already used at line {line}; the first row is kept"),
            )
        };
        self.reject(f, r, id_col, id, reason, detail);
        true
    }

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
        self.quarantine_record(file, row, column, raw, reason, detail.into(), Scope::Row);
        self.tallies.entry(file.name.clone()).or_default().1 += 1;
    }

    /// A record for the quarantine file and the report.
    #[allow(clippy::too_many_arguments)]
    fn quarantine_record(
        &mut self,
        file: &RawFile,
        row: &RawRow,
        column: &str,
        raw: &str,
        reason: Reason,
        detail: String,
        scope: Scope,
    ) {
        let r = QuarantineRecord {
            file: file.name.clone(),
            row: row.line,
            column: column.to_string(),
            raw_value: raw.to_string(),
            reason,
            detail,
            scope,
        };
        self.report.record(&r);
        self.quarantine.push(r);
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
            scope: Scope::Row,
        };
        self.report.record(&r);
    }

    /// A value that did not parse for `field`. An unknown stage is collected
    /// (the ingest then stops, listing every one); any other field of a row
    /// that lands is left unknown. Returns true for a stage: the row cannot
    /// be read further.
    #[allow(clippy::too_many_arguments)]
    pub fn bad_value(
        &mut self,
        file: &RawFile,
        row: &RawRow,
        column: &str,
        raw: &str,
        reason: Reason,
        detail: impl Into<String>,
    ) -> bool {
        if reason == Reason::UnknownStage {
            self.unknown_stage(&file.name, row.line, raw);
            return true;
        }
        self.leave_unknown(file, row, column, raw, reason, detail);
        false
    }

    /// One of the ingest's files, for the connector to read (`None` when the
    /// export does not have it); the connector drops it when done, so an
    /// ingest holds one large file at a time. Its malformed lines go to the
    /// report the first time it is opened.
    pub fn open(&mut self, name: &str) -> Result<Option<RawFile>, IngestError> {
        let Some(at) = self.inputs.iter().position(|(i, _)| i.name == name) else {
            return Ok(None);
        };
        let input = self.inputs[at].0.clone();
        if let Some(p) = &self.progress {
            p.say(&format!("reading {}", input.name));
        }
        let t0 = std::time::Instant::now();
        let f = read_file(&input.path, &input.name)?;
        tracing::debug!(file = %input.name, rows = f.rows.len(), ms = t0.elapsed().as_millis() as u64, rss_mb = rss_mb(), "ingest: read");
        if self.inputs[at].1.is_none() {
            // The first time: what the file itself is (malformed lines, flags,
            // encoding, completeness), into the report once.
            for m in &f.malformed {
                self.report.record(m);
                self.quarantine.push(m.clone());
                self.tallies.entry(f.name.clone()).or_default().1 += 1;
            }
            for m in &f.flags {
                self.report.record(m);
            }
            if let Some(enc) = f.decoded_from {
                self.report
                    .notes
                    .push(format!("{} is not UTF-8; decoded as {enc}", f.name));
            }
            self.inputs[at].1 = Some(Scanned::of(&f, input));
        }
        Ok(Some(f))
    }

    /// An amount's values to land, converted to the corporate currency when
    /// the ingest has rates: `amount` (corporate), `amount_native` and
    /// `fx_rate`. `code` is the amount's currency (blank = corporate), `on`
    /// its close date (for dated rates). Without rates the amount lands as it
    /// is and its currency is noted: amounts in two currencies and no rates
    /// stop the ingest. With rates but none for `code`, the amount is left
    /// unknown (field level) and the native amount lands.
    pub fn money(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        column: &str,
        native: f64,
        code: &str,
        on: Option<pipewise_model::Date>,
    ) -> Vec<(Field, Value)> {
        let code = code.trim();
        if self.rates.is_empty() {
            if !code.is_empty()
                && !self
                    .currencies_seen
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(code))
            {
                self.currencies_seen.insert(code.to_ascii_uppercase());
            }
            return vec![(Field::Amount, Value::Number(native))];
        }
        let code = if code.is_empty() {
            self.rates.corporate().to_string()
        } else {
            code.to_string()
        };
        match self.rates.to_corporate(native, &code, on) {
            Some(c) => vec![
                (Field::Amount, Value::Number(c.amount)),
                (Field::AmountNative, Value::Number(native)),
                (Field::FxRate, Value::Number(c.rate)),
            ],
            None => {
                self.leave_unknown(
                    f,
                    r,
                    column,
                    &format!("{native} {code}"),
                    Reason::NoExchangeRate,
                    format!(
                        "no rate for {code} (corporate currency {}): the amount is kept in {code} as amount_native; add the rate to CurrencyType.csv or the workspace's currencies.csv",
                        self.rates.corporate()
                    ),
                );
                vec![(Field::AmountNative, Value::Number(native))]
            }
        }
    }

    /// Count `rows` rows that name configured stage `code` as `raw`.
    pub fn note_stage_spelling(&self, code: usize, raw: &str, rows: u64) {
        let spelling = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        self.stage_spellings
            .borrow_mut()
            .entry(code)
            .or_default()
            .entry(spelling.to_lowercase())
            .or_insert_with(|| (spelling, 0))
            .1 += rows;
    }

    /// Set the sales process of the row about to be read from its pipeline
    /// value (HubSpot's Pipeline, a Salesforce business process): with several
    /// processes in pipewise.toml, its stage values are looked up in that one.
    /// `None` or a name no process has: in every process, first first.
    pub fn set_pipeline(&self, raw: Option<&str>) {
        let p = if self.process.is_multi() {
            raw.and_then(|r| self.process.pipeline_code(r))
        } else {
            None
        };
        self.row_pipeline.set(p);
    }

    /// Which of `stage_memo`'s maps the row's stage values are memoised in.
    fn memo_slot(&self) -> usize {
        self.row_pipeline
            .get()
            .map_or(self.process.pipelines().len(), |p| p)
    }

    /// The stage code of a stage value in the row's process ([`Ctx::set_pipeline`]).
    pub fn stage_code(&self, raw: &str) -> Option<usize> {
        match self.row_pipeline.get() {
            Some(p) => self.process.stage_code_in(p, raw),
            None => self.process.stage_code(raw),
        }
    }

    /// Collect a stage name the process lacks, seen at `file:line` (in the
    /// row's process, when it has one).
    pub fn unknown_stage(&mut self, file: &str, line: u64, raw: &str) {
        let pipeline = self
            .row_pipeline
            .get()
            .map(|p| self.process.pipelines()[p].name.clone());
        let e = self
            .unknown_stages
            .entry((raw.trim().to_string(), pipeline))
            .or_default()
            .entry(file.to_string())
            .or_insert((line, 0));
        e.0 = e.0.min(line);
        e.1 += 1;
    }

    /// Land the row but leave one of its fields unknown: the raw value goes to
    /// the quarantine file and the report at field level.
    pub fn leave_unknown(
        &mut self,
        file: &RawFile,
        row: &RawRow,
        column: &str,
        raw: &str,
        reason: Reason,
        detail: impl Into<String>,
    ) {
        self.quarantine_record(file, row, column, raw, reason, detail.into(), Scope::Field);
    }

    /// An optional instant: `None` when blank, and when it does not parse
    /// (then the field is left unknown and reported).
    pub fn opt_instant(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Option<Timestamp> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return None;
        }
        self.parser
            .instant(raw)
            .map_err(|e| self.leave_unknown(f, r, name, raw, Reason::UnparsableDate, e))
            .ok()
    }

    /// A required instant: blank is `missing_required`, unreadable is
    /// `unparsable_date`; either quarantines the row.
    pub fn req_instant(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<Timestamp, Quarantined> {
        self.required(f, r, col, name, ValueParser::instant)
    }

    /// A required calendar date: blank or unreadable quarantines the row.
    pub fn req_date(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Result<pipewise_model::Date, Quarantined> {
        self.required(f, r, col, name, ValueParser::date)
    }

    /// A required date or time read by `parse`.
    fn required<T>(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
        parse: impl Fn(&ValueParser, &str) -> Result<T, String>,
    ) -> Result<T, Quarantined> {
        let raw = cell(r, col);
        if raw.is_empty() {
            self.reject(
                f,
                r,
                name,
                "",
                Reason::MissingRequired,
                format!("{name} is required"),
            );
            return Err(Quarantined);
        }
        parse(&self.parser, raw).map_err(|e| {
            self.reject(f, r, name, raw, Reason::UnparsableDate, e);
            Quarantined
        })
    }

    /// An optional calendar date (left unknown when it does not parse).
    pub fn opt_date(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Option<pipewise_model::Date> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return None;
        }
        self.parser
            .date(raw)
            .map_err(|e| self.leave_unknown(f, r, name, raw, Reason::UnparsableDate, e))
            .ok()
    }

    /// An optional non-negative number (counts, revenue, durations), left
    /// unknown when it is not one.
    pub fn opt_count(
        &mut self,
        f: &RawFile,
        r: &RawRow,
        col: Option<usize>,
        name: &str,
    ) -> Option<f64> {
        let raw = cell(r, col);
        if raw.is_empty() {
            return None;
        }
        match values::number(raw) {
            Ok(v) if v >= 0.0 => Some(v),
            _ => {
                self.leave_unknown(
                    f,
                    r,
                    name,
                    raw,
                    Reason::UnparsableNumber,
                    "expected a non-negative number",
                );
                None
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
        match self.tallies.get_mut(&file.name) {
            Some(t) => t.0 += 1,
            None => {
                self.tallies.insert(file.name.clone(), (1, 0));
            }
        }
    }
}

/// The workspace's `currencies.csv`, when it has one: `code,rate` rows
/// (units per corporate unit), optionally `start_date,end_date` (dated) and
/// `corporate` (true on the corporate currency's row).
fn read_workspace_rates(root: &Path) -> Result<pipewise_model::currency::Rates, IngestError> {
    let p = root.join("currencies.csv");
    if !p.exists() {
        return Ok(pipewise_model::currency::Rates::default());
    }
    let f = read_file(&p, "currencies.csv")?;
    rates_from(
        &f,
        "code",
        "rate",
        "start_date",
        "end_date",
        "corporate",
        None,
    )
}

/// Rates from a file's rows, by column names; the corporate currency is the
/// row whose `corporate` column is true (or `default_corporate`).
pub(crate) fn rates_from(
    f: &RawFile,
    code: &str,
    rate: &str,
    start: &str,
    end: &str,
    corporate: &str,
    default_corporate: Option<&str>,
) -> Result<pipewise_model::currency::Rates, IngestError> {
    use pipewise_model::currency::{RateSpan, Rates};
    let hint = "a rate table has a currency code and a rate (units per corporate unit)";
    let (c, r) = (f.require(code, hint)?, f.require(rate, hint)?);
    let (s, e, corp) = (f.column(start), f.column(end), f.column(corporate));
    let date = |v: &str| {
        pipewise_model::time::parse_iso_instant(v, true).map(pipewise_model::time::date_of)
    };
    let corporate_code = f
        .rows
        .iter()
        .find(|row| values::boolean(cell(row, corp)) == Ok(true))
        .map(|row| cell(row, Some(c)).to_string())
        .or(default_corporate.map(str::to_string));
    let Some(corporate_code) = corporate_code else {
        return Err(IngestError::Mapping {
            path: f.name.clone(),
            message: format!(
                "no row says which currency is the corporate one: set {corporate} = true on it"
            ),
        });
    };
    let mut rates = Rates::new(&corporate_code);
    for row in &f.rows {
        let Ok(x) = values::number(cell(row, Some(r))) else {
            continue;
        };
        rates.add(
            cell(row, Some(c)),
            RateSpan {
                start: date(cell(row, s)),
                end: date(cell(row, e)),
                rate: x,
            },
        );
    }
    Ok(rates)
}

/// Resident memory in MB, for the phase logs (0 where /proc is not there).
pub(crate) fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096 / (1 << 20))
        .unwrap_or(0)
}

/// What opening one file found (for its tally and the report).
struct Scanned {
    input: Input,
    sha256: String,
    rows_read: u64,
    lines: u64,
    lines_read: u64,
    completeness: Vec<quality::Completeness>,
}

impl Scanned {
    fn of(f: &RawFile, input: Input) -> Scanned {
        let completeness = f
            .headers
            .iter()
            .enumerate()
            .map(|(c, h)| quality::Completeness {
                file: f.name.clone(),
                column: h.clone(),
                filled: f
                    .rows
                    .iter()
                    .filter(|r| r.fields.get(c).is_some_and(|v| !v.trim().is_empty()))
                    .count() as u64,
                rows: f.rows.len() as u64,
            })
            .collect();
        Scanned {
            input,
            sha256: f.sha256.clone(),
            rows_read: f.rows_read(),
            lines: f.lines,
            lines_read: f.lines_read,
            completeness,
        }
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

/// A connector: reads the files into the draft (opening each with
/// [`Ctx::open`]), reporting through the context.
pub type Connector<'c> = dyn FnMut(&mut Ctx<'_>, &mut Draft) -> Result<(), IngestError> + 'c;

/// One input file of an ingest: its name in messages and where it is.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // a file's name and path
pub struct Input {
    pub name: String,
    pub path: PathBuf,
}

/// The input of one ingest.
#[allow(missing_docs)] // the files an ingest reads
pub struct Job<'j> {
    /// Connector name: `salesforce`, `hubspot`, `csv`.
    pub source: &'j str,
    pub inputs: Vec<Input>,
    /// Files in the folder the connector does not read.
    pub skipped: Vec<String>,
    /// The date columns of each file, for date-order detection.
    pub date_columns: &'j dyn Fn(&RawFile) -> Vec<usize>,
}

/// The order all-numeric dates are read in: `--date-order`, else what the
/// files' date columns prove (a first pass, one file at a time, keeping no
/// rows). Dates that prove neither order, or both, stop the ingest and say
/// which file and column.
fn date_order(
    inputs: &[Input],
    date_columns: &dyn Fn(&RawFile) -> Vec<usize>,
    opts: &IngestOptions,
) -> Result<Option<DateOrder>, IngestError> {
    let mut sniff = DateSniffer::default();
    let mut first_ambiguous: Option<(String, String)> = None;
    if let Some(p) = &opts.progress {
        p.say("looking at the dates");
    }
    if opts.date_order.is_none() {
        for input in inputs {
            let headers = csvread::read_header(&input.path, &input.name)?;
            let probe = RawFile::header_only(&input.name, headers);
            let cols = date_columns(&probe);
            if cols.is_empty() {
                continue;
            }
            let mut per_col: Vec<DateSniffer> = vec![DateSniffer::default(); cols.len()];
            csvread::scan_columns(&input.path, &input.name, &cols, &mut |k, v| {
                sniff.feed(v);
                per_col[k].feed(v);
            })?;
            for (k, cs) in per_col.iter().enumerate() {
                if first_ambiguous.is_none() && matches!(cs.result(), SniffResult::Ambiguous(_)) {
                    first_ambiguous = Some((input.name.clone(), probe.headers[cols[k]].clone()));
                }
            }
        }
    }
    Ok(match opts.date_order {
        Some(o) => Some(o),
        None => match sniff.result() {
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
        },
    })
}

/// Run one ingest: a first pass over every file (date order, malformed
/// lines, completeness), the connector, then one commit.
pub fn run(
    store: &Store,
    process: &SalesProcess,
    job: Job<'_>,
    opts: IngestOptions,
    connector: &mut Connector<'_>,
) -> Result<IngestOutcome, IngestError> {
    let Job {
        source,
        inputs,
        skipped,
        date_columns,
    } = job;
    let started = std::time::Instant::now();
    let order = date_order(&inputs, date_columns, &opts)?;
    // One writer at a time, from reading the version the changes are worked
    // out against to the commit: a second ingest waits, then lands on top.
    let waiting = |m: &str| {
        tracing::warn!("{m}");
        if let Some(p) = &opts.progress {
            p.say(m);
        }
    };
    let _lock = store.lock(opts.lock_wait, &waiting)?;
    let base = store.manifest()?;
    let ingest_id = format!("ingest-v{:06}", base.version + 1);
    let mut ctx = Ctx {
        parser: ValueParser {
            order,
            zone: opts.timezone,
        },
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
        unknown_stages: BTreeMap::new(),
        stage_spellings: Default::default(),
        stage_memo: Default::default(),
        row_pipeline: Default::default(),
        amounts: Default::default(),
        inputs: Vec::new(),
        rates: read_workspace_rates(store.root())?,
        currencies_seen: Default::default(),
        progress: opts.progress.clone(),
    };
    ctx.inputs = inputs.into_iter().map(|i| (i, None)).collect();
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "ingest: first pass"
    );
    let mut draft = Draft::default();
    draft.missing = opts.missing;
    connector(&mut ctx, &mut draft)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "ingest: connector"
    );
    // A file the connector did not open is still accounted for.
    let names: Vec<String> = ctx
        .inputs
        .iter()
        .filter(|(_, sc)| sc.is_none())
        .map(|(i, _)| i.name.clone())
        .collect();
    for n in names {
        ctx.open(&n)?;
    }
    let scanned: Vec<Scanned> = std::mem::take(&mut ctx.inputs)
        .into_iter()
        .filter_map(|(_, sc)| sc)
        .collect();
    for sc in &scanned {
        ctx.report
            .completeness
            .extend(sc.completeness.iter().cloned());
    }
    if !ctx.rates.is_empty() {
        draft.rates = Some(ctx.rates.clone());
    }
    if !ctx.unknown_stages.is_empty() {
        return Err(unknown_stages_error(&ctx.unknown_stages));
    }
    if ctx.rates.is_empty() && ctx.currencies_seen.len() > 1 {
        return Err(IngestError::MixedCurrencies {
            codes: ctx
                .currencies_seen
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for r in implausible_amounts(&ctx.amounts.take()) {
        ctx.report.record(&r);
    }
    for (raw, (code, n)) in ctx.stage_memo.take().into_iter().flatten() {
        ctx.note_stage_spelling(code, &raw, n);
    }
    for (code, spellings) in ctx.stage_spellings.take() {
        if spellings.len() < 2 {
            continue;
        }
        let name = process.stage(code).map(|s| s.name.as_str()).unwrap_or("");
        let list = spellings
            .values()
            .map(|(sp, n)| format!("{sp:?} ({n} rows)"))
            .collect::<Vec<_>>()
            .join(", ");
        ctx.report.warnings.push(format!(
            "{} different source stages fold into stage {name:?}: {list}. If they are different stages in your CRM, give each its own [[stages]] entry in pipewise.toml (`pipewise init --from EXPORT_DIR` writes one from the export)",
            spellings.len()
        ));
    }

    for sc in &scanned {
        let (landed, quarantined) = ctx.tallies.get(&sc.input.name).copied().unwrap_or_default();
        ctx.report.files.push(FileTally {
            file: sc.input.name.clone(),
            sha256: sc.sha256.clone(),
            read: sc.rows_read,
            landed,
            quarantined,
            lines: sc.lines,
            lines_read: sc.lines_read,
        });
    }
    let mut report = ctx.report;
    let quarantine = ctx.quarantine;
    if let Some(p) = &opts.progress {
        p.say("working out the changes");
    }
    let mut commit = draft.into_commit(store, source, opts.as_of, &mut report)?;
    if let Some(p) = &opts.progress {
        p.say("writing the ledger");
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "ingest: draft into commit"
    );

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
    let write = |rel: &str, body: String| -> Result<(), IngestError> {
        let p = store.root().join(rel);
        std::fs::write(&p, body).map_err(|source| IngestError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    refuse_too_much_quarantined(store, &mut report, &opts, &quarantine_path, &report_path)?;
    commit.ingest = Some(ingest_record(
        &ingest_id,
        source,
        &opts,
        &report,
        &quarantine_path,
        &report_path,
    ));
    let summary = store.commit(&base, commit)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "ingest: ledger commit"
    );
    report.opportunities_added = summary.opportunities_added;
    report.events_added = summary.events_added;
    report.events_duplicate = summary.events_duplicate;
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

/// Stop, with the report written and nothing landed, when a file lost more
/// than `--max-quarantine` percent of its rows (and at least
/// [`IngestOptions::MIN_QUARANTINED_TO_REFUSE`] of them).
fn refuse_too_much_quarantined(
    store: &Store,
    report: &mut QualityReport,
    opts: &IngestOptions,
    quarantine_path: &str,
    report_path: &str,
) -> Result<(), IngestError> {
    let write = |rel: &str, body: String| -> Result<(), IngestError> {
        let p = store.root().join(rel);
        std::fs::write(&p, body).map_err(|source| IngestError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    if let Some(f) = report.files.iter().find(|f| {
        f.quarantined >= IngestOptions::MIN_QUARANTINED_TO_REFUSE
            && 100.0 * f.quarantined as f64 / f.read as f64 > opts.max_quarantine_pct
    }) {
        report
            .notes
            .push("nothing was written to the ledger: too many rows were quarantined".into());
        write(report_path, report.to_json())?;
        write(&report_path.replace(".json", ".txt"), report.to_text())?;
        return Err(IngestError::TooMuchQuarantined {
            file: f.file.clone(),
            quarantined: f.quarantined,
            read: f.read,
            share: 100.0 * f.quarantined as f64 / f.read as f64,
            max: opts.max_quarantine_pct,
            quarantine_path: store.root().join(quarantine_path).display().to_string(),
            report_path: store
                .root()
                .join(report_path.replace(".json", ".txt"))
                .display()
                .to_string(),
        });
    }
    Ok(())
}

/// The ingest as the manifest records it: its files with their hashes and
/// row counts, and where its quarantine and report are (events are counted
/// by the commit).
fn ingest_record(
    ingest_id: &str,
    source: &str,
    opts: &IngestOptions,
    report: &QualityReport,
    quarantine_path: &str,
    report_path: &str,
) -> IngestRecord {
    IngestRecord {
        id: ingest_id.to_string(),
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
        seqs: None,
        quarantine: Some(quarantine_path.to_string()),
        report: Some(report_path.to_string()),
    }
}

/// Amounts per (file, column): (line, value).
type Amounts = BTreeMap<(String, String), Vec<(u64, f64)>>;

/// Stage code → lower-case spelling → (spelling as first seen, rows).
type StageSpellings = BTreeMap<usize, BTreeMap<String, (String, u64)>>;

/// (stage name, the process it was looked up in) → file → (first line, rows).
type UnknownStages = BTreeMap<(String, Option<String>), BTreeMap<String, (u64, u64)>>;

fn unknown_stages_error(stages: &UnknownStages) -> IngestError {
    let list = stages
        .iter()
        .map(|((name, pipeline), files)| {
            let wheres = files
                .iter()
                .map(|(file, (line, n))| format!("{n} row(s) in {file}, first at line {line}"))
                .collect::<Vec<_>>()
                .join("; ");
            match pipeline {
                Some(p) => format!("  {name:?} (pipeline {p:?}): {wheres}"),
                None => format!("  {name:?}: {wheres}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let quoted = stages
        .keys()
        .map(|(n, _)| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let stanzas = stages
        .keys()
        .map(|(n, pipeline)| match pipeline {
            Some(p) => format!(
                "    [[pipelines.stages]]   # under [[pipelines]] name = {p:?}\n    name = {n:?}\n    forecast_category = \"pipeline\""
            ),
            None => format!("    [[stages]]\n    name = {n:?}\n    forecast_category = \"pipeline\""),
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    IngestError::UnknownStages {
        count: stages.len(),
        list,
        quoted,
        stanzas,
    }
}

fn write_quarantine(path: &Path, records: &[QuarantineRecord]) -> Result<(), IngestError> {
    let err = |e: csv::Error| IngestError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record([
        "file",
        "row",
        "column",
        "raw_value",
        "reason",
        "detail",
        "action",
    ])
    .map_err(err)?;
    for r in records {
        w.write_record([
            r.file.as_str(),
            &r.row.to_string(),
            &r.column,
            &r.raw_value,
            r.reason.as_str(),
            &r.detail,
            match r.scope {
                Scope::Row => "row quarantined",
                Scope::Field => "field left unknown; row landed",
            },
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|source| IngestError::Io {
        path: path.display().to_string(),
        source,
    })
}

use crate::values::{boolean, number};
use pipewise_model::{ForecastCategory, LossReason, OpportunityType};

/// [`parse_value`] at a place in a file: amounts are noted for the
/// plausibility check.
pub(crate) fn parse_at(
    ctx: &Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    column: &str,
    field: &Field,
    raw: &str,
) -> Result<Value, (Reason, String)> {
    let v = parse_value(ctx, field, raw)?;
    if *field == Field::Amount
        && let Value::Number(x) = v
    {
        ctx.amounts
            .borrow_mut()
            .entry((f.name.clone(), column.to_string()))
            .or_default()
            .push((r.line, x));
    }
    Ok(v)
}

/// Amounts far outside their file's own range: above 1,000 times the 99th
/// percentile of the file's positive amounts (when it has at least 20), or at
/// or above 10^13, past which cents are no longer exact in a float.
fn implausible_amounts(
    amounts: &BTreeMap<(String, String), Vec<(u64, f64)>>,
) -> Vec<QuarantineRecord> {
    const ABSURD: f64 = 1e13;
    let mut out = Vec::new();
    for ((file, column), vals) in amounts {
        let mut pos: Vec<f64> = vals.iter().map(|v| v.1).filter(|x| *x > 0.0).collect();
        pos.sort_by(f64::total_cmp);
        let p99 = (pos.len() >= 20).then(|| pos[(pos.len() - 1) * 99 / 100]);
        let limit = p99.map(|p| (p * 1000.0).min(ABSURD)).unwrap_or(ABSURD);
        for &(line, x) in vals {
            if x >= limit {
                out.push(QuarantineRecord {
                    file: file.clone(),
                    row: line,
                    column: column.clone(),
                    raw_value: format!("{x}"),
                    reason: Reason::ImplausibleAmount,
                    detail: match p99 {
                        Some(p) if x < ABSURD => {
                            format!("{:.0} times the file's 99th percentile amount ({p})", x / p)
                        }
                        _ => format!("{x} is past 10^13, where sums of cents are no longer exact"),
                    },
                    scope: Scope::Row,
                });
            }
        }
    }
    out
}

/// A stage value seen before in the row's process: its code (and one more row of it).
fn memo_hit(ctx: &Ctx<'_>, raw: &str) -> Option<usize> {
    let mut memo = ctx.stage_memo.borrow_mut();
    let (code, n) = memo.get_mut(ctx.memo_slot())?.get_mut(raw)?;
    *n += 1;
    Some(*code)
}

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
        Field::Stage => match memo_hit(ctx, raw) {
            Some(code) => Ok(Value::Text(ctx.process.stages()[code].name.clone())),
            None => match ctx.stage_code(raw) {
                Some(code) => {
                    let slot = ctx.memo_slot();
                    let mut memo = ctx.stage_memo.borrow_mut();
                    if memo.len() <= slot {
                        memo.resize_with(slot + 1, HashMap::new);
                    }
                    memo[slot].insert(raw.to_string(), (code, 1));
                    Ok(Value::Text(ctx.process.stages()[code].name.clone()))
                }
                None => Err((
                    Reason::UnknownStage,
                    format!(
                        "stage {raw:?} is not in pipewise.toml; add it as a stage or as an alias of one"
                    ),
                )),
            },
        },
        Field::ForecastCategory => match ForecastCategory::parse_loose(raw) {
            Some(c) => Ok(Value::Text(c.as_str().into())),
            None => Err((
                Reason::UnknownValue,
                format!(
                    "forecast category {raw:?} is not Pipeline, Best Case, Commit, Closed or Omitted (nor Not forecasted); map it under [files.values.forecast_category] in a mapping"
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
        Field::Pipeline => Ok(Value::Text(
            ctx.process
                .pipeline_code(raw)
                .map(|p| ctx.process.pipelines()[p].name.clone())
                .unwrap_or_else(|| raw.to_string()),
        )),
        Field::LossReason => Ok(Value::Text(LossReason::parse_loose(raw).as_str().into())),
        Field::Type => Ok(Value::Text(
            OpportunityType::parse_loose(raw)
                .map(|t| t.as_str().to_string())
                .unwrap_or_else(|| raw.to_string()),
        )),
        _ => Ok(Value::Text(raw.to_string())),
    }
}
