//! The stage funnel against a hand-worked example.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ledger::asof::Cut;
use pipewise_ledger::{EventLog, Store, store_commit};
use pipewise_metrics::funnel::funnel;
use pipewise_model::{Field, OpportunityEvent, SalesProcess, Value};

const DAY: i64 = 86_400_000_000;

/// The events, landed in a fresh ledger and loaded back.
fn ledger(events: Vec<OpportunityEvent>) -> EventLog {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let m = store.manifest().unwrap();
    store.commit(&m, store_commit(vec![], events)).unwrap();
    store.load(None, false).unwrap()
}

#[test]
fn funnel_by_hand() {
    // A: Qualification d1 → Discovery d3 → Proposal d10 → Closed Won d20
    // B: Qualification d2 → Discovery d4 → Closed Lost d8
    // C: Qualification d2 → Proposal d5 (skips Discovery) → Closed Lost d9
    // D: Qualification d5, still there
    let paths: [(&str, &[(i64, &str)]); 4] = [
        (
            "A",
            &[
                (1, "Qualification"),
                (3, "Discovery"),
                (10, "Proposal"),
                (20, "Closed Won"),
            ],
        ),
        (
            "B",
            &[(2, "Qualification"), (4, "Discovery"), (8, "Closed Lost")],
        ),
        (
            "C",
            &[(2, "Qualification"), (5, "Proposal"), (9, "Closed Lost")],
        ),
        ("D", &[(5, "Qualification")]),
    ];
    let mut events = Vec::new();
    for (id, path) in paths {
        for (d, s) in path {
            events.push(OpportunityEvent {
                opportunity_id: id.into(),
                field: Field::Stage,
                old_value: Value::Null,
                new_value: Value::Text((*s).into()),
                effective_at: d * DAY,
                recorded_at: d * DAY,
                source: "test".into(),
            });
        }
    }
    let log = ledger(events);
    let p = SalesProcess::default_process();
    let f = funnel(&log, &p, 0, 30 * DAY, Cut::at(30 * DAY));
    let row = |s: &str| f.iter().find(|r| r.stage == s).unwrap().clone();
    // Qualification: 4 entered; A, B, C moved on (C skipped Discovery: advanced, not failed) → 75%.
    // Stays: A 2, B 2, C 3 days; D is still there (censored).
    let q = row("Qualification");
    assert_eq!((q.entered, q.advanced, q.stays), (4, 3, 3));
    assert_eq!(q.conversion, Some(0.75));
    assert_eq!(q.median_days, Some(2.0));
    assert!((q.mean_days.unwrap() - 7.0 / 3.0).abs() < 1e-12);
    assert_eq!(q.p75_days, Some(2.5));
    assert_eq!(q.p25_days, Some(2.0));
    // Discovery: A and B entered; A advanced → 50%; stays 7 and 4 days → median 5.5, p75 6.25.
    let d = row("Discovery");
    assert_eq!((d.entered, d.advanced, d.conversion), (2, 1, Some(0.5)));
    assert_eq!(d.p25_days, Some(4.75));
    assert_eq!((d.median_days, d.p75_days), (Some(5.5), Some(6.25)));
    // Proposal: A and C entered; A won → 50%; stays 10 and 4 days.
    let pr = row("Proposal");
    assert_eq!((pr.entered, pr.advanced), (2, 1));
    assert_eq!(pr.median_days, Some(7.0));
    // Negotiation: nobody.
    assert_eq!(row("Negotiation").conversion, None);
    // A period catches only deals entering the stage inside it: Qualification entered d2..d5 → B, C, D.
    let f2 = funnel(&log, &p, 2 * DAY, 5 * DAY, Cut::at(30 * DAY));
    assert_eq!(
        f2.iter()
            .find(|r| r.stage == "Qualification")
            .unwrap()
            .entered,
        3
    );
    // As of d6 nothing has left Discovery yet (A moves on d10, B is lost on d8): two entered,
    // none advanced, no finished stays.
    let f3 = funnel(&log, &p, 0, 30 * DAY, Cut::at(6 * DAY));
    let d3 = f3.iter().find(|r| r.stage == "Discovery").unwrap();
    assert_eq!((d3.entered, d3.advanced, d3.stays), (2, 0, 0));
}

#[test]
fn aging_by_hand() {
    // Discovery stays in history: 4, 6, 8, 10 days (median 7, p75 8.5).
    // Open now (cut = day 100) in Discovery since day 95 (5 d), 90 (10 d), 85 (15 d).
    // Over 1.5 × median (10.5 d): 1 (15 d). Over p75 (8.5 d): 2 (10 d, 15 d).
    let mut events = Vec::new();
    let ev = |id: String, d: i64, s: &str| OpportunityEvent {
        opportunity_id: id,
        field: Field::Stage,
        old_value: Value::Null,
        new_value: Value::Text(s.into()),
        effective_at: d * DAY,
        recorded_at: d * DAY,
        source: "test".into(),
    };
    for (k, stay) in [4, 6, 8, 10].into_iter().enumerate() {
        let id = format!("H{k}");
        events.push(ev(id.clone(), 10, "Discovery"));
        events.push(ev(id, 10 + stay, "Proposal"));
    }
    for (k, since) in [95, 90, 85].into_iter().enumerate() {
        events.push(ev(format!("O{k}"), since, "Discovery"));
    }
    let log = ledger(events);
    let a =
        pipewise_metrics::funnel::aging(&log, &SalesProcess::default_process(), Cut::at(100 * DAY));
    let d = a.iter().find(|r| r.stage == "Discovery").unwrap();
    assert_eq!(
        (d.open, d.median_days, d.p75_days),
        (3, Some(7.0), Some(8.5))
    );
    assert_eq!((d.over_1_5x_median, d.over_p75), (1, 2));
    // The four historical deals are open in Proposal now, since days 14–20.
    let p = a.iter().find(|r| r.stage == "Proposal").unwrap();
    assert_eq!((p.open, p.median_days), (4, None));
}

/// TV-18 (seed 003 §12.2 L3078): "40 entered Commercial; 18 reached Commitment (last 90 days)"
/// → 45%, the Commercial stage's conversion (and, per the seed, its probability 0.45). Here on the
/// default process: 40 deals enter Negotiation in the window, 18 move on to Redlining, 22 are lost.
/// A deal that entered before the window does not count.
#[test]
fn tv18_stage_conversion_45_percent() {
    let mut events = Vec::new();
    let mut push = |id: &str, d: i64, s: &str| {
        events.push(OpportunityEvent {
            opportunity_id: id.into(),
            field: Field::Stage,
            old_value: Value::Null,
            new_value: Value::Text(s.into()),
            effective_at: d * DAY,
            recorded_at: d * DAY,
            source: "test".into(),
        });
    };
    for i in 0..40 {
        let id = format!("N{i}");
        push(&id, 100, "Proposal");
        push(&id, 110 + i % 30, "Negotiation");
        if i < 18 {
            push(&id, 150 + i % 20, "Redlining");
        } else {
            push(&id, 150 + i % 20, "Closed Lost");
        }
    }
    // entered Negotiation before the window, then advanced inside it
    push("EARLY", 50, "Negotiation");
    push("EARLY", 120, "Redlining");
    let log = ledger(events);
    let p = SalesProcess::default_process();
    let f = funnel(&log, &p, 105 * DAY, 195 * DAY, Cut::at(200 * DAY));
    let n = f.iter().find(|r| r.stage == "Negotiation").unwrap();
    assert_eq!((n.entered, n.advanced), (40, 18));
    assert_eq!(n.conversion, Some(0.45));
}
