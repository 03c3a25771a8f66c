//! Users, accounts, contacts and activities (`Task.csv`, `Event.csv`), and the organization's settings.

use super::*;

pub(super) fn role_from_title(title: &str) -> Role {
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

pub(super) fn ingest_users(
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

pub(super) fn ingest_accounts(
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
pub(super) fn ingest_contacts(
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

pub(super) fn ingest_activities(
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

/// Organization.csv: its fiscal year's first month, checked against
/// pipewise.toml's (a mismatch is a warning: pipewise.toml wins).
pub(super) fn ingest_organization(ctx: &mut Ctx<'_>, f: &RawFile) -> Result<(), IngestError> {
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
