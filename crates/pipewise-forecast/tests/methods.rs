//! The methods on a ledger built by hand, every number worked out on paper.
//!
//! 2026-Q1, forecast at its week 1 (2026-01-01 00:00), had six open deals,
//! all in Proposal, dated in the quarter, created 2025-12-01:
//!   commit      A1 900k won, A2 100k lost       → r_commit    = 0.9
//!   best case   B1 600k won, B2 400k lost       → r_best_case = 0.6
//!   pipeline    C1 300k won, C2 700k lost       → r_pipeline  = 0.3
//! and two deals created after the cut: D1 300k won, D2 700k lost
//!   → pipeline created 1M, r_new = 0.3.
//! 2026-Q2, forecast at its week 1 (2026-04-01 00:00): six open deals,
//! created at the cut: E1 commit 1M; F1, F2 best case 1M each; G1, G2
//! pipeline 1M each (all dated in Q2); H1 pipeline 0, dated in Q3. As many
//! open as at Q1's week 1, so the company's scale is 1.
//!
//! Seed 004's category forecast (TV-01): 0.9 × 1M + 0.6 × 2M + 0.3 × 2M +
//! 0.3 × 1M = 3M.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_forecast::calendar::Quarter;
use pipewise_forecast::forecast::{self, Context, Options, past_quarters};
use pipewise_forecast::groups::{By, Org, Person, QuotaRow};
use pipewise_forecast::methods::{DealP, Inputs, Method};
use pipewise_forecast::rates::History;
use pipewise_forecast::scan::{FIELDS, Ledger};
use pipewise_ledger::{Commit, Cut, EventLog, NewOpportunity, Projection, Store};
use pipewise_model::time::{date_of, parse_iso_instant};
use pipewise_model::{Field, FiscalCalendar, OpportunityEvent, SalesProcess, Timestamp, Value};

fn t(s: &str) -> Timestamp {
    parse_iso_instant(s, false).unwrap()
}

struct Deal {
    id: &'static str,
    created: &'static str,
    owner: &'static str,
    category: &'static str,
    amount: f64,
    close: &'static str,
    /// (stage, when) after Proposal at creation
    then: Option<(&'static str, &'static str)>,
}

fn deals() -> Vec<Deal> {
    let q1 = |id, owner, category, amount, then| Deal {
        id,
        created: "2025-12-01",
        owner,
        category,
        amount,
        close: "2026-03-15",
        then,
    };
    let q2 = |id, owner, category, amount, close| Deal {
        id,
        created: "2026-04-01",
        owner,
        category,
        amount,
        close,
        then: None,
    };
    vec![
        q1(
            "A1",
            "r1",
            "Commit",
            900_000.0,
            Some(("Closed Won", "2026-02-10")),
        ),
        q1(
            "A2",
            "r2",
            "Commit",
            100_000.0,
            Some(("Closed Lost", "2026-02-20")),
        ),
        q1(
            "B1",
            "r1",
            "Best Case",
            600_000.0,
            Some(("Closed Won", "2026-03-01")),
        ),
        q1(
            "B2",
            "r2",
            "Best Case",
            400_000.0,
            Some(("Closed Lost", "2026-03-05")),
        ),
        q1(
            "C1",
            "r1",
            "Pipeline",
            300_000.0,
            Some(("Closed Won", "2026-03-10")),
        ),
        q1(
            "C2",
            "r2",
            "Pipeline",
            700_000.0,
            Some(("Closed Lost", "2026-03-12")),
        ),
        Deal {
            id: "D1",
            created: "2026-01-15",
            owner: "r1",
            category: "Pipeline",
            amount: 300_000.0,
            close: "2026-03-20",
            then: Some(("Closed Won", "2026-03-20")),
        },
        Deal {
            id: "D2",
            created: "2026-02-01",
            owner: "r2",
            category: "Pipeline",
            amount: 700_000.0,
            close: "2026-03-25",
            then: Some(("Closed Lost", "2026-03-25")),
        },
        q2("E1", "r1", "Commit", 1_000_000.0, "2026-05-15"),
        q2("F1", "r1", "Best Case", 1_000_000.0, "2026-05-20"),
        q2("F2", "r2", "Best Case", 1_000_000.0, "2026-06-10"),
        q2("G1", "r1", "Pipeline", 1_000_000.0, "2026-06-20"),
        q2("G2", "r2", "Pipeline", 1_000_000.0, "2026-06-25"),
        q2("H1", "r2", "Pipeline", 0.0, "2026-09-15"),
    ]
}

/// A store of `deals`, plus `later` events (recorded when they say).
fn store(dir: &std::path::Path, later: Vec<OpportunityEvent>) -> Store {
    let store = Store::init(dir).unwrap();
    let mut events = Vec::new();
    let mut news = Vec::new();
    for d in deals() {
        let at = t(d.created);
        let ev = |field: Field, v: Value, at: Timestamp| OpportunityEvent {
            opportunity_id: d.id.into(),
            field,
            old_value: Value::Null,
            new_value: v,
            effective_at: at,
            recorded_at: at,
            source: "hand".into(),
        };
        news.push(NewOpportunity {
            id: d.id.into(),
            created_at: at,
        });
        events.push(ev(Field::Stage, Value::Text("Proposal".into()), at));
        events.push(ev(Field::Amount, Value::Number(d.amount), at));
        events.push(ev(Field::CloseDate, Value::Date(date_of(t(d.close))), at));
        events.push(ev(
            Field::ForecastCategory,
            Value::Text(d.category.into()),
            at,
        ));
        events.push(ev(Field::OwnerId, Value::Text(d.owner.into()), at));
        events.push(ev(Field::Segment, Value::Text("smb".into()), at));
        if let Some((stage, when)) = d.then {
            events.push(ev(Field::Stage, Value::Text(stage.into()), t(when)));
        }
    }
    events.extend(later);
    let base = store.manifest().unwrap();
    store
        .commit(
            &base,
            Commit {
                new_opportunities: news,
                events,
                ..Default::default()
            },
        )
        .unwrap();
    store
}

fn log_of(store: &Store) -> EventLog {
    let m = store.manifest().unwrap();
    store
        .load_projected(
            &m,
            &Projection {
                fields: Some(FIELDS.to_vec()),
                old_values: false,
                recorded_at: true,
                ids: true,
                sources: false,
            },
        )
        .unwrap()
}

/// An event effective at `effective` that pipewise recorded only at `recorded`.
fn late(id: &str, field: Field, v: Value, effective: &str, recorded: &str) -> OpportunityEvent {
    OpportunityEvent {
        opportunity_id: id.into(),
        field,
        old_value: Value::Null,
        new_value: v,
        effective_at: t(effective),
        recorded_at: t(recorded),
        source: "late".into(),
    }
}

/// The hand ledger's log as it is, and with `later` events added.
fn clean_and_noisy(later: Vec<OpportunityEvent>) -> (EventLog, EventLog) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    (
        log_of(&store(a.path(), Vec::new())),
        log_of(&store(b.path(), later)),
    )
}

fn org() -> Org {
    let p = |id: &str, manager: Option<&str>| Person {
        id: id.into(),
        name: id.to_uppercase(),
        manager: manager.map(Into::into),
        team: Some("t".into()),
        segment: Some("smb".into()),
    };
    let q2 = (date_of(t("2026-04-01")), date_of(t("2026-06-30")));
    Org::new(
        vec![p("m", None), p("r1", Some("m")), p("r2", Some("m"))],
        vec![
            QuotaRow {
                owner: "r1".into(),
                start: q2.0,
                end: q2.1,
                amount: 2_000_000.0,
            },
            QuotaRow {
                owner: "r2".into(),
                start: q2.0,
                end: q2.1,
                amount: 1_500_000.0,
            },
        ],
    )
}

fn q2() -> Quarter {
    Quarter::containing(date_of(t("2026-05-01")), 1, &FiscalCalendar::default())
}

/// Every method's row for Q2 at its week 1.
fn rows(log: &EventLog, o: &Options) -> Vec<forecast::Row> {
    let process = SalesProcess::default_process();
    let ledger = Ledger::new(log, &process);
    let q = q2();
    let cut = q.week_cut(1);
    let past_q = past_quarters(&q, cut, t("2025-12-01"), 1, &FiscalCalendar::default());
    assert_eq!(
        past_q.iter().map(|q| q.label.as_str()).collect::<Vec<_>>(),
        ["2025-Q4", "2026-Q1"]
    );
    let past: Vec<_> = past_q.iter().map(|q| ledger.tally(q, &[1], true)).collect();
    let org = org();
    let cx = Context {
        ledger: &ledger,
        org: &org,
        quarter: &q,
        cut,
        past: &past,
    };
    let prepared = forecast::prepare(&cx, o);
    forecast::forecast(&cx, o, &prepared)
}

fn value(rows: &[forecast::Row], m: Method) -> Option<f64> {
    rows[0].forecasts.iter().find(|f| f.method == m)?.value
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap();
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

#[test]
fn every_method_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(&store(dir.path(), Vec::new()));
    let o = Options {
        known: true,
        ..Options::default()
    };
    let r = rows(&log, &o);
    // seed 004's example, TV-01
    close(value(&r, Method::Category), 3_000_000.0);
    // every Q1 deal was in Proposal and dated in Q1: 1.8M of 3M won → 0.6 of the 5M dated in Q2
    close(value(&r, Method::HistoricalCoverage), 3_000_000.0);
    // stage → won: 4 of the 8 deals closed in the last year had been in Proposal and were won
    close(value(&r, Method::StageWeighted), 2_500_000.0);
    // the default process's Proposal probability is 40%
    close(value(&r, Method::StageWeightedCrm), 2_000_000.0);
    // projection: each cell has under 20 deals, so the rate of all deals dated in the
    // quarter, 0.6, on 5M; H1 (dated later) has no history: 0; plus 300k new business won
    close(value(&r, Method::Projection), 3_300_000.0);
    // baselines: Q4 2025 booked nothing, Q1 2026 booked 2.1M
    close(value(&r, Method::LastPeriod), 2_100_000.0);
    close(value(&r, Method::RunRate), 1_050_000.0);
    assert_eq!(value(&r, Method::SeasonalNaive), None);
    // the probabilistic method's quantiles are ordered, and its terms are its expectation
    let p = r[0]
        .forecasts
        .iter()
        .find(|f| f.method == Method::Probabilistic)
        .unwrap();
    let (p10, p50, p90) = (p.p10.unwrap(), p.p50.unwrap(), p.p90.unwrap());
    assert!(p10 <= p50 && p50 <= p90 && p10 < p90, "{p10} {p50} {p90}");
    // the company's quota is the reps'
    assert_eq!(r[0].quota, Some(3_500_000.0));
    // in_blood warns about the two pipeline-category deals dated in Q2
    let ib = r[0]
        .forecasts
        .iter()
        .find(|f| f.method == Method::InBlood)
        .unwrap();
    assert!(
        ib.warnings[0].starts_with("2 pipeline-category deal(s), 2,000,000 in all"),
        "{:?}",
        ib.warnings
    );
    // every method's terms add up to its value
    for f in &r[0].forecasts {
        if let (Some(v), Method::StageWeighted | Method::Category | Method::Projection) =
            (f.value, f.method)
        {
            let s: f64 = f.terms.iter().map(|t| t.value).sum();
            assert!((s - v).abs() < 1e-6, "{:?}", f.method);
        }
    }
}

#[test]
fn in_blood_decides_deal_by_deal() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(&store(dir.path(), Vec::new()));
    let process = SalesProcess::default_process();
    let ledger = Ledger::new(&log, &process);
    let q = q2();
    let cut = q.week_cut(1);
    let snap = ledger.snapshot(&q, Cut::known_at(cut));
    assert_eq!(snap.open.len(), 6);
    let id = |d: &&pipewise_forecast::scan::OpenDeal| ledger.id(d.key).to_string();
    let p = |id: &str| match id {
        "E1" => DealP {
            won: 0.3,
            lost: 0.1,
            slipped: 0.6,
        }, // commit, likely to slip: out
        "F1" => DealP {
            won: 0.7,
            lost: 0.2,
            slipped: 0.1,
        }, // best case, likely: in
        "F2" => DealP {
            won: 0.4,
            lost: 0.4,
            slipped: 0.2,
        }, // best case, unlikely: out
        _ => DealP {
            won: 0.9,
            lost: 0.05,
            slipped: 0.05,
        }, // pipeline: never in
    };
    let open: Vec<&pipewise_forecast::scan::OpenDeal> = snap.open.iter().collect();
    let conversions = ledger.conversions(cut, true, 365);
    let x = Inputs {
        ledger: &ledger,
        quarter: &q,
        cut,
        week: 1,
        p: open.iter().map(|d| p(&id(d))).collect(),
        open,
        won: Vec::new(),
        history: History::default(),
        past: Vec::new(),
        conversions: &conversions,
        new_share: 1.0,
        scale: 1.0,
        simulated: None,
        explain: true,
    };
    let f = pipewise_forecast::methods::run(Method::InBlood, &x);
    assert_eq!(f.value, Some(1_000_000.0)); // F1 only
    assert_eq!(f.upside, Some(2_000_000.0)); // E1 and F2
    let reasons: Vec<(String, String)> = f
        .terms
        .iter()
        .flat_map(|t| t.deals.iter())
        .map(|d| {
            (
                d.opportunity_id.clone(),
                d.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&(
            "E1".into(),
            "timing: P(slips past the quarter) 60.0%".into()
        )),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(
            "F2".into(),
            "vendor or timing risk: P(won in the quarter) 40.0%".into()
        )),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(id, r)| id == "F1" && r.starts_with("best case"))
    );
    assert!(!reasons.iter().any(|(id, _)| id.starts_with('G')));
}

#[test]
fn a_known_forecast_ignores_what_was_recorded_later() {
    // recorded after the cut: E1 won (effective before the cut!), F1's amount doubled,
    // a Q1 deal's loss undone
    let late = |id: &str, field: Field, v: Value, effective: &str| {
        late(id, field, v, effective, "2026-04-10")
    };
    let (clean, noisy) = clean_and_noisy(vec![
        late(
            "E1",
            Field::Stage,
            Value::Text("Closed Won".into()),
            "2026-04-01",
        ),
        late(
            "F1",
            Field::Amount,
            Value::Number(2_000_000.0),
            "2026-03-31",
        ),
        late(
            "A2",
            Field::Stage,
            Value::Text("Closed Won".into()),
            "2026-02-21",
        ),
    ]);
    let o = Options {
        known: true,
        explain: true,
        ..Options::default()
    };
    let a = serde_json::to_string(&rows(&clean, &o)).unwrap();
    let b = serde_json::to_string(&rows(&noisy, &o)).unwrap();
    assert_eq!(a, b);
    // and without --known, the late records count
    let o = Options { known: false, ..o };
    let c = serde_json::to_string(&rows(&noisy, &o)).unwrap();
    assert_ne!(a, c);
}

#[test]
fn groups_come_from_the_same_draws() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(&store(dir.path(), Vec::new()));
    let o = Options {
        known: true,
        by: By::Owner,
        ..Options::default()
    };
    let r = rows(&log, &o);
    assert_eq!(
        r.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(),
        ["all", "r1", "r2"]
    );
    assert_eq!(r[1].quota, Some(2_000_000.0));
    assert_eq!(r[1].label, "R1");
    // additive methods add up over the owners
    for m in [
        Method::Category,
        Method::HistoricalCoverage,
        Method::StageWeighted,
    ] {
        let parts = value(&r[1..], m).unwrap() + value(&r[2..], m).unwrap();
        assert!((parts - value(&r, m).unwrap()).abs() < 1e-6, "{m:?}");
    }
    // the same deals and seed give the same bytes
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&rows(&log, &o)).unwrap()
    );
    // by segment: every deal is smb, so its row is the company's, baselines included
    let o_seg = Options {
        by: By::Segment,
        ..o.clone()
    };
    let s = rows(&log, &o_seg);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].group, "smb");
    for m in [Method::LastPeriod, Method::RunRate, Method::Category] {
        assert_eq!(value(&s[1..], m), value(&s, m), "{m:?}");
    }
    close(value(&s[1..], Method::LastPeriod), 2_100_000.0);
    // under a manager: the subtree's deals only
    let o = Options {
        by: By::Company,
        scope: Some(org().subtree("r1")),
        ..o
    };
    let r1 = rows(&log, &o);
    assert_eq!(r1[0].quota, Some(2_000_000.0));
    // r1 has E1 (commit 1M), F1 (best case 1M), G1 (pipeline 1M): 0.9 + 0.6 + 0.3 = 1.8M,
    // plus r1's share of new business: r1 booked all 2.1M of the last quarters, so all of it
    close(value(&r1, Method::Category), 1_800_000.0 + 300_000.0);
}

#[test]
fn a_backtest_forecasts_only_from_what_was_recorded_by_each_cut() {
    use pipewise_forecast::backtest::{BacktestOptions, run};
    let backtest = |log: &EventLog| {
        let process = SalesProcess::default_process();
        let ledger = Ledger::new(log, &process);
        let cal = FiscalCalendar::default();
        let q = q2();
        let mut quarters = past_quarters(&q, q.end(), t("2025-12-01"), 1, &cal);
        quarters.push(q);
        let all: Vec<_> = quarters
            .iter()
            .map(|q| ledger.tally(q, &[1, 2], true))
            .collect();
        let bt = run(
            &ledger,
            &org(),
            &all,
            &[2],
            &BacktestOptions {
                weeks: vec![1, 2],
                methods: Method::ALL.to_vec(),
                draws: 300,
                seed: 1,
                lookback: 4,
            },
            None,
        );
        bt.points
            .iter()
            .map(|p| {
                (
                    p.week,
                    p.method,
                    p.forecast.map(f64::to_bits),
                    p.p10.map(f64::to_bits),
                )
            })
            .collect::<Vec<_>>()
    };
    // recorded after week 2's cut (2026-04-08), some effective before it
    let late = |id: &str, field: Field, v: Value, effective: &str| {
        late(id, field, v, effective, "2026-04-09")
    };
    let (clean, noisy) = clean_and_noisy(vec![
        late(
            "E1",
            Field::Stage,
            Value::Text("Closed Won".into()),
            "2026-04-02",
        ),
        late(
            "F2",
            Field::Amount,
            Value::Number(9_000_000.0),
            "2026-04-01",
        ),
        late(
            "B2",
            Field::Stage,
            Value::Text("Closed Won".into()),
            "2026-03-06",
        ),
    ]);
    let (a, b) = (backtest(&clean), backtest(&noisy));
    assert_eq!(a.len(), 2 * Method::ALL.len());
    assert_eq!(a, b);
}

#[test]
fn a_backtest_takes_a_trained_models_probabilities_at_each_cut() {
    use pipewise_forecast::backtest::{BacktestOptions, Learned, run};
    use std::cell::RefCell;
    use std::collections::HashMap;
    let (log, _) = clean_and_noisy(vec![]);
    let process = SalesProcess::default_process();
    let ledger = Ledger::new(&log, &process);
    let cal = FiscalCalendar::default();
    let q = q2();
    let mut quarters = past_quarters(&q, q.end(), t("2025-12-01"), 1, &cal);
    quarters.push(q.clone());
    let all: Vec<_> = quarters
        .iter()
        .map(|q| ledger.tally(q, &[1, 2], true))
        .collect();
    let o = BacktestOptions {
        weeks: vec![1, 2],
        methods: vec![Method::Probabilistic],
        draws: 200,
        seed: 1,
        lookback: 4,
    };
    let asked = RefCell::new(Vec::new());
    // a "model" that gives every deal an even chance, and says when it was asked
    let even = |q: &Quarter, cut: Timestamp| {
        asked.borrow_mut().push((q.label.clone(), cut));
        let p = DealP {
            won: 0.5,
            lost: 0.5,
            slipped: 0.0,
        };
        Some(
            (0..ledger.len() as u32)
                .map(|k| (k, p))
                .collect::<HashMap<_, _>>(),
        )
    };
    let with = run(&ledger, &org(), &all, &[2], &o, Some(&even as Learned));
    let without = run(&ledger, &org(), &all, &[2], &o, None);
    // asked once per cut, for that cut: nothing later
    assert_eq!(
        asked.into_inner(),
        vec![
            ("2026-Q2".to_string(), t("2026-04-01")),
            ("2026-Q2".to_string(), t("2026-04-08"))
        ]
    );
    let brier = |bt: &pipewise_forecast::backtest::Backtest, model: &str| {
        bt.deal_level
            .iter()
            .find(|d| d.model == model && d.week.is_none())
            .map(|d| d.brier)
            .unwrap()
    };
    // every open deal at 0.5 is off by exactly 0.5, won or not: Brier 0.25
    assert!((brier(&with, "probabilistic") - 0.25).abs() < 1e-12);
    // the pooled cells' own, shown beside it, are what a run without the model gives
    assert_eq!(
        brier(&with, "pooled_cells"),
        brier(&without, "probabilistic")
    );
    assert!(without.deal_level.iter().all(|d| d.model != "pooled_cells"));
    assert_ne!(with.points, without.points);
}
