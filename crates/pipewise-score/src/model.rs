//! A lead model learnt from a flat file (issue #12 §2, §4, §5): the audit,
//! the split, the encoding, two candidate estimators (regularised logistic
//! regression and boosted trees) each calibrated on out-of-fold scores, the
//! one with the lower out-of-fold log loss kept, and its validation on the
//! test rows. Everything the model needs to score a later file travels with
//! it; the same file, options and seed give the same model byte for byte.

use crate::boosted::{Attribution, BoostParams, Boosted};
use crate::calibrate::{Isotonic, Platt};
use crate::card::{Candidate, Card, ColumnReport, Validation};
use crate::dataset::{ColumnKind, Dataset, Expected, LoadOptions, Values};
use crate::encode::Encoding;
use crate::leakage::{Flag, audit};
use crate::logistic::{FitError, Logistic};
use crate::split::{self, Split};
use crate::validate::log_loss;
use serde::{Deserialize, Serialize};

/// The format of a model file; a reader refuses other versions.
pub const FORMAT: u32 = 1;

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The split column is not a date column of the file.
    #[error(
        "--split-by {0:?}: no date column of that name (a column whose values are ISO dates, YYYY-MM-DD)"
    )]
    NoTimeColumn(String),
    /// The split left one side empty.
    #[error("{0}")]
    Split(String),
    /// The audit and the encoding left nothing to learn from.
    #[error(
        "no column is left to learn from after the leakage audit ({0}); keep one with --allow-feature NAME if it is known before the outcome"
    )]
    NoFeatures(String),
    /// An estimator failed.
    #[error("{0}")]
    Fit(#[from] FitError),
}

/// Which estimators to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidates {
    /// Both; the lower out-of-fold log loss wins.
    Auto,
    /// Logistic regression only.
    Logistic,
    /// Boosted trees only.
    Boosted,
}

impl Candidates {
    /// The estimators to fit, simplest first (a tie goes to it).
    pub fn kinds(self) -> &'static [Candidates] {
        match self {
            Candidates::Auto => &[Candidates::Logistic, Candidates::Boosted],
            Candidates::Logistic => &[Candidates::Logistic],
            Candidates::Boosted => &[Candidates::Boosted],
        }
    }
}

/// How scores become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// A logistic curve on the log-odds (few parameters; small data).
    Platt,
    /// A non-decreasing step function (needs more rows).
    Isotonic,
    /// The estimator's own probabilities.
    None,
}

/// How the rows are split into training and test rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// By the one date column the audit keeps, when there is exactly one;
    /// else a stratified random holdout.
    Auto,
    /// By this date column.
    Time(String),
    /// A stratified random holdout.
    Random,
}

/// What a training run is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The split.
    pub split: SplitBy,
    /// Share of rows held out for the test.
    pub test_share: f64,
    /// Seed of the random holdout and the folds.
    pub seed: u64,
    /// Folds for the out-of-fold scores.
    pub folds: usize,
    /// Columns the audit flagged that are kept anyway.
    pub allow: Vec<String>,
    /// Least training rows for a category level to get its own feature.
    pub min_level_rows: usize,
    /// Estimators to try.
    pub candidates: Candidates,
    /// Inverse regularisation strength of the logistic regression.
    pub c: f64,
    /// The boosted trees' settings.
    pub boost: BoostParams,
    /// The calibration.
    pub calibration: CalibrationMethod,
    /// Top share of test rows for precision and recall at k.
    pub top_share: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            split: SplitBy::Auto,
            test_share: 0.25,
            seed: 0,
            folds: 5,
            allow: Vec::new(),
            min_level_rows: 20,
            candidates: Candidates::Auto,
            c: 1.0,
            boost: BoostParams::default(),
            calibration: CalibrationMethod::Platt,
            top_share: 0.1,
        }
    }
}

/// A fitted estimator.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Regularised logistic regression.
    Logistic(Logistic),
    /// Gradient-boosted trees.
    Boosted(Box<Boosted>),
}

impl Estimator {
    /// The estimator's name in model cards.
    pub fn name(&self) -> &'static str {
        match self {
            Estimator::Logistic(_) => "logistic regression",
            Estimator::Boosted(_) => "boosted trees",
        }
    }

    fn fit(
        kind: Candidates,
        rows: &[Vec<f64>],
        y: &[bool],
        o: &TrainOptions,
    ) -> Result<Estimator, FitError> {
        Ok(match kind {
            Candidates::Boosted => Estimator::Boosted(Box::new(Boosted::fit(rows, y, o.boost)?)),
            Candidates::Logistic | Candidates::Auto => {
                Estimator::Logistic(Logistic::fit(rows, y, o.c)?)
            }
        })
    }

    /// Each row's log-odds.
    pub fn log_odds(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        match self {
            Estimator::Logistic(m) => rows
                .iter()
                .map(|r| m.intercept + m.contributions(r).iter().sum::<f64>())
                .collect(),
            Estimator::Boosted(m) => m.log_odds(rows),
        }
    }

    /// Each row's log-odds and the contribution of each feature to it
    /// ([`Estimator::log_odds`] and [`Estimator::contributions`] together;
    /// path-attributed trees are walked once for both).
    pub fn explained(&self, rows: &[Vec<f64>], method: Attribution) -> (Vec<f64>, Vec<Vec<f64>>) {
        match (self, method) {
            (Estimator::Boosted(m), Attribution::Path) => m.explained_path(rows),
            _ => (self.log_odds(rows), self.contributions(rows, method)),
        }
    }

    /// Each row's contribution of each feature to its log-odds: coefficient
    /// × value for the linear model; for the trees, Shapley values or path
    /// attributions (`method`).
    pub fn contributions(&self, rows: &[Vec<f64>], method: Attribution) -> Vec<Vec<f64>> {
        match self {
            Estimator::Logistic(m) => rows.iter().map(|r| m.contributions(r)).collect(),
            Estimator::Boosted(m) => m
                .contributions_by(rows, method)
                .into_iter()
                .map(|mut c| {
                    c.pop(); // the bias
                    c
                })
                .collect(),
        }
    }
}

/// A fitted calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// Platt's logistic curve on the log-odds.
    Platt(Platt),
    /// Isotonic steps on the uncalibrated probability.
    Isotonic(Isotonic),
    /// None: the estimator's probability.
    None,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Calibration {
    fn fit(method: CalibrationMethod, z: &[f64], y: &[bool]) -> Calibration {
        match method {
            CalibrationMethod::Platt => {
                Platt::fit(z, y).map_or(Calibration::None, Calibration::Platt)
            }
            CalibrationMethod::Isotonic => {
                let p: Vec<f64> = z.iter().map(|&z| sigmoid(z)).collect();
                Isotonic::fit(&p, y).map_or(Calibration::None, Calibration::Isotonic)
            }
            CalibrationMethod::None => Calibration::None,
        }
    }

    /// The calibrated probability of log-odds `z`.
    pub fn probability(&self, z: f64) -> f64 {
        match self {
            Calibration::Platt(p) => p.predict(z),
            Calibration::Isotonic(i) => i.predict(sigmoid(z)),
            Calibration::None => sigmoid(z),
        }
    }
}

/// One calibrated binary estimator and the encoding of its features: the
/// unit a lead model is, and a deal model is two of.
#[derive(Debug, Serialize, Deserialize)]
pub struct Binary {
    /// How the columns become features.
    pub encoding: Encoding,
    /// The estimator.
    pub estimator: Estimator,
    /// The calibration.
    pub calibration: Calibration,
}

impl Binary {
    /// Learn the encoding on rows `train` of `ds`, calibrate the estimator
    /// `kind` on its out-of-fold log-odds, fit it on all of `train`; with
    /// the calibrated out-of-fold log loss.
    pub fn fit(
        ds: &Dataset,
        train: &[usize],
        skip: &[String],
        kind: Candidates,
        o: &TrainOptions,
    ) -> Result<(Binary, f64), TrainError> {
        let encoding = encoding_for(kind, ds, train, skip, o);
        if encoding.features.is_empty() {
            return Err(TrainError::NoFeatures(skip.join(", ")));
        }
        let rows = encoding.rows(ds, train);
        let y: Vec<bool> = train.iter().map(|&i| ds.target[i]).collect();
        let fold = split::folds(&y, o.folds.max(2), o.seed);
        let (oof, estimator) = rayon::join(
            || out_of_fold(kind, ds, train, skip, &fold, o),
            || Estimator::fit(kind, &rows, &y, o),
        );
        let (oof, estimator) = (oof?, estimator?);
        let calibration = Calibration::fit(o.calibration, &oof, &y);
        let p_oof: Vec<f64> = oof.iter().map(|&z| calibration.probability(z)).collect();
        Ok((
            Binary {
                encoding,
                estimator,
                calibration,
            },
            log_loss(&p_oof, &y),
        ))
    }

    /// The uncalibrated log-odds of rows `idx` of `ds`.
    pub fn log_odds(&self, ds: &Dataset, idx: &[usize]) -> Vec<f64> {
        let rows = self.encoding.rows(ds, idx);
        self.estimator.log_odds(&rows)
    }

    /// The calibrated probabilities of rows `idx` of `ds`.
    pub fn probabilities(&self, ds: &Dataset, idx: &[usize]) -> Vec<f64> {
        self.log_odds(ds, idx)
            .into_iter()
            .map(|z| self.calibration.probability(z))
            .collect()
    }

    /// The uncalibrated log-odds of rows `idx` of `ds` and each row's
    /// contributions to them summed by column (the columns' names, then per
    /// row one sum per column), the rows encoded once.
    pub fn explained(
        &self,
        ds: &Dataset,
        idx: &[usize],
        method: Attribution,
    ) -> (Vec<f64>, Vec<String>, Vec<Vec<f64>>) {
        // each feature's column, as an index into the names (first seen first)
        let mut names: Vec<String> = Vec::new();
        let of: Vec<usize> = self
            .encoding
            .features
            .iter()
            .map(|f| match names.iter().position(|n| n == f.column()) {
                Some(j) => j,
                None => {
                    names.push(f.column().to_string());
                    names.len() - 1
                }
            })
            .collect();
        let rows = self.encoding.rows(ds, idx);
        let (z, contributions) = self.estimator.explained(&rows, method);
        let sums = contributions
            .into_iter()
            .map(|c| {
                let mut by_column = vec![0.0; names.len()];
                for (j, v) in of.iter().zip(c) {
                    by_column[*j] += v;
                }
                by_column
            })
            .collect();
        (z, names, sums)
    }
}

/// The candidate with the lowest out-of-fold log loss (a tie goes to the
/// earlier, simpler one).
pub fn best_of(cv: &[f64]) -> usize {
    (0..cv.len())
        .min_by(|&a, &b| cv[a].total_cmp(&cv[b]).then(a.cmp(&b)))
        .unwrap_or_default()
}

/// A trained lead model: what it reads, how, and what it learnt.
#[derive(Debug, Serialize, Deserialize)]
pub struct LeadModel {
    /// The file format ([`FORMAT`]).
    pub format: u32,
    /// How the file it learnt from was read (target, positive class, id,
    /// missing-value placeholders).
    pub target: String,
    /// The positive class's value.
    pub positive: String,
    /// The id column, if any.
    pub id: Option<String>,
    /// Values read as missing besides the empty cell.
    pub missing: Vec<String>,
    /// The columns it reads and their kinds.
    pub expected: Vec<Expected>,
    /// How the columns become features.
    pub encoding: Encoding,
    /// The estimator.
    pub estimator: Estimator,
    /// The calibration.
    pub calibration: Calibration,
    /// What it was trained on and how well it did.
    pub card: Card,
}

/// One factor of a score: a column's share of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// The column.
    pub column: String,
    /// Its value on the row, as read.
    pub value: String,
    /// Its contribution to the log-odds.
    pub log_odds: f64,
    /// How many points (of 100) the probability would lose without it.
    pub points: f64,
}

impl Factor {
    /// The factor in plain words, e.g. `Lead Source is Reference: +21 points`.
    pub fn text(&self) -> String {
        format!(
            "{} is {}: {:+.0} points",
            self.column, self.value, self.points
        )
    }
}

/// One scored row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// The row's id.
    pub id: String,
    /// The calibrated probability of the positive class.
    pub probability: f64,
    /// The strongest factors, for and against, largest first.
    pub factors: Vec<Factor>,
}

impl LeadModel {
    /// Learn a model from `ds`, read from the file `data` with `load`;
    /// judged on `holdout` (a file of test rows, read with
    /// [`LeadModel::holdout_columns`]) when given, else on a split of `ds`.
    pub fn train(
        ds: &Dataset,
        data: &str,
        load: &LoadOptions,
        o: &TrainOptions,
        holdout: Option<(&Dataset, &str)>,
    ) -> Result<LeadModel, TrainError> {
        let flags = audit(ds, &o.allow);
        let skip: Vec<String> = flags.iter().map(|f| f.name.clone()).collect();
        let split = match holdout {
            Some((_, file)) => Split {
                method: format!("the test rows are the file {file}; every row of {data} trains"),
                train: (0..ds.target.len()).collect(),
                test: Vec::new(),
            },
            None => choose_split(ds, &flags, o)?,
        };
        let (test_ds, test_rows): (&Dataset, Vec<usize>) = match holdout {
            Some((t, _)) => (t, (0..t.target.len()).collect()),
            None => (ds, split.test.clone()),
        };
        for (side, rows, d) in [
            ("training", &split.train, ds),
            ("test", &test_rows, test_ds),
        ] {
            let pos = rows.iter().filter(|&&i| d.target[i]).count();
            if pos == 0 || pos == rows.len() {
                return Err(TrainError::Split(format!(
                    "the {side} rows ({}; {}) hold one class only; use a larger --test-share or --split random",
                    rows.len(),
                    split.method
                )));
            }
        }
        let kinds = o.candidates.kinds();
        let yt: Vec<bool> = test_rows.iter().map(|&i| test_ds.target[i]).collect();
        let mut fitted = Vec::new();
        for &kind in kinds {
            let (binary, cv) = Binary::fit(ds, &split.train, &skip, kind, o)?;
            let p = binary.probabilities(test_ds, &test_rows);
            let validation = Validation::of(&p, &yt, o.top_share, &flags);
            fitted.push((cv, binary, validation));
        }
        let best = best_of(&fitted.iter().map(|f| f.0).collect::<Vec<_>>());
        let candidates: Vec<Candidate> = fitted
            .iter()
            .map(|(cv, b, v)| Candidate {
                estimator: b.estimator.name().into(),
                out_of_fold_log_loss: *cv,
                test: v.clone(),
            })
            .collect();
        let (cv, binary, validation) = fitted.swap_remove(best);
        let Binary {
            encoding,
            estimator,
            calibration,
        } = binary;
        let why = why_chosen(&candidates, best, cv, o.folds.max(2));
        let used: Vec<&str> = encoding.features.iter().map(|f| f.column()).collect();
        let expected = ds
            .columns
            .iter()
            .filter(|c| used.contains(&c.name.as_str()))
            .map(|c| Expected {
                name: c.name.clone(),
                kind: c.kind,
            })
            .collect();
        let card = Card {
            estimator: estimator.name().into(),
            why,
            data: data.into(),
            target: load.target.clone(),
            positive: ds.positive.clone(),
            rows: ds.target.len(),
            positives: ds.target.iter().filter(|&&v| v).count(),
            left_out: ds.left_out.len(),
            split: split.method.clone(),
            train_rows: split.train.len(),
            test_rows: test_rows.len(),
            columns: ds
                .columns
                .iter()
                .map(|c| ColumnReport::of(c, &flags, &used))
                .collect(),
            flagged_features: flags,
            allowed: o.allow.clone(),
            features: encoding.features.len(),
            calibration: o.calibration,
            options: o.clone(),
            candidates,
            validation,
        };
        Ok(LeadModel {
            format: FORMAT,
            target: load.target.clone(),
            positive: ds.positive.clone(),
            id: load.id.clone(),
            missing: load.missing.clone(),
            expected,
            encoding,
            estimator,
            calibration,
            card,
        })
    }

    /// The columns of `ds` as a holdout file is read: each with the kind it
    /// has in `ds`.
    pub fn holdout_columns(ds: &Dataset) -> Vec<Expected> {
        ds.columns
            .iter()
            .map(|c| Expected {
                name: c.name.clone(),
                kind: c.kind,
            })
            .collect()
    }

    /// How to read a file to score with this model.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            target: self.target.clone(),
            positive: Some(self.positive.clone()),
            id: self.id.clone(),
            missing: self.missing.clone(),
        }
    }

    /// Score every row of `ds` (read with [`crate::dataset::load_for_scoring`]
    /// and this model's columns), with up to `top` factors each.
    pub fn score(&self, ds: &Dataset, top: usize) -> Vec<Scored> {
        let rows: Vec<Vec<f64>> = (0..ds.ids.len())
            .map(|i| self.encoding.row(ds, i))
            .collect();
        let (z, contributions) = self.estimator.explained(&rows, Attribution::Shapley);
        (0..rows.len())
            .map(|i| {
                let probability = self.calibration.probability(z[i]);
                Scored {
                    id: ds.ids[i].clone(),
                    probability,
                    factors: self.factors(ds, i, z[i], &contributions[i], top),
                }
            })
            .collect()
    }

    /// A row's contributions summed by column, as points: the probability
    /// with the column's contribution against the probability without it.
    fn factors(&self, ds: &Dataset, i: usize, z: f64, c: &[f64], top: usize) -> Vec<Factor> {
        let mut by_column: Vec<(String, f64)> = Vec::new();
        for (f, v) in self.encoding.features.iter().zip(c) {
            match by_column.iter_mut().find(|(name, _)| name == f.column()) {
                Some((_, sum)) => *sum += v,
                None => by_column.push((f.column().to_string(), *v)),
            }
        }
        let p = self.calibration.probability(z);
        let mut factors: Vec<Factor> = by_column
            .into_iter()
            .map(|(column, log_odds)| Factor {
                value: value_text(ds, &column, i),
                points: 100.0 * (p - self.calibration.probability(z - log_odds)),
                column,
                log_odds,
            })
            .filter(|f| f.points.abs() >= 0.5)
            .collect();
        factors.sort_by(|a, b| {
            b.points
                .abs()
                .total_cmp(&a.points.abs())
                .then(a.column.cmp(&b.column))
        });
        factors.truncate(top);
        factors
    }
}

/// A cell as read, for a factor's words ("24", "Proposal", "yes",
/// "2026-03-01", "missing").
pub(crate) fn value_text(ds: &Dataset, column: &str, i: usize) -> String {
    let Some(c) = ds.columns.iter().find(|c| c.name == column) else {
        return "absent".into();
    };
    match &c.values {
        Values::Numbers(v) => match (v[i], c.kind) {
            (None, _) => "missing".into(),
            (Some(d), ColumnKind::Date) => split::day_text(d),
            (Some(b), ColumnKind::Boolean) => if b > 0.5 { "yes" } else { "no" }.into(),
            (Some(x), _) if x.fract() == 0.0 => format!("{x:.0}"),
            (Some(x), _) => format!("{x:.2}"),
        },
        Values::Levels { levels, codes } => {
            codes[i].map_or_else(|| "missing".into(), |l| levels[l as usize].clone())
        }
    }
}

/// The split the options ask for.
fn choose_split(ds: &Dataset, flags: &[Flag], o: &TrainOptions) -> Result<Split, TrainError> {
    let dates: Vec<&crate::dataset::Column> = ds
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Date && !flags.iter().any(|f| f.name == c.name))
        .collect();
    let by = |name: &str| -> Result<Split, TrainError> {
        let c = ds
            .columns
            .iter()
            .find(|c| c.name == name && c.kind == ColumnKind::Date)
            .ok_or_else(|| TrainError::NoTimeColumn(name.into()))?;
        let Values::Numbers(t) = &c.values else {
            return Err(TrainError::NoTimeColumn(name.into()));
        };
        split::by_time(t, o.test_share, name).ok_or_else(|| {
            TrainError::Split(format!(
                "splitting by {name} at a {:.0}% test share leaves no training or no test rows",
                o.test_share * 100.0
            ))
        })
    };
    match &o.split {
        SplitBy::Time(name) => by(name),
        SplitBy::Random => Ok(split::stratified(&ds.target, o.test_share, o.seed)),
        SplitBy::Auto => match dates.as_slice() {
            [one] => by(&one.name),
            _ => {
                let mut s = split::stratified(&ds.target, o.test_share, o.seed);
                s.method = format!(
                    "{} ({}; give --split-by COLUMN to split by time)",
                    s.method,
                    if dates.is_empty() {
                        "the file has no date column".to_string()
                    } else {
                        format!("{} date columns", dates.len())
                    }
                );
                Ok(s)
            }
        },
    }
}

/// The encoding estimator `kind` reads, learnt on rows `train` of `ds`:
/// standardised numbers and one indicator per level for the logistic
/// regression, one column per field (categories ranked) for the trees.
fn encoding_for(
    kind: Candidates,
    ds: &Dataset,
    train: &[usize],
    skip: &[String],
    o: &TrainOptions,
) -> Encoding {
    match kind {
        Candidates::Boosted => Encoding::fit_trees(ds, train, skip, o.min_level_rows),
        Candidates::Logistic | Candidates::Auto => Encoding::fit(ds, train, skip, o.min_level_rows),
    }
}

/// Log-odds of every row of `train` (positions in it) from a model fitted
/// on the other folds, each fold with an encoding learnt on its own
/// training rows (the trees' category ranks read the outcomes).
fn out_of_fold(
    kind: Candidates,
    ds: &Dataset,
    train: &[usize],
    skip: &[String],
    fold: &[usize],
    o: &TrainOptions,
) -> Result<Vec<f64>, FitError> {
    use rayon::prelude::*;
    let k = fold.iter().max().map_or(0, |m| m + 1);
    // the folds are fitted on rayon's pool; each fit is deterministic, so
    // the scores are the same on any number of cores
    type FoldScores = Result<(Vec<usize>, Vec<f64>), FitError>;
    let per_fold: Vec<FoldScores> = (0..k)
        .into_par_iter()
        .map(|f| {
            let (inside, outside): (Vec<usize>, Vec<usize>) =
                (0..train.len()).partition(|&i| fold[i] != f);
            let rows_in: Vec<usize> = inside.iter().map(|&i| train[i]).collect();
            let rows_out: Vec<usize> = outside.iter().map(|&i| train[i]).collect();
            let enc = encoding_for(kind, ds, &rows_in, skip, o);
            let fit_y: Vec<bool> = rows_in.iter().map(|&i| ds.target[i]).collect();
            let m = Estimator::fit(kind, &enc.rows(ds, &rows_in), &fit_y, o)?;
            Ok((outside, m.log_odds(&enc.rows(ds, &rows_out))))
        })
        .collect();
    let mut z = vec![0.0; train.len()];
    for r in per_fold {
        let (outside, scores) = r?;
        for (i, v) in outside.into_iter().zip(scores) {
            z[i] = v;
        }
    }
    Ok(z)
}

/// The model card's reason for the estimator in use.
fn why_chosen(candidates: &[Candidate], best: usize, cv: f64, folds: usize) -> String {
    let chosen = &candidates[best].estimator;
    let others: Vec<String> = candidates
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, c)| format!("{:.4} for {}", c.out_of_fold_log_loss, c.estimator))
        .collect();
    if others.is_empty() {
        format!(
            "{chosen} was the only estimator asked for (its {folds}-fold out-of-fold log loss on the training rows: {cv:.4})"
        )
    } else {
        format!(
            "{chosen} had the lowest calibrated log loss out of fold ({folds} folds of the training rows): {cv:.4}, against {}",
            others.join(", ")
        )
    }
}

/// Why a model directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The model file is not a model this version reads.
    #[error(
        "{path}: not a pipewise model file ({message}); train the model again with `pipewise leads train`"
    )]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl LeadModel {
    /// Write `model.json`, `card.json` and `card.md` into `dir` (created if
    /// needed).
    pub fn save(&self, dir: &std::path::Path, name: &str) -> Result<(), ModelFileError> {
        write_model(
            dir,
            pretty(self),
            pretty(&self.card),
            self.card.markdown(name),
        )
    }

    /// Read `model.json` from `dir`.
    pub fn load(dir: &std::path::Path) -> Result<LeadModel, ModelFileError> {
        read_model(dir, FORMAT, |m: &LeadModel| m.format)
    }
}

/// Write a model directory: `model.json`, `card.json`, `card.md`.
pub(crate) fn write_model(
    dir: &std::path::Path,
    model: String,
    card: String,
    markdown: String,
) -> Result<(), ModelFileError> {
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| ModelFileError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (file, text) in [
        ("model.json", model),
        ("card.json", card),
        ("card.md", markdown),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(())
}

/// Read `dir/model.json` as a `T` whose format (`format_of`) must be `format`.
pub(crate) fn read_model<T: serde::de::DeserializeOwned>(
    dir: &std::path::Path,
    format: u32,
    format_of: impl Fn(&T) -> u32,
) -> Result<T, ModelFileError> {
    let path = dir.join("model.json");
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| ModelFileError::Io {
        path: shown.clone(),
        source,
    })?;
    let m: T = serde_json::from_str(&text).map_err(|e| ModelFileError::Format {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let found = format_of(&m);
    if found != format {
        return Err(ModelFileError::Format {
            path: shown,
            message: format!("format {found}, this version reads {format}"),
        });
    }
    Ok(m)
}

/// Pretty JSON with a final newline, for the files of a model directory.
pub(crate) fn pretty<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}
