//! Work shared between metrics gives exactly what each metric gives alone:
//! the library evaluated together (one scan per kind of rows, as `pipewise
//! metric` over several metrics does) and a scorecard's breakdowns (summed
//! once by all their dimensions and rolled up) against each metric and
//! breakdown evaluated on its own, on a synthetic company under four query
//! shapes (all history; a quarter by owner; as of a past day by team; known
//! by a day, under a manager, by region). Needs no server: always runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod common;

use pipewise_metrics::{Library, MetricQuery, evaluate};

#[test]
fn metrics_evaluated_together_and_rolled_up_match_each_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    common::synth_company(&ws);
    let (engine, shapes) = common::engine_and_shapes(&ws);
    let lib = Library::built_in().unwrap();
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
