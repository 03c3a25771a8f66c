//! Write a company as a Salesforce Data Loader / Data Export folder, using
//! Salesforce's own object and column names, so that `synth → ingest
//! salesforce` exercises the connector end to end.
//!
//! Stage, amount, close date, probability and forecast category changes go to
//! `OpportunityHistory.csv` as full snapshot rows (as Salesforce writes them);
//! owner, loss reason and business-case changes go to
//! `OpportunityFieldHistory.csv` as (Field, OldValue, NewValue) rows.

use crate::SynthError;
use crate::company::Company;
use pipewise_model::time::{format_date, naive_from_timestamp};
use pipewise_model::{
    ActivityType, Direction, Field, ForecastCategory, LossReason, Role, SalesProcess, Timestamp,
    Value,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Salesforce's Data Loader date-time format.
pub fn sf_datetime(ts: Timestamp) -> String {
    naive_from_timestamp(ts)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn num(v: &Value) -> String {
    v.as_number()
        .map(|n| {
            pipewise_model::Value::Number(n)
                .to_canonical_string()
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn date(v: &Value) -> String {
    v.as_date().map(format_date).unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_text().unwrap_or("").to_string()
}

/// Salesforce's `ForecastCategoryName` for a pipewise forecast category.
pub fn sf_forecast_category(s: &str) -> &'static str {
    match ForecastCategory::parse(s) {
        Some(ForecastCategory::Pipeline) => "Pipeline",
        Some(ForecastCategory::BestCase) => "Best Case",
        Some(ForecastCategory::Commit) => "Commit",
        Some(ForecastCategory::Closed) => "Closed",
        Some(ForecastCategory::Omitted) => "Omitted",
        None => "",
    }
}

/// The Salesforce loss-reason picklist value for a pipewise loss reason (empty for none).
pub fn sf_loss_reason(s: &str) -> &'static str {
    match LossReason::parse(s) {
        Some(LossReason::Competition) => "Lost to Competitor",
        Some(LossReason::NoDecision) => "No Decision",
        Some(LossReason::Other) => "Price",
        Some(LossReason::Unknown) | None => "",
    }
}

fn sf_type(s: &str) -> &'static str {
    match s {
        "expansion" => "Existing Customer - Upgrade",
        "renewal" => "Renewal",
        _ => "New Business",
    }
}

fn sf_bool(v: &Value) -> String {
    match v {
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        _ => "false".into(),
    }
}

struct Out {
    dir: std::path::PathBuf,
}

impl Out {
    fn writer(
        &self,
        name: &str,
        header: &[&str],
    ) -> Result<(csv::Writer<std::fs::File>, String), SynthError> {
        let path = self.dir.join(name);
        let p = path.display().to_string();
        let mut w = csv::Writer::from_path(&path).map_err(|source| SynthError::Csv {
            path: p.clone(),
            source,
        })?;
        w.write_record(header).map_err(|source| SynthError::Csv {
            path: p.clone(),
            source,
        })?;
        Ok((w, p))
    }
}

fn wr(w: &mut csv::Writer<std::fs::File>, p: &str, rec: &[String]) -> Result<(), SynthError> {
    w.write_record(rec).map_err(|source| SynthError::Csv {
        path: p.to_string(),
        source,
    })
}

fn fin(mut w: csv::Writer<std::fs::File>, p: &str) -> Result<(), SynthError> {
    w.flush().map_err(|source| SynthError::Io {
        path: p.to_string(),
        source,
    })
}

/// A synthetic contact id (`<account>-contact-<n>`) as a Salesforce Contact
/// Id: `003`, the account's digits, the contact's number.
pub fn sf_contact_id(contact: &str) -> String {
    let (account, n) = contact.split_once("-contact-").unwrap_or((contact, ""));
    format!("003{}{n}", account.get(3..).unwrap_or(account))
}

/// Write the export folder `dir` (created if missing).
pub fn write_export(
    company: &Company,
    process: &SalesProcess,
    dir: &Path,
) -> Result<(), SynthError> {
    std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let out = Out {
        dir: dir.to_path_buf(),
    };

    let (mut w, p) = out.writer(
        "User.csv",
        &[
            "Id",
            "Name",
            "Email",
            "Title",
            "ManagerId",
            "Department",
            "Division",
            "Region__c",
            "Hire_Date__c",
            "Ramp_Months__c",
            "IsActive",
        ],
    )?;
    for u in &company.users {
        let title = match u.role {
            Role::Exec => "Chief Revenue Officer",
            Role::Manager if u.team.is_none() => "VP Sales",
            Role::Manager => "Sales Manager",
            Role::Admin => "Salesforce Admin",
            Role::Rep => "Account Executive",
        };
        wr(
            &mut w,
            &p,
            &[
                u.id.clone(),
                u.name.clone(),
                u.email.clone().unwrap_or_default(),
                title.into(),
                u.manager_id.clone().unwrap_or_default(),
                u.team.clone().unwrap_or_default(),
                u.segment.clone().unwrap_or_default(),
                u.region.clone().unwrap_or_default(),
                u.hire_date.map(format_date).unwrap_or_default(),
                u.ramp_months.map(|m| m.to_string()).unwrap_or_default(),
                "true".into(),
            ],
        )?;
    }
    fin(w, &p)?;

    let (mut w, p) = out.writer(
        "Account.csv",
        &[
            "Id",
            "Name",
            "Industry",
            "NumberOfEmployees",
            "AnnualRevenue",
            "Region__c",
            "OwnerId",
            "Tier__c",
        ],
    )?;
    for a in &company.accounts {
        let tier = a
            .custom
            .iter()
            .find(|(k, _)| k == "tier")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        wr(
            &mut w,
            &p,
            &[
                a.id.clone(),
                a.name.clone(),
                a.industry.clone().unwrap_or_default(),
                a.employees.map(|e| e.to_string()).unwrap_or_default(),
                a.annual_revenue.map(|r| format!("{r}")).unwrap_or_default(),
                a.region.clone().unwrap_or_default(),
                a.owner_id.clone().unwrap_or_default(),
                tier,
            ],
        )?;
    }
    fin(w, &p)?;

    let (mut wo, po) = out.writer(
        "Opportunity.csv",
        &[
            "Id",
            "AccountId",
            "OwnerId",
            "Name",
            "Type",
            "LeadSource",
            "StageName",
            "Amount",
            "CloseDate",
            "Probability",
            "ForecastCategoryName",
            "IsClosed",
            "IsWon",
            "CreatedDate",
            "LastModifiedDate",
            "Loss_Reason__c",
            "Segment__c",
            "Has_Business_Case__c",
            "CurrencyIsoCode",
            "IsDeleted",
        ],
    )?;
    let (mut wh, ph) = out.writer(
        "OpportunityHistory.csv",
        &[
            "Id",
            "OpportunityId",
            "CreatedDate",
            "StageName",
            "Amount",
            "CloseDate",
            "Probability",
            "ForecastCategory",
            "IsDeleted",
        ],
    )?;
    let (mut wf, pf) = out.writer(
        "OpportunityFieldHistory.csv",
        &[
            "Id",
            "OpportunityId",
            "CreatedDate",
            "Field",
            "OldValue",
            "NewValue",
        ],
    )?;
    let mut hist_id = 0u64;
    let mut fh_id = 0u64;
    let snapshot_fields = [
        Field::Stage,
        Field::Amount,
        Field::CloseDate,
        Field::Probability,
        Field::ForecastCategory,
    ];
    for o in &company.opportunities {
        let mut cur: BTreeMap<Field, Value> = BTreeMap::new();
        let mut i = 0;
        let ch = &o.changes;
        while i < ch.len() {
            let t = ch[i].at;
            let mut j = i;
            let mut snapshot_changed = false;
            while j < ch.len() && ch[j].at == t {
                let c = &ch[j];
                let old = cur
                    .insert(c.field.clone(), c.value.clone())
                    .unwrap_or(Value::Null);
                if snapshot_fields.contains(&c.field) {
                    snapshot_changed = true;
                } else if t > o.created_at {
                    let sf_field = match c.field {
                        Field::OwnerId => Some("Owner"),
                        Field::LossReason => Some("Loss_Reason__c"),
                        Field::HasBusinessCase => Some("Has_Business_Case__c"),
                        _ => None,
                    };
                    if let Some(f) = sf_field {
                        let conv = |v: &Value| match c.field {
                            Field::LossReason => {
                                v.as_text().map(sf_loss_reason).unwrap_or("").to_string()
                            }
                            Field::HasBusinessCase => match v {
                                Value::Null => "false".into(),
                                v => sf_bool(v),
                            },
                            _ => text(v),
                        };
                        fh_id += 1;
                        wr(
                            &mut wf,
                            &pf,
                            &[
                                format!("017{fh_id:015}"),
                                o.id.clone(),
                                sf_datetime(t),
                                f.into(),
                                conv(&old),
                                conv(&c.value),
                            ],
                        )?;
                    }
                }
                j += 1;
            }
            if snapshot_changed {
                hist_id += 1;
                let g = |f: &Field| cur.get(f).cloned().unwrap_or(Value::Null);
                let fc = match g(&Field::ForecastCategory) {
                    Value::Text(s) => sf_forecast_category(&s).to_string(),
                    _ => String::new(),
                };
                wr(
                    &mut wh,
                    &ph,
                    &[
                        format!("008{hist_id:015}"),
                        o.id.clone(),
                        sf_datetime(t),
                        text(&g(&Field::Stage)),
                        num(&g(&Field::Amount)),
                        date(&g(&Field::CloseDate)),
                        num(&g(&Field::Probability)),
                        fc,
                        "false".into(),
                    ],
                )?;
            }
            i = j;
        }
        let g = |f: &Field| cur.get(f).cloned().unwrap_or(Value::Null);
        let stage = text(&g(&Field::Stage));
        let code = process.stage_code(&stage);
        let outcome = code.map(|c| process.outcome(c));
        let fc = match g(&Field::ForecastCategory) {
            Value::Text(s) => sf_forecast_category(&s).to_string(),
            _ => String::new(),
        };
        let last = o.changes.last().map(|c| c.at).unwrap_or(o.created_at);
        wr(
            &mut wo,
            &po,
            &[
                o.id.clone(),
                text(&g(&Field::AccountId)),
                text(&g(&Field::OwnerId)),
                text(&g(&Field::Name)),
                sf_type(&text(&g(&Field::Type))).into(),
                text(&g(&Field::Source)),
                stage,
                num(&g(&Field::Amount)),
                date(&g(&Field::CloseDate)),
                num(&g(&Field::Probability)),
                fc,
                (outcome != Some(pipewise_model::StageOutcome::Open)).to_string(),
                (outcome == Some(pipewise_model::StageOutcome::Won)).to_string(),
                sf_datetime(o.created_at),
                sf_datetime(last),
                g(&Field::LossReason)
                    .as_text()
                    .map(sf_loss_reason)
                    .unwrap_or("")
                    .into(),
                text(&g(&Field::Segment)),
                sf_bool(&g(&Field::HasBusinessCase)),
                "USD".into(),
                "false".into(),
            ],
        )?;
    }
    fin(wo, &po)?;
    fin(wh, &ph)?;
    fin(wf, &pf)?;

    if !company.leads.is_empty() {
        let (mut w, p) = out.writer(
            "Lead.csv",
            &[
                "Id",
                "CreatedDate",
                "LeadSource",
                "Company",
                "Title",
                "Industry",
                "NumberOfEmployees",
                "Country",
                "Status",
                "OwnerId",
                "IsConverted",
                "ConvertedDate",
                "ConvertedOpportunityId",
                "Pricing_Page_Views__c",
                "Demo_Request__c",
            ],
        )?;
        for l in &company.leads {
            let attr = |k: &str| {
                l.attributes
                    .iter()
                    .find(|(a, _)| a == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            wr(
                &mut w,
                &p,
                &[
                    l.id.clone(),
                    sf_datetime(l.created_at),
                    l.source.clone().unwrap_or_default(),
                    l.company.clone().unwrap_or_default(),
                    l.title.clone().unwrap_or_default(),
                    l.industry.clone().unwrap_or_default(),
                    l.employees.map(|e| e.to_string()).unwrap_or_default(),
                    l.country.clone().unwrap_or_default(),
                    l.status.clone().unwrap_or_default(),
                    l.owner_id.clone().unwrap_or_default(),
                    l.converted_at.is_some().to_string(),
                    l.converted_at
                        .map(|t| format_date(pipewise_model::time::date_of(t)))
                        .unwrap_or_default(),
                    l.converted_opportunity_id.clone().unwrap_or_default(),
                    attr("pricing_page_views"),
                    attr("demo_request"),
                ],
            )?;
        }
        fin(w, &p)?;
        let (mut w, p) = out.writer(
            "LeadHistory.csv",
            &[
                "Id",
                "LeadId",
                "CreatedDate",
                "Field",
                "OldValue",
                "NewValue",
            ],
        )?;
        for (k, e) in company.lead_events.iter().enumerate() {
            if e.old_value.is_none() {
                continue; // Salesforce records changes, not the initial status
            }
            wr(
                &mut w,
                &p,
                &[
                    format!("017L{k:014}"),
                    e.lead_id.clone(),
                    sf_datetime(e.effective_at),
                    "Status".into(),
                    e.old_value.clone().unwrap_or_default(),
                    e.new_value.clone().unwrap_or_default(),
                ],
            )?;
        }
        fin(w, &p)?;
    }

    if !company.activities.is_empty() {
        // Contacts, Salesforce-style (003…), with a title that says their
        // seniority the way CRM titles do.
        let mut contacts: BTreeMap<String, (&str, &str)> = BTreeMap::new();
        for a in &company.activities {
            if let (Some(c), Some(s)) = (&a.contact_id, &a.contact_seniority) {
                let account = a.account_id.as_deref().unwrap_or("");
                contacts.insert(sf_contact_id(c), (account, s));
            }
        }
        if !contacts.is_empty() {
            let (mut wc, pc) = out.writer("Contact.csv", &["Id", "AccountId", "Title"])?;
            for (id, (account, seniority)) in &contacts {
                let title = match *seniority {
                    "executive" => "VP of Operations",
                    "manager" => "IT Manager",
                    _ => "Business Analyst",
                };
                wr(
                    &mut wc,
                    &pc,
                    &[id.clone(), account.to_string(), title.into()],
                )?;
            }
            fin(wc, &pc)?;
        }
        let who = |a: &pipewise_model::Activity| {
            a.contact_id
                .as_deref()
                .map(sf_contact_id)
                .or_else(|| a.lead_id.clone())
                .unwrap_or_default()
        };
        let (mut wt, pt) = out.writer(
            "Task.csv",
            &[
                "Id",
                "WhatId",
                "WhoId",
                "OwnerId",
                "Subject",
                "TaskSubtype",
                "CallType",
                "ActivityDate",
                "CreatedDate",
                "CallDurationInSeconds",
                "Direction__c",
            ],
        )?;
        let (mut we, pe) = out.writer(
            "Event.csv",
            &[
                "Id",
                "WhatId",
                "WhoId",
                "OwnerId",
                "Subject",
                "Type",
                "StartDateTime",
                "DurationInMinutes",
                "Direction__c",
            ],
        )?;
        for a in &company.activities {
            let dir = match a.direction {
                Some(Direction::SellerToBuyer) => "Outbound",
                Some(Direction::BuyerToSeller) => "Inbound",
                None => "",
            };
            match a.activity_type {
                ActivityType::Meeting => wr(
                    &mut we,
                    &pe,
                    &[
                        a.id.replace("00T", "00U"),
                        a.opportunity_id.clone().unwrap_or_default(),
                        who(a),
                        a.owner_id.clone().unwrap_or_default(),
                        "Meeting".into(),
                        "Meeting".into(),
                        sf_datetime(a.occurred_at),
                        a.duration_minutes
                            .map(|d| format!("{d}"))
                            .unwrap_or_default(),
                        dir.into(),
                    ],
                )?,
                ty => wr(
                    &mut wt,
                    &pt,
                    &[
                        a.id.clone(),
                        a.opportunity_id.clone().unwrap_or_default(),
                        who(a),
                        a.owner_id.clone().unwrap_or_default(),
                        if ty == ActivityType::Call {
                            "Call"
                        } else {
                            "Email"
                        }
                        .into(),
                        if ty == ActivityType::Call {
                            "Call"
                        } else {
                            "Email"
                        }
                        .into(),
                        if ty == ActivityType::Call { dir } else { "" }.into(),
                        format_date(pipewise_model::time::date_of(a.occurred_at)),
                        sf_datetime(a.occurred_at),
                        a.duration_minutes
                            .map(|d| format!("{}", (d * 60.0) as i64))
                            .unwrap_or_default(),
                        dir.into(),
                    ],
                )?,
            }
        }
        fin(wt, &pt)?;
        fin(we, &pe)?;
    }
    Ok(())
}
