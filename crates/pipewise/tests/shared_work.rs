//! Work shared between metrics gives exactly what each metric gives alone:
//! the library evaluated together (one scan per kind of rows, as `pipewise
//! metric` over several metrics does) and a scorecard's breakdowns (summed
//! once by all their dimensions and rolled up) against each metric and
//! breakdown evaluated on its own, on a synthetic company under four query
//! shapes (all history; a quarter by owner; as of a past day by team; known
//! by a day, under a manager, by region). Needs no server: always runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use pipewise_engine::Engine;
use pipewise_metrics::{Library, MetricQuery, evaluate};
use std::path::Path;
use std::process::Command;

fn pipewise(ws: &Path, args: &[&str]) {
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

#[test]
fn metrics_evaluated_together_and_rolled_up_match_each_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    pipewise(&ws, &["synth", "--size", "1500", "--seed", "11"]);
    let settings = pipewise_model::SalesProcess::default_process();
    let store = pipewise_ledger::Store::open(&ws).unwrap();
    let engine = Engine::open(&store, &settings).unwrap();
    let lib = Library::built_in().unwrap();
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
    // Evaluating the library together (one scan per kind of rows, as
    // `pipewise scorecard` does) gives exactly what evaluating each alone gives.
    let all: Vec<&pipewise_metrics::Metric> = lib.metrics.values().collect();
    for (label, q) in &shapes {
        let together = pipewise_metrics::evaluate_many(&engine, &all, q);
        for (m, t) in all.iter().zip(together) {
            assert_eq!(
                t.unwrap(),
                evaluate(&engine, m, q).unwrap(),
                "{} ({label}): together vs alone",
                m.name
            );
        }
    }

    // A scorecard's breakdowns, aggregated once by all their dimensions and
    // rolled up, give exactly what each breakdown evaluated alone gives
    // (errors included: quota by segment, leads by stage).
    let breakdowns: Vec<Vec<String>> = [
        &[][..],
        &["owner"],
        &["team"],
        &["segment"],
        &["region"],
        &["manager"],
        &["stage"],
        &["source"],
        &["region", "segment"],
        &["owner", "team"],
    ]
    .iter()
    .map(|b| b.iter().map(|d| d.to_string()).collect())
    .collect();
    for (label, q) in &shapes {
        let rolled = pipewise_metrics::evaluate_breakdowns(&engine, &all, q, &breakdowns);
        for (by, results) in breakdowns.iter().zip(rolled) {
            let alone_q = MetricQuery {
                by: by.clone(),
                ..q.clone()
            };
            for (m, r) in all.iter().zip(results) {
                assert_eq!(
                    r.map_err(|e| e.to_string()),
                    evaluate(&engine, m, &alone_q).map_err(|e| e.to_string()),
                    "{} ({label}, by {by:?}): rolled up vs alone",
                    m.name
                );
            }
        }
    }
}
