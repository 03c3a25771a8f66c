//! Probability calibration: turning a model's scores into probabilities
//! that mean what they say, fitted on held-out rows (issue #12 §2: "Platt or
//! isotonic, on held-out folds").
//!
//! - [`Platt`]: a logistic curve over the score, P = 1 / (1 + e^(a·s + b)),
//!   fitted by Newton's method on Platt's smoothed targets (Lin, Lin & Weng,
//!   2007), as scikit-learn's sigmoid calibration does. Few parameters: right
//!   for small data.
//! - [`Isotonic`]: the best non-decreasing step function (pool adjacent
//!   violators), tied scores pooled first, predictions interpolated linearly
//!   between the fitted points and clipped at the ends — scikit-learn's
//!   `IsotonicRegression(out_of_bounds="clip")`. Needs more rows; assumes
//!   only that a higher score is no less likely to win.
//!
//! The tests check both against scikit-learn on the same rows.

use serde::{Deserialize, Serialize};

/// Platt scaling: P(positive | score s) = 1 / (1 + exp(a·s + b)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// The slope (negative when a higher score means more likely).
    pub a: f64,
    /// The intercept.
    pub b: f64,
}

impl Platt {
    /// Fit on scores and outcomes. Targets are Platt's: (N₊ + 1) / (N₊ + 2)
    /// for positives and 1 / (N₋ + 2) for negatives, so a perfectly separated
    /// sample does not give infinite coefficients. `None` without rows.
    pub fn fit(scores: &[f64], y: &[bool]) -> Option<Platt> {
        if scores.is_empty() || scores.len() != y.len() {
            return None;
        }
        let pos = y.iter().filter(|&&v| v).count() as f64;
        let neg = y.len() as f64 - pos;
        let (hi, lo) = ((pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0));
        let t: Vec<f64> = y.iter().map(|&v| if v { hi } else { lo }).collect();
        // Newton's method with backtracking on the cross-entropy of
        // f(s) = a·s + b, written stably (Lin, Lin & Weng's algorithm).
        let (mut a, mut b) = (0.0, ((neg + 1.0) / (pos + 1.0)).ln());
        let objective = |a: f64, b: f64| -> f64 {
            scores
                .iter()
                .zip(&t)
                .map(|(&s, &ti)| {
                    let f = a * s + b;
                    if f >= 0.0 {
                        ti * f + (1.0 + (-f).exp()).ln()
                    } else {
                        (ti - 1.0) * f + (1.0 + f.exp()).ln()
                    }
                })
                .sum()
        };
        let mut fval = objective(a, b);
        for _ in 0..100 {
            // gradient and Hessian (plus a tiny ridge, as Platt's algorithm)
            let (mut g1, mut g2) = (0.0, 0.0);
            let (mut h11, mut h22, mut h21) = (1e-12, 1e-12, 0.0);
            for (&s, &ti) in scores.iter().zip(&t) {
                let f = a * s + b;
                let (p, q) = if f >= 0.0 {
                    let e = (-f).exp();
                    (e / (1.0 + e), 1.0 / (1.0 + e))
                } else {
                    let e = f.exp();
                    (1.0 / (1.0 + e), e / (1.0 + e))
                };
                let d2 = p * q;
                h11 += s * s * d2;
                h22 += d2;
                h21 += s * d2;
                let d1 = ti - p;
                g1 += s * d1;
                g2 += d1;
            }
            if g1.abs() < 1e-12 && g2.abs() < 1e-12 {
                break;
            }
            let det = h11 * h22 - h21 * h21;
            let da = -(h22 * g1 - h21 * g2) / det;
            let db = -(-h21 * g1 + h11 * g2) / det;
            let gd = g1 * da + g2 * db;
            let mut step = 1.0;
            let mut moved = false;
            while step >= 1e-10 {
                let (na, nb) = (a + step * da, b + step * db);
                let nf = objective(na, nb);
                if nf < fval + 1e-4 * step * gd {
                    (a, b, fval) = (na, nb, nf);
                    moved = true;
                    break;
                }
                step /= 2.0;
            }
            if !moved {
                break;
            }
        }
        Some(Platt { a, b })
    }

    /// The calibrated probability of a score.
    pub fn predict(&self, s: f64) -> f64 {
        let f = self.a * s + self.b;
        if f >= 0.0 {
            let e = (-f).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + f.exp())
        }
    }
}

/// Isotonic calibration: a non-decreasing map from score to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// The fitted points' scores, increasing.
    pub x: Vec<f64>,
    /// Their probabilities, non-decreasing.
    pub y: Vec<f64>,
}

impl Isotonic {
    /// Fit on scores and outcomes. `None` without rows (or a NaN score).
    pub fn fit(scores: &[f64], y: &[bool]) -> Option<Isotonic> {
        if scores.is_empty() || scores.len() != y.len() || scores.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
        // Tied scores pooled first: (score, mean outcome, weight).
        let mut pts: Vec<(f64, f64, f64)> = Vec::new();
        for &i in &order {
            let v = f64::from(u8::from(y[i]));
            match pts.last_mut() {
                Some(last) if last.0 == scores[i] => {
                    last.1 = (last.1 * last.2 + v) / (last.2 + 1.0);
                    last.2 += 1.0;
                }
                _ => pts.push((scores[i], v, 1.0)),
            }
        }
        // Pool adjacent violators over blocks (mean, weight, points).
        let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
        for &(_, v, w) in &pts {
            blocks.push((v, w, 1));
            while blocks.len() > 1 {
                let n = blocks.len();
                let (m2, w2, c2) = blocks[n - 1];
                let (m1, w1, c1) = blocks[n - 2];
                if m1 <= m2 {
                    break;
                }
                blocks.truncate(n - 2);
                blocks.push(((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2));
            }
        }
        let mut fitted = Vec::with_capacity(pts.len());
        for (m, _, c) in blocks {
            fitted.extend(std::iter::repeat_n(m.clamp(0.0, 1.0), c));
        }
        Some(Isotonic {
            x: pts.iter().map(|p| p.0).collect(),
            y: fitted,
        })
    }

    /// The calibrated probability of a score: linear between the fitted
    /// points, the end values beyond them.
    pub fn predict(&self, s: f64) -> f64 {
        let (x, y) = (&self.x, &self.y);
        let Some((&first, &last)) = x.first().zip(x.last()) else {
            return f64::NAN;
        };
        if s <= first {
            return y[0];
        }
        if s >= last {
            return y[y.len() - 1];
        }
        let j = x.partition_point(|&v| v <= s); // x[j-1] <= s < x[j]
        let (x0, x1, y0, y1) = (x[j - 1], x[j], y[j - 1], y[j]);
        y0 + (y1 - y0) * (s - x0) / (x1 - x0)
    }
}
