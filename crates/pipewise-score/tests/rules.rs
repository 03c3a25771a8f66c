//! Rule-based scores against the seeds (seed-requirements §4.1–§4.6 and the
//! worked examples TV-19, TV-20 and TV-21).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::rules::{PointsModel, Rubric};
use std::collections::BTreeMap;

/// A model shipped in `rules/`.
fn shipped(name: &str) -> &'static str {
    pipewise_score::rules::shipped_text(name).unwrap()
}

fn lead(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn seed_001_points_and_weights() {
    let m = PointsModel::seed_001().unwrap();
    // §4.1: the maximum total is 150; firmographics 60/150 = 40% (inside
    // 30–50%), behavioral 25/150 ≈ 16.7% (outside the stated 40–60%).
    assert_eq!(m.max_total(), 150.0);
    let shares = m.category_shares();
    assert!((shares["firmographics"] - 0.4).abs() < 1e-12);
    assert!((shares["behavioral"] - 25.0 / 150.0).abs() < 1e-12);
    let everything = lead(&[
        ("annual_revenue", "75000000"),
        ("industry", "finance"),
        ("uses_competitor_tool", "Yes"),
        ("pricing_page_view", "true"),
        ("demo_request", "1"),
        ("intent_keywords", "yes"),
        ("title", "VP Sales"),
    ]);
    let s = m.score(&everything);
    assert_eq!(s.total, 150.0);
    assert_eq!(s.reasons.len(), 7);
    assert_eq!(s.band.as_deref(), Some("ae"));
    // ARR exactly $50M is not "> $50M"; a "VPN admin" is no VP.
    let s = m.score(&lead(&[
        ("annual_revenue", "50000000"),
        ("title", "VPN admin"),
    ]));
    assert_eq!(s.total, 0.0);
    assert_eq!(s.band.as_deref(), Some("nurture"));
}

#[test]
fn seed_001_routing_boundaries() {
    // §4.2: "> 80 → AE within 1 hour; 50–80 → SDR in 4 hours; lower → nurture":
    // 80 → SDR (not > 80); 50 → SDR; 49 → nurture.
    let m = PointsModel::seed_001().unwrap();
    for (total, band, hours) in [
        (81.0, "ae", Some(1.0)),
        (80.0, "sdr", Some(4.0)),
        (50.0, "sdr", Some(4.0)),
        (49.0, "nurture", None),
    ] {
        let b = m.band(total).unwrap();
        assert_eq!((b.name.as_str(), b.within_hours), (band, hours), "{total}");
    }
}

#[test]
fn tv19_losing_delivery_feasibility_cannot_take_fit_9_to_6() {
    // Seed 003 §2.3: fit 5 + 3 + 2; "delivery feasibility drops fit to 6" is
    // the seed's arithmetic error (TV-19): from 9, losing all of delivery
    // feasibility (worth 2) leaves at least 7 — still medium fit.
    let fit = Rubric::from_toml(shipped("seed_003_fit"), "seed_003_fit").unwrap();
    assert_eq!(fit.max_total(), 10);
    let nine = fit
        .score(&[
            ("profile alignment", 5),
            ("use-case alignment", 2),
            ("delivery feasibility", 2),
        ])
        .unwrap();
    assert_eq!((nine.total, nine.band.as_deref()), (9, Some("high")));
    let without = fit
        .score(&[
            ("profile alignment", 5),
            ("use-case alignment", 2),
            ("delivery feasibility", 0),
        ])
        .unwrap();
    assert_eq!(
        (without.total, without.band.as_deref()),
        (7, Some("medium"))
    );
    // a component scored past its maximum is an error, not clipped
    let e = fit
        .score(&[
            ("profile alignment", 6),
            ("use-case alignment", 2),
            ("delivery feasibility", 0),
        ])
        .unwrap_err();
    assert!(e.to_string().contains("0 to 5"), "{e}");
}

#[test]
fn tv20_budget_and_procurement_fit() {
    // Seed 003 §5.3: Deal A 3 / 2 → proceed to proposal review and
    // contracting; Deal B 1 / 0 → pause and confirm the procurement owner.
    let r = Rubric::from_toml(
        shipped("seed_003_budget_procurement"),
        "seed_003_budget_procurement",
    )
    .unwrap();
    let a = r
        .score(&[("budget authority", 3), ("procurement", 2)])
        .unwrap();
    assert_eq!(a.band.as_deref(), Some("proceed"));
    let b = r
        .score(&[("budget authority", 1), ("procurement", 0)])
        .unwrap();
    assert_eq!(b.band.as_deref(), Some("pause"));
}

#[test]
fn tv21_closing_readiness() {
    // Seed 003 §9.1: four categories 0–2; "a total of 7–8 typically means you
    // should shift … to closing the plan". Urgency 2, authority 1, process 2,
    // friction 2 = 7.
    let r = Rubric::from_toml(
        shipped("seed_003_closing_readiness"),
        "seed_003_closing_readiness",
    )
    .unwrap();
    assert_eq!(r.max_total(), 8);
    let s = r
        .score(&[
            ("urgency", 2),
            ("authority path", 1),
            ("process clarity", 2),
            ("friction visibility", 2),
        ])
        .unwrap();
    assert_eq!((s.total, s.band.as_deref()), (7, Some("close the plan")));
    assert!(
        r.score(&[("urgency", 2)]).is_err(),
        "every component needs a score"
    );
}

#[test]
fn a_criterion_needs_exactly_one_test() {
    let e = PointsModel::from_toml(
        "name = \"x\"\n[[criteria]]\nlabel = \"both\"\ncategory = \"c\"\nfield = \"f\"\npoints = 1\ngreater_than = 1\nis_true = true\n",
        "x.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("exactly one"), "{e}");
}

#[test]
fn seed_003_fit_intent_routing() {
    use pipewise_score::rules::RouteMatrix;
    let text = |n: &str| pipewise_score::rules::shipped_text(n).unwrap();
    let fit = Rubric::from_toml(text("seed_003_fit"), "fit").unwrap();
    let intent = Rubric::from_toml(text("seed_003_intent"), "intent").unwrap();
    let m = RouteMatrix::from_toml(text("seed_003_fit_intent_routing"), "routing").unwrap();
    let band = |r: &Rubric, s: &[(&str, u32)]| r.score(s).unwrap().band.unwrap();
    let f = |a, b, c| {
        band(
            &fit,
            &[
                ("profile alignment", a),
                ("use-case alignment", b),
                ("delivery feasibility", c),
            ],
        )
    };
    let i = |a, b, c| {
        band(
            &intent,
            &[
                ("commercial actions", a),
                ("deep engagement", b),
                ("content behavior", c),
            ],
        )
    };
    let route = |fb: &str, ib: &str| m.route(fb, ib).map(|r| r.action.as_str());
    // the worked example: fit 9, intent 9 → a discovery call
    assert_eq!(
        route(&f(5, 2, 2), &i(4, 3, 2)),
        Some("Book a discovery call and bring a tailored agenda")
    );
    // fit at its band edges: 8 high, 7 medium, 4 low
    assert_eq!(
        (f(5, 3, 0), f(5, 2, 0), f(2, 2, 0)),
        ("high".into(), "medium".into(), "low".into())
    );
    assert!(
        route("high", "medium")
            .unwrap()
            .starts_with("Send a short technical")
    );
    assert!(
        route("medium", "high")
            .unwrap()
            .starts_with("Proceed, but confirm")
    );
    // low fit stops, even with high intent; Low/Low disqualifies (the gate), not nurtures
    assert!(route("low", "high").unwrap().starts_with("Disqualify"));
    assert!(route("low", "low").unwrap().starts_with("Disqualify"));
    assert!(route("high", "low").unwrap().starts_with("Nurture"));
    assert!(route("medium", "low").unwrap().starts_with("Nurture"));
    // the seed has no route for medium / medium
    assert_eq!(route("medium", "medium"), None);
}

#[test]
fn every_shipped_model_reads() {
    use pipewise_score::rules::RouteMatrix;
    for (name, kind, text) in pipewise_score::rules::shipped() {
        match kind {
            "points" => drop(PointsModel::from_toml(text, name).unwrap()),
            "rubric" => drop(Rubric::from_toml(text, name).unwrap()),
            "routing" => drop(pipewise_score::rules::Routing::from_toml(text, name).unwrap()),
            _ => drop(RouteMatrix::from_toml(text, name).unwrap()),
        }
    }
    // §4.4: 0–9, high from 7; §4.6: 7 of 8 closes the plan; §4.7: four equal components
    let intent = Rubric::from_toml(
        pipewise_score::rules::shipped_text("seed_003_intent_0_9").unwrap(),
        "i",
    )
    .unwrap();
    assert_eq!(intent.max_total(), 9);
    let s = intent
        .score(&[("evaluation", 3), ("timing", 2), ("commitment", 2)])
        .unwrap();
    assert_eq!(s.band.as_deref(), Some("high"));
    let s = intent
        .score(&[("evaluation", 2), ("timing", 1), ("commitment", 0)])
        .unwrap();
    assert_eq!(s.band.as_deref(), Some("low"));
    let acct = Rubric::from_toml(
        pipewise_score::rules::shipped_text("seed_003_account_priority").unwrap(),
        "a",
    )
    .unwrap();
    assert_eq!(acct.max_total(), 12);
}
