//! `pipewise ingest hubspot DIR`: a HubSpot deals export (CSV), with its
//! `Date entered "<Stage> (<Pipeline>)"` columns as stage history.
//!
//! The deals file is the CSV with `Record ID` and `Deal Stage` columns (its
//! name does not matter); a companies export (`Record ID`, `Company name`)
//! lands in `accounts`. Stage labels map to `pipewise.toml` stages by name or
//! alias (the default process knows HubSpot's default pipeline labels).
//!
//! Limits of the source: HubSpot keeps only the *latest* time a deal entered
//! each stage, so a deal that moved back and forth shows its last entries;
//! the current `Deal Stage` wins over the date-entered columns when they
//! disagree (reported as `history_current_mismatch`). `Deal probability` is a
//! fraction in HubSpot and is stored as a percentage.

use crate::csvread::{RawFile, read_file};
use crate::draft::{Draft, HistEvent, Since};
use crate::quality::Reason;
use crate::values::number;
use crate::{Ctx, IngestError, IngestOptions, IngestOutcome, cell, list_files, parse_value};
use pipewise_ledger::Store;
use pipewise_model::{Account, Field, SalesProcess, StageOutcome, Value};
use std::collections::HashMap;
use std::path::Path;

const ID: [&str; 2] = ["Record ID", "Deal ID"];
const DATE_ENTERED: &str = "Date entered \"";

fn is_deals(f: &RawFile) -> bool {
    ID.iter().any(|c| f.column(c).is_some()) && f.column("Deal Stage").is_some()
}

fn is_companies(f: &RawFile) -> bool {
    f.column("Record ID").is_some()
        && (f.column("Company name").is_some() || f.column("Company Name").is_some())
}

/// `Date entered "Contract Sent (Sales Pipeline)"` → `Contract Sent`.
fn stage_of_column(h: &str) -> Option<&str> {
    let inner = h.strip_prefix(DATE_ENTERED)?.strip_suffix('"')?;
    Some(match inner.rfind(" (") {
        Some(i) if inner.ends_with(')') => &inner[..i],
        _ => inner,
    })
}

/// Ingest a HubSpot export folder.
pub fn ingest(
    store: &Store,
    process: &SalesProcess,
    dir: &Path,
    opts: IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for p in list_files(dir, &["csv"])? {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let f = read_file(&p, &name)?;
        if is_deals(&f) || is_companies(&f) {
            files.push(f);
        } else {
            skipped.push(name);
        }
    }
    if !files.iter().any(is_deals) {
        return Err(IngestError::NoInput {
            dir: dir.display().to_string(),
            message: "no HubSpot deals export here: expected a CSV with \"Record ID\" and \"Deal Stage\" columns".into(),
        });
    }
    // Stage-history columns must name known stages when they hold data.
    for f in files.iter().filter(|f| is_deals(f)) {
        for (i, h) in f.headers.iter().enumerate() {
            if let Some(label) = stage_of_column(h)
                && process.stage_code(label).is_none()
                && f.rows.iter().any(|r| !cell(r, Some(i)).is_empty())
            {
                return Err(IngestError::Mapping {
                    path: f.name.clone(),
                    message: format!(
                        "column {h:?} holds dates for stage {label:?}, which is not in pipewise.toml\n\nhint: add \"{label}\" to the aliases of the matching stage"
                    ),
                });
            }
        }
    }
    let date_cols = |f: &RawFile| -> Vec<usize> {
        f.headers
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.starts_with(DATE_ENTERED)
                    || matches!(
                        h.as_str(),
                        "Create Date" | "Close Date" | "Last Modified Date"
                    )
            })
            .map(|(i, _)| i)
            .collect()
    };
    let job = crate::Job {
        source: "hubspot",
        files,
        skipped,
        date_columns: &date_cols,
    };
    crate::run(
        store,
        process,
        job,
        opts,
        &mut |ctx: &mut Ctx<'_>, files: &[RawFile], draft: &mut Draft| {
            for f in files.iter().filter(|f| is_companies(f) && !is_deals(f)) {
                companies(ctx, f, draft);
            }
            for f in files.iter().filter(|f| is_deals(f)) {
                deals(ctx, f, draft)?;
            }
            Ok(())
        },
    )
}

fn companies(ctx: &mut Ctx<'_>, f: &RawFile, draft: &mut Draft) {
    let id = f.column("Record ID");
    let [name, name2, industry, emp, rev, country, owner] = [
        "Company name",
        "Company Name",
        "Industry",
        "Number of Employees",
        "Annual Revenue",
        "Country/Region",
        "Company owner",
    ]
    .map(|c| f.column(c));
    let mut seen: HashMap<String, u64> = HashMap::new();
    for r in &f.rows {
        let cid = cell(r, id);
        if cid.is_empty() {
            ctx.reject(
                f,
                r,
                "Record ID",
                "",
                Reason::MissingRequired,
                "a company needs its Record ID",
            );
            continue;
        }
        if let Some(line) = seen.get(cid) {
            ctx.reject(
                f,
                r,
                "Record ID",
                cid,
                Reason::DuplicateId,
                format!("Record ID already used at line {line}; the first row is kept"),
            );
            continue;
        }
        seen.insert(cid.to_string(), r.line);
        let Ok(employees) = ctx.opt_count(f, r, emp, "Number of Employees") else {
            continue;
        };
        let Ok(revenue) = ctx.opt_count(f, r, rev, "Annual Revenue") else {
            continue;
        };
        let nums = [employees, revenue];
        let nm = [cell(r, name), cell(r, name2)]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or(cid);
        draft.accounts.push(Account {
            id: cid.to_string(),
            name: nm.to_string(),
            industry: Some(cell(r, industry))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            employees: nums[0].map(|v| v.round() as i64),
            annual_revenue: nums[1],
            region: Some(cell(r, country))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            owner_id: Some(cell(r, owner))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            custom: Vec::new(),
        });
        ctx.landed(f);
    }
}

fn deals(ctx: &mut Ctx<'_>, f: &RawFile, draft: &mut Draft) -> Result<(), IngestError> {
    let id = match ID.iter().find_map(|c| f.column(c)) {
        Some(i) => i,
        None => f.require("Record ID", "the deals export must have Record ID")?,
    };
    let created_col = f.require("Create Date", "every deal needs its Create Date")?;
    let stage_col = f.require("Deal Stage", "every deal needs its Deal Stage")?;
    let last_mod = f.column("Last Modified Date");
    let won_col = f.column("Is Closed Won");
    let mapped: Vec<(usize, &str, Field, Since)> = [
        ("Amount", Field::Amount, Since::Snapshot),
        ("Close Date", Field::CloseDate, Since::Snapshot),
        (
            "Forecast category",
            Field::ForecastCategory,
            Since::Snapshot,
        ),
        ("Deal probability", Field::Probability, Since::Snapshot),
        ("Closed Lost Reason", Field::LossReason, Since::Snapshot),
        ("Next step", Field::NextStep, Since::Snapshot),
        ("Deal owner", Field::OwnerId, Since::Creation),
        ("Deal Name", Field::Name, Since::Creation),
        ("Deal Type", Field::Type, Since::Creation),
        ("Original Source Type", Field::Source, Since::Creation),
        ("Associated Company IDs", Field::AccountId, Since::Creation),
        (
            "Pipeline",
            Field::Custom("pipeline".into()),
            Since::Creation,
        ),
        ("Currency", Field::Currency, Since::Creation),
    ]
    .into_iter()
    .filter_map(|(c, fl, s)| f.column(c).map(|i| (i, c, fl, s)))
    .collect();
    let entered: Vec<(usize, String)> = f
        .headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            stage_of_column(h)
                .and_then(|l| ctx.process.canonical_stage(l))
                .map(|s| (i, s.to_string()))
        })
        .collect();
    let mut seen: HashMap<String, (u64, Vec<String>)> = HashMap::new();
    'rows: for r in &f.rows {
        let did = cell(r, Some(id));
        if did.is_empty() {
            ctx.reject(
                f,
                r,
                &f.headers[id],
                "",
                Reason::MissingRequired,
                "a deal needs its Record ID",
            );
            continue;
        }
        if let Some((line, fields)) = seen.get(did) {
            let (reason, detail) = if *fields == r.fields {
                (
                    Reason::DuplicateRow,
                    format!("exact duplicate of line {line}"),
                )
            } else {
                (
                    Reason::DuplicateId,
                    format!("Record ID already used at line {line}; the first row is kept"),
                )
            };
            ctx.reject(f, r, &f.headers[id], did, reason, detail);
            continue;
        }
        seen.insert(did.to_string(), (r.line, r.fields.clone()));
        let raw_c = cell(r, Some(created_col));
        let created = match ctx.parser.instant(raw_c) {
            Ok(t) => t,
            Err(e) => {
                ctx.reject(
                    f,
                    r,
                    "Create Date",
                    raw_c,
                    if raw_c.is_empty() {
                        Reason::MissingRequired
                    } else {
                        Reason::UnparsableDate
                    },
                    e,
                );
                continue;
            }
        };
        let raw_stage = cell(r, Some(stage_col));
        if raw_stage.is_empty() {
            ctx.reject(
                f,
                r,
                "Deal Stage",
                "",
                Reason::MissingRequired,
                "every deal needs a Deal Stage",
            );
            continue;
        }
        let stage = match parse_value(ctx, &Field::Stage, raw_stage) {
            Ok(v) => v,
            Err((reason, detail)) => {
                ctx.reject(f, r, "Deal Stage", raw_stage, reason, detail);
                continue;
            }
        };
        let mut values = vec![(Field::Stage, stage.clone(), Since::Snapshot)];
        for (i, name, field, since) in &mapped {
            let raw = cell(r, Some(*i));
            let raw = if *field == Field::AccountId {
                raw.split(';').next().unwrap_or("").trim()
            } else {
                raw
            };
            let parsed = if *field == Field::Probability && !raw.is_empty() {
                // HubSpot stores probability as a fraction 0–1.
                match number(raw) {
                    Ok(p) if (0.0..=1.0).contains(&p) => Ok(Value::Number((p * 1e6).round() / 1e4)),
                    Ok(p) if (0.0..=100.0).contains(&p) => Ok(Value::Number(p)),
                    _ => Err((
                        Reason::UnparsableNumber,
                        "Deal probability is a fraction 0-1".to_string(),
                    )),
                }
            } else {
                parse_value(ctx, field, raw)
            };
            match parsed {
                Ok(v) => values.push((field.clone(), v, *since)),
                Err((reason, detail)) => {
                    ctx.reject(f, r, name, raw, reason, detail);
                    continue 'rows;
                }
            }
        }
        let mut hist: Vec<(i64, String)> = Vec::new();
        for (i, st) in &entered {
            let raw = cell(r, Some(*i));
            if raw.is_empty() {
                continue;
            }
            match ctx.parser.instant(raw) {
                Ok(t) if t > ctx.as_of + pipewise_model::time::MICROS_PER_DAY => {
                    ctx.reject(
                        f,
                        r,
                        &f.headers[*i],
                        raw,
                        Reason::FutureDated,
                        "the stage entry is dated after the ingest's --as-of time",
                    );
                    continue 'rows;
                }
                Ok(t) => hist.push((t, st.clone())),
                Err(e) => {
                    ctx.reject(f, r, &f.headers[*i], raw, Reason::UnparsableDate, e);
                    continue 'rows;
                }
            }
        }
        let current_at = match cell(r, last_mod) {
            "" => None,
            raw => match ctx.parser.instant(raw) {
                Ok(t) => Some(t),
                Err(e) => {
                    ctx.reject(f, r, "Last Modified Date", raw, Reason::UnparsableDate, e);
                    continue;
                }
            },
        };
        if let (Some(won_raw), Some(code)) = (
            Some(cell(r, won_col)).filter(|s| !s.is_empty()),
            stage.as_text().and_then(|s| ctx.process.stage_code(s)),
        ) && let Ok(b) = crate::values::boolean(won_raw)
            && b != (ctx.process.outcome(code) == StageOutcome::Won)
        {
            ctx.flag(
                &f.name,
                r.line,
                "Is Closed Won",
                won_raw,
                Reason::StageOutcomeMismatch,
                format!("stage {raw_stage:?} disagrees; the stage wins"),
            );
        }
        if let Some(t) = hist.iter().map(|h| h.0).min()
            && t < created
        {
            ctx.flag(
                &f.name,
                r.line,
                "Date entered",
                &pipewise_model::time::format_timestamp(t),
                Reason::HistoryBeforeCreated,
                "a stage was entered before Create Date",
            );
        }
        hist.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                ctx.process
                    .stage_code(&a.1)
                    .cmp(&ctx.process.stage_code(&b.1))
            })
        });
        let mut prev = Value::Null;
        for (t, st) in hist {
            let v = Value::Text(st);
            if v == prev {
                continue;
            }
            let order = draft.next_order();
            draft.opp(did).history.push(HistEvent {
                effective_at: t,
                recorded_at: t,
                field: Field::Stage,
                old: prev.clone(),
                new: v.clone(),
                source: "hubspot:date_entered".into(),
                order,
            });
            prev = v;
        }
        let od = draft.opp(did);
        od.created_at = Some(created);
        od.current_at = current_at;
        od.origin = Some((f.name.clone(), r.line));
        for (field, v, since) in values {
            od.current.insert(field, (v, since));
        }
        ctx.landed(f);
    }
    Ok(())
}
