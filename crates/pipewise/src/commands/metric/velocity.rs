//! `pipewise velocity`: the four factors and, with `--compare`, which one moved it.

use super::{library, query_error};
use crate::args::{Format, VelocityArgs};
use crate::output::{Cell, Table};
use crate::settings::{self};
use anyhow::Result;
use pipewise_engine::Engine;
use std::path::Path;

pub fn velocity(dir: &Path, a: &VelocityArgs, format: Format) -> Result<()> {
    let ws = settings::open(dir)?;
    let lib = library(dir)?;
    let after_p = ws.period(&a.period, "--period")?;
    let before_p = a
        .compare
        .as_deref()
        .map(|p| ws.period(p, "--compare"))
        .transpose()?;
    let as_of = settings::opt_instant(a.as_of.as_deref(), "--as-of")?;
    let engine = Engine::open(&ws.store, &ws.process)?;
    let pb = crate::commands::spinner("computing");
    let after =
        pipewise_metrics::velocity_factors(&engine, &lib, after_p, as_of).map_err(query_error)?;
    let before = before_p
        .map(|p| pipewise_metrics::velocity_factors(&engine, &lib, p, as_of))
        .transpose()
        .map_err(query_error)?;
    pb.finish_and_clear();
    let value = |f: &pipewise_metrics::velocity::Factors, i: usize| match i {
        0 => f.qualified_opportunities,
        1 => f.average_won_deal_size,
        2 => f.close_rate,
        _ => f.average_sales_cycle_days,
    };
    let names = [
        "qualified_opportunities",
        "average_won_deal_size",
        "close_rate",
        "average_sales_cycle_days",
    ];
    let contributions = before
        .as_ref()
        .and_then(|b| pipewise_metrics::velocity::decompose(b, &after));
    let mut t = Table::new(vec!["factor", "before", "after", "contribution"]);
    for (i, n) in names.iter().enumerate() {
        t.push(vec![
            Cell::from(*n),
            before
                .as_ref()
                .map(|b| Cell::Float(value(b, i)))
                .unwrap_or(Cell::Null),
            Cell::Float(value(&after, i)),
            contributions
                .map(|c| Cell::Money(c[i].1))
                .unwrap_or(Cell::Null),
        ]);
    }
    let money = |x: Option<f64>| x.map(Cell::Money).unwrap_or(Cell::Null);
    let (vb, va) = (before.as_ref().and_then(|b| b.velocity()), after.velocity());
    t.push(vec![
        Cell::from("sales_velocity_per_day"),
        money(vb),
        money(va),
        match (vb, va, contributions) {
            (Some(b), Some(a), Some(_)) => Cell::Money(a - b),
            _ => Cell::Null,
        },
    ]);
    crate::commands::print(&t, format)?;
    if before.is_some() && contributions.is_none() && format == Format::Table {
        eprintln!("no decomposition: a factor is zero in one of the periods");
    }
    Ok(())
}
