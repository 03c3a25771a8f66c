//! Model cards (issue #12: "a model card in Markdown and JSON"): what a
//! model was trained on, which columns it reads and which the audit kept
//! out and why, how the rows were split, which estimator is in use and why,
//! and its validation on the test rows (issue #12 §4).

use crate::dataset::{Column, ColumnKind};
use crate::leakage::Flag;
use crate::model::{CalibrationMethod, TrainOptions};
use crate::validate::{
    Baseline, Decile, ReliabilityBin, auc, baseline, brier, lift_by_decile, log_loss,
    precision_at_k, recall_at_k, reliability,
};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// How well scores did on rows whose outcome is known: the object
/// `leads validate --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Rows judged.
    pub rows: usize,
    /// Positive rows among them.
    pub positives: usize,
    /// Area under the ROC curve (`None` with one class).
    pub auc: Option<f64>,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean log loss of the probabilities.
    pub log_loss: f64,
    /// The k of precision and recall at k (the top share of rows).
    pub k: usize,
    /// Share of positives among the k highest-scored rows.
    pub precision_at_k: Option<f64>,
    /// Share of all positives found among the k highest-scored rows.
    pub recall_at_k: Option<f64>,
    /// Positive rate and lift of each tenth of the rows by score.
    pub lift_by_decile: Vec<Decile>,
    /// Predicted against observed, in ten equal-width bins.
    pub reliability: Vec<ReliabilityBin>,
    /// The no-information baseline.
    pub baseline: Option<Baseline>,
    /// The columns the audit kept out, and why.
    pub flagged_features: Vec<Flag>,
}

impl Validation {
    /// Judge probabilities `p` against outcomes `y`, k being `top_share` of
    /// the rows (at least one).
    pub fn of(p: &[f64], y: &[bool], top_share: f64, flags: &[Flag]) -> Validation {
        let k = ((p.len() as f64 * top_share).round() as usize).clamp(1, p.len().max(1));
        Validation {
            rows: y.len(),
            positives: y.iter().filter(|&&v| v).count(),
            auc: auc(p, y),
            brier: brier(p, y),
            log_loss: log_loss(p, y),
            k,
            precision_at_k: precision_at_k(p, y, k),
            recall_at_k: recall_at_k(p, y, k),
            lift_by_decile: lift_by_decile(p, y),
            reliability: reliability(p, y, 10),
            baseline: baseline(y),
            flagged_features: flags.to_vec(),
        }
    }
}

/// An estimator tried, and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its name.
    pub estimator: String,
    /// Calibrated log loss of its out-of-fold scores on the training rows:
    /// what the choice is made on (the test rows are never used to choose).
    pub out_of_fold_log_loss: f64,
    /// Its validation on the test rows.
    pub test: Validation,
}

/// A column of the file, and what the model did with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The header's name.
    pub name: String,
    /// Its inferred kind.
    pub kind: ColumnKind,
    /// Rows where it is missing.
    pub missing: usize,
    /// Distinct present values.
    pub distinct: usize,
    /// `feature`, `flagged`, `allowed` (flagged, kept on request),
    /// `identifier`, `constant`, or `no feature` (no level common enough).
    pub role: String,
}

impl ColumnReport {
    /// What became of column `c`.
    pub fn of(c: &Column, flags: &[Flag], used: &[&str]) -> ColumnReport {
        let role = if flags.iter().any(|f| f.name == c.name) {
            "flagged"
        } else if used.contains(&c.name.as_str()) {
            "feature"
        } else if c.kind == ColumnKind::Identifier {
            "identifier"
        } else if c.kind == ColumnKind::Constant {
            "constant"
        } else {
            "no feature"
        };
        ColumnReport {
            name: c.name.clone(),
            kind: c.kind,
            missing: c.missing,
            distinct: c.distinct,
            role: role.into(),
        }
    }
}

/// A model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// The estimator in use.
    pub estimator: String,
    /// Why it is in use.
    pub why: String,
    /// The file it learnt from.
    pub data: String,
    /// The target column.
    pub target: String,
    /// The positive class.
    pub positive: String,
    /// Rows with a known outcome.
    pub rows: usize,
    /// Positive rows.
    pub positives: usize,
    /// Rows left out (no outcome).
    pub left_out: usize,
    /// How the rows were split.
    pub split: String,
    /// Training rows.
    pub train_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Every column of the file.
    pub columns: Vec<ColumnReport>,
    /// The columns the audit flagged and left out.
    pub flagged_features: Vec<Flag>,
    /// Flagged columns kept on request (`--allow-feature`).
    pub allowed: Vec<String>,
    /// Number of model features.
    pub features: usize,
    /// The calibration.
    pub calibration: CalibrationMethod,
    /// Everything the training run was asked.
    pub options: TrainOptions,
    /// Every estimator tried.
    pub candidates: Vec<Candidate>,
    /// The chosen estimator's validation on the test rows.
    pub validation: Validation,
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.1}%", 100.0 * x))
}

impl Card {
    /// Seed 001's bar for a lead score (AUC above 0.7, precision at k above
    /// 20%, a top decile converting 3–4× the average), met or not.
    pub fn seed_001_bar(&self) -> String {
        let v = &self.validation;
        let mark = |ok: bool| if ok { "met" } else { "not met" };
        let lift = v.lift_by_decile.first().map_or(0.0, |d| d.lift);
        let ceiling = v
            .baseline
            .as_ref()
            .map_or(f64::INFINITY, |b| 1.0 / b.prevalence.max(1e-12));
        format!(
            "Seed 001's bar: AUC above 0.7 {} ({}); precision at k above 20% {} ({}); top-decile lift of 3× or more {} ({lift:.2}×{}).\n",
            mark(v.auc.is_some_and(|a| a > 0.7)),
            v.auc.map_or("–".into(), |a| format!("{a:.3}")),
            mark(v.precision_at_k.is_some_and(|p| p > 0.2)),
            pct(v.precision_at_k),
            mark(lift >= 3.0),
            if ceiling < 3.0 {
                format!(
                    "; at a {} base rate no decile can lift more than {ceiling:.2}×",
                    pct(v.baseline.as_ref().map(|b| b.prevalence))
                )
            } else {
                String::new()
            }
        )
    }

    /// The card in Markdown.
    pub fn markdown(&self, name: &str) -> String {
        let v = &self.validation;
        let mut s = String::new();
        let _ = writeln!(s, "# Model card: {name}\n");
        let _ = writeln!(
            s,
            "Predicts `{}` = `{}` from `{}`: {} rows with an outcome ({} positive, {}), {} left out for having none.\n",
            self.target,
            self.positive,
            self.data,
            self.rows,
            self.positives,
            pct(Some(self.positives as f64 / self.rows.max(1) as f64)),
            self.left_out
        );
        let _ = writeln!(
            s,
            "## In use\n\n**{}**, calibrated by {:?}. {}.\n",
            self.estimator, self.calibration, self.why
        );
        let _ = writeln!(
            s,
            "## Validation\n\nSplit {}: {} training rows, {} test rows. On the test rows:\n",
            self.split, self.train_rows, self.test_rows
        );
        let _ = writeln!(
            s,
            "| measure | model | no-information baseline |\n|---|---|---|"
        );
        let b = v.baseline.as_ref();
        let _ = writeln!(
            s,
            "| AUC | {} | 0.500 |",
            v.auc.map_or("–".into(), |a| format!("{a:.3}"))
        );
        let _ = writeln!(
            s,
            "| Brier score | {:.4} | {} |",
            v.brier,
            b.map_or("–".into(), |b| format!("{:.4}", b.brier))
        );
        let _ = writeln!(
            s,
            "| log loss | {:.4} | {} |",
            v.log_loss,
            b.map_or("–".into(), |b| format!("{:.4}", b.log_loss))
        );
        let _ = writeln!(
            s,
            "| precision at k = {} | {} | {} |",
            v.k,
            pct(v.precision_at_k),
            pct(b.map(|b| b.prevalence))
        );
        let _ = writeln!(
            s,
            "| recall at k = {} | {} | {} |\n",
            v.k,
            pct(v.recall_at_k),
            pct(Some(v.k as f64 / v.rows.max(1) as f64))
        );
        let _ = writeln!(
            s,
            "Lift by decile (1 = the highest scores):\n\n| decile | rows | positive rate | lift |\n|---|---|---|---|"
        );
        for d in &v.lift_by_decile {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} |",
                d.decile,
                d.rows,
                pct(Some(d.rate)),
                d.lift
            );
        }
        let _ = writeln!(
            s,
            "\nReliability (predicted against observed):\n\n| bin | rows | predicted | observed |\n|---|---|---|---|"
        );
        for r in v.reliability.iter().filter(|r| r.rows > 0) {
            let _ = writeln!(
                s,
                "| {:.1}–{:.1} | {} | {} | {} |",
                r.lower,
                r.upper,
                r.rows,
                pct(Some(r.predicted)),
                pct(Some(r.observed))
            );
        }
        let _ = writeln!(
            s,
            "\nEstimators tried (chosen on out-of-fold log loss, never on the test rows):\n\n| estimator | out-of-fold log loss | test AUC | test Brier |\n|---|---|---|---|"
        );
        for c in &self.candidates {
            let _ = writeln!(
                s,
                "| {} | {:.4} | {} | {:.4} |",
                c.estimator,
                c.out_of_fold_log_loss,
                c.test.auc.map_or("–".into(), |a| format!("{a:.3}")),
                c.test.brier
            );
        }
        let _ = writeln!(s, "\n## Leakage audit\n");
        if self.flagged_features.is_empty() {
            let _ = writeln!(s, "No column was flagged.");
        }
        for f in &self.flagged_features {
            let _ = writeln!(s, "- **{}** left out: {}", f.name, f.reason);
        }
        for a in &self.allowed {
            let _ = writeln!(
                s,
                "- **warning**: `{a}` was kept with --allow-feature; if it is filled in at or after the outcome, the figures above overstate the model."
            );
        }
        let _ = writeln!(
            s,
            "\n## Columns\n\n{} model features from these columns:\n\n| column | kind | missing | distinct | role |\n|---|---|---|---|---|",
            self.features
        );
        for c in &self.columns {
            let _ = writeln!(
                s,
                "| {} | {:?} | {} | {} | {} |",
                c.name, c.kind, c.missing, c.distinct, c.role
            );
        }
        s
    }
}
