//! `pipewise asof DATE [--by …] [--weeks N]`

use crate::args::{AsofArgs, Format};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::time::{MICROS_PER_DAY, format_timestamp};
use std::path::Path;

/// Totals at one time.
pub fn table(dir: &Path, at: i64, by: &str, open: bool, known: bool) -> Result<Table> {
    let q = Query {
        by,
        open,
        known,
        with_time: false,
        currency: None,
        pipeline: None,
    };
    series(dir, &[at], &q)
}

/// What [`series`] totals.
pub struct Query<'a> {
    pub by: &'a str,
    /// Only open deals.
    pub open: bool,
    /// Only what had been recorded by each time.
    pub known: bool,
    /// Rows start with `as_of`.
    pub with_time: bool,
    /// Amounts in this currency.
    pub currency: Option<&'a str>,
    /// Only the deals of this sales process.
    pub pipeline: Option<&'a str>,
}

/// Totals at several times in one pass.
pub fn series(dir: &Path, times: &[i64], q: &Query<'_>) -> Result<Table> {
    let Query {
        by,
        open,
        known,
        with_time,
        currency,
        pipeline,
    } = *q;
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let group = GroupBy::parse(by).ok_or_else(|| {
        user(format!(
            "--by {by:?}: expected stage, pipeline, forecast_category, owner, segment, \
             or a text field such as source, type or custom.<name>"
        ))
    })?;
    let pipeline = pipeline.map(|name| ws.pipeline(name)).transpose()?;
    let pb = super::spinner("reconstructing");
    let projection = pipewise_ledger::Projection {
        fields: Some(group.fields()),
        old_values: false,
        recorded_at: known,
        ids: false,
        sources: false,
    };
    let log = ws
        .store
        .load_projected(&ws.store.manifest()?, &projection)?;
    let cuts: Vec<Cut> = times
        .iter()
        .map(|&t| if known { Cut::known_at(t) } else { Cut::at(t) })
        .collect();
    // Totals are in the corporate currency; --currency shows them in another,
    // at its static rate.
    let factor = ws.currency(currency)?;
    let all = asof::totals_in(&log, &ws.process, &group, &cuts, open, pipeline);
    pb.finish_and_clear();
    let mut columns = if with_time {
        vec!["as_of", "group", "count", "amount"]
    } else {
        vec!["group", "count", "amount"]
    };
    if factor.is_some() {
        columns.push("currency");
    }
    let mut t = Table::new(columns);
    for (at, rows) in times.iter().zip(all) {
        for r in rows {
            let mut row = vec![
                Cell::Text(r.group),
                Cell::Int(r.count as i64),
                Cell::Money(r.amount * factor.as_ref().map_or(1.0, |f| f.1)),
            ];
            if let Some((code, _)) = &factor {
                row.push(Cell::Text(code.clone()));
            }
            if with_time {
                row.insert(0, Cell::Text(format_timestamp(*at)));
            }
            t.push(row);
        }
    }
    Ok(t)
}

/// One row per opportunity that exists at `at`.
pub fn deals(dir: &Path, at: i64, open: bool, known: bool) -> Result<Table> {
    use arrow_array::{
        Array, BooleanArray, Date32Array, Float64Array, StringArray, TimestampMicrosecondArray,
    };
    let ws = settings::open(dir)?;
    let pb = super::spinner("reconstructing");
    let log = ws.store.load(None, false)?;
    let cut = if known {
        Cut::known_at(at)
    } else {
        Cut::at(at)
    };
    let b = asof::opportunities_batch(&log, &ws.process, cut)?;
    pb.finish_and_clear();
    let s = |n: &str| {
        b.column_by_name(n)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
    };
    let (id, name, owner, segment, stage, fc) = (
        s("id"),
        s("name"),
        s("owner_id"),
        s("segment"),
        s("stage"),
        s("forecast_category"),
    );
    let amount = b
        .column_by_name("amount")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned());
    let close = b
        .column_by_name("close_date")
        .and_then(|c| c.as_any().downcast_ref::<Date32Array>().cloned());
    let created = b.column_by_name("created_at").and_then(|c| {
        c.as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .cloned()
    });
    let closed = b
        .column_by_name("is_closed")
        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>().cloned());
    let text = |a: &Option<StringArray>, i: usize| -> Cell {
        match a {
            Some(a) if !a.is_null(i) => Cell::Text(a.value(i).to_string()),
            _ => Cell::Null,
        }
    };
    let mut t = Table::new(vec![
        "opportunity_id",
        "name",
        "owner_id",
        "segment",
        "stage",
        "forecast_category",
        "amount",
        "close_date",
        "created_at",
    ]);
    for i in 0..b.num_rows() {
        if open && closed.as_ref().is_some_and(|c| c.value(i)) {
            continue;
        }
        t.push(vec![
            text(&id, i),
            text(&name, i),
            text(&owner, i),
            text(&segment, i),
            text(&stage, i),
            text(&fc, i),
            match &amount {
                Some(a) if !a.is_null(i) => Cell::Money(a.value(i)),
                _ => Cell::Null,
            },
            match &close {
                Some(c) if !c.is_null(i) => {
                    Cell::Text(pipewise_model::time::format_date(c.value(i)))
                }
                _ => Cell::Null,
            },
            match &created {
                Some(c) => Cell::Text(format_timestamp(c.value(i))),
                None => Cell::Null,
            },
        ]);
    }
    Ok(t)
}

pub fn run(dir: &Path, a: &AsofArgs, format: Format) -> Result<()> {
    let at = settings::instant(&a.date, "DATE")?;
    if a.deals {
        return super::print(&deals(dir, at, a.open, a.known)?, format);
    }
    let query = Query {
        by: &a.by,
        open: a.open,
        known: a.known,
        with_time: false,
        currency: a.currency.as_deref(),
        pipeline: a.pipeline.as_deref(),
    };
    let t = match a.weeks {
        Some(0) => return Err(user("--weeks must be at least 1")),
        Some(n) => {
            let times: Vec<i64> = (0..i64::from(n))
                .rev()
                .map(|k| at - k * 7 * MICROS_PER_DAY)
                .collect();
            series(
                dir,
                &times,
                &Query {
                    with_time: true,
                    ..query
                },
            )?
        }
        None => series(dir, &[at], &query)?,
    };
    super::print(&t, format)
}
