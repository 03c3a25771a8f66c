//! `pipewise init`

use crate::args::{Format, InitArgs};
use crate::output::{Cell, Table};
use crate::settings::{PROCESS_FILE, ensure_absent_or_empty, user};
use anyhow::{Context, Result};
use pipewise_ledger::Store;
use std::path::Path;

/// Create a workspace in `dir` (created if missing), with `process_toml` as
/// its sales process (the default one when `None`).
pub fn create(dir: &Path) -> Result<Store> {
    create_with(dir, None)
}

fn create_with(dir: &Path, process_toml: Option<&str>) -> Result<Store> {
    ensure_absent_or_empty(dir)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the workspace folder", dir.display()))?;
    let store = Store::init(dir)?;
    let p = dir.join(PROCESS_FILE);
    let text = process_toml.unwrap_or(pipewise_model::process::DEFAULT_PROCESS_TOML);
    if process_toml.is_some() || !p.exists() {
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))?;
    }
    Ok(store)
}

/// A workspace whose process is proposed from the export in `from`.
pub fn create_from(dir: &Path, from: &Path) -> Result<(Store, pipewise_ingest::propose::Proposal)> {
    if !from.is_dir() {
        return Err(user(format!("{}: no such folder", from.display())));
    }
    let proposal = pipewise_ingest::propose::propose(from)?;
    let store = create_with(dir, Some(&proposal.toml))?;
    Ok((store, proposal))
}

pub fn run(dir: &Path, a: &InitArgs, format: Format) -> Result<()> {
    if dir.join("ledger").exists() {
        return Err(user(format!(
            "{} already holds a pipewise workspace",
            dir.display()
        )));
    }
    let proposal = match &a.from {
        Some(from) => Some(create_from(dir, from)?.1),
        None => {
            create(dir)?;
            None
        }
    };
    let mut t = Table::new(vec!["workspace", "sales_process", "from"]);
    t.push(vec![
        Cell::Text(dir.display().to_string()),
        Cell::Text(dir.join(PROCESS_FILE).display().to_string()),
        match &proposal {
            Some(p) => Cell::Text(format!("{} export: {}", p.source, p.read.join(", "))),
            None => Cell::Text("default".into()),
        },
    ]);
    super::print(&t, format)?;
    match &proposal {
        Some(_) => eprintln!(
            "Created a workspace with the stages of the export. Check {PROCESS_FILE} (lines marked \"inferred\", the qualified stage), then `pipewise ingest …`."
        ),
        None => eprintln!(
            "Created a workspace. Edit {PROCESS_FILE} to match your stages (or start again with `pipewise init --from EXPORT_DIR`), then `pipewise ingest …`."
        ),
    }
    Ok(())
}
