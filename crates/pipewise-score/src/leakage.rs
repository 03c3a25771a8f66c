//! The leakage audit of a flat file (issue #12 §5): fields known only at or
//! after the outcome make every benchmark look good (a 0.99 AUC on CRM data
//! is a leak, not a model). Before training, each column is checked and
//! flagged, with the reason, and flagged columns are left out unless the user
//! keeps them (`--allow-feature`).
//!
//! A flat file has no history, so the audit reads two things:
//! - **the name**: fields that describe the record's end or whole life
//!   (tags and statuses set by staff after contact, quality judgements, last
//!   activities, close or loss reasons, durations and counts running to the
//!   close, the outcome itself under another name);
//! - **the behaviour**: one field alone separating the classes almost
//!   perfectly (its AUC as a score, categories scored out of fold so that a
//!   many-level field does not score itself).
//!
//! Identifiers and constants are not leaks but are no features either; they
//! are reported as such.

use crate::dataset::{Column, ColumnKind, Dataset, Values};
use crate::validate::auc;
use serde::{Deserialize, Serialize};

/// A column the audit keeps out of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// The column.
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

/// Name fragments (lower case) of fields set at or after the outcome, and
/// what each says.
const LEAKY_NAMES: [(&str, &str); 14] = [
    (
        "tag",
        "tags are set by staff as the lead is worked: they record the outcome",
    ),
    ("quality", "a quality judgement is made after contact"),
    (
        "status",
        "a status is set as the record moves to its outcome",
    ),
    (
        "last activity",
        "the last activity may come after the outcome",
    ),
    (
        "last notable activity",
        "the last activity may come after the outcome",
    ),
    ("close", "a close field is filled in at the close"),
    ("closing", "a duration to the closing runs to the outcome"),
    ("loss reason", "a loss reason exists only for lost records"),
    ("lost reason", "a loss reason exists only for lost records"),
    ("won", "it names the outcome"),
    ("converted", "it names the outcome"),
    ("outcome", "it names the outcome"),
    (
        "stage changes",
        "a count of stage changes runs to the outcome",
    ),
    ("final", "a final value is known only at the end"),
];

/// AUC (either way round) above which one field alone separates the classes
/// too well to be known before the outcome.
pub const SEPARATES_ALONE: f64 = 0.9;

/// Audit every column of a dataset. `allow` names columns to keep anyway
/// (they are not flagged; the model card warns instead).
pub fn audit(ds: &Dataset, allow: &[String]) -> Vec<Flag> {
    let mut flags = Vec::new();
    for c in &ds.columns {
        if allow.iter().any(|a| a == &c.name) {
            continue;
        }
        let reason = match c.kind {
            ColumnKind::Identifier => Some("an identifier: unique to each row, it cannot generalise".to_string()),
            ColumnKind::Constant => Some("one value on every row: it tells nothing".to_string()),
            _ => name_reason(&c.name).map(str::to_string).or_else(|| {
                let a = alone_auc(c, &ds.target)?;
                (a >= SEPARATES_ALONE).then(|| {
                    format!("alone it separates the classes almost perfectly (AUC {a:.3}): likely known only after the outcome")
                })
            }),
        };
        if let Some(reason) = reason {
            flags.push(Flag {
                name: c.name.clone(),
                reason,
            });
        }
    }
    flags
}

/// What a column's name says, when it names something known only at or
/// after the outcome.
pub fn name_reason(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    LEAKY_NAMES
        .iter()
        // the longest fragment that matches says the most
        .filter(|(frag, _)| n.contains(frag))
        .max_by_key(|(frag, _)| frag.len())
        .map(|(_, why)| *why)
}

/// How well a column alone ranks the classes: the AUC of its values
/// (numbers) or of its levels' positive rates (categories, rates learnt on
/// one half of the rows and scored on the other, both ways), either way
/// round. Missing values score as the overall rate. `None` without both
/// classes.
pub fn alone_auc(c: &Column, y: &[bool]) -> Option<f64> {
    let n = y.len();
    let overall = y.iter().filter(|&&v| v).count() as f64 / n.max(1) as f64;
    let scores: Vec<f64> = match &c.values {
        Values::Numbers(v) => {
            let mut present: Vec<f64> = v.iter().flatten().copied().collect();
            present.sort_by(f64::total_cmp);
            let median = present.get(present.len() / 2).copied().unwrap_or(0.0);
            v.iter().map(|x| x.unwrap_or(median)).collect()
        }
        Values::Levels { levels, codes } => {
            // two folds by row parity: deterministic, and no row scores itself
            let mut s = vec![overall; n];
            for fold in 0..2 {
                let mut pos = vec![0usize; levels.len()];
                let mut all = vec![0usize; levels.len()];
                for i in (0..n).filter(|i| i % 2 != fold) {
                    if let Some(l) = codes[i] {
                        all[l as usize] += 1;
                        pos[l as usize] += usize::from(y[i]);
                    }
                }
                for i in (0..n).filter(|i| i % 2 == fold) {
                    if let Some(l) = codes[i]
                        && all[l as usize] > 0
                    {
                        s[i] = pos[l as usize] as f64 / all[l as usize] as f64;
                    }
                }
            }
            s
        }
    };
    let a = auc(&scores, y)?;
    Some(a.max(1.0 - a))
}
