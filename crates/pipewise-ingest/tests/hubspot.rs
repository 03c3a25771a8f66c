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
        IngestOptions::new(as_of, None),
    )
    .unwrap();
    let r = &out.report;
    assert_eq!(r.files.len(), 1);
    let f = &r.files[0];
    // Delta's unreadable amount leaves the amount unknown; the deal lands.
    assert_eq!((f.read, f.landed, f.quarantined), (6, 5, 1));
    assert_eq!((f.lines, f.lines_read), (7, 7));
    assert_eq!(r.skipped_files, vec!["notes.csv".to_string()]);
    for k in [
        "field:unparsable_number",
        "duplicate_row",
        "history_current_mismatch",
    ] {
        assert_eq!(r.checks[k].count, 1, "{k}");
    }

    let log = store.load(None, false).unwrap();
    // Worked out by hand from the fixture. HubSpot keeps no amount history:
    // each deal's current amount is its amount since creation (carried back).
    assert_eq!(by_stage(&log, "2025-01-31"), m(&[("Discovery", 1, 5000.0)]));
    assert_eq!(
        by_stage(&log, "2025-02-28"),
        m(&[("Discovery", 3, 25000.0), ("Qualification", 1, 0.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-03-31"),
        m(&[
            ("Qualification", 1, 0.0),
            ("Discovery", 1, 12000.0),
            ("Redlining", 2, 8000.0),
            ("Closed Won", 1, 5000.0)
        ])
    );
    assert_eq!(
        by_stage(&log, "2025-04-30"),
        m(&[
            ("Discovery", 1, 12000.0),
            ("Redlining", 2, 8000.0),
            ("Closed Won", 1, 5000.0),
            ("Closed Lost", 1, 0.0)
        ])
    );
    // The strict reading sees only what was recorded by then: stage entries
    // at their dates; carried-back amounts and Zeta's current stage only from
    // the ingest on.
    let t = parse_iso_instant("2025-03-31", true).unwrap();
    let known: BTreeMap<String, (u64, f64)> = asof::totals(
        &log,
        &SalesProcess::default_process(),
        &GroupBy::Stage,
        &[Cut::known_at(t)],
        false,
    )[0]
    .iter()
    .map(|g| (g.group.clone(), (g.count, g.amount)))
    .collect();
    assert_eq!(
        known,
        m(&[
            ("Qualification", 1, 0.0),
            ("Discovery", 2, 0.0),
            ("Redlining", 1, 0.0),
            ("Closed Won", 1, 0.0)
        ])
    );
    let carried = log
        .all_events()
        .into_iter()
        .filter(|(_, e)| e.field == Field::Amount)
        .map(|(_, e)| (e.opportunity_id, e.source))
        .collect::<Vec<_>>();
    // 103 has no amount and 104 an unreadable one: no event for either.
    assert_eq!(carried.len(), 3, "{carried:?}");
    assert!(carried.iter().all(|(_, s)| s == "hubspot:carried_back"));
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

/// Quirks: several pipelines whose names hold parentheses, labels with stray
/// spaces, HubSpot's own "Not forecasted" category and an unknown one.
const PIPELINES: &str = r#"Record ID,Deal Name,Deal Stage,Pipeline,Amount,Close Date,Create Date,Forecast category,Last Modified Date,"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Contract Sent (Sales Pipeline)""","Date entered ""Appointment Scheduled  (West (CA, OR) )""","Date entered 'Contract Sent (West (CA, OR) )'"
201,A,Contract Sent,Sales Pipeline,1000,2025-05-01,2025-01-10 09:00,Commit,2025-02-01 09:00,2025-01-10 09:00,2025-02-01 09:00,,
202,B,Appointment Scheduled ,"West (CA, OR)",2000,2025-05-01,2025-01-15 09:00,Not forecasted,2025-01-15 09:00,,,2025-01-15 09:00,
203,C,Contract Sent,"West (CA, OR)",3000,2025-05-01,2025-01-20 09:00,Maybe later,2025-03-01 09:00,2025-01-21 09:00,,2025-01-20 09:00,2025-03-01 09:00
"#;

#[test]
fn hubspot_pipelines_with_parentheses_and_its_own_forecast_categories() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hs");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("deals.csv"), PIPELINES).unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = parse_iso_instant("2025-06-30", true).unwrap();
    let out = hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions::new(as_of, None),
    )
    .unwrap();
    let f = &out.report.files[0];
    assert_eq!((f.read, f.landed, f.quarantined), (3, 3, 0));
    // The unknown category is reported at field level, in the quarantine file too.
    assert_eq!(out.report.checks["field:unknown_value"].count, 1);
    let q = std::fs::read_to_string(store.root().join(&out.quarantine_path)).unwrap();
    let line = q.lines().find(|l| l.contains("Maybe later")).unwrap();
    assert!(
        line.starts_with("deals.csv,4,Forecast category,Maybe later,unknown_value,")
            && line.ends_with("field left unknown; row landed"),
        "{line}"
    );
    let log = store.load(None, false).unwrap();
    // 203 is in West: the Sales Pipeline column's date is not its history.
    assert_eq!(
        by_stage(&log, "2025-02-15"),
        m(&[("Qualification", 2, 5000.0), ("Redlining", 1, 1000.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-03-31"),
        m(&[("Qualification", 1, 2000.0), ("Redlining", 2, 4000.0)])
    );
    let states: BTreeMap<String, _> = asof::states(&log, Cut::at(as_of))
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let fc = |id: &str| states[id].get(&Field::ForecastCategory).clone();
    assert_eq!(fc("201"), Value::Text("commit".into()));
    assert_eq!(fc("202"), Value::Text("omitted".into()));
    assert_eq!(fc("203"), Value::Null, "left unknown");
    // "Not forecasted" holds since creation (carried back, the deal is open).
    let early = asof::states(
        &log,
        Cut::at(parse_iso_instant("2025-01-16", true).unwrap()),
    );
    let b = early.iter().find(|s| s.id == "202").unwrap();
    assert_eq!(
        b.get(&Field::ForecastCategory),
        &Value::Text("omitted".into())
    );
}

#[test]
fn unknown_stages_stop_the_ingest_listing_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hs");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("deals.csv"),
        "Record ID,Deal Stage,Create Date,\"Date entered \"\"Discovery Call (Sales Pipeline)\"\"\"\n\
         1,Demo Booked,2025-01-01 10:00,\n\
         2,Qualified To Buy,2025-01-01 10:00,2025-01-02 10:00\n\
         3,Demo Booked,2025-01-01 10:00,\n\
         4,Negotiating,2025-01-01 10:00,\n",
    )
    .unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = parse_iso_instant("2025-06-30", true).unwrap();
    let err = hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions::new(as_of, None),
    )
    .unwrap_err()
    .to_string();
    for want in [
        "3 stage(s)",
        "\"Demo Booked\": 2 row(s) in deals.csv, first at line 2",
        "\"Discovery Call\": 1 row(s) in deals.csv, first at line 3",
        "\"Negotiating\": 1 row(s) in deals.csv, first at line 5",
        "nothing was written",
        "aliases = [\"…\", \"Demo Booked\", \"Discovery Call\", \"Negotiating\"]",
        "name = \"Negotiating\"",
    ] {
        assert!(err.contains(want), "{want:?} in {err}");
    }
    assert_eq!(store.manifest().unwrap().version, 0, "nothing landed");
}

#[test]
fn hubspot_amounts_in_company_currency() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hs");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("deals.csv"),
        "Record ID,Deal Stage,Amount,Amount in company currency,Currency,Close Date,Create Date,Last Modified Date\n\
         1,Appointment Scheduled,1000,1000,USD,2025-05-01,2025-01-10 09:00,2025-01-10 09:00\n\
         2,Appointment Scheduled,150000,1000,JPY,2025-05-01,2025-01-10 09:00,2025-01-10 09:00\n\
         3,Appointment Scheduled,900,,EUR,2025-05-01,2025-01-10 09:00,2025-01-10 09:00\n",
    )
    .unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = parse_iso_instant("2025-06-30", true).unwrap();
    let out = hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions::new(as_of, None),
    )
    .unwrap();
    assert_eq!(out.report.checks["field:no_exchange_rate"].count, 1);
    let log = store.load(None, false).unwrap();
    // 1,000 dollars + 150,000 yen at HubSpot's 1,000 dollars; the euros are not guessed.
    assert_eq!(
        by_stage(&log, "2025-02-01"),
        m(&[("Qualification", 3, 2000.0)])
    );
    let states: BTreeMap<String, _> = asof::states(&log, Cut::at(as_of))
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    assert_eq!(
        states["2"].get(&Field::AmountNative),
        &Value::Number(150000.0)
    );
    assert_eq!(states["2"].get(&Field::FxRate), &Value::Number(150.0));
    assert_eq!(states["3"].get(&Field::Amount), &Value::Null);
    assert_eq!(states["3"].get(&Field::AmountNative), &Value::Number(900.0));
}
