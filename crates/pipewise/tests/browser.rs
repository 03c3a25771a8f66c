//! The pages in a real browser: a synthetic company served by `pipewise
//! serve`, with a rep, their manager and an exec, checked by
//! `crates/pipewise-server/web/tests/browser.mjs` in headless Chromium
//! (Debian's `chromium`, driven by `playwright-core` from npm).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and `npm ci` run in
//! `crates/pipewise-server/web`. Without them the test says so and passes,
//! unless `PIPEWISE_REQUIRE_BROWSER=1` (as in CI), where it fails.
//! Screenshots of every page land in `$CARGO_TARGET_DIR/browser-artifacts`
//! (or `target/browser-artifacts`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipewise-server/web")
}

fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node on PATH".into());
    }
    if !web_dir().join("node_modules/playwright-core").exists() {
        return Some(format!(
            "no playwright-core in {} (run npm ci there)",
            web_dir().display()
        ));
    }
    None
}

fn add_user(ws: &Path, login: &str, role: &str, owner: Option<&str>, password: &str) {
    let mut args = vec!["users", "add", login, "--role", role, "--password-stdin"];
    if let Some(o) = owner {
        args.extend(["--owner", o]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "users add {login}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_page_in_a_real_browser() {
    if let Some(why) = missing() {
        if std::env::var("PIPEWISE_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("the browser tests must run here: {why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    // (big enough for several teams: a manager sees less than the exec)
    common::ok(ws, &["synth", "--size", "2500", "--seed", "3"]);
    // The hierarchy from the users table, walked here by hand: the
    // manager's scope is everyone below them.
    let users = common::json(ws, &["sql", "select id, manager_id, role from users"]);
    let mut reports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut reps = Vec::new();
    for u in users.as_array().unwrap() {
        let id = u["id"].as_str().unwrap().to_string();
        if let Some(m) = u["manager_id"].as_str() {
            reports.entry(m.to_string()).or_default().push(id.clone());
        }
        if u["role"] == "rep" {
            reps.push((id, u["manager_id"].as_str().map(str::to_string)));
        }
    }
    reps.sort();
    let (rep, manager) = reps
        .iter()
        .find_map(|(r, m)| m.clone().map(|m| (r.clone(), m)))
        .expect("a rep with a manager");
    let mut subtree = BTreeSet::from([manager.clone()]);
    let mut todo = vec![manager.clone()];
    while let Some(x) = todo.pop() {
        for r in reports.get(&x).into_iter().flatten() {
            if subtree.insert(r.clone()) {
                todo.push(r.clone());
            }
        }
    }
    // a deal model, so the grid shows win probabilities (small: a test)
    common::ok(
        ws,
        &[
            "deals",
            "train",
            "--name",
            "deals",
            "--estimator",
            "logistic",
            "--max-rows",
            "3000",
        ],
    );
    let password = "correct horse battery";
    add_user(ws, "rita", "rep", Some(&rep), password);
    add_user(ws, "manny", "manager", Some(&manager), password);
    add_user(ws, "eve", "exec", None, password);
    add_user(ws, "ada", "admin", None, password);
    let spec = serde_json::json!({
        "rita": {"password": password, "role": "rep", "owners": [rep]},
        "manny": {"password": password, "role": "manager", "owners": subtree},
        "eve": {"password": password, "role": "exec", "owners": null},
        "ada": {"password": password, "role": "admin", "owners": null},
    });

    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let artifacts = target.join("browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (mut server, addr) = common::serve_logged(ws, Some(&artifacts.join("server.log")));
    let out = Command::new("node")
        .arg("tests/browser.mjs")
        .current_dir(web_dir())
        .env("PIPEWISE_URL", format!("http://{addr}"))
        .env("PIPEWISE_USERS", spec.to_string())
        .env("PIPEWISE_AS_OF", "2026-03-31")
        .env("PIPEWISE_AS_OF_2", "2026-02-15")
        .env("PIPEWISE_ARTIFACTS", &artifacts)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "the browser checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}
