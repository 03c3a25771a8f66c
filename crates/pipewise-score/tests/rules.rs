//! Rule-based scores against the seeds (seed-requirements §4.1–§4.6 and the
//! worked examples TV-19, TV-20 and TV-21).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::rules::{PointsModel, Rubric};
use std::collections::BTreeMap;

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

const FIT: &str = r#"
name = "fit"
[[components]]
name = "profile alignment"
max = 5
[[components]]
name = "use-case alignment"
max = 3
[[components]]
name = "delivery feasibility"
max = 2
[[bands]]
name = "high"
at_least = 8
action = "high fit"
[[bands]]
name = "medium"
at_least = 5
action = "medium fit"
[[bands]]
name = "low"
at_least = 0
action = "low fit"
"#;

#[test]
fn tv19_losing_delivery_feasibility_cannot_take_fit_9_to_6() {
    // Seed 003 §2.3: fit 5 + 3 + 2; "delivery feasibility drops fit to 6" is
    // the seed's arithmetic error (TV-19): from 9, losing all of delivery
    // feasibility (worth 2) leaves at least 7 — still medium fit.
    let fit = Rubric::from_toml(FIT, "fit.toml").unwrap();
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
        r#"
name = "budget and procurement"
[[components]]
name = "budget authority"
max = 3
[[components]]
name = "procurement"
max = 3
[[bands]]
name = "proceed"
at_least = 5
action = "proceed to proposal review and contracting"
[[bands]]
name = "pause"
at_least = 0
action = "pause: confirm the budget and procurement owners"
"#,
        "bp.toml",
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
        r#"
name = "closing readiness"
[[components]]
name = "urgency"
max = 2
[[components]]
name = "authority path"
max = 2
[[components]]
name = "process clarity"
max = 2
[[components]]
name = "friction visibility"
max = 2
[[bands]]
name = "close the plan"
at_least = 7
action = "shift from answering questions to closing the plan"
[[bands]]
name = "keep qualifying"
at_least = 0
action = "keep qualifying"
"#,
        "closing.toml",
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
