//! Custom fiscal years: `FiscalYearSettings.csv` and `Period.csv`.

use super::*;

/// Period.csv: each period's (start, end, label), by Id. Every row lands.
/// The custom fiscal years of `FiscalYearSettings.csv` (`IsStandardYear`
/// false, or `YearType` Custom), with their quarters and months from
/// `Period.csv` (`FiscalYearSettingsId`, `Type`, `StartDate`, `EndDate`).
/// A year is named by its `Name` (`2027`, or the last number in it), else the
/// year its `EndDate` falls in. Standard years follow pipewise.toml's
/// `fiscal_year_start_month`. Rows are accounted for here (FiscalYearSettings)
/// or by [`ingest_periods`] (Period).
pub(super) fn ingest_fiscal_years(
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

pub(super) fn ingest_periods(
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
