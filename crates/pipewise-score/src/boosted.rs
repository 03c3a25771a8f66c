//! Gradient-boosted trees (issue #12 §2, "Learned"): the flexible model,
//! each factor a Shapley contribution to the log-odds. Fitted with
//! forust-ml, which implements XGBoost's algorithm (second-order gains on
//! histogram bins, L2-regularised leaf weights) on stable Rust; the model is
//! plain serde data, so a model file holds it as JSON, and the same rows
//! give the same trees byte for byte.

use crate::logistic::FitError;
use forust_ml::gradientbooster::ContributionsMethod;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

/// The settings a boosted model is fitted with. The defaults are small,
/// shallow and slow-learning, for the few thousand rows a sales team has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoostParams {
    /// Number of trees.
    pub trees: usize,
    /// Shrinkage applied to each tree's leaf weights.
    pub learning_rate: f32,
    /// Greatest depth of a tree.
    pub max_depth: usize,
    /// L2 penalty on leaf weights (XGBoost's `lambda`).
    pub l2: f32,
    /// Least sum of hessians in a leaf (XGBoost's `min_child_weight`).
    pub min_leaf_weight: f32,
    /// Histogram bins per feature.
    pub bins: u16,
}

impl Default for BoostParams {
    fn default() -> Self {
        BoostParams {
            trees: 100,
            learning_rate: 0.1,
            max_depth: 4,
            l2: 1.0,
            min_leaf_weight: 1.0,
            bins: 256,
        }
    }
}

/// How a tree model's log-odds are shared among features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Exact Shapley values (TreeSHAP): consistent, O(trees · leaves ·
    /// depth²) per row.
    Shapley,
    /// Path attributions (Saabas; XGBoost's `approx_contribs`): each split
    /// on a row's path credits its feature with the change in the node's
    /// average value. O(trees · depth) per row; an approximation of Shapley
    /// values that can misorder features in deep interactions.
    Path,
}

/// A fitted gradient-boosted tree ensemble for a binary outcome.
#[derive(Serialize, Deserialize)]
pub struct Boosted {
    /// What it was fitted with.
    pub params: BoostParams,
    /// Number of features a row must have.
    pub features: usize,
    booster: GradientBooster,
}

impl std::fmt::Debug for Boosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Boosted")
            .field("params", &self.params)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

/// Rows as the column-major matrix forust reads.
fn column_major(rows: &[Vec<f64>], k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows.len() * k);
    for j in 0..k {
        out.extend(rows.iter().map(|r| r[j]));
    }
    out
}

impl Boosted {
    /// Fit on `rows` (each row's feature values, all the same length; NaN
    /// is a missing value) and outcomes.
    pub fn fit(rows: &[Vec<f64>], y: &[bool], params: BoostParams) -> Result<Boosted, FitError> {
        let (n, k) = crate::logistic::check_rows_with(rows, y, true)?;
        if params.trees == 0 || params.max_depth == 0 || params.bins < 2 {
            return Err(FitError::Shape(format!(
                "a boosted model needs at least one tree, depth 1 and 2 bins, not {params:?}"
            )));
        }
        let data = column_major(rows, k);
        let matrix = Matrix::new(&data, n, k);
        let target: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
        let mut booster = GradientBooster::default()
            .set_iterations(params.trees)
            .set_learning_rate(params.learning_rate)
            .set_max_depth(params.max_depth)
            .set_l2(params.l2)
            .set_min_leaf_weight(params.min_leaf_weight)
            .set_nbins(params.bins)
            .set_tiled_histograms(true);
        booster
            .fit(&matrix, &target, &vec![1.0; n], None)
            .map_err(|e| FitError::Fit(e.to_string()))?;
        Ok(Boosted {
            params,
            features: k,
            booster,
        })
    }

    /// The log-odds of a true outcome for each row.
    pub fn log_odds(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.is_empty() {
            return Vec::new();
        }
        let data = column_major(rows, self.features);
        self.booster
            .predict(&Matrix::new(&data, rows.len(), self.features), true)
    }

    /// The probability of a true outcome for each row.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        self.log_odds(rows)
            .into_iter()
            .map(|z| 1.0 / (1.0 + (-z).exp()))
            .collect()
    }

    /// Each row's Shapley contributions to its log-odds: one value per
    /// feature, then the bias (the model's average log-odds); a row's values
    /// sum to its log-odds.
    pub fn contributions(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.contributions_by(rows, Attribution::Shapley)
    }

    /// Each row's contributions to its log-odds by `method` (one value per
    /// feature, then the bias; a row's values sum to its log-odds).
    pub fn contributions_by(&self, rows: &[Vec<f64>], method: Attribution) -> Vec<Vec<f64>> {
        if rows.is_empty() {
            return Vec::new();
        }
        let data = column_major(rows, self.features);
        let flat = self.booster.predict_contributions(
            &Matrix::new(&data, rows.len(), self.features),
            match method {
                Attribution::Shapley => ContributionsMethod::Shapley,
                Attribution::Path => ContributionsMethod::Average,
            },
            true,
        );
        flat.chunks(self.features + 1)
            .map(<[f64]>::to_vec)
            .collect()
    }
}
