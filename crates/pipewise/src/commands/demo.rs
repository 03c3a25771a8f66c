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
    if a.no_serve {
        return Ok(());
    }
    let logins = demo_users(&dir, &company)?;
    println!("\n== The team server ==");
    println!("Demo users (each sees what their role may; passwords are new each run):");
    for (login, role, owner, password) in &logins {
        println!(
            "  {login:<8} {role:<8} password {password}{}",
            owner
                .as_deref()
                .map_or(String::new(), |o| format!("  (CRM user {o})"))
        );
    }
    println!(
        "Open http://{}/ in a browser and sign in as one of them: the pipeline, forecast, reps, deals, leads and data quality, as of any day.",
        a.addr
    );
    println!(
        "Log in: curl -c cookies -H 'content-type: application/json' -d '{{\"login\":\"rep\",\"password\":\"{}\"}}' http://{}/api/session",
        logins
            .iter()
            .find(|l| l.0 == "rep")
            .map_or("", |l| l.3.as_str()),
        a.addr
    );
    super::serve::serve(
        &dir,
        &crate::args::ServeArgs {
            addr: a.addr.clone(),
            session_hours: 12,
            state: crate::args::StateArgs { state: None },
        },
    )
}

/// A demo user: login, role, CRM user, password.
type DemoUser = (String, String, Option<String>, String);

/// A user of each role in the demo workspace's app state: a rep with
/// deals, their manager, the CRM's exec and an admin; their logins, roles,
/// CRM users and new random passwords.
fn demo_users(dir: &Path, company: &pipewise_synth::Company) -> Result<Vec<DemoUser>> {
    use pipewise_model::Role as Crm;
    use pipewise_state::Role;
    let owners: std::collections::BTreeSet<String> = company
        .opportunities
        .iter()
        .filter_map(
            |o| match o.value_at(&pipewise_model::Field::OwnerId, o.created_at) {
                pipewise_model::Value::Text(t) => Some(t),
                _ => None,
            },
        )
        .collect();
    let rep = company
        .users
        .iter()
        .find(|u| u.role == Crm::Rep && owners.contains(&u.id));
    let manager = rep.and_then(|r| r.manager_id.clone());
    let exec = company
        .users
        .iter()
        .find(|u| u.role == Crm::Exec)
        .map(|u| u.id.clone());
    let people = [
        ("rep", Role::Rep, rep.map(|u| u.id.clone())),
        ("manager", Role::Manager, manager),
        ("exec", Role::Exec, exec),
        ("admin", Role::Admin, None),
    ];
    let url = format!("sqlite:{}", dir.join("state.sqlite").display());
    let now = pipewise_server::auth::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = pipewise_state::StateDb::open(&url).await?;
        let mut out = Vec::new();
        for (login, role, owner) in people {
            let password = pipewise_state::new_token("")
                .chars()
                .take(16)
                .collect::<String>();
            let hash = pipewise_state::hash_password(&password)?;
            db.add_user(login, role, owner.as_deref(), &hash, now)
                .await?;
            out.push((
                login.to_string(),
                role.as_str().to_string(),
                owner,
                password,
            ));
        }
        Ok::<_, pipewise_state::Error>(out)
    })
    .map_err(|e| anyhow::anyhow!("the demo's users: {e}"))
}
