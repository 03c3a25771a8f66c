//! The validation measures against scikit-learn's own output on the same
//! 500 rows (`fixtures/sklearn_reference.json`, written by
//! `fixtures/make_reference.py`: scores rounded to two decimals, so many
//! tie), and AUC against a naive count over every pair.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::validate::{
    auc, baseline, brier, lift_by_decile, log_loss, precision_at_k, recall_at_k, reliability,
};
use serde_json::Value;

mod common;

fn reference() -> (Vec<f64>, Vec<bool>, Value) {
    let v: Value = serde_json::from_str(include_str!("fixtures/sklearn_reference.json")).unwrap();
    let p = common::floats(&v["p"]);
    let y = common::outcomes(&v["y"]);
    (p, y, v)
}

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-12,
        "{what}: got {got}, scikit-learn {want}"
    );
}

#[test]
fn measures_match_scikit_learn() {
    let (p, y, r) = reference();
    close("auc", auc(&p, &y).unwrap(), r["auc"].as_f64().unwrap());
    close("brier", brier(&p, &y), r["brier"].as_f64().unwrap());
    close(
        "log loss",
        log_loss(&p, &y),
        r["log_loss"].as_f64().unwrap(),
    );
    for k in [10, 50, 100] {
        let key = k.to_string();
        close(
            &format!("precision@{k}"),
            precision_at_k(&p, &y, k).unwrap(),
            r["precision_at"][&key].as_f64().unwrap(),
        );
        close(
            &format!("recall@{k}"),
            recall_at_k(&p, &y, k).unwrap(),
            r["recall_at"][&key].as_f64().unwrap(),
        );
    }
    let deciles = lift_by_decile(&p, &y);
    let want = r["deciles"].as_array().unwrap();
    assert_eq!(deciles.len(), 10);
    let prevalence = r["prevalence"].as_f64().unwrap();
    for (d, w) in deciles.iter().zip(want) {
        assert_eq!(
            d.rows as i64,
            w["rows"].as_i64().unwrap(),
            "decile {}",
            d.decile
        );
        assert_eq!(
            d.positives as i64,
            w["positives"].as_i64().unwrap(),
            "decile {}",
            d.decile
        );
        close(
            "lift",
            d.lift,
            d.positives as f64 / d.rows as f64 / prevalence,
        );
    }
    let bins = reliability(&p, &y, 10);
    let observed = r["reliability_observed"].as_array().unwrap();
    let predicted = r["reliability_predicted"].as_array().unwrap();
    assert_eq!(bins.len(), observed.len());
    for ((b, o), q) in bins.iter().zip(observed).zip(predicted) {
        close("reliability observed", b.observed, o.as_f64().unwrap());
        close("reliability predicted", b.predicted, q.as_f64().unwrap());
    }
    let base = baseline(&y).unwrap();
    close("prevalence", base.prevalence, prevalence);
    close(
        "no-information rate",
        base.no_information_rate,
        1.0 - prevalence,
    );
    close(
        "baseline brier",
        base.brier,
        prevalence * (1.0 - prevalence),
    );
}

#[test]
fn auc_is_the_share_of_pairs_ranked_right() {
    let (p, y, _) = reference();
    let (mut right, mut pairs) = (0.0, 0.0);
    for i in 0..p.len() {
        for j in 0..p.len() {
            if y[i] && !y[j] {
                pairs += 1.0;
                right += if p[i] > p[j] {
                    1.0
                } else if p[i] == p[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    close("auc vs pairs", auc(&p, &y).unwrap(), right / pairs);
    // Without both classes there is no AUC.
    assert_eq!(auc(&[0.2, 0.9], &[true, true]), None);
    assert_eq!(precision_at_k(&[], &[], 5), None);
    assert!(lift_by_decile(&[0.1, 0.2], &[false, false]).is_empty());
}

#[test]
fn a_confident_miss_costs_much_but_not_infinity() {
    let l = log_loss(&[0.0, 1.0], &[true, false]);
    assert!(l.is_finite() && l > 30.0, "{l}");
    close(
        "perfect",
        log_loss(&[1.0, 0.0], &[true, false]),
        -(1.0 - f64::EPSILON).ln(),
    );
}
