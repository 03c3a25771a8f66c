//! Rule-based scores (issue #12 §2 "Points", §6 routing): transparent models
//! a sales team writes down, each a TOML file and each tested.
//!
//! - [`PointsModel`]: criteria over a lead's fields, each adding its points
//!   when it holds (seed 001's table ships as `rules/seed_001_points.toml`),
//!   then bands that route by the total (seed 001: > 80 to an AE within an
//!   hour, 50–80 to an SDR within four, else nurture).
//! - [`Rubric`]: components a rep scores from evidence, each 0 to its
//!   maximum, totalled and banded — seed 003's fit (0–10) and intent (0–10),
//!   intent qualification (0–9), budget authority and procurement (0–3 each)
//!   and closing readiness (0–8) are rubrics.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a rule file or a score is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// The file does not parse or validate.
    #[error("{file}: {message}")]
    Definition {
        /// The file.
        file: String,
        /// What to change.
        message: String,
    },
    /// A rubric score out of its component's range, or for no component.
    #[error("{0}")]
    Score(String),
}

/// One criterion of a points model: a test on one field, and its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// What it rewards, in words.
    pub label: String,
    /// Its category (firmographics, behavioral, …), for the weight report.
    pub category: String,
    /// The lead's field it reads.
    pub field: String,
    /// Points when it holds.
    pub points: f64,
    /// Holds when the field is a number above this.
    #[serde(default)]
    pub greater_than: Option<f64>,
    /// Holds when the field is one of these (any case).
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    /// Holds when the field contains one of these words (any case).
    #[serde(default)]
    pub contains_any: Option<Vec<String>>,
    /// Holds when the field is true (yes, true, 1).
    #[serde(default)]
    pub is_true: Option<bool>,
}

/// A band of the total and what it means: its name, its lower bound, the
/// action and its SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// The band's name.
    pub name: String,
    /// In the band when the total is above this (exclusive)…
    #[serde(default)]
    pub above: Option<f64>,
    /// …or at least this (inclusive).
    #[serde(default)]
    pub at_least: Option<f64>,
    /// What to do.
    pub action: String,
    /// Within how many hours (an SLA), if any.
    #[serde(default)]
    pub within_hours: Option<f64>,
    /// …or within how many business days (Monday to Friday, UTC).
    #[serde(default)]
    pub within_business_days: Option<u32>,
}

impl Band {
    /// Does a score fall in this band?
    pub fn holds(&self, total: f64) -> bool {
        match (self.above, self.at_least) {
            (Some(a), _) => total > a,
            (None, Some(l)) => total >= l,
            (None, None) => true,
        }
    }
}

/// A points model with its routing bands (first band that holds wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsModel {
    /// The model's name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub purpose: String,
    /// Its criteria.
    pub criteria: Vec<Criterion>,
    /// Its bands, highest first.
    #[serde(default)]
    pub bands: Vec<Band>,
}

/// A lead's score under a points model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointsScore {
    /// The total.
    pub total: f64,
    /// The criteria that held (their labels), in the model's order.
    pub reasons: Vec<String>,
    /// The band it falls in, if any.
    pub band: Option<String>,
}

impl PointsModel {
    /// Parse and check a model: every criterion has exactly one test.
    pub fn from_toml(text: &str, file: &str) -> Result<PointsModel, RuleError> {
        let bad = |message: String| RuleError::Definition {
            file: file.to_string(),
            message,
        };
        let m: PointsModel = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for c in &m.criteria {
            let tests = usize::from(c.greater_than.is_some())
                + usize::from(c.one_of.is_some())
                + usize::from(c.contains_any.is_some())
                + usize::from(c.is_true.is_some());
            if tests != 1 {
                return Err(bad(format!(
                    "criterion {:?} needs exactly one of greater_than, one_of, contains_any, is_true",
                    c.label
                )));
            }
        }
        Ok(m)
    }

    /// Seed 001's model, shipped with pipewise.
    pub fn seed_001() -> Result<PointsModel, RuleError> {
        PointsModel::from_toml(
            include_str!("../rules/seed_001_points.toml"),
            "built-in seed_001_points.toml",
        )
    }

    /// The highest total a lead can reach.
    pub fn max_total(&self) -> f64 {
        self.criteria.iter().map(|c| c.points).sum()
    }

    /// Each category's share of the maximum total (seed 001 asks for
    /// firmographics at 30–50% and behavior at 40–60%).
    pub fn category_shares(&self) -> BTreeMap<String, f64> {
        let max = self.max_total();
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for c in &self.criteria {
            *out.entry(c.category.clone()).or_default() += c.points / max;
        }
        out
    }

    /// Score a lead given as field → value.
    pub fn score(&self, lead: &BTreeMap<String, String>) -> PointsScore {
        let mut total = 0.0;
        let mut reasons = Vec::new();
        for c in &self.criteria {
            let Some(v) = lead
                .get(&c.field)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let low = v.to_ascii_lowercase();
            let holds = if let Some(t) = c.greater_than {
                v.parse::<f64>().is_ok_and(|x| x > t)
            } else if let Some(set) = &c.one_of {
                set.iter().any(|s| s.eq_ignore_ascii_case(v))
            } else if let Some(words) = &c.contains_any {
                words
                    .iter()
                    .any(|w| contains_word(&low, &w.to_ascii_lowercase()))
            } else {
                matches!(low.as_str(), "yes" | "true" | "1") == c.is_true.unwrap_or(true)
            };
            if holds {
                total += c.points;
                reasons.push(c.label.clone());
            }
        }
        PointsScore {
            total,
            reasons,
            band: self.band(total).map(|b| b.name.clone()),
        }
    }

    /// The band of a total: the first that holds.
    pub fn band(&self, total: f64) -> Option<&Band> {
        self.bands.iter().find(|b| b.holds(total))
    }
}

/// Routing bands alone (issue #12 §6): a score's band says who takes the
/// lead and within how many hours. A file of `[[bands]]`, first band that
/// holds wins; a points model's file can be read as one (its bands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// The bands, highest first.
    pub bands: Vec<Band>,
}

/// The part of any rules file that routing reads.
#[derive(Deserialize)]
struct BandsOnly {
    bands: Vec<Band>,
}

impl Routing {
    /// Parse the `[[bands]]` of a TOML file (other tables are ignored, so
    /// a points model's file routes by its own bands).
    pub fn from_toml(text: &str, file: &str) -> Result<Routing, RuleError> {
        let b: BandsOnly = toml::from_str(text).map_err(|e| RuleError::Definition {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        if b.bands.is_empty() {
            return Err(RuleError::Definition {
                file: file.to_string(),
                message: "no [[bands]]: routing needs at least one".into(),
            });
        }
        Ok(Routing { bands: b.bands })
    }

    /// Seed 001's bands: above 80 to an AE within 1 hour, 50–80 to an SDR
    /// within 4 hours, else nurture.
    pub fn seed_001() -> Result<Routing, RuleError> {
        Routing::from_toml(
            include_str!("../rules/seed_001_points.toml"),
            "built-in seed_001_points.toml",
        )
    }

    /// The band of a score: the first that holds.
    pub fn band(&self, score: f64) -> Option<&Band> {
        self.bands.iter().find(|b| b.holds(score))
    }
}

/// One route of a two-score matrix: a fit band and an intent band (or
/// `any`), and the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixRoute {
    /// The fit band it holds for, or `any`.
    pub fit: String,
    /// The intent band it holds for, or `any`.
    pub intent: String,
    /// What to do.
    pub action: String,
}

/// Routing on two banded scores (seed 003's fit × intent matrix): the first
/// route whose bands hold wins; a pair no route holds for gets none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatrix {
    /// The matrix's name.
    pub name: String,
    /// Its routes, in order.
    pub routes: Vec<MatrixRoute>,
}

impl RouteMatrix {
    /// Parse a matrix.
    pub fn from_toml(text: &str, file: &str) -> Result<RouteMatrix, RuleError> {
        let m: RouteMatrix = toml::from_str(text).map_err(|e| RuleError::Definition {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        Ok(m)
    }

    /// The route for a fit band and an intent band.
    pub fn route(&self, fit: &str, intent: &str) -> Option<&MatrixRoute> {
        let holds = |want: &str, got: &str| want == "any" || want.eq_ignore_ascii_case(got);
        self.routes
            .iter()
            .find(|r| holds(&r.fit, fit) && holds(&r.intent, intent))
    }
}

/// The named models of seeds 001 and 003 that ship with pipewise, by
/// name: `(name, kind, TOML)`, kind being `points`, `rubric`, `matrix` or
/// `routing` (bands alone).
pub fn shipped() -> [(&'static str, &'static str, &'static str); 9] {
    [
        (
            "seed_001_points",
            "points",
            include_str!("../rules/seed_001_points.toml"),
        ),
        (
            "seed_003_fit",
            "rubric",
            include_str!("../rules/seed_003_fit.toml"),
        ),
        (
            "seed_003_intent",
            "rubric",
            include_str!("../rules/seed_003_intent.toml"),
        ),
        (
            "seed_003_fit_intent_routing",
            "matrix",
            include_str!("../rules/seed_003_fit_intent_routing.toml"),
        ),
        (
            "seed_003_intent_0_9",
            "rubric",
            include_str!("../rules/seed_003_intent_0_9.toml"),
        ),
        (
            "seed_003_budget_procurement",
            "rubric",
            include_str!("../rules/seed_003_budget_procurement.toml"),
        ),
        (
            "seed_003_closing_readiness",
            "rubric",
            include_str!("../rules/seed_003_closing_readiness.toml"),
        ),
        (
            "seed_003_account_priority",
            "rubric",
            include_str!("../rules/seed_003_account_priority.toml"),
        ),
        (
            "seed_003_handoff",
            "routing",
            include_str!("../rules/seed_003_handoff.toml"),
        ),
    ]
}

/// A shipped matrix or rubric's TOML by name.
pub fn shipped_text(name: &str) -> Option<&'static str> {
    shipped()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, t)| t)
}

/// Does `text` contain `word` as a whole word (or phrase)?
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// One component of a rubric: scored 0 to `max` from evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// Its highest score.
    pub max: u32,
}

/// A rubric: components a rep scores, a total and bands on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    /// The rubric's name.
    pub name: String,
    /// Its components.
    pub components: Vec<Component>,
    /// Bands on the total, highest first (first that holds wins).
    pub bands: Vec<Band>,
}

/// A scored rubric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RubricScore {
    /// The total.
    pub total: u32,
    /// Its band.
    pub band: Option<String>,
    /// The band's action.
    pub action: Option<String>,
}

impl Rubric {
    /// Parse a rubric.
    pub fn from_toml(text: &str, file: &str) -> Result<Rubric, RuleError> {
        toml::from_str(text).map_err(|e| RuleError::Definition {
            file: file.to_string(),
            message: e.to_string(),
        })
    }

    /// The highest total.
    pub fn max_total(&self) -> u32 {
        self.components.iter().map(|c| c.max).sum()
    }

    /// Total and band of component scores (every component, each within 0
    /// and its maximum: a score out of range is an error, not clipped).
    pub fn score(&self, scores: &[(&str, u32)]) -> Result<RubricScore, RuleError> {
        let mut total = 0;
        for c in &self.components {
            let Some(&(_, v)) = scores.iter().find(|(n, _)| *n == c.name) else {
                return Err(RuleError::Score(format!(
                    "{}: no score for {:?}",
                    self.name, c.name
                )));
            };
            if v > c.max {
                return Err(RuleError::Score(format!(
                    "{}: {:?} scores 0 to {}, not {v}",
                    self.name, c.name, c.max
                )));
            }
            total += v;
        }
        if let Some((n, _)) = scores
            .iter()
            .find(|(n, _)| !self.components.iter().any(|c| c.name == *n))
        {
            return Err(RuleError::Score(format!(
                "{}: no component {n:?}",
                self.name
            )));
        }
        let band = self.bands.iter().find(|b| b.holds(f64::from(total)));
        Ok(RubricScore {
            total,
            band: band.map(|b| b.name.clone()),
            action: band.map(|b| b.action.clone()),
        })
    }
}
