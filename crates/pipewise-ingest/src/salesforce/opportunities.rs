//! `Opportunity.csv`: each deal's current values, its sales process (record types and business processes).

use super::*;

/// What the history files need to know of each opportunity.
#[derive(Default)]
pub(super) struct Deals {
    /// The currency of deals in a non-corporate one (a history row without
    /// its own code is converted in the deal's).
    pub(super) currency: HashMap<String, String>,
    /// The sales process of each deal (only when pipewise.toml has several):
    /// its history's stage values are read in it.
    pub(super) pipeline: HashMap<String, String>,
}

/// Record type id → the name of the sales process it follows: its business
/// process's `Name` (`BusinessProcess.csv`), else the record type's own
/// `Name`. Only opportunity record types count.
pub(super) fn ingest_record_types(
    ctx: &mut Ctx<'_>,
) -> Result<HashMap<String, String>, IngestError> {
    let mut processes: HashMap<String, String> = HashMap::new();
    if let Some(f) = open_sf(ctx, "BusinessProcess.csv")? {
        let (id, name, table) = (f.column("Id"), f.column("Name"), f.column("TableEnumOrId"));
        for r in &f.rows {
            let t = cell(r, table);
            if !t.is_empty() && !t.eq_ignore_ascii_case("Opportunity") {
                ctx.flag(&f.name, r.line, "TableEnumOrId", t, Reason::OutOfScope, "a business process of another object (leads, cases, solutions): not a sales process");
            } else if cell(r, id).is_empty() || cell(r, name).is_empty() {
                ctx.flag(
                    &f.name,
                    r.line,
                    "Name",
                    cell(r, name),
                    Reason::MissingRequired,
                    "a business process needs its Id and Name",
                );
            } else {
                processes.insert(
                    sf_id18(cell(r, id)).into_owned(),
                    cell(r, name).trim().to_string(),
                );
            }
            ctx.landed(&f);
        }
    }
    let mut out = HashMap::new();
    if let Some(f) = open_sf(ctx, "RecordType.csv")? {
        let [id, name, bp, object] =
            ["Id", "Name", "BusinessProcessId", "SobjectType"].map(|c| f.column(c));
        for r in &f.rows {
            let o = cell(r, object);
            if !o.is_empty() && !o.eq_ignore_ascii_case("Opportunity") {
                ctx.flag(
                    &f.name,
                    r.line,
                    "SobjectType",
                    o,
                    Reason::OutOfScope,
                    "a record type of another object: not read",
                );
                ctx.landed(&f);
                continue;
            }
            let rid = cell(r, id);
            let via_process = processes.get(sf_id18(cell(r, bp)).as_ref());
            let named = match via_process {
                Some(p) => Some(p.clone()),
                None => {
                    if !cell(r, bp).is_empty() {
                        ctx.flag(&f.name, r.line, "BusinessProcessId", cell(r, bp), Reason::OrphanReference, "the business process is not in BusinessProcess.csv: the record type's own Name names its sales process");
                    }
                    Some(cell(r, name).trim().to_string()).filter(|n| !n.is_empty())
                }
            };
            match named {
                Some(n) if !rid.is_empty() => {
                    out.insert(sf_id18(rid).into_owned(), n);
                }
                _ => ctx.flag(
                    &f.name,
                    r.line,
                    "Id",
                    rid,
                    Reason::MissingRequired,
                    "a record type needs its Id and a Name",
                ),
            }
            ctx.landed(&f);
        }
    }
    Ok(out)
}

pub(super) fn ingest_opportunities(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    refs: &Refs,
    record_types: &HashMap<String, String>,
    deals: &mut Deals,
) -> Result<(), IngestError> {
    let currency_of = &mut deals.currency;
    let record_type = f.column("RecordTypeId");
    let id = f.require("Id", "Opportunity.csv must have the opportunity Id column")?;
    let created_col = f.require("CreatedDate", "every opportunity needs its CreatedDate")?;
    f.require("StageName", "every opportunity needs its StageName")?;
    let [is_won, is_closed, last_mod] =
        ["IsWon", "IsClosed", "LastModifiedDate"].map(|c| f.column(c));
    let fields = opportunity_fields(f);
    let mut seen = HashMap::new();
    'rows: for r in &f.rows {
        let Some(oid) = row_id(ctx, f, r, id, "an opportunity needs an Id", &mut seen) else {
            continue;
        };
        let Ok(created) = ctx.req_instant(f, r, Some(created_col), "CreatedDate") else {
            draft.keep(oid);
            continue;
        };
        let created_raw = cell(r, Some(created_col));
        if created > ctx.as_of + pipewise_model::time::MICROS_PER_DAY {
            ctx.reject(
                f,
                r,
                "CreatedDate",
                created_raw,
                Reason::FutureDated,
                "created after the ingest's --as-of time",
            );
            draft.keep(oid);
            continue;
        }
        let mut values: Vec<(Field, Value, Since)> = Vec::new();
        let process_name = row_process(ctx, f, r, record_type, record_types);
        ctx.set_pipeline(process_name);
        if let Some(n) = process_name {
            values.push((
                Field::Pipeline,
                parse_value(ctx, &Field::Pipeline, n).unwrap_or(Value::Null),
                Since::Creation,
            ));
            if ctx.process.is_multi() {
                deals.pipeline.insert(oid.to_string(), n.to_string());
            }
        }
        for (i, h, field, since) in &fields {
            let raw = cell(r, Some(*i));
            if *field == Field::Stage && raw.is_empty() {
                ctx.reject(
                    f,
                    r,
                    h,
                    raw,
                    Reason::MissingRequired,
                    "every opportunity needs a StageName",
                );
                draft.keep(oid);
                continue 'rows;
            }
            match parse_at(ctx, f, r, h, field, raw) {
                Ok(v) => values.push((field.clone(), v, *since)),
                Err((reason, detail)) => {
                    if ctx.bad_value(f, r, h, raw, reason, detail) {
                        continue 'rows;
                    }
                }
            }
        }
        let current_at = ctx.opt_instant(f, r, last_mod, "LastModifiedDate");
        convert_row_money(ctx, f, r, oid, &mut values, currency_of);
        flag_row(ctx, f, r, &values, created, refs, [is_won, is_closed]);
        let o = draft.set_record(oid, Some(created), current_at, &f.name, r.line);
        for (field, v, since) in values {
            if field == Field::IsDeleted && v != Value::Bool(true) {
                continue;
            }
            draft.set_current_at(o, field, &v, since);
        }
        ctx.landed(f);
    }
    Ok(())
}

/// The columns of `Opportunity.csv` that become fields, with their "since"
/// policy: what only the snapshot knows, or what holds from creation.
fn opportunity_fields(f: &RawFile) -> Vec<(usize, String, Field, Since)> {
    let mut fields: Vec<(usize, String, Field, Since)> = Vec::new();
    for (i, h) in f.headers.iter().enumerate() {
        if matches!(
            h.as_str(),
            "Id" | "CreatedDate"
                | "IsWon"
                | "IsClosed"
                | "LastModifiedDate"
                | "SystemModstamp"
                | "ExpectedRevenue"
        ) {
            continue;
        }
        let field = match field_for(h) {
            Some(fl) => fl,
            None if h.ends_with("__c") => Field::Custom(custom_name(h)),
            None => continue,
        };
        let since = Since::of_current(&field);
        fields.push((i, h.clone(), field, since));
    }
    fields
}

/// A row's sales process: its record type's (stage values are read in it);
/// an unknown record type is left unknown and reported.
fn row_process<'p>(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    record_type: Option<usize>,
    record_types: &'p HashMap<String, String>,
) -> Option<&'p str> {
    let rt = cell(r, record_type).trim();
    if rt.is_empty() {
        None
    } else {
        match record_types.get(sf_id18(rt).as_ref()) {
            Some(n) => Some(n.as_str()),
            None => {
                let detail = if record_types.is_empty() {
                    "no RecordType.csv in the export names this record type: its sales process is not known"
                } else {
                    "the record type is not in RecordType.csv: its sales process is not known"
                };
                ctx.leave_unknown(f, r, "RecordTypeId", rt, Reason::UnknownValue, detail);
                None
            }
        }
    }
}

/// A row's money converted to the corporate currency when the export has
/// rates (the deal's currency remembered for its history rows).
fn convert_row_money(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    oid: &str,
    values: &mut Vec<(Field, Value, Since)>,
    currency_of: &mut HashMap<String, String>,
) {
    let code = currency_in(values.iter().map(|(f, v, _)| (f, v))).to_string();
    // (a history row without its own code is converted in the deal's)
    if !code.is_empty() && !ctx.rates.is_empty() {
        currency_of.insert(oid.to_string(), code);
    }
    let mut money: Vec<(Field, Value)> = values
        .iter()
        .filter(|(fl, _, _)| matches!(fl, Field::Amount | Field::CloseDate | Field::Currency))
        .map(|(fl, v, _)| (fl.clone(), v.clone()))
        .collect();
    let since = values
        .iter()
        .find(|(fl, _, _)| *fl == Field::Amount)
        .map(|(_, _, s)| *s);
    if let Some(since) = since {
        convert_amount(ctx, f, r, &mut money, "");
        values.retain(|(fl, _, _)| *fl != Field::Amount);
        for (fl, v) in money {
            if matches!(fl, Field::Amount | Field::AmountNative | Field::FxRate) {
                values.push((fl, v, since));
            }
        }
    }
}

/// What a row contradicts or lacks, flagged (the row lands): won / closed
/// against its stage, a close date before creation, owners and accounts the
/// export does not have.
fn flag_row(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    values: &[(Field, Value, Since)],
    created: Timestamp,
    refs: &Refs,
    [is_won, is_closed]: [Option<usize>; 2],
) {
    let stage = values
        .iter()
        .find(|(fl, _, _)| *fl == Field::Stage)
        .and_then(|(_, v, _)| v.as_text().map(str::to_string));
    if let Some(s) = &stage
        && let Some(code) = ctx.stage_code(s)
    {
        let outcome = ctx.process.outcome(code);
        for (col, want, label) in [
            (is_won, outcome == StageOutcome::Won, "IsWon"),
            (is_closed, outcome != StageOutcome::Open, "IsClosed"),
        ] {
            let raw = cell(r, col);
            if let Ok(b) = boolean(raw)
                && b != want
            {
                ctx.flag(
                    &f.name,
                    r.line,
                    label,
                    raw,
                    Reason::StageOutcomeMismatch,
                    format!("stage {s:?} says {label} = {want}"),
                );
            }
        }
    }
    if let Some((_, Value::Date(cd), _)) = values.iter().find(|(fl, _, _)| *fl == Field::CloseDate)
        && *cd < pipewise_model::time::date_of(created)
    {
        ctx.flag(
            &f.name,
            r.line,
            "CloseDate",
            &pipewise_model::time::format_date(*cd),
            Reason::CloseBeforeCreated,
            "close date is before the creation date",
        );
    }
    for (field, set, label) in [
        (Field::OwnerId, &refs.users, "OwnerId"),
        (Field::AccountId, &refs.accounts, "AccountId"),
    ] {
        if let Some(set) = set
            && let Some((_, Value::Text(v), _)) = values.iter().find(|(fl, _, _)| *fl == field)
            && !set.contains(v)
        {
            ctx.flag(
                &f.name,
                r.line,
                label,
                v,
                Reason::OrphanReference,
                format!("{label} {v} is not in the export"),
            );
        }
    }
}
