//! `pipewise users` and `pipewise serve`: the team server (pipewise-server)
//! and its users (pipewise-state).

use crate::args::{Format, ServeArgs, StateArgs, UsersCommand};
use crate::commands::{print, print_json};
use crate::output::{Cell, Table};
use crate::settings::user;
use anyhow::{Context, Result};
use pipewise_state::{Role, StateDb};
use std::io::BufRead;
use std::path::Path;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The app state's URL: `--state`, else the workspace's state.sqlite.
pub fn state_url(ws: &Path, a: &StateArgs) -> String {
    a.state
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", ws.join("state.sqlite").display()))
}

async fn open_state(ws: &Path, a: &StateArgs) -> Result<StateDb> {
    let url = state_url(ws, a);
    if a.state.is_none() && !ws.join("ledger").exists() {
        return Err(user(format!(
            "{}: not a workspace (no ledger/)\n\nhint: pass --workspace DIR, or --state URL",
            ws.display()
        )));
    }
    StateDb::open(&url).await.map_err(|e| {
        if e.is_user() {
            user(format!("--state: {e}"))
        } else {
            anyhow::anyhow!("{url}: {e}")
        }
    })
}

fn state_err(e: pipewise_state::Error) -> anyhow::Error {
    if e.is_user() {
        user(e.to_string())
    } else {
        e.into()
    }
}

pub fn users(ws: &Path, c: &UsersCommand, format: Format) -> Result<()> {
    let rt = runtime()?;
    let now = pipewise_server::auth::now();
    rt.block_on(async {
        match c {
            UsersCommand::Add(a) => {
                let role = Role::parse(&a.role).ok_or_else(|| {
                    user(format!(
                        "--role {:?}: one of rep, manager, exec, admin",
                        a.role
                    ))
                })?;
                if matches!(role, Role::Rep | Role::Manager) && a.owner.is_none() {
                    eprintln!(
                        "warning: a {} without --owner sees no deals (their scope is the CRM user they are)",
                        role.as_str()
                    );
                }
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                let password = line.trim_end_matches(['\n', '\r']);
                let hash = pipewise_state::hash_password(password).map_err(state_err)?;
                let db = open_state(ws, &a.state).await?;
                let u = db
                    .add_user(&a.login, role, a.owner.as_deref(), &hash, now)
                    .await
                    .map_err(state_err)?;
                eprintln!("added {} ({})", u.login, u.role.as_str());
                list(&[u], format)
            }
            UsersCommand::List(s) => {
                let db = open_state(ws, s).await?;
                list(&db.users().await.map_err(state_err)?, format)
            }
            UsersCommand::Disable(a) | UsersCommand::Enable(a) => {
                let disable = matches!(c, UsersCommand::Disable(_));
                let db = open_state(ws, &a.state).await?;
                let u = db
                    .set_disabled(&a.login, disable, now)
                    .await
                    .map_err(state_err)?;
                list(&[u], format)
            }
            UsersCommand::Token(a) => {
                let db = open_state(ws, &a.state).await?;
                let token = pipewise_state::new_token("pw_");
                db.create_token(&a.login, &a.name, &pipewise_state::token_hash(&token), now)
                    .await
                    .map_err(state_err)?;
                eprintln!(
                    "a token for {} ({}); it is shown once: send it as `Authorization: Bearer TOKEN`",
                    a.login, a.name
                );
                println!("{token}");
                Ok(())
            }
        }
    })
}

fn list(users: &[pipewise_state::User], format: Format) -> Result<()> {
    if format == Format::Json {
        return print_json(&users);
    }
    let mut t = Table::new(vec!["login", "role", "owner_id", "disabled", "created_at"]);
    for u in users {
        t.push(vec![
            Cell::from(u.login.as_str()),
            Cell::from(u.role.as_str()),
            u.owner_id.as_deref().map_or(Cell::Null, Cell::from),
            Cell::from(if u.disabled { "yes" } else { "no" }),
            Cell::Text(pipewise_model::time::format_timestamp(u.created_at)),
        ]);
    }
    print(&t, format)
}

pub fn serve(ws: &Path, a: &ServeArgs) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let db = open_state(ws, &a.state).await?;
        let pb = crate::commands::spinner("loading the workspace");
        let dir = ws.to_path_buf();
        let workspace = tokio::task::spawn_blocking(move || pipewise_server::Workspace::open(&dir))
            .await?
            .map_err(|e| anyhow::anyhow!("{}: {e}", ws.display()))?;
        pb.finish_and_clear();
        let state = pipewise_server::AppState::new(db, workspace, a.session_hours.max(1) * 3600)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .map_err(|e| user(format!("--addr {}: cannot listen there: {e}", a.addr)))?;
        let addr = listener.local_addr()?;
        eprintln!("pipewise serves {} at http://{addr}/ (the API's document: http://{addr}/api/openapi.json); Ctrl-C stops it", ws.display());
        pipewise_server::serve(listener, state).await?;
        Ok(())
    })
}
