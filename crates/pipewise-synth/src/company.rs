//! The company: people, accounts, quotas, leads, opportunities, activities.

use crate::params::{Segment, params};
use crate::sim::{OppInput, SimOpportunity, simulate};
use chrono::Datelike;
use pipewise_ledger::{Commit, IngestRecord, NewOpportunity, Store, tables};
use pipewise_model::time::{
    MICROS_PER_DAY, calendar_quarter_bounds, date_end, date_of, date_start, format_date,
    naive_from_date,
};
use pipewise_model::{
    Account, Activity, ActivityType, Direction, Lead, LeadEvent, OpportunityEvent, Quota, Role,
    SalesProcess, Timestamp, User, Value,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Why a company could not be generated.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // each variant is described by its #[error] message
pub enum SynthError {
    #[error("size {0:?} is not small, medium, large or a number of opportunities")]
    BadSize(String),
    #[error("{0}")]
    Ledger(#[from] pipewise_ledger::LedgerError),
    #[error("{0}")]
    Arrow(#[from] pipewise_ledger::tables::ArrowError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
}

/// How big a company to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the sizes are their names (`Size::opportunities` says how many)
pub enum Size {
    /// About 50 reps, two years, 4,000 opportunities.
    Small,
    /// 20,000 opportunities.
    Medium,
    /// 1,000,000 opportunities (~15M ledger events); no leads or activities.
    Large,
    Opportunities(usize),
}

impl Size {
    /// `small`, `medium`, `large` or a number of opportunities.
    pub fn parse(s: &str) -> Result<Size, SynthError> {
        match s {
            "small" => Ok(Size::Small),
            "medium" => Ok(Size::Medium),
            "large" => Ok(Size::Large),
            n => n
                .replace('_', "")
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .map(Size::Opportunities)
                .ok_or_else(|| SynthError::BadSize(s.to_string())),
        }
    }

    /// How many opportunities a company of this size has.
    pub fn opportunities(self) -> usize {
        match self {
            Size::Small => 4_000,
            Size::Medium => 20_000,
            Size::Large => 1_000_000,
            Size::Opportunities(n) => n,
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed: same seed, same company, byte for byte.
    pub seed: u64,
    /// How many opportunities.
    pub opportunities: usize,
    /// Last day of the history (inclusive).
    pub end: i32,
    /// Years of history before `end` (365 days each; default 2).
    pub years: u32,
    /// Generate the lead funnel (default: up to 50,000 opportunities).
    pub leads: bool,
    /// Generate activities (default: up to 200,000 opportunities).
    pub activities: bool,
}

impl Config {
    /// The default company of this size from this seed.
    pub fn new(seed: u64, size: Size) -> Config {
        let n = size.opportunities();
        Config {
            seed,
            opportunities: n,
            end: pipewise_model::time::ymd(2026, 6, 30).unwrap_or(0),
            years: 2,
            leads: n <= 50_000,
            activities: n <= 200_000,
        }
    }
}

/// A generated company.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the generated tables
pub struct Company {
    pub config: Config,
    pub start: Timestamp,
    pub end: Timestamp,
    pub users: Vec<User>,
    pub accounts: Vec<Account>,
    pub quotas: Vec<Quota>,
    pub leads: Vec<Lead>,
    pub lead_events: Vec<LeadEvent>,
    pub opportunities: Vec<SimOpportunity>,
    pub activities: Vec<Activity>,
}

/// A random stream for one purpose and index: the same numbers whatever else
/// the generator does, so output is stable under refactoring of other parts.
fn stream(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.set_stream(index);
    r
}

const TAG_PEOPLE: u64 = 1;
const TAG_ACCOUNTS: u64 = 2;
const TAG_OPP: u64 = 3;
const TAG_LEAD: u64 = 4;
const TAG_LEAD_TOUCH: u64 = 5;

const FIRST: [&str; 16] = [
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Luca",
    "Maya", "Nils", "Olu", "Priya",
];
const LAST: [&str; 16] = [
    "Adams", "Bauer", "Chen", "Diaz", "Eze", "Fischer", "Gupta", "Haddad", "Ito", "Jensen", "Khan",
    "Lopez", "Moreau", "Novak", "Okafor", "Park",
];
const INDUSTRIES: [&str; 8] = [
    "software",
    "healthcare",
    "financial_services",
    "manufacturing",
    "retail",
    "logistics",
    "education",
    "media",
];
const REGIONS: [(&str, f64); 3] = [("NA", 0.5), ("EMEA", 0.3), ("APAC", 0.2)];

fn segment_of(x: f64) -> Segment {
    if x < 0.45 {
        Segment::Smb
    } else if x < 0.80 {
        Segment::MidMarket
    } else {
        Segment::Enterprise
    }
}

fn region_of(x: f64) -> &'static str {
    let mut x = x;
    for (r, w) in REGIONS {
        if x < w {
            return r;
        }
        x -= w;
    }
    "NA"
}

struct Rep {
    id: String,
    segment: Segment,
    skill: f64,
    hire: i32,
    ramp_months: u32,
    team: usize,
}

/// Build the company. `progress(done, total)` is called as opportunities are simulated.
pub fn generate(
    config: &Config,
    process: &SalesProcess,
    progress: &mut dyn FnMut(u64, u64),
) -> Company {
    let n = config.opportunities;
    let end_day = config.end;
    let history_days = 365 * config.years.max(1) as i32;
    let start_day = end_day - history_days + 1;
    let start = date_start(start_day);
    let end = date_end(end_day);
    let mut rng = stream(config.seed, TAG_PEOPLE, 0);

    // People: a CRO, a VP per segment, first-line managers with ~8 reps each.
    let n_reps = (n / 80).max(5);
    let n_managers = n_reps.div_ceil(8);
    let mut users = Vec::new();
    let person = |rng: &mut ChaCha8Rng, k: usize| -> (String, String) {
        let f = FIRST[rng.random_range(0..FIRST.len())];
        let l = LAST[rng.random_range(0..LAST.len())];
        (
            format!("{f} {l}"),
            format!("{}.{}{}@example.com", f.to_lowercase(), l.to_lowercase(), k),
        )
    };
    let uid = |k: usize| format!("005{:015}", k + 1);
    let mut k = 0usize;
    let (name, email) = person(&mut rng, k);
    let cro = uid(k);
    users.push(User {
        id: cro.clone(),
        name,
        email: Some(email),
        role: Role::Exec,
        manager_id: None,
        team: None,
        segment: None,
        region: None,
        hire_date: Some(start_day - 1200),
        ramp_months: None,
    });
    k += 1;
    let mut vps = HashMap::new();
    for s in Segment::ALL {
        let (name, email) = person(&mut rng, k);
        vps.insert(s, uid(k));
        users.push(User {
            id: uid(k),
            name,
            email: Some(email),
            role: Role::Manager,
            manager_id: Some(cro.clone()),
            team: None,
            segment: Some(s.as_str().into()),
            region: None,
            hire_date: Some(start_day - 900),
            ramp_months: None,
        });
        k += 1;
    }
    let mut teams: Vec<(String, Segment, &'static str, String)> = Vec::new(); // (manager id, segment, region, team name)
    for m in 0..n_managers {
        let seg = segment_of((m as f64 + 0.5) / n_managers as f64);
        let region = region_of(rng.random::<f64>());
        let (name, email) = person(&mut rng, k);
        let team = format!("{}-{}-{}", seg.as_str(), region.to_lowercase(), m + 1);
        users.push(User {
            id: uid(k),
            name,
            email: Some(email),
            role: Role::Manager,
            manager_id: vps.get(&seg).cloned(),
            team: Some(team.clone()),
            segment: Some(seg.as_str().into()),
            region: Some(region.into()),
            hire_date: Some(start_day - rng.random_range(200..1500)),
            ramp_months: None,
        });
        teams.push((uid(k), seg, region, team));
        k += 1;
    }
    let mut reps: Vec<Rep> = Vec::new();
    for r in 0..n_reps {
        let t = r % n_managers;
        let (mgr, seg, region, team) = &teams[t];
        let hire = if rng.random::<f64>() < 0.75 {
            start_day - rng.random_range(90..1500)
        } else {
            start_day + rng.random_range(0..history_days - 130) // 600 days of two years
        };
        let ramp = match seg {
            Segment::Smb => 3,
            Segment::MidMarket => 4,
            Segment::Enterprise => 6,
        };
        let skill = {
            // Sum of uniforms ≈ normal(1, 0.18), clipped.
            let z: f64 = (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0;
            (1.0 + 0.25 * z).clamp(0.5, 1.6)
        };
        let (name, email) = person(&mut rng, k);
        users.push(User {
            id: uid(k),
            name,
            email: Some(email),
            role: Role::Rep,
            manager_id: Some(mgr.clone()),
            team: Some(team.clone()),
            segment: Some(seg.as_str().into()),
            region: Some((*region).into()),
            hire_date: Some(hire),
            ramp_months: Some(ramp),
        });
        reps.push(Rep {
            id: uid(k),
            segment: *seg,
            skill,
            hire,
            ramp_months: ramp,
            team: t,
        });
        k += 1;
    }
    let mut by_segment: HashMap<Segment, Vec<usize>> = HashMap::new();
    for (i, r) in reps.iter().enumerate() {
        by_segment.entry(r.segment).or_default().push(i);
    }
    let mut teammates: Vec<Vec<String>> = vec![Vec::new(); n_managers];
    for r in &reps {
        teammates[r.team].push(r.id.clone());
    }

    // Accounts.
    let mut arng = stream(config.seed, TAG_ACCOUNTS, 0);
    let n_accounts = (n / 5).max(30);
    let mut accounts = Vec::with_capacity(n_accounts);
    let mut acc_by_segment: HashMap<Segment, Vec<usize>> = HashMap::new();
    for a in 0..n_accounts {
        let seg = segment_of((a as f64 + 0.5) / n_accounts as f64);
        let employees: i64 = match seg {
            Segment::Smb => arng.random_range(10..200),
            Segment::MidMarket => arng.random_range(200..2000),
            Segment::Enterprise => arng.random_range(2000..50000),
        };
        let owners = by_segment.get(&seg).map(Vec::as_slice).unwrap_or(&[]);
        let owner = owners
            .get(arng.random_range(0..owners.len().max(1)))
            .map(|&i| reps[i].id.clone());
        accounts.push(Account {
            id: format!("001{:015}", a + 1),
            name: format!(
                "{} {} {}",
                LAST[arng.random_range(0..LAST.len())],
                [
                    "Labs",
                    "Systems",
                    "Group",
                    "Health",
                    "Logistics",
                    "Partners"
                ][arng.random_range(0..6)],
                a + 1
            ),
            industry: Some(INDUSTRIES[arng.random_range(0..INDUSTRIES.len())].into()),
            employees: Some(employees),
            annual_revenue: Some(
                ((employees as f64) * arng.random_range(80_000.0..250_000.0) / 1000.0).round()
                    * 1000.0,
            ),
            region: Some(region_of(arng.random::<f64>()).into()),
            owner_id: owner,
            custom: vec![(
                "tier".into(),
                if employees > 5000 {
                    "1"
                } else if employees > 500 {
                    "2"
                } else {
                    "3"
                }
                .into(),
            )],
        });
        acc_by_segment.entry(seg).or_default().push(a);
    }

    // Opportunities.
    let window_days = history_days - 20;
    let mut opportunities = Vec::with_capacity(n);
    let mut activities = Vec::new();
    for i in 0..n {
        let mut r = stream(config.seed, TAG_OPP, i as u64);
        let day = start_day + r.random_range(0..window_days);
        let created = date_start(day) + r.random_range(9 * 3600..18 * 3600) * 1_000_000;
        // Choose a rep of the drawn segment who was hired; ramping reps get fewer deals.
        let seg = segment_of(r.random::<f64>());
        let all: Vec<usize> = (0..reps.len()).collect();
        let pool = match by_segment.get(&seg) {
            Some(p) if !p.is_empty() => p.as_slice(),
            _ => all.as_slice(),
        };
        let mut rep = pool.first().copied().unwrap_or(0);
        for _ in 0..16 {
            let cand = pool[r
                .random_range(0..pool.len().max(1))
                .min(pool.len().saturating_sub(1))];
            let months = f64::from(day - reps[cand].hire) / 30.4;
            if months <= 0.0 {
                continue;
            }
            rep = cand;
            if r.random::<f64>() < (months / f64::from(reps[cand].ramp_months)).min(1.0) {
                break;
            }
        }
        let accs = acc_by_segment
            .get(&reps[rep].segment)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let acc = accs
            .get(r.random_range(0..accs.len().max(1)))
            .copied()
            .unwrap_or(0);
        let team = &teammates[reps[rep].team];
        let others: Vec<String> = team
            .iter()
            .filter(|t| **t != reps[rep].id)
            .cloned()
            .collect();
        let inp = OppInput {
            index: i,
            segment: reps[rep].segment,
            owner: &reps[rep].id,
            skill: reps[rep].skill,
            teammates: &others,
            account_id: &accounts[acc].id,
            created_at: created,
            end,
            with_activities: config.activities,
        };
        let mut o = simulate(&mut r, &inp, process);
        activities.append(&mut o.activities);
        opportunities.push(o);
        if i % 10_000 == 9_999 {
            progress(i as u64 + 1, n as u64);
        }
    }
    progress(n as u64, n as u64);
    // Leads: the converting lead of each opportunity plus the leads that fell out
    // at each step, in the seed's proportions.
    let (leads, lead_events) = if config.leads {
        make_leads(config.seed, &opportunities, &accounts)
    } else {
        (Vec::new(), Vec::new())
    };
    if config.activities {
        activities.extend(lead_touches(config.seed, &leads, &lead_events));
    }
    for (j, a) in activities.iter_mut().enumerate() {
        a.id = format!("00T{:015}", j + 1);
    }

    let quotas = make_quotas(&reps, &opportunities, process, start_day, end_day);

    Company {
        config: config.clone(),
        start,
        end,
        users,
        accounts,
        quotas,
        leads,
        lead_events,
        opportunities,
        activities,
    }
}

/// The first seller touch of each lead (an email or a call), after a
/// response delay and before the lead is accepted: inbound sources are
/// answered faster (median 3 hours) than the rest (median 8 hours), with a
/// long tail; 15% of leads that never got accepted were never touched.
/// Assumption: the seeds give targets (003: under 2 hours; 001: under 24),
/// not a distribution.
fn lead_touches(seed: u64, leads: &[Lead], events: &[LeadEvent]) -> Vec<Activity> {
    // Each lead's first status after New: when, and whether it was a rejection.
    let mut next_status: HashMap<&str, (Timestamp, bool)> = HashMap::new();
    for e in events {
        if e.new_value.as_deref() != Some("New") {
            next_status.entry(e.lead_id.as_str()).or_insert((
                e.effective_at,
                e.new_value.as_deref() == Some("Disqualified"),
            ));
        }
    }
    let mut out = Vec::with_capacity(leads.len());
    for (i, l) in leads.iter().enumerate() {
        let mut r = stream(seed, TAG_LEAD_TOUCH, i as u64);
        let next = next_status.get(l.id.as_str()).copied();
        let never_accepted = next.is_some_and(|(_, rejected)| rejected);
        if never_accepted && r.random::<f64>() < 0.15 {
            continue;
        }
        let inbound = matches!(l.source.as_deref(), Some("web" | "paid_search"));
        let median_hours: f64 = if inbound { 3.0 } else { 8.0 };
        // log-normal: median × e^(1.1 z), z standard normal (Box–Muller)
        let (u1, u2): (f64, f64) = (r.random::<f64>().max(1e-12), r.random());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let mut delay = (median_hours * (1.1 * z).exp() * 3_600e6) as i64;
        if let Some((t, _)) = next {
            delay = delay.min(((t - l.created_at) as f64 * 0.9) as i64);
        }
        let call = r.random::<f64>() < 0.4;
        out.push(Activity {
            id: String::new(),
            opportunity_id: None,
            account_id: None,
            lead_id: Some(l.id.clone()),
            activity_type: if call {
                ActivityType::Call
            } else {
                ActivityType::Email
            },
            direction: Some(Direction::SellerToBuyer),
            occurred_at: (l.created_at + delay.max(60_000_000)) / 1_000_000 * 1_000_000,
            duration_minutes: call.then(|| (3.0 + 12.0 * r.random::<f64>()).round()),
            owner_id: l.owner_id.clone(),
            // the lead is the person
            contact_id: None,
            contact_seniority: None,
        });
    }
    out
}

fn segment_from_str(s: &str) -> Segment {
    match s {
        "smb" => Segment::Smb,
        "enterprise" => Segment::Enterprise,
        _ => Segment::MidMarket,
    }
}

fn make_leads(
    seed: u64,
    opps: &[SimOpportunity],
    accounts: &[Account],
) -> (Vec<Lead>, Vec<LeadEvent>) {
    let mut leads = Vec::new();
    let mut events = Vec::new();
    let day = |d: f64| (d * MICROS_PER_DAY as f64) as i64;
    const SOURCES: [&str; 5] = ["web", "paid_search", "referral", "event", "outbound_list"];
    const TITLES: [&str; 4] = ["VP", "Director", "Manager", "Analyst"];
    for (i, o) in opps.iter().enumerate() {
        let mut r = stream(seed, TAG_LEAD, i as u64);
        let seg = match o.value_at(&pipewise_model::Field::Segment, o.created_at) {
            Value::Text(s) => segment_from_str(&s),
            _ => Segment::MidMarket,
        };
        let p = params(seg);
        let owner = match o.value_at(&pipewise_model::Field::OwnerId, o.created_at) {
            Value::Text(s) => Some(s),
            _ => None,
        };
        let company = match o.value_at(&pipewise_model::Field::AccountId, o.created_at) {
            Value::Text(a) => accounts.iter().find(|x| x.id == a).map(|x| x.name.clone()),
            _ => None,
        };
        // depth: 3 = converted, 2 = SQL that did not convert, 1 = SAL only, 0 = lead only
        let mut depths = vec![3u8];
        let frac = |r: &mut ChaCha8Rng, x: f64| {
            x.floor() as usize + usize::from(r.random::<f64>() < x.fract())
        };
        let sql_fail = frac(&mut r, (1.0 - p.sql_to_opp) / p.sql_to_opp);
        depths.extend(std::iter::repeat_n(2, sql_fail));
        let sqls = 1 + sql_fail;
        let sal_fail = frac(&mut r, sqls as f64 * (1.0 - p.sal_to_sql) / p.sal_to_sql);
        depths.extend(std::iter::repeat_n(1, sal_fail));
        let sals = sqls + sal_fail;
        let lead_fail = frac(&mut r, sals as f64 * (1.0 - p.lead_to_sal) / p.lead_to_sal);
        depths.extend(std::iter::repeat_n(0, lead_fail));
        for (j, &depth) in depths.iter().enumerate() {
            let id = format!("00Q{:09}{:06}", i + 1, j + 1);
            let d1 =
                day(p.lead_days[0].0 + (p.lead_days[0].1 - p.lead_days[0].0) * r.random::<f64>());
            let d2 =
                day(p.lead_days[1].0 + (p.lead_days[1].1 - p.lead_days[1].0) * r.random::<f64>());
            let d3 = day(1.0 + 4.0 * r.random::<f64>());
            let created = if depth == 3 {
                o.created_at - d3 - d2 - d1
            } else {
                o.created_at - d3 - d2 - d1 + day(r.random_range(-60.0..60.0))
            };
            let q = f64::from(depth);
            let source = if r.random::<f64>() < 0.1 + 0.12 * q {
                "referral"
            } else {
                SOURCES[r.random_range(0..SOURCES.len())]
            };
            let title = if r.random::<f64>() < 0.12 + 0.12 * q {
                "VP"
            } else {
                TITLES[r.random_range(1..TITLES.len())]
            };
            let views = (q * 2.0 + 3.0 * r.random::<f64>()).floor() as i64;
            let demo = r.random::<f64>() < 0.08 + 0.2 * q;
            let mut status_at = vec![(created, "New")];
            let t_sal = created + d1;
            let t_sql = t_sal + d2;
            match depth {
                0 => status_at.push((t_sal, "Disqualified")),
                1 => {
                    status_at.push((t_sal, "Sales Accepted"));
                    status_at.push((t_sql, "Disqualified"));
                }
                2 => {
                    status_at.push((t_sal, "Sales Accepted"));
                    status_at.push((t_sql, "Sales Qualified"));
                    status_at.push((t_sql + d3, "Disqualified"));
                }
                _ => {
                    status_at.push((t_sal, "Sales Accepted"));
                    status_at.push((t_sql, "Sales Qualified"));
                    status_at.push((o.created_at, "Converted"));
                }
            }
            let mut prev: Option<&str> = None;
            for (t, s) in &status_at {
                events.push(LeadEvent {
                    lead_id: id.clone(),
                    field: "status".into(),
                    old_value: prev.map(str::to_string),
                    new_value: Some((*s).to_string()),
                    effective_at: *t,
                    recorded_at: *t,
                    source: "synth".into(),
                });
                prev = Some(s);
            }
            let employees = match seg {
                Segment::Smb => r.random_range(10..200),
                Segment::MidMarket => r.random_range(200..2000),
                Segment::Enterprise => r.random_range(2000..50000),
            };
            leads.push(Lead {
                id,
                created_at: created,
                source: Some(source.into()),
                company: if depth == 3 {
                    company.clone()
                } else {
                    Some(format!("Prospect {}-{}", i + 1, j + 1))
                },
                title: Some(title.into()),
                industry: Some(INDUSTRIES[r.random_range(0..INDUSTRIES.len())].into()),
                employees: Some(employees),
                country: Some(
                    ["US", "GB", "DE", "FR", "JP", "AU", "BR"][r.random_range(0..7)].into(),
                ),
                status: status_at.last().map(|(_, s)| (*s).to_string()),
                owner_id: owner.clone(),
                converted_at: (depth == 3).then_some(o.created_at),
                converted_opportunity_id: (depth == 3).then(|| o.id.clone()),
                attributes: vec![
                    ("pricing_page_views".into(), views.to_string()),
                    ("demo_request".into(), demo.to_string()),
                ],
            });
        }
    }
    (leads, events)
}

/// Quotas per rep per calendar quarter: 110% of the average won amount per
/// ramped rep-quarter in the rep's segment, scaled down while a rep ramps.
fn make_quotas(
    reps: &[Rep],
    opps: &[SimOpportunity],
    process: &SalesProcess,
    start_day: i32,
    end_day: i32,
) -> Vec<Quota> {
    let won_name = &process.stages()[process.won_stage()].name;
    let mut won_by_rep: HashMap<&str, f64> = HashMap::new();
    for o in opps {
        let last_stage = o
            .changes
            .iter()
            .rev()
            .find(|c| c.field == pipewise_model::Field::Stage);
        if let Some(c) = last_stage
            && c.value.as_text() == Some(won_name.as_str())
            && let Value::Text(owner) = o.value_at(&pipewise_model::Field::OwnerId, c.at)
            && let Some(r) = reps.iter().find(|r| r.id == owner)
        {
            let amt = o
                .value_at(&pipewise_model::Field::Amount, c.at)
                .as_number()
                .unwrap_or(0.0);
            *won_by_rep.entry(r.id.as_str()).or_default() += amt;
        }
    }
    let quarters: Vec<(String, i32, i32)> = {
        let mut v = Vec::new();
        let s = naive_from_date(start_day);
        let (mut y, mut q) = (s.year(), (s.month() - 1) / 3 + 1);
        while let Some((a, b)) = calendar_quarter_bounds(y, q) {
            if a > end_day {
                break;
            }
            v.push((format!("{y}-Q{q}"), a, b));
            q += 1;
            if q == 5 {
                q = 1;
                y += 1;
            }
        }
        v
    };
    let mut per_segment: HashMap<Segment, (f64, f64)> = HashMap::new();
    for r in reps {
        let active_days = f64::from((end_day - r.hire.max(start_day)).max(0));
        let e = per_segment.entry(r.segment).or_default();
        e.0 += won_by_rep.get(r.id.as_str()).copied().unwrap_or(0.0);
        e.1 += active_days / 91.25;
    }
    let mut quotas = Vec::new();
    for r in reps {
        let (won, rq) = per_segment.get(&r.segment).copied().unwrap_or((0.0, 1.0));
        let base = if rq > 0.0 { won / rq * 1.1 } else { 0.0 };
        for (label, a, b) in &quarters {
            if r.hire > *b {
                continue;
            }
            let months = f64::from(*b - r.hire) / 30.4;
            let factor = (months / f64::from(r.ramp_months)).min(1.0);
            quotas.push(Quota {
                owner_id: r.id.clone(),
                period: label.clone(),
                period_start: *a,
                period_end: *b,
                amount: (base * factor / 1000.0).round() * 1000.0,
            });
        }
    }
    quotas
}

impl Company {
    /// The ledger events of every opportunity, with old values, in landing order.
    pub fn events(&self) -> (Vec<NewOpportunity>, Vec<OpportunityEvent>) {
        let mut news = Vec::with_capacity(self.opportunities.len());
        let mut events = Vec::new();
        for o in &self.opportunities {
            news.push(NewOpportunity {
                id: o.id.clone(),
                created_at: o.created_at,
            });
            let mut prev: HashMap<&pipewise_model::Field, &Value> = HashMap::new();
            for c in &o.changes {
                let old = prev
                    .insert(&c.field, &c.value)
                    .cloned()
                    .unwrap_or(Value::Null);
                events.push(OpportunityEvent {
                    opportunity_id: o.id.clone(),
                    field: c.field.clone(),
                    old_value: old,
                    new_value: c.value.clone(),
                    effective_at: c.at,
                    recorded_at: c.at,
                    source: "synth".into(),
                });
            }
        }
        (news, events)
    }

    /// Write the company straight into a ledger as one commit.
    pub fn commit(&self, store: &Store) -> Result<pipewise_ledger::CommitSummary, SynthError> {
        let (news, events) = self.events();
        let tables: pipewise_ledger::TableSet = vec![
            (
                "users".into(),
                pipewise_model::schema::users(),
                vec![tables::users_batch(&self.users)?],
            ),
            (
                "accounts".into(),
                pipewise_model::schema::accounts(),
                vec![tables::accounts_batch(&self.accounts)?],
            ),
            (
                "quotas".into(),
                pipewise_model::schema::quotas(),
                vec![tables::quotas_batch(&self.quotas)?],
            ),
            (
                "leads".into(),
                pipewise_model::schema::leads(),
                vec![tables::leads_batch(&self.leads)?],
            ),
            (
                "lead_events".into(),
                pipewise_model::schema::lead_events(),
                vec![tables::lead_events_batch(&self.lead_events)?],
            ),
            (
                "activities".into(),
                pipewise_model::schema::activities(),
                vec![tables::activities_batch(&self.activities)?],
            ),
        ];
        let base = store.manifest()?;
        let summary = store.commit(
            &base,
            Commit {
                new_opportunities: news,
                events,
                columns: None,
                tables,
                ingest: Some(IngestRecord {
                    id: format!("synth-{}-{}", self.config.seed, self.config.opportunities),
                    kind: "synth".into(),
                    recorded_at: format_date(date_of(self.end)),
                    files: Vec::new(),
                    events_added: 0,
                    events_duplicate: 0,
                    seqs: None,
                    quarantine: None,
                    report: None,
                }),
            },
        )?;
        Ok(summary)
    }
}
