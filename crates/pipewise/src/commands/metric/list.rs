//! `pipewise metrics`: the library, built-in and the workspace's own.

use super::library;
use crate::args::Format;
use crate::output::{Cell, Table};
use anyhow::Result;
use pipewise_metrics::Polarity;
use std::path::Path;

pub fn list(dir: &Path, format: Format) -> Result<()> {
    let lib = library(dir)?;
    let mut t = Table::new(vec![
        "name", "unit", "polarity", "formula", "purpose", "origin",
    ]);
    for m in lib.metrics.values() {
        let purpose = if format == Format::Table {
            m.purpose.chars().take(80).collect::<String>() + "…"
        } else {
            m.purpose.clone()
        };
        let polarity = match m.polarity {
            Polarity::HigherIsBetter => "higher_is_better",
            Polarity::LowerIsBetter => "lower_is_better",
        };
        t.push(vec![
            Cell::Text(m.name.clone()),
            Cell::Text(format!("{:?}", m.unit).to_lowercase()),
            Cell::from(polarity),
            Cell::Text(m.formula.clone()),
            Cell::Text(purpose),
            Cell::Text(m.origin.clone()),
        ]);
    }
    crate::commands::print(&t, format)
}
