//! `pipewise init`

use crate::args::Format;
use crate::output::{Cell, Table};
use crate::settings::{PROCESS_FILE, ensure_absent_or_empty, user};
use anyhow::{Context, Result};
use pipewise_ledger::Store;
use std::path::Path;

/// Create a workspace in `dir` (created if missing).
pub fn create(dir: &Path) -> Result<Store> {
    ensure_absent_or_empty(dir)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the workspace folder", dir.display()))?;
    let store = Store::init(dir)?;
    let p = dir.join(PROCESS_FILE);
    if !p.exists() {
        std::fs::write(&p, pipewise_model::process::DEFAULT_PROCESS_TOML)
            .with_context(|| format!("{}: cannot write", p.display()))?;
    }
    Ok(store)
}

pub fn run(dir: &Path, format: Format) -> Result<()> {
    if dir.join("ledger").exists() {
        return Err(user(format!(
            "{} already holds a pipewise workspace",
            dir.display()
        )));
    }
    create(dir)?;
    let mut t = Table::new(vec!["workspace", "sales_process"]);
    t.push(vec![
        Cell::Text(dir.display().to_string()),
        Cell::Text(dir.join(PROCESS_FILE).display().to_string()),
    ]);
    super::print(&t, format)?;
    eprintln!(
        "Created a workspace. Edit {PROCESS_FILE} to match your stages, then `pipewise ingest …`."
    );
    Ok(())
}
