//! `pipewise asof DATE [--by …]`

use crate::args::{AsofArgs, Format};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use std::path::Path;

pub fn table(dir: &Path, at: i64, by: &str, open: bool, known: bool) -> Result<Table> {
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let group = GroupBy::parse(by).ok_or_else(|| {
        user(format!("--by {by:?}: expected stage, forecast_category, owner, segment, or a text field such as source, type or custom.<name>"))
    })?;
    let pb = super::spinner("reconstructing");
    let log = ws.store.load(Some(&group.fields()), false)?;
    let cut = if known {
        Cut::known_at(at)
    } else {
        Cut::at(at)
    };
    let rows = asof::totals(&log, &ws.process, &group, &[cut], open)
        .into_iter()
        .next()
        .unwrap_or_default();
    pb.finish_and_clear();
    let mut t = Table::new(vec!["group", "count", "amount"]);
    for r in rows {
        t.push(vec![
            Cell::Text(r.group),
            Cell::Int(r.count as i64),
            Cell::Money(r.amount),
        ]);
    }
    Ok(t)
}

pub fn run(dir: &Path, a: &AsofArgs, format: Format) -> Result<()> {
    let at = settings::instant(&a.date, "DATE")?;
    let t = table(dir, at, &a.by, a.open, a.known)?;
    super::print(&t, format)
}
