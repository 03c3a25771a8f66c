//! Leads in the caller's scope as of a day: each scored by seed 001's
//! points model (no training needed; its reasons are the factors), the
//! score distribution, lift by decile of score over leads whose 90-day
//! window had closed, and time to first touch against each band's SLA.
//!
//! Leads are scoped by their owner as the workspace holds it now (lead
//! owners have no history in the ledger), and their status as of the day
//! from the lead events. Contact details (attributes named like a name, an
//! email or a phone) are masked for roles that see every lead (exec): the
//! people who work a lead (its rep, their manager) and admins see them.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::deals::instant;
use crate::routes::metrics::audited;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use pipewise_model::time::{MICROS_PER_DAY, format_timestamp};
use pipewise_score::sla::{self, RoutedLead};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

pub use crate::lead_book::{Lead, LeadBook, ModelScores, WINDOW_DAYS};

/// Whether an attribute holds a person's contact details (masked for
/// roles that see every lead but do not work them).
pub fn is_contact(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["name", "email", "e-mail", "phone", "mobile", "fax"]
        .iter()
        .any(|p| k.contains(p))
        && k != "company_name"
}

/// `attributes` with contact details masked unless `visible`.
pub fn mask(attributes: &BTreeMap<String, String>, visible: bool) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|(k, v)| {
            let v = if !visible && is_contact(k) && !v.is_empty() {
                "•••".to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// Which leads.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LeadsQuery {
    /// The day (its end) to read the leads at (default: now).
    pub as_of: Option<String>,
    /// Only the team under this CRM user (inside the caller's scope).
    pub under: Option<String>,
    /// At most this many leads in `leads` and `breached` (default 200).
    pub limit: Option<usize>,
    /// The scorer: a trained lead model (`models/NAME/`, from `pipewise
    /// leads train` on `pipewise leads rows`), or `points` for seed 001's
    /// points. Default: the model named `leads` when the workspace has one,
    /// else the points.
    pub model: Option<String>,
    /// `leads` = the leads of this decile of the lift table (1 = highest scores).
    pub decile: Option<usize>,
    /// `leads` = this owner's leads (an SLA row; `(none)` for no owner).
    pub owner: Option<String>,
    /// `leads` = the leads of this routing band (an SLA row).
    pub band: Option<String>,
    /// `leads` = the leads in this state against their SLA (met, breached,
    /// overdue, open, no SLA, unknown arrival).
    pub sla: Option<String>,
    /// `leads` = the leads scoring at least this (a bin of the distribution).
    pub score_from: Option<f64>,
    /// … and below this.
    pub score_to: Option<f64>,
}

/// A lead as it stood.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadRow {
    /// Its id.
    pub id: String,
    /// When it arrived.
    pub created_at: String,
    /// Its owner.
    pub owner_id: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Status as of the day.
    pub status: Option<String>,
    /// Its score: seed 001's points, or the trained model's P(convert) × 100.
    pub score: f64,
    /// Its routing band.
    pub band: Option<String>,
    /// Why: the criteria it met, or the model's strongest factors.
    pub reasons: Vec<String>,
    /// Everything else the CRM sent (contact details masked when `masked`).
    pub attributes: BTreeMap<String, String>,
    /// Whether contact details are masked for the caller.
    pub masked: bool,
    /// Where it stands against its band's SLA as of the day.
    pub sla: String,
    /// Hours to its first touch.
    pub hours_to_first_touch: Option<f64>,
    /// When it converted, if it had by the day.
    pub converted_at: Option<String>,
}

/// Leads per band of score.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreBin {
    /// Points from (inclusive).
    pub from: f64,
    /// Points to (exclusive).
    pub to: f64,
    /// Leads.
    pub leads: usize,
}

/// One decile of leads ranked by score.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decile {
    /// 1 = the highest scores.
    pub decile: usize,
    /// Leads in it.
    pub leads: usize,
    /// Of those, converted within the window.
    pub converted: usize,
    /// converted ÷ leads.
    pub rate: Option<f64>,
    /// rate ÷ the overall rate.
    pub lift: Option<f64>,
    /// The lowest score in it.
    pub min_score: f64,
}

/// SLA results of one owner or band.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaRow {
    /// The owner or band.
    pub group: String,
    /// Leads.
    pub leads: usize,
    /// Leads judged (a band with an SLA, a readable arrival).
    pub judged: usize,
    /// Touched late.
    pub breached: usize,
    /// Not touched and past due.
    pub overdue: usize,
    /// (breached + overdue) ÷ judged.
    pub breach_rate: Option<f64>,
    /// Median hours to the first touch.
    pub median_hours: Option<f64>,
}

/// The leads page's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadsAnswer {
    /// The scorer: seed 001's points model or the trained lead model.
    pub scorer: String,
    /// Leads in scope that had arrived by the day.
    pub total: usize,
    /// The newest leads (at most `limit`); with `decile`, `owner`, `band`
    /// or `sla`, the newest of those leads.
    pub leads: Vec<LeadRow>,
    /// Leads `decile`, `owner`, `band` and `sla` select (all of `total`
    /// when none is given).
    pub matching: usize,
    /// Leads per 10 points.
    pub distribution: Vec<ScoreBin>,
    /// Lift by decile, over the leads whose window had closed by the day.
    pub deciles: Vec<Decile>,
    /// Leads in the decile table.
    pub judged_for_lift: usize,
    /// SLA per owner.
    pub sla_by_owner: Vec<SlaRow>,
    /// SLA per band.
    pub sla_by_band: Vec<SlaRow>,
    /// Breached or overdue leads, newest first (at most `limit`).
    pub breached: Vec<LeadRow>,
}

/// Lift by decile of `(score, converted)` pairs, ranked by score (ties by
/// the order given).
pub fn deciles(ranked: &[(f64, bool)]) -> Vec<Decile> {
    let n = ranked.len();
    let overall = ranked.iter().filter(|r| r.1).count() as f64 / n.max(1) as f64;
    (0..10)
        .filter_map(|d| {
            let (a, b) = (d * n / 10, (d + 1) * n / 10);
            let part = &ranked[a..b];
            if part.is_empty() {
                return None;
            }
            let converted = part.iter().filter(|r| r.1).count();
            let rate = converted as f64 / part.len() as f64;
            Some(Decile {
                decile: d + 1,
                leads: part.len(),
                converted,
                rate: Some(rate),
                lift: (overall > 0.0).then(|| rate / overall),
                min_score: part.iter().map(|r| r.0).fold(f64::INFINITY, f64::min),
            })
        })
        .collect()
}

/// Leads in the caller's scope as of a day: scores, lift, SLA.
#[utoipa::path(get, path = "/api/leads", tag = "leads", params(LeadsQuery),
    responses((status = 200, body = LeadsAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn leads(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<LeadsQuery>,
) -> ApiResult<Response> {
    let at = instant(q.as_of.as_deref(), "as_of")?;
    let ws = app.loaded().await?;
    let (scope, _) = super::request_scope(&ws, &p, q.under.as_deref())?;
    let described = scope.describe();
    let limit = q.limit.unwrap_or(200);
    let models = app.workspace.dir().join("models");
    let asked = q.model.is_some();
    let model = match q.model.as_deref() {
        Some("points") => None,
        Some(n) => {
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                return Err(ApiError::bad_request(format!(
                    "model={n:?}: letters, digits, - and _ only (or points)"
                )));
            }
            if !models.join(n).join("model.json").exists() {
                return Err(ApiError::not_found(format!(
                    "no trained lead model {n:?}: train one with `pipewise leads train --name {n}` on `pipewise leads rows`"
                )));
            }
            Some(n.to_string())
        }
        None => models
            .join("leads")
            .join("model.json")
            .exists()
            .then(|| "leads".to_string()),
    };
    // exec sees every lead but works none: contact details masked
    let contacts = !matches!(p.user.role, pipewise_state::Role::Exec);
    let answer = crate::compute(move || -> ApiResult<LeadsAnswer> {
        let book = ws.lead_book()?;
        let mut trained = model
            .as_deref()
            .map(|n| ws.lead_scores(&models.join(n), n))
            .transpose()?;
        // a model that does not fit the leads: an error when asked for by
        // name; by default, the points, saying why
        let mut unfit_note = None;
        if let Some(why) = trained.as_ref().and_then(|t| t.unfit.clone()) {
            if asked {
                return Err(ApiError::bad_request(why));
            }
            unfit_note = Some(why);
            trained = None;
        }
        // each lead's score and why: the trained model's, else the points
        let scores: Vec<(f64, Vec<String>)> =
            book.leads
                .iter()
                .map(|l| match &trained {
                    Some(t) => t.scores.get(&l.id).cloned().unwrap_or_else(|| {
                        (0.0, vec!["not in the rows the model scored".to_string()])
                    }),
                    None => (l.score, l.reasons.clone()),
                })
                .collect();
        let scorer = match (&trained, &unfit_note) {
            (Some(t), _) => t.scorer.clone(),
            (None, Some(why)) => format!("{} ({why})", book.scorer),
            (None, None) => book.scorer.clone(),
        };
        let present: Vec<usize> = (0..book.leads.len())
            .filter(|&i| {
                let l = &book.leads[i];
                l.created_at <= at && scope.admits(l.owner_id.as_deref())
            })
            .collect();
        let status_at = |i: usize| -> Option<String> {
            let s = &book.status[i];
            if s.is_empty() {
                return book.leads[i].status.clone();
            }
            s.iter()
                .rev()
                .find(|(t, _)| *t <= at)
                .map(|(_, v)| v.clone())
        };
        // SLA: each lead's band, its first touch by the day
        let routed: Vec<RoutedLead> = present
            .iter()
            .map(|&i| {
                let l = &book.leads[i];
                let band = book.routing.band(scores[i].0);
                RoutedLead {
                    id: l.id.clone(),
                    owner: l.owner_id.clone(),
                    band: band.map_or_else(|| "(no band)".into(), |b| b.name.clone()),
                    within_hours: band.and_then(|b| b.within_hours),
                    within_business_days: band.and_then(|b| b.within_business_days),
                    created: Some(l.created_at),
                }
            })
            .collect();
        let touches: Vec<(String, i64)> =
            book.touches.iter().filter(|t| t.1 <= at).cloned().collect();
        let judged = sla::judge(&routed, &touches, at);
        let sla_rows = |key: &dyn Fn(&sla::LeadSla) -> String| -> Vec<SlaRow> {
            sla::summarise(&judged, key)
                .into_iter()
                .map(|s| SlaRow {
                    group: s.group,
                    leads: s.leads,
                    judged: s.judged,
                    breached: s.breached,
                    overdue: s.overdue,
                    breach_rate: s.breach_rate,
                    median_hours: s.median_hours,
                })
                .collect()
        };
        let by_owner = sla_rows(&|j| j.lead.owner.clone().unwrap_or_else(|| "(none)".into()));
        let by_band = sla_rows(&|j| j.lead.band.clone());
        let row = |k: usize, j: &sla::LeadSla| {
            let i = present[k];
            let l = &book.leads[i];
            LeadRow {
                id: l.id.clone(),
                created_at: format_timestamp(l.created_at),
                owner_id: l.owner_id.clone(),
                source: l.source.clone(),
                company: l.company.clone(),
                title: l.title.clone(),
                status: status_at(i),
                score: scores[i].0,
                band: Some(j.lead.band.clone()),
                reasons: scores[i].1.clone(),
                attributes: mask(&l.attributes, contacts),
                masked: !contacts,
                sla: j.status.name().to_string(),
                hours_to_first_touch: j.hours,
                converted_at: l.converted_at.filter(|&c| c <= at).map(format_timestamp),
            }
        };
        // newest first
        let mut order: Vec<usize> = (0..present.len()).collect();
        order.sort_by_key(|&k| {
            (
                std::cmp::Reverse(book.leads[present[k]].created_at),
                present[k],
            )
        });
        // lift: leads whose window closed by the day, ranked by score (ties by id)
        let window = WINDOW_DAYS * MICROS_PER_DAY;
        let mut ranked: Vec<(f64, bool, &str, usize)> = present
            .iter()
            .enumerate()
            .map(|(k, &i)| (k, i, &book.leads[i]))
            .filter(|(_, _, l)| l.created_at + window <= at)
            .map(|(k, i, l)| {
                let converted = l
                    .converted_at
                    .is_some_and(|c| c <= l.created_at + window && c <= at);
                (scores[i].0, converted, l.id.as_str(), k)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(b.2)));
        let pairs: Vec<(f64, bool)> = ranked.iter().map(|r| (r.0, r.1)).collect();
        // the leads behind a number of the page: a decile, an SLA row
        let mut chosen = vec![true; present.len()];
        if let Some(d) = q.decile {
            if !(1..=10).contains(&d) {
                return Err(ApiError::bad_request(format!(
                    "decile={d}: expected 1 (the highest scores) to 10"
                )));
            }
            let n = ranked.len();
            let mut inside = vec![false; present.len()];
            for r in &ranked[(d - 1) * n / 10..d * n / 10] {
                inside[r.3] = true;
            }
            chosen = inside;
        }
        for (k, j) in judged.iter().enumerate() {
            let owner = j.lead.owner.as_deref().unwrap_or("(none)");
            let score = scores[present[k]].0;
            if q.score_from.is_some_and(|f| score < f)
                || q.score_to.is_some_and(|t| score >= t)
                || q.owner.as_deref().is_some_and(|o| o != owner)
                || q.band.as_deref().is_some_and(|b| b != j.lead.band)
                || q.sla.as_deref().is_some_and(|s| s != j.status.name())
            {
                chosen[k] = false;
            }
        }
        let matching = chosen.iter().filter(|&&c| c).count();
        let rows: Vec<LeadRow> = order
            .iter()
            .filter(|&&k| chosen[k])
            .take(limit)
            .map(|&k| row(k, &judged[k]))
            .collect();
        let breached: Vec<LeadRow> = order
            .iter()
            .filter(|&&k| judged[k].status.is_breach())
            .take(limit)
            .map(|&k| row(k, &judged[k]))
            .collect();
        // distribution: per 10 points
        let top = present.iter().map(|&i| scores[i].0).fold(0.0f64, f64::max);
        let bins = ((top / 10.0).floor() as usize) + 1;
        let mut distribution: Vec<ScoreBin> = (0..bins)
            .map(|b| ScoreBin {
                from: b as f64 * 10.0,
                to: (b + 1) as f64 * 10.0,
                leads: 0,
            })
            .collect();
        for &i in &present {
            let b = ((scores[i].0 / 10.0).floor() as usize).min(bins - 1);
            distribution[b].leads += 1;
        }
        Ok(LeadsAnswer {
            scorer,
            total: present.len(),
            leads: rows,
            matching,
            distribution,
            deciles: deciles(&pairs),
            judged_for_lift: pairs.len(),
            sla_by_owner: by_owner,
            sla_by_band: by_band,
            breached,
        })
    })
    .await
    .ok_or_else(|| ApiError::internal("the leads were cancelled"))??;
    Ok(audited(answer, described))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_details_are_masked_for_those_who_do_not_work_the_lead() {
        let a: BTreeMap<String, String> = [
            ("Email", "ana@example.com"),
            ("Phone", "+1 555 0100"),
            ("First Name", "Ana"),
            ("company_name", "Acme"),
            ("demo_request", "true"),
            ("mobile_phone", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = mask(&a, false);
        assert_eq!(m["Email"], "•••");
        assert_eq!(m["Phone"], "•••");
        assert_eq!(m["First Name"], "•••");
        assert_eq!(m["company_name"], "Acme");
        assert_eq!(m["demo_request"], "true");
        assert_eq!(m["mobile_phone"], "", "nothing to mask");
        assert_eq!(mask(&a, true), a);
    }

    #[test]
    fn deciles_split_the_ranking_in_ten_and_lift_is_against_the_overall_rate() {
        // 20 leads, 4 converted: the top two each in decile 1, then one in 3 and one in 10
        let mut r: Vec<(f64, bool)> = (0..20).map(|i| (100.0 - i as f64, false)).collect();
        r[0].1 = true;
        r[1].1 = true;
        r[5].1 = true;
        r[19].1 = true;
        let d = deciles(&r);
        assert_eq!(d.len(), 10);
        assert!(d.iter().all(|x| x.leads == 2));
        assert_eq!(d[0].converted, 2);
        assert_eq!(d[0].lift, Some(1.0 / 0.2));
        assert_eq!(d[2].converted, 1);
        assert_eq!(d[2].lift, Some(0.5 / 0.2));
        assert_eq!(d[9].converted, 1);
        assert_eq!(d[9].min_score, 81.0);
        assert_eq!(d[1].lift, Some(0.0));
    }
}
