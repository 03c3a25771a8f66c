//! Rates learned from past quarters at the same week: what share of the
//! pipeline open at that week of a quarter was won in it, per stage, per
//! forecast category, per cell; how much new pipeline was created and won
//! after that week; how amounts moved between the cut and the win.
//!
//! Sums over quarters, not averages of ratios: a quarter with more pipeline
//! weighs more, and a rate is never the mean of small noisy ones.

use crate::scan::{CellKey, Dated, Tally, WeekTally, category_index};
use pipewise_model::ForecastCategory;

/// A rate and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rate {
    /// Won amount (or count) in the numerator.
    pub won: f64,
    /// Open amount (or count) in the denominator.
    pub of: f64,
}

impl Rate {
    /// The ratio (0 when nothing rests under it).
    pub fn value(&self) -> f64 {
        if self.of > 0.0 {
            self.won / self.of
        } else {
            0.0
        }
    }
}

/// The same week of past quarters, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History<'a> {
    /// Each past quarter's tally at the week.
    pub weeks: Vec<&'a WeekTally>,
}

impl<'a> History<'a> {
    /// The amount-weighted share won in the quarter of the cells `keep`
    /// accepts.
    pub fn amount_rate(&self, keep: impl Fn(&CellKey) -> bool + Copy) -> Rate {
        let t = self.sum(keep);
        Rate {
            won: t.won_amount,
            of: t.amount,
        }
    }

    /// The sum of the cells `keep` accepts over every week.
    pub fn sum(&self, keep: impl Fn(&CellKey) -> bool + Copy) -> Tally {
        let mut out = Tally::default();
        for w in &self.weeks {
            out.add(&w.sum(keep));
        }
        out
    }

    /// The share of forecast category `c`'s pipeline dated in the quarter
    /// that was won in it (seed 004's r_commit, r_best_case, r_pipeline).
    pub fn category_rate(&self, c: ForecastCategory) -> Rate {
        let ci = category_index(c);
        self.amount_rate(|k| k.category == ci && k.dated == Dated::InPeriod)
    }

    /// Per quarter means of the new business: (created after the cut by the
    /// quarter's end, won of it in the quarter, how many won).
    pub fn new_business(&self) -> (f64, f64, f64) {
        let n = self.weeks.len().max(1) as f64;
        let created: f64 = self.weeks.iter().map(|w| w.new_created).sum();
        let won: f64 = self.weeks.iter().map(|w| w.new_won).sum();
        let won_n: f64 = self.weeks.iter().map(|w| w.new_won_n).sum();
        (created / n, won / n, won_n / n)
    }

    /// seed 004's r_new: the share of the pipeline created after the cut
    /// that was won in the quarter.
    pub fn new_rate(&self) -> Rate {
        Rate {
            won: self.weeks.iter().map(|w| w.new_won).sum(),
            of: self.weeks.iter().map(|w| w.new_created).sum(),
        }
    }

    /// How won deals' amounts moved from the cut to the win: Σ won amount /
    /// Σ their amounts at the cut (1 without history).
    pub fn amount_growth(&self) -> f64 {
        let t = self.sum(|_| true);
        if t.won_amount_at_cut > 0.0 {
            t.won_amount / t.won_amount_at_cut
        } else {
            1.0
        }
    }

    /// Mean deals open at the week.
    pub fn mean_open(&self) -> f64 {
        if self.weeks.is_empty() {
            return 0.0;
        }
        self.weeks.iter().map(|w| w.sum(|_| true).n).sum::<f64>() / self.weeks.len() as f64
    }

    /// How much bigger the company is now than in these quarters: deals
    /// open now over the mean open at the same week then, held to
    /// [0.5, 2] (1 without history). New business scales with it.
    pub fn scale(&self, open_now: f64) -> f64 {
        let m = self.mean_open();
        if m > 0.0 {
            (open_now / m).clamp(0.5, 2.0)
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Tally;

    fn key(category: ForecastCategory, dated: Dated) -> CellKey {
        CellKey {
            stage: 1,
            category: category_index(category),
            dated,
            segment: u32::MAX,
            bucket: 0,
        }
    }

    #[test]
    fn rates_are_sums_over_quarters_not_means_of_ratios() {
        let t = |amount: f64, won: f64| Tally {
            n: 1.0,
            amount,
            won_n: 1.0,
            won_amount: won,
            won_amount_at_cut: won,
            lost_n: 0.0,
        };
        let a = WeekTally {
            cells: vec![(
                key(ForecastCategory::Commit, Dated::InPeriod),
                t(100.0, 90.0),
            )],
            new_created: 50.0,
            new_won: 10.0,
            ..WeekTally::default()
        };
        let b = WeekTally {
            cells: vec![
                (
                    key(ForecastCategory::Commit, Dated::InPeriod),
                    t(900.0, 0.0),
                ),
                (key(ForecastCategory::Commit, Dated::Later), t(500.0, 500.0)),
            ],
            new_created: 150.0,
            new_won: 50.0,
            ..WeekTally::default()
        };
        let h = History {
            weeks: vec![&a, &b],
        };
        // (90 + 0) / (100 + 900), not the mean of 90% and 0%
        let r = h.category_rate(ForecastCategory::Commit);
        assert_eq!((r.won, r.of), (90.0, 1000.0));
        assert!((r.value() - 0.09).abs() < 1e-12);
        assert_eq!(h.category_rate(ForecastCategory::BestCase).value(), 0.0);
        assert!((h.new_rate().value() - 60.0 / 200.0).abs() < 1e-12);
        assert_eq!(h.new_business(), (100.0, 30.0, 0.0));
        assert_eq!(h.mean_open(), 1.5);
        assert_eq!(h.scale(3.0), 2.0);
        assert_eq!(h.scale(6.0), 2.0);
        assert_eq!(h.scale(1.5), 1.0);
    }
}
