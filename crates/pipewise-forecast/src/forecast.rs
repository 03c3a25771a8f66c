//! One forecast: every method, for the whole company (or the subtree under
//! a manager) and for each group, at one cut.

use crate::calendar::Quarter;
use crate::groups::{By, Org};
use crate::methods::{self, DealP, Forecast, Inputs, Method};
use crate::rates::History;
use crate::scan::{Ledger, OpenDeal, QuarterTally, Snapshot, Won};
use crate::simulate::{self, NewBusiness, Quantiles, SimDeal};
use pipewise_ledger::Cut;
use pipewise_model::Timestamp;
use pipewise_score::deals::pooled::Pooled;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// How to forecast.
#[derive(Debug, Clone)]
pub struct Options {
    /// The methods, in order.
    pub methods: Vec<Method>,
    /// How rows are split.
    pub by: By,
    /// Only deals owned by these user ids (a manager's subtree).
    pub scope: Option<BTreeSet<String>>,
    /// Read the ledger as recorded by the cut (a backtest's view).
    pub known: bool,
    /// Monte Carlo draws.
    pub draws: usize,
    /// The simulation's seed.
    pub seed: u64,
    /// List the deals behind each term.
    pub explain: bool,
    /// How many past quarters the rates learn from.
    pub lookback: usize,
    /// Deal probabilities from a trained deal model, by deal key (the
    /// pooled cells of past quarters otherwise).
    pub learned: Option<HashMap<u32, DealP>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            methods: Method::ALL.to_vec(),
            by: By::Company,
            scope: None,
            known: false,
            draws: 2000,
            seed: 42,
            explain: false,
            lookback: 4,
            learned: None,
        }
    }
}

/// One row of a forecast: a group and every method's number for it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The group's key (`all` for the total).
    pub group: String,
    /// Its name.
    pub label: String,
    /// Its quota for the quarter.
    pub quota: Option<f64>,
    /// Every method's forecast.
    pub forecasts: Vec<Forecast>,
}

/// What a forecast reads besides its options.
pub struct Context<'a> {
    /// The ledger.
    pub ledger: &'a Ledger<'a>,
    /// People and quotas.
    pub org: &'a Org,
    /// The quarter forecast.
    pub quarter: &'a Quarter,
    /// The cut.
    pub cut: Timestamp,
    /// Quarters that ended by the cut, oldest first, each tallied at (at
    /// least) the cut's week.
    pub past: &'a [QuarterTally],
}

/// The same week (or the last one it has) of each of the last `lookback`
/// past quarters.
pub fn history_at<'a>(past: &'a [QuarterTally], week: u32, lookback: usize) -> History<'a> {
    let weeks = past
        .iter()
        .rev()
        .take(lookback)
        .rev()
        .filter_map(|q| q.week(week.min(q.quarter.weeks())))
        .collect();
    History { weeks }
}

/// What the forecast of one cut computed before the methods ran.
pub struct Prepared {
    /// The deals at the cut.
    pub snapshot: Snapshot,
    /// Each open deal's probabilities.
    pub p: Vec<DealP>,
    /// Where they came from.
    pub p_source: String,
    /// The pooled cells' probabilities, where a trained model's replaced them.
    pub pooled: Option<Vec<DealP>>,
    /// Stage → won conversion as known at the cut.
    pub conversions: crate::scan::Conversions,
    /// How much past quarters swung beyond their deals' own chances.
    pub spread: simulate::Spread,
}

/// Read the cut and score its open deals.
pub fn prepare(cx: &Context, o: &Options) -> Prepared {
    let week = cx.quarter.week_of(cx.cut);
    let cut = Cut {
        effective: cx.cut,
        recorded: o.known.then_some(cx.cut),
    };
    let snapshot = cx.ledger.snapshot(cx.quarter, cut);
    let history = history_at(cx.past, week, o.lookback);
    let pooled = methods::fit_pooled(cx.ledger, &history);
    let mut p = methods::pooled_probabilities(cx.ledger, &pooled, &snapshot.open, cx.cut);
    let mut p_source = format!(
        "pooled cells of week {week} of {} past quarter(s)",
        history.weeks.len()
    );
    let mut replaced = None;
    if let Some(learned) = &o.learned {
        replaced = Some(p.clone());
        let mut hits = 0usize;
        for (d, pd) in snapshot.open.iter().zip(p.iter_mut()) {
            if let Some(l) = learned.get(&d.key) {
                *pd = *l;
                hits += 1;
            }
        }
        p_source = format!(
            "the trained deal model for {hits} of {} open deals, {p_source} for the rest",
            snapshot.open.len()
        );
    }
    let spread = spread(cx.ledger, &pooled, &history_at(cx.past, week, 8));
    Prepared {
        snapshot,
        p,
        p_source,
        pooled: replaced,
        conversions: cx.ledger.conversions(cx.cut, o.known, 365),
        spread,
    }
}

/// Forecast every group at the cut.
pub fn forecast(cx: &Context, o: &Options, prepared: &Prepared) -> Vec<Row> {
    let ledger = cx.ledger;
    let week = cx.quarter.week_of(cx.cut);
    let history = history_at(cx.past, week, o.lookback);
    let owner_id = |c: Option<u32>| c.map(|c| ledger.owner_name(c));
    let segment = |c: Option<u32>| c.map(|c| ledger.segment_name(c));
    let in_scope = |c: Option<u32>| {
        o.scope
            .as_ref()
            .is_none_or(|s| owner_id(c).is_some_and(|id| s.contains(id)))
    };
    let group_of =
        |owner: Option<u32>, seg: Option<u32>| cx.org.group_of(o.by, owner_id(owner), segment(seg));
    // the deals in scope, by group
    let snap = &prepared.snapshot;
    let open: Vec<(usize, &OpenDeal)> = snap
        .open
        .iter()
        .enumerate()
        .filter(|(_, d)| in_scope(d.owner))
        .collect();
    let won: Vec<&Won> = snap.won.iter().filter(|w| in_scope(w.owner)).collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    if o.by != By::Company {
        for (_, d) in &open {
            names.insert(group_of(d.owner, d.segment));
        }
        for w in &won {
            names.insert(group_of(w.owner, w.segment));
        }
    }
    let names: Vec<String> = names.into_iter().collect();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    // a deal's (or a past booking's) group; `None` for a group with nothing
    // open or won now (a past owner who has left, say)
    let g_of = |owner: Option<u32>, seg: Option<u32>| -> Option<usize> {
        if o.by == By::Company {
            Some(0)
        } else {
            index.get(group_of(owner, seg).as_str()).copied()
        }
    };
    let groups = names.len().max(1);
    // each group's share of the past quarters' bookings (new business is shared so)
    let recent: Vec<&QuarterTally> = cx.past.iter().rev().take(o.lookback).collect();
    let code = |c: u32| (c != u32::MAX).then_some(c);
    let mut booked_by_group = vec![0.0; groups];
    let (mut booked_all, mut scope_booked) = (0.0, 0.0);
    for q in &recent {
        for (&(owner, seg), &v) in &q.booked_by {
            let (owner, seg) = (code(owner), code(seg));
            booked_all += v;
            if in_scope(owner) {
                scope_booked += v;
                if let Some(g) = g_of(owner, seg) {
                    booked_by_group[g] += v;
                }
            }
        }
    }
    let scope_share = if o.scope.is_none() {
        1.0
    } else if booked_all > 0.0 {
        scope_booked / booked_all
    } else {
        0.0
    };
    let group_share = |g: usize| {
        if scope_booked > 0.0 {
            booked_by_group[g] / scope_booked
        } else {
            1.0 / groups as f64
        }
    };
    let scale = history.scale(snap.open.len() as f64);
    let growth = history.amount_growth();
    // simulate the scope once; every group's quantiles come from the same draws
    let sim = if o.methods.contains(&Method::Probabilistic) || o.methods.contains(&Method::Blend) {
        let deals: Vec<SimDeal> = open
            .iter()
            .map(|(i, d)| SimDeal {
                amount: d.amount * growth,
                p: prepared.p[*i].won,
                group: g_of(d.owner, d.segment).unwrap_or(0),
            })
            .collect();
        let mut closed = vec![0.0; groups];
        for w in &won {
            closed[g_of(w.owner, w.segment).unwrap_or(0)] += w.amount;
        }
        let (_, _, won_n) = history.new_business();
        let new = NewBusiness {
            expected: won_n * scale * scope_share,
            amounts: history
                .weeks
                .iter()
                .flat_map(|w| w.new_won_amounts.iter().copied())
                .collect(),
            shares: (0..groups).map(group_share).collect(),
        };
        simulate::simulate_with(
            &deals,
            &closed,
            &new,
            prepared.spread,
            groups,
            o.draws,
            o.seed,
        )
    } else {
        Vec::new()
    };
    let past_of = |keep: &dyn Fn(Option<u32>, Option<u32>) -> bool| -> Vec<(&Quarter, f64)> {
        cx.past
            .iter()
            .map(|q| {
                let v = q
                    .booked_by
                    .iter()
                    .filter(|((o, s), _)| keep(code(*o), code(*s)))
                    .map(|(_, v)| v)
                    .sum();
                (&q.quarter, v)
            })
            .collect()
    };
    let run_group = |g: Option<usize>, share: f64, sim: Option<Quantiles>| -> Vec<Forecast> {
        let member =
            |owner: Option<u32>, seg: Option<u32>| g.is_none_or(|g| g_of(owner, seg) == Some(g));
        let (open_g, p_g): (Vec<&OpenDeal>, Vec<DealP>) = open
            .iter()
            .filter(|(_, d)| member(d.owner, d.segment))
            .map(|(i, d)| (*d, prepared.p[*i]))
            .unzip();
        let past = past_of(&|owner, seg| in_scope(owner) && member(owner, seg));
        let x = Inputs {
            ledger,
            quarter: cx.quarter,
            cut: cx.cut,
            week,
            open: open_g,
            p: p_g,
            won: won
                .iter()
                .copied()
                .filter(|w| member(w.owner, w.segment))
                .collect(),
            history: history.clone(),
            past,
            conversions: &prepared.conversions,
            new_share: scope_share * share,
            scale,
            simulated: sim,
            explain: o.explain,
        };
        o.methods.iter().map(|&m| methods::run(m, &x)).collect()
    };
    let (first, last) = (cx.quarter.first, cx.quarter.last);
    let mut rows = vec![Row {
        group: "all".into(),
        label: if o.scope.is_some() {
            "everyone in scope".into()
        } else {
            "company".into()
        },
        quota: cx
            .org
            .quota(By::Company, "all", first, last, o.scope.as_ref()),
        forecasts: run_group(None, 1.0, sim.get(groups).copied()),
    }];
    if o.by != By::Company {
        for (g, name) in names.iter().enumerate() {
            rows.push(Row {
                group: name.clone(),
                label: cx.org.label(o.by, name),
                quota: cx.org.quota(o.by, name, first, last, o.scope.as_ref()),
                forecasts: run_group(Some(g), group_share(g), sim.get(g).copied()),
            });
        }
    }
    rows
}

/// The sample variance of `v` (0 under three values).
fn variance(v: &[f64]) -> f64 {
    if v.len() < 3 {
        return 0.0;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

/// How much past quarters at the same week swung beyond what their deals'
/// own chances explain: for the open deals, the variance across quarters
/// of log(won / expected under the pooled model), less the variance chance
/// alone gives (Σ n·p(1 − p)·mean amount² over expected², per quarter); for
/// new business, the same of log(new wins per open deal / their mean), less
/// a compound Poisson's (Σ a² / (Σ a)²). Never below 0; 0 with under three
/// quarters.
pub fn spread(ledger: &Ledger, pooled: &Pooled, h: &History) -> simulate::Spread {
    let growth = h.amount_growth();
    let mut memo: HashMap<crate::scan::CellKey, f64> = HashMap::new();
    let (mut open_logs, mut open_chance) = (Vec::new(), Vec::new());
    let (mut per_deal, mut new_chance) = (Vec::new(), Vec::new());
    for w in &h.weeks {
        let (mut expected, mut chance, mut observed, mut n_open) = (0.0, 0.0, 0.0, 0.0);
        for (k, t) in &w.cells {
            let mut key = *k;
            key.category = 0;
            let p = *memo
                .entry(key)
                .or_insert_with(|| pooled.score(&methods::pooled_row(ledger, &key)).p[0]);
            let mean = if t.n > 0.0 {
                t.amount / t.n * growth
            } else {
                0.0
            };
            expected += t.amount * growth * p;
            chance += t.n * p * (1.0 - p) * mean * mean;
            observed += t.won_amount;
            n_open += t.n;
        }
        if expected > 0.0 && observed > 0.0 {
            open_logs.push((observed / expected).ln());
            open_chance.push(chance / (expected * expected));
        }
        let total: f64 = w.new_won_amounts.iter().sum();
        if n_open > 0.0 && total > 0.0 {
            per_deal.push(w.new_won / n_open);
            new_chance.push(w.new_won_amounts.iter().map(|a| a * a).sum::<f64>() / (total * total));
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let open = (variance(&open_logs) - mean(&open_chance)).max(0.0).sqrt();
    let m = mean(&per_deal);
    let new_logs: Vec<f64> = per_deal.iter().map(|x| (x / m).ln()).collect();
    let new = (variance(&new_logs) - mean(&new_chance)).max(0.0).sqrt();
    simulate::Spread { open, new }
}

/// Each past quarter before `quarter` whose end is by `cut`, oldest first,
/// back to the one holding `since`.
pub fn past_quarters(
    quarter: &Quarter,
    cut: Timestamp,
    since: Timestamp,
    fiscal_start_month: u32,
    calendar: &pipewise_model::FiscalCalendar,
) -> Vec<Quarter> {
    let mut out = Vec::new();
    let mut q = quarter.previous(fiscal_start_month, calendar);
    while q.end() >= since {
        if q.end() <= cut {
            out.push(q.clone());
        }
        q = q.previous(fiscal_start_month, calendar);
    }
    out.reverse();
    out
}

/// Tally `quarters` at `weeks` (each clamped to the quarter's own weeks).
pub fn tallies(
    ledger: &Ledger,
    quarters: &[Quarter],
    weeks: &[u32],
    known: bool,
) -> Vec<QuarterTally> {
    quarters
        .iter()
        .map(|q| {
            let mut w: Vec<u32> = weeks.iter().map(|&w| w.min(q.weeks())).collect();
            w.sort_unstable();
            w.dedup();
            ledger.tally(q, &w, known)
        })
        .collect()
}
