//! What the metric-parity tests share: the binary run on a workspace, and a
//! synthetic company with the four query shapes they check metrics under.

#![allow(dead_code)] // each test binary uses its own part of it

use pipewise_engine::Engine;
use pipewise_metrics::MetricQuery;
use std::path::Path;
use std::process::Command;

/// Run `pipewise --workspace WS ARGS`; panics with its stderr when it fails.
pub fn pipewise(ws: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pipewise {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `pipewise --workspace WS ARGS` and return what it did.
pub fn run(ws: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .output()
        .unwrap()
}

/// Run it, panic with its stderr unless it succeeds, and return its stdout.
pub fn ok(ws: &Path, args: &[&str]) -> String {
    let out = run(ws, args);
    assert!(
        out.status.success(),
        "pipewise {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run it with `--format json` and parse its stdout.
pub fn json(ws: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&ok(ws, &a)).unwrap()
}

/// Run it and check it fails as the user's mistake (exit 2), saying `needle`.
pub fn refused(ws: &Path, args: &[&str], needle: &str) {
    let out = run(ws, args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "pipewise {args:?} did not refuse"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "pipewise {args:?}: {err}");
}

/// The synthetic company of the parity tests (1,500 deals, seed 11) in `ws`.
pub fn synth_company(ws: &Path) {
    pipewise(ws, &["synth", "--size", "1500", "--seed", "11"]);
}

/// The engine over `ws` and the four query shapes metrics are checked under:
/// all history; 2026-Q1 by owner; 2025-Q4 as of 2025-11-15 by team; 2025
/// known at 2025-12-31 by region, under a manager.
pub fn engine_and_shapes(ws: &Path) -> (Engine, Vec<(&'static str, MetricQuery)>) {
    let settings = pipewise_model::SalesProcess::default_process();
    let store = pipewise_ledger::Store::open(ws).unwrap();
    let engine = Engine::open(&store, &settings).unwrap();
    let (_, managers) = pipewise_engine::rows(
        &engine
            .sql("SELECT id FROM users WHERE role = 'manager' ORDER BY id LIMIT 1")
            .unwrap(),
    )
    .unwrap();
    let manager = match &managers[0][0] {
        pipewise_engine::CellValue::Text(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    let day = |s: &str| pipewise_model::time::parse_period(s, 1).unwrap();
    let at = |s: &str| pipewise_model::time::parse_iso_instant(s, true).unwrap();
    let shapes: Vec<(&str, MetricQuery)> = vec![
        ("all history", MetricQuery::default()),
        (
            "2026-Q1 by owner",
            MetricQuery {
                by: vec!["owner".into()],
                period: Some(day("2026-Q1")),
                ..Default::default()
            },
        ),
        (
            "2025-Q4 as of 2025-11-15 by team",
            MetricQuery {
                by: vec!["team".into()],
                period: Some(day("2025-Q4")),
                as_of: Some(at("2025-11-15")),
                ..Default::default()
            },
        ),
        (
            "2025 known at 2025-12-31 by region, under a manager",
            MetricQuery {
                by: vec!["region".into()],
                period: Some(day("2025")),
                as_of: Some(at("2025-12-31")),
                known: true,
                under: Some(manager.clone()),
                ..Default::default()
            },
        ),
    ];
    (engine, shapes)
}

/// `pipewise serve` on a free port of 127.0.0.1: the process and its
/// address. The rest of its stderr (its log) is kept draining, so the
/// server never writes into a closed pipe, and copied to `log` when given.
pub fn serve(ws: &Path) -> (std::process::Child, String) {
    serve_logged(ws, None)
}

/// [`serve`], its log copied to `log`.
pub fn serve_logged(ws: &Path, log: Option<&Path>) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let mut sink: Box<dyn std::io::Write + Send> = match log {
        Some(p) => Box::new(std::fs::File::create(p).unwrap()),
        None => Box::new(std::io::sink()),
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut lines, &mut sink);
    });
    (child, addr)
}
