//! The generator's own truth: the state it intended at each quarter end,
//! computed from its change lists (not from the ledger), so tests can compare
//! what the ledger reconstructs against what was generated.

use crate::company::Company;
use chrono::Datelike;
use pipewise_model::time::{
    calendar_quarter_bounds, date_end, date_of, format_date, naive_from_date,
};
use pipewise_model::{Field, ForecastCategory, SalesProcess, Timestamp, Value};

/// Quarter-end instants (end of the last day of each calendar quarter) inside the history.
pub fn quarter_ends(company: &Company) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let s = naive_from_date(date_of(company.start));
    let (mut y, mut q) = (s.year(), (s.month() - 1) / 3 + 1);
    while let Some((_, e)) = calendar_quarter_bounds(y, q) {
        let t = date_end(e);
        if t > company.end {
            break;
        }
        if t >= company.start {
            out.push(t);
        }
        q += 1;
        if q == 5 {
            q = 1;
            y += 1;
        }
    }
    out
}

/// One opportunity's intended state at a time.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the generator's own count and amount of a group at a time
pub struct TruthRow {
    pub id: String,
    pub stage: String,
    pub amount: f64,
    pub close_date: Option<i32>,
    pub forecast_category: String,
    pub owner_id: String,
}

/// The state of every opportunity created by `t`.
pub fn state_at(company: &Company, process: &SalesProcess, t: Timestamp) -> Vec<TruthRow> {
    let mut rows = Vec::new();
    for o in &company.opportunities {
        if o.created_at > t {
            continue;
        }
        let stage = o
            .value_at(&Field::Stage, t)
            .as_text()
            .unwrap_or("")
            .to_string();
        let fc = match o.value_at(&Field::ForecastCategory, t) {
            Value::Text(s) => s,
            _ => process
                .stage_code(&stage)
                .map(|c| process.stages()[c].forecast_category)
                .unwrap_or(ForecastCategory::Pipeline)
                .as_str()
                .to_string(),
        };
        rows.push(TruthRow {
            id: o.id.clone(),
            stage,
            amount: o.value_at(&Field::Amount, t).as_number().unwrap_or(0.0),
            close_date: o.value_at(&Field::CloseDate, t).as_date(),
            forecast_category: fc,
            owner_id: o
                .value_at(&Field::OwnerId, t)
                .as_text()
                .unwrap_or("")
                .to_string(),
        });
    }
    rows
}

/// Write `truth/quarter_end_by_stage.csv` (always) and
/// `truth/quarter_end_state.csv` (one row per opportunity and quarter end,
/// when there are at most 100,000 opportunities) under `dir`.
pub fn write(
    company: &Company,
    process: &SalesProcess,
    dir: &std::path::Path,
) -> Result<(), crate::SynthError> {
    let io = |path: &std::path::Path| {
        let p = path.display().to_string();
        move |source: std::io::Error| crate::SynthError::Io {
            path: p.clone(),
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let csv_err = |path: &std::path::Path| {
        let p = path.display().to_string();
        move |source: csv::Error| crate::SynthError::Csv {
            path: p.clone(),
            source,
        }
    };
    let by_stage = dir.join("quarter_end_by_stage.csv");
    let mut w = csv::Writer::from_path(&by_stage).map_err(csv_err(&by_stage))?;
    w.write_record(["quarter_end", "stage", "count", "amount"])
        .map_err(csv_err(&by_stage))?;
    let detailed = company.opportunities.len() <= 100_000;
    let state_path = dir.join("quarter_end_state.csv");
    let mut ws = if detailed {
        let mut ws = csv::Writer::from_path(&state_path).map_err(csv_err(&state_path))?;
        ws.write_record([
            "quarter_end",
            "opportunity_id",
            "stage",
            "amount",
            "close_date",
            "forecast_category",
            "owner_id",
        ])
        .map_err(csv_err(&state_path))?;
        Some(ws)
    } else {
        None
    };
    for t in quarter_ends(company) {
        let rows = state_at(company, process, t);
        let day = format_date(date_of(t));
        let mut groups: Vec<(String, u64, f64)> = Vec::new();
        for st in process.stages() {
            let (c, a) = rows
                .iter()
                .filter(|r| r.stage == st.name)
                .fold((0u64, 0f64), |(c, a), r| (c + 1, a + r.amount));
            if c > 0 {
                groups.push((st.name.clone(), c, a));
            }
        }
        for (s, c, a) in groups {
            w.write_record([day.clone(), s, c.to_string(), format!("{a:.2}")])
                .map_err(csv_err(&by_stage))?;
        }
        if let Some(ws) = ws.as_mut() {
            for r in rows {
                ws.write_record([
                    day.clone(),
                    r.id,
                    r.stage,
                    format!("{}", r.amount),
                    r.close_date.map(format_date).unwrap_or_default(),
                    r.forecast_category,
                    r.owner_id,
                ])
                .map_err(csv_err(&state_path))?;
            }
        }
    }
    w.flush().map_err(io(&by_stage))?;
    if let Some(mut ws) = ws {
        ws.flush().map_err(io(&state_path))?;
    }
    Ok(())
}
