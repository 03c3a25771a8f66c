//! The workspace's leads, read once per ledger version: each lead with
//! its status changes and touches, scored by seed 001's points
//! ([`LeadBook`]) or by a trained lead model ([`ModelScores`]). Cached by
//! [`crate::workspace::Loaded`]; the leads route computes its answers over
//! them.

use crate::error::ApiError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use pipewise_ledger::Store;
use pipewise_score::rules::{PointsModel, Routing};
use std::collections::{BTreeMap, HashMap};

/// The days after its arrival a lead has to convert (the decile table's window).
pub const WINDOW_DAYS: i64 = 90;

/// One lead as the workspace holds it, scored.
#[derive(Debug, Clone)]
pub struct Lead {
    /// Its id.
    pub id: String,
    /// When it arrived.
    pub created_at: i64,
    /// Its source.
    pub source: Option<String>,
    /// The company.
    pub company: Option<String>,
    /// The contact's title.
    pub title: Option<String>,
    /// Its owner (now).
    pub owner_id: Option<String>,
    /// When it converted.
    pub converted_at: Option<i64>,
    /// Its status now.
    pub status: Option<String>,
    /// Everything else the CRM sent.
    pub attributes: BTreeMap<String, String>,
    /// Its points.
    pub score: f64,
    /// Why: the criteria it met, or the model's strongest factors.
    pub reasons: Vec<String>,
}

/// Every lead, its status changes and the touches, read once per ledger
/// version.
pub struct LeadBook {
    /// The leads, by id.
    pub leads: Vec<Lead>,
    /// Per lead (same order): status changes (effective time, status), in time order.
    pub status: Vec<Vec<(i64, String)>>,
    /// Touches: (lead id, when).
    pub touches: Vec<(String, i64)>,
    /// The routing bands.
    pub routing: Routing,
    /// The scorer's name.
    pub scorer: String,
}

fn texts(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    match b.column_by_name(name) {
        Some(c) if c.data_type() == &arrow_schema::DataType::Utf8 => {
            let a = c.as_string::<i32>();
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
                .collect()
        }
        _ => vec![None; b.num_rows()],
    }
}

fn times(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    match b.column_by_name(name) {
        Some(c) if matches!(c.data_type(), arrow_schema::DataType::Timestamp(_, _)) => {
            let a = c.as_primitive::<TimestampMicrosecondType>();
            (0..a.len())
                .map(|i| a.is_valid(i).then(|| a.value(i)))
                .collect()
        }
        _ => vec![None; b.num_rows()],
    }
}

impl LeadBook {
    /// Read the workspace's leads, lead events and activities.
    pub fn load(store: &Store) -> Result<LeadBook, ApiError> {
        let points = PointsModel::seed_001().map_err(ApiError::internal)?;
        let routing = Routing::seed_001().map_err(ApiError::internal)?;
        let mut leads = Vec::new();
        for b in store.read_table("leads").map_err(ApiError::internal)? {
            let (id, created) = (texts(&b, "id"), times(&b, "created_at"));
            let (source, company, title, industry, country, status, owner, attrs) = (
                texts(&b, "source"),
                texts(&b, "company"),
                texts(&b, "title"),
                texts(&b, "industry"),
                texts(&b, "country"),
                texts(&b, "status"),
                texts(&b, "owner_id"),
                texts(&b, "attributes"),
            );
            let converted = times(&b, "converted_at");
            let employees: Vec<Option<i64>> = match b.column_by_name("employees") {
                Some(c) if c.data_type() == &arrow_schema::DataType::Int64 => {
                    let a = c.as_primitive::<Int64Type>();
                    (0..a.len())
                        .map(|i| a.is_valid(i).then(|| a.value(i)))
                        .collect()
                }
                _ => vec![None; b.num_rows()],
            };
            for i in 0..b.num_rows() {
                let (Some(id), Some(created_at)) = (id[i].clone(), created[i]) else {
                    continue;
                };
                let attributes: BTreeMap<String, String> = attrs[i]
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                    .and_then(|v| v.as_object().cloned())
                    .map(|o| {
                        o.into_iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    serde_json::Value::String(s) => s,
                                    other => other.to_string(),
                                };
                                (k, v)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // the fields the points model reads, by their names
                let mut fields = attributes.clone();
                for (k, v) in [
                    ("source", &source[i]),
                    ("company", &company[i]),
                    ("title", &title[i]),
                    ("industry", &industry[i]),
                    ("country", &country[i]),
                ] {
                    if let Some(v) = v {
                        fields.insert(k.into(), v.clone());
                    }
                }
                if let Some(e) = employees[i] {
                    fields.insert("employees".into(), e.to_string());
                }
                let s = points.score(&fields);
                leads.push(Lead {
                    id,
                    created_at,
                    source: source[i].clone(),
                    company: company[i].clone(),
                    title: title[i].clone(),
                    owner_id: owner[i].clone(),
                    converted_at: converted[i],
                    status: status[i].clone(),
                    attributes,
                    score: s.total,
                    reasons: s.reasons,
                });
            }
        }
        leads.sort_by(|a, b| a.id.cmp(&b.id));
        let index: HashMap<&str, usize> = leads
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let mut status: Vec<Vec<(i64, String)>> = vec![Vec::new(); leads.len()];
        for b in store
            .read_table("lead_events")
            .map_err(ApiError::internal)?
        {
            let (lead, field, new, at) = (
                texts(&b, "lead_id"),
                texts(&b, "field"),
                texts(&b, "new_value"),
                times(&b, "effective_at"),
            );
            for i in 0..b.num_rows() {
                if field[i].as_deref() != Some("status") {
                    continue;
                }
                if let (Some(l), Some(v), Some(t)) = (&lead[i], &new[i], at[i])
                    && let Some(&k) = index.get(l.as_str())
                {
                    status[k].push((t, v.clone()));
                }
            }
        }
        for s in &mut status {
            s.sort();
        }
        let mut touches = Vec::new();
        for b in store.read_table("activities").map_err(ApiError::internal)? {
            let (lead, at) = (texts(&b, "lead_id"), times(&b, "occurred_at"));
            for i in 0..b.num_rows() {
                if let (Some(l), Some(t)) = (&lead[i], at[i])
                    && !l.is_empty()
                {
                    touches.push((l.clone(), t));
                }
            }
        }
        Ok(LeadBook {
            leads,
            status,
            touches,
            routing,
            scorer: points.name.clone(),
        })
    }
}

/// A trained lead model's scores of every lead, by lead id: (probability ×
/// 100, its factors in words).
pub struct ModelScores {
    /// The scorer, in words (the model's name and estimator).
    pub scorer: String,
    /// Lead id → (score, factors).
    pub scores: HashMap<String, (f64, Vec<String>)>,
    /// Why the model cannot score the workspace's leads (its columns are
    /// not theirs), if it cannot: kept like the scores, so a model that
    /// does not fit is not tried again on every request.
    pub unfit: Option<String>,
}

impl ModelScores {
    /// Score every lead of the workspace with the model in `dir`: the leads
    /// as `pipewise leads rows` lays them out (each as it stood when it
    /// arrived), read as the model was trained. A model trained on other
    /// columns is the caller's to fix (400, naming them).
    pub fn score(
        store: &Store,
        process: &pipewise_model::SalesProcess,
        dir: &std::path::Path,
        name: &str,
    ) -> Result<ModelScores, ApiError> {
        let model = pipewise_score::model::LeadModel::load(dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        let rows = pipewise_score::leads::lead_rows(
            store,
            process,
            pipewise_score::leads::LeadOutcome::Converted,
            WINDOW_DAYS,
            None,
        )
        .map_err(ApiError::internal)?;
        let id_at = rows.header.iter().position(|h| h == "id").unwrap_or(0);
        let ids: Vec<String> = rows.rows.iter().map(|r| r[id_at].clone()).collect();
        let table: Vec<(u64, Vec<String>)> = rows
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 2, r))
            .collect();
        let mut load = model.load_options();
        load.target = String::new(); // score every lead, outcome or not
        load.id = None; // (matched by position: one scored row per lead)
        let scorer = format!("the trained lead model {name:?} ({})", model.card.estimator);
        let ds = match pipewise_score::dataset::rows_for_scoring(
            "the workspace's leads",
            &rows.header,
            &table,
            &load,
            &model.positive,
            &model.expected,
        ) {
            Ok((ds, _unreadable)) => ds,
            Err(e) => {
                return Ok(ModelScores {
                    scorer,
                    scores: HashMap::new(),
                    unfit: Some(format!(
                        "model={name:?} does not fit the workspace's leads: {e}; train it on `pipewise leads rows` output, or ask model=points"
                    )),
                });
            }
        };
        let scored = model.score(&ds, 3);
        let scores = ids
            .into_iter()
            .zip(scored)
            .map(|(id, s)| {
                (
                    id,
                    (
                        s.probability * 100.0,
                        s.factors.iter().map(|f| f.text()).collect(),
                    ),
                )
            })
            .collect();
        Ok(ModelScores {
            scorer,
            scores,
            unfit: None,
        })
    }
}
