//! Quarantine records, per-file tallies and the data-quality report.

use serde::Serialize;
use std::collections::BTreeMap;

/// Every check an ingest runs. Checks that *quarantine* keep the row out of
/// the ledger; checks that *flag* land the row and report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // quarantined
    /// A line the CSV reader could not make a row of (quote, field count).
    MalformedRow,
    /// A required field (an id, a creation time) is empty.
    MissingRequired,
    /// A date or time that does not parse.
    UnparsableDate,
    /// A number that does not parse.
    UnparsableNumber,
    /// A true/false value that does not parse.
    UnparsableBool,
    /// An amount below zero.
    NegativeAmount,
    /// A stage the sales process does not have.
    UnknownStage,
    /// An exact copy of an earlier row.
    DuplicateRow,
    /// Another row with an id already used (the first is kept).
    DuplicateId,
    /// A change dated after the ingest's as-of time.
    FutureDated,
    // flagged (landed)
    /// A close date before the deal's creation.
    CloseBeforeCreated,
    /// A reference (owner, account) to a record the export does not have.
    OrphanReference,
    /// History of an opportunity the export does not have.
    OrphanHistory,
    /// `IsWon`/`IsClosed` disagree with the stage's outcome (the stage wins).
    StageOutcomeMismatch,
    /// History dated before the deal's creation (it keeps its time).
    HistoryBeforeCreated,
    /// The latest history differs from the current record (the record wins, as a change).
    HistoryCurrentMismatch,
    /// History starts after creation: its first values are taken as those since creation.
    HistoryStartsAfterCreated,
    /// A value renamed or fixed by the mapping (reported, landed).
    ValueMapped,
    /// Field history of a field pipewise does not track (kept as a custom field).
    UnknownFieldInHistory,
    /// A value of an optional field that no rule reads (an unknown picklist
    /// value): the row lands and the field is left unknown.
    UnknownValue,
    /// A row held bytes that are not UTF-8 in a file that otherwise is:
    /// that row alone was decoded as Windows-1252.
    DecodedWindows1252,
    /// An amount far outside the file's own range (a typo, a currency mix-up).
    ImplausibleAmount,
    /// The history names a closed stage first, after `CreatedDate`: the deal
    /// was open before it, in the process's first open stage.
    InferredOpenBeforeClose,
    /// A row accounted for that pipewise does not use (the detail says why).
    OutOfScope,
    /// A period pipewise had to infer (a quota whose period is not in Period.csv).
    InferredPeriod,
    /// An amount in a currency the ingest has no rate for.
    NoExchangeRate,
}

/// What a record is about: a whole row kept out of the ledger, or one field
/// of a row that landed with that field left unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // Row: the row was quarantined; Field: it landed with the field marked
pub enum Scope {
    #[default]
    Row,
    Field,
}

impl Reason {
    /// Does a row with this problem go to quarantine (rather than land with the field marked)?
    pub fn quarantines(self) -> bool {
        matches!(
            self,
            Reason::MalformedRow
                | Reason::MissingRequired
                | Reason::UnparsableDate
                | Reason::UnparsableNumber
                | Reason::UnparsableBool
                | Reason::NegativeAmount
                | Reason::UnknownStage
                | Reason::DuplicateRow
                | Reason::DuplicateId
                | Reason::FutureDated
        )
    }

    /// The reason's name in the quarantine file and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedRow => "malformed_row",
            Reason::MissingRequired => "missing_required",
            Reason::UnparsableDate => "unparsable_date",
            Reason::UnparsableNumber => "unparsable_number",
            Reason::UnparsableBool => "unparsable_bool",
            Reason::NegativeAmount => "negative_amount",
            Reason::UnknownStage => "unknown_stage",
            Reason::DuplicateRow => "duplicate_row",
            Reason::DuplicateId => "duplicate_id",
            Reason::FutureDated => "future_dated",
            Reason::CloseBeforeCreated => "close_before_created",
            Reason::OrphanReference => "orphan_reference",
            Reason::OrphanHistory => "orphan_history",
            Reason::StageOutcomeMismatch => "stage_outcome_mismatch",
            Reason::HistoryBeforeCreated => "history_before_created",
            Reason::HistoryCurrentMismatch => "history_current_mismatch",
            Reason::HistoryStartsAfterCreated => "history_starts_after_created",
            Reason::ValueMapped => "value_mapped",
            Reason::UnknownFieldInHistory => "unknown_field_in_history",
            Reason::UnknownValue => "unknown_value",
            Reason::DecodedWindows1252 => "decoded_windows_1252",
            Reason::ImplausibleAmount => "implausible_amount",
            Reason::InferredOpenBeforeClose => "inferred_open_before_close",
            Reason::OutOfScope => "out_of_scope",
            Reason::InferredPeriod => "inferred_period",
            Reason::NoExchangeRate => "no_exchange_rate",
        }
    }

    /// What pipewise did about it, for the report.
    pub fn action(self) -> &'static str {
        match self {
            r if r.quarantines() => "quarantined",
            Reason::CloseBeforeCreated => "landed as given",
            Reason::OrphanReference | Reason::OrphanHistory => "landed, reference left dangling",
            Reason::StageOutcomeMismatch => {
                "landed; the stage wins (is_won/is_closed follow the stage's configured outcome)"
            }
            Reason::HistoryBeforeCreated => {
                "landed at the history time; the opportunity exists from its CreatedDate"
            }
            Reason::HistoryCurrentMismatch => {
                "landed; the current record wins, appended as a change at the record's LastModifiedDate (or the ingest's --as-of)"
            }
            Reason::HistoryStartsAfterCreated => {
                "landed; the earliest history values are taken as the values since creation"
            }
            Reason::ValueMapped => "value replaced as the mapping says",
            Reason::UnknownFieldInHistory => "landed as a custom field",
            Reason::UnknownValue => "landed; the field is left unknown",
            Reason::DecodedWindows1252 => "landed; this row alone was decoded as Windows-1252",
            Reason::ImplausibleAmount => "landed as given; check the value and its currency",
            Reason::InferredOpenBeforeClose => {
                "landed; before its first history row the deal is open, in the process's first open stage"
            }
            Reason::OutOfScope => "accounted for, not landed: pipewise does not use it",
            Reason::InferredPeriod => "landed with the period pipewise inferred (see the detail)",
            Reason::NoExchangeRate => {
                "the amount is left unknown; its native amount and currency land"
            }
            _ => "",
        }
    }
}

/// One quarantined row (or, for flags, one reported row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineRecord {
    /// The file the row came from.
    pub file: String,
    /// 1-based line in the file; the header is line 1.
    pub row: u64,
    /// The column at fault (empty for the whole row).
    pub column: String,
    /// The raw value, as read.
    pub raw_value: String,
    /// Why.
    pub reason: Reason,
    /// A sentence saying what is wrong and, where it helps, how to fix it.
    pub detail: String,
    /// A whole row quarantined, or one field left unknown on a row that landed.
    pub scope: Scope,
}

impl QuarantineRecord {
    /// The name of this record's check in the report: the reason, prefixed
    /// `field:` when only the field was left out.
    pub fn check(&self) -> String {
        match self.scope {
            Scope::Row => self.reason.as_str().to_string(),
            Scope::Field => format!("field:{}", self.reason.as_str()),
        }
    }

    /// What pipewise did with it.
    pub fn action(&self) -> &'static str {
        match self.scope {
            Scope::Row => self.reason.action(),
            Scope::Field => "row landed; the field is left unknown",
        }
    }
}

/// How one input file's rows were accounted for: `read = landed + quarantined`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileTally {
    /// The file's name.
    pub file: String,
    /// The SHA-256 of the file's bytes.
    pub sha256: String,
    /// Rows read.
    pub read: u64,
    /// Rows landed (read = landed + quarantined).
    pub landed: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Physical lines in the file (header included), and how many of them the
    /// reader accounted for (header, rows, quarantined and blank lines).
    pub lines: u64,
    /// Physical lines read (a quoted field may span several).
    pub lines_read: u64,
}

/// One data-quality check of the report: what was checked, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckResult {
    /// How many rows or fields the check caught.
    pub count: u64,
    /// What was done with them: quarantined or flagged.
    pub action: String,
    /// Up to five examples: `file:row column=value — detail`.
    pub examples: Vec<String>,
}

/// How complete an optional field is: rows with a value, of all rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    /// The file.
    pub file: String,
    /// The optional column.
    pub column: String,
    /// Rows with a value in it.
    pub filled: u64,
    /// Rows read.
    pub rows: u64,
}

/// The data-quality report of one ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityReport {
    /// The ingest's id (its ledger version and time).
    pub ingest_id: String,
    /// The connector: `salesforce`, `hubspot` or `csv`.
    pub source: String,
    /// The ingest's as-of time.
    pub as_of: String,
    /// The date order numeric dates were read in, when any were.
    pub date_order: Option<String>,
    /// Per file: rows read, landed and quarantined.
    pub files: Vec<FileTally>,
    /// Files in the folder the connector does not read.
    pub skipped_files: Vec<String>,
    /// Per check (a reason's name): what it caught.
    pub checks: BTreeMap<String, CheckResult>,
    /// How complete each optional field is.
    pub completeness: Vec<Completeness>,
    /// What else the ingest found worth saying.
    pub notes: Vec<String>,
    /// Things the user should act on (printed by the CLI on stderr).
    pub warnings: Vec<String>,
    /// Opportunities new to the ledger.
    pub opportunities_added: u64,
    /// Events landed.
    pub events_added: u64,
    /// Events already in the ledger, skipped.
    pub events_duplicate: u64,
}

impl QualityReport {
    /// Count a check, keeping a few examples.
    pub fn record(&mut self, r: &QuarantineRecord) {
        let e = self.checks.entry(r.check()).or_insert_with(|| CheckResult {
            count: 0,
            action: r.action().to_string(),
            examples: Vec::new(),
        });
        e.count += 1;
        if e.examples.len() < 5 {
            e.examples.push(format!(
                "{}:{} {}={:?} — {}",
                r.file, r.row, r.column, r.raw_value, r.detail
            ));
        }
    }

    /// Do the counts add up: every input row landed or quarantined?
    pub fn reconciles(&self) -> bool {
        self.files
            .iter()
            .all(|f| f.read == f.landed + f.quarantined && f.lines == f.lines_read)
    }

    /// The report as JSON (what `ingest --format json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "Data-quality report {} ({} ingest, as of {})\n",
            self.ingest_id, self.source, self.as_of
        ));
        if let Some(o) = &self.date_order {
            s.push_str(&format!("Date order: {o}\n"));
        }
        s.push_str("\nRows per file (read = landed + quarantined):\n");
        for f in &self.files {
            let ok = if f.read == f.landed + f.quarantined && f.lines == f.lines_read {
                "ok"
            } else {
                "MISMATCH"
            };
            let share = if f.read > 0 {
                100.0 * f.quarantined as f64 / f.read as f64
            } else {
                0.0
            };
            let loud = if share >= 1.0 {
                format!("  <-- {share:.1}% of this file quarantined")
            } else {
                String::new()
            };
            s.push_str(&format!(
                "  {:<32} read {:>9}  landed {:>9}  quarantined {:>7}  lines {:>9}  {ok}{loud}\n",
                f.file, f.read, f.landed, f.quarantined, f.lines
            ));
        }
        for f in &self.skipped_files {
            s.push_str(&format!(
                "  {f:<32} skipped (not an input of this connector or mapping)\n"
            ));
        }
        s.push_str(&format!(
            "\nLedger: {} opportunities added, {} events added, {} duplicate events skipped\n",
            self.opportunities_added, self.events_added, self.events_duplicate
        ));
        if self.checks.is_empty() {
            s.push_str("\nChecks: nothing to report\n");
        } else {
            s.push_str("\nChecks:\n");
            for (name, c) in &self.checks {
                s.push_str(&format!("  {name:<30} {:>8}  {}\n", c.count, c.action));
                for e in &c.examples {
                    s.push_str(&format!("      e.g. {e}\n"));
                }
            }
        }
        let low: Vec<&Completeness> = self
            .completeness
            .iter()
            .filter(|c| c.rows > 0 && c.filled < c.rows)
            .collect();
        if !low.is_empty() {
            s.push_str("\nCompleteness (columns with blanks):\n");
            for c in low {
                s.push_str(&format!(
                    "  {:<28} {:<28} {:>6.1}% filled ({} of {})\n",
                    c.file,
                    c.column,
                    100.0 * c.filled as f64 / c.rows as f64,
                    c.filled,
                    c.rows
                ));
            }
        }
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}\n"));
        }
        for n in &self.notes {
            s.push_str(&format!("\nnote: {n}\n"));
        }
        s
    }
}
