//! A mapped file's rows into each table's records: opportunities (values,
//! stage dates, history), events, users, accounts, activities, leads,
//! quotas and reference tables.

use super::file::{parse_date, parse_instant};
use super::*;

impl FileCtx<'_> {
    pub(super) fn opportunities(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
        refs: &mut Vec<(String, u64, String, String, String)>,
    ) -> Result<(), IngestError> {
        let mut seen = HashMap::new();
        let mut keys: Vec<&String> = self
            .fm
            .columns
            .keys()
            .chain(self.fm.defaults.keys())
            .filter(|k| !OPP_EXTRA.contains(&k.as_str()))
            .collect();
        keys.sort();
        keys.dedup();
        for r in &self.f.rows {
            let Some(id) = self.row_id(ctx, r, &mut seen) else {
                continue;
            };
            let Ok(created) = self.instant(ctx, r, "created_at") else {
                continue;
            };
            // The row's sales process first: its stage is read in it.
            let pipeline = match self.fm.columns.get("pipeline") {
                Some(col) => Some(cell(r, self.f.column(col)).trim()),
                None => self.fm.defaults.get("pipeline").map(String::as_str),
            };
            ctx.set_pipeline(pipeline.filter(|p| !p.is_empty()));
            let Some(values) = self.opportunity_values(ctx, r, &keys) else {
                continue;
            };
            let mut hist = self.dated_values(ctx, r, &values)?;
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
            self.check_opportunity(ctx, r, created, &values, refs);
            hist.sort_by_key(|h| h.0);
            let created = created.or_else(|| hist.first().map(|h| h.0));
            let o = draft.set_record(&id, created, None, &self.f.name, r.line);
            let mut prev: HashMap<Field, Value> = HashMap::new();
            for (t, field, v) in hist {
                let old = prev.insert(field.clone(), v.clone()).unwrap_or(Value::Null);
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

    /// An opportunity row's mapped fields (`keys`), parsed and scaled, with
    /// their since policy; `None` when the row was quarantined (no stage, a
    /// value a required rule cannot do without).
    fn opportunity_values(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        keys: &[&String],
    ) -> Option<Vec<(Field, Value, Since)>> {
        let mut values: Vec<(Field, Value, Since)> = Vec::new();
        for k in keys {
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
                return None;
            }
            let mut v = match parse_at(ctx, self.f, r, &self.col_name(k), &field, &raw) {
                Ok(v) => v,
                Err((reason, detail)) => {
                    if ctx.bad_value(self.f, r, &self.col_name(k), &raw, reason, detail) {
                        return None;
                    }
                    continue;
                }
            };
            if let (Value::Number(n), Some(s)) = (&v, self.fm.scale.get(k.as_str())) {
                v = Value::Number(n * s);
            }
            let since = Since::of_current(&field);
            values.push((field, v, since));
        }
        Some(values)
    }

    /// The history a row's date columns give: when it entered each stage
    /// (`stage_dates`; `closed` is whichever closed stage it is in) and from
    /// when a value holds (`known_from`). A date that does not parse leaves
    /// that step unknown; a stage the process lacks is the mapping's error.
    fn dated_values(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        values: &[(Field, Value, Since)],
    ) -> Result<Vec<(i64, Field, Value)>, IngestError> {
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
        Ok(hist)
    }

    /// What an opportunity row contradicts (a close date before creation:
    /// flagged) and the references it makes, checked once every table is
    /// read.
    fn check_opportunity(
        &self,
        ctx: &mut Ctx<'_>,
        r: &RawRow,
        created: Option<pipewise_model::Timestamp>,
        values: &[(Field, Value, Since)],
        refs: &mut Vec<(String, u64, String, String, String)>,
    ) {
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
                && let Some((_, Value::Text(v), _)) = values.iter().find(|(f, _, _)| *f == field)
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
    }

    pub(super) fn events(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
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

    pub(super) fn users(
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

    pub(super) fn accounts(
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

    pub(super) fn activities(
        &self,
        ctx: &mut Ctx<'_>,
        draft: &mut Draft,
    ) -> Result<(), IngestError> {
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

    pub(super) fn leads(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
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

    pub(super) fn quotas(&self, ctx: &mut Ctx<'_>, draft: &mut Draft) -> Result<(), IngestError> {
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

    pub(super) fn reference(
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
