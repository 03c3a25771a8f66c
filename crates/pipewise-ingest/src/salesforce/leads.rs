//! `Lead.csv` and `LeadHistory.csv`: leads and their status changes.

use super::*;

pub(super) fn ingest_leads(
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

pub(super) fn lead_history(
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
        if !hid.is_empty() && ctx.duplicate(f, r, "Id", hid, &mut seen_ids) {
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

pub(super) fn ingest_leads_history_only(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    draft: &mut Draft,
) -> Result<(), IngestError> {
    let mut first = HashMap::new();
    lead_history(ctx, f, draft, &mut first)
}
