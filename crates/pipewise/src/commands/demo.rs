//! `pipewise demo`: a mid-size synthetic company in a fresh workspace, and a tour of it.

use crate::args::{DemoArgs, Format};
use crate::settings::user;
use anyhow::{Context, Result};
use pipewise_model::time::{calendar_quarter_bounds, date_end, format_date};
use std::path::{Path, PathBuf};

const MARKER: &str = ".pipewise-demo";

pub fn run(workspace: Option<&Path>, a: &DemoArgs, format: Format) -> Result<()> {
    let dir: PathBuf = workspace
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("pipewise-demo"));
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let is_empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if is_demo {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("{}: cannot replace the previous demo", dir.display()))?;
        } else if !is_empty {
            return Err(user(format!(
                "{} exists and is not a demo workspace\n\nhint: pass --workspace with a new folder",
                dir.display()
            )));
        }
    }
    super::init::create(&dir)?;
    std::fs::write(
        dir.join(MARKER),
        "created by `pipewise demo`; the next demo run replaces this folder\n",
    )?;
    let cfg = super::synth::config(&a.size, a.seed, "2026-06-30", 2)?;
    let process = crate::settings::load_process(&dir)?;
    let company = super::synth::make(&cfg, &process);
    super::synth::into_workspace(&dir, &company)?;

    let end = cfg.end;
    // the calendar quarter (a fiscal year starting in January) the history ends in
    let (y, q) = pipewise_model::time::fiscal_quarter(end, 1);
    let qe = calendar_quarter_bounds(y, q).map(|(_, e)| e).unwrap_or(end);
    let at = date_end(qe.min(end));
    let day = format_date(qe.min(end));
    let hr = |title: &str| {
        if format == Format::Table {
            println!("\n== {title} ==");
        }
    };
    hr(&format!("What is in {}", dir.display()));
    super::print(&super::status::table(&dir)?, format)?;
    hr(&format!("Open pipeline as of {day}, by stage"));
    super::print(&super::asof::table(&dir, at, "stage", true, false)?, format)?;
    hr(&format!("Open pipeline as of {day}, by forecast category"));
    super::print(
        &super::asof::table(&dir, at, "forecast_category", true, false)?,
        format,
    )?;
    hr("Stage changes in the last week of the history");
    let week = super::changes::table(
        &dir,
        at - 7 * pipewise_model::time::MICROS_PER_DAY,
        at,
        None,
        Some("stage"),
    )?;
    let mut head = week.clone();
    head.rows.truncate(15);
    super::print(&head, format)?;
    if format == Format::Table {
        println!(
            "\n({} stage changes that week; try `pipewise --workspace {} asof 2025-12-31 --by owner` or `pipewise --workspace {} changes 2026-06-01 2026-06-30`)",
            week.rows.len(),
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}
