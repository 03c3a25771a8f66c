//! How good a scoring model is on labelled rows: the measures a model card
//! and `validate --format json` report. Every function takes the predicted
//! probabilities `p` (0..=1) and the outcomes `y` of the same rows, in the
//! same order; a row order never changes a result except where said (ties at
//! the k-th place of [`precision_at_k`] keep the rows' order).
//!
//! The definitions are scikit-learn's, and the tests check them against
//! scikit-learn's own output: `roc_auc_score` (tied scores count half),
//! `brier_score_loss`, `log_loss` (probabilities clipped to
//! [ε, 1 − ε], ε the f64 machine epsilon) and `calibration_curve` with
//! uniform bins (a bin's upper edge belongs to it; the first bin holds 0).

use serde::{Deserialize, Serialize};

/// Area under the ROC curve: the chance that a random positive row scores
/// above a random negative one, ties counting half (the Mann–Whitney U
/// statistic over the product of the class sizes). `None` without both
/// classes.
pub fn auc(p: &[f64], y: &[bool]) -> Option<f64> {
    let positives = y.iter().filter(|&&v| v).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Ranks by score, ascending; tied scores share their average rank.
    let order = sorted_by_score(p, false);
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        // positions i..=j (0-based) have ranks i+1..=j+1: average (i + j) / 2 + 1
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += rank * order[i..=j].iter().filter(|&&r| y[r]).count() as f64;
        i = j + 1;
    }
    let (np, nn) = (positives as f64, negatives as f64);
    Some((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Mean squared difference between probability and outcome (0 is perfect;
/// predicting the base rate for every row gives [`Baseline::brier`]).
pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    mean(
        p.iter()
            .zip(y)
            .map(|(&q, &v)| (q - f64::from(u8::from(v))).powi(2)),
    )
}

/// Mean negative log-likelihood of the outcomes, probabilities clipped to
/// [ε, 1 − ε] so that a confident miss costs much but not infinity.
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let eps = f64::EPSILON;
    mean(p.iter().zip(y).map(|(&q, &v)| {
        let q = q.clamp(eps, 1.0 - eps);
        -(if v { q.ln() } else { (1.0 - q).ln() })
    }))
}

/// Share of positives among the `k` highest-scored rows (`k` larger than the
/// rows: all of them). `None` for `k = 0` or no rows.
pub fn precision_at_k(p: &[f64], y: &[bool], k: usize) -> Option<f64> {
    let top = top_k(p, k);
    (!top.is_empty()).then(|| top.iter().filter(|&&r| y[r]).count() as f64 / top.len() as f64)
}

/// Share of all positives found among the `k` highest-scored rows. `None`
/// without positives.
pub fn recall_at_k(p: &[f64], y: &[bool], k: usize) -> Option<f64> {
    let positives = y.iter().filter(|&&v| v).count();
    (positives > 0).then(|| top_k(p, k).iter().filter(|&&r| y[r]).count() as f64 / positives as f64)
}

/// One tenth of the rows, by score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// 1 for the highest-scored tenth, 10 for the lowest.
    pub decile: usize,
    /// Rows in it.
    pub rows: usize,
    /// Positive rows in it.
    pub positives: usize,
    /// Its positive rate.
    pub rate: f64,
    /// Its rate over the overall rate: how much better than picking at random.
    pub lift: f64,
}

/// The rows in ten groups by descending score (decile d of n rows holds
/// positions ⌊(d−1)·n/10⌋ to ⌊d·n/10⌋), each with its positive rate and lift.
/// Empty without rows or without positives.
pub fn lift_by_decile(p: &[f64], y: &[bool]) -> Vec<Decile> {
    let n = p.len();
    let positives = y.iter().filter(|&&v| v).count();
    if n == 0 || positives == 0 {
        return Vec::new();
    }
    let overall = positives as f64 / n as f64;
    let order = sorted_by_score(p, true);
    (0..10)
        .map(|d| {
            let rows = &order[(d * n) / 10..((d + 1) * n) / 10];
            let pos = rows.iter().filter(|&&r| y[r]).count();
            let rate = if rows.is_empty() {
                0.0
            } else {
                pos as f64 / rows.len() as f64
            };
            Decile {
                decile: d + 1,
                rows: rows.len(),
                positives: pos,
                rate,
                lift: rate / overall,
            }
        })
        .collect()
}

/// One bin of a reliability table: predictions in it, against what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The bin's lower edge (exclusive, except the first bin's 0).
    pub lower: f64,
    /// Its upper edge (inclusive).
    pub upper: f64,
    /// Rows predicted in it.
    pub rows: usize,
    /// Their mean predicted probability.
    pub predicted: f64,
    /// Their observed positive rate.
    pub observed: f64,
}

/// Predicted against observed in `bins` equal-width bins of probability;
/// empty bins are left out (as scikit-learn's `calibration_curve`).
pub fn reliability(p: &[f64], y: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    // The inner edges as numpy's linspace writes them (i × step, so 0.3 is
    // 0.30000000000000004): a prediction's bin is the number of edges below it.
    let step = 1.0 / bins as f64;
    let edges: Vec<f64> = (1..bins).map(|i| i as f64 * step).collect();
    let mut acc = vec![(0usize, 0.0f64, 0usize); bins];
    for (&q, &v) in p.iter().zip(y) {
        let b = edges.partition_point(|&e| e < q);
        acc[b].0 += 1;
        acc[b].1 += q;
        acc[b].2 += usize::from(v);
    }
    acc.into_iter()
        .enumerate()
        .filter(|(_, (rows, _, _))| *rows > 0)
        .map(|(b, (rows, sum, pos))| ReliabilityBin {
            lower: b as f64 * step,
            upper: (b + 1) as f64 * step,
            rows,
            predicted: sum / rows as f64,
            observed: pos as f64 / rows as f64,
        })
        .collect()
}

/// What a model must beat: knowing only the base rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The share of positive rows.
    pub prevalence: f64,
    /// Accuracy of always predicting the majority class.
    pub no_information_rate: f64,
    /// Brier score of predicting the prevalence for every row.
    pub brier: f64,
    /// Log loss of predicting the prevalence for every row.
    pub log_loss: f64,
}

/// The no-information baseline of these outcomes (`None` without rows).
pub fn baseline(y: &[bool]) -> Option<Baseline> {
    if y.is_empty() {
        return None;
    }
    let prevalence = y.iter().filter(|&&v| v).count() as f64 / y.len() as f64;
    let constant = vec![prevalence; y.len()];
    Some(Baseline {
        prevalence,
        no_information_rate: prevalence.max(1.0 - prevalence),
        brier: brier(&constant, y),
        log_loss: log_loss(&constant, y),
    })
}

/// Row indexes by score, descending (`desc`) or ascending; equal scores keep
/// the rows' order.
fn sorted_by_score(p: &[f64], desc: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| {
        let o = p[a].total_cmp(&p[b]);
        if desc { o.reverse() } else { o }
    });
    order
}

/// The `k` highest-scored rows.
fn top_k(p: &[f64], k: usize) -> Vec<usize> {
    let mut order = sorted_by_score(p, true);
    order.truncate(k);
    order
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}
