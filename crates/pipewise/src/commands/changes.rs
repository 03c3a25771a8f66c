//! `pipewise changes FROM TO`

use crate::args::{ChangesArgs, Format};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ledger::asof;
use pipewise_model::Field;
use pipewise_model::time::format_timestamp;
use std::path::Path;

pub fn table(
    dir: &Path,
    from: i64,
    to: i64,
    opportunity: Option<&str>,
    field: Option<&str>,
) -> Result<Table> {
    if from > to {
        return Err(user("FROM is after TO"));
    }
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let fields = match field {
        Some(f) => Some(vec![Field::parse(f).ok_or_else(|| user(format!("--field {f:?} is not a field (stage, amount, close_date, owner_id, …, custom.<name>)")))?]),
        None => None,
    };
    let log = ws.store.load(fields.as_deref(), true)?;
    let mut t = Table::new(vec![
        "effective_at",
        "recorded_at",
        "opportunity_id",
        "field",
        "old_value",
        "new_value",
        "source",
    ]);
    for (_, e) in asof::changes(&log, from, to) {
        if opportunity.is_some_and(|o| o != e.opportunity_id) {
            continue;
        }
        t.push(vec![
            Cell::Text(format_timestamp(e.effective_at)),
            Cell::Text(format_timestamp(e.recorded_at)),
            Cell::Text(e.opportunity_id),
            Cell::Text(e.field.name().into_owned()),
            e.old_value.to_canonical_string().into(),
            e.new_value.to_canonical_string().into(),
            Cell::Text(e.source),
        ]);
    }
    Ok(t)
}

pub fn run(dir: &Path, a: &ChangesArgs, format: Format) -> Result<()> {
    let from = settings::instant(&a.from, "FROM")?;
    let to = settings::instant(&a.to, "TO")?;
    let t = table(dir, from, to, a.opportunity.as_deref(), a.field.as_deref())?;
    super::print(&t, format)
}
