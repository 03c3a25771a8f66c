//! `pipewise synth`

use crate::args::{Format, SynthArgs};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ledger::Store;
use pipewise_synth::{Company, Config, Size, generate};
use std::path::Path;

pub fn config(size: &str, seed: u64, end: &str, years: u32) -> Result<Config> {
    let size = Size::parse(size).map_err(|e| user(format!("--size: {e}")))?;
    if !(1..=20).contains(&years) {
        return Err(user(format!(
            "--years {years}: give 1 to 20 years of history"
        )));
    }
    let mut c = Config::new(seed, size);
    c.end = pipewise_model::time::date_of(settings::instant(end, "--end")?);
    c.years = years;
    Ok(c)
}

pub fn make(config: &Config, process: &pipewise_model::SalesProcess) -> Company {
    let pb = super::bar(config.opportunities as u64, "simulating opportunities");
    let c = generate(config, process, &mut |done, _| pb.set_position(done));
    pb.finish_and_clear();
    c
}

pub fn summary(c: &Company) -> Table {
    let events: usize = c.opportunities.iter().map(|o| o.changes.len()).sum();
    let mut t = Table::new(vec!["entity", "count"]);
    for (k, v) in [
        ("users", c.users.len()),
        ("accounts", c.accounts.len()),
        ("opportunities", c.opportunities.len()),
        ("opportunity_events", events),
        ("leads", c.leads.len()),
        ("lead_events", c.lead_events.len()),
        ("activities", c.activities.len()),
        ("quotas", c.quotas.len()),
    ] {
        t.push(vec![Cell::from(k), Cell::Int(v as i64)]);
    }
    t
}

/// Write a company into a workspace (creating the workspace if needed).
pub fn into_workspace(dir: &Path, company: &Company) -> Result<()> {
    let store = match Store::open(dir) {
        Ok(s) => s,
        Err(pipewise_ledger::LedgerError::NotAWorkspace { .. }) => super::init::create(dir)?,
        Err(e) => return Err(e.into()),
    };
    let pb = super::spinner("writing the ledger");
    company.commit(&store)?;
    pb.finish_and_clear();
    Ok(())
}

pub fn run(dir: &Path, a: &SynthArgs, format: Format) -> Result<()> {
    let cfg = config(&a.size, a.seed, &a.end, a.years)?;
    let process = if dir.join(settings::PROCESS_FILE).exists() && a.salesforce_export.is_none() {
        settings::load_process(dir)?
    } else {
        pipewise_model::SalesProcess::default_process()
    };
    let company = make(&cfg, &process);
    if let Some(out) = &a.salesforce_export {
        let pb = super::spinner("writing the Salesforce export");
        pipewise_synth::salesforce::write_export(&company, &process, out)?;
        pb.finish_and_clear();
        eprintln!("Wrote a Salesforce export to {}", out.display());
    } else {
        into_workspace(dir, &company)?;
        eprintln!("Wrote the company into the workspace {}", dir.display());
    }
    if let Some(t) = &a.truth {
        pipewise_synth::truth::write(&company, &process, t)?;
        eprintln!("Wrote the generator's truth to {}", t.display());
    }
    super::print(&summary(&company), format)
}
