//! `pipewise explain NAME`: the deals (and their ledger events) behind a metric's number.

use super::{query_error, request};
use crate::args::{ExplainArgs, Format};
use crate::output::{Cell, Table};
use crate::settings::user;
use anyhow::Result;
use pipewise_engine::Engine;
use pipewise_metrics::Unit;
use std::path::Path;

pub fn explain(dir: &Path, a: &ExplainArgs, format: Format) -> Result<()> {
    let (ws, m, q) = request(dir, &a.metric)?;
    if a.metric.emit_sql {
        println!(
            "{}",
            pipewise_metrics::compile_explain(&m, &q).map_err(query_error)?
        );
        return Ok(());
    }
    let factor = ws.currency(a.metric.currency.as_deref())?;
    let f = factor.as_ref().map_or(1.0, |f| f.1);
    let money = m.unit == Unit::Currency;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = crate::commands::spinner("explaining");
    let rows = pipewise_metrics::explain(&engine, &m, &q).map_err(query_error)?;
    pb.finish_and_clear();
    if a.events {
        if m.sql.share_at_or_above.is_some() {
            return Err(user(format!(
                "--events lists ledger events of deals; {} counts owners (explain it without --events)",
                m.name
            )));
        }
        if m.sql.from != pipewise_metrics::Source::Deals {
            return Err(user(format!(
                "--events lists ledger events of deals; {} counts {}",
                m.name,
                m.sql.from.as_str()
            )));
        }
        let role: std::collections::HashMap<&str, &str> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.role.as_str()))
            .collect();
        let log = ws.store.load(None, true)?;
        let (from, to) = match q.period {
            Some((s, e)) => (
                pipewise_model::time::date_start(s) - 1,
                pipewise_model::time::date_end(e),
            ),
            None => (i64::MIN, q.as_of.unwrap_or(i64::MAX)),
        };
        let mut t = Table::new(vec![
            "opportunity_id",
            "role",
            "effective_at",
            "field",
            "old_value",
            "new_value",
            "source",
        ]);
        for (_, e) in pipewise_ledger::asof::changes(&log, from, to) {
            let Some(r) = role.get(e.opportunity_id.as_str()) else {
                continue;
            };
            t.push(vec![
                Cell::Text(e.opportunity_id.clone()),
                Cell::from(*r),
                Cell::Text(pipewise_model::time::format_timestamp(e.effective_at)),
                Cell::Text(e.field.name().into_owned()),
                e.old_value.to_canonical_string().into(),
                e.new_value.to_canonical_string().into(),
                Cell::Text(e.source),
            ]);
        }
        return crate::commands::print(&t, format);
    }
    let share = m.sql.share_at_or_above.is_some();
    let mut cols: Vec<&str> = vec![if share {
        "owner_id"
    } else {
        m.sql.from.id_column()
    }];
    cols.extend(a.metric.by.iter().map(String::as_str));
    // A share metric's rows are owners: no stage, and each owner's own ratio
    // where a deal has its amount.
    if share {
        cols.extend(["name", "ratio"]);
    } else {
        cols.extend(["name", "stage", "amount"]);
    }
    cols.extend(["role", "numerator", "denominator"]);
    if factor.is_some() {
        cols.push("currency");
    }
    let mut t = Table::new(cols);
    for r in rows {
        let mut row = vec![Cell::Text(r.id)];
        row.extend(r.dims.into_iter().map(|(_, v)| Cell::from(v)));
        row.push(Cell::from(r.name));
        if share {
            row.push(r.amount.map(Cell::Float).unwrap_or(Cell::Null));
        } else {
            row.push(Cell::from(r.stage));
            row.push(r.amount.map(|x| Cell::Money(x * f)).unwrap_or(Cell::Null));
        }
        row.extend([
            Cell::Text(r.role),
            Cell::Float(if money { r.numerator * f } else { r.numerator }),
            Cell::Float(r.denominator),
        ]);
        row.extend(factor.iter().map(|(c, _)| Cell::Text(c.clone())));
        t.push(row);
    }
    crate::commands::print(&t, format)
}
