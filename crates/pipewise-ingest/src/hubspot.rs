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

use crate::csvread::{RawFile, RawRow, read_header};
use crate::draft::{Draft, HistEvent, Since};
use crate::quality::Reason;
use crate::values::number;
use crate::{
    Ctx, IngestError, IngestOptions, IngestOutcome, cell, list_files, parse_at, parse_value,
};
use pipewise_ledger::Store;
use pipewise_model::{Account, Field, SalesProcess, StageOutcome, Value};
use std::collections::HashMap;
use std::path::Path;

const ID: [&str; 2] = ["Record ID", "Deal ID"];

/// The label HubSpot gives a deal property in an export with internal names
/// (`exportInternalValuesOptions`): `dealstage` → `Deal Stage`,
/// `hs_date_entered_<stageId>` → `Date entered "<stageId>"`. `None` for a
/// header that is not an internal name pipewise reads.
fn label_of_internal(h: &str) -> Option<String> {
    for prefix in ["hs_v2_date_entered_", "hs_date_entered_"] {
        if let Some(stage) = h.strip_prefix(prefix)
            && !stage.is_empty()
        {
            return Some(format!("Date entered \"{stage}\""));
        }
    }
    Some(
        match h {
            "hs_object_id" => "Record ID",
            "dealname" => "Deal Name",
            "dealstage" => "Deal Stage",
            "pipeline" => "Pipeline",
            "amount" => "Amount",
            "amount_in_home_currency" => "Amount in company currency",
            "deal_currency_code" => "Currency",
            "closedate" => "Close Date",
            "createdate" => "Create Date",
            "hs_lastmodifieddate" => "Last Modified Date",
            "hubspot_owner_id" => "Deal owner",
            "hs_deal_stage_probability" => "Deal probability",
            "hs_manual_forecast_category" | "hs_forecast_category" => "Forecast category",
            "hs_is_closed_won" => "Is Closed Won",
            "hs_is_closed" => "Is closed",
            "closed_lost_reason" => "Closed Lost Reason",
            "hs_next_step" => "Next step",
            "dealtype" => "Deal Type",
            "hs_analytics_source" => "Original Source Type",
            "associatedcompanyid" => "Associated Company IDs",
            _ => return None,
        }
        .to_string(),
    )
}

/// Headers of a deals export with internal names read as their labels, when
/// the file is one (it has `hs_object_id` and `dealstage`); true when renamed.
fn internal_to_labels(headers: &mut [String]) -> bool {
    let internal =
        headers.iter().any(|h| h == "hs_object_id") && headers.iter().any(|h| h == "dealstage");
    if internal {
        for h in headers.iter_mut() {
            if let Some(l) = label_of_internal(h) {
                *h = l;
            }
        }
    }
    internal
}

/// Collapse runs of whitespace and trim: HubSpot labels carry stray spaces.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A stage-entry column, `Date entered "<Stage> (<Pipeline>)"` (either quote
/// style), split into (stage label, pipeline). Pipeline names may hold
/// parentheses of their own (`Demo  (West (CA, OR) )`): the split is made
/// against the export's own pipeline names first (`pipelines`, from its
/// `Pipeline` column), else at the parenthesis that balances the last one.
/// Labels are trimmed and their inner whitespace collapsed.
pub(crate) fn stage_column(h: &str, pipelines: &[String]) -> Option<(String, Option<String>)> {
    let rest = h.strip_prefix("Date entered ")?.trim();
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))?;
    let body = squash(inner);
    let Some(open_body) = body.strip_suffix(')') else {
        return Some((body, None));
    };
    let open_body = open_body.trim_end();
    // Against the export's own pipeline names, longest first.
    let mut named: Vec<&String> = pipelines.iter().collect();
    named.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in named {
        let p = squash(p);
        if let Some(head) = open_body.strip_suffix(p.as_str())
            && let Some(label) = head.trim_end().strip_suffix('(')
            && !label.trim().is_empty()
        {
            return Some((label.trim().to_string(), Some(p)));
        }
    }
    // The parenthesis that balances the last one.
    let mut depth = 0i32;
    for (i, c) in body.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let label = body[..i].trim();
                    let pipeline = body[i + 1..body.len() - 1].trim();
                    if label.is_empty() {
                        break;
                    }
                    return Some((label.to_string(), Some(pipeline.to_string())));
                }
            }
            _ => {}
        }
    }
    Some((body, None))
}

/// The export's pipeline names: the distinct values of its `Pipeline` column.
pub(crate) fn pipelines_of(f: &RawFile) -> Vec<String> {
    let Some(c) = f.column("Pipeline") else {
        return Vec::new();
    };
    let mut out: Vec<String> = f
        .rows
        .iter()
        .map(|r| squash(cell(r, Some(c))))
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Ingest a HubSpot export folder.
pub fn ingest(
    store: &Store,
    process: &SalesProcess,
    dir: &Path,
    opts: IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    let mut inputs = Vec::new();
    let mut deals_files = Vec::new();
    let mut company_files = Vec::new();
    let mut skipped = Vec::new();
    for p in list_files(dir, &["csv"])? {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let mut headers = read_header(&p, &name)?;
        internal_to_labels(&mut headers);
        let has = |c: &str| headers.iter().any(|h| h == c);
        let deals = ID.iter().any(|c| has(c)) && has("Deal Stage");
        let companies = has("Record ID") && (has("Company name") || has("Company Name"));
        if deals {
            deals_files.push(name.clone());
        } else if companies {
            company_files.push(name.clone());
        } else {
            skipped.push(name);
            continue;
        }
        inputs.push(crate::Input { name, path: p });
    }
    if deals_files.is_empty() {
        return Err(IngestError::NoInput {
            dir: dir.display().to_string(),
            message: "no HubSpot deals export here: expected a CSV with \"Record ID\" and \"Deal Stage\" columns".into(),
        });
    }
    let date_cols = |f: &RawFile| -> Vec<usize> {
        f.headers
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.starts_with("Date entered ")
                    || h.starts_with("hs_date_entered_")
                    || h.starts_with("hs_v2_date_entered_")
                    || matches!(
                        h.as_str(),
                        "Create Date"
                            | "Close Date"
                            | "Last Modified Date"
                            | "createdate"
                            | "closedate"
                            | "hs_lastmodifieddate"
                    )
            })
            .map(|(i, _)| i)
            .collect()
    };
    let job = crate::Job {
        source: "hubspot",
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
            for n in &company_files {
                if let Some(f) = ctx.open(n)? {
                    companies(ctx, &f, draft);
                }
            }
            for n in &deals_files {
                if let Some(mut f) = ctx.open(n)? {
                    if internal_to_labels(&mut f.headers) {
                        ctx.report.notes.push(format!(
                            "{n} has HubSpot's internal property names (dealstage, hs_date_entered_<stage id>, …): read as their labels; stage ids must be stages or aliases in pipewise.toml"
                        ));
                    }
                    deals(ctx, &f, draft)?;
                }
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
        if ctx.duplicate(f, r, "Record ID", cid, &mut seen) {
            continue;
        }
        let employees = ctx.opt_count(f, r, emp, "Number of Employees");
        let revenue = ctx.opt_count(f, r, rev, "Annual Revenue");
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

/// The deals export's stage-entry columns (`Date entered "Stage (Pipeline)"`)
/// as (column, stage, pipeline). A column naming a stage the process lacks
/// stops the ingest when it holds any date (each row is listed).
fn stage_entry_columns(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    pipelines: &[String],
) -> Vec<(usize, String, Option<String>)> {
    let mut entered: Vec<(usize, String, Option<String>)> = Vec::new();
    for (i, h) in f.headers.iter().enumerate() {
        let Some((label, pipeline)) = stage_column(h, pipelines) else {
            continue;
        };
        // In the column's own pipeline, when it names one pipewise.toml has.
        ctx.set_pipeline(pipeline.as_deref());
        match ctx.stage_code(&label) {
            Some(code) => {
                let filled = f
                    .rows
                    .iter()
                    .filter(|r| !cell(r, Some(i)).is_empty())
                    .count();
                if filled > 0 {
                    ctx.note_stage_spelling(code, &label, filled as u64);
                }
                entered.push((i, ctx.process.stages()[code].name.clone(), pipeline))
            }
            None => {
                for r in f.rows.iter().filter(|r| !cell(r, Some(i)).is_empty()) {
                    ctx.unknown_stage(&f.name, r.line, &label);
                }
            }
        }
    }
    entered
}

/// A deal's money: HubSpot's own company-currency amount when the export has
/// it, else the rates the ingest has; the deal's amount is kept as native.
fn deal_money(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    home_col: Option<usize>,
    values: &mut Vec<(Field, Value, Since)>,
) {
    if let Some(pos) = values.iter().position(|(fl, _, _)| *fl == Field::Amount)
        && let Value::Number(native) = values[pos].1
    {
        let since = values[pos].2;
        let code = values
            .iter()
            .find(|(fl, _, _)| *fl == Field::Currency)
            .and_then(|(_, v, _)| v.as_text())
            .unwrap_or("")
            .to_string();
        let home_raw = cell(r, home_col);
        let home = (!home_raw.is_empty())
            .then(|| number(home_raw))
            .and_then(Result::ok);
        let landed: Vec<(Field, Value)> = match home {
            Some(h) => {
                let mut v = vec![
                    (Field::Amount, Value::Number(h)),
                    (Field::AmountNative, Value::Number(native)),
                ];
                if h > 0.0 {
                    v.push((Field::FxRate, Value::Number(native / h)));
                }
                v
            }
            None if home_col.is_some() && ctx.rates.is_empty() => {
                // The export converts amounts itself: without its figure
                // for this deal, pipewise does not guess one.
                ctx.leave_unknown(f, r, "Amount in company currency", home_raw, Reason::NoExchangeRate, "no company-currency amount for this deal: the amount is left unknown, the native amount lands");
                vec![(Field::AmountNative, Value::Number(native))]
            }
            None => {
                let close = values.iter().find_map(|(fl, v, _)| {
                    (*fl == Field::CloseDate).then(|| v.as_date()).flatten()
                });
                ctx.money(f, r, "Amount", native, &code, close)
            }
        };
        values.remove(pos);
        values.extend(landed.into_iter().map(|(fl, v)| (fl, v, since)));
    }
}

/// A deal's stage entries from the stage-entry columns of its own pipeline,
/// as (time, stage); a date that does not parse or lies after `--as-of`
/// leaves that entry unknown.
fn stage_entries(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    entered: &[(usize, String, Option<String>)],
    deal_pipeline: &str,
) -> Vec<(i64, String)> {
    let mut hist: Vec<(i64, String)> = Vec::new();
    for (i, st, pipeline) in entered {
        let raw = cell(r, Some(*i));
        if raw.is_empty() {
            continue;
        }
        if let Some(p) = pipeline
            && !deal_pipeline.is_empty()
            && !p.eq_ignore_ascii_case(deal_pipeline)
        {
            continue; // another pipeline's column: not this deal's history
        }
        match ctx.parser.instant(raw) {
            Ok(t) if t > ctx.as_of + pipewise_model::time::MICROS_PER_DAY => {
                ctx.leave_unknown(
                    f,
                    r,
                    &f.headers[*i],
                    raw,
                    Reason::FutureDated,
                    "the stage entry is dated after the ingest's --as-of time",
                );
            }
            Ok(t) => hist.push((t, st.clone())),
            Err(e) => ctx.leave_unknown(f, r, &f.headers[*i], raw, Reason::UnparsableDate, e),
        }
    }
    hist
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
    // HubSpot exports only the current amount, close date, forecast category
    // and probability: a value with no history is the value since creation
    // (as the Salesforce connector reads a history that starts late), marked
    // carried back so that `asof --known` keeps the strict reading.
    let mapped: Vec<(usize, &str, Field, Since)> = [
        ("Amount", Field::Amount, Since::CarriedBack),
        ("Close Date", Field::CloseDate, Since::CarriedBack),
        (
            "Forecast category",
            Field::ForecastCategory,
            Since::CarriedBack,
        ),
        ("Deal probability", Field::Probability, Since::CarriedBack),
        ("Closed Lost Reason", Field::LossReason, Since::Snapshot),
        ("Next step", Field::NextStep, Since::Snapshot),
        ("Deal owner", Field::OwnerId, Since::Creation),
        ("Deal Name", Field::Name, Since::Creation),
        ("Deal Type", Field::Type, Since::Creation),
        ("Original Source Type", Field::Source, Since::Creation),
        ("Associated Company IDs", Field::AccountId, Since::Creation),
        ("Pipeline", Field::Pipeline, Since::Creation),
        ("Currency", Field::Currency, Since::Creation),
        ("Deal currency code", Field::Currency, Since::Creation),
    ]
    .into_iter()
    .filter_map(|(c, fl, s)| f.column(c).map(|i| (i, c, fl, s)))
    .collect();
    let pipeline_col = f.column("Pipeline");
    let home_col = f.column("Amount in company currency");
    let entered = stage_entry_columns(ctx, f, &pipelines_of(f));
    // A deals export lists every deal: one the ledger has and this lacks was deleted.
    draft.complete = true;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for r in &f.rows {
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
        if ctx.duplicate(f, r, &f.headers[id], did, &mut seen) {
            continue;
        }
        let raw_c = cell(r, Some(created_col));
        let created = match ctx.parser.instant(raw_c) {
            Ok(t) => t,
            Err(e) => {
                draft.keep(did);
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
        let deal_pipeline = squash(cell(r, pipeline_col));
        ctx.set_pipeline(
            Some(&deal_pipeline)
                .filter(|p| !p.is_empty())
                .map(|p| p.as_str()),
        );
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
            draft.keep(did);
            continue;
        }
        let stage = match parse_value(ctx, &Field::Stage, &squash(raw_stage)) {
            Ok(v) => v,
            Err((reason, detail)) => {
                ctx.bad_value(f, r, "Deal Stage", &squash(raw_stage), reason, detail);
                continue;
            }
        };
        // A closed deal's forecast category and probability are those of its
        // close: they are not carried back over its open life.
        let open = stage
            .as_text()
            .and_then(|s| ctx.stage_code(s))
            .is_some_and(|c| ctx.process.outcome(c) == StageOutcome::Open);
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
                parse_at(ctx, f, r, name, field, raw)
            };
            let since = match field {
                Field::ForecastCategory | Field::Probability if !open => Since::Snapshot,
                _ => *since,
            };
            match parsed {
                Ok(v) => values.push((field.clone(), v, since)),
                Err((reason, detail)) => {
                    ctx.bad_value(f, r, name, raw, reason, detail);
                }
            }
        }
        deal_money(ctx, f, r, home_col, &mut values);
        let mut hist = stage_entries(ctx, f, r, &entered, &deal_pipeline);
        let current_at = ctx.opt_instant(f, r, last_mod, "Last Modified Date");
        if let (Some(won_raw), Some(code)) = (
            Some(cell(r, won_col)).filter(|s| !s.is_empty()),
            stage.as_text().and_then(|s| ctx.stage_code(s)),
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
            a.0.cmp(&b.0)
                .then_with(|| ctx.stage_code(&a.1).cmp(&ctx.stage_code(&b.1)))
        });
        let mut prev = Value::Null;
        for (t, st) in hist {
            let v = Value::Text(st);
            if v == prev {
                continue;
            }
            let order = draft.next_order();
            draft.push_history(
                did,
                HistEvent {
                    effective_at: t,
                    recorded_at: t,
                    field: Field::Stage,
                    old: prev.clone(),
                    new: v.clone(),
                    source: "hubspot:date_entered",
                    order,
                },
            );
            prev = v;
        }
        let o = draft.set_record(did, Some(created), current_at, &f.name, r.line);
        for (field, v, since) in values {
            draft.set_current_at(o, field, &v, since);
        }
        ctx.landed(f);
    }
    Ok(())
}
