//! The small-data deal model (issue #12 §3): the outcome shares (won, lost,
//! slipped) of each stage × segment × time-in-stage cell, each cell shrunk
//! towards its parent (stage × segment towards stage, stage towards all
//! deals) by an empirical-Bayes Dirichlet prior whose strength is the one
//! that makes the observed cells most likely (the Dirichlet-multinomial
//! marginal likelihood, over a grid). A cell with few deals says little
//! and stays near its parent; one with many speaks for itself. Each
//! probability comes with an interval from its Beta posterior.
//!
//! A deal open at many weekly cuts of one period is one observation, not
//! many: each row weighs 1 / (rows of the same deal in the same period), so
//! the counts are deal-periods and the intervals are not overconfident.

use super::rows::Outcome;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};
use statrs::function::gamma::ln_gamma;
use std::collections::BTreeMap;

/// Days-in-stage buckets: lower bounds.
pub const BUCKETS: [f64; 5] = [0.0, 15.0, 31.0, 61.0, 91.0];

/// The bucket of a time in stage, as words.
pub fn bucket_name(days: f64) -> &'static str {
    match BUCKETS.iter().rposition(|&b| days >= b).unwrap_or(0) {
        0 => "0–14 days in stage",
        1 => "15–30 days in stage",
        2 => "31–60 days in stage",
        3 => "61–90 days in stage",
        _ => "over 90 days in stage",
    }
}

/// Prior strengths tried (pseudo deal-periods).
const GRID: [f64; 12] = [
    0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 50.0, 100.0, 200.0,
];

/// One row for the pooled model.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledRow {
    /// The stage.
    pub stage: String,
    /// The segment (`None`: unknown).
    pub segment: Option<String>,
    /// Days in the stage.
    pub days_in_stage: f64,
}

impl PooledRow {
    /// The row's cell at each level below the top: stage, + segment, + bucket.
    fn cells(&self) -> [String; 3] {
        let seg = self.segment.as_deref().unwrap_or("(no segment)");
        [
            self.stage.clone(),
            format!("{} · {seg}", self.stage),
            format!(
                "{} · {seg} · {}",
                self.stage,
                bucket_name(self.days_in_stage)
            ),
        ]
    }
}

/// A fitted pooled model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pooled {
    /// The shares of all deal-periods (won, lost, slipped), with one
    /// pseudo-count each.
    pub overall: [f64; 3],
    /// The prior strength at each level (stage; stage × segment; × bucket).
    pub strength: [f64; 3],
    /// Weighted counts (deal-periods) of each cell, per level.
    pub cells: [BTreeMap<String, [f64; 3]>; 3],
}

/// A pooled score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PooledScore {
    /// P(won), P(lost), P(slipped).
    pub p: [f64; 3],
    /// The finest cell with deals in it, and its deal-periods.
    pub cell: String,
    /// Deal-periods in that cell.
    pub cell_count: f64,
    /// The posterior's total (deal-periods plus the prior's strength): how
    /// much evidence the probabilities rest on.
    pub evidence: f64,
}

/// An 80% interval for a probability `p` resting on `evidence`
/// observations: the 10% and 90% quantiles of Beta(p·n, (1 − p)·n).
pub fn interval(p: f64, evidence: f64) -> (f64, f64) {
    let a = (p * evidence).max(1e-9);
    let b = ((1.0 - p) * evidence).max(1e-9);
    Beta::new(a, b)
        .map(|d| (d.inverse_cdf(0.1), d.inverse_cdf(0.9)))
        .unwrap_or((0.0, 1.0))
}

/// log of the Dirichlet-multinomial likelihood of counts `n` under a prior
/// of strength `k` around shares `p` (up to the multinomial coefficient,
/// which does not depend on `k`).
fn log_marginal(n: &[f64; 3], k: f64, p: &[f64; 3]) -> f64 {
    let total: f64 = n.iter().sum();
    let mut s = ln_gamma(k) - ln_gamma(total + k);
    for j in 0..3 {
        let a = (k * p[j]).max(1e-12);
        s += ln_gamma(n[j] + a) - ln_gamma(a);
    }
    s
}

fn shares(a: &[f64; 3]) -> [f64; 3] {
    let t: f64 = a.iter().sum();
    [a[0] / t, a[1] / t, a[2] / t]
}

impl Pooled {
    /// Fit on rows, their outcomes and weights.
    pub fn fit(rows: &[PooledRow], outcomes: &[Outcome], weights: &[f64]) -> Pooled {
        let mut overall = [1.0; 3];
        let mut cells: [BTreeMap<String, [f64; 3]>; 3] = Default::default();
        for ((r, o), w) in rows.iter().zip(outcomes).zip(weights) {
            overall[o.index()] += w;
            for (level, cell) in r.cells().into_iter().enumerate() {
                cells[level].entry(cell).or_insert([0.0; 3])[o.index()] += w;
            }
        }
        let overall = shares(&overall);
        let mut m = Pooled {
            overall,
            strength: [1.0; 3],
            cells,
        };
        // each level's strength in turn, parents' posteriors from the levels above
        for level in 0..3 {
            let mut best = (f64::NEG_INFINITY, GRID[0]);
            for &k in &GRID {
                m.strength[level] = k;
                let ll: f64 = m.cells[level]
                    .iter()
                    .map(|(cell, n)| log_marginal(n, k, &m.parent_shares(level, cell)))
                    .sum();
                if ll > best.0 + 1e-12 {
                    best = (ll, k);
                }
            }
            m.strength[level] = best.1;
        }
        m
    }

    /// The posterior shares of the parent of `cell` at `level`.
    fn parent_shares(&self, level: usize, cell: &str) -> [f64; 3] {
        if level == 0 {
            return self.overall;
        }
        let parent = cell.rsplit_once(" · ").map_or(cell, |(p, _)| p);
        self.posterior(level - 1, parent).1
    }

    /// The Dirichlet posterior of `cell` at `level`: its parameters and shares.
    fn posterior(&self, level: usize, cell: &str) -> ([f64; 3], [f64; 3]) {
        let prior = self.parent_shares(level, cell);
        let n = self.cells[level].get(cell).copied().unwrap_or([0.0; 3]);
        let k = self.strength[level];
        let a = [
            n[0] + k * prior[0],
            n[1] + k * prior[1],
            n[2] + k * prior[2],
        ];
        (a, shares(&a))
    }

    /// Score one row.
    pub fn score(&self, row: &PooledRow) -> PooledScore {
        let cells = row.cells();
        let (a, p) = self.posterior(2, &cells[2]);
        let total: f64 = a.iter().sum();
        let (cell, cell_count) = (0..3)
            .rev()
            .find_map(|l| {
                let n: f64 = self.cells[l].get(&cells[l])?.iter().sum();
                (n > 0.0).then(|| (cells[l].clone(), n))
            })
            .unwrap_or_else(|| ("all deals".into(), 0.0));
        PooledScore {
            p,
            cell,
            cell_count,
            evidence: total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stage: &str, seg: &str, days: f64) -> PooledRow {
        PooledRow {
            stage: stage.into(),
            segment: Some(seg.into()),
            days_in_stage: days,
        }
    }

    #[test]
    fn a_cell_shrinks_towards_its_parent_by_the_prior_strength() {
        // Proposal: 40 deal-periods, 20 won, 10 lost, 10 slipped; one small
        // cell of 2, both won.
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            rows.push(row("Proposal", if i < 38 { "Mid" } else { "SMB" }, 20.0));
            y.push(if !(18..38).contains(&i) {
                Outcome::Won
            } else if i < 28 {
                Outcome::Lost
            } else {
                Outcome::Slipped
            });
        }
        let w = vec![1.0; 40];
        let m = Pooled::fit(&rows, &y, &w);
        // overall shares with one pseudo-count each: (21, 11, 11) / 43
        assert!((m.overall[0] - 21.0 / 43.0).abs() < 1e-12);
        let s = m.score(&row("Proposal", "SMB", 20.0));
        // by hand, from the fitted strengths: stage = (n + k0·overall)/(40 + k0), …
        let k = m.strength;
        let stage: Vec<f64> = (0..3)
            .map(|j| ([20.0, 10.0, 10.0][j] + k[0] * m.overall[j]) / (40.0 + k[0]))
            .collect();
        let seg: Vec<f64> = (0..3)
            .map(|j| ([2.0, 0.0, 0.0][j] + k[1] * stage[j]) / (2.0 + k[1]))
            .collect();
        let cell: Vec<f64> = (0..3)
            .map(|j| ([2.0, 0.0, 0.0][j] + k[2] * seg[j]) / (2.0 + k[2]))
            .collect();
        for (j, c) in cell.iter().enumerate() {
            assert!((s.p[j] - c).abs() < 1e-12, "{j}: {} vs {c}", s.p[j]);
        }
        assert!(
            s.p[0] < 1.0 && s.p[0] > stage[0],
            "shrunk, not copied: {:?}",
            s.p
        );
        assert!((s.p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let (lo, hi) = interval(s.p[0], s.evidence);
        assert!(lo < s.p[0] && s.p[0] < hi);
        assert_eq!(s.cell, "Proposal · SMB · 15–30 days in stage");
        assert_eq!(s.cell_count, 2.0);
        // an unseen cell is its parent's posterior
        let unseen = m.score(&row("Proposal", "Enterprise", 100.0));
        for (p, s) in unseen.p.iter().zip(&stage) {
            assert!((p - s).abs() < 1e-12);
        }
    }

    #[test]
    fn the_strength_maximises_the_marginal_likelihood() {
        // cells that all look alike: a strong prior fits best; cells that
        // differ wildly: a weak one
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for s in 0..8 {
            for i in 0..30 {
                rows.push(row(&format!("S{s}"), "Mid", 5.0));
                let alike = [Outcome::Won, Outcome::Lost, Outcome::Slipped][i % 3];
                y.push(alike);
            }
        }
        let w = vec![1.0; rows.len()];
        let alike = Pooled::fit(&rows, &y, &w);
        let y2: Vec<Outcome> = (0..rows.len())
            .map(|i| {
                if (i / 30) % 2 == 0 {
                    Outcome::Won
                } else {
                    Outcome::Lost
                }
            })
            .collect();
        let differ = Pooled::fit(&rows, &y2, &w);
        assert!(
            alike.strength[0] > differ.strength[0],
            "{:?} vs {:?}",
            alike.strength,
            differ.strength
        );
        assert_eq!(differ.strength[0], GRID[0]);
    }
}
