//! Logistic regression against scikit-learn's `LogisticRegression` on the same
//! 400 rows at two regularisation strengths (`fixtures/sklearn_logistic.json`,
//! written by `fixtures/make_logistic.py`).

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::logistic::{FitError, Logistic};
use serde_json::Value;

#[test]
fn matches_scikit_learn() {
    let r: Value = serde_json::from_str(include_str!("fixtures/sklearn_logistic.json")).unwrap();
    let rows: Vec<Vec<f64>> = r["X"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let y: Vec<bool> = r["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() == 1)
        .collect();
    for (c, fit) in r["fits"].as_object().unwrap() {
        let c: f64 = c.parse().unwrap();
        let m = Logistic::fit(&rows, &y, c).unwrap();
        let want: Vec<f64> = fit["coef"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (got, want) in m.coefficients.iter().zip(&want) {
            assert!(
                (got - want).abs() < 1e-6,
                "C {c}: {:?} vs scikit-learn {want:?}",
                m.coefficients
            );
        }
        let b = fit["intercept"].as_f64().unwrap();
        assert!(
            (m.intercept - b).abs() < 1e-6,
            "C {c}: intercept {} vs {b}",
            m.intercept
        );
        for (row, p) in rows.iter().zip(fit["proba"].as_array().unwrap()) {
            let p = p.as_f64().unwrap();
            assert!((m.predict(row) - p).abs() < 1e-7, "C {c}");
        }
        // the rows' order does not matter (linfa names its positive class
        // after the first row's: both orders must model P(true))
        let k = y.iter().position(|&v| v != y[0]).unwrap();
        let (mut other_first, mut other_y) = (rows.clone(), y.clone());
        other_first.swap(0, k);
        other_y.swap(0, k);
        let flipped = Logistic::fit(&other_first, &other_y, c).unwrap();
        for (a, b) in m.coefficients.iter().zip(&flipped.coefficients) {
            assert!(
                (a - b).abs() < 1e-6,
                "C {c}: order changed the fit: {a} vs {b}"
            );
        }
        // the contributions add up to the log-odds
        let z: f64 = m.contributions(&rows[0]).iter().sum::<f64>() + m.intercept;
        let p = m.predict(&rows[0]);
        assert!((z - (p / (1.0 - p)).ln()).abs() < 1e-9);
    }
}

#[test]
fn bad_training_data_is_refused() {
    assert!(matches!(
        Logistic::fit(&[vec![1.0], vec![2.0]], &[true, true], 1.0),
        Err(FitError::OneClass)
    ));
    assert!(matches!(
        Logistic::fit(&[vec![1.0], vec![f64::NAN]], &[true, false], 1.0),
        Err(FitError::Shape(_))
    ));
    assert!(matches!(
        Logistic::fit(&[vec![1.0, 2.0], vec![3.0]], &[true, false], 1.0),
        Err(FitError::Shape(_))
    ));
}
