//! Experiment design and analysis (issue #12 §7): how many rows a test
//! needs, and what a finished test says.
//!
//! - Two proportions (a routing test: scored leads against random routing):
//!   [`sample_size_two_proportions`] and [`power_two_proportions`] use the
//!   normal approximation with the pooled variance under the null and the
//!   unpooled one under the alternative (Fleiss, no continuity correction),
//!   two-sided; [`two_proportion_z_test`] is the pooled z-test with a Wald
//!   interval for the difference.
//! - Two means (a coaching pilot, 10 reps against 10): [`welch_t_test`] (no
//!   equal-variance assumption) with its Welch–Satterthwaite degrees of
//!   freedom, and [`detectable_effect_size`], the smallest standardised
//!   difference a design detects (normal approximation).
//! - Before / after against a control: [`difference_in_differences`].
//!
//! Seed-requirements §4.10 works seed 001's "1,000 vs 1,000 at 20% lift"
//! through the first two; the tests use its table.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

fn standard_normal() -> Normal {
    // (mean 0, sd 1 is always a valid normal)
    Normal::standard()
}

/// The z value with `p` of the standard normal below it.
fn z(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

/// Rows per arm for a two-sided test of rate `p0` against `p1` at
/// significance `alpha` and power `power` (fractional: round up to plan).
/// `None` when the rates are equal or not in (0, 1).
pub fn sample_size_two_proportions(p0: f64, p1: f64, alpha: f64, power: f64) -> Option<f64> {
    if !(0.0 < p0 && p0 < 1.0 && 0.0 < p1 && p1 < 1.0) || p0 == p1 {
        return None;
    }
    let (za, zb) = (z(1.0 - alpha / 2.0), z(power));
    let pbar = (p0 + p1) / 2.0;
    let num =
        za * (2.0 * pbar * (1.0 - pbar)).sqrt() + zb * (p0 * (1.0 - p0) + p1 * (1.0 - p1)).sqrt();
    Some((num / (p1 - p0)).powi(2))
}

/// The power of a two-sided test of `p0` against `p1` with `n` rows per arm.
pub fn power_two_proportions(p0: f64, p1: f64, n: f64, alpha: f64) -> f64 {
    let za = z(1.0 - alpha / 2.0);
    let pbar = (p0 + p1) / 2.0;
    let null_sd = (2.0 * pbar * (1.0 - pbar)).sqrt();
    let alt_sd = (p0 * (1.0 - p0) + p1 * (1.0 - p1)).sqrt();
    standard_normal().cdf(((p1 - p0).abs() * n.sqrt() - za * null_sd) / alt_sd)
}

/// The smallest baseline rate at which `n` rows per arm detect a relative
/// lift `lift` (p1 = p0 · (1 + lift)) with this power: seed 001's "1,000 vs
/// 1,000 at 20% lift" holds only above it. `None` when no rate below
/// 1 / (1 + lift) gets there.
pub fn baseline_for_power(n: f64, lift: f64, alpha: f64, power: f64) -> Option<f64> {
    let top = (1.0 / (1.0 + lift)).min(1.0) - 1e-9;
    let at = |p0: f64| power_two_proportions(p0, p0 * (1.0 + lift), n, alpha);
    if at(top) < power {
        return None;
    }
    // power rises with p0 here: bisect
    let (mut lo, mut hi) = (1e-9, top);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if at(mid) < power { lo = mid } else { hi = mid }
    }
    Some(hi)
}

/// A finished test of two proportions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProportionTest {
    /// The first arm's rate minus the second's.
    pub difference: f64,
    /// The pooled z statistic.
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// The 95% (or `1 − alpha`) Wald interval of the difference.
    pub interval: (f64, f64),
}

/// Pooled two-proportion z-test of `x1` of `n1` against `x2` of `n2`.
/// `None` when an arm is empty or every row has the same outcome.
pub fn two_proportion_z_test(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    alpha: f64,
) -> Option<ProportionTest> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (r1, r2) = (x1 as f64 / n1f, x2 as f64 / n2f);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se0 == 0.0 {
        return None;
    }
    let zstat = (r1 - r2) / se0;
    let se = (r1 * (1.0 - r1) / n1f + r2 * (1.0 - r2) / n2f).sqrt();
    let half = z(1.0 - alpha / 2.0) * se;
    Some(ProportionTest {
        difference: r1 - r2,
        z: zstat,
        p_value: 2.0 * standard_normal().cdf(-zstat.abs()),
        interval: (r1 - r2 - half, r1 - r2 + half),
    })
}

/// A finished test of two means.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanTest {
    /// The first group's mean minus the second's.
    pub difference: f64,
    /// Welch's t statistic.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The `1 − alpha` interval of the difference.
    pub interval: (f64, f64),
    /// Cohen's d: the difference over the pooled standard deviation.
    pub cohens_d: f64,
}

/// Welch's two-sample t-test. `None` with fewer than two values in a group
/// or no variance at all.
pub fn welch_t_test(a: &[f64], b: &[f64], alpha: f64) -> Option<MeanTest> {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (sa, sb) = (va / na, vb / nb);
    let se = (sa + sb).sqrt();
    if se == 0.0 {
        return None;
    }
    let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    let t = (ma - mb) / se;
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let half = dist.inverse_cdf(1.0 - alpha / 2.0) * se;
    let pooled_sd = (((na - 1.0) * va + (nb - 1.0) * vb) / (na + nb - 2.0)).sqrt();
    Some(MeanTest {
        difference: ma - mb,
        t,
        df,
        p_value: 2.0 * dist.cdf(-t.abs()),
        interval: (ma - mb - half, ma - mb + half),
        cohens_d: (ma - mb) / pooled_sd,
    })
}

/// The smallest standardised difference (Cohen's d) two groups of `n` each
/// detect at this significance and power (normal approximation): 10 reps
/// against 10 detect only d ≈ 1.25.
pub fn detectable_effect_size(n: f64, alpha: f64, power: f64) -> f64 {
    (z(1.0 - alpha / 2.0) + z(power)) * (2.0 / n).sqrt()
}

/// A difference in differences: the treated group's change minus the
/// control's, from four means (before and after, treated and control).
pub fn difference_in_differences(
    treated_before: f64,
    treated_after: f64,
    control_before: f64,
    control_after: f64,
) -> f64 {
    (treated_after - treated_before) - (control_after - control_before)
}

/// Mean and sample variance (n − 1).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v)
}
