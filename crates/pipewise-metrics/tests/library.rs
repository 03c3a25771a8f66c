//! The built-in coverage, attainment, activity, lead, business-case,
//! forecast-accuracy and deal-velocity metrics on small worlds built by hand,
//! with the seeds' worked examples (seed-requirements §10) where there is one.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_engine::Engine;
use pipewise_ledger::{Commit, NewOpportunity, Store};
use pipewise_metrics::{Library, MetricQuery, MetricRow, evaluate, explain};
use pipewise_model::time::{date_start, parse_period, ymd};
use pipewise_model::{
    Activity, ActivityType, Direction, Field, Lead, LeadEvent, OpportunityEvent, Quota, Role,
    SalesProcess, User, Value, schema,
};

type Day = (i32, u32, u32);

fn at(d: Day, hour: i64) -> i64 {
    date_start(ymd(d.0, d.1, d.2).unwrap()) + hour * 3_600_000_000
}

fn date(d: Day) -> Value {
    Value::Date(ymd(d.0, d.1, d.2).unwrap())
}

/// A deal: created on a day by an owner, then field changes (at noon of their day).
struct Deal {
    id: &'static str,
    created: Day,
    changes: Vec<(Day, Field, Value)>,
}

fn deal(id: &'static str, owner: &str, created: Day, amount: f64, close: Day) -> Deal {
    Deal {
        id,
        created,
        changes: vec![
            (created, Field::OwnerId, Value::Text(owner.into())),
            (created, Field::Amount, Value::Number(amount)),
            (created, Field::CloseDate, date(close)),
            (created, Field::Stage, Value::Text("Discovery".into())),
        ],
    }
}

impl Deal {
    fn set(mut self, day: Day, field: Field, v: Value) -> Deal {
        self.changes.push((day, field, v));
        self
    }
    fn stage(self, day: Day, s: &str) -> Deal {
        self.set(day, Field::Stage, Value::Text(s.into()))
    }
    fn won(self, day: Day) -> Deal {
        self.stage(day, "Closed Won")
    }
    fn lost(self, day: Day, reason: &str) -> Deal {
        self.stage(day, "Closed Lost")
            .set(day, Field::LossReason, Value::Text(reason.into()))
    }
}

#[derive(Default)]
struct World {
    deals: Vec<Deal>,
    users: Vec<User>,
    quotas: Vec<Quota>,
    activities: Vec<Activity>,
    leads: Vec<Lead>,
    lead_events: Vec<LeadEvent>,
}

fn user(id: &str, manager: Option<&str>, team: &str) -> User {
    User {
        id: id.into(),
        name: id.into(),
        email: None,
        role: if manager.is_some() {
            Role::Rep
        } else {
            Role::Manager
        },
        manager_id: manager.map(str::to_string),
        team: Some(team.into()),
        segment: None,
        region: None,
        hire_date: None,
        ramp_months: None,
    }
}

fn quota(owner: &str, period: &str, amount: f64) -> Quota {
    let (a, b) = parse_period(period, 1).unwrap();
    Quota {
        owner_id: owner.into(),
        period: period.into(),
        period_start: a,
        period_end: b,
        amount,
    }
}

fn engine(w: World) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let mut news = Vec::new();
    let mut events = Vec::new();
    for d in &w.deals {
        news.push(NewOpportunity {
            id: d.id.into(),
            created_at: at(d.created, 12),
        });
        for (day, field, v) in &d.changes {
            let t = at(*day, 12);
            events.push(OpportunityEvent {
                opportunity_id: d.id.into(),
                field: field.clone(),
                old_value: Value::Null,
                new_value: v.clone(),
                effective_at: t,
                recorded_at: t,
                source: "test".into(),
            });
        }
    }
    use pipewise_ledger::tables;
    let commit = Commit {
        new_opportunities: news,
        events,
        columns: None,
        tables: vec![
            (
                "users".into(),
                schema::users(),
                vec![tables::users_batch(&w.users).unwrap()],
            ),
            (
                "quotas".into(),
                schema::quotas(),
                vec![tables::quotas_batch(&w.quotas).unwrap()],
            ),
            (
                "activities".into(),
                schema::activities(),
                vec![tables::activities_batch(&w.activities).unwrap()],
            ),
            (
                "leads".into(),
                schema::leads(),
                vec![tables::leads_batch(&w.leads).unwrap()],
            ),
            (
                "lead_events".into(),
                schema::lead_events(),
                vec![tables::lead_events_batch(&w.lead_events).unwrap()],
            ),
        ],
        ingest: None,
    };
    let m = store.manifest().unwrap();
    store.commit(&m, commit).unwrap();
    let e = Engine::open(&store, &SalesProcess::default_process()).unwrap();
    (dir, e)
}

fn run(e: &Engine, metric: &str, q: MetricQuery) -> Vec<MetricRow> {
    let lib = Library::built_in().unwrap();
    evaluate(e, lib.get(metric).unwrap(), &q).unwrap()
}

fn period(p: &str) -> MetricQuery {
    MetricQuery {
        period: Some(parse_period(p, 1).unwrap()),
        ..Default::default()
    }
}

fn as_of(mut q: MetricQuery, d: Day, hour: i64) -> MetricQuery {
    q.as_of = Some(at(d, hour));
    q
}

fn by(mut q: MetricQuery, dim: &str) -> MetricQuery {
    q.by.push(dim.into());
    q
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

/// Two managers under a VP: M1 has reps R1 and R2, M2 has R3.
fn org() -> Vec<User> {
    vec![
        user("VP", None, "exec"),
        user("M1", Some("VP"), "east"),
        user("M2", Some("VP"), "west"),
        user("R1", Some("M1"), "east"),
        user("R2", Some("M1"), "east"),
        user("R3", Some("M2"), "west"),
    ]
}

/// TV-08 (seed 001 L182): $1.5M pipeline over a $500K quota = 3x; TV-15 (seed 003 §1.5): a
/// $500k target at 3x needs $1.5M of pipeline. A month of the quarter uses the quota's share
/// of days (seed 001's "monthly quota" row).
#[test]
fn tv08_tv15_pipeline_coverage_over_quota() {
    let w = World {
        deals: vec![
            deal("A", "R1", (2026, 6, 1), 1_000_000.0, (2026, 7, 20)),
            deal("B", "R1", (2026, 6, 1), 500_000.0, (2026, 9, 10)),
            // closing next quarter, and lost: neither counts
            deal("C", "R1", (2026, 6, 1), 900_000.0, (2026, 10, 5)),
            deal("D", "R1", (2026, 6, 1), 700_000.0, (2026, 8, 5))
                .lost((2026, 6, 20), "no_decision"),
        ],
        users: org(),
        quotas: vec![
            quota("R1", "2026-Q3", 500_000.0),
            quota("R2", "2026-Q3", 250_000.0),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let q = as_of(period("2026-Q3"), (2026, 7, 1), 0);
    let r = run(&e, "pipeline_coverage", by(q.clone(), "owner"));
    let got: Vec<_> = r
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    // R2 has a quota and no pipeline: a row with 0x, not a missing row.
    assert_eq!(
        got,
        vec![
            ("R1".to_string(), 1_500_000.0, 500_000.0),
            ("R2".to_string(), 0.0, 250_000.0)
        ]
    );
    assert_eq!(r[0].value, Some(3.0));
    assert_eq!(r[0].status, Some("green"));
    let all = run(&e, "pipeline_coverage", q.clone()).remove(0);
    assert_eq!((all.numerator, all.denominator), (1_500_000.0, 750_000.0));
    // July alone: A only, over 31/92 of the quarter's quotas.
    let july = run(
        &e,
        "pipeline_coverage",
        as_of(period("2026-07"), (2026, 7, 1), 0),
    )
    .remove(0);
    assert_eq!(july.numerator, 1_000_000.0);
    assert!(close(july.denominator, 750_000.0 * 31.0 / 92.0));
    // --by team rolls reps' quotas up.
    let t = run(&e, "pipeline_coverage", by(q, "team"));
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].dims[0].1.as_deref(), t[0].numerator, t[0].denominator),
        (Some("east"), 1_500_000.0, 750_000.0)
    );
}

/// TV-07 (seed 001 L181): "$1.2M weighted / $400K quota = 3x" — a coverage ratio, not a velocity.
#[test]
fn tv07_weighted_coverage() {
    let w = World {
        deals: vec![
            deal("A", "R1", (2026, 6, 1), 1_000_000.0, (2026, 8, 1)).set(
                (2026, 6, 1),
                Field::Probability,
                Value::Number(80.0),
            ),
            deal("B", "R1", (2026, 6, 1), 800_000.0, (2026, 9, 1)).set(
                (2026, 6, 1),
                Field::Probability,
                Value::Number(50.0),
            ),
        ],
        users: org(),
        quotas: vec![quota("R1", "2026-Q3", 400_000.0)],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(&e, "weighted_coverage", period("2026-Q3")).remove(0);
    assert_eq!(
        (r.numerator, r.denominator, r.value),
        (1_200_000.0, 400_000.0, Some(3.0))
    );
}

/// TV-53 (seed 004 L41-42): plan $1M; Best Case $1.5M + Commit $1.0M + Closed $0.4M = $2.9M →
/// 2.9x, under the 3x minimum. Pipeline-category deals do not count.
#[test]
fn tv53_enterprise_coverage() {
    let fc = |d: Deal, c: &str| d.set((2026, 6, 2), Field::ForecastCategory, Value::Text(c.into()));
    let w = World {
        deals: vec![
            fc(
                deal("BC", "R1", (2026, 6, 1), 1_500_000.0, (2026, 9, 1)),
                "best_case",
            ),
            fc(
                deal("CO", "R3", (2026, 6, 1), 1_000_000.0, (2026, 9, 15)),
                "commit",
            ),
            deal("WON", "R1", (2026, 6, 1), 400_000.0, (2026, 7, 10)).won((2026, 7, 10)),
            fc(
                deal("PI", "R1", (2026, 6, 1), 5_000_000.0, (2026, 8, 1)),
                "pipeline",
            ),
            deal("LO", "R3", (2026, 6, 1), 300_000.0, (2026, 7, 12))
                .lost((2026, 7, 12), "competition"),
        ],
        users: org(),
        quotas: vec![
            quota("R1", "2026-Q3", 600_000.0),
            quota("R3", "2026-Q3", 400_000.0),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(
        &e,
        "enterprise_coverage",
        as_of(period("2026-Q3"), (2026, 8, 1), 0),
    )
    .remove(0);
    assert_eq!((r.numerator, r.denominator), (2_900_000.0, 1_000_000.0));
    assert!(close(r.value.unwrap(), 2.9));
    assert_eq!(r.status, Some("amber"));
    // quota attainment at the same time: $0.4M of $1M
    let qa = run(
        &e,
        "quota_attainment",
        as_of(period("2026-Q3"), (2026, 8, 1), 0),
    )
    .remove(0);
    assert_eq!(qa.value, Some(0.4));
    // gap: (1.0M − 0.4M) still to win from 1.5 + 1.0 + 5.0 = 7.5M open → 0.08
    let gap = run(
        &e,
        "gap_coverage",
        as_of(period("2026-Q3"), (2026, 8, 1), 0),
    )
    .remove(0);
    assert_eq!((gap.numerator, gap.denominator), (600_000.0, 7_500_000.0));
    assert_eq!(gap.status, Some("green"));
}

/// Quota attainment per rep and under a manager (the manager subtree), over a year of
/// quarterly quotas; explain lists the deals and the quotas and sums to the number.
#[test]
fn quota_attainment_under_a_manager() {
    let w = World {
        deals: vec![
            deal("A", "R1", (2026, 1, 5), 300_000.0, (2026, 2, 1)).won((2026, 2, 1)),
            deal("B", "R1", (2026, 4, 5), 150_000.0, (2026, 5, 1)).won((2026, 5, 1)),
            deal("C", "R2", (2026, 1, 5), 90_000.0, (2026, 3, 1)).won((2026, 3, 1)),
            deal("D", "R3", (2026, 1, 5), 500_000.0, (2026, 3, 1)).won((2026, 3, 1)),
            deal("E", "R2", (2026, 1, 5), 70_000.0, (2026, 3, 1)).lost((2026, 3, 1), "competition"),
        ],
        users: org(),
        quotas: ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
            .iter()
            .flat_map(|p| {
                [
                    quota("R1", p, 100_000.0),
                    quota("R2", p, 50_000.0),
                    quota("R3", p, 100_000.0),
                ]
            })
            .collect(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let mut q = by(period("2026"), "owner");
    q.under = Some("M1".into());
    let r = run(&e, "quota_attainment", q.clone());
    let got: Vec<_> = r
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    assert_eq!(
        got,
        vec![
            ("R1".to_string(), 450_000.0, 400_000.0),
            ("R2".to_string(), 90_000.0, 200_000.0)
        ]
    );
    assert_eq!(r[0].value, Some(1.125));
    assert_eq!(r[1].value, Some(0.45));
    // The share of reps at quota (the other reading of M-C12): under VP, R1 (1.125) and R3
    // (1.25) are at or above, R2 (0.45) is not → 2 of 3; per manager: M1 1 of 2, M2 1 of 1.
    let mut share = period("2026");
    share.under = Some("VP".into());
    let s = run(&e, "reps_at_quota_share", share.clone()).remove(0);
    assert_eq!((s.numerator, s.denominator), (2.0, 3.0));
    share.by = vec!["manager".into()];
    let per: Vec<_> = run(&e, "reps_at_quota_share", share)
        .into_iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    assert_eq!(
        per,
        vec![("M1".to_string(), 1.0, 2.0), ("M2".to_string(), 1.0, 1.0)]
    );
    q.by = vec!["manager".into()];
    q.under = Some("VP".into());
    let m = run(&e, "quota_attainment", q.clone());
    let got: Vec<_> = m
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    assert_eq!(
        got,
        vec![
            ("M1".to_string(), 540_000.0, 600_000.0),
            ("M2".to_string(), 500_000.0, 400_000.0)
        ]
    );
    // explain: deals and quotas, per manager, summing to the metric
    let lib = Library::built_in().unwrap();
    let rows = explain(&e, lib.get("quota_attainment").unwrap(), &q).unwrap();
    for r in &m {
        let mine = rows.iter().filter(|x| x.dims[0].1 == r.dims[0].1);
        let (n, d) = mine.fold((0.0, 0.0), |(n, d), x| (n + x.numerator, d + x.denominator));
        assert_eq!((n, d), (r.numerator, r.denominator));
    }
    assert_eq!(rows.iter().filter(|x| x.role == "quota").count(), 12);
    assert!(rows.iter().any(|x| x.id == "quota R1 2026-Q2"));
    // explain of the share of reps at quota lists reps, not deals: R1 (1.125) and R3
    // (1.25) reached it, R2 (0.45) did not; per manager they sum to 1 of 2 and 1 of 1.
    let rows = explain(&e, lib.get("reps_at_quota_share").unwrap(), &q).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.dims[0].1.as_deref().unwrap(),
                r.id.as_str(),
                r.amount,
                r.role.as_str(),
                r.numerator,
                r.denominator,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("M1", "R1", Some(1.125), "counted", 1.0, 1.0),
            ("M1", "R2", Some(0.45), "counted", 0.0, 1.0),
            ("M2", "R3", Some(1.25), "counted", 1.0, 1.0),
        ]
    );
    assert_eq!(rows[0].name.as_deref(), Some("R1"));
    // quotas are set per rep: other dimensions are refused with a plain reason
    let err = evaluate(
        &e,
        lib.get("quota_attainment").unwrap(),
        &by(period("2026"), "source"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("owner, manager, team, region"), "{err}");
}

/// TV-05 / TV-06 (seed 001 L172, L179, L33; conflict M-C4): one set of closed deals, three
/// "deal velocity" numbers. Four deals close in the period after 100, 120 (won) and 80, 60
/// (lost) days: the template's SQL (won only) gives 110, the prose (all funnel days ÷ won)
/// gives 360 / 2 = 180 — the prose example's 9,000 / 50 — and the table example (all days ÷
/// all deals) gives 90 — its 8,000 / 100 = 80, although its formula says closed-won.
#[test]
fn tv05_tv06_deal_velocity_variants() {
    let start = (2026, 1, 1);
    let after = |days: i32| -> Day {
        let s = pipewise_model::time::format_date(ymd(2026, 1, 1).unwrap() + days);
        let p: Vec<u32> = s.split('-').map(|x| x.parse().unwrap()).collect();
        (p[0] as i32, p[1], p[2])
    };
    let w = World {
        deals: vec![
            deal("W1", "R1", start, 1.0, after(100)).won(after(100)),
            deal("W2", "R1", start, 1.0, after(120)).won(after(120)),
            deal("L1", "R1", start, 1.0, after(80)).lost(after(80), "competition"),
            deal("L2", "R1", start, 1.0, after(60)).lost(after(60), "no_decision"),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let v = |m: &str| run(&e, m, period("2026")).remove(0);
    assert!(close(v("average_sales_cycle_days").value.unwrap(), 110.0));
    let prose = v("deal_velocity_funnel_days_per_win");
    assert!(close(prose.numerator, 360.0) && prose.denominator == 2.0);
    assert!(close(prose.value.unwrap(), 180.0));
    let table = v("average_cycle_days_all_closed");
    assert!(close(table.value.unwrap(), 90.0));
    assert_eq!(table.status, Some("green")); // < 90 days is green at 90.0 exactly
}

/// A new lead owned by R1.
fn lead(id: &str, created: i64, source: &str) -> Lead {
    Lead {
        id: id.into(),
        created_at: created,
        source: Some(source.into()),
        company: None,
        title: None,
        industry: None,
        employees: None,
        country: None,
        status: Some("New".into()),
        owner_id: Some("R1".into()),
        converted_at: None,
        converted_opportunity_id: None,
        attributes: vec![],
    }
}

fn activity(
    id: &str,
    opp: Option<&str>,
    lead: Option<&str>,
    seller: bool,
    ty: ActivityType,
    t: i64,
) -> Activity {
    Activity {
        id: id.into(),
        opportunity_id: opp.map(str::to_string),
        account_id: None,
        lead_id: lead.map(str::to_string),
        activity_type: ty,
        direction: Some(if seller {
            Direction::SellerToBuyer
        } else {
            Direction::BuyerToSeller
        }),
        occurred_at: t,
        duration_minutes: None,
        owner_id: Some("R1".into()),
        contact_id: None,
        contact_seniority: None,
    }
}

/// TV-51 (seed 000 L177-187): "10:1" seller activities to buyer replies is bad, 2:1 good. Each
/// activity counts in the stage its deal was in when it happened; meetings the seller books are
/// not "emails and calls" and do not count on the seller side.
#[test]
fn tv51_seller_buyer_activity_ratio_by_stage_at_the_time() {
    let mut acts = Vec::new();
    let mut n = 0;
    let mut push = |seller: bool, ty: ActivityType, day: Day| {
        n += 1;
        acts.push(activity(
            &format!("T{n}"),
            Some("A"),
            None,
            seller,
            ty,
            at(day, 10),
        ));
    };
    // Discovery (until 2026-03-01): 10 seller emails/calls, 1 buyer reply, 1 seller meeting
    for i in 0..10 {
        push(
            true,
            if i % 2 == 0 {
                ActivityType::Email
            } else {
                ActivityType::Call
            },
            (2026, 2, 1 + i),
        );
    }
    push(false, ActivityType::Email, (2026, 2, 20));
    push(true, ActivityType::Meeting, (2026, 2, 21));
    // Proposal (from 2026-03-01 noon): 4 seller, 2 buyer; the morning of 03-01 is still Discovery
    push(true, ActivityType::Email, (2026, 3, 1));
    for d in 2..5 {
        push(true, ActivityType::Email, (2026, 3, d));
    }
    push(false, ActivityType::Email, (2026, 3, 5));
    push(false, ActivityType::Meeting, (2026, 3, 6));
    let w = World {
        deals: vec![
            deal("A", "R1", (2026, 1, 20), 1.0, (2026, 6, 1)).stage((2026, 3, 1), "Proposal"),
        ],
        activities: acts,
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(
        &e,
        "seller_buyer_activity_ratio",
        by(MetricQuery::default(), "stage"),
    );
    let got: Vec<_> = r
        .iter()
        .map(|r| {
            (
                r.dims[0].1.clone().unwrap(),
                r.numerator,
                r.denominator,
                r.status,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Discovery".to_string(), 11.0, 1.0, Some("red")),
            ("Proposal".to_string(), 3.0, 2.0, Some("green"))
        ]
    );
    // As of 2026-02-25 the deal had 10 seller emails/calls to 1 reply: 10:1.
    let early = run(
        &e,
        "seller_buyer_activity_ratio",
        as_of(MetricQuery::default(), (2026, 2, 25), 0),
    )
    .remove(0);
    assert_eq!(early.value, Some(10.0));
}

/// TV-33 (seed 003 §1.5 L221): "if average response time is 24 hours, aim for under 2 hours".
#[test]
fn tv33_lead_response_hours() {
    let t0 = at((2026, 3, 2), 9);
    let w = World {
        leads: vec![
            lead("L1", t0, "web"),
            lead("L2", t0, "event"),
            lead("L3", t0, "web"),
            lead("L4", at((2026, 4, 2), 9), "web"),
        ],
        activities: vec![
            activity(
                "T1",
                None,
                Some("L1"),
                true,
                ActivityType::Call,
                t0 + 2 * 3_600_000_000,
            ),
            // a later touch of L1 does not change its first response
            activity(
                "T2",
                None,
                Some("L1"),
                true,
                ActivityType::Email,
                t0 + 30 * 3_600_000_000,
            ),
            activity(
                "T3",
                None,
                Some("L2"),
                true,
                ActivityType::Email,
                t0 + 46 * 3_600_000_000,
            ),
            // the buyer writing first is not a response
            activity(
                "T4",
                None,
                Some("L3"),
                false,
                ActivityType::Email,
                t0 + 3_600_000_000,
            ),
        ],
        users: org(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(&e, "lead_response_hours", period("2026-03")).remove(0);
    assert_eq!(
        (r.numerator, r.denominator, r.excluded),
        (48.0, 2.0, Some(1))
    );
    assert_eq!(r.value, Some(24.0));
    assert_eq!(r.status, Some("amber"));
    let s = run(&e, "lead_response_hours", by(period("2026-03"), "source"));
    let got: Vec<_> = s
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("event".to_string(), Some(46.0)),
            ("web".to_string(), Some(2.0))
        ]
    );
    // As of the next morning L2 had not been answered yet.
    let early = run(
        &e,
        "lead_response_hours",
        as_of(period("2026-03"), (2026, 3, 3), 9),
    )
    .remove(0);
    assert_eq!(
        (early.numerator, early.denominator, early.excluded),
        (2.0, 1.0, Some(2))
    );
    let team = run(&e, "lead_response_hours", by(period("2026-03"), "team")).remove(0);
    assert_eq!(team.dims[0].1.as_deref(), Some("east"));
    // leads have no stage
    let lib = Library::built_in().unwrap();
    let err = evaluate(
        &e,
        lib.get("lead_response_hours").unwrap(),
        &by(period("2026-03"), "stage"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("leads, which have no stage"), "{err}");
}

/// Seed 000: win rate with and without a business case, and the share of the pipeline that
/// has one (TV-51: "a business case on 5–10% of pipeline").
#[test]
fn business_case_win_rates_and_coverage() {
    let bc = |d: Deal| d.set((2026, 1, 10), Field::HasBusinessCase, Value::Bool(true));
    let mut deals = vec![
        bc(deal("B1", "R1", (2026, 1, 5), 1.0, (2026, 3, 1))).won((2026, 3, 1)),
        bc(deal("B2", "R1", (2026, 1, 5), 1.0, (2026, 3, 1))).won((2026, 3, 1)),
        bc(deal("B3", "R1", (2026, 1, 5), 1.0, (2026, 3, 1))).lost((2026, 3, 1), "competition"),
        bc(deal("B4", "R1", (2026, 1, 5), 1.0, (2026, 3, 1))).lost((2026, 3, 1), "no_decision"),
        deal("N1", "R1", (2026, 1, 5), 1.0, (2026, 3, 1)).won((2026, 3, 1)),
        deal("N2", "R1", (2026, 1, 5), 1.0, (2026, 3, 1)).lost((2026, 3, 1), "competition"),
        deal("N3", "R1", (2026, 1, 5), 1.0, (2026, 3, 1)).lost((2026, 3, 1), "competition"),
        deal("N4", "R1", (2026, 1, 5), 1.0, (2026, 3, 1)).lost((2026, 3, 1), "competition"),
    ];
    // open pipeline closing in Q2: 1 of 10 with a business case
    deals.push(bc(deal("O0", "R1", (2026, 3, 5), 1.0, (2026, 5, 1))));
    let ids = ["O1", "O2", "O3", "O4", "O5", "O6", "O7", "O8", "O9"];
    for id in ids {
        deals.push(deal(id, "R1", (2026, 3, 5), 1.0, (2026, 5, 1)));
    }
    let (_d, e) = engine(World {
        deals,
        ..Default::default()
    });
    let w = run(&e, "win_rate_with_business_case", period("2026-Q1")).remove(0);
    assert_eq!(
        (w.numerator, w.denominator, w.excluded),
        (2.0, 3.0, Some(1))
    );
    let wo = run(&e, "win_rate_without_business_case", period("2026-Q1")).remove(0);
    assert_eq!(
        (wo.numerator, wo.denominator, wo.excluded),
        (1.0, 4.0, Some(0))
    );
    // --by business_case on win_rate gives the same split
    let split = run(&e, "win_rate", by(period("2026-Q1"), "business_case"));
    let got: Vec<_> = split
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    assert_eq!(
        got,
        vec![("false".into(), 1.0, 4.0), ("true".into(), 2.0, 3.0)]
    );
    let c = run(&e, "business_case_coverage", period("2026-Q2")).remove(0);
    assert_eq!(
        (c.numerator, c.denominator, c.value),
        (1.0, 10.0, Some(0.1))
    );
    assert_eq!(c.status, Some("amber"));
}

/// Forecast accuracy (the seeds give no formula, M-C11): the weighted pipeline at the start of
/// Q2 against what was won in Q2. A: $100k at 50%, won → forecast 50k, actual 100k. B: $200k at
/// 25%, lost → 50k, 0. C: created in Q2 and won, $30k → 0, 30k. D: open at the start but closing
/// in Q3 → not in the forecast. Σ forecast 100k, Σ actual 130k: bias −30/130, WAPE
/// (50 + 50 + 30) / 130 = 1, accuracy 1 − 30/130.
#[test]
fn weighted_forecast_bias_wape_accuracy() {
    let p = |d: Deal, pct: f64| d.set((2026, 3, 1), Field::Probability, Value::Number(pct));
    let w = World {
        deals: vec![
            p(deal("A", "R1", (2026, 3, 1), 100_000.0, (2026, 5, 1)), 50.0).won((2026, 5, 3)),
            p(deal("B", "R1", (2026, 3, 1), 200_000.0, (2026, 6, 1)), 25.0)
                .lost((2026, 6, 2), "competition"),
            deal("C", "R1", (2026, 4, 10), 30_000.0, (2026, 6, 1)).won((2026, 6, 5)),
            p(deal("D", "R1", (2026, 3, 1), 500_000.0, (2026, 8, 1)), 90.0),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let bias = run(&e, "weighted_forecast_bias", period("2026-Q2")).remove(0);
    assert_eq!((bias.numerator, bias.denominator), (-30_000.0, 130_000.0));
    let wape = run(&e, "weighted_forecast_wape", period("2026-Q2")).remove(0);
    assert_eq!(
        (wape.numerator, wape.denominator, wape.value),
        (130_000.0, 130_000.0, Some(1.0))
    );
    let acc = run(&e, "weighted_forecast_accuracy", period("2026-Q2")).remove(0);
    assert!(close(acc.value.unwrap(), 1.0 - 30.0 / 130.0));
    assert_eq!(acc.status, Some("amber"));
}

/// SMB coverage (seed 004, "the correct way"): the pipeline open at the start of the period with
/// a close date in it, all categories, plus a quarter of what was created and closed within one
/// period-length window in the four windows before.
#[test]
fn smb_coverage_adds_usual_in_period_pipeline() {
    let w = World {
        deals: vec![
            // open on 2026-03-31 closing in Q2 (Pipeline category by stage): counts 40k
            deal("O", "R1", (2026, 3, 1), 40_000.0, (2026, 5, 1)),
            // created and closed within the window before Q2 (2025-12-31 .. 2026-03-31): 8k / 4
            deal("H1", "R1", (2026, 1, 10), 8_000.0, (2026, 2, 1)).won((2026, 2, 20)),
            // created in one window, closed in the next: does not count
            deal("H2", "R1", (2025, 12, 1), 50_000.0, (2026, 2, 1)).won((2026, 1, 20)),
            // lost within one window still counts as pipeline created and closed: 4k / 4
            deal("H3", "R1", (2025, 10, 6), 4_000.0, (2025, 11, 1))
                .lost((2025, 11, 3), "competition"),
            // more than four windows back: does not count
            deal("H4", "R1", (2024, 11, 1), 100_000.0, (2024, 11, 20)).won((2024, 11, 20)),
        ],
        quotas: vec![quota("R1", "2026-Q2", 20_000.0)],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(&e, "smb_coverage", period("2026-Q2")).remove(0);
    assert_eq!((r.numerator, r.denominator), (43_000.0, 20_000.0));
    assert_eq!(r.value, Some(2.15));
}

/// TV-14 (seed 003 §2.2 L337-352): 1,000 leads → 180 → 72 → 45 give 18%, 40% and 62.5%. Here on
/// the lead funnel of seed 001's formulas (SALs / Leads, SQLs / SALs, Opps / SQLs): 180 leads
/// accepted, 72 of them qualified, 45 of those converted. Statuses reached count even when the
/// lead later fell out (a disqualified SQL still counts as accepted and qualified), and as of a
/// day before the last conversions only what had happened by then counts.
#[test]
fn tv14_lead_funnel_conversion() {
    let t0 = at((2026, 1, 5), 9);
    let hour = 3_600_000_000_i64;
    let mut leads = Vec::new();
    let mut events = Vec::new();
    for i in 0..1000 {
        let id = format!("L{i:04}");
        let mut path = vec![(t0, "New")];
        if i < 180 {
            path.push((t0 + 24 * hour, "Sales Accepted"));
        }
        if i < 72 {
            path.push((t0 + 72 * hour, "Sales Qualified"));
        }
        let converted = i < 45;
        if converted {
            // the last 5 convert a month later than the rest
            let day = if i < 40 { 10 } else { 40 };
            path.push((t0 + day * 24 * hour, "Converted"));
        } else if (45..72).contains(&i) {
            path.push((t0 + 200 * hour, "Disqualified"));
        }
        let mut prev: Option<String> = None;
        for (t, s) in &path {
            events.push(LeadEvent {
                lead_id: id.clone(),
                field: "status".into(),
                old_value: prev.clone(),
                new_value: Some((*s).to_string()),
                effective_at: *t,
                recorded_at: *t,
                source: "test".into(),
            });
            prev = Some((*s).to_string());
        }
        leads.push(Lead {
            status: prev,
            converted_at: converted.then(|| path.last().unwrap().0),
            converted_opportunity_id: converted.then(|| format!("O{i}")),
            ..lead(&id, t0, "web")
        });
    }
    let (_d, e) = engine(World {
        leads,
        lead_events: events,
        users: org(),
        ..Default::default()
    });
    let v = |m: &str, q: MetricQuery| {
        let r = run(&e, m, q).remove(0);
        (r.numerator, r.denominator)
    };
    assert_eq!(v("lead_to_sal_rate", period("2026-Q1")), (180.0, 1000.0));
    assert_eq!(v("sal_to_sql_rate", period("2026-Q1")), (72.0, 180.0));
    assert_eq!(
        v("sql_to_opportunity_rate", period("2026-Q1")),
        (45.0, 72.0)
    );
    let r = run(&e, "sql_to_opportunity_rate", period("2026-Q1")).remove(0);
    assert_eq!(r.value, Some(0.625));
    // As of 2026-02-01 the last five had not converted yet.
    let early = as_of(period("2026-Q1"), (2026, 2, 1), 0);
    assert_eq!(v("sql_to_opportunity_rate", early.clone()), (40.0, 72.0));
    // …and as of 2026-01-06 12:00 nobody had been qualified yet.
    let first_day = as_of(period("2026-Q1"), (2026, 1, 6), 12);
    assert_eq!(v("sal_to_sql_rate", first_day), (0.0, 180.0));
}

/// Seed 004's commit risk, its in-period created-and-won pipeline, and seed 001's stage-weighted
/// "pipeline velocity" (weights 1–4, ÷ 4 stages), on a handful of deals.
#[test]
fn commit_risk_created_and_won_stage_weighted_velocity() {
    let commit = |d: Deal| {
        d.set(
            (2026, 4, 2),
            Field::ForecastCategory,
            Value::Text("commit".into()),
        )
    };
    let w = World {
        deals: vec![
            commit(deal("C1", "R1", (2026, 4, 1), 100.0, (2026, 6, 1)))
                .stage((2026, 4, 3), "Negotiation"),
            commit(deal("C2", "R1", (2026, 4, 1), 100.0, (2026, 6, 1)))
                .stage((2026, 4, 3), "Redlining"),
            commit(deal("C3", "R1", (2026, 4, 1), 100.0, (2026, 6, 1)))
                .stage((2026, 4, 3), "Proposal"),
            // created and won in Q2 (counts); created in Q1, won in Q2 (does not)
            deal("W1", "R1", (2026, 4, 5), 500.0, (2026, 5, 1)).won((2026, 5, 1)),
            deal("W2", "R1", (2026, 3, 5), 700.0, (2026, 5, 1)).won((2026, 5, 2)),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let q = as_of(period("2026-Q2"), (2026, 5, 10), 0);
    let c = run(&e, "commit_not_redlining_share", q.clone()).remove(0);
    assert_eq!((c.numerator, c.denominator), (2.0, 3.0));
    let cw = run(&e, "created_and_won_in_period", q.clone()).remove(0);
    assert_eq!(cw.value, Some(500.0));
    // open and closing in Q2: C1 Negotiation 4x, C2 Redlining 4x, C3 Proposal 3x → (400 + 400 + 300) / 4
    let v = run(&e, "stage_weighted_pipeline_velocity", q).remove(0);
    assert_eq!(v.value, Some(275.0));
}

/// A deal that starts before the qualified stage (the default process qualifies at Discovery).
fn prospect(id: &'static str, owner: &str, created: Day, amount: f64, close: Day) -> Deal {
    let mut d = deal(id, owner, created, amount, close);
    d.changes.retain(|(_, f, _)| *f != Field::Stage);
    d.stage(created, "Qualification")
}

/// Renewals, churn and booked new business (seed 003 §9.3, §6.5, §1.2), by type; days from
/// qualification to the win (seed 001's "pipeline velocity" as a duration, M-C5 (d)).
#[test]
fn renewals_churn_new_business_and_qualified_to_close_days() {
    let typed = |d: Deal, t: &str| {
        let day = d.created;
        d.set(day, Field::Type, Value::Text(t.into()))
    };
    let w = World {
        deals: vec![
            // Three renewals closed in Q1: two won ("Renewal" in any case), one lost.
            typed(
                deal("N1", "R1", (2026, 1, 5), 10.0, (2026, 2, 1)),
                "Renewal",
            )
            .won((2026, 2, 1)),
            typed(
                deal("N2", "R1", (2026, 1, 5), 20.0, (2026, 2, 1)),
                "renewal",
            )
            .won((2026, 2, 2)),
            typed(
                deal("N3", "R2", (2026, 1, 5), 30.0, (2026, 2, 1)),
                "renewal",
            )
            .lost((2026, 2, 3), "no_decision"),
            // A renewal still open does not count.
            typed(
                deal("N4", "R2", (2026, 1, 5), 40.0, (2026, 5, 1)),
                "renewal",
            ),
            // New business: qualified (reached Discovery) on 01-15, won 02-14.
            typed(
                prospect("B1", "R1", (2026, 1, 5), 500.0, (2026, 2, 14)),
                "New Business",
            )
            .stage((2026, 1, 15), "Discovery")
            .won((2026, 2, 14)),
            // An expansion won is not new business.
            typed(
                deal("E1", "R1", (2026, 1, 5), 700.0, (2026, 2, 14)),
                "expansion",
            )
            .won((2026, 2, 14)),
        ],
        users: org(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(&e, "renewal_rate", period("2026-Q1")).remove(0);
    assert_eq!((r.numerator, r.denominator), (2.0, 3.0));
    assert_eq!(r.status, Some("red")); // 66.7% < 86%
    let c = run(&e, "churn_rate", period("2026-Q1")).remove(0);
    assert_eq!((c.numerator, c.denominator), (1.0, 3.0));
    let b = run(&e, "booked_new_business", period("2026-Q1")).remove(0);
    assert_eq!(b.value, Some(500.0));
    // B1: qualified 01-15 noon → won 02-14 noon: 30 days (its cycle is 40). The others were
    // created in Discovery, qualified from the start: N1 27 days, N2 28, E1 40.
    let q = run(&e, "average_days_qualified_to_close", period("2026-Q1")).remove(0);
    assert_eq!(
        (q.numerator, q.denominator),
        (30.0 + 27.0 + 28.0 + 40.0, 4.0)
    );
    // As of 2026-02-01 at 18:00 only N1 had renewed, nothing had churned.
    let early = run(
        &e,
        "renewal_rate",
        as_of(period("2026-Q1"), (2026, 2, 1), 18),
    )
    .remove(0);
    assert_eq!((early.numerator, early.denominator), (1.0, 1.0));
}

/// Data completeness of open deals (seed 003 §12.1; seed 001's 95% target), meetings per week
/// and discovery calls per month (seed 001 L12-13).
#[test]
fn completeness_meetings_and_discovery_calls() {
    let deals = vec![
        // Two open deals closing in Q2; D1 has a next step and its date, D2 neither.
        prospect("D1", "R1", (2026, 1, 5), 100.0, (2026, 5, 1))
            .set((2026, 1, 6), Field::NextStep, Value::Text("demo".into()))
            .set((2026, 1, 6), Field::NextStepDate, date((2026, 2, 1))),
        prospect("D2", "R2", (2026, 1, 5), 100.0, (2026, 5, 2)).stage((2026, 3, 1), "Discovery"),
    ];
    let mut acts = Vec::new();
    // 28 days of 2026-02 = 4 weeks: R1 (on D1) holds 6 meetings, R2 (on D2) 2.
    for i in 0..6 {
        acts.push(activity(
            &format!("M{i}"),
            Some("D1"),
            None,
            true,
            ActivityType::Meeting,
            at((2026, 2, 2 + i), 10),
        ));
    }
    for i in 0..2 {
        let mut a = activity(
            &format!("N{i}"),
            Some("D2"),
            None,
            true,
            ActivityType::Meeting,
            at((2026, 2, 2 + i), 10),
        );
        a.owner_id = Some("R2".into());
        acts.push(a);
    }
    // Calls on D2: 3 before it qualified (Discovery on 03-01), 2 after; an email never counts.
    for (i, day) in [
        (2026, 2, 10),
        (2026, 2, 11),
        (2026, 2, 12),
        (2026, 3, 2),
        (2026, 3, 3),
    ]
    .into_iter()
    .enumerate()
    {
        acts.push(activity(
            &format!("C{i}"),
            Some("D2"),
            None,
            true,
            ActivityType::Call,
            at(day, 10),
        ));
    }
    acts.push(activity(
        "X",
        Some("D2"),
        None,
        true,
        ActivityType::Email,
        at((2026, 2, 13), 10),
    ));
    let w = World {
        deals,
        activities: acts,
        users: org(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let c = run(&e, "open_deal_completeness", period("2026-Q2")).remove(0);
    // D1: amount, close date, next step, its date = 4; D2: amount, close date = 2.
    assert_eq!((c.numerator, c.denominator), (6.0, 8.0));
    assert_eq!(c.status, Some("red")); // 75% < 80%
    let m = run(&e, "meetings_per_week", by(period("2026-02"), "owner"));
    let got: Vec<_> = m
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.value))
        .collect();
    // Meetings count for the deal's owner: R1's deal had 6, R2's 2, over 4 weeks.
    assert_eq!(
        got,
        vec![("R1".to_string(), Some(1.5)), ("R2".to_string(), Some(0.5))]
    );
    // February: 8 meetings (all before D1 / D2 qualified) + 3 calls = 11 discovery calls in
    // 28 days = 11 × 30.4375 / 28 per month.
    let d = run(&e, "discovery_calls_per_month", period("2026-02")).remove(0);
    assert!(close(d.value.unwrap(), 11.0 * 30.4375 / 28.0), "{d:?}");
    // March: the two calls came after D2 qualified.
    let d = run(&e, "discovery_calls_per_month", period("2026-03")).remove(0);
    assert_eq!(d.value, Some(0.0));
}

/// Seed 000's multithreading and executive-time signals: engaged contacts per open deal and
/// the share of activity minutes spent with executives ("above the line"), by stage at the time.
#[test]
fn engaged_contacts_and_minutes_above_the_line() {
    let with =
        |id: &str, deal: &str, contact: Option<(&str, &str)>, minutes: Option<f64>, day: Day| {
            let mut a = activity(
                id,
                Some(deal),
                None,
                true,
                ActivityType::Meeting,
                at(day, 10),
            );
            a.duration_minutes = minutes;
            a.contact_id = contact.map(|(c, _)| c.to_string());
            a.contact_seniority = contact.map(|(_, s)| s.to_string());
            a
        };
    let (ceo, cfo, it, buyer) = (
        ("ceo", "executive"),
        ("cfo", "executive"),
        ("it", "individual"),
        ("buyer", "manager"),
    );
    let w = World {
        deals: vec![
            // A moves to Proposal on 1 March; B stays in Discovery; C closes in Q3 (not in Q2's
            // pipeline); D is lost.
            deal("A", "R1", (2026, 1, 20), 1.0, (2026, 5, 1)).stage((2026, 3, 1), "Proposal"),
            deal("B", "R1", (2026, 1, 20), 1.0, (2026, 6, 1)),
            deal("C", "R1", (2026, 1, 20), 1.0, (2026, 8, 1)),
            deal("D", "R1", (2026, 1, 20), 1.0, (2026, 6, 1)).lost((2026, 2, 10), "competition"),
        ],
        activities: vec![
            // A: ceo, it, buyer, it again → 3 contacts; 60 min in Discovery (30 with the ceo),
            // 75 in Proposal (45 with the cfo is a 4th contact).
            with("a1", "A", Some(ceo), Some(30.0), (2026, 2, 2)),
            with("a2", "A", Some(it), Some(30.0), (2026, 2, 3)),
            with("a3", "A", Some(buyer), Some(30.0), (2026, 3, 2)),
            with("a4", "A", Some(it), None, (2026, 3, 3)),
            with("a5", "A", Some(cfo), Some(45.0), (2026, 3, 4)),
            // B: one contact, an email with no duration and a call with no contact
            with("b1", "B", Some(buyer), None, (2026, 2, 5)),
            with("b2", "B", None, Some(20.0), (2026, 2, 6)),
            // C and D have contacts but are not open deals closing in Q2
            with("c1", "C", Some(ceo), Some(60.0), (2026, 2, 7)),
            with("d1", "D", Some(ceo), Some(60.0), (2026, 2, 8)),
        ],
        ..Default::default()
    };
    let (_d, e) = engine(w);
    // Open deals closing in Q2: A (4 contacts: ceo, it, buyer, cfo) and B (1) → 5 / 2.
    let c = run(&e, "engaged_contacts_per_deal", period("2026-Q2")).remove(0);
    assert_eq!((c.numerator, c.denominator), (5.0, 2.0));
    // As of 2 March 23:00 A had 3 contacts (the cfo came on the 4th).
    let c = run(
        &e,
        "engaged_contacts_per_deal",
        as_of(period("2026-Q2"), (2026, 3, 2), 23),
    )
    .remove(0);
    assert_eq!((c.numerator, c.denominator), (4.0, 2.0));
    // Minutes in February and March: A 30 ceo + 30 it + 30 buyer + 45 cfo, B 20, C 60 ceo,
    // D 60 ceo (D was open when the meeting happened) → executive 30 + 45 + 60 + 60 = 195 of 275.
    let m = run(&e, "minutes_above_the_line_share", period("2026-Q1")).remove(0);
    assert_eq!((m.numerator, m.denominator), (195.0, 275.0));
    // By stage at the time: Discovery has A's 30 (ceo) + 30 (it), B's 20, C's 60 (ceo) and
    // D's 60 (ceo) = 200 minutes, 150 with executives; Proposal has A's 30 (buyer) + 45 (cfo)
    // = 75, 45 with executives.
    let s = run(
        &e,
        "minutes_above_the_line_share",
        by(period("2026-Q1"), "stage"),
    );
    let got: Vec<_> = s
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.numerator, r.denominator))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Discovery".to_string(), 150.0, 200.0),
            ("Proposal".to_string(), 45.0, 75.0)
        ]
    );
}

/// Activity adherence (seed 001, conflict M-C13) as a workspace metric with the team's own
/// target: the example in examples/metrics/call_adherence.toml (50 calls per rep per week).
#[test]
fn call_adherence_example_against_its_target() {
    let m = pipewise_metrics::Metric::from_toml(
        include_str!("../../../examples/metrics/call_adherence.toml"),
        "call_adherence.toml",
    )
    .unwrap();
    // Two weeks (1–14 June): R1 made 90 seller calls, R2 100; buyer calls and seller
    // emails do not count.
    let mut acts = Vec::new();
    for (owner, deal_id, n) in [("R1", "A", 90), ("R2", "B", 100)] {
        for i in 0..n {
            let mut a = activity(
                &format!("{owner}-{i}"),
                Some(deal_id),
                None,
                true,
                ActivityType::Call,
                at((2026, 6, 1 + i % 14), 9),
            );
            a.owner_id = Some(owner.into());
            acts.push(a);
        }
    }
    acts.push(activity(
        "in",
        Some("A"),
        None,
        false,
        ActivityType::Call,
        at((2026, 6, 3), 9),
    ));
    acts.push(activity(
        "em",
        Some("A"),
        None,
        true,
        ActivityType::Email,
        at((2026, 6, 3), 9),
    ));
    let w = World {
        deals: vec![
            deal("A", "R1", (2026, 5, 1), 1.0, (2026, 9, 1)),
            deal("B", "R2", (2026, 5, 1), 1.0, (2026, 9, 1)),
        ],
        activities: acts,
        users: org(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let q = MetricQuery {
        period: Some((ymd(2026, 6, 1).unwrap(), ymd(2026, 6, 14).unwrap())),
        ..Default::default()
    };
    let r = evaluate(&e, &m, &by(q, "owner")).unwrap();
    let got: Vec<_> = r
        .iter()
        .map(|r| (r.dims[0].1.clone().unwrap(), r.value.unwrap(), r.status))
        .collect();
    // Calls count for the deal's owner. R1: 45 a week of 50 = 0.9 (green at the 90% target);
    // R2: 50 of 50 = 1.0.
    assert_eq!(got.len(), 2);
    assert!(
        close(got[0].1, 0.9) && got[0].0 == "R1" && got[0].2 == Some("green"),
        "{got:?}"
    );
    assert!(close(got[1].1, 1.0) && got[1].0 == "R2", "{got:?}");
}

/// Lead leakage (seed 001: "no-response rate" above 20%; "disqualification spikes").
#[test]
fn lead_no_response_and_disqualification_rates() {
    let t0 = at((2026, 3, 2), 9);
    let h = 3_600_000_000;
    let status = |lead: &str, s: &str, t: i64| LeadEvent {
        lead_id: lead.into(),
        field: "status".into(),
        old_value: None,
        new_value: Some(s.into()),
        effective_at: t,
        recorded_at: t,
        source: "test".into(),
    };
    let w = World {
        leads: (1..=5).map(|i| lead(&format!("L{i}"), t0, "web")).collect(),
        activities: vec![
            // L1..L4 touched; L1 and L2 answered (L2 only after 03-10); L5 never touched.
            activity("A1", None, Some("L1"), true, ActivityType::Email, t0 + h),
            activity(
                "A2",
                None,
                Some("L1"),
                false,
                ActivityType::Email,
                t0 + 2 * h,
            ),
            activity("A3", None, Some("L2"), true, ActivityType::Call, t0 + h),
            activity(
                "A4",
                None,
                Some("L2"),
                false,
                ActivityType::Email,
                at((2026, 3, 10), 9),
            ),
            activity("A5", None, Some("L3"), true, ActivityType::Email, t0 + h),
            activity("A6", None, Some("L4"), true, ActivityType::Email, t0 + h),
        ],
        lead_events: vec![
            status("L3", "Disqualified", t0 + 5 * h),
            status("L4", "Sales Accepted", t0 + 5 * h),
            status("L4", "Unqualified", at((2026, 3, 20), 9)),
        ],
        users: org(),
        ..Default::default()
    };
    let (_d, e) = engine(w);
    let r = run(&e, "lead_no_response_rate", period("2026-03")).remove(0);
    assert_eq!(
        (r.numerator, r.denominator, r.excluded),
        (2.0, 4.0, Some(1))
    );
    assert_eq!(r.status, Some("red")); // 50% > 30%
    let early = run(
        &e,
        "lead_no_response_rate",
        as_of(period("2026-03"), (2026, 3, 5), 0),
    )
    .remove(0);
    assert_eq!((early.numerator, early.denominator), (3.0, 4.0));
    let d = run(&e, "lead_disqualification_rate", period("2026-03")).remove(0);
    assert_eq!((d.numerator, d.denominator), (2.0, 5.0));
    let early = run(
        &e,
        "lead_disqualification_rate",
        as_of(period("2026-03"), (2026, 3, 5), 0),
    )
    .remove(0);
    assert_eq!((early.numerator, early.denominator), (1.0, 5.0));
}
