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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub files: Vec<FileMapping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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

struct FileCtx<'a> {
    fm: &'a FileMapping,
    f: &'a RawFile,
}

impl FileCtx<'_> {
    /// The raw cell for a canonical field, after value renames and fixes, or
    /// the default. `None` when the field is not mapped.
    fn get(&self, ctx: &mut Ctx<'_>, r: &RawRow, field: &str) -> Option<String> {
        let raw = match self.fm.columns.get(field) {
            Some(col) => cell(r, self.f.column(col)).to_string(),
            None => self.fm.defaults.get(field)?.clone(),
        };
        if let Some(fixed) = self.fm.fixes.get(field).and_then(|m| m.get(&raw)) {
            ctx.flag(
                &self.f.name,
                r.line,
                self.fm
                    .columns
                    .get(field)
                    .map(String::as_str)
                    .unwrap_or(field),
                &raw,
                Reason::ValueMapped,
                format!("{raw:?} → {fixed:?}"),
            );
            return Some(fixed.clone());
        }
        if let Some(v) = self.fm.values.get(field).and_then(|m| m.get(&raw)) {
            return Some(v.clone());
        }
        Some(raw)
    }

    fn col_name(&self, field: &str) -> String {
        self.fm
            .columns
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_string())
    }

    /// Parse an optional mapped field: `Ok(None)` when unmapped or blank, and
    /// when `parse` rejects the value (the field is then left unknown and
    /// reported; the row lands).
    fn parsed<T>(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
        parse: impl Fn(&Ctx<'_>, &str) -> Result<T, (Reason, String)>,
    ) -> Result<Option<T>, crate::Quarantined> {
        let Some(raw) = self.get(ctx, r, field) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        Ok(parse(ctx, &raw)
            .map_err(|(reason, detail)| {
                ctx.leave_unknown(self.f, r, &self.col_name(field), &raw, reason, detail);
            })
            .ok())
    }

    /// A required mapped field: a blank or a value `parse` rejects
    /// quarantines the row (`None`).
    fn required_parsed<T>(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
        parse: impl Fn(&Ctx<'_>, &str) -> Result<T, (Reason, String)>,
    ) -> Option<T> {
        let raw = self.required(ctx, r, field)?;
        parse(ctx, &raw)
            .map_err(|(reason, detail)| {
                ctx.reject(self.f, r, &self.col_name(field), &raw, reason, detail);
            })
            .ok()
    }

    fn parse_number(
        &self,
        field: &str,
    ) -> impl Fn(&Ctx<'_>, &str) -> Result<f64, (Reason, String)> {
        let scale = self.fm.scale.get(field).copied().unwrap_or(1.0);
        move |_, raw| match number(raw) {
            Ok(v) if v >= 0.0 => Ok(v * scale),
            Ok(_) => Err((
                Reason::NegativeAmount,
                "expected a non-negative number".into(),
            )),
            Err(e) => Err((Reason::UnparsableNumber, e)),
        }
    }

    /// A non-negative number, scaled as the mapping says.
    fn number(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<f64>, crate::Quarantined> {
        self.parsed(ctx, r, field, self.parse_number(field))
    }

    fn instant(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<i64>, crate::Quarantined> {
        self.parsed(ctx, r, field, parse_instant)
    }

    fn date(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        field: &str,
    ) -> Result<Option<i32>, crate::Quarantined> {
        self.parsed(ctx, r, field, parse_date)
    }

    fn required(&self, ctx: &mut Ctx<'_>, r: &RawRow, field: &str) -> Option<String> {
        match self.get(ctx, r, field) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                ctx.reject(
                    self.f,
                    r,
                    &self.col_name(field),
                    "",
                    Reason::MissingRequired,
                    format!("{field} is required"),
                );
                None
            }
        }
    }

    /// The row's id, or `None` after quarantining a row without one or with a repeated one.
    fn row_id(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        seen: &mut HashMap<String, u64>,
    ) -> Option<String> {
        let id = self.required(ctx, r, "id")?;
        (!self.dup(ctx, r, &id, seen)).then_some(id)
    }

    /// The mapped `custom.<name>` fields with a value, as (name, value).
    fn custom_fields(&self, ctx: &mut Ctx<'_>, r: &RawRow) -> Vec<(String, String)> {
        self.fm
            .columns
            .keys()
            .filter_map(|k| k.strip_prefix("custom.").map(|n| (k, n)))
            .filter_map(|(k, n)| {
                self.get(ctx, r, k)
                    .filter(|v| !v.is_empty())
                    .map(|v| (n.to_string(), v))
            })
            .collect()
    }

    fn dup(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        id: &str,
        seen: &mut HashMap<String, u64>,
    ) -> bool {
        match seen.get(id) {
            Some(&line) => {
                let (reason, detail) = if self
                    .f
                    .row_at(line)
                    .is_some_and(|first| first.fields == r.fields)
                {
                    (
                        Reason::DuplicateRow,
                        format!("exact duplicate of line {line}"),
                    )
                } else {
                    (
                        Reason::DuplicateId,
                        format!("id already used at line {line}; the first row is kept"),
                    )
                };
                ctx.reject(self.f, r, &self.col_name("id"), id, reason, detail);
                true
            }
            None => {
                seen.insert(id.to_string(), r.line);
                false
            }
        }
    }

    fn opportunities(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
        refs: &mut Vec<(String, u64, String, String, String)>,
    ) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        'rows: for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let Ok(created) = self.instant(ctx, r, "created_at") else {
                continue;
            };
            let mut values: Vec<(Field, Value, Since)> = Vec::new();
            let mut keys: Vec<&String> = self
                .fm
                .columns
                .keys()
                .chain(self.fm.defaults.keys())
                .collect();
            keys.sort();
            keys.dedup();
            // The row's sales process first: its stage is read in it.
            let pipeline = match self.fm.columns.get("pipeline") {
                Some(col) => Some(cell(r, self.f.column(col)).trim()),
                None => self.fm.defaults.get("pipeline").map(String::as_str),
            };
            ctx.set_pipeline(pipeline.filter(|p| !p.is_empty()));
            for k in keys {
                if OPP_EXTRA.contains(&k.as_str()) {
                    continue;
                }
                let Some(field) = Field::parse(k) else {
                    continue;
                };
                let raw = self.get(ctx, r, k).unwrap_or_default();
                if field == Field::Stage && raw.is_empty() {
                    ctx.reject(
                        self.f,
                        r,
                        &self.col_name(k),
                        "",
                        Reason::MissingRequired,
                        "every opportunity needs a stage",
                    );
                    continue 'rows;
                }
                let mut v = match parse_at(ctx, self.f, r, &self.col_name(k), &field, &raw) {
                    Ok(v) => v,
                    Err((reason, detail)) => {
                        if ctx.bad_value(self.f, r, &self.col_name(k), &raw, reason, detail) {
                            continue 'rows;
                        }
                        continue;
                    }
                };
                if let (Value::Number(n), Some(s)) = (&v, self.fm.scale.get(k)) {
                    v = Value::Number(n * s);
                }
                let since = match field {
                    Field::Stage
                    | Field::Amount
                    | Field::CloseDate
                    | Field::Probability
                    | Field::ForecastCategory
                    | Field::LossReason
                    | Field::NextStep
                    | Field::NextStepDate
                    | Field::HasBusinessCase
                    | Field::IsDeleted => Since::Snapshot,
                    _ => Since::Creation,
                };
                values.push((field, v, since));
            }
            // Stage-entry dates and known-from dates become history.
            let stage = values
                .iter()
                .find(|(f, _, _)| *f == Field::Stage)
                .and_then(|(_, v, _)| v.as_text().map(str::to_string));
            let mut hist: Vec<(i64, Field, Value)> = Vec::new();
            for (st, col) in &self.fm.stage_dates {
                let raw = cell(r, self.f.column(col));
                if raw.is_empty() {
                    continue;
                }
                let target = if st == "closed" {
                    match stage.as_deref().and_then(|s| ctx.stage_code(s)) {
                        Some(c) if ctx.process.outcome(c) != StageOutcome::Open => {
                            ctx.process.stages()[c].name.clone()
                        }
                        _ => continue,
                    }
                } else {
                    match ctx.process.canonical_stage(st) {
                        Some(s) => s.to_string(),
                        None => {
                            return Err(IngestError::Mapping {
                                path: self.f.name.clone(),
                                message: format!(
                                    "stage_dates names {st:?}, which is not a stage in pipewise.toml"
                                ),
                            });
                        }
                    }
                };
                match ctx.parser.instant(raw) {
                    Ok(t) => hist.push((t, Field::Stage, Value::Text(target))),
                    Err(e) => ctx.leave_unknown(self.f, r, col, raw, Reason::UnparsableDate, e),
                }
            }
            for (fname, col) in &self.fm.known_from {
                let Some(field) = Field::parse(fname) else {
                    continue;
                };
                let raw = cell(r, self.f.column(col));
                let Some((_, v, _)) = values.iter().find(|(f, _, _)| *f == field) else {
                    continue;
                };
                if raw.is_empty() || v.is_null() {
                    continue;
                }
                match ctx.parser.instant(raw) {
                    Ok(t) => hist.push((t, field, v.clone())),
                    Err(e) => ctx.leave_unknown(self.f, r, col, raw, Reason::UnparsableDate, e),
                }
            }
            if let Some(t) = hist.iter().map(|h| h.0).max()
                && t > ctx.as_of + pipewise_model::time::MICROS_PER_DAY
            {
                ctx.reject(
                    self.f,
                    r,
                    "",
                    &pipewise_model::time::format_timestamp(t),
                    Reason::FutureDated,
                    "a stage or value date is after the ingest's --as-of time",
                );
                continue;
            }
            if let (Some(c), Some((_, Value::Date(cd), _))) = (
                created,
                values.iter().find(|(f, _, _)| *f == Field::CloseDate),
            ) && *cd < pipewise_model::time::date_of(c)
            {
                ctx.flag(
                    &self.f.name,
                    r.line,
                    &self.col_name("close_date"),
                    &pipewise_model::time::format_date(*cd),
                    Reason::CloseBeforeCreated,
                    "close date is before the creation date",
                );
            }
            for (fname, target) in &self.fm.references {
                if let Some(field) = Field::parse(fname)
                    && let Some((_, Value::Text(v), _)) =
                        values.iter().find(|(f, _, _)| *f == field)
                {
                    refs.push((
                        self.f.name.clone(),
                        r.line,
                        self.col_name(fname),
                        v.clone(),
                        target.clone(),
                    ));
                }
            }
            hist.sort_by_key(|h| h.0);
            let created = created.or_else(|| hist.first().map(|h| h.0));
            let o = draft.set_record(&id, created, None, &self.f.name, r.line);
            let mut prev: HashMap<Field, Value> = HashMap::new();
            let mut events = Vec::new();
            for (t, field, v) in hist {
                let old = prev.insert(field.clone(), v.clone()).unwrap_or(Value::Null);
                events.push((t, field, old, v));
            }
            for (t, field, old, v) in events {
                let order = draft.next_order();
                draft.push_history(
                    &id,
                    HistEvent {
                        effective_at: t,
                        recorded_at: ctx.as_of.max(t),
                        field,
                        old,
                        new: v,
                        source: "csv:stage_dates",
                        order,
                    },
                );
            }
            for (field, v, since) in values {
                if field == Field::IsDeleted && v != Value::Bool(true) {
                    continue;
                }
                draft.set_current_at(o, field, &v, since);
            }
            ctx.landed(self.f);
        }
        Ok(())
    }

    fn events(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
        'rows: for r in &self.f.rows {
            let Some(oid) = self.required(ctx, r, "opportunity_id") else {
                continue;
            };
            let Some(fname) = self.required(ctx, r, "field") else {
                continue;
            };
            let Some(field) = Field::parse(&fname) else {
                ctx.reject(self.f, r, &self.col_name("field"), &fname, Reason::MissingRequired, "not a canonical field name (stage, amount, close_date, …, custom.<name>); map it under [files.values.field]");
                continue;
            };
            let Some(eff) = self.required_parsed(ctx, r, "effective_at", parse_instant) else {
                continue;
            };
            let Ok(rec) = self.instant(ctx, r, "recorded_at") else {
                continue;
            };
            if eff > ctx.as_of + pipewise_model::time::MICROS_PER_DAY {
                ctx.reject(
                    self.f,
                    r,
                    &self.col_name("effective_at"),
                    &pipewise_model::time::format_timestamp(eff),
                    Reason::FutureDated,
                    "the change is dated after the ingest's --as-of time",
                );
                continue;
            }
            let mut vals = [Value::Null, Value::Null];
            for (k, name) in ["old_value", "new_value"].iter().enumerate() {
                let raw = self.get(ctx, r, name).unwrap_or_default();
                match parse_at(ctx, self.f, r, &self.col_name(name), &field, &raw) {
                    Ok(v) => vals[k] = v,
                    Err((reason, detail)) => {
                        if ctx.bad_value(self.f, r, &self.col_name(name), &raw, reason, detail)
                            || k == 1
                        {
                            // an unknown stage stops the ingest; an unreadable
                            // new value: the row is accounted for, no change replayed
                            if k == 1 {
                                ctx.landed(self.f);
                            }
                            continue 'rows;
                        }
                    }
                }
            }
            let [old, new] = vals;
            let order = draft.next_order();
            draft.push_history(
                &oid,
                HistEvent {
                    effective_at: eff,
                    recorded_at: rec.unwrap_or(eff),
                    field,
                    old,
                    new,
                    source: "csv:events",
                    order,
                },
            );
            ctx.landed(self.f);
        }
        Ok(())
    }

    fn users(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
        tables: &mut HashMap<String, HashSet<String>>,
    ) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        let mut ids = HashSet::new();
        let mut derived: BTreeMap<String, User> = BTreeMap::new();
        for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let Ok(hire) = self.date(ctx, r, "hire_date") else {
                continue;
            };
            let Ok(ramp) = self.number(ctx, r, "ramp_months") else {
                continue;
            };
            let g = |ctx: &mut Ctx<'_>, k: &str| self.get(ctx, r, k).filter(|v| !v.is_empty());
            let role_raw = g(ctx, "role").unwrap_or_else(|| "rep".into());
            let Some(role) = Role::parse(&role_raw.to_ascii_lowercase()) else {
                ctx.reject(
                    self.f,
                    r,
                    &self.col_name("role"),
                    &role_raw,
                    Reason::MissingRequired,
                    "role must be rep, manager, exec or admin",
                );
                continue;
            };
            let user = User {
                id: id.clone(),
                name: g(ctx, "name").unwrap_or_else(|| id.clone()),
                email: g(ctx, "email"),
                role,
                manager_id: g(ctx, "manager_id"),
                team: g(ctx, "team"),
                segment: g(ctx, "segment"),
                region: g(ctx, "region"),
                hire_date: hire,
                ramp_months: ramp.map(|v| v.round() as u32),
            };
            if let Some(d) = &self.fm.derive_users {
                let who = cell(r, self.f.column(&d.column)).to_string();
                if !who.is_empty() && !derived.contains_key(&who) {
                    let copy = |k: &str, v: &Option<String>| {
                        if d.copy.iter().any(|c| c == k) {
                            v.clone()
                        } else {
                            None
                        }
                    };
                    derived.insert(
                        who.clone(),
                        User {
                            id: who.clone(),
                            name: who.clone(),
                            email: None,
                            role: Role::parse(&d.role).unwrap_or(Role::Manager),
                            manager_id: None,
                            team: copy("team", &user.team),
                            segment: copy("segment", &user.segment),
                            region: copy("region", &user.region),
                            hire_date: None,
                            ramp_months: None,
                        },
                    );
                }
            }
            ids.insert(id);
            draft.users.push(user);
            ctx.landed(self.f);
        }
        for (id, u) in derived {
            if !ids.contains(&id) {
                ids.insert(id);
                draft.users.push(u);
            }
        }
        tables.insert("users.id".into(), ids);
        Ok(())
    }

    fn accounts(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
        tables: &mut HashMap<String, HashSet<String>>,
    ) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        let mut ids = HashSet::new();
        for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let Ok(employees) = self.number(ctx, r, "employees") else {
                continue;
            };
            let Ok(revenue) = self.number(ctx, r, "annual_revenue") else {
                continue;
            };
            let g = |ctx: &mut Ctx<'_>, k: &str| self.get(ctx, r, k).filter(|v| !v.is_empty());
            let custom = self.custom_fields(ctx, r);
            draft.accounts.push(Account {
                id: id.clone(),
                name: g(ctx, "name").unwrap_or_else(|| id.clone()),
                industry: g(ctx, "industry"),
                employees: employees.map(|v| v.round() as i64),
                annual_revenue: revenue,
                region: g(ctx, "region"),
                owner_id: g(ctx, "owner_id"),
                custom,
            });
            ids.insert(id);
            ctx.landed(self.f);
        }
        tables.insert("accounts.id".into(), ids);
        Ok(())
    }

    fn activities(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let Some(at) = self.required_parsed(ctx, r, "occurred_at", parse_instant) else {
                continue;
            };
            let Ok(duration) = self.number(ctx, r, "duration_minutes") else {
                continue;
            };
            let g = |ctx: &mut Ctx<'_>, k: &str| self.get(ctx, r, k).filter(|v| !v.is_empty());
            draft.activities.push(Activity {
                id,
                opportunity_id: g(ctx, "opportunity_id"),
                account_id: g(ctx, "account_id"),
                lead_id: g(ctx, "lead_id"),
                activity_type: g(ctx, "type")
                    .and_then(|t| ActivityType::parse_loose(&t))
                    .unwrap_or(ActivityType::Task),
                direction: g(ctx, "direction").and_then(|d| Direction::parse_loose(&d)),
                occurred_at: at,
                duration_minutes: duration,
                owner_id: g(ctx, "owner_id"),
                contact_id: g(ctx, "contact_id"),
                contact_seniority: g(ctx, "contact_seniority"),
            });
            ctx.landed(self.f);
        }
        Ok(())
    }

    fn leads(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let created = match self.instant(ctx, r, "created_at") {
                Ok(Some(t)) => t,
                Ok(None) => ctx.as_of,
                Err(crate::Quarantined) => continue,
            };
            let Ok(converted_at) = self.instant(ctx, r, "converted_at") else {
                continue;
            };
            let Ok(employees) = self.number(ctx, r, "employees") else {
                continue;
            };
            let g = |ctx: &mut Ctx<'_>, k: &str| self.get(ctx, r, k).filter(|v| !v.is_empty());
            let attributes = self.custom_fields(ctx, r);
            let status = g(ctx, "status");
            // A file of leads has no status history: the status is known as
            // of the snapshot (as a deal's stage is), which is what the lead
            // funnel's "reached" tests read.
            if let Some(s) = &status {
                draft.lead_events.push(LeadEvent {
                    lead_id: id.clone(),
                    field: "status".into(),
                    old_value: None,
                    new_value: Some(s.clone()),
                    effective_at: ctx.as_of.max(created),
                    recorded_at: ctx.as_of.max(created),
                    source: "csv:leads".into(),
                });
            }
            draft.leads.push(Lead {
                id,
                created_at: created,
                source: g(ctx, "source"),
                company: g(ctx, "company"),
                title: g(ctx, "title"),
                industry: g(ctx, "industry"),
                employees: employees.map(|v| v.round() as i64),
                country: g(ctx, "country"),
                status,
                owner_id: g(ctx, "owner_id"),
                converted_at,
                converted_opportunity_id: g(ctx, "converted_opportunity_id"),
                attributes,
            });
            ctx.landed(self.f);
        }
        Ok(())
    }

    fn quotas(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
        for r in &self.f.rows {
            let Some(owner) = self.required(ctx, r, "owner_id") else {
                continue;
            };
            let Some(period) = self.required(ctx, r, "period") else {
                continue;
            };
            let Some(start) = self.required_parsed(ctx, r, "period_start", parse_date) else {
                continue;
            };
            let Some(end) = self.required_parsed(ctx, r, "period_end", parse_date) else {
                continue;
            };
            let Some(amount) = self.required_parsed(ctx, r, "amount", self.parse_number("amount"))
            else {
                continue;
            };
            draft.quotas.push(Quota {
                owner_id: owner,
                period,
                period_start: start,
                period_end: end,
                amount,
            });
            ctx.landed(self.f);
        }
        Ok(())
    }

    fn reference(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
        tables: &mut HashMap<String, HashSet<String>>,
    ) -> Result<(), IngestError> {
        let name = self.fm.name.clone().unwrap_or_else(|| {
            Path::new(&self.fm.file)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("reference")
                .to_string()
        });
        let mut rows = Vec::new();
        for r in &self.f.rows {
            rows.push(
                r.fields
                    .iter()
                    .map(|v| v.trim().to_string())
                    .collect::<Vec<_>>(),
            );
            ctx.landed(self.f);
        }
        for (c, h) in self.f.headers.iter().enumerate() {
            tables.insert(
                format!("{name}.{h}"),
                rows.iter().map(|r| r[c].clone()).collect(),
            );
        }
        draft
            .references
            .insert(name, (self.f.headers.clone(), rows));
        Ok(())
    }
}

fn parse_instant(c: &Ctx<'_>, raw: &str) -> Result<i64, (Reason, String)> {
    c.parser
        .instant(raw)
        .map_err(|e| (Reason::UnparsableDate, e))
}

fn parse_date(c: &Ctx<'_>, raw: &str) -> Result<i32, (Reason, String)> {
    c.parser.date(raw).map_err(|e| (Reason::UnparsableDate, e))
}
