//! Ledger integration tests: as-of against a naive replay, commits, idempotency, crash safety.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_ledger::{NewOpportunity, Store};
use pipewise_model::{Field, OpportunityEvent, SalesProcess, Value};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};

const DAY: i64 = 86_400_000_000;
const STAGES: [&str; 5] = [
    "Qualification",
    "Discovery",
    "Proposal",
    "Closed Won",
    "Closed Lost",
];

#[derive(Debug, Clone)]
struct Gen {
    opp: u8,
    field: u8,
    value: u8,
    eff_day: i64,
    lag: i64,
}

fn to_event(g: &Gen) -> OpportunityEvent {
    let (field, value) = match g.field {
        0 => (
            Field::Stage,
            Value::Text(STAGES[g.value as usize % STAGES.len()].into()),
        ),
        1 => (Field::Amount, Value::Number(f64::from(g.value) * 1000.0)),
        2 => (Field::CloseDate, Value::Date(20_000 + i32::from(g.value))),
        _ => (Field::IsDeleted, Value::Bool(g.value.is_multiple_of(3))),
    };
    OpportunityEvent {
        opportunity_id: format!("O{}", g.opp),
        field,
        old_value: Value::Null,
        new_value: value,
        effective_at: g.eff_day * DAY / 2,
        recorded_at: g.eff_day * DAY / 2 + g.lag * DAY / 2,
        source: "test".into(),
    }
}

/// The reference: a plain list of landed events, replayed by filtering and sorting.
#[derive(Default)]
struct Naive {
    landed: Vec<OpportunityEvent>, // in landing (seq) order
    created: BTreeMap<String, i64>,
    first_rec: BTreeMap<String, i64>,
}

impl Naive {
    fn land(&mut self, batch: &[OpportunityEvent], created: &BTreeMap<String, i64>) {
        let mut rec: BTreeMap<String, i64> = BTreeMap::new();
        for e in batch {
            let r = rec.entry(e.opportunity_id.clone()).or_insert(e.recorded_at);
            *r = (*r).min(e.recorded_at);
        }
        for (id, c) in created {
            if !self.created.contains_key(id) {
                self.created.insert(id.clone(), *c);
                self.first_rec
                    .insert(id.clone(), rec.get(id).copied().unwrap_or(*c));
            }
        }
        let mut seen: HashSet<(String, String, i64, Option<String>)> = self
            .landed
            .iter()
            .map(|e| {
                (
                    e.opportunity_id.clone(),
                    e.field.name().into_owned(),
                    e.effective_at,
                    e.new_value.to_canonical_string(),
                )
            })
            .collect();
        for e in batch {
            let k = (
                e.opportunity_id.clone(),
                e.field.name().into_owned(),
                e.effective_at,
                e.new_value.to_canonical_string(),
            );
            if seen.insert(k) {
                self.landed.push(e.clone());
            }
        }
    }

    fn state(&self, cut: Cut) -> BTreeMap<String, BTreeMap<Field, Value>> {
        let mut out = BTreeMap::new();
        for (id, &created) in &self.created {
            if created > cut.effective || cut.recorded.is_some_and(|r| self.first_rec[id] > r) {
                continue;
            }
            let mut evs: Vec<(usize, &OpportunityEvent)> = self
                .landed
                .iter()
                .enumerate()
                .filter(|(_, e)| &e.opportunity_id == id && e.effective_at <= cut.effective)
                .filter(|(_, e)| cut.recorded.is_none_or(|r| e.recorded_at <= r))
                .collect();
            evs.sort_by_key(|(seq, e)| (e.effective_at, *seq));
            let mut vals = BTreeMap::new();
            for (_, e) in evs {
                vals.insert(e.field.clone(), e.new_value.clone());
            }
            if vals.get(&Field::IsDeleted) == Some(&Value::Bool(true)) {
                continue;
            }
            out.insert(id.clone(), vals);
        }
        out
    }
}

fn gen_strategy() -> impl Strategy<Value = Vec<Vec<Gen>>> {
    let g = (0u8..6, 0u8..4, 0u8..10, 0i64..24, 0i64..6).prop_map(
        |(opp, field, value, eff_day, lag)| Gen {
            opp,
            field,
            value,
            eff_day,
            lag,
        },
    );
    prop::collection::vec(prop::collection::vec(g, 0..25), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn as_of_matches_naive_replay(batches in gen_strategy(), cut_days in prop::collection::vec(-1i64..30, 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let mut naive = Naive::default();
        for batch in &batches {
            let events: Vec<OpportunityEvent> = batch.iter().map(to_event).collect();
            // each opportunity is created at its earliest event in the batch that first mentions it
            let mut created: BTreeMap<String, i64> = BTreeMap::new();
            for e in &events {
                let c = created.entry(e.opportunity_id.clone()).or_insert(e.effective_at);
                *c = (*c).min(e.effective_at);
            }
            let news = created.iter().map(|(id, c)| NewOpportunity { id: id.clone(), created_at: *c }).collect();
            let m = store.manifest().unwrap();
            store.commit(&m, pipewise_ledger::store_commit(news, events.clone())).unwrap();
            naive.land(&events, &created);
        }
        let log = store.load(None, true).unwrap();
        let process = SalesProcess::default_process();
        for d in cut_days {
            for cut in [Cut::at(d * DAY / 2), Cut::known_at(d * DAY / 2)] {
                let want = naive.state(cut);
                let got: BTreeMap<String, BTreeMap<Field, Value>> = asof::states(&log, cut)
                    .into_iter()
                    .map(|s| (s.id, s.values))
                    .collect();
                prop_assert_eq!(&got, &want, "cut {:?}", cut);
                // grouped totals agree with the per-opportunity states
                let totals = &asof::totals(&log, &process, &GroupBy::Stage, &[cut], false)[0];
                // (amounts summed exactly, in fixed point, then shown as f64)
                let mut naive_totals: BTreeMap<String, (u64, pipewise_ledger::flow::Fixed)> = BTreeMap::new();
                for vals in want.values() {
                    let stage = match vals.get(&Field::Stage) {
                        Some(Value::Text(s)) => s.clone(),
                        _ => "(none)".into(),
                    };
                    let amount = vals.get(&Field::Amount).and_then(Value::as_number).unwrap_or(0.0);
                    let t = naive_totals.entry(stage).or_default();
                    t.0 += 1;
                    t.1 += pipewise_ledger::flow::to_fixed(amount);
                }
                let naive_totals: BTreeMap<String, (u64, f64)> = naive_totals
                    .into_iter()
                    .map(|(g, (c, a))| (g, (c, pipewise_ledger::flow::from_fixed(a))))
                    .collect();
                let got_totals: BTreeMap<String, (u64, f64)> =
                    totals.iter().map(|t| (t.group.clone(), (t.count, t.amount))).collect();
                prop_assert_eq!(got_totals, naive_totals);
            }
        }
    }
}

fn ev(id: &str, field: Field, v: Value, eff: i64) -> OpportunityEvent {
    OpportunityEvent {
        opportunity_id: id.into(),
        field,
        old_value: Value::Null,
        new_value: v,
        effective_at: eff,
        recorded_at: eff,
        source: "t".into(),
    }
}

#[test]
fn same_data_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let events = vec![
        ev("A", Field::Stage, Value::Text("Discovery".into()), DAY),
        ev("A", Field::Amount, Value::Number(100.0), DAY),
        ev("A", Field::Stage, Value::Text("Proposal".into()), 2 * DAY),
    ];
    let news = vec![NewOpportunity {
        id: "A".into(),
        created_at: DAY,
    }];
    let m = store.manifest().unwrap();
    let s1 = store
        .commit(
            &m,
            pipewise_ledger::store_commit(news.clone(), events.clone()),
        )
        .unwrap();
    assert_eq!(
        (s1.events_added, s1.events_duplicate, s1.opportunities_added),
        (3, 0, 1)
    );
    let before = store.load(None, true).unwrap().dump();
    let m = store.manifest().unwrap();
    let s2 = store
        .commit(&m, pipewise_ledger::store_commit(news, events))
        .unwrap();
    assert_eq!(
        (s2.events_added, s2.events_duplicate, s2.opportunities_added),
        (0, 3, 0)
    );
    assert_eq!(store.load(None, true).unwrap().dump(), before);
}

#[test]
fn interrupted_commit_leaves_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let m = store.manifest().unwrap();
    store
        .commit(
            &m,
            pipewise_ledger::store_commit(
                vec![],
                vec![ev("A", Field::Amount, Value::Number(5.0), DAY)],
            ),
        )
        .unwrap();
    let good = store.load(None, true).unwrap().dump();
    // Simulate a crash after the segment and manifest of version 2 were written
    // but before CURRENT was swapped: garbage files, CURRENT untouched.
    let seg = dir.path().join("ledger/segments/s000002");
    std::fs::create_dir_all(&seg).unwrap();
    std::fs::write(seg.join("amount.parquet"), b"half a file").unwrap();
    std::fs::write(dir.path().join("ledger/manifests/v000002.json.tmp"), b"{").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.manifest().unwrap().version, 1);
    // (a reader polling CURRENT alone sees the same version)
    assert_eq!(store.current_version().unwrap(), 1);
    assert_eq!(store.load(None, true).unwrap().dump(), good);
    // the next commit cleans up and succeeds
    let m = store.manifest().unwrap();
    store
        .commit(
            &m,
            pipewise_ledger::store_commit(
                vec![],
                vec![ev("A", Field::Amount, Value::Number(6.0), 2 * DAY)],
            ),
        )
        .unwrap();
    assert_eq!(store.load(None, true).unwrap().event_count(), 2);
    assert_eq!(store.current_version().unwrap(), 2);
    assert_eq!(store.manifest().unwrap().version, 2);
}

#[test]
fn changes_are_half_open_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let m = store.manifest().unwrap();
    let events = vec![
        ev("B", Field::Stage, Value::Text("Discovery".into()), 3 * DAY),
        ev("A", Field::Stage, Value::Text("Discovery".into()), DAY),
        ev("A", Field::Amount, Value::Number(1.0), 2 * DAY),
        ev("A", Field::Stage, Value::Text("Proposal".into()), 3 * DAY),
    ];
    store
        .commit(&m, pipewise_ledger::store_commit(vec![], events))
        .unwrap();
    let log = store.load(None, true).unwrap();
    let ch = asof::changes(&log, DAY, 3 * DAY);
    let got: Vec<(String, String, i64)> = ch
        .iter()
        .map(|(_, e)| {
            (
                e.opportunity_id.clone(),
                e.field.name().into_owned(),
                e.effective_at / DAY,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("A".to_string(), "amount".to_string(), 2),
            ("B".to_string(), "stage".to_string(), 3),
            ("A".to_string(), "stage".to_string(), 3),
        ]
    );
}

#[test]
fn opening_a_non_workspace_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("pipewise init"), "{err}");
}

#[test]
fn opportunities_table_as_of() {
    use arrow_array::{Array, BooleanArray, Float64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let m = store.manifest().unwrap();
    let events = vec![
        ev("A", Field::Stage, Value::Text("Discovery".into()), DAY),
        ev("A", Field::Amount, Value::Number(100.0), DAY),
        ev("A", Field::Stage, Value::Text("Closed Won".into()), 3 * DAY),
        ev("B", Field::Stage, Value::Text("Proposal".into()), 2 * DAY),
        ev(
            "B",
            Field::ForecastCategory,
            Value::Text("commit".into()),
            2 * DAY,
        ),
        ev("C", Field::Stage, Value::Text("Discovery".into()), 5 * DAY),
    ];
    store
        .commit(&m, pipewise_ledger::store_commit(vec![], events))
        .unwrap();
    let log = store.load(None, true).unwrap();
    let p = SalesProcess::default_process();
    let b = asof::opportunities_batch(&log, &p, Cut::at(2 * DAY)).unwrap();
    assert_eq!(b.schema(), pipewise_model::schema::opportunities());
    assert_eq!(b.num_rows(), 2, "C does not exist yet");
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    let stage = col("stage");
    let stage = stage.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!((stage.value(0), stage.value(1)), ("Discovery", "Proposal"));
    let fc = col("forecast_category");
    let fc = fc.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(
        (fc.value(0), fc.value(1)),
        ("pipeline", "commit"),
        "stage default, then the field"
    );
    let amount = col("amount");
    let amount = amount.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(amount.value(0), 100.0);
    assert!(amount.is_null(1));
    let later = asof::opportunities_batch(&log, &p, Cut::at(4 * DAY)).unwrap();
    let won = later.column_by_name("is_won").unwrap().clone();
    let won = won.as_any().downcast_ref::<BooleanArray>().unwrap();
    assert!(won.value(0) && !won.value(1));
}

mod flow_tests {
    use super::*;
    use pipewise_ledger::flow::{self, Bucket, Fixed, to_fixed};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        /// start + Σ membership buckets = end, exactly, in amount and count; every
        /// opportunity of start ∪ end is in exactly one membership bucket; start and
        /// end equal the pipeline computed from a naive replay.
        #[test]
        fn flow_reconciles(batches in gen_strategy(), from_day in 0i64..20, span in 0i64..20, p0 in 0i32..10, plen in 0i32..8, with_period: bool) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::init(dir.path()).unwrap();
            let mut naive = Naive::default();
            for batch in &batches {
                let events: Vec<OpportunityEvent> = batch.iter().map(to_event).collect();
                let mut created: BTreeMap<String, i64> = BTreeMap::new();
                for e in &events {
                    let c = created.entry(e.opportunity_id.clone()).or_insert(e.effective_at);
                    *c = (*c).min(e.effective_at);
                }
                let news = created.iter().map(|(id, c)| NewOpportunity { id: id.clone(), created_at: *c }).collect();
                let m = store.manifest().unwrap();
                store.commit(&m, pipewise_ledger::store_commit(news, events.clone())).unwrap();
                naive.land(&events, &created);
            }
            let log = store.load(None, true).unwrap();
            let process = SalesProcess::default_process();
            let (from, to) = (Cut::at(from_day * DAY / 2), Cut::at((from_day + span) * DAY / 2));
            let period = with_period.then_some((20_000 + p0, 20_000 + p0 + plen));
            let f = flow::flow(&log, &process, from, to, period);
            let total = |b: Bucket| f.totals.iter().find(|t| t.bucket == b).unwrap().clone();
            let (start, end) = (total(Bucket::Start), total(Bucket::End));
            let members: Vec<_> = f.totals.iter().filter(|t| t.bucket.is_membership()).collect();
            prop_assert_eq!(start.amount + members.iter().map(|t| t.amount).sum::<Fixed>(), end.amount);
            prop_assert_eq!(start.count + members.iter().map(|t| t.count).sum::<i64>(), end.count);
            // Per opportunity: start + its membership items = end.
            let mut per: BTreeMap<u32, (i64, Fixed)> = BTreeMap::new();
            for i in &f.items {
                let e = per.entry(i.opportunity_key).or_default();
                match i.bucket {
                    Bucket::Start => { e.0 += 1; e.1 += i.amount; }
                    Bucket::End => { e.0 -= 1; e.1 -= i.amount; }
                    b if b.is_membership() => { e.0 += i.count; e.1 += i.amount; }
                    _ => {}
                }
            }
            prop_assert!(per.values().all(|v| *v == (0, 0)), "{:?}", per);
            // Start and end against the naive replay.
            for (cut, t) in [(from, &start), (to, &end)] {
                let mut count = 0i64;
                let mut amount: Fixed = 0;
                for vals in naive.state(cut).values() {
                    let stage = vals.get(&Field::Stage).and_then(Value::as_text).map(str::to_string);
                    let open = stage.as_deref().is_none_or(|s| !s.starts_with("Closed"));
                    let close = vals.get(&Field::CloseDate).and_then(Value::as_date);
                    let in_period = period.is_none_or(|(a, b)| close.is_some_and(|d| d >= a && d <= b));
                    if open && in_period {
                        count += 1;
                        amount += vals.get(&Field::Amount).and_then(Value::as_number).map(to_fixed).unwrap_or(0);
                    }
                }
                prop_assert_eq!((t.count, t.amount), (count, amount));
            }
        }
    }

    #[test]
    fn flow_buckets_by_hand() {
        // Period: days 20000..=20030. From = day 1, to = day 10.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let d = |n: i32| Value::Date(20_000 + n);
        let t = Value::Text;
        let events = vec![
            // A: in the period at start, won by the end → won
            ev("A", Field::Stage, t("Discovery".into()), 0),
            ev("A", Field::Amount, Value::Number(100.0), 0),
            ev("A", Field::CloseDate, d(10), 0),
            ev("A", Field::Stage, t("Closed Won".into()), 5 * DAY),
            // B: close date pushed beyond the period → pushed_out (slipped)
            ev("B", Field::Stage, t("Proposal".into()), 0),
            ev("B", Field::Amount, Value::Number(50.0), 0),
            ev("B", Field::CloseDate, d(20), 0),
            ev("B", Field::CloseDate, d(45), 6 * DAY),
            // C: created after from → new
            ev("C", Field::Stage, t("Qualification".into()), 3 * DAY),
            ev("C", Field::Amount, Value::Number(30.0), 3 * DAY),
            ev("C", Field::CloseDate, d(25), 3 * DAY),
            // D: amount up, stage advanced, in both
            ev("D", Field::Stage, t("Discovery".into()), 0),
            ev("D", Field::Amount, Value::Number(10.0), 0),
            ev("D", Field::CloseDate, d(5), 0),
            ev("D", Field::Amount, Value::Number(15.5), 4 * DAY),
            ev("D", Field::Stage, t("Proposal".into()), 4 * DAY),
            // F: created and won inside the window → new and won
            ev("F", Field::Stage, t("Discovery".into()), 2 * DAY),
            ev("F", Field::Amount, Value::Number(20.0), 2 * DAY),
            ev("F", Field::CloseDate, d(8), 2 * DAY),
            ev("F", Field::Stage, t("Closed Won".into()), 4 * DAY),
            // E: close date was after the period, pulled in
            ev("E", Field::Stage, t("Discovery".into()), 0),
            ev("E", Field::Amount, Value::Number(7.0), 0),
            ev("E", Field::CloseDate, d(60), 0),
            ev("E", Field::CloseDate, d(30), 2 * DAY),
        ];
        let m = store.manifest().unwrap();
        store
            .commit(&m, pipewise_ledger::store_commit(vec![], events))
            .unwrap();
        let log = store.load(None, true).unwrap();
        let f = flow::flow(
            &log,
            &SalesProcess::default_process(),
            Cut::at(DAY),
            Cut::at(10 * DAY),
            Some((20_000, 20_030)),
        );
        let got: BTreeMap<&str, (i64, i64, f64)> = f
            .totals
            .iter()
            .filter(|t| t.deals > 0)
            .map(|t| {
                (
                    t.bucket.as_str(),
                    (t.deals, t.count, flow::from_fixed(t.amount)),
                )
            })
            .collect();
        let want: BTreeMap<&str, (i64, i64, f64)> = [
            ("start", (3, 3, 160.0)),
            ("won", (2, -2, -120.0)),
            ("pushed_out", (1, -1, -50.0)),
            ("new", (2, 2, 50.0)),
            ("pulled_in", (1, 1, 7.0)),
            ("amount_up", (1, 0, 5.5)),
            ("stage_advanced", (1, 1, 0.0)),
            ("forecast_category_up", (1, 1, 0.0)), // Discovery (pipeline) → Proposal (best case)
            ("end", (3, 3, 52.5)),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn grouped_totals_sum_amounts_exactly() {
    // Ten deals of 0.10 sum to 1.00 (a float sum gives 0.9999999999999999),
    // and two halves beside a 2^52 deal add up to one (a float sum, adding
    // in key order, rounds each half away).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let mut events = Vec::new();
    let mut news = Vec::new();
    let mut deal = |id: String, stage: &str, a: f64| {
        events.push(ev(&id, Field::Stage, Value::Text(stage.into()), 10));
        events.push(ev(&id, Field::Amount, Value::Number(a), 10));
        news.push(NewOpportunity { id, created_at: 10 });
    };
    for i in 0..10 {
        deal(format!("small{i}"), "Discovery", 0.1);
    }
    let big = 4_503_599_627_370_496.0; // 2^52: the next float up is 2^52 + 1
    deal("a-big".into(), "Proposal", big);
    deal("b-half".into(), "Proposal", 0.5);
    deal("c-half".into(), "Proposal", 0.5);
    assert_eq!(big + 0.5 + 0.5, big, "a float sum loses both halves");
    let m = store.manifest().unwrap();
    store
        .commit(&m, pipewise_ledger::store_commit(news, events))
        .unwrap();
    let log = store.load(None, false).unwrap();
    let t = &asof::totals(
        &log,
        &SalesProcess::default_process(),
        &GroupBy::Stage,
        &[Cut::at(100)],
        false,
    )[0];
    let amount = |g: &str| t.iter().find(|x| x.group == g).unwrap().amount;
    assert_eq!(amount("Discovery"), 1.0);
    assert_eq!(amount("Proposal"), big + 1.0);
}

#[test]
fn a_stage_is_read_in_the_process_the_deal_followed_then() {
    // Two processes share the stage name "Negotiation" (80% in New Business,
    // 90% and the qualified stage in Renewals). Deal "m" starts in New
    // Business, is moved to Renewals at 30 (pipeline and stage change
    // together) and later goes back to Review; deal "n" names no pipeline.
    let process = SalesProcess::from_toml(
        r#"
[[pipelines]]
name = "New Business"
qualified_stage = "Discovery"
stages = [
  { name = "Discovery", forecast_category = "pipeline", probability = 20 },
  { name = "Negotiation", forecast_category = "commit", probability = 80 },
  { name = "Won", forecast_category = "closed", outcome = "won" },
  { name = "Lost", forecast_category = "omitted", outcome = "lost" },
]
[[pipelines]]
name = "Renewals"
qualified_stage = "Negotiation"
stages = [
  { name = "Review", forecast_category = "best_case", probability = 30 },
  { name = "Negotiation", forecast_category = "commit", probability = 90 },
  { name = "Renewed", forecast_category = "closed", outcome = "won" },
  { name = "Churned", forecast_category = "omitted", outcome = "lost" },
]
"#,
        "t.toml",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let text = |s: &str| Value::Text(s.into());
    let events = vec![
        ev("m", Field::Pipeline, text("New Business"), 10),
        ev("m", Field::Stage, text("Negotiation"), 10),
        ev("m", Field::Pipeline, text("Renewals"), 30),
        ev("m", Field::Stage, text("Negotiation"), 30),
        ev("m", Field::Stage, text("Review"), 50),
        ev("n", Field::Stage, text("Negotiation"), 10),
    ];
    let news = vec![
        NewOpportunity {
            id: "m".into(),
            created_at: 10,
        },
        NewOpportunity {
            id: "n".into(),
            created_at: 10,
        },
    ];
    let m = store.manifest().unwrap();
    store
        .commit(&m, pipewise_ledger::store_commit(news, events))
        .unwrap();
    let log = store.load(None, false).unwrap();
    let facts = |t: i64| {
        let f = asof::FactColumns::new(&log, Cut::at(t));
        let col = |n: &str| f.column(&log, &process, n).unwrap();
        let p = col("stage_probability");
        let p = p
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap()
            .clone();
        let q = col("qualified_at");
        let q = q
            .as_any()
            .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
            .unwrap()
            .clone();
        let pl = col("pipeline");
        let pl = pl
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .clone();
        (0..2)
            .map(|j| {
                (
                    pl.value(j).to_string(),
                    p.value(j),
                    (!arrow_array::Array::is_null(&q, j)).then(|| q.value(j)),
                )
            })
            .collect::<Vec<_>>()
    };
    // At 20 "m" is in New Business's Negotiation; "n" (no pipeline) in the first process's.
    assert_eq!(
        facts(20),
        [
            ("New Business".to_string(), 80.0, Some(10)),
            ("New Business".to_string(), 80.0, Some(10))
        ]
    );
    // At 40 it is in Renewals' Negotiation; it had qualified at 10 already.
    assert_eq!(facts(40)[0], ("Renewals".to_string(), 90.0, Some(10)));
    // At 60 it is back in Review: Renewals' 30%.
    assert_eq!(facts(60)[0], ("Renewals".to_string(), 30.0, Some(10)));
    // Totals by stage label and by process.
    let by = |g: &GroupBy, t: i64, p: Option<usize>| -> Vec<(String, u64)> {
        asof::totals_in(&log, &process, g, &[Cut::at(t)], false, p)[0]
            .iter()
            .map(|x| (x.group.clone(), x.count))
            .collect()
    };
    assert_eq!(
        by(&GroupBy::Stage, 40, None),
        [
            ("New Business: Negotiation".to_string(), 1),
            ("Renewals: Negotiation".to_string(), 1)
        ]
    );
    assert_eq!(
        by(&GroupBy::Pipeline, 40, None),
        [("New Business".to_string(), 1), ("Renewals".to_string(), 1)]
    );
    assert_eq!(
        by(&GroupBy::Stage, 60, Some(1)),
        [("Review".to_string(), 1)]
    );
    // The stage codes of each event follow the pipeline in force then.
    let codes = asof::StageCodes::new(&log, &process);
    let stage_col = log.column(&Field::Stage).unwrap();
    let m_codes: Vec<Option<usize>> = stage_col
        .run(log.keys.key("m").unwrap())
        .map(|i| codes.get(i))
        .collect();
    assert_eq!(m_codes, [Some(1), Some(5), Some(4)]);
}
