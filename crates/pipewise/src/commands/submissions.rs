//! `pipewise submit` and `pipewise submissions`: forecast calls, kept in the
//! workspace's append-only `submissions` journal, and their bias ledger.

use crate::args::{Format, SubmissionsArgs, SubmitArgs};
use crate::commands::{print, print_json};
use crate::output::{Cell, Table};
use crate::settings::{Workspace, instant, open, user};
use anyhow::Result;
use pipewise_forecast::calendar::Quarter;
use pipewise_forecast::groups::Org;
use pipewise_forecast::scan::{FIELDS, Ledger};
use pipewise_forecast::submissions::{
    self, JOURNAL, Level, Resolve, Submission, debiased, import_csv,
};
use pipewise_ledger::Projection;
use pipewise_model::time::format_timestamp;
use std::path::Path;

fn org(w: &Workspace) -> Result<Org> {
    Ok(Org::from_batches(
        &w.store.read_table("users")?,
        &w.store.read_table("quotas")?,
    ))
}

/// A quarter argument: its label and days.
fn quarter(w: &Workspace, p: &str, what: &str) -> Result<Quarter> {
    let (first, last) = w.period(p, what)?;
    let q = Quarter::containing(first, w.process.fiscal_year_start_month(), &w.calendar);
    if q.first != first || q.last != last {
        return Err(user(format!(
            "{what} {p}: calls are per fiscal quarter\n\nhint: {what} {}",
            q.label
        )));
    }
    Ok(q)
}

fn who(org: &Org, w: &str, what: &str) -> Result<String> {
    org.find(w).map(|p| p.id.clone()).ok_or_else(|| {
        user(format!(
            "{what} {w:?}: no user with that id or name in the users table"
        ))
    })
}

fn read(w: &Workspace) -> Result<Vec<Submission>> {
    Ok(submissions::from_batches(&w.store.read_journal(JOURNAL)?))
}

pub fn submit(ws: &Path, a: &SubmitArgs, format: Format) -> Result<()> {
    let w = open(ws)?;
    let org = org(&w)?;
    let q = quarter(&w, &a.period, "--period")?;
    let submitter = who(&org, &a.who, "--who")?;
    if let Some(why) = submissions::bad_amount([
        ("--commit", a.commit),
        ("--best-case", a.best_case),
        ("--most-likely", a.most_likely),
    ]) {
        return Err(user(why));
    }
    let now = crate::settings::now();
    let at = match &a.at {
        Some(t) => instant(t, "--at")?,
        None => now,
    };
    let s = Submission {
        period: q.label.clone(),
        first: q.first,
        last: q.last,
        submitter,
        level: if a.team { Level::Team } else { Level::Own },
        commit: a.commit,
        best_case: a.best_case,
        most_likely: a.most_likely,
        note: a.note.clone(),
        submitted_at: at,
        recorded_at: now,
        source: "cli".into(),
    };
    let batch = submissions::to_batch(std::slice::from_ref(&s))?;
    w.store.append_journal(JOURNAL, &[batch])?;
    list(&[s], &org, format)
}

fn list(rows: &[Submission], org: &Org, format: Format) -> Result<()> {
    let mut t = Table::new(vec![
        "period",
        "submitter",
        "name",
        "level",
        "commit",
        "best_case",
        "most_likely",
        "submitted_at",
        "recorded_at",
        "note",
        "source",
    ]);
    for s in rows {
        t.push(vec![
            Cell::from(s.period.as_str()),
            Cell::from(s.submitter.as_str()),
            Cell::from(org.person(&s.submitter).map_or("", |p| p.name.as_str())),
            Cell::from(s.level.as_str()),
            Cell::Money(s.commit),
            Cell::Money(s.best_case),
            Cell::Money(s.most_likely),
            Cell::Text(format_timestamp(s.submitted_at)),
            Cell::Text(format_timestamp(s.recorded_at)),
            s.note.as_deref().map_or(Cell::Null, Cell::from),
            Cell::from(s.source.as_str()),
        ]);
    }
    print(&t, format)
}

pub fn run(ws: &Path, a: &SubmissionsArgs, format: Format) -> Result<()> {
    let w = open(ws)?;
    let org = org(&w)?;
    if let Some(path) = &a.import {
        return import(&w, &org, path, format);
    }
    let mut all = read(&w)?;
    if a.bias || a.debiased {
        return bias(&w, &org, &all, a, format);
    }
    if let Some(p) = &a.period {
        let q = quarter(&w, p, "--period")?;
        all.retain(|s| s.period == q.label);
    }
    if let Some(u) = &a.who {
        let id = who(&org, u, "--who")?;
        all.retain(|s| s.submitter == id);
    }
    list(&all, &org, format)
}

fn import(w: &Workspace, org: &Org, path: &Path, format: Format) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| user(format!("--import {}: cannot read it: {e}", path.display())))?;
    let file = path.display().to_string();
    let period = |p: &str| -> std::result::Result<(String, i32, i32), String> {
        let (first, last) = w.period(p, "period").map_err(|e| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or("not a period")
                .to_string()
        })?;
        let q = Quarter::containing(first, w.process.fiscal_year_start_month(), &w.calendar);
        if q.first != first || q.last != last {
            return Err(format!(
                "not a fiscal quarter (calls are per quarter; {})",
                q.label
            ));
        }
        Ok((q.label, q.first, q.last))
    };
    let person = |s: &str| org.find(s).map(|p| p.id.clone());
    let at = |s: &str| pipewise_model::time::parse_iso_instant(s, false);
    let resolve = Resolve {
        period: &period,
        person: &person,
        instant: &at,
    };
    let (ok, bad) = import_csv(&text, &file, &resolve, crate::settings::now()).map_err(user)?;
    if !ok.is_empty() {
        w.store
            .append_journal(JOURNAL, &[submissions::to_batch(&ok)?])?;
    }
    eprintln!(
        "{file}: {} row(s) read, {} landed, {} quarantined",
        ok.len() + bad.len(),
        ok.len(),
        bad.len()
    );
    let mut t = Table::new(vec!["file", "row", "column", "value", "reason"]);
    for q in &bad {
        t.push(vec![
            Cell::from(q.file.as_str()),
            Cell::Int(q.row as i64),
            Cell::from(q.column.as_str()),
            Cell::from(q.value.as_str()),
            Cell::from(q.reason.as_str()),
        ]);
    }
    print(&t, format)
}

/// Score every call on a quarter that has ended against what its
/// submitter (or their subtree) booked, as recorded today.
fn bias(
    w: &Workspace,
    org: &Org,
    all: &[Submission],
    a: &SubmissionsArgs,
    format: Format,
) -> Result<()> {
    let manifest = w.store.manifest()?;
    let log = w.store.load_projected(
        &manifest,
        &Projection {
            fields: Some(FIELDS.to_vec()),
            old_values: false,
            recorded_at: false,
            ids: true,
            sources: false,
        },
    )?;
    let ledger = Ledger::new(&log, &w.process);
    let scored = submissions::score(&ledger, org, all, log.latest(), None);
    let team_of = |id: &str| org.person(id).and_then(|p| p.team.clone());
    let ledger_rows = submissions::ledger(&scored, &team_of);
    let name = |id: &str| org.person(id).map_or(id.to_string(), |p| p.name.clone());
    let pct = |x: f64| crate::commands::leads::pct(Some(x), format);
    if a.debiased {
        let q = quarter(w, a.period.as_deref().unwrap_or_default(), "--period")?;
        let at = match &a.as_of {
            Some(t) => instant(t, "--as-of")?,
            None => crate::settings::now(),
        };
        let rows = debiased(all, &q.label, at, &ledger_rows);
        if format == Format::Json {
            return print_json(&rows);
        }
        let mut t = Table::new(vec![
            "submitter",
            "level",
            "commit",
            "commit_debiased",
            "best_case",
            "best_case_debiased",
            "most_likely",
            "most_likely_debiased",
            "why",
        ]);
        let mut totals = [0.0; 6];
        for r in &rows {
            let mut cells = vec![Cell::Text(name(&r.submitter)), Cell::from(r.level.as_str())];
            for (k, c) in submissions::CATEGORIES.iter().enumerate() {
                let (call, _, adjusted) = r.calls[*c];
                cells.push(Cell::Money(call));
                cells.push(Cell::Money(adjusted));
                if r.level == Level::Own {
                    totals[2 * k] += call;
                    totals[2 * k + 1] += adjusted;
                }
            }
            cells.push(Cell::from(r.why.as_str()));
            t.push(cells);
        }
        let mut cells = vec![Cell::from("roll-up of own calls"), Cell::from("own")];
        cells.extend(totals.iter().map(|&v| Cell::Money(v)));
        cells.push(Cell::Null);
        t.push(cells);
        return print(&t, format);
    }
    let mut rows = ledger_rows;
    if let Some(u) = &a.who {
        let id = who(org, u, "--who")?;
        rows.retain(|b| b.submitter == id);
    }
    if format == Format::Json {
        return print_json(&rows);
    }
    let mut t = Table::new(vec![
        "submitter",
        "level",
        "category",
        "week",
        "calls",
        "quarters",
        "error",
        "shrunk",
        "reading",
    ]);
    for b in &rows {
        t.push(vec![
            Cell::Text(name(&b.submitter)),
            Cell::from(b.level.as_str()),
            Cell::from(b.category.as_str()),
            b.week
                .map_or(Cell::from("all"), |w| Cell::Int(i64::from(w))),
            Cell::Int(b.calls as i64),
            Cell::Int(b.quarters as i64),
            pct(b.error),
            pct(b.shrunk),
            Cell::from(b.reading.as_str()),
        ]);
    }
    print(&t, format)
}
