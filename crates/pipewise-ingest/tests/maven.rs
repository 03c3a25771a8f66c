//! The Maven CRM data ingests with every row accounted for; expected values are
//! computed here straight from the CSV, independently of the connector.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ingest::IngestOptions;
use pipewise_ingest::mapping::{self, Mapping};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::SalesProcess;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn maven_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/maven_crm");
    assert!(
        d.join("sales_pipeline.csv").exists(),
        "the Maven CRM data is expected at {} (shared/ beside the repository)",
        d.display()
    );
    d
}

fn mapping_text() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/maven-crm.toml"),
    )
    .unwrap()
}

fn pipeline_rows() -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(maven_dir().join("sales_pipeline.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn as_of() -> i64 {
    pipewise_model::time::parse_iso_instant("2017-12-31", true).unwrap()
}

#[test]
fn maven_crm_ingests_with_every_row_accounted_for() {
    let rows = pipeline_rows();
    let gtxpro = rows.iter().filter(|r| r["product"] == "GTXPro").count() as u64;
    assert_eq!(gtxpro, 1480);
    let mut by_stage: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for r in &rows {
        let stage = match r["deal_stage"].as_str() {
            "Won" => "Closed Won",
            "Lost" => "Closed Lost",
            "Engaging" => "Discovery",
            _ => "Qualification",
        };
        let e = by_stage.entry(stage).or_default();
        e.0 += 1;
        e.1 += r["close_value"].parse::<f64>().unwrap_or(0.0);
    }

    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let process = SalesProcess::default_process();
    let m = Mapping::from_toml(&mapping_text(), "maven-crm.toml").unwrap();
    let out = mapping::ingest(
        &store,
        &process,
        &maven_dir(),
        &m,
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    let rep = &out.report;
    assert!(rep.reconciles());
    let tally: BTreeMap<&str, (u64, u64, u64)> = rep
        .files
        .iter()
        .map(|f| (f.file.as_str(), (f.read, f.landed, f.quarantined)))
        .collect();
    assert_eq!(tally["sales_pipeline.csv"], (8800, 8800, 0));
    assert_eq!(tally["sales_teams.csv"], (35, 35, 0));
    assert_eq!(tally["accounts.csv"], (85, 85, 0));
    assert_eq!(tally["products.csv"], (7, 7, 0));
    assert_eq!(rep.skipped_files, vec!["data_dictionary.csv".to_string()]);
    // The GTXPro / GTX Pro mismatch is fixed by the mapping, and reported.
    assert_eq!(rep.checks["value_mapped"].count, gtxpro);
    assert!(
        !rep.checks.contains_key("orphan_reference"),
        "{:?}",
        rep.checks.get("orphan_reference")
    );
    assert_eq!(out.summary.opportunities_added, 8800);

    // As of the end of 2017, stage counts and amounts equal the CSV's.
    let log = store.load(None, false).unwrap();
    let got = &asof::totals(&log, &process, &GroupBy::Stage, &[Cut::at(as_of())], false)[0];
    let got: BTreeMap<&str, (u64, f64)> = got
        .iter()
        .map(|g| (g.group.as_str(), (g.count, g.amount)))
        .collect();
    assert_eq!(got.len(), by_stage.len());
    for (s, (c, a)) in &by_stage {
        assert_eq!(got[s].0, *c, "{s}");
        assert!((got[s].1 - a).abs() < 1e-6, "{s}");
    }
    // Users: 35 agents plus their 6 managers.
    let users: usize = store
        .read_table("users")
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(users, 41);
    // Before any engagement (2016-10-01) no deal existed yet.
    let early = pipewise_model::time::parse_iso_instant("2016-10-01", true).unwrap();
    assert!(asof::totals(&log, &process, &GroupBy::Stage, &[Cut::at(early)], false)[0].is_empty());
}

#[test]
fn without_the_fix_the_product_mismatch_is_reported_not_dropped() {
    let text = mapping_text().replace("[files.fixes.\"custom.product\"]\nGTXPro = \"GTX Pro\"", "");
    let m = Mapping::from_toml(&text, "maven-crm.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = mapping::ingest(
        &store,
        &SalesProcess::default_process(),
        &maven_dir(),
        &m,
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    let orphan = &out.report.checks["orphan_reference"];
    assert_eq!(orphan.count, 1480);
    assert!(orphan.examples[0].contains("GTXPro"));
    assert_eq!(
        out.report
            .files
            .iter()
            .find(|f| f.file == "sales_pipeline.csv")
            .unwrap()
            .landed,
        8800
    );
}

#[test]
fn invalid_mappings_name_file_and_line() {
    let err = Mapping::from_toml("[[files]]\nfile = \"a.csv\"\ntable = \"nope\"\n", "m.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("m.toml:") && err.contains("line 3"),
        "{err}"
    );
    let err = Mapping::from_toml("[[files]]\nfile = \"a.csv\"\ntable = \"opportunities\"\n[files.columns]\nid = \"x\"\nstagee = \"y\"\n", "m.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"stagee\" is not a field"), "{err}");
}
