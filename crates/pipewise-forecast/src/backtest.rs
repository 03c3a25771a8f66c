//! Walk-forward backtests (issue #13 §3): at each week of each past
//! quarter, the pipeline rebuilt from the ledger as it was recorded by then,
//! every method run with only the quarters that had ended (and been
//! recorded) by then, the number compared with what the quarter booked as
//! recorded today.

use crate::calendar::Quarter;
use crate::forecast::{self, Context, Options};
use crate::groups::{By, Org};
use crate::methods::{DealP, Method};
use crate::scan::{Dated, Ledger, QuarterTally};
use pipewise_ledger::Cut;
use pipewise_model::Timestamp;
use pipewise_score::validate::{ReliabilityBin, brier, log_loss, reliability};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What to backtest.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// The weeks of each quarter.
    pub weeks: Vec<u32>,
    /// The methods.
    pub methods: Vec<Method>,
    /// Monte Carlo draws per forecast.
    pub draws: usize,
    /// The simulation's seed.
    pub seed: u64,
    /// Past quarters the rates learn from.
    pub lookback: usize,
}

/// One forecast against its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The quarter.
    pub quarter: String,
    /// The week of it.
    pub week: u32,
    /// The method.
    pub method: Method,
    /// Its number (`None`: it could not be computed then).
    pub forecast: Option<f64>,
    /// Its 10th percentile, where it has one.
    pub p10: Option<f64>,
    /// Its 90th percentile.
    pub p90: Option<f64>,
    /// What the quarter booked (as recorded today).
    pub actual: f64,
}

/// How a method did, at one week or over all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// The method.
    pub method: Method,
    /// The week (`None`: every week).
    pub week: Option<u32>,
    /// Forecasts scored.
    pub n: usize,
    /// Σ |forecast − actual| / Σ actual.
    pub wape: Option<f64>,
    /// Mean of |forecast − actual| / actual.
    pub mape: Option<f64>,
    /// Σ (forecast − actual) / Σ actual: above 0 is happy ears.
    pub bias: Option<f64>,
    /// Share of actuals inside [P10, P90].
    pub coverage: Option<f64>,
    /// Mean pinball loss over the 10th, 50th and 90th percentiles, over
    /// the mean actual.
    pub pinball: Option<f64>,
}

/// Deal-level calibration of a probability of winning in the quarter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DealLevel {
    /// Whose probabilities.
    pub model: String,
    /// The week (`None`: every week).
    pub week: Option<u32>,
    /// Deal-cuts scored.
    pub deals: usize,
    /// Brier score.
    pub brier: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Predicted against observed, in ten bins.
    pub reliability: Vec<ReliabilityBin>,
}

/// A backtest.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    /// The quarters forecast.
    pub quarters: Vec<String>,
    /// The weeks.
    pub weeks: Vec<u32>,
    /// Every forecast and its outcome.
    pub points: Vec<Point>,
    /// Per method and week, then per method over all weeks.
    pub scores: Vec<Score>,
    /// The methods over all weeks, best WAPE first.
    pub leaderboard: Vec<Score>,
    /// The method with the lowest WAPE at each week.
    pub winners: BTreeMap<u32, Method>,
    /// Deal-level: the probabilistic method's probabilities against the
    /// stage-probability baseline.
    pub deal_level: Vec<DealLevel>,
    /// How it was run.
    pub notes: Vec<String>,
}

fn score(method: Method, week: Option<u32>, points: &[&Point]) -> Score {
    let scored: Vec<(&Point, f64)> = points
        .iter()
        .filter_map(|p| p.forecast.map(|f| (*p, f)))
        .collect();
    let actual: f64 = scored.iter().map(|(p, _)| p.actual).sum();
    let n = scored.len();
    let ratio = |x: f64| (actual > 0.0 && n > 0).then(|| x / actual);
    let wape = ratio(scored.iter().map(|(p, f)| (f - p.actual).abs()).sum());
    let bias = ratio(scored.iter().map(|(p, f)| f - p.actual).sum());
    let with_actual: Vec<f64> = scored
        .iter()
        .filter(|(p, _)| p.actual > 0.0)
        .map(|(p, f)| (f - p.actual).abs() / p.actual)
        .collect();
    let mape = (!with_actual.is_empty())
        .then(|| with_actual.iter().sum::<f64>() / with_actual.len() as f64);
    let ranged: Vec<(&Point, f64, f64, f64)> = scored
        .iter()
        .filter_map(|(p, f)| Some((*p, p.p10?, *f, p.p90?)))
        .collect();
    let coverage = (!ranged.is_empty()).then(|| {
        ranged
            .iter()
            .filter(|(p, lo, _, hi)| *lo <= p.actual && p.actual <= *hi)
            .count() as f64
            / ranged.len() as f64
    });
    let pinball = (!ranged.is_empty() && actual > 0.0).then(|| {
        let loss = |q: f64, a: f64, x: f64| {
            if a >= x {
                q * (a - x)
            } else {
                (1.0 - q) * (x - a)
            }
        };
        let mean_actual = actual / n as f64;
        ranged
            .iter()
            .map(|(p, lo, mid, hi)| {
                (loss(0.1, p.actual, *lo) + loss(0.5, p.actual, *mid) + loss(0.9, p.actual, *hi))
                    / 3.0
            })
            .sum::<f64>()
            / ranged.len() as f64
            / mean_actual
    });
    Score {
        method,
        week,
        n,
        wape,
        mape,
        bias,
        coverage,
        pinball,
    }
}

/// A trained deal model's probabilities for the deals open at a cut of a
/// quarter, for a backtest: it must have learned only from what was recorded
/// by the cut (`None`: none for that cut; the pooled cells stand).
pub type Learned<'a> = &'a dyn Fn(&Quarter, Timestamp) -> Option<HashMap<u32, DealP>>;

/// The quarters a backtest tallies and which of them it forecasts: every
/// quarter from the ledger's first deal (`first_created`) to the one holding
/// `latest` (that one only when it has ended), and of those the last
/// `periods` that have two or more quarters before them.
pub fn quarters(
    latest: Timestamp,
    first_created: Timestamp,
    fiscal_start_month: u32,
    calendar: &pipewise_model::FiscalCalendar,
    periods: usize,
) -> (Vec<Quarter>, Vec<usize>) {
    let current = crate::calendar::quarter_at(latest, fiscal_start_month, calendar);
    let mut quarters = crate::forecast::past_quarters(
        &current,
        latest,
        first_created,
        fiscal_start_month,
        calendar,
    );
    if current.end() <= latest {
        quarters.push(current);
    }
    // a quarter is forecast only with two or more quarters before it
    let first_target = quarters.len().saturating_sub(periods).max(2);
    let targets: Vec<usize> = (first_target..quarters.len()).collect();
    (quarters, targets)
}

/// Backtest the `targets` quarters (oldest first) with `all` the quarters
/// the ledger has before them tallied in `tallies` (same order as `all`);
/// the per-deal probabilities from `learned` where it gives them.
pub fn run(
    ledger: &Ledger,
    org: &Org,
    all: &[QuarterTally],
    targets: &[usize],
    o: &BacktestOptions,
    learned: Option<Learned>,
) -> Backtest {
    run_with_progress(ledger, org, all, targets, o, learned, &|_, _| {})
}

/// [`run`], calling `progress(done, total)` after each (quarter, week) cut.
pub fn run_with_progress(
    ledger: &Ledger,
    org: &Org,
    all: &[QuarterTally],
    targets: &[usize],
    o: &BacktestOptions,
    learned: Option<Learned>,
    progress: &dyn Fn(usize, usize),
) -> Backtest {
    let total: usize = targets
        .iter()
        .map(|&t| {
            o.weeks
                .iter()
                .filter(|&&w| w <= all[t].quarter.weeks())
                .count()
        })
        .sum();
    let mut done = 0;
    let mut points = Vec::new();
    // week, p, stage p, won, pooled p (where a trained model's p replaced it)
    let mut deal_rows: Vec<(u32, f64, f64, bool, Option<f64>)> = Vec::new();
    for &t in targets {
        let q: &Quarter = &all[t].quarter;
        let actual = all[t].booked_now;
        for &w in &o.weeks {
            if w > q.weeks() {
                continue;
            }
            let cut = q.week_cut(w);
            let past = &all[..t];
            let cx = Context {
                ledger,
                org,
                quarter: q,
                cut,
                past,
            };
            let fo = Options {
                methods: o.methods.clone(),
                by: By::Company,
                scope: None,
                known: true,
                draws: o.draws,
                seed: o.seed,
                explain: false,
                lookback: o.lookback,
                learned: learned.and_then(|l| l(q, cut)),
            };
            let prepared = forecast::prepare(&cx, &fo);
            let rows = forecast::forecast(&cx, &fo, &prepared);
            for f in &rows[0].forecasts {
                points.push(Point {
                    quarter: q.label.clone(),
                    week: w,
                    method: f.method,
                    forecast: f.value,
                    p10: f.p10,
                    p90: f.p90,
                    actual,
                });
            }
            // deal level: each open deal's P(won in the quarter) against
            // whether it was (as recorded today)
            let now = Cut::at(q.end());
            for (i, (d, p)) in prepared.snapshot.open.iter().zip(&prepared.p).enumerate() {
                let won = ledger.won_in(d.key, now, q).is_some();
                let (cw, cc) = prepared
                    .conversions
                    .by_stage
                    .get(d.stage)
                    .copied()
                    .unwrap_or_default();
                let stage_p = if d.dated == Dated::InPeriod && cc > 0.0 {
                    cw / cc
                } else {
                    0.0
                };
                let pooled = prepared.pooled.as_ref().map(|v| v[i].won);
                deal_rows.push((w, p.won, stage_p, won, pooled));
            }
            tracing::debug!(quarter = %q.label, week = w, "backtest cut done");
            done += 1;
            progress(done, total);
        }
    }
    let mut scores = Vec::new();
    for &m in &o.methods {
        for &w in &o.weeks {
            let pts: Vec<&Point> = points
                .iter()
                .filter(|p| p.method == m && p.week == w)
                .collect();
            if !pts.is_empty() {
                scores.push(score(m, Some(w), &pts));
            }
        }
    }
    let mut leaderboard: Vec<Score> = o
        .methods
        .iter()
        .map(|&m| {
            let pts: Vec<&Point> = points.iter().filter(|p| p.method == m).collect();
            score(m, None, &pts)
        })
        .collect();
    leaderboard.sort_by(|a, b| {
        a.wape
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.wape.unwrap_or(f64::INFINITY))
            .then(a.method.cmp(&b.method))
    });
    let mut winners = BTreeMap::new();
    for &w in &o.weeks {
        if let Some(best) = scores
            .iter()
            .filter(|s| s.week == Some(w) && s.wape.is_some())
            .min_by(|a, b| {
                a.wape
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.wape.unwrap_or(f64::INFINITY))
                    .then(a.method.cmp(&b.method))
            })
        {
            winners.insert(w, best.method);
        }
    }
    let mut deal_level = Vec::new();
    for week in std::iter::once(None).chain(o.weeks.iter().map(|&w| Some(w))) {
        let rows: Vec<&(u32, f64, f64, bool, Option<f64>)> = deal_rows
            .iter()
            .filter(|r| week.is_none_or(|w| r.0 == w))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let y: Vec<bool> = rows.iter().map(|r| r.3).collect();
        let mut models = vec![
            (
                "probabilistic",
                rows.iter().map(|r| r.1).collect::<Vec<f64>>(),
            ),
            ("stage_probability", rows.iter().map(|r| r.2).collect()),
        ];
        if rows.iter().any(|r| r.4.is_some()) {
            models.insert(
                1,
                (
                    "pooled_cells",
                    rows.iter().map(|r| r.4.unwrap_or(r.1)).collect(),
                ),
            );
        }
        for (model, p) in models {
            deal_level.push(DealLevel {
                model: model.into(),
                week,
                deals: rows.len(),
                brier: brier(&p, &y),
                log_loss: log_loss(&p, &y),
                reliability: reliability(&p, &y, 10),
            });
        }
    }
    Backtest {
        quarters: targets.iter().map(|&t| all[t].quarter.label.clone()).collect(),
        weeks: o.weeks.clone(),
        points,
        scores,
        leaderboard,
        winners,
        deal_level,
        notes: vec![
            "Each cut reads the ledger as recorded by then; rates learn from the quarters that had ended by then, their outcomes as recorded by their ends; forecasts are scored against the quarter's bookings as recorded today.".into(),
            format!(
                "Rates from the last {} quarters before each one; {} Monte Carlo draws, seed {}.",
                o.lookback, o.draws, o.seed
            ),
            "The stage-probability baseline gives a deal dated in the quarter its stage's historical stage → won conversion (stage_weighted's), and others 0.".into(),
            if learned.is_some() {
                "Per-deal probabilities from the score crate's deal model, retrained for each quarter on what was recorded by its first day (the pooled cells for deals it did not score: pooled_cells at deal level).".into()
            } else {
                "Per-deal probabilities from the pooled cells of past quarters at the same week.".into()
            },
        ],
    }
}

/// The method a saved backtest report (`reports/backtest.json`'s text)
/// ranks best at `week`, and why.
pub fn saved_recommendation(text: &str, week: u32) -> Option<(Method, String)> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(text).ok()?;
    let m = Method::parse(v["winners"][week.to_string()].as_str()?)?;
    let wape = v["scores"]
        .as_array()?
        .iter()
        .find(|s| s["method"] == m.as_str() && s["week"] == week)
        .and_then(|s| s["wape"].as_f64());
    let quarters = v["quarters"]
        .as_array()
        .map(|q| {
            q.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Some((
        m,
        format!(
            "lowest WAPE at week {week} in the saved backtest (reports/backtest.json, quarters {quarters}){}",
            wape.map_or(String::new(), |w| format!(": {:.1}%", 100.0 * w))
        ),
    ))
}

/// Rank the methods by a backtest at `week` of up to the last four past
/// quarters (those with two or more quarters before them).
pub fn recommend(
    ledger: &Ledger,
    org: &Org,
    past: &[QuarterTally],
    week: u32,
    methods: &[Method],
) -> Option<(Method, String)> {
    let targets: Vec<usize> = (2..past.len()).rev().take(4).rev().collect();
    if targets.is_empty() {
        return None;
    }
    let bt = run(
        ledger,
        org,
        past,
        &targets,
        &BacktestOptions {
            weeks: vec![week],
            methods: methods.to_vec(),
            draws: 500,
            seed: 42,
            lookback: 4,
        },
        None,
    );
    let m = *bt.winners.get(&week)?;
    let wape = bt
        .scores
        .iter()
        .find(|s| s.method == m && s.week == Some(week))
        .and_then(|s| s.wape);
    Some((
        m,
        format!(
            "lowest WAPE at week {week} of {} ({}) in a backtest run now; `pipewise backtest` saves a full one{}",
            if bt.quarters.len() == 1 {
                "the last quarter"
            } else {
                "the last quarters"
            },
            bt.quarters.join(", "),
            wape.map_or(String::new(), |w| format!(": {:.1}%", 100.0 * w))
        ),
    ))
}

/// The backtest as Markdown (`reports/backtest.md`): the leaderboard, WAPE by
/// week with each week's best, and the deal level.
pub fn markdown(bt: &Backtest) -> String {
    use std::fmt::Write;
    let p = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let mut s = String::new();
    let _ = writeln!(s, "# Forecast backtest\n");
    let _ = writeln!(
        s,
        "Quarters {}; weeks {}.\n",
        bt.quarters.join(", "),
        bt.weeks
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &bt.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(
        s,
        "\n## Leaderboard (every week)\n\n| method | forecasts | WAPE | MAPE | bias | P10–P90 coverage | pinball |\n|---|---|---|---|---|---|---|"
    );
    for x in &bt.leaderboard {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.method.as_str(),
            x.n,
            p(x.wape),
            p(x.mape),
            p(x.bias),
            p(x.coverage),
            p(x.pinball)
        );
    }
    let _ = writeln!(s, "\n## WAPE by week of the quarter\n");
    let _ = write!(s, "| method |");
    for w in &bt.weeks {
        let _ = write!(s, " {w} |");
    }
    let _ = write!(s, "\n|---|");
    for _ in &bt.weeks {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s);
    for x in &bt.leaderboard {
        let _ = write!(s, "| {} |", x.method.as_str());
        for w in &bt.weeks {
            let v = bt
                .scores
                .iter()
                .find(|y| y.method == x.method && y.week == Some(*w))
                .and_then(|y| y.wape);
            let star = if bt.winners.get(w) == Some(&x.method) {
                " **best**"
            } else {
                ""
            };
            let _ = write!(s, " {}{star} |", p(v));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\n## Deal level (P(won in the quarter) of every open deal at every cut)\n\n| model | week | deal-cuts | Brier | log loss |\n|---|---|---|---|---|"
    );
    for d in &bt.deal_level {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {:.4} |",
            d.model,
            d.week.map_or("all".into(), |w| w.to_string()),
            d.deals,
            d.brier,
            d.log_loss
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(f: f64, lo: f64, hi: f64, a: f64) -> Point {
        Point {
            quarter: "q".into(),
            week: 1,
            method: Method::Probabilistic,
            forecast: Some(f),
            p10: Some(lo),
            p90: Some(hi),
            actual: a,
        }
    }

    #[test]
    fn scores_by_hand() {
        // forecasts 110 and 80 for actuals 100 and 100
        let a = point(110.0, 100.0, 120.0, 100.0);
        let b = point(80.0, 70.0, 90.0, 100.0);
        let s = score(Method::Probabilistic, Some(1), &[&a, &b]);
        assert_eq!(s.n, 2);
        assert!((s.wape.unwrap() - 30.0 / 200.0).abs() < 1e-12);
        assert!((s.mape.unwrap() - 0.15).abs() < 1e-12);
        assert!((s.bias.unwrap() - (-10.0 / 200.0)).abs() < 1e-12);
        assert_eq!(s.coverage, Some(0.5));
        // pinball: a: q10 0·… (100 ≥ 100: 0.1·0 = 0), q50 (100 < 110: 0.5·10 = 5),
        // q90 (100 < 120: 0.1·20 = 2) → 7/3; b: q10 (100 ≥ 70: 0.1·30 = 3),
        // q50 (0.5·20 = 10), q90 (0.9·10 = 9) → 22/3; mean 29/6, over 100
        assert!((s.pinball.unwrap() - 29.0 / 6.0 / 100.0).abs() < 1e-12);
    }
}
