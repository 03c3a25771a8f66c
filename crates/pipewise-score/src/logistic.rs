//! Regularised logistic regression (issue #12 §2, "Learned"): the
//! transparent model, each factor a coefficient × value. Fitted with
//! linfa-logistic (L-BFGS), minimising Σ log-loss + ½·(1/C)·‖w‖² with the
//! intercept not penalised — scikit-learn's `LogisticRegression(C=…)`, which
//! the tests check it against.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Why a model could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The rows do not make a matrix, or a value is not finite.
    #[error("{0}")]
    Shape(String),
    /// Only one class among the rows.
    #[error("the training rows hold one class only: there is nothing to learn")]
    OneClass,
    /// The optimiser failed.
    #[error("the fit failed: {0}")]
    Fit(String),
}

/// Check that `rows` and outcomes `y` can be fitted: a matrix of finite
/// numbers, one row per outcome, both classes present. Its rows and columns.
pub fn check_rows(rows: &[Vec<f64>], y: &[bool]) -> Result<(usize, usize), FitError> {
    check_rows_with(rows, y, false)
}

/// [`check_rows`], letting NaN stand for a missing value when `missing` is
/// set (trees learn where missing values go).
pub fn check_rows_with(
    rows: &[Vec<f64>],
    y: &[bool],
    missing: bool,
) -> Result<(usize, usize), FitError> {
    let n = rows.len();
    let k = rows.first().map_or(0, Vec::len);
    if n != y.len() || rows.iter().any(|r| r.len() != k) || k == 0 {
        return Err(FitError::Shape(format!(
            "{n} rows of features for {} outcomes, not all of {k} values",
            y.len()
        )));
    }
    if rows
        .iter()
        .flatten()
        .any(|v| v.is_infinite() || (v.is_nan() && !missing))
    {
        return Err(FitError::Shape(
            "a feature value is not a finite number".into(),
        ));
    }
    if y.iter().all(|&v| v) || !y.iter().any(|&v| v) {
        return Err(FitError::OneClass);
    }
    Ok((n, k))
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// One coefficient per feature, in the columns' order.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// The inverse regularisation strength it was fitted with.
    pub c: f64,
}

impl Logistic {
    /// Fit on `rows` (each row's feature values, all rows the same length)
    /// and outcomes, with inverse regularisation strength `c` (smaller is
    /// stronger; scikit-learn's default is 1).
    pub fn fit(rows: &[Vec<f64>], y: &[bool], c: f64) -> Result<Logistic, FitError> {
        let (n, k) = check_rows(rows, y)?;
        if !(c > 0.0 && c.is_finite()) {
            return Err(FitError::Shape(format!(
                "C must be a positive number, not {c}"
            )));
        }
        let x = Array2::from_shape_vec((n, k), rows.concat())
            .map_err(|e| FitError::Shape(e.to_string()))?;
        let ds = Dataset::new(x, Array1::from(y.to_vec()));
        let m = LogisticRegression::default()
            .alpha(1.0 / c)
            .gradient_tolerance(1e-10)
            .max_iterations(1000)
            .fit(&ds)
            .map_err(|e| FitError::Fit(e.to_string()))?;
        // linfa models the class of the first row as its "positive" one:
        // turned round when that is `false`, so the model is always P(true).
        let sign = if m.labels().pos.class { 1.0 } else { -1.0 };
        Ok(Logistic {
            coefficients: m.params().iter().map(|w| sign * w).collect(),
            intercept: sign * m.intercept(),
            c,
        })
    }

    /// The probability of the positive class for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let z = self.intercept
            + self
                .coefficients
                .iter()
                .zip(row)
                .map(|(w, x)| w * x)
                .sum::<f64>();
        if z >= 0.0 {
            1.0 / (1.0 + (-z).exp())
        } else {
            let e = z.exp();
            e / (1.0 + e)
        }
    }

    /// Each feature's contribution to a row's log-odds: coefficient × value
    /// (what "the top factors for and against" are read from).
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        self.coefficients
            .iter()
            .zip(row)
            .map(|(w, x)| w * x)
            .collect()
    }
}
