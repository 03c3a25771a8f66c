//! The deal model (issue #12 §3): P(won in the period), P(lost), P(slipped)
//! for every open deal, from the pooled small-data model or, when the
//! validation says it is better, a richer learned one — two calibrated
//! binary estimators, P(closes in the period) and P(won | it closes), so
//! that P(won) = P(closes)·P(won | closes), P(lost) = P(closes)·(1 −
//! P(won | closes)) and P(slipped) = 1 − P(closes).
//!
//! Validation is by time: the latest whole periods (at least 30% of the
//! rows) are the test rows, every earlier period trains; a period is never
//! split, as the rows of one deal in one period share their outcome. The
//! model in use is then refitted on every labelled row. A deal-period
//! counts once in the pooled counts and in the measures (its rows weigh
//! 1 / its number of weekly rows).

use super::history::DealHistory;
use super::pooled::{Pooled, PooledRow, bucket_name};
use super::rows::{DealRows, Outcome, Period, scoring_rows, training_rows};
use crate::boosted::Attribution;
use crate::dataset::{Dataset, Values};
use crate::model::{Binary, ModelFileError, TrainError, TrainOptions, best_of, value_text};
use crate::validate::{ReliabilityBin, auc, reliability};
use pipewise_ledger::Cut;
use pipewise_model::Timestamp;
use pipewise_model::time::format_timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The format of a deal model file.
pub const FORMAT: u32 = 1;

/// The learned model: two binary estimators.
#[derive(Debug, Serialize, Deserialize)]
pub struct Rich {
    /// P(the deal closes, won or lost, in the period).
    pub closes: Binary,
    /// P(won | it closes in the period).
    pub wins: Binary,
}

impl Rich {
    /// Whether either estimator is a tree ensemble (whose factors depend on
    /// the attribution).
    pub fn is_boosted(&self) -> bool {
        [&self.closes, &self.wins]
            .iter()
            .any(|b| matches!(b.estimator, crate::model::Estimator::Boosted(_)))
    }

    fn fit(
        ds: &Dataset,
        outcomes: &[Outcome],
        rows: &[usize],
        o: &TrainOptions,
    ) -> Result<(Rich, String), TrainError> {
        let mut closes_ds = ds.clone();
        closes_ds.target = outcomes.iter().map(|&x| x != Outcome::Slipped).collect();
        let closed: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| outcomes[i] != Outcome::Slipped)
            .collect();
        let mut parts = Vec::new();
        let mut fit_one = |d: &Dataset, idx: &[usize], what: &str| -> Result<Binary, TrainError> {
            let mut fitted = Vec::new();
            for &k in o.candidates.kinds() {
                fitted.push(Binary::fit(d, idx, &[], k, o)?);
            }
            let best = best_of(&fitted.iter().map(|f| f.1).collect::<Vec<_>>());
            let (b, cv) = fitted.swap_remove(best);
            parts.push(format!(
                "{what}: {} (out-of-fold log loss {cv:.4})",
                b.estimator.name()
            ));
            Ok(b)
        };
        let closes = fit_one(&closes_ds, rows, "closes in the period")?;
        let wins = fit_one(ds, &closed, "won if it closes")?;
        Ok((Rich { closes, wins }, parts.join("; ")))
    }

    fn probabilities(&self, ds: &Dataset, idx: &[usize]) -> Vec<[f64; 3]> {
        let c = self.closes.probabilities(ds, idx);
        let w = self.wins.probabilities(ds, idx);
        c.iter()
            .zip(&w)
            .map(|(&c, &w)| [c * w, c * (1.0 - w), 1.0 - c])
            .collect()
    }
}

/// How well a model's probabilities did on the test periods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealValidation {
    /// The model.
    pub model: String,
    /// Mean log loss of the outcome's probability, per deal-period.
    pub log_loss: f64,
    /// Mean three-outcome Brier score, per deal-period.
    pub brier: f64,
    /// AUC of P(won) for won against not won.
    pub won_auc: Option<f64>,
    /// P(won) against the won rate, in ten bins.
    pub won_reliability: Vec<ReliabilityBin>,
}

impl DealValidation {
    fn of(model: &str, p: &[[f64; 3]], y: &[Outcome], w: &[f64]) -> DealValidation {
        let total: f64 = w.iter().sum();
        let ll = p
            .iter()
            .zip(y)
            .zip(w)
            .map(|((p, o), w)| -w * p[o.index()].clamp(1e-15, 1.0).ln())
            .sum::<f64>()
            / total;
        let brier = p
            .iter()
            .zip(y)
            .zip(w)
            .map(|((p, o), w)| {
                w * (0..3)
                    .map(|j| (p[j] - f64::from(u8::from(j == o.index()))).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / total;
        let won: Vec<bool> = y.iter().map(|&o| o == Outcome::Won).collect();
        let pw: Vec<f64> = p.iter().map(|p| p[0]).collect();
        DealValidation {
            model: model.into(),
            log_loss: ll,
            brier,
            won_auc: auc(&pw, &won),
            won_reliability: reliability(&pw, &won, 10),
        }
    }
}

/// A deal model's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealCard {
    /// The model in use: `pooled` or `learned`.
    pub in_use: String,
    /// Why.
    pub why: String,
    /// Trained on what was recorded by this time (`None`: everything).
    pub known: Option<String>,
    /// Labelled rows (deal × weekly cut).
    pub rows: usize,
    /// Deal-periods among them.
    pub deal_periods: f64,
    /// Deal-periods won, lost, slipped.
    pub outcomes: [f64; 3],
    /// The first and last cut.
    pub cuts: (String, String),
    /// How the rows were split.
    pub split: String,
    /// Training and test rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Each model on the test periods.
    pub validation: Vec<DealValidation>,
    /// What knowing only the training outcome shares scores on them.
    pub baseline: Option<DealValidation>,
    /// The learned model's parts, when it was fitted.
    pub learned: Option<String>,
    /// Fields the leakage audit keeps out, and why.
    pub flagged_features: Vec<crate::leakage::Flag>,
    /// Custom fields read as features.
    pub custom_features: Vec<String>,
    /// Flagged fields kept on request (`--allow-feature`).
    pub allowed: Vec<String>,
    /// What the reader must know.
    pub notes: Vec<String>,
}

/// A trained deal model.
#[derive(Debug, Serialize, Deserialize)]
pub struct DealModel {
    /// The file format ([`FORMAT`]).
    pub format: u32,
    /// Trained on what was recorded by this time (`None`: everything).
    pub known: Option<Timestamp>,
    /// The pooled model (always there: the fallback, and the intervals).
    pub pooled: Pooled,
    /// The learned model, when it is in use.
    pub rich: Option<Rich>,
    /// The custom fields read as features (`custom.<name>`), after the audit.
    pub custom: Vec<String>,
    /// Its card.
    pub card: DealCard,
}

/// One factor of a deal's P(won).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DealFactor {
    /// In words.
    pub text: String,
    /// Points of P(won) (of 100) it adds or takes.
    pub points: f64,
}

/// One open deal's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DealScore {
    /// The deal.
    pub opportunity_id: String,
    /// P(won in the period).
    pub p_won: f64,
    /// P(lost in the period).
    pub p_lost: f64,
    /// P(slipped past the period).
    pub p_slipped: f64,
    /// An 80% interval for P(won): the pooled model's Beta posterior; for
    /// the learned model, a Beta around its P(won) resting on the same
    /// evidence as the deal's pooled cell (as many deal-periods as support
    /// it).
    pub won_interval: (f64, f64),
    /// The model that gave the probabilities.
    pub model: String,
    /// The strongest factors, for and against.
    pub factors: Vec<DealFactor>,
    /// How the learned model's trees were attributed to give the factors
    /// (none for the pooled model, a linear model, or no factors).
    pub attribution: Option<Attribution>,
}

fn pooled_rows(ds: &Dataset) -> Vec<PooledRow> {
    let col = |name: &str| ds.columns.iter().find(|c| c.name == name);
    let level = |name: &str, i: usize| -> Option<String> {
        match col(name).map(|c| &c.values) {
            Some(Values::Levels { levels, codes }) => codes[i].map(|c| levels[c as usize].clone()),
            _ => None,
        }
    };
    let number = |name: &str, i: usize| -> Option<f64> {
        match col(name).map(|c| &c.values) {
            Some(Values::Numbers(v)) => v[i],
            _ => None,
        }
    };
    (0..ds.ids.len())
        .map(|i| PooledRow {
            stage: level("stage", i).unwrap_or_else(|| "(no stage)".into()),
            segment: level("segment", i),
            days_in_stage: number("days in stage", i).unwrap_or(0.0),
        })
        .collect()
}

/// Per row: 1 / the rows of its deal in its period.
fn weights(rows: &DealRows, idx: &[usize]) -> Vec<f64> {
    let mut n: HashMap<(u32, i32), usize> = HashMap::new();
    for &i in idx {
        *n.entry((rows.keys[i], rows.periods[i].last)).or_default() += 1;
    }
    idx.iter()
        .map(|&i| 1.0 / n[&(rows.keys[i], rows.periods[i].last)] as f64)
        .collect()
}

/// The latest whole periods holding at least `share` of `idx`, as test rows.
fn split_by_period(rows: &DealRows, idx: &[usize], share: f64) -> (Vec<usize>, Vec<usize>, String) {
    let mut lasts: Vec<i32> = idx.iter().map(|&i| rows.periods[i].last).collect();
    lasts.sort_unstable();
    lasts.dedup();
    let mut cut = i32::MAX;
    let mut test_n = 0usize;
    for &l in lasts.iter().rev().take(lasts.len().saturating_sub(1)) {
        if test_n as f64 >= share * idx.len() as f64 {
            break;
        }
        cut = l;
        test_n = idx.iter().filter(|&&i| rows.periods[i].last >= l).count();
    }
    let (test, train): (Vec<usize>, Vec<usize>) =
        idx.iter().partition(|&&i| rows.periods[i].last >= cut);
    let first_test = test.iter().map(|&i| rows.periods[i].first).min();
    let method = match first_test {
        Some(d) => format!(
            "by period: rows of periods from {} on are the test rows ({} of {}), earlier periods train",
            pipewise_model::time::format_date(d),
            test.len(),
            idx.len()
        ),
        None => "no test rows: only one period has ended".into(),
    };
    (train, test, method)
}

/// What a deal model is trained with.
#[derive(Debug, Clone, PartialEq)]
pub struct DealOptions {
    /// Train on what was recorded by this time (`None`: everything).
    pub known: Option<Timestamp>,
    /// Most training rows (a share of deals is kept past it).
    pub max_rows: usize,
    /// Least closed deal-periods in training before the learned model is tried.
    pub min_closed: f64,
    /// The binary estimators' options.
    pub train: TrainOptions,
}

impl Default for DealOptions {
    /// The learned model's estimators keep their own probabilities (log-loss
    /// objectives) and the trees' leaves hold at least a hessian of 10: on
    /// weekly deal rows, whose rows repeat deals and drift with time, Platt
    /// scaling fitted out of fold and tiny leaves both made the test periods
    /// worse (bench/scores.py: log loss 0.553 with them, 0.508 without, on
    /// the synthetic company; LightGBM's multiclass 0.523).
    fn default() -> Self {
        let train = TrainOptions {
            calibration: crate::model::CalibrationMethod::None,
            boost: crate::boosted::BoostParams {
                min_leaf_weight: 10.0,
                ..Default::default()
            },
            ..TrainOptions::default()
        };
        DealOptions {
            known: None,
            max_rows: 200_000,
            min_closed: 100.0,
            train,
        }
    }
}

impl DealModel {
    /// Train on the history in `h`.
    pub fn train(h: &DealHistory, o: &DealOptions) -> Result<DealModel, TrainError> {
        let audits = super::leakage::audit(h, o.known);
        let mut flagged = vec![super::leakage::loss_reason_flag()];
        flagged.extend(audits.iter().filter_map(|a| a.flag.clone()));
        let custom: Vec<String> = audits
            .iter()
            .filter(|a| a.flag.is_none() || o.train.allow.contains(&a.name))
            .map(|a| a.name.clone())
            .collect();
        let rows = training_rows(h, o.known, o.max_rows, &custom);
        let labelled: Vec<usize> = (0..rows.keys.len())
            .filter(|&i| rows.outcomes[i].is_some())
            .collect();
        let y: Vec<Outcome> = rows
            .outcomes
            .iter()
            .map(|o| o.unwrap_or(Outcome::Slipped))
            .collect();
        if labelled.is_empty() {
            return Err(TrainError::Split(
                "no deal was open at a weekly cut of a period that has ended: there is nothing to learn from yet".into(),
            ));
        }
        let all_w = weights(&rows, &labelled);
        let mut totals = [0.0; 3];
        for (&i, w) in labelled.iter().zip(&all_w) {
            totals[y[i].index()] += w;
        }
        let (train, test, split) = split_by_period(&rows, &labelled, 0.3);
        let prow = pooled_rows(&rows.dataset);
        let pick = |idx: &[usize]| -> (Vec<PooledRow>, Vec<Outcome>) {
            (
                idx.iter().map(|&i| prow[i].clone()).collect(),
                idx.iter().map(|&i| y[i]).collect(),
            )
        };
        let (train_rows, train_y) = pick(&train);
        let train_w = weights(&rows, &train);
        let pooled = Pooled::fit(&train_rows, &train_y, &train_w);
        let mut validation = Vec::new();
        let mut baseline = None;
        let mut learned = None;
        let mut why;
        let closed_train: f64 = train
            .iter()
            .zip(&train_w)
            .filter(|(i, _)| y[**i] != Outcome::Slipped)
            .map(|(_, w)| w)
            .sum();
        if test.is_empty() {
            why = "only one period has ended, so nothing can be validated: the pooled model is in use".to_string();
        } else {
            let (_, test_y) = pick(&test);
            let tw = weights(&rows, &test);
            let pp: Vec<[f64; 3]> = test.iter().map(|&i| pooled.score(&prow[i]).p).collect();
            let pooled_v = DealValidation::of("pooled", &pp, &test_y, &tw);
            baseline = Some(DealValidation::of(
                "no-information baseline (training outcome shares)",
                &vec![pooled.overall; test.len()],
                &test_y,
                &tw,
            ));
            why = format!(
                "the pooled model is in use: {closed_train:.0} closed deal-periods in training, fewer than the {:.0} the learned model is tried with",
                o.min_closed
            );
            validation.push(pooled_v.clone());
            if closed_train >= o.min_closed {
                match Rich::fit(&rows.dataset, &y, &train, &o.train) {
                    Ok((rich, parts)) => {
                        let pr = rich.probabilities(&rows.dataset, &test);
                        let rich_v = DealValidation::of("learned", &pr, &test_y, &tw);
                        why = if rich_v.log_loss < pooled_v.log_loss {
                            format!(
                                "the learned model is in use: on the test periods its log loss is {:.4} against the pooled model's {:.4}",
                                rich_v.log_loss, pooled_v.log_loss
                            )
                        } else {
                            format!(
                                "the pooled model is in use: on the test periods its log loss is {:.4}, the learned model's {:.4}",
                                pooled_v.log_loss, rich_v.log_loss
                            )
                        };
                        learned = Some(parts);
                        validation.push(rich_v);
                    }
                    Err(e) => {
                        why = format!(
                            "the pooled model is in use: the learned model could not be fitted ({e})"
                        )
                    }
                }
            }
        }
        let use_rich = validation.len() == 2 && validation[1].log_loss < validation[0].log_loss;
        // refit what is in use on every labelled row
        let (all_rows, all_y) = pick(&labelled);
        let pooled = Pooled::fit(&all_rows, &all_y, &all_w);
        let rich = if use_rich {
            Some(Rich::fit(&rows.dataset, &y, &labelled, &o.train)?.0)
        } else {
            None
        };
        let cut_text = |t: Option<&Timestamp>| t.map_or_else(String::new, |&t| format_timestamp(t));
        let card = DealCard {
            in_use: if use_rich { "learned" } else { "pooled" }.into(),
            why,
            known: o.known.map(format_timestamp),
            rows: labelled.len(),
            deal_periods: all_w.iter().sum(),
            outcomes: totals,
            cuts: (cut_text(rows.cuts.iter().min()), cut_text(rows.cuts.iter().max())),
            split,
            train_rows: train.len(),
            test_rows: test.len(),
            validation,
            baseline,
            learned,
            flagged_features: flagged,
            custom_features: custom.clone(),
            allowed: o.train.allow.clone(),
            notes: vec![
                "Features are read from the ledger as recorded by each cut. Activities count from when they occurred; owners' hire dates and accounts' industry and size are today's values (those tables are not versioned).".into(),
                "A deal deleted by the period's end counts as lost; one reopened and still open counts as slipped.".into(),
                "Amounts are as recorded, in each deal's currency field's terms (not converted).".into(),
                "The model in use was refitted on every labelled row after validation.".into(),
                format!(
                    "The learned model's estimators: calibration {:?}, boosted trees {:?}.",
                    o.train.calibration, o.train.boost
                ),
            ],
        };
        Ok(DealModel {
            format: FORMAT,
            known: o.known,
            pooled,
            rich,
            custom,
            card,
        })
    }

    /// Score every deal open at `cut`, in `period`, with up to `top` factors
    /// (the learned model's trees attributed by `method`; without one, by
    /// [`Attribution::auto`] for the number of deals).
    pub fn score(
        &self,
        h: &DealHistory,
        cut: Cut,
        period: Period,
        top: usize,
        method: Option<Attribution>,
    ) -> Vec<DealScore> {
        let started = std::time::Instant::now();
        let rows = scoring_rows(h, cut, period, &self.custom);
        let method_for = |n: usize| method.unwrap_or_else(|| Attribution::auto(n));
        tracing::debug!(elapsed = ?started.elapsed(), rows = rows.dataset.ids.len(), "deal scores: rows built");
        let ds = &rows.dataset;
        let idx: Vec<usize> = (0..ds.ids.len()).collect();
        let prow = pooled_rows(ds);
        // one pooled score per distinct cell
        let mut memo: HashMap<(String, Option<String>, &'static str), super::pooled::PooledScore> =
            HashMap::new();
        let pooled: Vec<_> = prow
            .iter()
            .map(|r| {
                let key = (
                    r.stage.clone(),
                    r.segment.clone(),
                    bucket_name(r.days_in_stage),
                );
                memo.entry(key)
                    .or_insert_with(|| self.pooled.score(r))
                    .clone()
            })
            .collect();
        let overall_won = self.pooled.overall[0];
        let (probs, factors): (Vec<[f64; 3]>, Vec<Vec<DealFactor>>) = match &self.rich {
            Some(rich) if top == 0 => (rich.probabilities(ds, &idx), vec![Vec::new(); idx.len()]),
            Some(rich) => rich_scores(rich, ds, &idx, top, method_for(idx.len())),
            None => (
                pooled.iter().map(|s| s.p).collect(),
                pooled
                    .iter()
                    .zip(&prow)
                    .map(|(s, r)| {
                        vec![DealFactor {
                            text: format!(
                                "{} ({}): {:.0}% won of {:.0} deal-periods, shrunk towards its stage",
                                s.cell,
                                bucket_name(r.days_in_stage),
                                100.0 * s.p[0],
                                s.cell_count
                            ),
                            points: 100.0 * (s.p[0] - overall_won),
                        }]
                    })
                    .collect(),
            ),
        };
        tracing::debug!(elapsed = ?started.elapsed(), "deal scores: scored");
        let model = if self.rich.is_some() {
            "learned"
        } else {
            "pooled"
        };
        let attribution = match &self.rich {
            Some(rich) if top > 0 && rich.is_boosted() => Some(method_for(idx.len())),
            _ => None,
        };
        // the intervals' Beta quantiles are the costly part: on rayon's pool,
        // collected in deal order
        use rayon::prelude::*;
        let scores: Vec<DealScore> = factors
            .into_par_iter()
            .enumerate()
            .map(|(i, factors)| DealScore {
                opportunity_id: ds.ids[i].clone(),
                p_won: probs[i][0],
                p_lost: probs[i][1],
                p_slipped: probs[i][2],
                won_interval: super::pooled::interval(probs[i][0], pooled[i].evidence),
                model: model.into(),
                factors,
                attribution,
            })
            .collect();
        tracing::debug!(elapsed = ?started.elapsed(), "deal scores: intervals");
        scores
    }

    /// Write `model.json`, `card.json` and `card.md` into `dir`.
    pub fn save(&self, dir: &std::path::Path, name: &str) -> Result<(), ModelFileError> {
        crate::model::write_model(
            dir,
            crate::model::pretty(self),
            crate::model::pretty(&self.card),
            self.card.markdown(name),
        )
    }

    /// Read `model.json` from `dir`.
    pub fn load(dir: &std::path::Path) -> Result<DealModel, ModelFileError> {
        crate::model::read_model(dir, FORMAT, |m: &DealModel| m.format)
    }
}

/// The learned model's probabilities and factors: each column's
/// contribution to P(won) through both estimators, as points (the
/// probability with it against without it), each estimator's rows encoded
/// once.
fn rich_scores(
    rich: &Rich,
    ds: &Dataset,
    idx: &[usize],
    top: usize,
    method: Attribution,
) -> (Vec<[f64; 3]>, Vec<Vec<DealFactor>>) {
    use rayon::prelude::*;
    let (zc, nc, cc) = rich.closes.explained(ds, idx, method);
    let (zw, nw, cw) = rich.wins.explained(ds, idx, method);
    let (pc, pw) = (&rich.closes.calibration, &rich.wins.calibration);
    let p: Vec<[f64; 3]> = zc
        .iter()
        .zip(&zw)
        .map(|(&c, &w)| {
            let (c, w) = (pc.probability(c), pw.probability(w));
            [c * w, c * (1.0 - w), 1.0 - c]
        })
        .collect();
    // the columns of either estimator, and where each is in both
    let mut names = nc.clone();
    for n in &nw {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let at = |of: &[String]| -> Vec<Option<usize>> {
        names
            .iter()
            .map(|n| of.iter().position(|m| m == n))
            .collect()
    };
    let (ic, iw) = (at(&nc), at(&nw));
    let factors = (0..idx.len())
        .into_par_iter()
        .map(|i| {
            let mut f: Vec<(usize, f64)> = (0..names.len())
                .map(|j| {
                    let c = ic[j].map_or(0.0, |k| cc[i][k]);
                    let w = iw[j].map_or(0.0, |k| cw[i][k]);
                    let without = pc.probability(zc[i] - c) * pw.probability(zw[i] - w);
                    (j, 100.0 * (p[i][0] - without))
                })
                .filter(|(_, points)| points.abs() >= 0.5)
                .collect();
            f.sort_by(|a, b| {
                b.1.abs()
                    .total_cmp(&a.1.abs())
                    .then(names[a.0].cmp(&names[b.0]))
            });
            f.truncate(top);
            f.into_iter()
                .map(|(j, points)| DealFactor {
                    text: format!(
                        "{} is {}: {points:+.0} points",
                        names[j],
                        value_text(ds, &names[j], idx[i])
                    ),
                    points,
                })
                .collect()
        })
        .collect();
    (p, factors)
}

impl DealCard {
    /// The card in Markdown.
    pub fn markdown(&self, name: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# Deal model card: {name}\n");
        let _ = writeln!(
            s,
            "For every open deal: P(won in the period), P(lost), P(slipped past it). Trained on what was recorded by {}.\n",
            self.known.as_deref().unwrap_or("the last recorded event")
        );
        let _ = writeln!(s, "## In use\n\n{}.\n", self.why);
        if let Some(l) = &self.learned {
            let _ = writeln!(s, "Learned model: {l}.\n");
        }
        let _ = writeln!(
            s,
            "## Data\n\n{} rows (open deals at weekly cuts from {} to {}), {:.0} deal-periods: {:.0} won, {:.0} lost, {:.0} slipped.\n",
            self.rows,
            self.cuts.0,
            self.cuts.1,
            self.deal_periods,
            self.outcomes[0],
            self.outcomes[1],
            self.outcomes[2]
        );
        let _ = writeln!(
            s,
            "## Validation\n\nSplit {}: {} training rows, {} test rows.\n\n| model | log loss | Brier | AUC of P(won) |\n|---|---|---|---|",
            self.split, self.train_rows, self.test_rows
        );
        for v in self.validation.iter().chain(&self.baseline) {
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} | {} |",
                v.model,
                v.log_loss,
                v.brier,
                v.won_auc.map_or("–".into(), |a| format!("{a:.3}"))
            );
        }
        for v in &self.validation {
            let _ = writeln!(
                s,
                "\nReliability of P(won), {}:\n\n| bin | rows | predicted | observed |\n|---|---|---|---|",
                v.model
            );
            for r in &v.won_reliability {
                let _ = writeln!(
                    s,
                    "| {:.1}–{:.1} | {} | {:.1}% | {:.1}% |",
                    r.lower,
                    r.upper,
                    r.rows,
                    100.0 * r.predicted,
                    100.0 * r.observed
                );
            }
        }
        let _ = writeln!(s, "\n## Leakage audit\n");
        for f in &self.flagged_features {
            let _ = writeln!(s, "- **{}** left out: {}", f.name, f.reason);
        }
        for a in &self.allowed {
            let _ = writeln!(
                s,
                "- **warning**: `{a}` was kept with --allow-feature; if it is filled in at the close, the figures above overstate the model."
            );
        }
        if !self.custom_features.is_empty() {
            let _ = writeln!(
                s,
                "\nCustom fields read as features: {}.",
                self.custom_features.join(", ")
            );
        }
        let _ = writeln!(s, "\n## Notes\n");
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        s
    }
}
