//! The seeds' worked examples (seed-requirements §10) as rows of one
//! data-driven runner: `tests/seed-vectors.toml` holds, per vector, a small
//! world (deals by stage path, activities, the vector's own metrics as code
//! when the library has none) and what the seed says it gives. Each row is
//! built into a real ledger and checked through the product's own paths:
//! `evaluate`, `funnel`, `aging`. Vectors tested elsewhere, and those that
//! wait for a later capability, are listed in docs/metrics.md.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_engine::Engine;
use pipewise_ledger::asof::Cut;
use pipewise_ledger::{Commit, EventLog, NewOpportunity, Store, tables};
use pipewise_metrics::funnel::{FunnelStage, aging, funnel};
use pipewise_metrics::{Library, Metric, MetricQuery, evaluate};
use pipewise_model::time::{date_start, parse_period, ymd};
use pipewise_model::{
    Account, Activity, ActivityType, Direction, Field, OpportunityEvent, SalesProcess, Value,
    schema,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    vector: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    id: String,
    #[allow(dead_code)] // documentation: where the seed says it
    seed: String,
    #[allow(dead_code)] // documentation: what the seed says
    says: String,
    /// A sales process (pipewise.toml); the default one without.
    #[serde(default)]
    process: Option<String>,
    /// The time funnel and aging are cut at (noon of the day).
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    deals: Vec<Deals>,
    #[serde(default)]
    activities: Vec<Activities>,
    /// Metric definitions of the vector's own (metrics as code).
    #[serde(default)]
    metrics: Vec<String>,
    expect: Vec<Expect>,
}

/// `count` deals alike.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deals {
    #[serde(default = "one")]
    count: usize,
    /// (day, stage) in order; the deal is created on the first day.
    path: Vec<(String, String)>,
    #[serde(default)]
    amount: f64,
    /// The expected close date (default: the last day of the path).
    #[serde(default)]
    close: Option<String>,
    #[serde(default)]
    industry: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// `count` activities alike on deal number `deal` (counting from 0 across
/// the vector's deals).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activities {
    #[serde(default = "one")]
    count: usize,
    deal: usize,
    /// One per deal from `deal` on, instead of all on it.
    #[serde(default)]
    each: bool,
    #[serde(rename = "type")]
    kind: String,
    direction: String,
    day: String,
}

fn one() -> usize {
    1
}

/// One check: a metric's row, a funnel stage, a stage's aging, or a plan
/// backwards through the funnel.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    by: Vec<String>,
    /// The row's dimension values (none: the overall row).
    #[serde(default)]
    group: Vec<String>,
    #[serde(default)]
    numerator: Option<f64>,
    #[serde(default)]
    denominator: Option<f64>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    status: Option<String>,
    /// This row's value over `relative_to`'s, minus one.
    #[serde(default)]
    relative: Option<f64>,
    #[serde(default)]
    relative_to: Vec<String>,
    /// A funnel stage (deals entering it from the first path day on).
    #[serde(default)]
    funnel: Option<String>,
    #[serde(default)]
    entered: Option<u64>,
    #[serde(default)]
    advanced: Option<u64>,
    #[serde(default)]
    conversion: Option<f64>,
    /// A stage's aging at `as_of`.
    #[serde(default)]
    aging: Option<String>,
    #[serde(default)]
    open: Option<u64>,
    #[serde(default)]
    median_days: Option<f64>,
    #[serde(default)]
    over_1_5x_median: Option<u64>,
    #[serde(default)]
    aged_share: Option<f64>,
    /// Deals needed entering this stage for `wins` wins, at the funnel's
    /// measured conversions from it to the close.
    #[serde(default)]
    plan_from: Option<String>,
    #[serde(default)]
    wins: Option<f64>,
    #[serde(default)]
    required: Option<f64>,
}

/// `YYYY-MM-DD` as a date.
fn day(s: &str) -> i32 {
    let p: Vec<u32> = s.split('-').map(|x| x.parse().unwrap()).collect();
    ymd(p[0] as i32, p[1], p[2]).unwrap_or_else(|| panic!("bad day {s:?}"))
}

fn noon(d: &str) -> i64 {
    date_start(day(d)) + 12 * 3_600_000_000
}

fn close_to(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn build(v: &Vector, process: &SalesProcess) -> (tempfile::TempDir, Store, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let (mut news, mut events, mut accounts, mut ids) = (vec![], vec![], vec![], vec![]);
    for (g, d) in v.deals.iter().enumerate() {
        for n in 0..d.count {
            let id = format!("{}-{g}-{n}", v.id);
            let t0 = noon(&d.path[0].0);
            news.push(NewOpportunity {
                id: id.clone(),
                created_at: t0,
            });
            let mut ev = |field: Field, value: Value, t: i64| {
                events.push(OpportunityEvent {
                    opportunity_id: id.clone(),
                    field,
                    old_value: Value::Null,
                    new_value: value,
                    effective_at: t,
                    recorded_at: t,
                    source: "seed-vector".into(),
                })
            };
            let close = d.close.as_deref().unwrap_or(&d.path[d.path.len() - 1].0);
            ev(Field::Amount, Value::Number(d.amount), t0);
            ev(Field::CloseDate, Value::Date(day(close)), t0);
            ev(Field::OwnerId, Value::Text("R1".into()), t0);
            for (field, v) in [(Field::Segment, &d.segment), (Field::Source, &d.source)] {
                if let Some(v) = v {
                    ev(field, Value::Text(v.clone()), t0);
                }
            }
            if let Some(industry) = &d.industry {
                let account = format!("A-{industry}");
                ev(Field::AccountId, Value::Text(account.clone()), t0);
                if !accounts.iter().any(|a: &Account| a.id == account) {
                    accounts.push(Account {
                        id: account.clone(),
                        name: account,
                        industry: Some(industry.clone()),
                        employees: None,
                        annual_revenue: None,
                        region: None,
                        owner_id: None,
                        custom: vec![],
                    });
                }
            }
            for (d, stage) in &d.path {
                ev(Field::Stage, Value::Text(stage.clone()), noon(d));
            }
            ids.push(id);
        }
    }
    let mut activities = Vec::new();
    for (g, a) in v.activities.iter().enumerate() {
        for n in 0..a.count {
            activities.push(Activity {
                id: format!("{}-x{g}-{n}", v.id),
                opportunity_id: Some(ids[a.deal + if a.each { n } else { 0 }].clone()),
                account_id: None,
                lead_id: None,
                activity_type: match a.kind.as_str() {
                    "call" => ActivityType::Call,
                    "email" => ActivityType::Email,
                    "meeting" => ActivityType::Meeting,
                    _ => ActivityType::Task,
                },
                direction: Direction::parse_loose(&a.direction),
                occurred_at: noon(&a.day),
                duration_minutes: None,
                owner_id: Some("R1".into()),
                contact_id: None,
                contact_seniority: None,
            });
        }
    }
    let commit = Commit {
        new_opportunities: news,
        events,
        columns: None,
        tables: vec![
            (
                "accounts".into(),
                schema::accounts(),
                vec![tables::accounts_batch(&accounts).unwrap()],
            ),
            (
                "activities".into(),
                schema::activities(),
                vec![tables::activities_batch(&activities).unwrap()],
            ),
        ],
        ingest: None,
    };
    let m = store.manifest().unwrap();
    store.commit(&m, commit).unwrap();
    let engine = Engine::open(&store, process).unwrap();
    (dir, store, engine)
}

/// The vector's ledger and its funnel from the first path day to `as_of`,
/// for funnel, plan and aging checks (read once per vector).
type Replay = (EventLog, Vec<FunnelStage>);

fn replay(v: &Vector, store: &Store, p: &SalesProcess) -> Replay {
    let cut = Cut::at(noon(
        v.as_of.as_deref().expect("aging and funnel need as_of"),
    ));
    let log = store.load(None, false).unwrap();
    let first_day = v
        .deals
        .iter()
        .flat_map(|d| d.path.first())
        .map(|(d, _)| noon(d))
        .min()
        .unwrap_or(0);
    let stages = funnel(&log, p, first_day - 1, cut.effective, cut);
    (log, stages)
}

fn check(
    v: &Vector,
    x: &Expect,
    lib: &Library,
    engine: &Engine,
    replay: Option<&Replay>,
    p: &SalesProcess,
) {
    let id = &v.id;
    let cut = || {
        Cut::at(noon(
            v.as_of.as_deref().expect("aging and funnel need as_of"),
        ))
    };
    if let Some(name) = &x.metric {
        let m: &Metric = lib.get(name).unwrap();
        let q = MetricQuery {
            by: x.by.clone(),
            period: x.period.as_deref().map(|p| parse_period(p, 1).unwrap()),
            ..Default::default()
        };
        let rows = evaluate(engine, m, &q).unwrap();
        let row_of = |group: &[String]| {
            rows.iter()
                .find(|r| {
                    r.dims
                        .iter()
                        .map(|(_, v)| v.as_deref().unwrap_or(""))
                        .eq(group.iter().map(String::as_str))
                })
                .unwrap_or_else(|| panic!("{id} {name}: no row {group:?} in {rows:?}"))
        };
        let r = row_of(&x.group);
        let what = |f: &str| format!("{id} {name} {:?} {f}", x.group);
        if let Some(n) = x.numerator {
            close_to(&what("numerator"), r.numerator, n);
        }
        if let Some(d) = x.denominator {
            close_to(&what("denominator"), r.denominator, d);
        }
        if let Some(val) = x.value {
            close_to(&what("value"), r.value.unwrap(), val);
        }
        if let Some(s) = &x.status {
            assert_eq!(r.status, Some(s.as_str()), "{}", what("status"));
        }
        if let Some(rel) = x.relative {
            let base = row_of(&x.relative_to).value.unwrap();
            close_to(&what("relative"), r.value.unwrap() / base - 1.0, rel);
        }
        return;
    }
    let (log, stages) = replay.expect("funnel and aging checks need the ledger replayed");
    let stage = |s: &str| {
        stages
            .iter()
            .find(|f| f.stage == s)
            .unwrap_or_else(|| panic!("{id}: no funnel stage {s}"))
    };
    if let Some(s) = &x.funnel {
        let f = stage(s);
        if let Some(n) = x.entered {
            assert_eq!(f.entered, n, "{id} funnel {s} entered");
        }
        if let Some(n) = x.advanced {
            assert_eq!(f.advanced, n, "{id} funnel {s} advanced");
        }
        if let Some(c) = x.conversion {
            close_to(
                &format!("{id} funnel {s} conversion"),
                f.conversion.unwrap(),
                c,
            );
        }
    }
    if let Some(s) = &x.plan_from {
        let at = stages.iter().position(|f| f.stage == *s).unwrap();
        let through: f64 = stages[at..].iter().map(|f| f.conversion.unwrap()).product();
        close_to(
            &format!("{id} required entering {s}"),
            x.wins.unwrap() / through,
            x.required.unwrap(),
        );
    }
    if let Some(s) = &x.aging {
        let a = aging(log, p, cut());
        let a = a.iter().find(|a| a.stage == *s).unwrap();
        if let Some(n) = x.open {
            assert_eq!(a.open, n, "{id} aging {s} open");
        }
        if let Some(d) = x.median_days {
            close_to(&format!("{id} aging {s} median"), a.median_days.unwrap(), d);
        }
        if let Some(n) = x.over_1_5x_median {
            assert_eq!(a.over_1_5x_median, n, "{id} aging {s} over 1.5x median");
        }
        if let Some(share) = x.aged_share {
            close_to(
                &format!("{id} aging {s} aged share"),
                a.over_1_5x_median as f64 / a.open as f64,
                share,
            );
        }
    }
}

#[test]
fn every_seed_vector_row_holds() {
    let file: File = toml::from_str(include_str!("seed-vectors.toml")).unwrap();
    assert!(file.vector.len() >= 8, "the runner lost its rows");
    for v in &file.vector {
        let process = match &v.process {
            Some(t) => SalesProcess::from_toml(t, &v.id).unwrap(),
            None => SalesProcess::default_process(),
        };
        let mut lib = Library::built_in().unwrap();
        for t in &v.metrics {
            let m = Metric::from_toml(t, &format!("{} metric", v.id)).unwrap();
            lib.metrics.insert(m.name.clone(), m);
        }
        let (_dir, store, engine) = build(v, &process);
        assert!(!v.expect.is_empty(), "{}: nothing to check", v.id);
        let replayed = v
            .expect
            .iter()
            .any(|x| x.metric.is_none())
            .then(|| replay(v, &store, &process));
        for x in &v.expect {
            check(v, x, &lib, &engine, replayed.as_ref(), &process);
        }
    }
}
