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
//!
//! The connector's files, one job each: `calendar`, `entities`, `history`, `leads`, `money`, `opportunities`, `quotas`; this file is the entry
//! point ([`ingest`]) and the helpers they share (they `use super::*`).

mod calendar;
mod entities;
mod history;
mod leads;
mod money;
mod opportunities;
mod quotas;

use crate::csvread::{RawFile, RawRow};
use crate::draft::{Draft, HistEvent, Since};
use crate::quality::Reason;
use crate::values::boolean;
use crate::{
    Ctx, IngestError, IngestOptions, IngestOutcome, cell, list_files, parse_at, parse_value,
};
use calendar::*;
use entities::*;
use history::*;
use leads::*;
use money::*;
use opportunities::*;
use pipewise_ledger::Store;
use pipewise_model::{
    Account, Activity, ActivityType, Direction, Field, Lead, LeadEvent, Role, SalesProcess,
    StageOutcome, Timestamp, User, Value,
};
use quotas::*;
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

struct Refs {
    users: Option<HashSet<String>>,
    accounts: Option<HashSet<String>>,
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
    (!ctx.duplicate(f, r, "Id", id, seen)).then_some(id)
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
