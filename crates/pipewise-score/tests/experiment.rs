//! Experiment design against seed-requirements §4.10 (seed 001's "1,000 vs
//! 1,000 at 20% relative lift, α 0.05, power 0.8" and its 10-vs-10 coaching
//! pilot) and the tests against statsmodels and SciPy on the same data
//! (`fixtures/statsmodels_tests.json`: `proportions_ztest`,
//! `confint_proportions_2indep(method="wald")`, `scipy.stats.ttest_ind(...,
//! equal_var=False)` with its confidence interval).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::experiment::{
    baseline_for_power, detectable_effect_size, difference_in_differences, power_two_proportions,
    sample_size_two_proportions, two_proportion_z_test, welch_t_test,
};
use serde_json::Value;

#[test]
fn seed_001_power_table() {
    // §4.10: n per arm for a 20% relative lift (rounded as the table is).
    for (p0, n) in [
        (0.05, 8158.0),
        (0.10, 3841.0),
        (0.20, 1682.0),
        (0.25, 1251.0),
        (0.30, 963.0),
        (0.40, 603.0),
    ] {
        let got = sample_size_two_proportions(p0, 1.2 * p0, 0.05, 0.8).unwrap();
        assert!(
            (got - n).abs() < 0.5,
            "p0 {p0}: {got} rows per arm, the table says {n}"
        );
    }
    // "At p0 = 0.10 the power is ≈ 0.30; at p0 = 0.20 it is ≈ 0.58."
    let at = |p0: f64| power_two_proportions(p0, 1.2 * p0, 1000.0, 0.05);
    assert!((at(0.10) - 0.30).abs() < 0.01, "{}", at(0.10));
    assert!((at(0.20) - 0.58).abs() < 0.01, "{}", at(0.20));
    // "1,000 per arm gives 80% power only if p0 ≳ 0.29."
    let p0 = baseline_for_power(1000.0, 0.2, 0.05, 0.8).unwrap();
    assert!((0.285..0.295).contains(&p0), "{p0}");
    assert!((power_two_proportions(p0, 1.2 * p0, 1000.0, 0.05) - 0.8).abs() < 1e-9);
    // "With 10 vs 10 reps … detects only an effect of about 1.25 standard deviations."
    let d = detectable_effect_size(10.0, 0.05, 0.8);
    assert!((d - 1.25).abs() < 0.01, "{d}");
    assert_eq!(sample_size_two_proportions(0.2, 0.2, 0.05, 0.8), None);
}

#[test]
fn tests_match_statsmodels_and_scipy() {
    let r: Value = serde_json::from_str(include_str!("fixtures/statsmodels_tests.json")).unwrap();
    let zt = &r["ztest"];
    let u = |k: &str| zt[k].as_u64().unwrap();
    let got = two_proportion_z_test(u("x1"), u("n1"), u("x2"), u("n2"), 0.05).unwrap();
    let f = |v: &Value| v.as_f64().unwrap();
    assert!((got.z - f(&zt["z"])).abs() < 1e-12, "{got:?}");
    // (statrs and SciPy compute the normal tail apart: equal to 1e-11)
    assert!((got.p_value - f(&zt["p"])).abs() < 1e-10, "{got:?}");
    assert!((got.interval.0 - f(&zt["ci"][0])).abs() < 1e-9, "{got:?}");
    assert!((got.interval.1 - f(&zt["ci"][1])).abs() < 1e-9, "{got:?}");

    let w = &r["welch"];
    let vals = |k: &str| -> Vec<f64> { w[k].as_array().unwrap().iter().map(f).collect() };
    let got = welch_t_test(&vals("a"), &vals("b"), 0.05).unwrap();
    assert!((got.t - f(&w["t"])).abs() < 1e-10, "{got:?}");
    assert!((got.df - f(&w["df"])).abs() < 1e-10, "{got:?}");
    assert!((got.p_value - f(&w["p"])).abs() < 1e-8, "{got:?}");
    assert!((got.interval.0 - f(&w["ci"][0])).abs() < 1e-8, "{got:?}");
    assert!((got.interval.1 - f(&w["ci"][1])).abs() < 1e-8, "{got:?}");
    assert!(welch_t_test(&[1.0], &[2.0, 3.0], 0.05).is_none());
}

#[test]
fn difference_in_differences_is_the_treated_change_minus_the_control_change() {
    // win rate 20% → 28% with coaching, 21% → 23% without: +6 points from coaching
    let did = difference_in_differences(0.20, 0.28, 0.21, 0.23);
    assert!((did - 0.06).abs() < 1e-12, "{did}");
}
