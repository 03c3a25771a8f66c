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
    series(dir, &[at], by, open, known, false)
}

/// Totals at several times in one pass; with `with_time`, rows start with `as_of`.
pub fn series(
    dir: &Path,
    times: &[i64],
    by: &str,
    open: bool,
    known: bool,
    with_time: bool,
) -> Result<Table> {
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let group = GroupBy::parse(by).ok_or_else(|| {
        user(format!(
            "--by {by:?}: expected stage, forecast_category, owner, segment, \
             or a text field such as source, type or custom.<name>"
        ))
    })?;
    let pb = super::spinner("reconstructing");
    let projection = pipewise_ledger::Projection {
        fields: Some(group.fields()),
        old_values: false,
        recorded_at: known,
        ids: false,
    };
    let log = ws
        .store
        .load_projected(&ws.store.manifest()?, &projection)?;
    let cuts: Vec<Cut> = times
        .iter()
        .map(|&t| if known { Cut::known_at(t) } else { Cut::at(t) })
        .collect();
    let all = asof::totals(&log, &ws.process, &group, &cuts, open);
    pb.finish_and_clear();
    let columns = if with_time {
        vec!["as_of", "group", "count", "amount"]
    } else {
        vec!["group", "count", "amount"]
    };
    let mut t = Table::new(columns);
    for (at, rows) in times.iter().zip(all) {
        for r in rows {
            let mut row = vec![
                Cell::Text(r.group),
                Cell::Int(r.count as i64),
                Cell::Money(r.amount),
            ];
            if with_time {
                row.insert(0, Cell::Text(format_timestamp(*at)));
            }
            t.push(row);
        }
    }
    Ok(t)
}

pub fn run(dir: &Path, a: &AsofArgs, format: Format) -> Result<()> {
    let at = settings::instant(&a.date, "DATE")?;
    let t = match a.weeks {
        Some(0) => return Err(user("--weeks must be at least 1")),
        Some(n) => {
            let times: Vec<i64> = (0..i64::from(n))
                .rev()
                .map(|k| at - k * 7 * MICROS_PER_DAY)
                .collect();
            series(dir, &times, &a.by, a.open, a.known, true)?
        }
        None => table(dir, at, &a.by, a.open, a.known)?,
    };
    super::print(&t, format)
}
