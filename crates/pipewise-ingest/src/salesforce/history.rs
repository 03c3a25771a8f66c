//! `OpportunityHistory.csv` (full snapshot rows, diffed) and `OpportunityFieldHistory.csv` (any other tracked field).

use super::*;

/// Parsed history rows of one opportunity: (time, line, values).
pub(super) type HistoryRows = Vec<(Timestamp, u64, Vec<(Field, Value)>)>;

pub(super) fn ingest_history(
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
    let (opp_ids, mut rows_kept) = kept_rows(ctx, f, opp_col, time_col, id_col, deleted_col);
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
        let rows = parsed_rows(ctx, f, &cols, &rows_kept[at..end], currency_of.get(&oid));
        at = end;
        if rows.is_empty() {
            continue;
        }
        replay(ctx, f, draft, &oid, &rows);
    }
    Ok(())
}

/// When a history row's stage is closed (won or lost), the values a deal had
/// before it: the process's first open stage, with that stage's forecast
/// category and probability. `None` when the row's stage is open (or absent).
pub(super) fn inferred_open(ctx: &Ctx<'_>, vals: &[(Field, Value)]) -> Option<Vec<(Field, Value)>> {
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

pub(super) fn ingest_field_history(
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

/// The history rows to replay, as (opportunity, time, row index), and the
/// opportunities they name (the first number indexes them): rows without an
/// opportunity or a time, exact repeats and rows dated after `--as-of` are
/// quarantined; deleted rows are accounted for and not replayed. No parsed
/// values are held per row: they are read once, per opportunity, in order.
fn kept_rows<'f>(
    ctx: &mut Ctx<'_>,
    f: &'f RawFile,
    opp_col: usize,
    time_col: usize,
    id_col: Option<usize>,
    deleted_col: Option<usize>,
) -> (Vec<&'f str>, Vec<(u32, Timestamp, u32)>) {
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
    (opp_ids, rows_kept)
}

/// One opportunity's kept rows (in time order) with their values parsed
/// and their amounts converted (`currency`: the deal's own, for rows without
/// a code); a value that does not parse is left unknown in its row.
fn parsed_rows(
    ctx: &mut Ctx<'_>,
    f: &RawFile,
    cols: &[(usize, Field, &str)],
    kept: &[(u32, Timestamp, u32)],
    currency: Option<&String>,
) -> HistoryRows {
    let mut rows: HistoryRows = Vec::with_capacity(kept.len());
    'rows: for &(_, t, ri) in kept {
        let r = &f.rows[ri as usize];
        let mut vals = Vec::new();
        for (i, field, name) in cols {
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
        let fallback = currency.map(String::as_str).unwrap_or("");
        convert_amount(ctx, f, r, &mut vals, fallback);
        rows.push((t, r.line, vals));
    }
    rows
}

/// Replay one opportunity's history rows into the draft: each field's
/// changes between consecutive rows, the first row's values since creation
/// (or, for a first row that closes the deal after its creation, the open
/// stage it must have been in before), flagging what the rows contradict.
fn replay(ctx: &mut Ctx<'_>, f: &RawFile, draft: &mut Draft, oid: &str, rows: &HistoryRows) {
    let c = draft.created_of(oid);
    if c.is_none() {
        ctx.flag(
            &f.name,
            rows[0].1,
            "OpportunityId",
            oid,
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
                    oid,
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
                oid,
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
