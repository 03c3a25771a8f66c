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

impl Attribution {
    /// Up to this many rows, [`Attribution::auto`] gives exact Shapley
    /// values (about a second on two cores for a 200-tree model); above it,
    /// path attributions.
    pub const SHAPLEY_UP_TO: usize = 5_000;

    /// The attribution for `rows` rows when none is asked for: exact where
    /// it costs little, the fast approximation where it would not.
    pub fn auto(rows: usize) -> Attribution {
        if rows <= Attribution::SHAPLEY_UP_TO {
            Attribution::Shapley
        } else {
            Attribution::Path
        }
    }
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

    /// The trees a prediction sums.
    fn trees(&self) -> &[forust_ml::tree::Tree] {
        let b = &self.booster;
        let n = b.prediction_iteration.unwrap_or(b.trees.len());
        &b.trees[..n.min(b.trees.len())]
    }

    /// The log-odds of a true outcome for each row: the base score plus
    /// each tree's leaf weight, in tree order, as forust's `predict` sums
    /// them (the same bytes; a test holds it to forust's), walked over the
    /// rows as they are rather than a column-major copy of them.
    pub fn log_odds(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        use rayon::prelude::*;
        let (b, trees) = (&self.booster, self.trees());
        rows.par_iter()
            .map(|row| {
                let mut z = b.base_score;
                for t in trees {
                    z += t.predict_row_from_row_slice(row, &b.missing);
                }
                z
            })
            .collect()
    }

    /// Each row's log-odds and its path attributions (one value per
    /// feature, without the bias), from one walk of each tree over the rows
    /// as they are. forust's own `Average` contributions copy the rows into
    /// a column-major matrix, copy each row back out, and walk every tree a
    /// second time for the prediction; this walk does neither. The
    /// log-odds are the same bytes as [`Boosted::log_odds`] (the base score
    /// plus each tree's leaf weight, in tree order) and each feature's
    /// value is forust's path attribution, summed in the same tree order;
    /// the tests hold both to forust's.
    pub fn explained_path(&self, rows: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        use rayon::prelude::*;
        let (b, trees) = (&self.booster, self.trees());
        // each node's average leaf weight, per tree
        let weights: Vec<Vec<f64>> = trees.iter().map(|t| t.distribute_leaf_weights()).collect();
        rows.par_iter()
            .map(|row| {
                let mut z = b.base_score;
                let mut c = vec![0.0; self.features];
                for (t, w) in trees.iter().zip(&weights) {
                    let mut i = 0;
                    loop {
                        let node = &t.nodes[i];
                        if node.is_leaf {
                            z += f64::from(node.weight_value);
                            break;
                        }
                        let child = node.get_child_idx(&row[node.split_feature], &b.missing);
                        c[node.split_feature] += w[child] - w[i];
                        i = child;
                    }
                }
                (z, c)
            })
            .unzip()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_odds_are_forusts_predictions_byte_for_byte() {
        // two features, one with missing values, a pattern worth a few splits
        let rows: Vec<Vec<f64>> = (0..400)
            .map(|i| {
                let x = f64::from(i % 37);
                let m = if i % 5 == 0 {
                    f64::NAN
                } else {
                    f64::from(i % 11)
                };
                vec![x, m]
            })
            .collect();
        let y: Vec<bool> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r[0] > 18.0) ^ r[1].is_nan() ^ (i % 7 == 0))
            .collect();
        let m = Boosted::fit(&rows, &y, BoostParams::default()).unwrap();
        let data = column_major(&rows, 2);
        let theirs = m.booster.predict(&Matrix::new(&data, rows.len(), 2), true);
        let mine = m.log_odds(&rows);
        assert_eq!(mine, theirs);
        assert!(mine.iter().any(|&z| z > 0.5) && mine.iter().any(|&z| z < -0.5));
        assert!(m.log_odds(&[]).is_empty());
    }
}
