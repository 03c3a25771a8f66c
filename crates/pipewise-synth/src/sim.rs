//! Simulation of one opportunity's life, change by change.

use crate::params::{
    BUSINESS_CASE_LIFT, LOSS_SPLIT, NEGOTIATION_PASS, QUALIFICATION_PASS, REDLINING_PASS, Segment,
    params,
};
use chrono::Datelike;
use pipewise_model::time::{
    MICROS_PER_DAY, calendar_quarter_bounds, date_of, date_start, naive_from_date,
};
use pipewise_model::{
    Activity, ActivityType, Direction, Field, ForecastCategory, LossReason, SalesProcess,
    Timestamp, Value,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

/// One change the generator decided on.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one simulated change of a field
pub struct Change {
    pub at: Timestamp,
    pub field: Field,
    pub value: Value,
}

/// An opportunity as the generator made it.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one simulated opportunity and its changes
pub struct SimOpportunity {
    pub id: String,
    pub created_at: Timestamp,
    /// Every change in time order, initial values first (at `created_at`).
    pub changes: Vec<Change>,
    pub activities: Vec<Activity>,
}

impl SimOpportunity {
    /// The value of `field` as of `t`, straight from the generator's changes.
    pub fn value_at(&self, field: &Field, t: Timestamp) -> Value {
        let mut v = Value::Null;
        for c in &self.changes {
            if c.at > t {
                break;
            }
            if &c.field == field {
                v = c.value.clone();
            }
        }
        v
    }
}

pub(crate) struct OppInput<'a> {
    pub index: usize,
    pub segment: Segment,
    pub owner: &'a str,
    pub skill: f64,
    pub teammates: &'a [String],
    pub account_id: &'a str,
    pub created_at: Timestamp,
    pub end: Timestamp,
    pub with_activities: bool,
}

/// Map an instant onto the working hours (08:00–19:00 UTC) of its day, to the second.
pub(crate) fn business_hours(t: Timestamp) -> Timestamp {
    let day = t.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let in_day = t - day;
    // whole seconds, as CRMs record them
    let offset = ((in_day as i128 * 11) / 24) as i64 / 1_000_000 * 1_000_000;
    day + 8 * 3_600_000_000 + offset
}

fn days(d: f64) -> i64 {
    (d * MICROS_PER_DAY as f64) as i64
}

fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Last day of the calendar quarter a date falls in.
fn quarter_end(d: i32) -> i32 {
    let nd = naive_from_date(d);
    let q = (nd.month() - 1) / 3 + 1;
    calendar_quarter_bounds(nd.year(), q)
        .map(|(_, e)| e)
        .unwrap_or(d)
}

struct Builder<'p> {
    changes: Vec<Change>,
    end: Timestamp,
    process: &'p SalesProcess,
    fc: ForecastCategory,
    overridden: bool,
}

impl Builder<'_> {
    fn set(&mut self, at: Timestamp, field: Field, value: Value) -> bool {
        if at > self.end {
            return false;
        }
        self.changes.push(Change { at, field, value });
        true
    }

    /// Move to a stage. Probability and forecast category follow the stage
    /// (as in Salesforce) and are not recorded, except that a rep's
    /// forecast-category override is reset to the new stage's category.
    fn stage(&mut self, at: Timestamp, code: usize) -> bool {
        let st = &self.process.stages()[code];
        if !self.set(at, Field::Stage, Value::Text(st.name.clone())) {
            return false;
        }
        if self.overridden {
            self.set(
                at,
                Field::ForecastCategory,
                Value::Text(st.forecast_category.as_str().into()),
            );
            self.overridden = false;
        }
        self.fc = st.forecast_category;
        true
    }

    /// A rep overrides the forecast category of the current stage.
    fn override_fc(&mut self, at: Timestamp, fc: ForecastCategory) {
        if fc != self.fc && self.set(at, Field::ForecastCategory, Value::Text(fc.as_str().into())) {
            self.fc = fc;
            self.overridden = true;
        }
    }
}

const NAMES: [&str; 8] = [
    "Platform",
    "Expansion",
    "Pilot",
    "Rollout",
    "Analytics",
    "Migration",
    "Renewal",
    "Suite",
];
const SOURCES: [(&str, f64); 5] = [
    ("inbound", 0.40),
    ("outbound", 0.30),
    ("partner", 0.12),
    ("event", 0.10),
    ("referral", 0.08),
];

fn pick<'a>(rng: &mut ChaCha8Rng, table: &[(&'a str, f64)]) -> &'a str {
    let mut x = rng.random::<f64>();
    for (v, w) in table {
        if x < *w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

/// Simulate one opportunity. Deterministic in `rng`.
pub(crate) fn simulate(
    rng: &mut ChaCha8Rng,
    inp: &OppInput<'_>,
    process: &SalesProcess,
) -> SimOpportunity {
    let p = params(inp.segment);
    let id = format!("006{:015}", inp.index + 1);
    let t0 = inp.created_at;
    let mut b = Builder {
        changes: Vec::new(),
        end: inp.end,
        process,
        fc: process.stages()[0].forecast_category,
        overridden: false,
    };

    let amount_dist = LogNormal::new(p.amount_median.ln(), p.amount_sigma)
        .unwrap_or_else(|_| LogNormal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!()));
    let mut amount = (amount_dist.sample(rng) / 100.0).round().max(1.0) * 100.0;
    let mean_cycle: f64 = p.stage_days.iter().map(|(a, z)| (a + z) / 2.0).sum();
    // The rep's close-date estimate: sometimes optimistic, so about one deal in four slips.
    let estimate = mean_cycle * uniform(rng, (0.5, 1.2));
    let mut close_date = date_of(t0 + days(estimate));
    if rng.random::<f64>() < 0.3 {
        close_date = quarter_end(close_date);
    }
    let opp_type = {
        let x = rng.random::<f64>();
        if x < 0.7 {
            "new"
        } else if x < 0.9 {
            "expansion"
        } else {
            "renewal"
        }
    };
    let source = pick(rng, &SOURCES);
    let name = format!(
        "{} {}",
        NAMES[rng.random_range(0..NAMES.len())],
        inp.index + 1
    );
    let has_bc = rng.random::<f64>() < p.business_case_share;

    // Initial values.
    b.stage(t0, 0);
    b.set(t0, Field::Amount, Value::Number(amount));
    b.set(t0, Field::CloseDate, Value::Date(close_date));
    b.set(t0, Field::OwnerId, Value::Text(inp.owner.to_string()));
    b.set(t0, Field::Name, Value::Text(name));
    b.set(
        t0,
        Field::AccountId,
        Value::Text(inp.account_id.to_string()),
    );
    b.set(t0, Field::Type, Value::Text(opp_type.into()));
    b.set(t0, Field::Segment, Value::Text(inp.segment.as_str().into()));
    b.set(t0, Field::Source, Value::Text(source.into()));

    let win_mult = inp.skill * if has_bc { BUSINESS_CASE_LIFT } else { 1.0 };
    let pass = [
        QUALIFICATION_PASS,
        (p.opp_to_proposal / QUALIFICATION_PASS).min(0.97),
        (p.proposal_to_won * win_mult / (NEGOTIATION_PASS * REDLINING_PASS)).min(0.97),
        NEGOTIATION_PASS,
        REDLINING_PASS,
    ];
    let reassign_at_stage = if rng.random::<f64>() < 0.04 && !inp.teammates.is_empty() {
        Some(rng.random_range(0..4usize))
    } else {
        None
    };

    let mut t = t0;
    let mut stage = 0usize;
    let mut outcome_won: Option<bool> = None;
    let mut owner = inp.owner.to_string();
    loop {
        let dur = days(uniform(rng, p.stage_days[stage]));
        let passes = rng.random::<f64>() < pass[stage];
        let exit = if passes {
            t + dur
        } else {
            t + (dur as f64 * uniform(rng, (0.3, 1.0))) as i64
        };
        // Things that happen during the stage (before it ends, however it ends).
        let span = exit - t;
        if stage == 1 && has_bc {
            b.set(t + span / 2, Field::HasBusinessCase, Value::Bool(true));
        }
        if (stage == 2 || stage == 3) && rng.random::<f64>() < 0.18 {
            amount = ((amount * uniform(rng, (0.8, 1.15))) / 100.0)
                .round()
                .max(1.0)
                * 100.0;
            b.set(t + span / 3, Field::Amount, Value::Number(amount));
        }
        if stage == 2 && rng.random::<f64>() < 0.15 {
            b.override_fc(t + span / 4, ForecastCategory::Commit);
        }
        if stage == 3 && rng.random::<f64>() < 0.10 {
            b.override_fc(t + span / 4, ForecastCategory::BestCase);
        }
        if reassign_at_stage == Some(stage) {
            let new_owner = &inp.teammates[rng.random_range(0..inp.teammates.len())];
            if *new_owner != owner {
                owner = new_owner.clone();
                b.set(t + span / 5, Field::OwnerId, Value::Text(owner.clone()));
            }
        }
        // Slips: while the deal is still open after its close date, the rep pushes it.
        while date_start(close_date) + days(1.0) <= exit {
            let push_at = (date_start(close_date) + days(0.7)).max(t + 1);
            let new_close = if rng.random::<f64>() < 0.4 {
                quarter_end(date_of(exit) + 1)
            } else {
                date_of(exit) + rng.random_range(3..45)
            };
            close_date = new_close.max(close_date + 1);
            if !b.set(push_at, Field::CloseDate, Value::Date(close_date)) {
                break;
            }
        }
        if !passes {
            let reason = if stage == 0 {
                if rng.random::<f64>() < 0.5 {
                    LossReason::NoDecision
                } else {
                    LossReason::Other
                }
            } else {
                let mut x = rng.random::<f64>();
                let mut r = LossReason::Unknown;
                for (i, w) in LOSS_SPLIT.iter().enumerate() {
                    if x < *w {
                        r = LossReason::ALL[i];
                        break;
                    }
                    x -= w;
                }
                r
            };
            if b.stage(exit, process.lost_stage()) {
                b.set(exit, Field::CloseDate, Value::Date(date_of(exit)));
                b.set(exit, Field::LossReason, Value::Text(reason.as_str().into()));
                outcome_won = Some(false);
                // A few lost deals come back.
                if stage >= 1 && rng.random::<f64>() < 0.03 {
                    let back = exit + days(uniform(rng, (30.0, 90.0)));
                    if b.stage(back, 2) {
                        b.set(back, Field::LossReason, Value::Null);
                        let cd = date_of(back) + 45;
                        b.set(back, Field::CloseDate, Value::Date(cd));
                        let fin = back + days(uniform(rng, (20.0, 40.0)));
                        let won = rng.random::<f64>() < 0.3;
                        let st = if won {
                            process.won_stage()
                        } else {
                            process.lost_stage()
                        };
                        if b.stage(fin, st) {
                            b.set(fin, Field::CloseDate, Value::Date(date_of(fin)));
                            if !won {
                                b.set(
                                    fin,
                                    Field::LossReason,
                                    Value::Text(LossReason::NoDecision.as_str().into()),
                                );
                            }
                            outcome_won = Some(won);
                        }
                    }
                }
            }
            break;
        }
        if stage == 4 {
            // Won. Quarter-end effect: a deal won in the first week of a quarter is often
            // pulled into the last day of the previous one.
            let mut won_at = exit;
            let d = date_of(exit);
            let nd = naive_from_date(d);
            let q = (nd.month() - 1) / 3 + 1;
            if let Some((qs, _)) = calendar_quarter_bounds(nd.year(), q)
                && d - qs < 7
                && rng.random::<f64>() < 0.5
            {
                let pulled = date_start(qs - 1) + days(0.65);
                let last = b.changes.last().map(|c| c.at).unwrap_or(t0);
                if pulled > last && pulled > t {
                    won_at = pulled;
                }
            }
            if b.stage(won_at, process.won_stage()) {
                b.set(won_at, Field::CloseDate, Value::Date(date_of(won_at)));
                outcome_won = Some(true);
            }
            break;
        }
        if !b.stage(exit, stage + 1) {
            break; // the history ends while the deal is open
        }
        t = exit;
        stage += 1;
    }
    b.changes.sort_by_key(|c| c.at);
    // Working hours: map each day's 24 hours linearly onto 08:00–19:00. The
    // map is monotonic, so the order of changes is kept.
    for c in &mut b.changes {
        c.at = business_hours(c.at);
    }

    let mut activities = Vec::new();
    if inp.with_activities {
        let last = b.changes.last().map(|c| c.at).unwrap_or(t0);
        let span = (last - t0).max(days(1.0));
        let n_seller = (4 + (span / days(1.0)) / 4).min(60) as usize;
        // Seed 000: a 10:1 seller:buyer ratio marks a deal going nowhere.
        let ratio = match outcome_won {
            Some(true) => uniform(rng, (2.0, 4.0)),
            Some(false) => uniform(rng, (6.0, 12.0)),
            None => uniform(rng, (3.0, 8.0)),
        };
        let n_buyer = ((n_seller as f64 / ratio).round() as usize)
            .max(usize::from(outcome_won == Some(true)));
        for k in 0..n_seller + n_buyer {
            let seller = k < n_seller;
            let at = t0 + (span as f64 * rng.random::<f64>()) as i64;
            let x = rng.random::<f64>();
            let ty = if seller {
                if x < 0.5 {
                    ActivityType::Email
                } else if x < 0.8 {
                    ActivityType::Call
                } else {
                    ActivityType::Meeting
                }
            } else if x < 0.7 {
                ActivityType::Email
            } else {
                ActivityType::Meeting
            };
            let duration = match ty {
                ActivityType::Call => Some(uniform(rng, (5.0, 40.0)).round()),
                ActivityType::Meeting => Some([30.0, 45.0, 60.0][rng.random_range(0..3)]),
                _ => None,
            };
            // One of four buying-committee contacts per account, taken from
            // the activity's minute (no draw from the deal's random stream,
            // which would move every later draw): the first is an executive.
            let contact = (at / 60_000_000).rem_euclid(4);
            activities.push(Activity {
                id: String::new(), // numbered by the company, in a stable order
                opportunity_id: Some(id.clone()),
                account_id: Some(inp.account_id.to_string()),
                lead_id: None,
                activity_type: ty,
                direction: Some(if seller {
                    Direction::SellerToBuyer
                } else {
                    Direction::BuyerToSeller
                }),
                occurred_at: at,
                duration_minutes: duration,
                owner_id: Some(inp.owner.to_string()),
                contact_id: Some(format!("{}-contact-{contact}", inp.account_id)),
                contact_seniority: Some(
                    ["executive", "manager", "individual", "individual"][contact as usize].into(),
                ),
            });
        }
        activities.sort_by_key(|a| (a.occurred_at, a.direction.map(|d| d.as_str())));
    }

    for a in &mut activities {
        a.occurred_at = business_hours(a.occurred_at);
    }
    SimOpportunity {
        id,
        created_at: business_hours(t0),
        changes: b.changes,
        activities,
    }
}
