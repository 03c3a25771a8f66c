//! HubSpot deals export: stage history from "Date entered" columns, checked
//! against values worked out by hand from the fixture.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ingest::{IngestOptions, hubspot};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::time::parse_iso_instant;
use pipewise_model::{Field, SalesProcess, Value};
use std::collections::BTreeMap;

const DEALS: &str = r#"Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal owner,Deal probability,Last Modified Date,"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Qualified To Buy (Sales Pipeline)""","Date entered ""Contract Sent (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)""","Date entered ""Closed Lost (Sales Pipeline)""","Date entered ""Onboarding (Customer Pipeline)"""
101,Acme,Closed Won,5000,2025-03-20,2025-01-05 10:00,Ana Silva,1,2025-03-20 16:00,2025-01-05 10:00,2025-01-20 11:00,2025-03-01 09:00,2025-03-20 15:00,,
102,Beta,Qualified To Buy,12000,2025-06-30,2025-02-01 09:00,Bo Chen,0.4,2025-02-10 12:00,2025-02-01 09:00,2025-02-10 12:00,,,,
103,Gamma,Closed Lost,,2025-04-15,2025-02-15 09:00,Ana Silva,0,2025-04-15 10:00,2025-02-15 09:00,,,,2025-04-15 10:00,
104,Delta,Contract Sent,abc,2025-05-01,2025-03-01 09:00,Bo Chen,0.9,2025-03-02 09:00,2025-03-01 09:00,,2025-03-02 09:00,,,
105,Eps,Demo Booked,100,2025-05-01,2025-03-01 09:00,Bo Chen,0.2,2025-03-02 09:00,2025-03-01 09:00,,,,,
102,Beta,Qualified To Buy,12000,2025-06-30,2025-02-01 09:00,Bo Chen,0.4,2025-02-10 12:00,2025-02-01 09:00,2025-02-10 12:00,,,,
106,Zeta,Contract Sent,8000,2025-04-30,2025-02-05 09:00,Ana Silva,0.9,2025-03-05 09:00,2025-02-05 09:00,2025-02-20 09:00,,,,
"#;

fn by_stage(log: &pipewise_ledger::EventLog, day: &str) -> BTreeMap<String, (u64, f64)> {
    let t = parse_iso_instant(day, true).unwrap();
    asof::totals(
        log,
        &SalesProcess::default_process(),
        &GroupBy::Stage,
        &[Cut::at(t)],
        false,
    )[0]
    .iter()
    .map(|g| (g.group.clone(), (g.count, g.amount)))
    .collect()
}

fn m(pairs: &[(&str, u64, f64)]) -> BTreeMap<String, (u64, f64)> {
    pairs
        .iter()
        .map(|(s, c, a)| (s.to_string(), (*c, *a)))
        .collect()
}

#[test]
fn hubspot_deals_with_stage_history() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hs");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("all-deals.csv"), DEALS).unwrap();
    std::fs::write(export.join("notes.csv"), "a,b\n1,2\n").unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = parse_iso_instant("2025-06-30", true).unwrap();
    let out = hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions {
            as_of,
            date_order: None,
        },
    )
    .unwrap();
    let r = &out.report;
    assert_eq!(r.files.len(), 1);
    let f = &r.files[0];
    assert_eq!((f.read, f.landed, f.quarantined), (7, 4, 3));
    assert_eq!(r.skipped_files, vec!["notes.csv".to_string()]);
    for k in [
        "unparsable_number",
        "unknown_stage",
        "duplicate_row",
        "history_current_mismatch",
    ] {
        assert_eq!(r.checks[k].count, 1, "{k}");
    }

    let log = store.load(None, false).unwrap();
    // Worked out by hand from the fixture. Amounts come from the current record,
    // so they are known from each deal's Last Modified Date on.
    assert_eq!(by_stage(&log, "2025-01-31"), m(&[("Discovery", 1, 0.0)]));
    assert_eq!(
        by_stage(&log, "2025-02-28"),
        m(&[("Discovery", 3, 12000.0), ("Qualification", 1, 0.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-03-31"),
        m(&[
            ("Qualification", 1, 0.0),
            ("Discovery", 1, 12000.0),
            ("Redlining", 1, 8000.0),
            ("Closed Won", 1, 5000.0)
        ])
    );
    assert_eq!(
        by_stage(&log, "2025-04-30"),
        m(&[
            ("Discovery", 1, 12000.0),
            ("Redlining", 1, 8000.0),
            ("Closed Won", 1, 5000.0),
            ("Closed Lost", 1, 0.0)
        ])
    );
    let states: BTreeMap<String, _> = asof::states(&log, Cut::at(as_of))
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    assert_eq!(
        states["101"].get(&Field::Probability),
        &Value::Number(100.0)
    );
    assert_eq!(states["102"].get(&Field::Probability), &Value::Number(40.0));
    assert_eq!(
        states["101"].get(&Field::OwnerId),
        &Value::Text("Ana Silva".into())
    );
    assert_eq!(
        states["103"].get(&Field::CloseDate),
        &Value::Date(pipewise_model::time::ymd(2025, 4, 15).unwrap())
    );
}

#[test]
fn unknown_stage_in_a_used_history_column_stops_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hs");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("deals.csv"),
        "Record ID,Deal Stage,Create Date,\"Date entered \"\"Demo Booked (Sales Pipeline)\"\"\"\n1,Qualified To Buy,2025-01-01 10:00,2025-01-02 10:00\n",
    )
    .unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = parse_iso_instant("2025-06-30", true).unwrap();
    let err = hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions {
            as_of,
            date_order: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Demo Booked") && err.contains("aliases"),
        "{err}"
    );
}
