//! Calibration against scikit-learn on the same 300 rows
//! (`fixtures/sklearn_calibration.json`: scores rounded to one decimal, so
//! many tie; written with `IsotonicRegression(out_of_bounds="clip", y_min=0,
//! y_max=1)` and `_SigmoidCalibration`, the sigmoid `CalibratedClassifierCV`
//! fits).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::calibrate::{Isotonic, Platt};
use serde_json::Value;

mod common;

fn fixture() -> (Vec<f64>, Vec<bool>, Value) {
    let v: Value = serde_json::from_str(include_str!("fixtures/sklearn_calibration.json")).unwrap();
    let s = common::floats(&v["s"]);
    let y = common::outcomes(&v["y"]);
    (s, y, v)
}

#[test]
fn isotonic_matches_scikit_learn() {
    let (s, y, r) = fixture();
    let iso = Isotonic::fit(&s, &y).unwrap();
    for (g, want) in common::floats(&r["grid"])
        .into_iter()
        .zip(common::floats(&r["isotonic"]))
    {
        let got = iso.predict(g);
        assert!(
            (got - want).abs() < 1e-12,
            "isotonic({g}): {got} vs scikit-learn {want}"
        );
    }
    assert!(iso.y.windows(2).all(|w| w[0] <= w[1]), "non-decreasing");
}

#[test]
fn platt_matches_scikit_learn() {
    let (s, y, r) = fixture();
    let platt = Platt::fit(&s, &y).unwrap();
    // scikit-learn stops its L-BFGS at its own tolerance; Newton converges
    // further: the coefficients agree to 1e-4, the probabilities to 1e-5.
    assert!(
        (platt.a - r["sigmoid_a"].as_f64().unwrap()).abs() < 1e-4,
        "{platt:?}"
    );
    assert!(
        (platt.b - r["sigmoid_b"].as_f64().unwrap()).abs() < 1e-4,
        "{platt:?}"
    );
    for (g, want) in common::floats(&r["grid"])
        .into_iter()
        .zip(common::floats(&r["sigmoid"]))
    {
        let got = platt.predict(g);
        assert!(
            (got - want).abs() < 1e-5,
            "platt({g}): {got} vs scikit-learn {want}"
        );
    }
}

#[test]
fn separated_rows_give_finite_calibrations() {
    let s = [0.1, 0.2, 0.8, 0.9];
    let y = [false, false, true, true];
    let p = Platt::fit(&s, &y).unwrap();
    assert!(p.a.is_finite() && p.b.is_finite());
    assert!(p.predict(0.9) > 0.5 && p.predict(0.1) < 0.5);
    let iso = Isotonic::fit(&s, &y).unwrap();
    assert_eq!((iso.predict(0.0), iso.predict(1.0)), (0.0, 1.0));
    assert!(
        (iso.predict(0.5) - 0.5).abs() < 1e-12,
        "halfway between 0.2 and 0.8"
    );
    assert!(Platt::fit(&[], &[]).is_none() && Isotonic::fit(&[f64::NAN], &[true]).is_none());
}
