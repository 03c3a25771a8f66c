//! Every built-in metric gives the same numbers on a real PostgreSQL server
//! as in pipewise's engine: a synthetic company is exported with `pipewise
//! export --dialect postgres`, loaded with psql into a server this test
//! starts, and each metric's `--dialect postgres` SQL is run there.
//!
//! Needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`;
//! `.ci/run` installs them). Set PIPEWISE_PG_BIN to their folder to choose one.
//! Without them the tests say so and pass, except when
//! `PIPEWISE_REQUIRE_POSTGRES=1` (`.ci/run` sets it). The checks that need no
//! server (metrics evaluated together and rolled up give what they give
//! alone) are `tests/shared_work.rs`, which always runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod common;

use pipewise_engine::Engine;
use pipewise_metrics::{Dialect, Library, MetricQuery, compile, evaluate};
use pipewise_testkit::{Server, pg_bin};
use std::path::Path;

type Rows = Vec<(Vec<String>, f64, f64)>;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_built_in_metric_matches_on_postgres() {
    let Some(bin) = pg_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ws = root.join("ws");
    common::synth_company(&ws);
    let export = root.join("export");
    common::pipewise(
        &ws,
        &["export", "--dialect", "postgres", export.to_str().unwrap()],
    );
    let server = Server::start(bin, root, 0);
    server.psql(&export, &["-f", "schema.sql", "-f", "load.sql"]);

    let (engine, shapes) = common::engine_and_shapes(&ws);
    let lib = Library::built_in().unwrap();
    let mut compared = 0;
    for m in lib.metrics.values() {
        for (label, q) in &shapes {
            let ours: Rows = evaluate(&engine, m, q)
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.dims
                            .into_iter()
                            .map(|(_, v)| v.unwrap_or_default())
                            .collect(),
                        r.numerator,
                        r.denominator,
                    )
                })
                .collect();
            let pq = MetricQuery {
                dialect: Dialect::Postgres,
                ..q.clone()
            };
            let sql = compile(m, &pq).unwrap();
            let out = server.psql(&export, &["-A", "-t", "-F", "\t", "-c", &sql]);
            let n = q.by.len();
            let theirs: Rows = out
                .lines()
                .map(|l| {
                    let c: Vec<&str> = l.split('\t').collect();
                    let num = |s: &str| {
                        if s.is_empty() {
                            0.0
                        } else {
                            s.parse::<f64>().unwrap()
                        }
                    };
                    (
                        c[..n].iter().map(|s| s.to_string()).collect(),
                        num(c[n]),
                        num(c[n + 1]),
                    )
                })
                .collect();
            let sorted = |mut v: Rows| {
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            };
            let (ours, theirs) = (sorted(ours), sorted(theirs));
            assert_eq!(
                ours.iter().map(|r| &r.0).collect::<Vec<_>>(),
                theirs.iter().map(|r| &r.0).collect::<Vec<_>>(),
                "{} ({label}): groups differ",
                m.name
            );
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    close(a.1, b.1) && close(a.2, b.2),
                    "{} ({label}) {:?}: pipewise {}/{} vs PostgreSQL {}/{}",
                    m.name,
                    a.0,
                    a.1,
                    a.2,
                    b.1,
                    b.2
                );
            }
            // a comparison that found nothing would prove nothing
            if ours.iter().any(|r| r.1 != 0.0) {
                compared += 1;
            }
        }
    }
    assert!(
        compared >= lib.metrics.len() * 2,
        "only {compared} non-empty comparisons"
    );
}

/// Deal facts in a workspace with two sales processes, where one stage name
/// is a different stage in each: PostgreSQL reads every stage value in the
/// process the deal followed, as the engine does.
#[test]
fn several_sales_processes_match_on_postgres() {
    let Some(bin) = pg_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ws = root.join("ws");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipewise-ingest/tests/fixtures/quirks/salesforce-record-types");
    common::pipewise(&ws, &["init"]);
    std::fs::copy(fixture.join("pipewise.toml"), ws.join("pipewise.toml")).unwrap();
    common::pipewise(
        &ws,
        &[
            "ingest",
            "salesforce",
            fixture.to_str().unwrap(),
            "--as-of",
            "2025-06-30",
        ],
    );
    let export = root.join("export");
    common::pipewise(
        &ws,
        &["export", "--dialect", "postgres", export.to_str().unwrap()],
    );
    let server = Server::start(bin, root, 1);
    server.psql(&export, &["-f", "schema.sql", "-f", "load.sql"]);
    let text = std::fs::read_to_string(fixture.join("pipewise.toml")).unwrap();
    let process = pipewise_model::SalesProcess::from_toml(&text, "pipewise.toml").unwrap();
    let store = pipewise_ledger::Store::open(&ws).unwrap();
    let engine = Engine::open(&store, &process).unwrap();
    let cell = |c: &pipewise_engine::CellValue| match c {
        pipewise_engine::CellValue::Null => String::new(),
        pipewise_engine::CellValue::Int(i) => i.to_string(),
        pipewise_engine::CellValue::Float(f) => f.to_string(),
        pipewise_engine::CellValue::Bool(b) => b.to_string(),
        pipewise_engine::CellValue::Text(t) => t.clone(),
    };
    let cols =
        "id, pipeline, stage, stage_probability, qualified, is_closed, is_won, forecast_category";
    for day in ["2025-01-31", "2025-02-28", "2025-03-31", "2025-06-30"] {
        let at = format!("{day}T23:59:59Z");
        let (_, ours) = pipewise_engine::rows(
            &engine
                .sql(&format!(
                    "SELECT {cols} FROM deal_facts('{at}') ORDER BY id"
                ))
                .unwrap(),
        )
        .unwrap();
        let ours: Vec<String> = ours
            .iter()
            .map(|r| r.iter().map(cell).collect::<Vec<_>>().join("|"))
            .collect();
        let theirs = server.psql(
            &export,
            &[
                "-A",
                "-t",
                "-F",
                "|",
                "-c",
                &format!("SELECT {cols} FROM deal_facts('{at}') ORDER BY id"),
            ],
        );
        let theirs: Vec<String> = theirs
            .lines()
            .map(|l| {
                // psql writes booleans as t/f (the last columns included)
                let mut c: Vec<String> = l.split('|').map(str::to_string).collect();
                for v in c.iter_mut().skip(4).take(3) {
                    *v = match v.as_str() {
                        "t" => "true".into(),
                        "f" => "false".into(),
                        other => other.to_string(),
                    };
                }
                c.join("|")
            })
            .collect();
        assert_eq!(ours, theirs, "deal_facts at {at}");
        if day == "2025-03-31" {
            // Renewals' Negotiation/Review: 90% and qualified, in both engines.
            assert!(
                ours.contains(
                    &"006000000000003AAA|Renewals|Negotiation/Review|90|true|false|false|commit"
                        .to_string()
                ),
                "{ours:#?}"
            );
        }
    }
}
