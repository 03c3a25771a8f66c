//! Monte Carlo for the probabilistic method: every open deal is won in the
//! quarter with its probability, independently, at its amount; new deals
//! are won in a Poisson number, each at an amount drawn from the new deals
//! won after the same week of past quarters; the quarter's total is what is
//! already won plus both. Each group's quantiles come from its own totals
//! in every draw, so a team's P10 is the team's, never a sum of its
//! members' P10s, and the company's comes from the same draws.
//!
//! Deterministic: draws are simulated in blocks, each block from its own
//! ChaCha stream keyed by (seed, block), deals visited in order; the same
//! inputs and seed give the same quantiles byte for byte on any core count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;

/// Draws per block (one ChaCha stream each).
const BLOCK: usize = 250;
/// Below this probability a deal's wins are drawn by the gaps between them.
const SKIP_BELOW: f64 = 0.25;

/// One open deal to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimDeal {
    /// What it books if won.
    pub amount: f64,
    /// P(won in the quarter).
    pub p: f64,
    /// Its group (`< groups`).
    pub group: usize,
}

/// New business won in the quarter from deals not yet created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewBusiness {
    /// The expected number of new deals won.
    pub expected: f64,
    /// The amounts to draw each from (past quarters' new wins, scaled).
    pub amounts: Vec<f64>,
    /// Each group's share of them (the rest belongs to no group).
    pub shares: Vec<f64>,
}

/// A distribution's summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Mean.
    pub mean: f64,
}

/// The `q` quantile of sorted values (linear between order statistics).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let h = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn summary(mut v: Vec<f64>) -> Quantiles {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    Quantiles {
        p10: quantile(&v, 0.1),
        p50: quantile(&v, 0.5),
        p90: quantile(&v, 0.9),
        mean,
    }
}

/// How much a whole quarter swings beyond its deals' own chances: the
/// standard deviations of log-normal factors (mean 1) that scale, in each
/// draw, every open deal's won amount (`open`) and the number of new wins
/// (`new`) together — a good or bad quarter for everyone at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    /// On the open deals.
    pub open: f64,
    /// On the new business.
    pub new: f64,
}

/// Simulate `draws` quarters of independent deals. `closed[g]` is what
/// group `g` has already won. Returns each group's quantiles, then the
/// total's (index `groups`).
pub fn simulate(
    deals: &[SimDeal],
    closed: &[f64],
    new: &NewBusiness,
    groups: usize,
    draws: usize,
    seed: u64,
) -> Vec<Quantiles> {
    simulate_with(deals, closed, new, Spread::default(), groups, draws, seed)
}

/// [`simulate`] with quarter-wide swings.
pub fn simulate_with(
    deals: &[SimDeal],
    closed: &[f64],
    new: &NewBusiness,
    spread: Spread,
    groups: usize,
    draws: usize,
    seed: u64,
) -> Vec<Quantiles> {
    let blocks = draws.div_ceil(BLOCK).max(1);
    let has_new = new.expected > 0.0 && !new.amounts.is_empty();
    // the group of a new deal: cumulative shares
    let mut cumulative = Vec::with_capacity(new.shares.len());
    let mut acc = 0.0;
    for s in &new.shares {
        acc += s;
        cumulative.push(acc);
    }
    // per block: totals[group][draw in block]
    let per_block: Vec<Vec<Vec<f64>>> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let n = BLOCK.min(draws - b * BLOCK);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(b as u64 + 1);
            let mut factor = |sigma: f64| -> Vec<f64> {
                (0..n)
                    .map(|_| {
                        if sigma > 0.0 {
                            let z: f64 = rng.sample(StandardNormal);
                            (sigma * z - sigma * sigma / 2.0).exp()
                        } else {
                            1.0
                        }
                    })
                    .collect()
            };
            let (f_open, f_new) = (factor(spread.open), factor(spread.new));
            let mut totals = vec![vec![0.0; n]; groups + 1];
            for (g, c) in closed.iter().enumerate().take(groups) {
                totals[g].iter_mut().for_each(|x| *x = *c);
            }
            let all: f64 = closed.iter().take(groups).sum();
            totals[groups].iter_mut().for_each(|x| *x = all);
            for d in deals {
                let p = d.p.clamp(0.0, 1.0);
                if p <= 0.0 {
                    continue;
                }
                let Ok([own, total]) = totals.get_disjoint_mut([d.group, groups]) else {
                    continue; // a group out of range: no deal is built so
                };
                if p < SKIP_BELOW {
                    // the draws it is won in, by geometric gaps between them:
                    // about p·n random numbers instead of n
                    let ln_miss = (1.0 - p).ln();
                    let mut j = 0usize;
                    loop {
                        let u: f64 = rng.random();
                        let gap = ((1.0 - u).ln() / ln_miss).floor();
                        if gap.is_nan() || gap >= (n - j) as f64 {
                            break;
                        }
                        j += gap as usize;
                        own[j] += d.amount * f_open[j];
                        total[j] += d.amount * f_open[j];
                        j += 1;
                        if j >= n {
                            break;
                        }
                    }
                } else {
                    for ((a, b), f) in own.iter_mut().zip(total.iter_mut()).zip(&f_open) {
                        if rng.random::<f64>() < p {
                            *a += d.amount * f;
                            *b += d.amount * f;
                        }
                    }
                }
            }
            if has_new {
                #[allow(clippy::needless_range_loop)] // draw j of two rows, one chosen per deal
                for j in 0..n {
                    let Ok(pois) = Poisson::new(new.expected * f_new[j]) else {
                        continue;
                    };
                    let k = pois.sample(&mut rng) as usize;
                    for _ in 0..k {
                        let a = new.amounts[rng.random_range(0..new.amounts.len())];
                        totals[groups][j] += a;
                        let u: f64 = rng.random();
                        if let Some(g) = cumulative.iter().position(|&c| u < c)
                            && g < groups
                        {
                            totals[g][j] += a;
                        }
                    }
                }
            }
            totals
        })
        .collect();
    (0..=groups)
        .map(|g| {
            let v: Vec<f64> = per_block
                .iter()
                .flat_map(|b| b[g].iter().copied())
                .collect();
            summary(v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_known_distributions() {
        // one deal of 100 at p = 0.5: half the draws 100, half 0 → P10 0, P90 100
        let deals = [SimDeal {
            amount: 100.0,
            p: 0.5,
            group: 0,
        }];
        let q = simulate(&deals, &[10.0], &NewBusiness::default(), 1, 4000, 7);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].p10, 10.0);
        assert_eq!(q[0].p90, 110.0);
        assert!((q[0].mean - 60.0).abs() < 2.5, "{q:?}");
        assert_eq!(q[0], q[1]);
        // 400 deals of 1 at p = 0.25: Binomial(400, 0.25), mean 100, sd √75 ≈ 8.66,
        // P10 ≈ 100 − 1.2816 × 8.66 ≈ 88.9
        let deals: Vec<SimDeal> = (0..400)
            .map(|i| SimDeal {
                amount: 1.0,
                p: 0.25,
                group: i % 2,
            })
            .collect();
        let q = simulate(&deals, &[0.0, 0.0], &NewBusiness::default(), 2, 4000, 1);
        assert!((q[2].mean - 100.0).abs() < 0.5, "{:?}", q[2]);
        assert!((q[2].p10 - 88.9).abs() < 1.5, "{:?}", q[2]);
        assert!((q[2].p90 - 111.1).abs() < 1.5, "{:?}", q[2]);
        // each half: Binomial(200, 0.25), mean 50; the halves' P10s add to less than the total's
        assert!((q[0].mean - 50.0).abs() < 0.5);
        assert!(q[0].p10 + q[1].p10 < q[2].p10);
        // the same seed gives the same bytes; another seed differs
        let again = simulate(&deals, &[0.0, 0.0], &NewBusiness::default(), 2, 4000, 1);
        assert_eq!(q, again);
        let other = simulate(&deals, &[0.0, 0.0], &NewBusiness::default(), 2, 4000, 2);
        assert_ne!(q, other);
    }

    #[test]
    fn rare_wins_drawn_by_their_gaps_are_binomial() {
        // 2,000 deals of 1 at p = 0.05 (drawn by gaps): mean 100, sd √95 ≈ 9.75
        let deals: Vec<SimDeal> = (0..2000)
            .map(|_| SimDeal {
                amount: 1.0,
                p: 0.05,
                group: 0,
            })
            .collect();
        let q = simulate(&deals, &[0.0], &NewBusiness::default(), 1, 4000, 9);
        assert!((q[1].mean - 100.0).abs() < 0.6, "{:?}", q[1]);
        let spread = (q[1].p90 - q[1].p10) / (2.0 * 1.2816);
        assert!((spread - 95f64.sqrt()).abs() < 0.8, "{spread} {:?}", q[1]);
    }

    #[test]
    fn new_business_is_a_compound_poisson() {
        // λ = 20 deals of 5 each: mean 100, variance 20 × 25 = 500
        let new = NewBusiness {
            expected: 20.0,
            amounts: vec![5.0],
            shares: vec![1.0],
        };
        let q = simulate(&[], &[0.0], &new, 1, 8000, 3);
        assert!((q[1].mean - 100.0).abs() < 1.0, "{:?}", q[1]);
        assert!(
            (q[1].p90 - q[1].p10 - 2.0 * 1.2816 * 500f64.sqrt()).abs() < 6.0,
            "{:?}",
            q[1]
        );
        assert_eq!(q[0], q[1]);
    }

    #[test]
    fn a_quarter_wide_swing_widens_the_interval_not_the_mean() {
        // 4,000 deals of 1 at p = 0.5: alone, P10–P90 is ±1.28 × √1000 ≈ ±40.5;
        // with a 10% log-normal swing on their 2,000 it is about ±1.28 × √(1000 + 200²) ≈ ±259
        let deals: Vec<SimDeal> = (0..4000)
            .map(|_| SimDeal {
                amount: 1.0,
                p: 0.5,
                group: 0,
            })
            .collect();
        let calm = simulate(&deals, &[0.0], &NewBusiness::default(), 1, 4000, 5);
        let wide = simulate_with(
            &deals,
            &[0.0],
            &NewBusiness::default(),
            Spread {
                open: 0.1,
                new: 0.0,
            },
            1,
            4000,
            5,
        );
        assert!((calm[1].mean - 2000.0).abs() < 2.0);
        assert!((wide[1].mean - 2000.0).abs() < 8.0, "{:?}", wide[1]);
        let half = |q: &Quantiles| (q.p90 - q.p10) / 2.0;
        assert!((half(&calm[1]) - 40.5).abs() < 3.0, "{:?}", calm[1]);
        assert!(
            half(&wide[1]) > 180.0 && half(&wide[1]) < 330.0,
            "{:?}",
            wide[1]
        );
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.1), 1.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
