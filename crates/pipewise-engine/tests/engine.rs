//! SQL over the canonical tables agrees with the ledger's own as-of.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_engine::{CellValue, Engine, rows};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::SalesProcess;
use pipewise_synth::{Config, Size, generate};
use std::collections::BTreeMap;

fn int(v: &CellValue) -> i64 {
    match v {
        CellValue::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn sql_over_the_ledger() {
    let process = SalesProcess::default_process();
    let company = generate(
        &Config::new(5, Size::Opportunities(600)),
        &process,
        &mut |_, _| {},
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    company.commit(&store).unwrap();
    let engine = Engine::open(&store, &process).unwrap();

    // Entity tables come straight from Parquet.
    let (_, r) = rows(&engine.sql("SELECT count(*) FROM users").unwrap()).unwrap();
    assert_eq!(int(&r[0][0]), company.users.len() as i64);

    // The ledger's canonical view has every event.
    let log = store.load(None, true).unwrap();
    let (_, r) = rows(
        &engine
            .sql("SELECT count(*) FROM opportunity_events")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(int(&r[0][0]), log.event_count() as i64);
    let (_, r) = rows(&engine.sql("SELECT count(*) FROM opportunity_events WHERE field = 'stage' AND new_value = 'Closed Won'").unwrap()).unwrap();
    let won_events = log
        .all_events()
        .iter()
        .filter(|(_, e)| {
            e.field == pipewise_model::Field::Stage && e.new_value.as_text() == Some("Closed Won")
        })
        .count();
    assert_eq!(int(&r[0][0]), won_events as i64);

    // pipeline_as_of equals the ledger's grouped totals, at several times.
    for day in ["2025-03-31", "2025-12-31", "2026-06-30"] {
        let t = pipewise_model::time::parse_iso_instant(day, true).unwrap();
        let q = format!(
            "SELECT stage, count(*) AS n, sum(amount) AS amount FROM pipeline_as_of('{day}') GROUP BY stage ORDER BY stage"
        );
        let (cols, r) = rows(&engine.sql(&q).unwrap()).unwrap();
        assert_eq!(cols, vec!["stage", "n", "amount"]);
        let got: BTreeMap<String, i64> = r
            .iter()
            .map(|row| {
                let s = match &row[0] {
                    CellValue::Text(s) => s.clone(),
                    _ => "(none)".into(),
                };
                (s, int(&row[1]))
            })
            .collect();
        let want: BTreeMap<String, i64> =
            asof::totals(&log, &process, &GroupBy::Stage, &[Cut::at(t)], false)[0]
                .iter()
                .map(|g| (g.group.clone(), g.count as i64))
                .collect();
        assert_eq!(got, want, "{day}");
    }
    // The current-state table equals the latest as-of; known-as-of works as a second argument.
    let (_, a) = rows(
        &engine
            .sql("SELECT count(*) FROM opportunities WHERE is_won")
            .unwrap(),
    )
    .unwrap();
    let (_, b) = rows(
        &engine
            .sql("SELECT count(*) FROM pipeline_as_of('2100-01-01', true) WHERE is_won")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(int(&a[0][0]), int(&b[0][0]));
    // Bad arguments are plan errors naming the function.
    let err = engine
        .sql("SELECT * FROM pipeline_as_of('yesterday')")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("pipeline_as_of") && err.contains("yesterday"),
        "{err}"
    );
}

#[test]
fn sql_is_read_only() {
    let process = SalesProcess::default_process();
    let company = generate(
        &Config::new(5, Size::Opportunities(50)),
        &process,
        &mut |_, _| {},
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    company.commit(&store).unwrap();
    let engine = Engine::open(&store, &process).unwrap();
    let (_, before) = rows(&engine.sql("SELECT count(*) FROM users").unwrap()).unwrap();
    let out = dir.path().join("copied.csv");
    for q in [
        "DROP TABLE users".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "CREATE VIEW v AS SELECT * FROM users".to_string(),
        "INSERT INTO users SELECT * FROM users".to_string(),
        format!("COPY users TO '{}'", out.display()),
        "SET datafusion.execution.batch_size = 10".to_string(),
    ] {
        let err = engine.sql(&q).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("read-only")),
            "{q}: {err:?}"
        );
    }
    assert!(!out.exists(), "COPY wrote nothing");
    let (_, after) = rows(&engine.sql("SELECT count(*) FROM users").unwrap()).unwrap();
    assert_eq!(int(&before[0][0]), int(&after[0][0]));
    assert!(
        engine.sql("SELECT * FROM t").is_err(),
        "no table was created"
    );
}

/// Queries started on rayon's workers, many at once (a scorecard's groups,
/// the server's requests): a worker waiting for one query's parallel work
/// takes another query from the pool, which used to start a runtime inside
/// a runtime and abort the process. Each answer is the one the same query
/// gives alone on a fresh engine.
#[test]
fn queries_started_on_rayon_workers_may_nest() {
    use rayon::prelude::*;
    let process = SalesProcess::default_process();
    let company = generate(
        &Config::new(11, Size::Opportunities(600)),
        &process,
        &mut |_, _| {},
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    company.commit(&store).unwrap();
    let days: Vec<String> = (2024..=2026)
        .flat_map(|y| {
            (1..=12).flat_map(move |m| [format!("{y}-{m:02}-10"), format!("{y}-{m:02}-25")])
        })
        .collect();
    // each day a cut of its own: every query builds its columns (two or
    // more, in parallel) as it runs
    let query = |d: &str| {
        // (every column: a task each)
        format!("SELECT * FROM pipeline_as_of('{d}') ORDER BY 1 LIMIT 3")
    };
    let engine = std::sync::Arc::new(Engine::open(&store, &process).unwrap());
    // Each query a job of its own on the pool (as the server's requests
    // are), with other parallel work between them: a worker waiting in that
    // work takes a query's column tasks, so the query's worker waits in
    // turn, and takes the next queued job — another query.
    let other = |i: usize| -> u64 {
        (0..20_000u32)
            .into_par_iter()
            .with_max_len(64)
            .map(|x| (u64::from(x) * 2_654_435_761 + i as u64) % 1_000_003)
            .sum()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, d) in days.iter().enumerate() {
        let (engine, tx, q) = (engine.clone(), tx.clone(), query(d));
        rayon::spawn(move || {
            let r = format!("{:?}", rows(&engine.sql(&q).unwrap()).unwrap().1);
            let _ = tx.send((i, r));
        });
        rayon::spawn(move || {
            std::hint::black_box(other(i));
        });
    }
    drop(tx);
    let mut parallel: Vec<(usize, String)> = rx.iter().collect();
    parallel.sort();
    assert_eq!(parallel.len(), days.len());
    let parallel: Vec<String> = parallel.into_iter().map(|p| p.1).collect();
    let alone = Engine::open(&store, &process).unwrap();
    for (d, got) in days.iter().zip(&parallel) {
        let want = format!("{:?}", rows(&alone.sql(&query(d)).unwrap()).unwrap().1);
        assert_eq!(got, &want, "{d}");
    }
}
