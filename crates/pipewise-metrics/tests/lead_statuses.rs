//! A plain file of leads (no status history) feeds the lead funnel: its status
//! column, renamed to the library's status names by the mapping, is known as
//! of the snapshot.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_engine::Engine;
use pipewise_ingest::IngestOptions;
use pipewise_ingest::mapping::{self, Mapping};
use pipewise_ledger::Store;
use pipewise_metrics::{Library, MetricQuery, evaluate};
use pipewise_model::SalesProcess;
use pipewise_model::time::{parse_iso_instant, parse_period};

const LEADS: &str = "\
lead_id,created,lead_status,converted
L1,2026-01-05,Open - Not Contacted,
L2,2026-01-10,Working - Contacted,
L3,2026-02-01,Qualified,
L4,2026-02-15,Unqualified,
L5,2026-03-01,Qualified,2026-03-20
L6,2026-04-02,Working - Contacted,
";

const MAPPING: &str = r#"
[[files]]
file = "leads.csv"
table = "leads"
[files.columns]
id = "lead_id"
created_at = "created"
status = "lead_status"
converted_at = "converted"
[files.values.status]
"Working - Contacted" = "Sales Accepted"
"Qualified" = "Sales Qualified"
"Unqualified" = "Disqualified"
"#;

#[test]
fn crm_lead_statuses_feed_the_lead_funnel() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("leads.csv"), LEADS).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let store = Store::init(ws.path()).unwrap();
    let process = SalesProcess::default_process();
    let snapshot = parse_iso_instant("2026-05-01", true).unwrap();
    mapping::ingest(
        &store,
        &process,
        data.path(),
        &Mapping::from_toml(MAPPING, "leads.toml").unwrap(),
        IngestOptions::new(snapshot, None),
    )
    .unwrap();
    let engine = Engine::open(&store, &process).unwrap();
    let lib = Library::built_in().unwrap();
    let q1 = |as_of: Option<&str>| MetricQuery {
        period: Some(parse_period("2026-Q1", 1).unwrap()),
        as_of: as_of.map(|t| parse_iso_instant(t, true).unwrap()),
        ..Default::default()
    };
    let v = |name: &str, q: MetricQuery| {
        let r = evaluate(&engine, lib.get(name).unwrap(), &q).unwrap();
        (r[0].numerator, r[0].denominator)
    };
    // Five leads created in Q1 (L6 is April's). Accepted or later: L2 (Working -
    // Contacted → Sales Accepted), L3 and L5 (Qualified → Sales Qualified) → 3 of 5;
    // of those, qualified or converted: L3, L5 → 2 of 3; converted: L5 → 1 of 2;
    // disqualified: L4 (Unqualified → Disqualified) → 1 of 5.
    assert_eq!(v("lead_to_sal_rate", q1(None)), (3.0, 5.0));
    assert_eq!(v("sal_to_sql_rate", q1(None)), (2.0, 3.0));
    assert_eq!(v("sql_to_opportunity_rate", q1(None)), (1.0, 2.0));
    assert_eq!(v("lead_disqualification_rate", q1(None)), (1.0, 5.0));
    // Before the snapshot the statuses were not known yet; the conversion on 20 March
    // was (it carries its own date).
    assert_eq!(v("lead_to_sal_rate", q1(Some("2026-04-15"))), (1.0, 5.0));
    assert_eq!(
        v("lead_disqualification_rate", q1(Some("2026-04-15"))),
        (0.0, 5.0)
    );
}
