//! The stage funnel: cohort-based stage conversion and time in stage.
//!
//! For each open stage of the process, the cohort is the deals whose first
//! entry into the stage falls in the period. A deal *advanced* when, after
//! entering, it reached any later open stage or won (a skipped stage is
//! skipped, not failed); seed 001's "(Number Converted / Total Entering
//! Stage) × 100". Time in stage is the length of each cohort deal's first
//! stay, for deals that have left the stage by the as-of time (those still
//! in it are censored and left out). Seed 003 asks for the median and the
//! 75th percentile; the mean is given too.
//!
//! With several sales processes each stage belongs to one, and "later" means
//! later in the deal's own process; rows come process by process.

use pipewise_ledger::asof::Cut;
use pipewise_ledger::{EventLog, Values};
use pipewise_model::{Field, SalesProcess, StageOutcome, Timestamp};

/// One stage of the funnel: its cohort, how many moved on, and how long they stayed.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStage {
    /// The sales process the stage belongs to.
    pub pipeline: String,
    /// The stage.
    pub stage: String,
    /// Deals whose first entry into the stage fell in the period.
    pub entered: u64,
    /// Of those, deals that reached a later open stage or won.
    pub advanced: u64,
    /// advanced / entered; `None` when nobody entered.
    pub conversion: Option<f64>,
    /// Days of the first stay, for cohort deals that left the stage.
    pub stays: u64,
    /// The mean first stay, in days.
    pub mean_days: Option<f64>,
    /// Quartiles of the stay: 25th percentile, median, 75th percentile.
    pub p25_days: Option<f64>,
    /// The median first stay.
    pub median_days: Option<f64>,
    /// The 75th percentile of the first stay.
    pub p75_days: Option<f64>,
}

/// Linear-interpolation percentile (the common "type 7") of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (h - h.floor()))
}

/// The funnel of deals entering each stage between `from` and `to` (inclusive
/// instants), as known at `cut`.
pub fn funnel(
    log: &EventLog,
    process: &SalesProcess,
    from: Timestamp,
    to: Timestamp,
    cut: Cut,
) -> Vec<FunnelStage> {
    funnel_of(log, process, from, to, cut, &|_| true)
}

/// One deal's first entry into a stage in the period, for [`walk`]'s visitor.
struct Entry {
    stage: usize,
    key: u32,
    advanced: bool,
    /// Days of its first stay, when it left the stage.
    stay: Option<f64>,
}

/// Every admitted deal's first entry into each open stage between `from`
/// and `to`, as known at `cut`, handed to `visit`.
fn walk(
    log: &EventLog,
    process: &SalesProcess,
    from: Timestamp,
    to: Timestamp,
    cut: Cut,
    admit: &dyn Fn(u32) -> bool,
    visit: &mut dyn FnMut(Entry),
) {
    let open: Vec<usize> = (0..process.stages().len())
        .filter(|&s| process.outcome(s) == StageOutcome::Open)
        .collect();
    let Some(col) = log.column(&Field::Stage) else {
        return;
    };
    let Values::Text { .. } = &col.new else {
        return;
    };
    let code_of = pipewise_ledger::asof::StageCodes::new(log, process);
    for key in (0..log.keys.len() as u32).filter(|&k| admit(k)) {
        // The deal's stage path up to the cut.
        let path: Vec<(Timestamp, usize)> = col
            .run(key)
            .filter(|&i| {
                col.effective_at[i] <= cut.effective
                    && cut.recorded.is_none_or(|r| col.recorded_at[i] <= r)
            })
            .filter_map(|i| code_of.get(i).map(|c| (col.effective_at[i], c)))
            .collect();
        for &s in &open {
            let Some(first) = path.iter().position(|&(_, c)| c == s) else {
                continue;
            };
            let t_in = path[first].0;
            if t_in < from || t_in > to {
                continue;
            }
            let later = &path[first + 1..];
            let beyond = |c: usize| {
                c != s
                    && process.outcome(c) != StageOutcome::Lost
                    && ((c > s && process.pipeline_of(c) == process.pipeline_of(s))
                        || process.outcome(c) == StageOutcome::Won)
            };
            visit(Entry {
                stage: s,
                key,
                advanced: later.iter().any(|&(_, c)| beyond(c)),
                stay: later.iter().find(|&&(_, c)| c != s).map(|&(t_out, _)| {
                    (t_out - t_in) as f64 / pipewise_model::time::MICROS_PER_DAY as f64
                }),
            });
        }
    }
}

/// The deals behind a stage of [`funnel_of`]: each admitted deal that first
/// entered `stage` in the period (its log key), and whether it advanced.
pub fn funnel_cohort(
    log: &EventLog,
    process: &SalesProcess,
    from: Timestamp,
    to: Timestamp,
    cut: Cut,
    admit: &dyn Fn(u32) -> bool,
    stage: usize,
) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    walk(log, process, from, to, cut, admit, &mut |e| {
        if e.stage == stage {
            out.push((e.key, e.advanced));
        }
    });
    out
}

/// [`funnel`] of the deals whose keys `admit` accepts (a team's funnel: the
/// server's row-level scope).
pub fn funnel_of(
    log: &EventLog,
    process: &SalesProcess,
    from: Timestamp,
    to: Timestamp,
    cut: Cut,
    admit: &dyn Fn(u32) -> bool,
) -> Vec<FunnelStage> {
    let open: Vec<usize> = (0..process.stages().len())
        .filter(|&s| process.outcome(s) == StageOutcome::Open)
        .collect();
    let mut entered = vec![0u64; process.stages().len()];
    let mut advanced = vec![0u64; process.stages().len()];
    let mut stays: Vec<Vec<f64>> = vec![Vec::new(); process.stages().len()];
    if !matches!(
        log.column(&Field::Stage).map(|c| &c.new),
        Some(Values::Text { .. })
    ) {
        return Vec::new();
    }
    walk(log, process, from, to, cut, admit, &mut |e| {
        entered[e.stage] += 1;
        if e.advanced {
            advanced[e.stage] += 1;
        }
        if let Some(d) = e.stay {
            stays[e.stage].push(d);
        }
    });
    open.iter()
        .map(|&s| {
            let mut d = std::mem::take(&mut stays[s]);
            d.sort_by(f64::total_cmp);
            FunnelStage {
                pipeline: process.pipelines()[process.pipeline_of(s)].name.clone(),
                stage: process.stages()[s].name.clone(),
                entered: entered[s],
                advanced: advanced[s],
                conversion: (entered[s] > 0).then(|| advanced[s] as f64 / entered[s] as f64),
                stays: d.len() as u64,
                mean_days: (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64),
                p25_days: percentile(&d, 0.25),
                median_days: percentile(&d, 0.5),
                p75_days: percentile(&d, 0.75),
            }
        })
        .collect()
}

/// Pipeline aging of one open stage, as of a cut.
#[derive(Debug, Clone, PartialEq)]
pub struct StageAging {
    /// The sales process the stage belongs to.
    pub pipeline: String,
    /// The stage.
    pub stage: String,
    /// Open deals in the stage at the cut.
    pub open: u64,
    /// The stage's median and p75 stay, from every finished first stay by the cut.
    pub median_days: Option<f64>,
    /// The stage's p75 stay.
    pub p75_days: Option<f64>,
    /// Seed 001: deals in the stage longer than 1.5 × its median ("< 20% aged" is healthy).
    pub over_1_5x_median: u64,
    /// Seed 003 §12.2: deals in the stage longer than its 75th percentile.
    pub over_p75: u64,
}

/// Aging of the open pipeline at `cut`: how long each open deal has been in
/// its current stage, against the stage's median and p75 stay (both variants
/// of conflict M-C8, named by rule).
pub fn aging(log: &EventLog, process: &SalesProcess, cut: Cut) -> Vec<StageAging> {
    let history = funnel(log, process, Timestamp::MIN, cut.effective, cut);
    let Some(col) = log.column(&Field::Stage) else {
        return Vec::new();
    };
    let Values::Text { .. } = &col.new else {
        return Vec::new();
    };
    let code_of = pipewise_ledger::asof::StageCodes::new(log, process);
    let code = |i: usize| code_of.get(i);
    let mut ages: Vec<Vec<f64>> = vec![Vec::new(); process.stages().len()];
    for key in 0..log.keys.len() as u32 {
        if !pipewise_ledger::asof::exists(log, key, cut) {
            continue;
        }
        let Some(i) = pipewise_ledger::asof::in_force(col, key, cut) else {
            continue;
        };
        let Some(current) = code(i) else {
            continue;
        };
        if process.outcome(current) != StageOutcome::Open {
            continue;
        }
        // When did the deal enter its current stage (the start of its current stay)?
        let mut since = col.effective_at[i];
        for j in col.run(key).rev() {
            if col.effective_at[j] > cut.effective
                || cut.recorded.is_some_and(|r| col.recorded_at[j] > r)
            {
                continue;
            }
            if code(j) == Some(current) {
                since = col.effective_at[j];
            } else {
                break;
            }
        }
        ages[current]
            .push((cut.effective - since) as f64 / pipewise_model::time::MICROS_PER_DAY as f64);
    }
    let open: Vec<usize> = (0..process.stages().len())
        .filter(|&s| process.outcome(s) == StageOutcome::Open)
        .collect();
    history
        .into_iter()
        .zip(open)
        .map(|(h, code)| {
            let a = &ages[code];
            let count = |limit: Option<f64>| {
                limit
                    .map(|l| a.iter().filter(|&&d| d > l).count() as u64)
                    .unwrap_or(0)
            };
            StageAging {
                pipeline: h.pipeline,
                stage: h.stage,
                open: a.len() as u64,
                median_days: h.median_days,
                p75_days: h.p75_days,
                over_1_5x_median: count(h.median_days.map(|m| 1.5 * m)),
                over_p75: count(h.p75_days),
            }
        })
        .collect()
}
