//! `pipewise ingest salesforce DIR`: a Salesforce Data Loader / Data Export
//! folder, read with Salesforce's own object and column names.
//!
//! | file | lands in |
//! |---|---|
//! | `Opportunity.csv` | current values of each opportunity |
//! | `OpportunityHistory.csv` | stage, amount, close date, probability, forecast category changes (full snapshot rows, diffed) |
//! | `OpportunityFieldHistory.csv` | any other tracked field (Field, OldValue, NewValue) |
//! | `User.csv`, `Account.csv`, `Lead.csv`, `LeadHistory.csv`, `Task.csv`, `Event.csv` | the entity tables |
//! | `Contact.csv` | the seniority of the contact an activity names (`WhoId`), from its `Title` |
//!
//! **Which field wins when the export contradicts itself** (each case is
//! reported in the data-quality report):
//! * `StageName` vs `IsWon`/`IsClosed`: the stage wins; won/closed follow the
//!   stage's configured outcome in `pipewise.toml`.
//! * History dated before `CreatedDate`: the history keeps its time; the
//!   opportunity exists from `CreatedDate`.
//! * History that starts after `CreatedDate`: the first history values are
//!   taken as the values since creation.
//! * Latest history ≠ the current record: the current record wins; the
//!   difference lands as a change at `LastModifiedDate` (or `--as-of`).

use crate::csvread::{RawFile, RawRow};
use crate::draft::{Draft, HistEvent, Since};
use crate::quality::Reason;
use crate::values::boolean;
use crate::{
    Ctx, IngestError, IngestOptions, IngestOutcome, cell, list_files, parse_at, parse_value,
};
use pipewise_ledger::Store;
use pipewise_model::{
    Account, Activity, ActivityType, Direction, Field, Lead, LeadEvent, Role, SalesProcess,
    StageOutcome, Timestamp, User, Value,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

const KNOWN: [&str; 18] = [
    "FiscalYearSettings.csv",
    "RecordType.csv",
    "BusinessProcess.csv",
    "CurrencyType.csv",
    "DatedConversionRate.csv",
    "ForecastingQuota.csv",
    "Period.csv",
    "Organization.csv",
    "Opportunity.csv",
    "OpportunityHistory.csv",
    "OpportunityFieldHistory.csv",
    "User.csv",
    "Account.csv",
    "Lead.csv",
    "LeadHistory.csv",
    "Task.csv",
    "Event.csv",
    "Contact.csv",
];

/// Files of a full Data Export that pipewise does not read, and why (the
/// summary says so). Any other file: not a revenue object pipewise uses.
const NOT_READ: [(&str, &str); 7] = [
    (
        "OpportunityStage.csv",
        "read by `pipewise init --from` (stage order, probabilities, outcomes), not by ingest",
    ),
    ("OpportunityLineItem.csv", "products on deals are not read"),
    (
        "OpportunityContactRole.csv",
        "contact roles are not read; contacts come from Task/Event WhoId",
    ),
    (
        "OpportunitySplit.csv",
        "splits are not read: each deal counts once, for its owner",
    ),
    ("Campaign.csv", "campaigns are not read"),
    ("CampaignMember.csv", "campaigns are not read"),
    ("Forecasting_Quota.csv", "expected ForecastingQuota.csv"),
];

/// Ingest a Salesforce export folder.
pub fn ingest(
    store: &Store,
    process: &SalesProcess,
    dir: &Path,
    opts: IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    for p in list_files(dir, &["csv"])? {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(&name)) {
            Some(k) => inputs.push(crate::Input {
                name: k.to_string(),
                path: p,
            }),
            None => skipped.push(
                match NOT_READ.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                    Some((_, why)) => format!("{name}: {why}"),
                    None => format!("{name}: not a revenue object pipewise reads"),
                },
            ),
        }
    }
    if !inputs
        .iter()
        .any(|f| f.name == "Opportunity.csv" || f.name == "OpportunityHistory.csv")
    {
        return Err(IngestError::NoInput {
            dir: dir.display().to_string(),
            message: format!(
                "no Opportunity.csv or OpportunityHistory.csv here; a Salesforce export folder holds some of: {}",
                KNOWN.join(", ")
            ),
        });
    }
    let date_cols = |f: &RawFile| -> Vec<usize> {
        let names: &[&str] = match f.name.as_str() {
            "Opportunity.csv" => &["CreatedDate", "CloseDate", "LastModifiedDate"],
            "OpportunityHistory.csv" => &["CreatedDate", "CloseDate"],
            "OpportunityFieldHistory.csv" | "LeadHistory.csv" => &["CreatedDate"],
            "User.csv" => &["Hire_Date__c", "HireDate"],
            "Lead.csv" => &["CreatedDate", "ConvertedDate"],
            "Task.csv" => &["CreatedDate", "ActivityDate"],
            "Event.csv" => &["StartDateTime", "ActivityDateTime"],
            "Period.csv" => &["StartDate", "EndDate"],
            "ForecastingQuota.csv" => &["StartDate"],
            _ => &[],
        };
        names.iter().filter_map(|n| f.column(n)).collect()
    };
    let job = crate::Job {
        source: "salesforce",
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
            let users: Option<HashSet<String>> = match open_sf(ctx, "User.csv")? {
                Some(f) => Some(ingest_users(ctx, &f, draft)?),
                None => None,
            };
            let accounts: Option<HashSet<String>> = match open_sf(ctx, "Account.csv")? {
                Some(f) => Some(ingest_accounts(ctx, &f, draft)?),
                None => None,
            };
            let refs = Refs { users, accounts };
            if let Some(f) = open_sf(ctx, "CurrencyType.csv")? {
                let dated = open_sf(ctx, "DatedConversionRate.csv")?;
                ctx.rates = ingest_rates(ctx, &f, dated.as_ref())?;
            } else if let Some(f) = open_sf(ctx, "DatedConversionRate.csv")? {
                unusable(
                    ctx,
                    &f,
                    "IsoCode",
                    "dated rates need CurrencyType.csv (which currency is corporate)",
                );
            }
            let record_types = ingest_record_types(ctx)?;
            let mut deals = Deals::default();
            if let Some(f) = open_sf(ctx, "Opportunity.csv")? {
                // Every opportunity of the org: one the ledger has and this lacks was deleted.
                draft.complete = true;
                timed("Opportunity.csv", || {
                    ingest_opportunities(ctx, &f, draft, &refs, &record_types, &mut deals)
                })?;
            }
            if let Some(f) = open_sf(ctx, "OpportunityHistory.csv")? {
                timed("OpportunityHistory.csv", || {
                    ingest_history(ctx, &f, draft, &deals)
                })?;
            }
            if let Some(f) = open_sf(ctx, "OpportunityFieldHistory.csv")? {
                timed("OpportunityFieldHistory.csv", || {
                    ingest_field_history(ctx, &f, draft, &deals)
                })?;
            }
            let lead_history = open_sf(ctx, "LeadHistory.csv")?;
            if let Some(f) = open_sf(ctx, "Lead.csv")? {
                ingest_leads(ctx, &f, lead_history.as_ref(), draft)?;
            } else if let Some(f) = &lead_history {
                // history without leads: every row is an orphan, landed as lead events
                ingest_leads_history_only(ctx, f, draft)?;
            }
            let contacts = match open_sf(ctx, "Contact.csv")? {
                Some(f) => ingest_contacts(ctx, &f)?,
                None => HashMap::new(),
            };
            for n in ["Task.csv", "Event.csv"] {
                if let Some(f) = open_sf(ctx, n)? {
                    ingest_activities(ctx, &f, draft, &contacts)?;
                }
            }
            let (periods, fiscal) = match open_sf(ctx, "Period.csv")? {
                Some(f) => {
                    let years = open_sf(ctx, "FiscalYearSettings.csv")?;
                    let fiscal = ingest_fiscal_years(ctx, years.as_ref(), &f);
                    (ingest_periods(ctx, &f)?, fiscal)
                }
                None => {
                    if let Some(f) = open_sf(ctx, "FiscalYearSettings.csv")? {
                        unusable(
                            ctx,
                            &f,
                            "Id",
                            "fiscal years need Period.csv (their quarters and months)",
                        );
                    }
                    (HashMap::new(), None)
                }
            };
            draft.fiscal = fiscal;
            if let Some(f) = open_sf(ctx, "ForecastingQuota.csv")? {
                ingest_quotas(ctx, &f, draft, &periods)?;
            }
            if let Some(f) = open_sf(ctx, "Organization.csv")? {
                ingest_organization(ctx, &f)?;
            }
            Ok(())
        },
    )
}

/// Run `f`, saying at debug level how long reading `file` took.
fn timed<T>(file: &str, f: impl FnOnce() -> T) -> T {
    let t0 = std::time::Instant::now();
    let out = f();
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "salesforce: {file}");
    out
}

/// A file that cannot be used without another: every row accounted for
/// (landed) and flagged out of scope, saying which file it needs.
fn unusable(ctx: &mut Ctx<'_>, f: &RawFile, column: &str, why: &str) {
    for r in &f.rows {
        ctx.flag(
            &f.name,
            r.line,
            column,
            cell(r, f.column(column)),
            Reason::OutOfScope,
            why,
        );
        ctx.landed(f);
    }
}

/// Rows already seen, by a hash of their fields other than the row's own Id:
/// hash → the first line with it; lines of rows that differ from the first
/// but share its hash go to `more` (compared exactly on every match).
#[derive(Default)]
struct SeenRows {
    first: HashMap<u64, u64>,
    more: HashMap<u64, Vec<u64>>,
}

impl SeenRows {
    fn new() -> SeenRows {
        SeenRows::default()
    }
}

/// Quarantine a history row that repeats an earlier one (ignoring the row's own
/// Id); true when it did.
#[allow(clippy::too_many_arguments)]
fn repeated(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    id_col: Option<usize>,
    seen: &mut SeenRows,
    column: &str,
    value: &str,
    what: &str,
) -> bool {
    use std::hash::{BuildHasher, Hasher};
    let same = |a: &RawRow, b: &RawRow| {
        a.fields.len() == b.fields.len()
            && (0..a.fields.len())
                .filter(|i| Some(*i) != id_col)
                .all(|i| a.fields.get(i).map(str::trim) == b.fields.get(i).map(str::trim))
    };
    let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
    for (i, v) in r.fields.iter().enumerate() {
        if Some(i) != id_col {
            h.write(v.trim().as_bytes());
            h.write_u8(0xff);
        }
    }
    let key = h.finish();
    let again = match seen.first.get(&key) {
        None => {
            seen.first.insert(key, r.line);
            false
        }
        Some(&line) => {
            let earlier = |l: u64| f.row_at(l).is_some_and(|e| same(e, r));
            if earlier(line)
                || seen
                    .more
                    .get(&key)
                    .is_some_and(|ls| ls.iter().any(|&l| earlier(l)))
            {
                true
            } else {
                seen.more.entry(key).or_default().push(r.line);
                false
            }
        }
    };
    if again {
        ctx.reject(f, r, column, value, Reason::DuplicateRow, what);
    }
    again
}

/// Parsed history rows of one opportunity: (time, line, values).
type HistoryRows = Vec<(Timestamp, u64, Vec<(Field, Value)>)>;

struct Refs {
    users: Option<HashSet<String>>,
    accounts: Option<HashSet<String>>,
}

fn role_from_title(title: &str) -> Role {
    let t = title.to_ascii_lowercase();
    if t.contains("chief")
        || t.contains("cro")
        || t.contains("president")
        || t.starts_with("evp")
        || t.contains("ceo")
    {
        Role::Exec
    } else if t.contains("admin") {
        Role::Admin
    } else if t.contains("vp")
        || t.contains("vice president")
        || t.contains("director")
        || t.contains("manager")
        || t.contains("head")
    {
        Role::Manager
    } else {
        Role::Rep
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The row's Id, or `None` after quarantining a row with no Id (`missing`
/// says what needs one) or a repeated Id.
fn row_id<'r>(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &'r RawRow,
    id_col: usize,
    missing: &str,
    seen: &mut HashMap<String, u64>,
) -> Option<&'r str> {
    let id = cell(r, Some(id_col));
    if id.is_empty() {
        ctx.reject(f, r, "Id", "", Reason::MissingRequired, missing);
        return None;
    }
    (!duplicate(ctx, f, r, "Id", id, seen)).then_some(id)
}

/// Seen ids: id → line of the first occurrence. Returns true when the row is
/// a duplicate (and quarantines it): an exact one, or a reused id.
fn duplicate(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    id_col: &str,
    id: &str,
    seen: &mut HashMap<String, u64>,
) -> bool {
    match seen.get(id) {
        Some(&line) => {
            if f.row_at(line).is_some_and(|first| first.fields == r.fields) {
                ctx.reject(
                    f,
                    r,
                    id_col,
                    id,
                    Reason::DuplicateRow,
                    format!("exact duplicate of line {line}"),
                );
            } else {
                ctx.reject(
                    f,
                    r,
                    id_col,
                    id,
                    Reason::DuplicateId,
                    format!("{id_col} already used at line {line}; the first row is kept"),
                );
            }
            true
        }
        None => {
            seen.insert(id.to_string(), r.line);
            false
        }
    }
}

fn ingest_users(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
) -> Result<HashSet<String>, IngestError> {
    let id = f.require("Id", "User.csv must have the user Id column")?;
    let [
        name,
        first,
        last,
        email,
        title,
        mgr,
        dept,
        div,
        region,
        hire,
        ramp,
        role,
    ] = [
        "Name",
        "FirstName",
        "LastName",
        "Email",
        "Title",
        "ManagerId",
        "Department",
        "Division",
        "Region__c",
        "Hire_Date__c",
        "Ramp_Months__c",
        "Role__c",
    ]
    .map(|c| f.column(c));
    let mut seen = HashMap::new();
    let mut ids = HashSet::new();
    for r in &f.rows {
        let Some(uid) = row_id(ctx, f, r, id, "a user needs an Id", &mut seen) else {
            continue;
        };
        let hire_date = ctx.opt_date(f, r, hire, "Hire_Date__c");
        let ramp = ctx.opt_count(f, r, ramp, "Ramp_Months__c");
        let ramp_months = ramp.map(|v| v.round() as u32);
        let full = match (cell(r, name), cell(r, first), cell(r, last)) {
            (n, _, _) if !n.is_empty() => n.to_string(),
            (_, a, b) => format!("{a} {b}").trim().to_string(),
        };
        let role = Role::parse(&cell(r, role).to_ascii_lowercase())
            .unwrap_or_else(|| role_from_title(cell(r, title)));
        draft.users.push(User {
            id: uid.to_string(),
            name: if full.is_empty() {
                uid.to_string()
            } else {
                full
            },
            email: opt(cell(r, email)),
            role,
            manager_id: opt(cell(r, mgr)),
            team: opt(cell(r, dept)),
            segment: opt(cell(r, div)),
            region: opt(cell(r, region)),
            hire_date,
            ramp_months,
        });
        ids.insert(uid.to_string());
        ctx.landed(f);
    }
    for u in &draft.users {
        if let Some(m) = &u.manager_id
            && !ids.contains(m)
        {
            ctx.flag(
                &f.name,
                0,
                "ManagerId",
                m,
                Reason::OrphanReference,
                format!("user {} reports to {m}, who is not in User.csv", u.id),
            );
        }
    }
    Ok(ids)
}

fn ingest_accounts(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
) -> Result<HashSet<String>, IngestError> {
    let id = f.require("Id", "Account.csv must have the account Id column")?;
    let [name, industry, emp, rev, region, country, owner] = [
        "Name",
        "Industry",
        "NumberOfEmployees",
        "AnnualRevenue",
        "Region__c",
        "BillingCountry",
        "OwnerId",
    ]
    .map(|c| f.column(c));
    let custom: Vec<(usize, String)> = f
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ends_with("__c") && h.as_str() != "Region__c")
        .map(|(i, h)| (i, h.trim_end_matches("__c").to_ascii_lowercase()))
        .collect();
    let mut seen = HashMap::new();
    let mut ids = HashSet::new();
    for r in &f.rows {
        let Some(aid) = row_id(ctx, f, r, id, "an account needs an Id", &mut seen) else {
            continue;
        };
        let employees = ctx.opt_count(f, r, emp, "NumberOfEmployees");
        let revenue = ctx.opt_count(f, r, rev, "AnnualRevenue");
        let nums = [employees, revenue];
        let region_v = match cell(r, region) {
            "" => cell(r, country),
            v => v,
        };
        draft.accounts.push(Account {
            id: aid.to_string(),
            name: match cell(r, name) {
                "" => aid.to_string(),
                n => n.to_string(),
            },
            industry: opt(cell(r, industry)),
            employees: nums[0].map(|v| v.round() as i64),
            annual_revenue: nums[1],
            region: opt(region_v),
            owner_id: opt(cell(r, owner)),
            custom: custom
                .iter()
                .filter(|(i, _)| !cell(r, Some(*i)).is_empty())
                .map(|(i, n)| (n.clone(), cell(r, Some(*i)).to_string()))
                .collect(),
        });
        ids.insert(aid.to_string());
        ctx.landed(f);
    }
    Ok(ids)
}

/// Salesforce field name → canonical field.
fn field_for(sf: &str) -> Option<Field> {
    Some(match sf {
        "StageName" | "Stage" => Field::Stage,
        "Amount" => Field::Amount,
        "CloseDate" => Field::CloseDate,
        "Probability" => Field::Probability,
        "ForecastCategoryName" | "ForecastCategory" => Field::ForecastCategory,
        "Owner" | "OwnerId" | "OwnerAssignment" => Field::OwnerId,
        "Name" | "Opportunity Name" => Field::Name,
        "Account" | "AccountId" => Field::AccountId,
        "Type" => Field::Type,
        "LeadSource" => Field::Source,
        "NextStep" => Field::NextStep,
        "Next_Step_Date__c" => Field::NextStepDate,
        "Loss_Reason__c" | "Reason_Lost__c" | "Closed_Lost_Reason__c" | "Loss_Reason" => {
            Field::LossReason
        }
        "Segment__c" => Field::Segment,
        "Has_Business_Case__c" => Field::HasBusinessCase,
        "CurrencyIsoCode" => Field::Currency,
        "IsDeleted" => Field::IsDeleted,
        _ => return None,
    })
}

fn custom_name(sf: &str) -> String {
    sf.trim_end_matches("__c")
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
}

/// An amount's currency code among parsed values (blank when none).
fn currency_in<'v>(values: impl Iterator<Item = (&'v Field, &'v Value)>) -> &'v str {
    values
        .into_iter()
        .find(|(f, _)| **f == Field::Currency)
        .and_then(|(_, v)| v.as_text())
        .unwrap_or("")
}

/// Replace a parsed amount by what [`Ctx::money`] lands for it (converted,
/// native, rate), with the close date among the values.
fn convert_amount(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    r: &RawRow,
    vals: &mut Vec<(Field, Value)>,
    fallback_code: &str,
) {
    let Some(pos) = vals.iter().position(|(fl, _)| *fl == Field::Amount) else {
        return;
    };
    let Value::Number(native) = vals[pos].1 else {
        return;
    };
    let close = vals
        .iter()
        .find_map(|(fl, v)| (*fl == Field::CloseDate).then(|| v.as_date()).flatten());
    let code = match currency_in(vals.iter().map(|(f, v)| (f, v))) {
        "" => fallback_code.to_string(),
        c => c.to_string(),
    };
    vals.remove(pos);
    vals.extend(ctx.money(f, r, "Amount", native, &code, close));
}

/// CurrencyType.csv (IsoCode, ConversionRate, IsCorporate) and, when the org
/// has Advanced Currency Management, DatedConversionRate.csv (IsoCode,
/// ConversionRate, StartDate, NextStartDate).
fn ingest_rates(
    ctx: &mut Ctx<'_>,
    types: &RawFile,
    dated: Option<&RawFile>,
) -> Result<pipewise_model::currency::Rates, IngestError> {
    let mut rates = crate::rates_from(
        types,
        "IsoCode",
        "ConversionRate",
        "",
        "",
        "IsCorporate",
        None,
    )?;
    for _ in &types.rows {
        ctx.landed(types);
    }
    if let Some(d) = dated {
        let dr = crate::rates_from(
            d,
            "IsoCode",
            "ConversionRate",
            "StartDate",
            "NextStartDate",
            "",
            Some(rates.corporate()),
        )?;
        for (code, span) in dr.spans() {
            if span.start.is_some() {
                rates.add(code, *span);
            }
        }
        for _ in &d.rows {
            ctx.landed(d);
        }
    }
    Ok(rates)
}

/// What the history files need to know of each opportunity.
#[derive(Default)]
struct Deals {
    /// The currency of deals in a non-corporate one (a history row without
    /// its own code is converted in the deal's).
    currency: HashMap<String, String>,
    /// The sales process of each deal (only when pipewise.toml has several):
    /// its history's stage values are read in it.
    pipeline: HashMap<String, String>,
}

/// Record type id → the name of the sales process it follows: its business
/// process's `Name` (`BusinessProcess.csv`), else the record type's own
/// `Name`. Only opportunity record types count.
fn ingest_record_types(ctx: &mut Ctx<'_>) -> Result<HashMap<String, String>, IngestError> {
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

fn ingest_opportunities(
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
    // Columns that become fields, with their "since" policy.
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
        fields.push((i, h.clone(), field, since));
    }
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
        // The sales process: the record type's (stage values are read in it).
        let rt = cell(r, record_type).trim();
        let process_name = if rt.is_empty() {
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
        };
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
        // Money: converted to the corporate currency when the export has rates.
        {
            let code = currency_in(values.iter().map(|(f, v, _)| (f, v))).to_string();
            // (a history row without its own code is converted in the deal's)
            if !code.is_empty() && !ctx.rates.is_empty() {
                currency_of.insert(oid.to_string(), code);
            }
            let mut money: Vec<(Field, Value)> = values
                .iter()
                .filter(|(fl, _, _)| {
                    matches!(fl, Field::Amount | Field::CloseDate | Field::Currency)
                })
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
        // Flags.
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
        if let Some((_, Value::Date(cd), _)) =
            values.iter().find(|(fl, _, _)| *fl == Field::CloseDate)
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

fn ingest_history(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    deals: &Deals,
) -> Result<(), IngestError> {
    let currency_of = &deals.currency;
    let opp_col = f.require(
        "OpportunityId",
        "OpportunityHistory.csv rows must name their OpportunityId",
    )?;
    let time_col = f.require(
        "CreatedDate",
        "OpportunityHistory.csv rows must have the CreatedDate of the change",
    )?;
    let cols: Vec<(usize, Field, &str)> = [
        ("StageName", Field::Stage),
        ("Amount", Field::Amount),
        ("CloseDate", Field::CloseDate),
        ("Probability", Field::Probability),
        ("ForecastCategory", Field::ForecastCategory),
        ("ForecastCategoryName", Field::ForecastCategory),
        ("CurrencyIsoCode", Field::Currency),
    ]
    .into_iter()
    .filter_map(|(n, fl)| f.column(n).map(|i| (i, fl, n)))
    .collect();
    let deleted_col = f.column("IsDeleted");
    let id_col = f.column("Id");
    // First the rows themselves (opportunity, time, duplicates), keeping only
    // (opportunity, time, row) of each; their values are read once, below,
    // in (opportunity, time, line) order: no parsed values held per row.
    let mut opp_index: HashMap<&str, u32> = HashMap::new();
    let mut opp_ids: Vec<&str> = Vec::new();
    let mut rows_kept: Vec<(u32, Timestamp, u32)> = Vec::new();
    let mut seen = SeenRows::new();
    for (ri, r) in f.rows.iter().enumerate() {
        let oid = cell(r, Some(opp_col));
        if oid.is_empty() {
            ctx.reject(
                f,
                r,
                "OpportunityId",
                "",
                Reason::MissingRequired,
                "a history row must name its opportunity",
            );
            continue;
        }
        // Exact duplicates (ignoring the row's own Id).
        if repeated(
            ctx,
            f,
            r,
            id_col,
            &mut seen,
            "OpportunityId",
            oid,
            "the same history row appears earlier in the file",
        ) {
            continue;
        }
        if let Ok(true) = boolean(cell(r, deleted_col)) {
            ctx.landed(f); // a deleted history row: accounted for, not replayed
            continue;
        }
        let Ok(t) = ctx.req_instant(f, r, Some(time_col), "CreatedDate") else {
            continue;
        };
        let raw_t = cell(r, Some(time_col));
        if ctx.reject_future(f, r, t, "CreatedDate", raw_t) {
            continue;
        }
        let o = *opp_index.entry(oid).or_insert_with(|| {
            opp_ids.push(oid);
            (opp_ids.len() - 1) as u32
        });
        rows_kept.push((o, t, ri as u32));
        ctx.landed(f);
    }
    drop(seen);
    drop(opp_index);
    rows_kept.sort_unstable_by_key(|&(o, t, ri)| (o, t, ri));
    let mut at = 0usize;
    while at < rows_kept.len() {
        let o = rows_kept[at].0;
        let mut end = at;
        while end < rows_kept.len() && rows_kept[end].0 == o {
            end += 1;
        }
        let oid = opp_ids[o as usize].to_string();
        ctx.set_pipeline(deals.pipeline.get(&oid).map(String::as_str));
        // This opportunity's rows, in time order, with their values.
        let mut rows: HistoryRows = Vec::with_capacity(end - at);
        'rows: for &(_, t, ri) in &rows_kept[at..end] {
            let r = &f.rows[ri as usize];
            let mut vals = Vec::new();
            for (i, field, name) in &cols {
                let raw = cell(r, Some(*i));
                match parse_at(ctx, f, r, name, field, raw) {
                    Ok(v) => vals.push((field.clone(), v)),
                    Err((reason, detail)) => {
                        // The field is left unknown in this row: no change recorded for it.
                        if ctx.bad_value(f, r, name, raw, reason, detail) {
                            continue 'rows;
                        }
                    }
                }
            }
            let fallback = currency_of.get(&oid).map(String::as_str).unwrap_or("");
            convert_amount(ctx, f, r, &mut vals, fallback);
            rows.push((t, r.line, vals));
        }
        at = end;
        if rows.is_empty() {
            continue;
        }
        let c = draft.created_of(&oid);
        if c.is_none() {
            ctx.flag(
                &f.name,
                rows[0].1,
                "OpportunityId",
                &oid,
                Reason::OrphanHistory,
                "history for an opportunity not in Opportunity.csv (or quarantined there)",
            );
        }
        let mut prev: BTreeMap<Field, Value> = BTreeMap::new();
        for (k, (t, line, vals)) in rows.iter().enumerate() {
            let mut eff = *t;
            // What the deal was before a first history row that closes it.
            let mut open_before: Option<Vec<(Field, Value)>> = None;
            if k == 0
                && let Some(c) = c
            {
                if *t < c {
                    ctx.flag(
                        &f.name,
                        *line,
                        "CreatedDate",
                        &pipewise_model::time::format_timestamp(*t),
                        Reason::HistoryBeforeCreated,
                        "history row dated before the opportunity's CreatedDate",
                    );
                } else if *t > c + 60_000_000 {
                    ctx.flag(
                        &f.name,
                        *line,
                        "CreatedDate",
                        &pipewise_model::time::format_timestamp(*t),
                        Reason::HistoryStartsAfterCreated,
                        "the first history row is after CreatedDate",
                    );
                    eff = c;
                    open_before = inferred_open(ctx, vals);
                    if open_before.is_some() {
                        ctx.flag(
                            &f.name,
                            *line,
                            "StageName",
                            vals.iter()
                                .find(|(fl, _)| *fl == Field::Stage)
                                .and_then(|(_, v)| v.as_text())
                                .unwrap_or(""),
                            Reason::InferredOpenBeforeClose,
                            "the first history row closes the deal after CreatedDate: it was open before, in the process's first open stage",
                        );
                    }
                }
            }
            if let Some(before) = &open_before {
                // From creation: the first open stage (with its forecast
                // category and probability); the close itself at the row's time.
                for (field, v) in before {
                    let order = draft.next_order();
                    draft.push_history(
                        &oid,
                        HistEvent {
                            effective_at: eff,
                            recorded_at: *t,
                            field: field.clone(),
                            old: Value::Null,
                            new: v.clone(),
                            source: "salesforce:inferred_open",
                            order,
                        },
                    );
                    prev.insert(field.clone(), v.clone());
                }
            }
            for (field, v) in vals {
                // A field the inferred open values set: its row value lands
                // at the row's own time, when it differs.
                let in_before = open_before
                    .as_ref()
                    .is_some_and(|b| b.iter().any(|(fl, _)| fl == field));
                let old = prev.get(field).cloned().unwrap_or(Value::Null);
                if in_before {
                    if old.same_as(v) || v.is_null() {
                        continue;
                    }
                } else if k > 0 && old.same_as(v) {
                    continue;
                } else if k == 0 && v.is_null() {
                    prev.insert(field.clone(), v.clone());
                    continue;
                }
                let order = draft.next_order();
                draft.push_history(
                    &oid,
                    HistEvent {
                        effective_at: if in_before { *t } else { eff },
                        recorded_at: *t,
                        field: field.clone(),
                        old,
                        new: v.clone(),
                        source: "salesforce:OpportunityHistory",
                        order,
                    },
                );
                prev.insert(field.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// When a history row's stage is closed (won or lost), the values a deal had
/// before it: the process's first open stage, with that stage's forecast
/// category and probability. `None` when the row's stage is open (or absent).
fn inferred_open(ctx: &Ctx<'_>, vals: &[(Field, Value)]) -> Option<Vec<(Field, Value)>> {
    let process = ctx.process;
    let stage = vals
        .iter()
        .find(|(f, _)| *f == Field::Stage)
        .and_then(|(_, v)| v.as_text())?;
    let code = ctx.stage_code(stage)?;
    if process.outcome(code) == StageOutcome::Open {
        return None;
    }
    let open = process.stage(process.first_open_stage_in(process.pipeline_of(code))?)?;
    let mut out = vec![(Field::Stage, Value::Text(open.name.clone()))];
    if vals.iter().any(|(f, _)| *f == Field::ForecastCategory) {
        out.push((
            Field::ForecastCategory,
            Value::Text(open.forecast_category.as_str().into()),
        ));
    }
    if let Some(p) = open.probability
        && vals.iter().any(|(f, _)| *f == Field::Probability)
    {
        out.push((Field::Probability, Value::Number(p)));
    }
    Some(out)
}

/// Salesforce's 18-character, case-safe form of a 15-character record id
/// (reports and formulas write 15, the API and Data Loader 18): three
/// characters encode which of the 15 are upper case. Other values are kept.
pub fn sf_id18(id: &str) -> std::borrow::Cow<'_, str> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    if id.len() != 15 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return std::borrow::Cow::Borrowed(id);
    }
    let b = id.as_bytes();
    let mut out = String::with_capacity(18);
    out.push_str(id);
    for chunk in 0..3 {
        let mut bits = 0usize;
        for k in 0..5 {
            if b[chunk * 5 + k].is_ascii_uppercase() {
                bits |= 1 << k;
            }
        }
        out.push(ALPHABET[bits] as char);
    }
    std::borrow::Cow::Owned(out)
}

/// The columns of each Salesforce file that hold record ids.
fn id_columns(file: &str) -> &'static [&'static str] {
    match file {
        "OpportunityHistory.csv" => &["Id", "OpportunityId"],
        "OpportunityFieldHistory.csv" => &["Id", "OpportunityId"],
        "User.csv" => &["Id", "ManagerId"],
        "Account.csv" => &["Id", "OwnerId"],
        "Lead.csv" => &["Id", "OwnerId", "ConvertedOpportunityId"],
        "LeadHistory.csv" => &["Id", "LeadId"],
        "Task.csv" | "Event.csv" => &["Id", "WhatId", "WhoId", "OwnerId"],
        "Contact.csv" => &["Id", "AccountId", "OwnerId"],
        "ForecastingQuota.csv" => &["Id", "QuotaOwnerId", "PeriodId"],
        "Opportunity.csv" | "RecordType.csv" => &[
            "Id",
            "AccountId",
            "OwnerId",
            "RecordTypeId",
            "BusinessProcessId",
        ],
        "BusinessProcess.csv" => &["Id"],
        "Period.csv" => &["Id"],
        _ => &[],
    }
}

/// Open one of the export's files with its 15-character ids made 18, so
/// that files written by reports join files written by the API.
fn open_sf(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<RawFile>, IngestError> {
    let Some(mut f) = ctx.open(name)? else {
        return Ok(None);
    };
    let cols: Vec<usize> = id_columns(name)
        .iter()
        .filter_map(|c| f.column(c))
        .collect();
    for r in &mut f.rows {
        if cols
            .iter()
            .any(|&c| r.fields.get(c).is_some_and(|v| v.trim().len() == 15))
        {
            r.fields = (0..r.fields.len())
                .map(|i| {
                    let v = r.fields.get(i).unwrap_or("");
                    if cols.contains(&i) {
                        sf_id18(v.trim()).into_owned()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
        }
    }
    Ok(Some(f))
}

fn looks_like_sf_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn ingest_field_history(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    deals: &Deals,
) -> Result<(), IngestError> {
    let hint =
        "OpportunityFieldHistory.csv has OpportunityId, CreatedDate, Field, OldValue, NewValue";
    let opp_col = f.require("OpportunityId", hint)?;
    let time_col = f.require("CreatedDate", hint)?;
    let field_col = f.require("Field", hint)?;
    let old_col = f.require("OldValue", hint)?;
    let new_col = f.require("NewValue", hint)?;
    let id_col = f.column("Id");
    let mut seen = SeenRows::new();
    let mut orphans: HashSet<String> = HashSet::new();
    for r in &f.rows {
        let oid = cell(r, Some(opp_col));
        let sf_field = cell(r, Some(field_col));
        if oid.is_empty() || sf_field.is_empty() {
            let (col, v) = if oid.is_empty() {
                ("OpportunityId", oid)
            } else {
                ("Field", sf_field)
            };
            ctx.reject(
                f,
                r,
                col,
                v,
                Reason::MissingRequired,
                "a field-history row needs OpportunityId and Field",
            );
            continue;
        }
        if repeated(
            ctx,
            f,
            r,
            id_col,
            &mut seen,
            "OpportunityId",
            oid,
            "the same field-history row appears earlier in the file",
        ) {
            continue;
        }
        let Ok(t) = ctx.req_instant(f, r, Some(time_col), "CreatedDate") else {
            continue;
        };
        let raw_t = cell(r, Some(time_col));
        if ctx.reject_future(f, r, t, "CreatedDate", raw_t) {
            continue;
        }
        if matches!(
            sf_field,
            "created" | "opportunityCreatedFromLead" | "locked" | "unlocked" | "feedEvent"
        ) {
            ctx.landed(f); // bookkeeping rows Salesforce writes; nothing to replay
            continue;
        }
        let field = match field_for(sf_field) {
            Some(fl) => fl,
            None => {
                if !sf_field.ends_with("__c") {
                    ctx.flag(
                        &f.name,
                        r.line,
                        "Field",
                        sf_field,
                        Reason::UnknownFieldInHistory,
                        format!(
                            "{sf_field} is not a canonical field; kept as custom.{}",
                            custom_name(sf_field)
                        ),
                    );
                }
                Field::Custom(custom_name(sf_field))
            }
        };
        let (old_raw, new_raw) = (cell(r, Some(old_col)), cell(r, Some(new_col)));
        if field == Field::Stage {
            ctx.set_pipeline(deals.pipeline.get(oid).map(String::as_str));
        }
        if field == Field::OwnerId && !(looks_like_sf_id(new_raw) || new_raw.is_empty()) {
            // Salesforce writes each owner change twice: once with names, once with ids.
            ctx.landed(f);
            continue;
        }
        let old = match parse_value(ctx, &field, old_raw) {
            Ok(v) => v,
            Err((reason, detail)) => {
                if ctx.bad_value(f, r, "OldValue", old_raw, reason, detail) {
                    continue;
                }
                Value::Null
            }
        };
        let new = match parse_at(ctx, f, r, "NewValue", &field, new_raw) {
            Ok(v) => v,
            Err((reason, detail)) => {
                if ctx.bad_value(f, r, "NewValue", new_raw, reason, detail) {
                    continue;
                }
                // The change happened, to a value pipewise cannot read: the
                // row lands (accounted for) but no event is replayed.
                ctx.landed(f);
                continue;
            }
        };
        if draft.created_of(oid).is_none() && orphans.insert(oid.to_string()) {
            ctx.flag(
                &f.name,
                r.line,
                "OpportunityId",
                oid,
                Reason::OrphanHistory,
                "field history for an opportunity not in Opportunity.csv (or quarantined there)",
            );
        }
        let order = draft.next_order();
        draft.push_history(
            oid,
            HistEvent {
                effective_at: t,
                recorded_at: t,
                field,
                old,
                new,
                source: "salesforce:OpportunityFieldHistory",
                order,
            },
        );
        ctx.landed(f);
    }
    Ok(())
}

fn ingest_leads(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    history: Option<&RawFile>,
    draft: &mut Draft,
) -> Result<(), IngestError> {
    let id = f.require("Id", "Lead.csv must have the lead Id column")?;
    let created_col = f.require("CreatedDate", "every lead needs its CreatedDate")?;
    let [
        source,
        company,
        title,
        industry,
        emp,
        country,
        status,
        owner,
        conv_date,
        conv_opp,
    ] = [
        "LeadSource",
        "Company",
        "Title",
        "Industry",
        "NumberOfEmployees",
        "Country",
        "Status",
        "OwnerId",
        "ConvertedDate",
        "ConvertedOpportunityId",
    ]
    .map(|c| f.column(c));
    let attrs: Vec<(usize, String)> = f
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ends_with("__c"))
        .map(|(i, h)| (i, custom_name(h)))
        .collect();
    let mut seen = HashMap::new();
    let mut created_of: HashMap<String, (Timestamp, Option<String>)> = HashMap::new();
    for r in &f.rows {
        let Some(lid) = row_id(ctx, f, r, id, "a lead needs an Id", &mut seen) else {
            continue;
        };
        let Ok(created) = ctx.req_instant(f, r, Some(created_col), "CreatedDate") else {
            continue;
        };
        let converted_at = ctx.opt_instant(f, r, conv_date, "ConvertedDate");
        let employees = ctx.opt_count(f, r, emp, "NumberOfEmployees");
        let employees = employees.map(|v| v.round() as i64);
        created_of.insert(lid.to_string(), (created, opt(cell(r, status))));
        draft.leads.push(Lead {
            id: lid.to_string(),
            created_at: created,
            source: opt(cell(r, source)),
            company: opt(cell(r, company)),
            title: opt(cell(r, title)),
            industry: opt(cell(r, industry)),
            employees,
            country: opt(cell(r, country)),
            status: opt(cell(r, status)),
            owner_id: opt(cell(r, owner)),
            converted_at,
            converted_opportunity_id: opt(cell(r, conv_opp)),
            attributes: attrs
                .iter()
                .filter(|(i, _)| !cell(r, Some(*i)).is_empty())
                .map(|(i, n)| (n.clone(), cell(r, Some(*i)).to_string()))
                .collect(),
        });
        ctx.landed(f);
    }
    let mut first_status: HashMap<String, Option<String>> = HashMap::new();
    if let Some(h) = history {
        lead_history(ctx, h, draft, &mut first_status)?;
    }
    // The status each lead was created with: the old value of its first status change, else its current status.
    let mut ids: Vec<&String> = created_of.keys().collect();
    ids.sort();
    for lid in ids {
        let (created, current) = &created_of[lid];
        let initial = match first_status.get(lid) {
            Some(old) => old.clone(),
            None => current.clone(),
        };
        if let Some(s) = initial {
            draft.lead_events.push(LeadEvent {
                lead_id: lid.clone(),
                field: "status".into(),
                old_value: None,
                new_value: Some(s),
                effective_at: *created,
                recorded_at: *created,
                source: "salesforce:initial".into(),
            });
        }
    }
    Ok(())
}

fn lead_history(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    first_status: &mut HashMap<String, Option<String>>,
) -> Result<(), IngestError> {
    let hint = "LeadHistory.csv has LeadId, CreatedDate, Field, OldValue, NewValue";
    let lead_col = f.require("LeadId", hint)?;
    let time_col = f.require("CreatedDate", hint)?;
    let field_col = f.require("Field", hint)?;
    let old_col = f.require("OldValue", hint)?;
    let new_col = f.require("NewValue", hint)?;
    let id_col = f.column("Id");
    let mut rows: Vec<(Timestamp, u64, LeadEvent)> = Vec::new();
    let mut seen = SeenRows::new();
    let mut seen_ids = HashMap::new();
    for r in &f.rows {
        let lid = cell(r, Some(lead_col));
        if lid.is_empty() {
            ctx.reject(
                f,
                r,
                "LeadId",
                "",
                Reason::MissingRequired,
                "a lead-history row must name its lead",
            );
            continue;
        }
        let hid = cell(r, id_col);
        if !hid.is_empty() && duplicate(ctx, f, r, "Id", hid, &mut seen_ids) {
            continue;
        }
        if repeated(
            ctx,
            f,
            r,
            id_col,
            &mut seen,
            "LeadId",
            lid,
            "the same lead-history row appears earlier in the file",
        ) {
            continue;
        }
        let Ok(t) = ctx.req_instant(f, r, Some(time_col), "CreatedDate") else {
            continue;
        };
        let field = cell(r, Some(field_col)).to_ascii_lowercase();
        rows.push((
            t,
            r.line,
            LeadEvent {
                lead_id: lid.to_string(),
                field: if field == "leadconverted" {
                    "converted".into()
                } else {
                    field
                },
                old_value: opt(cell(r, Some(old_col))),
                new_value: opt(cell(r, Some(new_col))),
                effective_at: t,
                recorded_at: t,
                source: "salesforce:LeadHistory".into(),
            },
        ));
        ctx.landed(f);
    }
    rows.sort_by_key(|(t, l, _)| (*t, *l));
    for (_, _, e) in rows {
        if e.field == "status" {
            first_status
                .entry(e.lead_id.clone())
                .or_insert_with(|| e.old_value.clone());
        }
        draft.lead_events.push(e);
    }
    Ok(())
}

fn ingest_leads_history_only(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
) -> Result<(), IngestError> {
    let mut first = HashMap::new();
    lead_history(ctx, f, draft, &mut first)
}

/// A contact's seniority from their title: `executive` for C-level, VPs,
/// presidents and founders (seed 000's "above the line"), `manager` for
/// directors, heads, managers and leads, else `individual`; none without a
/// title.
pub fn seniority_from_title(title: &str) -> Option<&'static str> {
    let t = title.trim().to_ascii_lowercase();
    if t.is_empty() {
        return None;
    }
    let words: Vec<&str> = t
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |ws: &[&str]| words.iter().any(|w| ws.contains(w));
    Some(
        if has(&[
            "chief",
            "ceo",
            "cfo",
            "coo",
            "cto",
            "cio",
            "cmo",
            "cro",
            "ciso",
            "cpo",
            "cdo",
            "vp",
            "svp",
            "evp",
            "president",
            "founder",
            "cofounder",
        ]) {
            "executive"
        } else if has(&["director", "head", "manager", "lead"]) {
            "manager"
        } else {
            "individual"
        },
    )
}

/// Contact.csv: each contact's seniority, by contact Id (read for the
/// activities that name them; a row without an Id is quarantined).
fn ingest_contacts(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
) -> Result<HashMap<String, &'static str>, IngestError> {
    let id = f.require("Id", "contacts need their Id")?;
    let title = f.column("Title");
    let mut out = HashMap::new();
    let mut seen = HashMap::new();
    for r in &f.rows {
        let Some(cid) = row_id(ctx, f, r, id, "a contact needs an Id", &mut seen) else {
            continue;
        };
        if let Some(s) = seniority_from_title(cell(r, title)) {
            out.insert(cid.to_string(), s);
        }
        ctx.landed(f);
    }
    Ok(out)
}

fn ingest_activities(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    contacts: &HashMap<String, &'static str>,
) -> Result<(), IngestError> {
    let is_event = f.name == "Event.csv";
    let id = f.require("Id", "activities need their Id")?;
    let [
        what,
        who,
        owner,
        subtype,
        ty,
        subject,
        call_type,
        dir,
        dur_s,
        dur_m,
    ] = [
        "WhatId",
        "WhoId",
        "OwnerId",
        "TaskSubtype",
        "Type",
        "Subject",
        "CallType",
        "Direction__c",
        "CallDurationInSeconds",
        "DurationInMinutes",
    ]
    .map(|c| f.column(c));
    let time_cols: Vec<(usize, &str)> = if is_event {
        ["StartDateTime", "ActivityDateTime", "CreatedDate"]
            .iter()
            .filter_map(|c| f.column(c).map(|i| (i, *c)))
            .collect()
    } else {
        ["CreatedDate", "ActivityDate"]
            .iter()
            .filter_map(|c| f.column(c).map(|i| (i, *c)))
            .collect()
    };
    if time_cols.is_empty() {
        return Err(IngestError::MissingColumn {
            file: f.name.clone(),
            column: if is_event { "StartDateTime".into() } else { "CreatedDate".into() },
            found: f.headers.join(", "),
            hint: "activities need a time: StartDateTime/ActivityDateTime for events, CreatedDate/ActivityDate for tasks".into(),
        });
    }
    let mut seen = HashMap::new();
    for r in &f.rows {
        let Some(aid) = row_id(ctx, f, r, id, "an activity needs an Id", &mut seen) else {
            continue;
        };
        let Some((tcol, tname)) = time_cols
            .iter()
            .find(|(i, _)| !cell(r, Some(*i)).is_empty())
        else {
            ctx.reject(
                f,
                r,
                time_cols[0].1,
                "",
                Reason::MissingRequired,
                "the activity has no time",
            );
            continue;
        };
        let Ok(at) = ctx.req_instant(f, r, Some(*tcol), tname) else {
            continue;
        };
        let seconds = ctx.opt_count(f, r, dur_s, "CallDurationInSeconds");
        let minutes = ctx.opt_count(f, r, dur_m, "DurationInMinutes");
        let duration = minutes.or(seconds.map(|s| s / 60.0));
        let kind_raw = [cell(r, subtype), cell(r, ty), cell(r, subject)]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("");
        let activity_type = if is_event {
            ActivityType::Meeting
        } else {
            ActivityType::parse_loose(kind_raw).unwrap_or(ActivityType::Task)
        };
        let direction = Direction::parse_loose(cell(r, dir))
            .or_else(|| Direction::parse_loose(cell(r, call_type)));
        let what_id = cell(r, what);
        let who_id = cell(r, who);
        draft.activities.push(Activity {
            id: aid.to_string(),
            opportunity_id: what_id.starts_with("006").then(|| what_id.to_string()),
            account_id: what_id.starts_with("001").then(|| what_id.to_string()),
            lead_id: who_id.starts_with("00Q").then(|| who_id.to_string()),
            activity_type,
            direction,
            occurred_at: at,
            duration_minutes: duration,
            owner_id: opt(cell(r, owner)),
            // Contacts' ids start 003; their seniority comes from Contact.csv.
            contact_id: who_id.starts_with("003").then(|| who_id.to_string()),
            contact_seniority: contacts.get(who_id).map(|s| s.to_string()),
        });
        ctx.landed(f);
    }
    Ok(())
}

/// Period.csv: each period's (start, end, label), by Id. Every row lands.
/// The custom fiscal years of `FiscalYearSettings.csv` (`IsStandardYear`
/// false, or `YearType` Custom), with their quarters and months from
/// `Period.csv` (`FiscalYearSettingsId`, `Type`, `StartDate`, `EndDate`).
/// A year is named by its `Name` (`2027`, or the last number in it), else the
/// year its `EndDate` falls in. Standard years follow pipewise.toml's
/// `fiscal_year_start_month`. Rows are accounted for here (FiscalYearSettings)
/// or by [`ingest_periods`] (Period).
fn ingest_fiscal_years(
    ctx: &mut Ctx<'_>,
    years: Option<&RawFile>,
    periods: &RawFile,
) -> Option<pipewise_model::FiscalCalendar> {
    use pipewise_model::FiscalYear;
    let f = years?;
    let [id, name, start, end, standard, kind] = [
        "Id",
        "Name",
        "StartDate",
        "EndDate",
        "IsStandardYear",
        "YearType",
    ]
    .map(|c| f.column(c));
    let mut custom: HashMap<String, FiscalYear> = HashMap::new();
    for r in &f.rows {
        let is_custom =
            boolean(cell(r, standard)) == Ok(false) || cell(r, kind).eq_ignore_ascii_case("custom");
        let dates = (
            ctx.parser.date(cell(r, start)),
            ctx.parser.date(cell(r, end)),
        );
        match (is_custom, dates) {
            (false, _) => {}
            (true, (Ok(a), Ok(b))) => {
                let named = cell(r, name)
                    .split(|c: char| !c.is_ascii_digit())
                    .rfind(|s| s.len() == 4)
                    .and_then(|s| s.parse().ok());
                let year = named.unwrap_or_else(|| {
                    chrono::Datelike::year(&pipewise_model::time::naive_from_date(b))
                });
                custom.insert(
                    sf_id18(cell(r, id).trim()).into_owned(),
                    FiscalYear {
                        name: year,
                        start: a,
                        end: b,
                        quarters: Vec::new(),
                        months: Vec::new(),
                    },
                );
            }
            (true, _) => ctx.flag(
                &f.name,
                r.line,
                "StartDate",
                cell(r, start),
                Reason::UnparsableDate,
                "a custom fiscal year needs its StartDate and EndDate: left out of the fiscal calendar",
            ),
        }
        ctx.landed(f);
    }
    if custom.is_empty() {
        return None;
    }
    let [pfy, ptype, pstart, pend] =
        ["FiscalYearSettingsId", "Type", "StartDate", "EndDate"].map(|c| periods.column(c));
    for r in &periods.rows {
        let Some(y) = custom.get_mut(sf_id18(cell(r, pfy).trim()).as_ref()) else {
            continue;
        };
        let (Ok(a), Ok(b)) = (
            ctx.parser.date(cell(r, pstart)),
            ctx.parser.date(cell(r, pend)),
        ) else {
            continue; // (ingest_periods quarantines it)
        };
        match cell(r, ptype).trim().to_ascii_lowercase().as_str() {
            "quarter" => y.quarters.push((a, b)),
            "month" => y.months.push((a, b)),
            _ => {}
        }
    }
    let mut years: Vec<FiscalYear> = custom.into_values().collect();
    years.sort_by_key(|y| y.start);
    let names: Vec<String> = years.iter().map(|y| format!("FY{}", y.name)).collect();
    match pipewise_model::FiscalCalendar::new(years) {
        Ok(c) => {
            ctx.report.notes.push(format!(
                "custom fiscal years {} (FiscalYearSettings.csv, Period.csv): periods like {}-Q1 follow them",
                names.join(", "),
                names[0]
            ));
            Some(c)
        }
        Err(e) => {
            ctx.report.warnings.push(format!(
                "FiscalYearSettings.csv / Period.csv: {e}; the custom fiscal years are not used (periods follow fiscal_year_start_month)"
            ));
            None
        }
    }
}

fn ingest_periods(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
) -> Result<HashMap<String, (pipewise_model::Date, pipewise_model::Date, String)>, IngestError> {
    let hint = "Period.csv has Id, StartDate, EndDate (and Type, Number, FullyQualifiedLabel)";
    let id = f.require("Id", hint)?;
    let start = f.require("StartDate", hint)?;
    let end = f.require("EndDate", hint)?;
    let label = f.column("FullyQualifiedLabel");
    let mut out = HashMap::new();
    let mut seen = HashMap::new();
    for r in &f.rows {
        let Some(pid) = row_id(ctx, f, r, id, "a period needs an Id", &mut seen) else {
            continue;
        };
        let Ok(a) = ctx.req_date(f, r, Some(start), "StartDate") else {
            continue;
        };
        let Ok(b) = ctx.req_date(f, r, Some(end), "EndDate") else {
            continue;
        };
        let l = match cell(r, label) {
            "" => format!(
                "{}..{}",
                pipewise_model::time::format_date(a),
                pipewise_model::time::format_date(b)
            ),
            l => l.to_string(),
        };
        out.insert(pid.to_string(), (a, b, l));
        ctx.landed(f);
    }
    Ok(out)
}

/// ForecastingQuota.csv (Collaborative Forecasts): amount quotas per owner and
/// period. A quota's period is its `PeriodId`'s in Period.csv; without it, the
/// calendar month from `StartDate` (flagged). Quantity-only quotas are
/// accounted for and reported, not landed.
fn ingest_quotas(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
    periods: &HashMap<String, (pipewise_model::Date, pipewise_model::Date, String)>,
) -> Result<(), IngestError> {
    let hint = "ForecastingQuota.csv has QuotaOwnerId, StartDate, QuotaAmount (and PeriodId)";
    let owner = f.require("QuotaOwnerId", hint)?;
    let start = f.require("StartDate", hint)?;
    let amount = f.require("QuotaAmount", hint)?;
    let period = f.column("PeriodId");
    let currency = f.column("CurrencyIsoCode");
    let id = f.column("Id");
    let mut seen = HashMap::new();
    for r in &f.rows {
        if let Some(c) = id {
            let qid = cell(r, Some(c));
            if !qid.is_empty() && duplicate(ctx, f, r, "Id", qid, &mut seen) {
                continue;
            }
        }
        let who = cell(r, Some(owner));
        if who.is_empty() {
            ctx.reject(
                f,
                r,
                "QuotaOwnerId",
                "",
                Reason::MissingRequired,
                "a quota needs its owner",
            );
            continue;
        }
        let raw_amount = cell(r, Some(amount));
        if raw_amount.is_empty() {
            ctx.flag(
                &f.name,
                r.line,
                "QuotaAmount",
                "",
                Reason::OutOfScope,
                "a quantity quota (no QuotaAmount): pipewise keeps amount quotas",
            );
            ctx.landed(f);
            continue;
        }
        let Ok(a) = crate::values::number(raw_amount) else {
            ctx.reject(
                f,
                r,
                "QuotaAmount",
                raw_amount,
                Reason::UnparsableNumber,
                "a quota amount is a number",
            );
            continue;
        };
        let (period_start, period_end, label) = match periods.get(cell(r, period)) {
            Some((s, e, l)) => (*s, *e, l.clone()),
            None => {
                let Ok(s) = ctx.req_date(f, r, Some(start), "StartDate") else {
                    continue;
                };
                use chrono::Datelike;
                let d = pipewise_model::time::naive_from_date(s);
                let (y, m) = (d.year(), d.month());
                let next = if m == 12 {
                    pipewise_model::time::ymd(y + 1, 1, 1)
                } else {
                    pipewise_model::time::ymd(y, m + 1, 1)
                };
                let e = next.map(|n| n - 1).unwrap_or(s);
                ctx.flag(
                    &f.name,
                    r.line,
                    "PeriodId",
                    cell(r, period),
                    Reason::InferredPeriod,
                    "the period is not in Period.csv: taken as the calendar month of StartDate",
                );
                (s, e, format!("{y}-{m:02}"))
            }
        };
        // A quota in another currency is converted as a deal's amount is
        // (at the rate of its period's start); without a rate it cannot land.
        let code = cell(r, currency);
        let a = if ctx.rates.is_empty() {
            ctx.money(f, r, "QuotaAmount", a, code, None); // notes the currency
            a
        } else {
            let code = if code.is_empty() {
                ctx.rates.corporate().to_string()
            } else {
                code.to_string()
            };
            match ctx.rates.to_corporate(a, &code, Some(period_start)) {
                Some(c) => c.amount,
                None => {
                    ctx.reject(
                        f,
                        r,
                        "CurrencyIsoCode",
                        &code,
                        Reason::NoExchangeRate,
                        "no rate for the quota's currency: add it to CurrencyType.csv or the workspace's currencies.csv",
                    );
                    continue;
                }
            }
        };
        draft.quotas.push(pipewise_model::Quota {
            owner_id: who.to_string(),
            period: label,
            period_start,
            period_end,
            amount: a,
        });
        ctx.landed(f);
    }
    Ok(())
}

/// Organization.csv: its fiscal year's first month, checked against
/// pipewise.toml's (a mismatch is a warning: pipewise.toml wins).
fn ingest_organization(ctx: &mut Ctx<'_>, f: &RawFile) -> Result<(), IngestError> {
    let col = f.column("FiscalYearStartMonth");
    for r in &f.rows {
        if let Ok(m) = crate::values::number(cell(r, col))
            && m as u32 != ctx.process.fiscal_year_start_month()
        {
            ctx.report.warnings.push(format!(
                "Organization.csv says the fiscal year starts in month {m}, pipewise.toml says {}: periods like FY2027-Q1 follow pipewise.toml; set fiscal_year_start_month there if the org's is right",
                ctx.process.fiscal_year_start_month()
            ));
        }
        ctx.landed(f);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{seniority_from_title, sf_id18};

    #[test]
    fn fifteen_character_ids_become_eighteen() {
        // Salesforce's own example: 001A0000006Vm9r is 001A0000006Vm9rIAC.
        assert_eq!(sf_id18("001A0000006Vm9r"), "001A0000006Vm9rIAC");
        // Case matters in a 15: the same letters lower-cased are another record.
        assert_eq!(sf_id18("001a0000006vm9r"), "001a0000006vm9rAAA");
        assert_eq!(sf_id18("001A0000006Vm9rIAC"), "001A0000006Vm9rIAC");
        assert_eq!(sf_id18("Acme Corp 2025!"), "Acme Corp 2025!");
    }

    #[test]
    fn seniority_follows_the_title() {
        for (title, want) in [
            ("VP of Operations", Some("executive")),
            ("Chief Revenue Officer", Some("executive")),
            ("SVP, Finance", Some("executive")),
            ("Co-Founder & CEO", Some("executive")),
            ("Vice President, IT", Some("executive")),
            ("Director of Procurement", Some("manager")),
            ("IT Manager", Some("manager")),
            ("Head of Data", Some("manager")),
            ("Business Analyst", Some("individual")),
            // "cto" is a word, not a substring: a "Director" has no "cto" rank
            ("Sales Director", Some("manager")),
            ("Product Owner", Some("individual")),
            ("  ", None),
            ("", None),
        ] {
            assert_eq!(seniority_from_title(title), want, "{title:?}");
        }
    }
}
