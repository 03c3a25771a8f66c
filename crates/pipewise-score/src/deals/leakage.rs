//! The leakage audit of the ledger (issue #12 §5): a field filled in when
//! the deal ends describes the outcome, not the deal. The ledger knows when
//! each value arrived, so the audit reads behaviour, not names: a custom
//! field is flagged when, on most closed deals that have it, its first
//! value came at or near the close. The loss reason is always flagged (it
//! exists only for lost deals). Flagged fields are not features unless kept
//! with `--allow-feature custom.<name>`; unflagged custom fields are
//! features (their value as recorded by each cut).

use super::history::DealHistory;
use super::rows::Builder;
use crate::leakage::Flag;
use pipewise_ledger::Cut;
use pipewise_ledger::asof::exists;
use pipewise_model::time::MICROS_PER_DAY;
use pipewise_model::{Field, StageOutcome, Timestamp};

/// How near the close a first value counts as "at the close".
pub const NEAR_CLOSE_DAYS: i64 = 3;
/// The share of closed deals with the field whose first value came near the close, at and above
/// which the field is flagged.
pub const FLAG_SHARE: f64 = 0.5;

/// A custom field's audit.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldAudit {
    /// The field (`custom.<name>`).
    pub name: String,
    /// Closed deals that have a value for it.
    pub closed_with_value: usize,
    /// Of those, deals whose first value came within [`NEAR_CLOSE_DAYS`]
    /// of the close or after it.
    pub first_near_close: usize,
    /// Why it is flagged, if it is.
    pub flag: Option<Flag>,
}

/// Audit the ledger's custom fields as recorded by `known` (`None`:
/// everything).
pub fn audit(h: &DealHistory, known: Option<Timestamp>) -> Vec<FieldAudit> {
    let b = Builder::new(h, &[]);
    let cut = Cut {
        effective: known.unwrap_or(Timestamp::MAX),
        recorded: known,
    };
    let near = NEAR_CLOSE_DAYS * MICROS_PER_DAY;
    // each deal's close, as recorded by the cut
    let closes: Vec<Option<Timestamp>> = (0..h.log.keys.len() as u32)
        .map(|k| {
            if !exists(&h.log, k, cut) {
                return None;
            }
            b.stage_at(k, cut)
                .filter(|(s, _)| h.process.outcome(*s) != StageOutcome::Open)
                .map(|(_, at)| at)
        })
        .collect();
    h.custom
        .iter()
        .map(|f| {
            let name = f.name().into_owned();
            let (mut with, mut late) = (0usize, 0usize);
            if let Some(c) = h.log.column(f) {
                for (k, close) in closes.iter().enumerate() {
                    let Some(close) = close else { continue };
                    let first = c.run(k as u32).find(|&i| {
                        cut.recorded.is_none_or(|r| c.recorded_at[i] <= r)
                            && !matches!(c.new.get(i), pipewise_model::Value::Null)
                    });
                    if let Some(i) = first {
                        with += 1;
                        late += usize::from(c.effective_at[i] >= close - near);
                    }
                }
            }
            let flag = (with > 0 && late as f64 / with as f64 >= FLAG_SHARE).then(|| Flag {
                name: name.clone(),
                reason: format!(
                    "filled in at the close: on {late} of the {with} closed deals that have it, its first value came within {NEAR_CLOSE_DAYS} days of the close or after it"
                ),
            });
            FieldAudit {
                name,
                closed_with_value: with,
                first_near_close: late,
                flag,
            }
        })
        .collect()
}

/// The loss reason's flag: it is never a feature.
pub fn loss_reason_flag() -> Flag {
    Flag {
        name: Field::LossReason.name().into_owned(),
        reason: "a loss reason exists only for lost deals: it records the outcome".into(),
    }
}
