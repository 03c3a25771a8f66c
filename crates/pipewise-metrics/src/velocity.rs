//! Sales velocity (seed 000) and the decomposition of its change.
//!
//! velocity = qualified opportunities × average won deal size × close rate
//! ÷ average sales cycle (days) — revenue per day. The seeds show the formula
//! only as an image (seed-requirements §2.1); this is HubSpot's conventional
//! form, which the seed credits.
//!
//! The change between two periods is split across the four factors with the
//! logarithmic mean Divisia index (LMDI): each factor contributes
//! L(V₁, V₀) · ln(x₁ / x₀) (the cycle with the opposite sign), and the
//! contributions add up to V₁ − V₀ exactly.

/// The four factors for one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// Qualified opportunities in the period.
    pub qualified_opportunities: f64,
    /// Average won deal size.
    pub average_won_deal_size: f64,
    /// Close rate.
    pub close_rate: f64,
    /// Average sales cycle, in days.
    pub average_sales_cycle_days: f64,
}

impl Factors {
    /// Revenue per day; `None` when the cycle is zero or a factor is missing.
    pub fn velocity(&self) -> Option<f64> {
        let v = self.qualified_opportunities * self.average_won_deal_size * self.close_rate
            / self.average_sales_cycle_days;
        v.is_finite().then_some(v)
    }
}

fn log_mean(a: f64, b: f64) -> f64 {
    if (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()) {
        a
    } else {
        (a - b) / (a.ln() - b.ln())
    }
}

/// Contribution of each factor to the change from `before` to `after`, in
/// velocity units, in the order: qualified opportunities, average won deal
/// size, close rate, sales cycle. `None` when a factor is zero or missing in
/// either period (a logarithm would be undefined).
pub fn decompose(before: &Factors, after: &Factors) -> Option<[(&'static str, f64); 4]> {
    let (v0, v1) = (before.velocity()?, after.velocity()?);
    let pairs = [
        (
            before.qualified_opportunities,
            after.qualified_opportunities,
            1.0,
        ),
        (
            before.average_won_deal_size,
            after.average_won_deal_size,
            1.0,
        ),
        (before.close_rate, after.close_rate, 1.0),
        (
            before.average_sales_cycle_days,
            after.average_sales_cycle_days,
            -1.0,
        ),
    ];
    if pairs.iter().any(|(a, b, _)| *a <= 0.0 || *b <= 0.0) {
        return None;
    }
    let w = log_mean(v1, v0);
    let c = |i: usize| pairs[i].2 * w * (pairs[i].1 / pairs[i].0).ln();
    Some([
        ("qualified_opportunities", c(0)),
        ("average_won_deal_size", c(1)),
        ("close_rate", c(2)),
        ("average_sales_cycle_days", c(3)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: f64, acv: f64, cr: f64, days: f64) -> Factors {
        Factors {
            qualified_opportunities: n,
            average_won_deal_size: acv,
            close_rate: cr,
            average_sales_cycle_days: days,
        }
    }

    #[test]
    fn velocity_by_hand() {
        // 10 qualified × $1,000 × 50% / 50 days = $100 a day
        assert_eq!(f(10.0, 1000.0, 0.5, 50.0).velocity(), Some(100.0));
        assert_eq!(f(10.0, 1000.0, 0.5, 0.0).velocity(), None);
    }

    #[test]
    fn one_factor_moving_gets_all_the_change() {
        let d = decompose(&f(10.0, 1000.0, 0.5, 50.0), &f(12.0, 1000.0, 0.5, 50.0)).unwrap();
        assert!((d[0].1 - 20.0).abs() < 1e-9, "{d:?}");
        assert!(d[1..].iter().all(|(_, c)| c.abs() < 1e-12));
        // a longer cycle lowers velocity: 100 → 80, all of it the cycle's
        let d = decompose(&f(10.0, 1000.0, 0.5, 50.0), &f(10.0, 1000.0, 0.5, 62.5)).unwrap();
        assert!((d[3].1 + 20.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn contributions_add_up_exactly() {
        let (a, b) = (f(40.0, 52_000.0, 0.31, 74.0), f(46.0, 47_500.0, 0.36, 81.0));
        let d = decompose(&a, &b).unwrap();
        let total: f64 = d.iter().map(|(_, c)| c).sum();
        let dv = b.velocity().unwrap() - a.velocity().unwrap();
        assert!(
            (total - dv).abs() < 1e-9 * dv.abs().max(1.0),
            "{total} vs {dv}"
        );
        // signs follow the factors: more deals, smaller deals, better close rate, longer cycle
        assert!(d[0].1 > 0.0 && d[1].1 < 0.0 && d[2].1 > 0.0 && d[3].1 < 0.0);
    }

    #[test]
    fn no_change_no_contribution() {
        let a = f(10.0, 1000.0, 0.5, 50.0);
        assert!(
            decompose(&a, &a)
                .unwrap()
                .iter()
                .all(|(_, c)| c.abs() < 1e-12)
        );
        assert!(decompose(&a, &f(0.0, 1000.0, 0.5, 50.0)).is_none());
    }
}
