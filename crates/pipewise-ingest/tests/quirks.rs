//! One hand-built fixture per quirk of real CRM exports that the connectors
//! handle (`../shared/research/crm-export-quirks.md`), each named after its
//! quirk; expected values are worked out by hand from the fixture.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ingest::{IngestOptions, salesforce};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::time::parse_iso_instant;
use pipewise_model::{Field, SalesProcess, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/quirks")
        .join(name)
}

fn by_stage(log: &pipewise_ledger::EventLog, day: &str) -> BTreeMap<String, (u64, f64)> {
    by_stage_in(log, &SalesProcess::default_process(), day)
}

fn by_stage_in(
    log: &pipewise_ledger::EventLog,
    process: &SalesProcess,
    day: &str,
) -> BTreeMap<String, (u64, f64)> {
    let t = parse_iso_instant(day, true).unwrap();
    asof::totals(log, process, &GroupBy::Stage, &[Cut::at(t)], false)[0]
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

/// The process `init --from` proposes for a fixture, and its TOML.
fn proposed(export: &Path) -> (SalesProcess, String) {
    let proposal = pipewise_ingest::propose::propose(export).unwrap();
    let process = SalesProcess::from_toml(&proposal.toml, "proposed").unwrap();
    (process, proposal.toml)
}

/// The stage names of one of a process's pipelines, in order.
fn stage_names(process: &SalesProcess, pipeline: usize) -> Vec<String> {
    process.pipelines()[pipeline]
        .codes()
        .map(|c| process.stages()[c].name.clone())
        .collect()
}

/// A Salesforce export ingested with the default process at [`as_of`].
fn ingest_default(
    store: &Store,
    export: &Path,
) -> Result<pipewise_ingest::IngestOutcome, pipewise_ingest::IngestError> {
    salesforce::ingest(
        store,
        &SalesProcess::default_process(),
        export,
        IngestOptions::new(as_of(), None),
    )
}

fn as_of() -> i64 {
    parse_iso_instant("2025-06-30", true).unwrap()
}

#[test]
fn salesforce_history_starts_after_created() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let process = SalesProcess::default_process();
    let out = salesforce::ingest(
        &store,
        &process,
        &fixture("salesforce-history-starts-after-created"),
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    assert!(out.report.reconciles());
    assert!(out.quarantine.is_empty(), "{:?}", out.quarantine);
    assert_eq!(out.report.checks["history_starts_after_created"].count, 3);
    assert_eq!(out.report.checks["inferred_open_before_close"].count, 2);
    let log = store.load(None, false).unwrap();
    // 1 (won 03-15) and 2 (lost 02-20) were open, in Qualification, until
    // their first history row; 3's first row is open, so it holds from creation.
    assert_eq!(
        by_stage(&log, "2025-01-31"),
        m(&[("Qualification", 3, 80000.0), ("Proposal", 1, 30000.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-02-28"),
        m(&[
            ("Qualification", 2, 60000.0),
            ("Proposal", 1, 30000.0),
            ("Closed Lost", 1, 20000.0)
        ])
    );
    assert_eq!(
        by_stage(&log, "2025-03-31"),
        m(&[
            ("Proposal", 1, 30000.0),
            ("Negotiation", 1, 10000.0),
            ("Closed Won", 1, 50000.0),
            ("Closed Lost", 1, 20000.0)
        ])
    );
    assert_eq!(
        by_stage(&log, "2025-04-30"),
        m(&[
            ("Negotiation", 1, 10000.0),
            ("Closed Won", 2, 80000.0),
            ("Closed Lost", 1, 20000.0)
        ])
    );
    let state = |day: &str, id: &str, f: Field| {
        asof::states(&log, Cut::at(parse_iso_instant(day, true).unwrap()))
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
            .get(&f)
            .clone()
    };
    let won = "006000000000001AAA";
    // Before the close: the first open stage's forecast category and probability.
    assert_eq!(
        state("2025-01-31", won, Field::ForecastCategory),
        Value::Text("pipeline".into())
    );
    assert_eq!(
        state("2025-01-31", won, Field::Probability),
        Value::Number(10.0)
    );
    assert_eq!(
        state("2025-03-31", won, Field::ForecastCategory),
        Value::Text("closed".into())
    );
    // The inferred stage says where it came from, and was recorded only with
    // the history row (a backtest before it sees nothing of the deal's stage).
    let inferred: Vec<_> = log
        .all_events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.field == Field::Stage && e.opportunity_id == won)
        .collect();
    assert_eq!(inferred.len(), 2, "{inferred:?}");
    assert_eq!(inferred[0].source, "salesforce:inferred_open");
    assert_eq!(inferred[0].new_value, Value::Text("Qualification".into()));
    assert_eq!(
        inferred[0].effective_at,
        parse_iso_instant("2025-01-10T09:00:00Z", false).unwrap()
    );
    assert_eq!(
        inferred[0].recorded_at,
        parse_iso_instant("2025-03-15T10:00:00Z", false).unwrap()
    );
    assert_eq!(inferred[1].new_value, Value::Text("Closed Won".into()));
}

/// Opportunity.csv as Data Loader writes it, with a stray opening quote in
/// line 4 and a legitimately quoted name (with a comma) in line 7.
const STRAY_QUOTE: &str = "Id,Name,StageName,Amount,CloseDate,CreatedDate\n\
006000000000001AAA,Alpha,Prospecting,100,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000002AAA,Beta,Prospecting,200,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000003AAA,\"Gamma,Prospecting,300,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000004AAA,Delta,Prospecting,400,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000005AAA,Eps,Prospecting,500,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000006AAA,\"Omega, Inc\",Prospecting,600,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000007AAA,Zeta,Prospecting,700,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000008AAA,\"Multi\nline name\",Prospecting,800,2025-03-01,2025-01-01T00:00:00Z\n\
006000000000009AAA,Eta,Prospecting,900,2025-03-01,2025-01-01T00:00:00Z\n";

#[test]
fn salesforce_stray_quote_loses_one_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("Opportunity.csv"), STRAY_QUOTE).unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let out = ingest_default(&store, &export).unwrap();
    let f = &out.report.files[0];
    assert_eq!((f.read, f.landed, f.quarantined), (9, 8, 1));
    assert_eq!((f.lines, f.lines_read), (11, 11));
    assert_eq!(out.quarantine[0].row, 4);
    assert!(out.quarantine[0].raw_value.contains("\"Gamma"));
    let log = store.load(None, false).unwrap();
    // Every other deal lands whole: name and amount of the rows after the quote.
    let states = asof::states(&log, Cut::at(as_of()));
    assert_eq!(states.len(), 8);
    let name = |id: &str| {
        states
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .get(&Field::Name)
            .clone()
    };
    assert_eq!(name("006000000000004AAA"), Value::Text("Delta".into()));
    assert_eq!(name("006000000000006AAA"), Value::Text("Omega, Inc".into()));
    assert_eq!(
        name("006000000000008AAA"),
        Value::Text("Multi\nline name".into())
    );
    // (No history and no LastModifiedDate: stage and amount are known as of the ingest.)
    assert_eq!(
        by_stage(&log, "2025-06-30"),
        m(&[("Qualification", 8, 4200.0)])
    );
}

#[test]
fn salesforce_one_windows_1252_row_in_a_utf8_file() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    let mut bytes = "Id,Name,StageName,CreatedDate\n\
        006000000000001AAA,Zürich Straße AG,Prospecting,2025-01-01T00:00:00Z\n"
        .as_bytes()
        .to_vec();
    bytes.extend(b"006000000000002AAA,Caf\xe9 M\xfcller,Prospecting,2025-01-01T00:00:00Z\n");
    bytes.extend("006000000000003AAA,São Paulo Ltda,Prospecting,2025-01-01T00:00:00Z\n".as_bytes());
    std::fs::write(export.join("Opportunity.csv"), bytes).unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let out = ingest_default(&store, &export).unwrap();
    assert_eq!(out.report.checks["decoded_windows_1252"].count, 1);
    assert!(out.report.checks["decoded_windows_1252"].examples[0].starts_with("Opportunity.csv:3"));
    let log = store.load(None, false).unwrap();
    let names: BTreeMap<String, Value> = asof::states(&log, Cut::at(as_of()))
        .into_iter()
        .map(|s| (s.id.clone(), s.get(&Field::Name).clone()))
        .collect();
    assert_eq!(
        names["006000000000001AAA"],
        Value::Text("Zürich Straße AG".into())
    );
    assert_eq!(
        names["006000000000002AAA"],
        Value::Text("Café Müller".into())
    );
    assert_eq!(
        names["006000000000003AAA"],
        Value::Text("São Paulo Ltda".into())
    );
}

#[test]
fn salesforce_standard_stage_picklist() {
    let export = fixture("salesforce-standard-stage-picklist");
    // The default process folds Prospecting into Qualification: the ingest says so.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("a")).unwrap();
    let out = ingest_default(&store, &export).unwrap();
    let folds: Vec<&String> = out
        .report
        .warnings
        .iter()
        .filter(|w| w.contains("fold into stage"))
        .collect();
    // Prospecting + Qualification, Needs Analysis + Value Proposition, and three into Proposal
    assert_eq!(folds.len(), 3, "{folds:?}");
    assert!(
        folds
            .iter()
            .any(|w| w.contains("\"Prospecting\" (6 rows)")
                && w.contains("\"Qualification\" (5 rows)")),
        "{folds:?}"
    );
    // init --from keeps every stage of the export apart, in the history's order.
    let proposal = pipewise_ingest::propose::propose(&export).unwrap();
    assert_eq!(proposal.source, "salesforce");
    let process = SalesProcess::from_toml(&proposal.toml, "proposed").unwrap();
    let names: Vec<&str> = process.stages().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Prospecting",
            "Qualification",
            "Needs Analysis",
            "Value Proposition",
            "Id. Decision Makers",
            "Perception Analysis",
            "Proposal/Price Quote",
            "Negotiation/Review",
            "Closed Won",
            "Closed Lost"
        ],
        "{}",
        proposal.toml
    );
    assert_eq!(
        process.stages()[process.qualified_stage()].name,
        "Qualification"
    );
    let stage = |n: &str| {
        process
            .stages()
            .iter()
            .find(|s| s.name == n)
            .unwrap()
            .clone()
    };
    use pipewise_model::{ForecastCategory, StageOutcome};
    assert_eq!(stage("Closed Won").outcome, StageOutcome::Won);
    assert_eq!(stage("Closed Lost").outcome, StageOutcome::Lost);
    assert_eq!(
        stage("Negotiation/Review").forecast_category,
        ForecastCategory::Commit
    );
    assert_eq!(
        stage("Id. Decision Makers").forecast_category,
        ForecastCategory::BestCase
    );
    assert_eq!(stage("Value Proposition").probability, Some(50.0));
    // With it, the same export lands with nothing folded.
    let store = Store::init(&dir.path().join("b")).unwrap();
    let out =
        salesforce::ingest(&store, &process, &export, IngestOptions::new(as_of(), None)).unwrap();
    assert!(out.report.warnings.is_empty(), "{:?}", out.report.warnings);
    let log = store.load(None, false).unwrap();
    assert_eq!(
        by_stage_in(&log, &process, "2025-01-31"),
        m(&[
            ("Prospecting", 2, 9000.0),
            ("Qualification", 2, 5000.0),
            ("Needs Analysis", 1, 1000.0)
        ])
    );
}

#[test]
fn salesforce_implausible_amount_is_flagged_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    let mut csv = String::from("Id,StageName,Amount,CreatedDate\n");
    for i in 1..=30 {
        // 1,000 … 30,000; deal 17 has a typo of twenty digits
        let amount = if i == 17 {
            "100000000000000000000".to_string()
        } else {
            format!("{}", i * 1000)
        };
        csv.push_str(&format!(
            "0060000000000{i:02}AAA,Prospecting,{amount},2025-01-01T00:00:00Z\n"
        ));
    }
    std::fs::write(export.join("Opportunity.csv"), csv).unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let out = ingest_default(&store, &export).unwrap();
    let c = &out.report.checks["implausible_amount"];
    assert_eq!(c.count, 1, "{c:?}");
    assert!(
        c.examples[0].starts_with("Opportunity.csv:18 Amount"),
        "{c:?}"
    );
    assert_eq!(out.report.files[0].landed, 30, "flagged, not dropped");
}

#[test]
fn salesforce_full_export() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = salesforce::ingest(
        &store,
        &SalesProcess::default_process(),
        &fixture("salesforce-full-export"),
        IngestOptions::new(parse_iso_instant("2026-06-30", true).unwrap(), None),
    )
    .unwrap();
    assert!(out.report.reconciles());
    let read: Vec<&str> = out.report.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        read,
        [
            "ForecastingQuota.csv",
            "Opportunity.csv",
            "Organization.csv",
            "Period.csv"
        ]
    );
    // Skipped files say why.
    let skipped = out.report.skipped_files.join("\n");
    for want in [
        "Campaign.csv: campaigns are not read",
        "EmailTemplate.csv: not a revenue object pipewise reads",
        "OpportunityLineItem.csv: products on deals are not read",
    ] {
        assert!(skipped.contains(want), "{want} in {skipped}");
    }
    // Quotas: two with their Period, one by calendar month (flagged), one
    // quantity quota accounted for but not landed.
    let q = store.read_table("quotas").unwrap();
    let rows: usize = q.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
    assert_eq!(out.report.checks["inferred_period"].count, 1);
    assert_eq!(out.report.checks["out_of_scope"].count, 1);
    let tally = out
        .report
        .files
        .iter()
        .find(|f| f.file == "ForecastingQuota.csv")
        .unwrap();
    assert_eq!((tally.read, tally.landed, tally.quarantined), (4, 4, 0));
    // The org's fiscal year (February) differs from pipewise.toml's (January).
    assert!(
        out.report
            .warnings
            .iter()
            .any(|w| w.contains("month 2") && w.contains("pipewise.toml")),
        "{:?}",
        out.report.warnings
    );
    // init --from takes the org's fiscal year.
    let p = pipewise_ingest::propose::propose(&fixture("salesforce-full-export")).unwrap();
    assert_eq!(
        SalesProcess::from_toml(&p.toml, "p")
            .unwrap()
            .fiscal_year_start_month(),
        2
    );
}

#[test]
fn salesforce_multi_currency() {
    let export = fixture("salesforce-multi-currency");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = ingest_default(&store, &export).unwrap();
    assert!(out.report.reconciles());
    // GBP has no rate: its amount is left unknown (twice: Opportunity and its history row).
    assert_eq!(out.report.checks["field:no_exchange_rate"].count, 2);
    let log = store.load(None, false).unwrap();
    // In dollars, by hand: 10,000 + 1,500,000 / 150 + 9,500 / 0.95 (May) open,
    // and 8,000 / 0.8 (February's dated rate) won; the pounds count, at no amount.
    assert_eq!(
        by_stage(&log, "2025-06-30"),
        m(&[("Qualification", 4, 30000.0), ("Closed Won", 1, 10000.0)])
    );
    // While open, the February deal closed in May: 8,000 / 0.95.
    let jan = by_stage(&log, "2025-01-31");
    let want = 10000.0 + 10000.0 + 8000.0 / 0.95 + 9500.0 / 0.95;
    // (totals are exact to 1/10,000 of a unit: each converted amount is rounded there)
    assert!(
        (jan["Qualification"].1 - want).abs() < 5e-4,
        "{jan:?} vs {want}"
    );
    let states: BTreeMap<String, _> = asof::states(&log, Cut::at(as_of()))
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let yen = &states["006000000000002AAA"];
    assert_eq!(yen.get(&Field::AmountNative), &Value::Number(1_500_000.0));
    assert_eq!(yen.get(&Field::FxRate), &Value::Number(150.0));
    assert_eq!(yen.get(&Field::Currency), &Value::Text("JPY".into()));
    let pounds = &states["006000000000005AAA"];
    assert_eq!(pounds.get(&Field::Amount), &Value::Null);
    assert_eq!(pounds.get(&Field::AmountNative), &Value::Number(5000.0));
    // Quotas too: 15,000,000 yen at 150 and 95,000 euros at May's 0.95 are
    // 100,000 dollars each; the pound quota has no rate and cannot land.
    let q = store.read_table("quotas").unwrap();
    let amounts: Vec<f64> = q
        .iter()
        .flat_map(|b| {
            let a = b
                .column(4)
                .as_any()
                .downcast_ref::<arrow_array::Float64Array>()
                .unwrap();
            a.values().to_vec()
        })
        .collect();
    assert_eq!(amounts, [100_000.0, 100_000.0]);
    let tally = out
        .report
        .files
        .iter()
        .find(|f| f.file == "ForecastingQuota.csv")
        .unwrap();
    assert_eq!((tally.read, tally.landed, tally.quarantined), (3, 2, 1));
}

#[test]
fn amounts_in_two_currencies_without_rates_stop_the_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    let src = fixture("salesforce-multi-currency");
    for f in ["Opportunity.csv", "OpportunityHistory.csv"] {
        std::fs::copy(src.join(f), export.join(f)).unwrap();
    }
    let ws = dir.path().join("ws");
    let store = Store::init(&ws).unwrap();
    let err = ingest_default(&store, &export).unwrap_err().to_string();
    assert!(
        err.contains("EUR, GBP, JPY, USD") && err.contains("currencies.csv"),
        "{err}"
    );
    assert_eq!(store.manifest().unwrap().version, 0);
    // The workspace's own currencies.csv converts them.
    std::fs::write(
        ws.join("currencies.csv"),
        "code,rate,corporate\nUSD,1,true\nJPY,150,false\nEUR,0.8,false\nGBP,0.5,false\n",
    )
    .unwrap();
    ingest_default(&store, &export).unwrap();
    let log = store.load(None, false).unwrap();
    assert_eq!(
        by_stage(&log, "2025-06-30"),
        m(&[
            (
                "Qualification",
                4,
                10000.0 + 10000.0 + 9500.0 / 0.8 + 10000.0
            ),
            ("Closed Won", 1, 10000.0)
        ])
    );
}

#[test]
fn a_mostly_broken_file_lands_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    let mut csv = String::from("Id,StageName,Amount,CreatedDate\n");
    for i in 1..=20 {
        if i % 3 == 0 {
            csv.push_str(&format!("0060000000000{i:02}AAA,Prospecting\n")); // truncated
        } else {
            csv.push_str(&format!(
                "0060000000000{i:02}AAA,Prospecting,100,2025-01-01T00:00:00Z\n"
            ));
        }
    }
    std::fs::write(export.join("Opportunity.csv"), csv).unwrap();
    let ws = dir.path().join("ws");
    let store = Store::init(&ws).unwrap();
    let err = ingest_default(&store, &export).unwrap_err().to_string();
    // 6 of 20 rows (30%) are past the default 10%.
    assert!(
        err.contains("6 of 20 rows (30.0%)") && err.contains("--max-quarantine"),
        "{err}"
    );
    assert_eq!(store.manifest().unwrap().version, 0, "nothing landed");
    let q = std::fs::read_to_string(ws.join("quarantine/ingest-v000001.csv")).unwrap();
    assert_eq!(
        q.lines().count(),
        1 + 6,
        "the quarantine is written all the same"
    );
    let mut opts = IngestOptions::new(as_of(), None);
    opts.max_quarantine_pct = 100.0;
    let out = salesforce::ingest(&store, &SalesProcess::default_process(), &export, opts).unwrap();
    assert_eq!(out.summary.opportunities_added, 14);
}

#[test]
fn hubspot_internal_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = pipewise_ingest::hubspot::ingest(
        &store,
        &SalesProcess::default_process(),
        &fixture("hubspot-internal-names"),
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    assert!(out.report.reconciles());
    assert!(out.quarantine.is_empty(), "{:?}", out.quarantine);
    assert!(
        out.report
            .notes
            .iter()
            .any(|n| n.contains("internal property names"))
    );
    let log = store.load(None, false).unwrap();
    // appointmentscheduled → Qualification, contractsent → Redlining,
    // closedwon → Closed Won (the default process's aliases); amounts carried back.
    assert_eq!(
        by_stage(&log, "2025-01-31"),
        m(&[("Qualification", 2, 3000.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-03-31"),
        m(&[("Redlining", 1, 1000.0), ("Closed Won", 1, 2000.0)])
    );
    let a = asof::states(&log, Cut::at(as_of()))
        .into_iter()
        .find(|s| s.id == "1")
        .unwrap();
    assert_eq!(
        a.get(&Field::ForecastCategory),
        &Value::Text("commit".into())
    );
    assert_eq!(a.get(&Field::Name), &Value::Text("A".into()));
}

#[test]
fn salesforce_15_character_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = salesforce::ingest(
        &store,
        &SalesProcess::default_process(),
        &fixture("salesforce-15-character-ids"),
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    assert!(
        !out.report.checks.contains_key("orphan_history"),
        "{:?}",
        out.report.checks
    );
    let log = store.load(None, false).unwrap();
    assert_eq!(log.keys.len(), 2, "two records, not four");
    // The upper-case deal moved to Negotiation on 02-10; the lower-case one did not.
    assert_eq!(
        by_stage(&log, "2025-01-31"),
        m(&[("Qualification", 2, 3000.0)])
    );
    assert_eq!(
        by_stage(&log, "2025-02-28"),
        m(&[("Qualification", 1, 2000.0), ("Negotiation", 1, 1000.0)])
    );
}

/// Per (pipeline) process: (count, amount) at one time.
fn by_group(
    log: &pipewise_ledger::EventLog,
    process: &SalesProcess,
    group: &GroupBy,
    day: &str,
    pipeline: Option<usize>,
) -> BTreeMap<String, (u64, f64)> {
    let t = parse_iso_instant(day, true).unwrap();
    asof::totals_in(log, process, group, &[Cut::at(t)], false, pipeline)[0]
        .iter()
        .map(|g| (g.group.clone(), (g.count, g.amount)))
        .collect()
}

#[test]
fn salesforce_record_types() {
    let export = fixture("salesforce-record-types");
    let text = std::fs::read_to_string(export.join("pipewise.toml")).unwrap();
    let process = SalesProcess::from_toml(&text, "pipewise.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out =
        salesforce::ingest(&store, &process, &export, IngestOptions::new(as_of(), None)).unwrap();
    assert!(out.report.reconciles());
    // The lead process and the lead record type are other objects; deal 6's
    // record type is not in RecordType.csv (field level: the deal lands).
    assert_eq!(out.report.checks["out_of_scope"].count, 2);
    let unknown: Vec<_> = out
        .quarantine
        .iter()
        .filter(|q| q.column == "RecordTypeId")
        .collect();
    assert_eq!(unknown.len(), 1, "{:?}", out.quarantine);
    assert_eq!(unknown[0].raw_value, "012000000000009AAA");
    assert!(
        out.report
            .skipped_files
            .iter()
            .all(|f| !f.starts_with("RecordType.csv") && !f.starts_with("BusinessProcess.csv")),
        "{:?}",
        out.report.skipped_files
    );
    let log = store.load(None, false).unwrap();
    let pipeline = |id: &str| {
        log.column(&Field::Pipeline)
            .and_then(|c| {
                let k = log.keys.key(id)?;
                c.run(k).last().map(|i| c.new.get(i))
            })
            .unwrap_or(Value::Null)
    };
    // The business process's name, as pipewise.toml names it.
    assert_eq!(
        pipeline("006000000000001AAA"),
        Value::Text("New Business".into())
    );
    assert_eq!(
        pipeline("006000000000003AAA"),
        Value::Text("Renewals".into())
    );
    assert_eq!(pipeline("006000000000005AAA"), Value::Null);
    assert_eq!(pipeline("006000000000006AAA"), Value::Null);
    // By process: deals without one follow the first.
    assert_eq!(
        by_group(&log, &process, &GroupBy::Pipeline, "2025-06-30", None),
        m(&[("New Business", 4, 75000.0), ("Renewals", 2, 25000.0)])
    );
    // By stage, labelled with the process; Negotiation/Review is two stages.
    assert_eq!(
        by_group(&log, &process, &GroupBy::Stage, "2025-03-31", None),
        m(&[
            ("New Business: Prospecting", 1, 10000.0),
            ("New Business: Qualification", 1, 8000.0),
            ("New Business: Proposal/Price Quote", 1, 7000.0),
            ("New Business: Negotiation/Review", 1, 50000.0),
            ("Renewals: Negotiation/Review", 1, 20000.0),
            ("Renewals: Closed Lost", 1, 5000.0),
        ])
    );
    // One process only: plain stage names.
    assert_eq!(
        by_group(&log, &process, &GroupBy::Stage, "2025-02-28", Some(1)),
        m(&[("Renewal Review", 1, 20000.0), ("Closed Lost", 1, 5000.0)])
    );
    // Facts read each stage in its own process: probability, qualification.
    let cut = Cut::at(parse_iso_instant("2025-06-30", true).unwrap());
    let facts = asof::FactColumns::new(&log, cut);
    let ids: Vec<String> = facts
        .keys()
        .iter()
        .map(|&k| log.keys.id(k).to_string())
        .collect();
    let col = |name: &str| facts.column(&log, &process, name).unwrap();
    let prob = col("stage_probability");
    let prob = prob
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    let qualified = col("qualified");
    let qualified = qualified
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    let pipe = col("pipeline");
    let pipe = pipe
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    let got: Vec<(String, f64, bool, String)> = (0..ids.len())
        .map(|j| {
            (
                ids[j].clone(),
                prob.value(j),
                qualified.value(j),
                pipe.value(j).to_string(),
            )
        })
        .collect();
    let want = [
        ("006000000000001AAA", 100.0, true, "New Business"),
        ("006000000000002AAA", 10.0, false, "New Business"),
        // Renewals' Negotiation/Review: 90%, and its qualified stage
        ("006000000000003AAA", 90.0, true, "Renewals"),
        ("006000000000004AAA", 0.0, false, "Renewals"),
        ("006000000000005AAA", 20.0, true, "New Business"),
        ("006000000000006AAA", 50.0, true, "New Business"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(i, p, q, n)| (i.to_string(), *p, *q, n.to_string()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn salesforce_record_types_init_from_writes_every_process() {
    let export = fixture("salesforce-record-types");
    let (process, toml) = proposed(&export);
    let names = |p: usize| stage_names(&process, p);
    assert_eq!(process.pipelines().len(), 2, "{}", toml);
    assert_eq!(process.pipelines()[0].name, "New Business Process");
    assert_eq!(process.pipelines()[1].name, "Renewal Process");
    // Ordered by median probability; deals with no known record type (5, 6)
    // count in the first process.
    assert_eq!(
        names(0),
        [
            "Prospecting",
            "Qualification",
            "Proposal/Price Quote",
            "Negotiation/Review",
            "Closed Won"
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once("Closed Lost".to_string()))
        .collect::<Vec<_>>(),
        "{}",
        toml
    );
    // No renewal was won yet: a won stage is proposed, and said so.
    assert_eq!(
        names(1),
        [
            "Renewal Review",
            "Negotiation/Review",
            "Closed Won",
            "Closed Lost"
        ]
    );
    assert!(toml.contains("not in the export"));
    let q = process.pipelines()[1].qualified_stage();
    assert_eq!(process.stages()[q].name, "Negotiation/Review");
    // The export lands with it, with nothing unknown.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out =
        salesforce::ingest(&store, &process, &export, IngestOptions::new(as_of(), None)).unwrap();
    assert!(out.report.reconciles());
    let log = store.load(None, false).unwrap();
    assert_eq!(
        by_group(&log, &process, &GroupBy::Pipeline, "2025-06-30", None),
        m(&[
            ("New Business Process", 4, 75000.0),
            ("Renewal Process", 2, 25000.0)
        ])
    );
}

#[test]
fn a_stage_its_own_process_lacks_stops_the_ingest() {
    let export = fixture("salesforce-record-types");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("export");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&export).unwrap() {
        let p = f.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    // A renewal in Prospecting: a New Business stage, not a Renewals one.
    let opp = std::fs::read_to_string(copy.join("Opportunity.csv")).unwrap();
    let opp = opp.replace(
        "\"Renewal in negotiation\",\"012000000000002AAA\",\"Negotiation/Review\"",
        "\"Renewal in negotiation\",\"012000000000002AAA\",\"Prospecting\"",
    );
    std::fs::write(copy.join("Opportunity.csv"), opp).unwrap();
    let text = std::fs::read_to_string(export.join("pipewise.toml")).unwrap();
    let process = SalesProcess::from_toml(&text, "pipewise.toml").unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let err = salesforce::ingest(&store, &process, &copy, IngestOptions::new(as_of(), None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "\"Prospecting\" (pipeline \"Renewals\"): 1 row(s) in Opportunity.csv, first at line 4"
        ),
        "{err}"
    );
    assert!(err.contains("[[pipelines.stages]]"), "{err}");
    assert!(store.load(None, false).unwrap().keys.is_empty());
}

#[test]
fn hubspot_several_pipelines() {
    let export = fixture("hubspot-several-pipelines");
    // init --from: one process per pipeline, each with its own stages.
    assert_eq!(
        pipewise_ingest::propose::propose(&export).unwrap().source,
        "hubspot"
    );
    let (process, toml) = proposed(&export);
    let names = |p: usize| stage_names(&process, p);
    assert_eq!(process.pipelines().len(), 2, "{}", toml);
    assert_eq!(process.pipelines()[0].name, "Sales Pipeline");
    assert_eq!(process.pipelines()[1].name, "Renewals (EMEA, UK)");
    assert_eq!(
        names(0),
        [
            "Appointment Scheduled",
            "Contract Sent",
            "Closed Won",
            "Closed Lost"
        ],
        "{}",
        toml
    );
    assert_eq!(
        names(1),
        ["Contract Sent", "Renewal Signed", "Churned"],
        "{}",
        toml
    );
    use pipewise_model::StageOutcome;
    let code = |p: usize, n: &str| process.stage_code_in(p, n).unwrap();
    assert_eq!(process.outcome(code(1, "Churned")), StageOutcome::Lost);
    assert_eq!(
        process.outcome(code(1, "Renewal Signed")),
        StageOutcome::Won
    );
    // "Contract Sent" is two stages, each with its deals' probability.
    assert_eq!(
        process.stages()[code(0, "Contract Sent")].probability,
        Some(80.0)
    );
    assert_eq!(
        process.stages()[code(1, "Contract Sent")].probability,
        Some(60.0)
    );

    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = pipewise_ingest::hubspot::ingest(
        &store,
        &process,
        &export,
        IngestOptions::new(as_of(), None),
    )
    .unwrap();
    assert!(out.report.reconciles());
    assert!(out.quarantine.is_empty(), "{:?}", out.quarantine);
    assert!(out.report.warnings.is_empty(), "{:?}", out.report.warnings);
    let log = store.load(None, false).unwrap();
    assert_eq!(
        by_group(&log, &process, &GroupBy::Pipeline, "2025-06-30", None),
        m(&[
            ("Sales Pipeline", 3, 3600.0),
            ("Renewals (EMEA, UK)", 3, 7500.0)
        ])
    );
    assert_eq!(
        by_group(&log, &process, &GroupBy::Stage, "2025-02-28", None),
        m(&[
            ("Sales Pipeline: Contract Sent", 2, 3000.0),
            ("Sales Pipeline: Closed Lost", 1, 600.0),
            ("Renewals (EMEA, UK): Contract Sent", 2, 3500.0),
            ("Renewals (EMEA, UK): Renewal Signed", 1, 4000.0),
        ])
    );
    // Renewals' Contract Sent is read in Renewals: 60%, not Sales Pipeline's 80%.
    let cut = Cut::at(parse_iso_instant("2025-06-30", true).unwrap());
    let facts = asof::FactColumns::new(&log, cut);
    let prob = facts.column(&log, &process, "stage_probability").unwrap();
    let prob = prob
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    let at = |id: &str| {
        facts
            .keys()
            .iter()
            .position(|&k| log.keys.id(k) == id)
            .unwrap()
    };
    assert_eq!(prob.value(at("102")), 80.0);
    assert_eq!(prob.value(at("103")), 60.0);
}

#[test]
fn salesforce_custom_fiscal_year() {
    let export = fixture("salesforce-custom-fiscal-year");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let out = salesforce::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions::new(parse_iso_instant("2026-06-30", true).unwrap(), None),
    )
    .unwrap();
    assert!(out.report.reconciles());
    assert!(
        out.report
            .notes
            .iter()
            .any(|n| n.starts_with("custom fiscal years FY2027 ")),
        "{:?}",
        out.report.notes
    );
    assert!(
        out.report
            .skipped_files
            .iter()
            .all(|f| !f.starts_with("FiscalYearSettings.csv")),
        "{:?}",
        out.report.skipped_files
    );
    let cal =
        pipewise_ledger::tables::fiscal_from_batches(&store.read_table("fiscal_periods").unwrap())
            .unwrap();
    // Only the custom year: the standard FY2026 follows fiscal_year_start_month.
    assert_eq!(cal.years().len(), 1);
    let d = |s: &str| pipewise_model::time::date_of(parse_iso_instant(s, false).unwrap());
    let y = cal.year(2027).unwrap();
    assert_eq!((y.start, y.end), (d("2026-02-01"), d("2027-01-30")));
    assert_eq!(y.quarters.len(), 4);
    assert_eq!(y.months.len(), 12);
    assert_eq!(y.quarters[0], (d("2026-02-01"), d("2026-05-02")));
    assert_eq!(y.months[2], (d("2026-03-29"), d("2026-05-02")));
    assert_eq!(
        pipewise_model::time::parse_period_in("FY2027-Q2", 2, &cal),
        Some((d("2026-05-03"), d("2026-08-01")))
    );
}

#[test]
fn hubspot_times_in_the_account_zone() {
    // HubSpot writes times in the account's zone, without saying so: with
    // --timezone they are read in it; dates stay the dates written.
    let export = fixture("hubspot-several-pipelines");
    let (process, _) = proposed(&export);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let mut opts = IngestOptions::new(as_of(), None);
    opts.timezone = Some(pipewise_ingest::values::parse_zone("America/New_York").unwrap());
    pipewise_ingest::hubspot::ingest(&store, &process, &export, opts).unwrap();
    let log = store.load(None, false).unwrap();
    let k = log.keys.key("101").unwrap();
    // 09:00 in New York in January is 14:00 UTC
    assert_eq!(
        log.keys.created_at[k as usize],
        parse_iso_instant("2025-01-10T14:00:00Z", false).unwrap()
    );
    let stage = log.column(&Field::Stage).unwrap();
    let won_at = stage.run(k).last().map(|i| stage.effective_at[i]).unwrap();
    assert_eq!(
        won_at,
        parse_iso_instant("2025-03-01T14:00:00Z", false).unwrap()
    );
    let close = log.column(&Field::CloseDate).unwrap();
    let i = close.run(k).last().unwrap();
    assert_eq!(
        close.new.get(i),
        Value::Date(pipewise_model::time::ymd(2025, 3, 1).unwrap())
    );
}

/// The fixture `salesforce-history-starts-after-created` copied, keeping only
/// the Opportunity and OpportunityHistory rows `keep` accepts (by deal number
/// 1-4), with `edit` applied to Opportunity.csv.
fn trimmed_export(
    dir: &Path,
    keep: &dyn Fn(u32) -> bool,
    edit: &dyn Fn(String) -> String,
) -> PathBuf {
    let src = fixture("salesforce-history-starts-after-created");
    std::fs::create_dir_all(dir).unwrap();
    for name in ["Opportunity.csv", "OpportunityHistory.csv"] {
        let text = std::fs::read_to_string(src.join(name)).unwrap();
        let mut lines = text.lines();
        let mut out = vec![lines.next().unwrap().to_string()];
        for l in lines {
            let deal = (1..=4)
                .find(|n| l.contains(&format!("\"00600000000000{n}AAA\"")))
                .unwrap();
            if keep(deal) {
                out.push(l.to_string());
            }
        }
        let mut body = out.join("\n") + "\n";
        if name == "Opportunity.csv" {
            body = edit(body);
        }
        std::fs::write(dir.join(name), body).unwrap();
    }
    dir.to_path_buf()
}

#[test]
fn a_deal_missing_from_a_later_export_is_deleted_then_restored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let process = SalesProcess::default_process();
    let day = |s: &str| parse_iso_instant(s, true).unwrap();
    let ingest = |export: &Path, at: &str, missing: pipewise_ingest::draft::Missing| {
        let mut o = IngestOptions::new(day(at), None);
        o.missing = missing;
        salesforce::ingest(&store, &process, export, o).unwrap()
    };
    use pipewise_ingest::draft::Missing;
    let all = |_: u32| true;
    let same = |s: String| s;
    ingest(
        &trimmed_export(&dir.path().join("e1"), &all, &same),
        "2025-06-30",
        Missing::Auto,
    );
    let exists = |at: &str| -> Vec<String> {
        let log = store.load(None, false).unwrap();
        asof::existing_keys(&log, Cut::at(day(at)))
            .into_iter()
            .map(|k| log.keys.id(k).to_string())
            .collect()
    };
    let four =
        |v: &[u32]| -> Vec<String> { v.iter().map(|n| format!("00600000000000{n}AAA")).collect() };
    assert_eq!(exists("2025-07-01"), four(&[1, 2, 3, 4]));
    // A week later deal 4 is gone from the export: deleted as of that ingest.
    let out = ingest(
        &trimmed_export(&dir.path().join("e2"), &|n| n != 4, &same),
        "2025-07-07",
        Missing::Auto,
    );
    assert!(
        out.report.notes.iter().any(|n| n.starts_with(
            "1 opportunities of the ledger are not in this export (006000000000004AAA)"
        )),
        "{:?}",
        out.report.notes
    );
    assert_eq!(exists("2025-07-06"), four(&[1, 2, 3, 4]), "the past stays");
    assert_eq!(exists("2025-07-08"), four(&[1, 2, 3]));
    // Ingesting the same export again changes nothing.
    let again = ingest(
        &trimmed_export(&dir.path().join("e2"), &|n| n != 4, &same),
        "2025-07-07",
        Missing::Auto,
    );
    assert_eq!(again.summary.events_added, 0);
    // A row quarantined for its CreatedDate is in the export: not deleted.
    let out = ingest(
        &trimmed_export(&dir.path().join("e3"), &|n| n != 4, &|s| {
            s.replace("\"2025-01-20T09:00:00.000Z\"", "\"not a date\"")
        }),
        "2025-07-10",
        Missing::Auto,
    );
    assert!(!out.quarantine.is_empty());
    assert_eq!(exists("2025-07-11"), four(&[1, 2, 3]));
    // Back in the export: restored.
    let out = ingest(
        &trimmed_export(&dir.path().join("e4"), &all, &same),
        "2025-07-14",
        Missing::Auto,
    );
    assert!(
        out.report
            .notes
            .iter()
            .any(|n| n.starts_with("1 deleted opportunities are in this export again")),
        "{:?}",
        out.report.notes
    );
    assert_eq!(exists("2025-07-15"), four(&[1, 2, 3, 4]));
    assert_eq!(exists("2025-07-09"), four(&[1, 2, 3]), "deleted in between");
    // An export with one deal of four looks partial: nothing is deleted…
    let partial = trimmed_export(&dir.path().join("e5"), &|n| n == 1, &same);
    let out = ingest(&partial, "2025-07-21", Missing::Auto);
    assert!(
        out.report.warnings.iter().any(|w| w.contains(
            "3 of the ledger's 4 opportunities are not in this export: it looks partial"
        )),
        "{:?}",
        out.report.warnings
    );
    assert_eq!(exists("2025-07-22"), four(&[1, 2, 3, 4]));
    // …unless told so; and never with keep.
    ingest(&partial, "2025-07-28", Missing::Keep);
    assert_eq!(exists("2025-07-29"), four(&[1, 2, 3, 4]));
    ingest(&partial, "2025-07-28", Missing::Deleted);
    assert_eq!(exists("2025-07-29"), four(&[1]));
}
