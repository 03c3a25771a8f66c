//! `pipewise ingest csv DIR --mapping FILE.toml`: any CSV or Parquet files,
//! described by a mapping.
//!
//! ```toml
//! [[files]]
//! file = "sales_pipeline.csv"        # a file in DIR (.csv or .parquet)
//! table = "opportunities"            # opportunities | opportunity_events | users | accounts
//!                                    # | activities | leads | quotas | reference
//! [files.columns]                    # canonical field = source column
//! id = "opportunity_id"
//! stage = "deal_stage"
//! "custom.product" = "product"       # custom fields are custom.<name>
//! [files.values.stage]               # renames: source value = canonical value
//! Won = "Closed Won"
//! [files.fixes."custom.product"]     # corrections of known data errors (reported)
//! GTXPro = "GTX Pro"
//! [files.stage_dates]                # exports without history: a date column
//! Discovery = "engage_date"          # says when the deal entered a stage;
//! closed = "close_date"              # `closed` = whichever won/lost stage it is in
//! [files.known_from]                 # a field's value holds from this date column
//! amount = "close_date"
//! [files.references]                 # values must exist in another table
//! "custom.product" = "products.product"
//! ```
//!
//! Opportunity fields without history hold from creation (`created_at`
//! column) unless they are stage, amount, close date, probability, forecast
//! category, loss reason or next step, which are only known as of the
//! snapshot (`--as-of`) unless `stage_dates` or `known_from` say otherwise.
//!
//! This file reads the mapping and runs the files; `file` reads one mapped
//! file's cells (renames, fixes, parsing, required fields, duplicate ids);
//! `tables` turns a file's rows into each table's records.

mod file;
mod tables;

use file::FileCtx;

use crate::csvread::{RawFile, RawRow, read_header};
use crate::draft::{Draft, HistEvent, Since};
use crate::quality::Reason;
use crate::values::number;
use crate::{Ctx, IngestError, IngestOptions, IngestOutcome, cell, list_files, parse_at};
use pipewise_ledger::Store;
use pipewise_model::{
    Account, Activity, ActivityType, Direction, Field, Lead, LeadEvent, Quota, Role, SalesProcess,
    StageOutcome, User, Value,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// A mapping file: how each file of a folder maps to the canonical tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the mapping's files
pub struct Mapping {
    pub files: Vec<FileMapping>,
}

/// The canonical table a mapped file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the variants are the canonical tables (docs/data-model.md)
pub enum Table {
    Opportunities,
    OpportunityEvents,
    Users,
    Accounts,
    Activities,
    Leads,
    Quotas,
    Reference,
}

/// One `[[files]]` entry: a file, its table, and how its columns and values map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the keys of a `[[files]]` entry, described in the module doc
pub struct FileMapping {
    pub file: String,
    pub table: Table,
    /// For `reference` tables: the table's name (default: the file stem).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub fixes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub stage_dates: BTreeMap<String, String>,
    #[serde(default)]
    pub known_from: BTreeMap<String, String>,
    #[serde(default)]
    pub references: BTreeMap<String, String>,
    /// Constant values for canonical fields missing from the file (`role = "rep"`).
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Multiply numeric fields (`annual_revenue = 1000000` for "USD millions").
    #[serde(default)]
    pub scale: BTreeMap<String, f64>,
    /// Users named only in a column (e.g. managers) become users with this role.
    #[serde(default)]
    pub derive_users: Option<DeriveUsers>,
}

/// Users derived from a column of the opportunities file (each distinct value a user), when there is no users file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the column naming users and the role they get
pub struct DeriveUsers {
    pub column: String,
    pub role: String,
    /// Canonical user fields copied from the first row naming the user.
    #[serde(default)]
    pub copy: Vec<String>,
}

const OPP_EXTRA: [&str; 2] = ["id", "created_at"];
const USER_FIELDS: [&str; 10] = [
    "id",
    "name",
    "email",
    "role",
    "manager_id",
    "team",
    "segment",
    "region",
    "hire_date",
    "ramp_months",
];
const ACCOUNT_FIELDS: [&str; 7] = [
    "id",
    "name",
    "industry",
    "employees",
    "annual_revenue",
    "region",
    "owner_id",
];
const ACTIVITY_FIELDS: [&str; 11] = [
    "id",
    "opportunity_id",
    "account_id",
    "lead_id",
    "type",
    "direction",
    "occurred_at",
    "duration_minutes",
    "owner_id",
    "contact_id",
    "contact_seniority",
];
const LEAD_FIELDS: [&str; 12] = [
    "id",
    "created_at",
    "source",
    "company",
    "title",
    "industry",
    "employees",
    "country",
    "status",
    "owner_id",
    "converted_at",
    "converted_opportunity_id",
];
const QUOTA_FIELDS: [&str; 5] = ["owner_id", "period", "period_start", "period_end", "amount"];
const EVENT_FIELDS: [&str; 6] = [
    "opportunity_id",
    "field",
    "old_value",
    "new_value",
    "effective_at",
    "recorded_at",
];

impl Mapping {
    /// Parse and validate a mapping file; errors name the file and line.
    pub fn from_toml(text: &str, path: &str) -> Result<Mapping, IngestError> {
        let m: Mapping = toml::from_str(text).map_err(|e| IngestError::Mapping {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let bad = |message: String| IngestError::Mapping {
            path: path.to_string(),
            message,
        };
        for f in &m.files {
            let allowed: Vec<&str> = match f.table {
                Table::Opportunities => OPP_EXTRA.to_vec(),
                Table::OpportunityEvents => EVENT_FIELDS.to_vec(),
                Table::Users => USER_FIELDS.to_vec(),
                Table::Accounts => ACCOUNT_FIELDS.to_vec(),
                Table::Activities => ACTIVITY_FIELDS.to_vec(),
                Table::Leads => LEAD_FIELDS.to_vec(),
                Table::Quotas => QUOTA_FIELDS.to_vec(),
                Table::Reference => Vec::new(),
            };
            for k in f.columns.keys().chain(f.defaults.keys()) {
                let ok = match f.table {
                    Table::Opportunities => {
                        allowed.contains(&k.as_str()) || Field::parse(k).is_some()
                    }
                    Table::Accounts | Table::Leads => {
                        allowed.contains(&k.as_str()) || k.starts_with("custom.")
                    }
                    Table::Reference => true,
                    _ => allowed.contains(&k.as_str()),
                };
                if !ok {
                    let mut valid: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
                    if f.table == Table::Opportunities {
                        valid.extend(Field::BUILT_IN.iter().map(|f| f.name().into_owned()));
                        valid.push("custom.<name>".into());
                    }
                    return Err(bad(format!(
                        "files {:?}: {k:?} is not a field of table {:?}; valid: {}",
                        f.file,
                        f.table,
                        valid.join(", ")
                    )));
                }
            }
            if f.table == Table::Opportunities && !f.columns.contains_key("id") {
                return Err(bad(format!(
                    "files {:?}: opportunities need `id = \"<column>\"` under [files.columns]",
                    f.file
                )));
            }
            for r in f.references.values() {
                if r.split_once('.').is_none() {
                    return Err(bad(format!(
                        "files {:?}: reference {r:?} must be \"table.column\"",
                        f.file
                    )));
                }
            }
        }
        Ok(m)
    }
}

/// Ingest the files of `dir` that `mapping` describes.
pub fn ingest(
    store: &Store,
    process: &SalesProcess,
    dir: &Path,
    mapping: &Mapping,
    opts: IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    let present = list_files(dir, &["csv", "parquet"])?;
    for fm in &mapping.files {
        let p = dir.join(&fm.file);
        if !p.exists() {
            return Err(IngestError::NoInput {
                dir: dir.display().to_string(),
                message: format!("the mapping names {:?} but there is no such file", fm.file),
            });
        }
        // Check every mapped column exists before reading any row.
        let headers = read_header(&p, &fm.file)?;
        let cols = fm
            .columns
            .values()
            .chain(fm.stage_dates.values())
            .chain(fm.known_from.values());
        for c in cols.chain(fm.derive_users.iter().map(|d| &d.column)) {
            if !headers.iter().any(|h| h == c) {
                return Err(IngestError::MissingColumn {
                    file: fm.file.clone(),
                    column: c.clone(),
                    found: headers.join(", "),
                    hint: "fix the column name in the mapping, or the file's header".into(),
                });
            }
        }
        inputs.push(crate::Input {
            name: fm.file.clone(),
            path: p,
        });
    }
    for p in present {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if !mapping.files.iter().any(|f| f.file == name) {
            skipped.push(name);
        }
    }
    let date_cols = |f: &RawFile| -> Vec<usize> {
        let Some(fm) = mapping.files.iter().find(|m| m.file == f.name) else {
            return Vec::new();
        };
        let mut names: Vec<&String> = fm
            .stage_dates
            .values()
            .chain(fm.known_from.values())
            .collect();
        for (k, c) in &fm.columns {
            let is_date = matches!(
                k.as_str(),
                "created_at"
                    | "close_date"
                    | "next_step_date"
                    | "hire_date"
                    | "occurred_at"
                    | "converted_at"
                    | "period_start"
                    | "period_end"
                    | "effective_at"
                    | "recorded_at"
            );
            if is_date {
                names.push(c);
            }
        }
        names.iter().filter_map(|n| f.column(n)).collect()
    };
    let job = crate::Job {
        source: "csv",
        inputs,
        skipped,
        date_columns: &date_cols,
    };
    crate::run(
        store,
        process,
        job,
        opts,
        &mut |ctx: &mut Ctx<'_>, draft: &mut Draft| {
            let mut tables: HashMap<String, HashSet<String>> = HashMap::new();
            let mut pending_refs: Vec<(String, u64, String, String, String)> = Vec::new(); // file, row, field, value, target
            for fm in &mapping.files {
                let Some(f) = ctx.open(&fm.file)? else {
                    continue;
                };
                let m = FileCtx { fm, f: &f };
                match fm.table {
                    Table::Opportunities => m.opportunities(ctx, draft, &mut pending_refs)?,
                    Table::OpportunityEvents => m.events(ctx, draft)?,
                    Table::Users => m.users(ctx, draft, &mut tables)?,
                    Table::Accounts => m.accounts(ctx, draft, &mut tables)?,
                    Table::Activities => m.activities(ctx, draft)?,
                    Table::Leads => m.leads(ctx, draft)?,
                    Table::Quotas => m.quotas(ctx, draft)?,
                    Table::Reference => m.reference(ctx, draft, &mut tables)?,
                }
            }
            for (file, row, field, value, target) in pending_refs {
                let Some((t, c)) = target.split_once('.') else {
                    continue;
                };
                let key = format!("{t}.{c}");
                if let Some(set) = tables.get(&key) {
                    if !set.contains(&value) {
                        ctx.flag(
                            &file,
                            row,
                            &field,
                            &value,
                            Reason::OrphanReference,
                            format!("{value:?} is not in {target}"),
                        );
                    }
                } else {
                    ctx.flag(
                        &file,
                        row,
                        &field,
                        &value,
                        Reason::OrphanReference,
                        format!("{target} was not ingested, so the reference cannot be checked"),
                    );
                }
            }
            Ok(())
        },
    )
}
