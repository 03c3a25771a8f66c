//! `pipewise ingest salesforce|hubspot|csv`

use crate::args::{Format, IngestArgs, IngestCommand};
use crate::output::{Cell, Table};
use crate::settings::{self, user};
use anyhow::Result;
use pipewise_ingest::{IngestOptions, IngestOutcome};
use std::path::Path;

fn options(a: &IngestArgs) -> Result<IngestOptions> {
    let as_of = match &a.as_of {
        Some(s) => settings::instant(s, "--as-of")?,
        None => settings::now(),
    };
    if !(0.0..=100.0).contains(&a.max_quarantine) {
        return Err(user(format!(
            "--max-quarantine {}: expected a percentage 0-100",
            a.max_quarantine
        )));
    }
    let mut o = IngestOptions::new(as_of, settings::date_order(&a.date_order)?);
    o.max_quarantine_pct = a.max_quarantine;
    o.timezone = a
        .timezone
        .as_deref()
        .map(|z| {
            pipewise_ingest::values::parse_zone(z).map_err(|e| user(format!("--timezone {e}")))
        })
        .transpose()?;
    o.missing = match a.missing.as_str() {
        "auto" => pipewise_ingest::draft::Missing::Auto,
        "deleted" => pipewise_ingest::draft::Missing::Deleted,
        "keep" => pipewise_ingest::draft::Missing::Keep,
        other => {
            return Err(user(format!(
                "--missing {other:?}: expected auto, deleted or keep"
            )));
        }
    };
    if let Some(w) = std::env::var_os("PIPEWISE_LOCK_WAIT") {
        let secs: u64 = w.to_string_lossy().trim().parse().map_err(|_| {
            user(format!(
                "PIPEWISE_LOCK_WAIT {w:?}: expected a number of seconds"
            ))
        })?;
        o.lock_wait = std::time::Duration::from_secs(secs);
    }
    o.progress = Some(pipewise_ingest::Progress::new(show_progress));
    Ok(o)
}

/// The ingest's spinner, told each phase as it starts.
static SPINNER: std::sync::OnceLock<indicatif::ProgressBar> = std::sync::OnceLock::new();

fn show_progress(what: &str) {
    if let Some(pb) = SPINNER.get() {
        pb.set_message(format!("ingesting: {what}"));
    }
}

pub fn run(dir: &Path, cmd: &IngestCommand, format: Format) -> Result<()> {
    let (common, kind) = match cmd {
        IngestCommand::Salesforce(a) => (a, "salesforce"),
        IngestCommand::Hubspot(a) => (a, "hubspot"),
        IngestCommand::Csv(a) => (&a.common, "csv"),
    };
    if !dir.join("ledger").exists() {
        if common.init && kind != "csv" {
            check_dir(&common.dir)?;
            let (_, p) = super::init::create_from(dir, &common.dir)?;
            eprintln!(
                "Created a workspace in {} with the stages of the {} export; check {} later.",
                dir.display(),
                p.source,
                settings::PROCESS_FILE
            );
        } else {
            let hint = if kind == "csv" {
                format!("run `pipewise --workspace {} init` first", dir.display())
            } else {
                format!(
                    "run `pipewise --workspace {ws} init --from {d}` to write a pipewise.toml from this export, or add --init to this command to do both at once",
                    ws = dir.display(),
                    d = common.dir.display()
                )
            };
            return Err(user(format!(
                "{} is not a pipewise workspace\n\nhint: {hint}",
                dir.display()
            )));
        }
    }
    let ws = settings::open(dir).map_err(|e| {
        if e.downcast_ref::<pipewise_ledger::LedgerError>().is_some() {
            settings::not_found(dir)
        } else {
            e
        }
    })?;
    let pb = SPINNER.get_or_init(|| super::spinner("ingesting")).clone();
    let outcome = match cmd {
        IngestCommand::Salesforce(a) => {
            check_dir(&a.dir)?;
            pipewise_ingest::salesforce::ingest(&ws.store, &ws.process, &a.dir, options(a)?)?
        }
        IngestCommand::Hubspot(a) => {
            check_dir(&a.dir)?;
            pipewise_ingest::hubspot::ingest(&ws.store, &ws.process, &a.dir, options(a)?)?
        }
        IngestCommand::Csv(a) => {
            check_dir(&a.common.dir)?;
            // A mapping that is not there is the user's to fix (exit 2).
            let text = std::fs::read_to_string(&a.mapping).map_err(|e| {
                crate::settings::user(format!(
                    "{}: cannot read the mapping ({e}); pass --mapping FILE, e.g. examples/maven-crm.toml",
                    a.mapping.display()
                ))
            })?;
            let m = pipewise_ingest::mapping::Mapping::from_toml(
                &text,
                &a.mapping.display().to_string(),
            )?;
            pipewise_ingest::mapping::ingest(
                &ws.store,
                &ws.process,
                &a.common.dir,
                &m,
                options(&a.common)?,
            )?
        }
    };
    pb.finish_and_clear();
    report(dir, &outcome, format)
}

fn check_dir(d: &Path) -> Result<()> {
    if !d.is_dir() {
        return Err(user(format!("{}: no such folder", d.display())));
    }
    Ok(())
}

fn report(dir: &Path, o: &IngestOutcome, format: Format) -> Result<()> {
    let mut t = Table::new(vec!["file", "lines", "read", "landed", "quarantined"]);
    for f in &o.report.files {
        t.push(vec![
            Cell::Text(f.file.clone()),
            Cell::Int(f.lines as i64),
            Cell::Int(f.read as i64),
            Cell::Int(f.landed as i64),
            Cell::Int(f.quarantined as i64),
        ]);
    }
    super::print(&t, format)?;
    let r = &o.report;
    for f in &r.files {
        let share = if f.read > 0 {
            100.0 * f.quarantined as f64 / f.read as f64
        } else {
            0.0
        };
        if share >= 1.0 {
            eprintln!(
                "warning: {}: {} of {} rows ({share:.1}%) quarantined; see the quarantine file",
                f.file, f.quarantined, f.read
            );
        }
        if f.lines != f.lines_read {
            eprintln!(
                "warning: {}: {} physical lines, {} accounted for",
                f.file, f.lines, f.lines_read
            );
        }
    }
    eprintln!(
        "\n{} opportunities added, {} events added, {} duplicate events skipped (ledger version {})",
        r.opportunities_added, r.events_added, r.events_duplicate, o.summary.version
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for f in &r.skipped_files {
        eprintln!("skipped {f}: not an input of this connector or mapping");
    }
    if !r.checks.is_empty() {
        eprintln!("\nchecks:");
        for (name, c) in &r.checks {
            eprintln!("  {name:<28} {:>8}  {}", c.count, c.action);
        }
    }
    eprintln!(
        "\nfull report: {}   quarantine: {}",
        dir.join(&o.report_path).display(),
        dir.join(&o.quarantine_path).display()
    );
    Ok(())
}
