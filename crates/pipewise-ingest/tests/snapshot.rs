//! Snapshot mode: current-state exports diffed against the ledger, so history
//! accumulates from the first ingest on; the same snapshot twice adds nothing;
//! Parquet inputs go through the same mapping.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use pipewise_ingest::IngestOptions;
use pipewise_ingest::mapping::{self, Mapping};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut};
use pipewise_model::time::{parse_iso_instant, ymd};
use pipewise_model::{Field, SalesProcess, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const MAPPING: &str = r#"
[[files]]
file = "opps.csv"
table = "opportunities"
[files.columns]
id = "id"
stage = "stage"
amount = "amount"
close_date = "close"
owner_id = "owner"
created_at = "created"
"#;

const SNAP1: &str = "id,stage,amount,close,owner,created\n\
O1,Discovery,100,2025-03-31,ana,2025-01-10\n\
O2,Proposal,200,2025-04-30,bo,2025-01-15\n";

const SNAP2: &str = "id,stage,amount,close,owner,created\n\
O1,Proposal,100,2025-03-31,cy,2025-01-10\n\
O2,Proposal,250,2025-04-30,bo,2025-01-15\n\
O3,Qualification,50,2025-05-31,ana,2025-02-10\n";

fn t(day: &str) -> i64 {
    parse_iso_instant(day, true).unwrap()
}

fn ingest(store: &Store, dir: &Path, mapping: &str, as_of: &str) -> pipewise_ingest::IngestOutcome {
    let m = Mapping::from_toml(mapping, "m.toml").unwrap();
    mapping::ingest(
        store,
        &SalesProcess::default_process(),
        dir,
        &m,
        IngestOptions::new(t(as_of), None),
    )
    .unwrap()
}

fn state(store: &Store, day: &str) -> BTreeMap<String, BTreeMap<Field, Value>> {
    let log = store.load(None, false).unwrap();
    asof::states(&log, Cut::at(t(day)))
        .into_iter()
        .map(|s| (s.id, s.values))
        .collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn snapshots_accumulate_history() {
    let dir = tempfile::tempdir().unwrap();
    let (d1, d2) = (dir.path().join("s1"), dir.path().join("s2"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::write(d1.join("opps.csv"), SNAP1).unwrap();
    std::fs::write(d2.join("opps.csv"), SNAP2).unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();

    let first = ingest(&store, &d1, MAPPING, "2025-01-31");
    assert_eq!(first.summary.opportunities_added, 2);
    let second = ingest(&store, &d2, MAPPING, "2025-02-28");
    assert_eq!(second.summary.opportunities_added, 1);

    // As of the first snapshot: its values.
    let s1 = state(&store, "2025-01-31");
    assert_eq!(s1.len(), 2);
    assert_eq!(s1["O1"][&Field::Stage], text("Discovery"));
    assert_eq!(s1["O1"][&Field::OwnerId], text("ana"));
    assert_eq!(s1["O2"][&Field::Amount], Value::Number(200.0));
    // Owners hold since creation; stages only from the snapshot that saw them.
    let early = state(&store, "2025-01-12");
    assert_eq!(early["O1"][&Field::OwnerId], text("ana"));
    assert!(!early["O1"].contains_key(&Field::Stage));
    // As of the second: its values, and O3.
    let s2 = state(&store, "2025-02-28");
    assert_eq!(s2["O1"][&Field::Stage], text("Proposal"));
    assert_eq!(s2["O1"][&Field::OwnerId], text("cy"));
    assert_eq!(s2["O2"][&Field::Amount], Value::Number(250.0));
    assert_eq!(
        s2["O3"][&Field::CloseDate],
        Value::Date(ymd(2025, 5, 31).unwrap())
    );

    // The changes between the snapshots are exactly the differences, stamped with the second --as-of.
    let log = store.load(None, true).unwrap();
    let ch: Vec<(String, String, Option<String>, Option<String>)> =
        asof::changes(&log, t("2025-01-31"), t("2025-02-28"))
            .into_iter()
            .filter(|(_, e)| e.opportunity_id != "O3")
            .map(|(_, e)| {
                (
                    e.opportunity_id,
                    e.field.name().into_owned(),
                    e.old_value.to_canonical_string(),
                    e.new_value.to_canonical_string(),
                )
            })
            .collect();
    let mut ch = ch;
    ch.sort();
    assert_eq!(
        ch,
        vec![
            (
                "O1".into(),
                "owner_id".into(),
                Some("ana".into()),
                Some("cy".into())
            ),
            (
                "O1".into(),
                "stage".into(),
                Some("Discovery".into()),
                Some("Proposal".into())
            ),
            (
                "O2".into(),
                "amount".into(),
                Some("200".into()),
                Some("250".into())
            ),
        ]
    );

    // The same snapshot again adds nothing, even with a later --as-of.
    let again = ingest(&store, &d2, MAPPING, "2025-03-15");
    assert_eq!(
        (
            again.summary.events_added,
            again.summary.opportunities_added
        ),
        (0, 0)
    );
}

#[test]
fn parquet_inputs_use_the_same_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("pq");
    std::fs::create_dir_all(&d).unwrap();
    // SNAP2 as a Parquet file of text columns.
    let mut rdr = csv::Reader::from_reader(SNAP2.as_bytes());
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let cols: Vec<ArrayRef> = (0..headers.len())
        .map(|c| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[c].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_from_iter(headers.iter().cloned().zip(cols)).unwrap();
    let file = std::fs::File::create(d.join("opps.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let store = Store::init(&dir.path().join("ws")).unwrap();
    let out = ingest(
        &store,
        &d,
        &MAPPING.replace("opps.csv", "opps.parquet"),
        "2025-02-28",
    );
    assert_eq!(out.report.files[0].file, "opps.parquet");
    assert_eq!(
        (out.report.files[0].read, out.report.files[0].landed),
        (3, 3)
    );
    let s = state(&store, "2025-02-28");
    assert_eq!(s["O2"][&Field::Amount], Value::Number(250.0));
    assert_eq!(s["O1"][&Field::Stage], text("Proposal"));
}
