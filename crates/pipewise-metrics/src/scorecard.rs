//! Scorecards: many metrics for several breakdowns at once. Metrics that
//! count the same rows are summed once, by every dimension the breakdowns
//! name together ([`fine`]), and each breakdown is rolled up from those fine
//! groups in Rust, exactly.

mod fine;

use crate::compile::{FineSql, Mode, compile_group};
use crate::evaluate::{Evaluated, isolate, nothing_to_count, source_is_empty};
use crate::{Metric, MetricError, MetricQuery, MetricRow, compile};
use fine::{FineDim, FineGroups, RepAttributes, rep_attribute, rep_attributes};
use pipewise_engine::Engine;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Evaluate many metrics for several breakdowns of the same selectors (a
/// scorecard: overall, by owner, by team, …), sharing work: metrics that
/// count the same rows are aggregated once, by every dimension the
/// breakdowns name together, and each breakdown is rolled up from those fine
/// groups. Sums are exact (integer counts, 10-digit decimals), so the rolled
/// up numbers are exactly those of [`crate::evaluate`] for each breakdown — a
/// test checks it. Returns, per breakdown, each metric's rows or its error.
pub fn evaluate_breakdowns(
    engine: &Engine,
    ms: &[&Metric],
    base: &MetricQuery,
    breakdowns: &[Vec<String>],
) -> Vec<Vec<Evaluated>> {
    sum_breakdowns(engine, ms, base, breakdowns).roll_up()
}

/// The sums behind [`evaluate_breakdowns`], queried and held apart from the
/// engine: [`ScorecardSums::roll_up`] needs no engine, so a one-shot command
/// can let the engine drop its caches before rolling up (their memory is
/// then reused instead of fresh memory faulted in).
pub struct ScorecardSums<'m> {
    ms: Vec<&'m Metric>,
    breakdowns: Vec<Vec<String>>,
    /// Per breakdown and metric: its rows or error when already known.
    out: Vec<Vec<Option<Evaluated>>>,
    sources: Vec<SourceSums>,
}

/// One kind of rows' fine sums and what rolling them up needs.
struct SourceSums {
    /// The metrics (indexes into `ms`) counting these rows.
    idx: Vec<usize>,
    /// (breakdown, metric) pairs to compute.
    pending: Vec<Vec<bool>>,
    /// The fine plan's dimensions.
    fine_by: Vec<String>,
    /// The metrics as summed (owner-counting ones per owner).
    per_owner: Vec<Metric>,
    plan: FineSql,
    fine: FineGroups,
    users: RepAttributes,
}

/// A metric (its index) and its rows in one breakdown.
type RolledUp = (usize, Vec<MetricRow>);

/// Query the fine sums of [`evaluate_breakdowns`].
pub fn sum_breakdowns<'m>(
    engine: &Engine,
    ms: &[&'m Metric],
    base: &MetricQuery,
    breakdowns: &[Vec<String>],
) -> ScorecardSums<'m> {
    let mut out: Vec<Vec<Option<Evaluated>>> = breakdowns
        .iter()
        .map(|by| {
            ms.iter()
                .map(|m| compile(m, &with_by(base, by)).err().map(Err))
                .collect()
        })
        .collect();
    // One plan per kind of rows: quota and owner-counting metrics included
    // (quota is summed apart; owners are counted from per-owner sums).
    let mut groups: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, m) in ms.iter().enumerate() {
        groups.entry(m.sql.from.as_str()).or_default().push(i);
    }
    let mut sources: Vec<SourceSums> = Vec::new();
    for (source, idx) in groups {
        // (breakdown, metric) pairs to compute: those that compiled.
        let pending: Vec<Vec<bool>> = out
            .iter()
            .map(|row| row.iter().map(Option::is_none).collect())
            .collect();
        let todo = |b: usize, i: usize| pending[b][i];
        if !idx
            .iter()
            .any(|&i| (0..breakdowns.len()).any(|b| todo(b, i)))
        {
            continue;
        }
        if source != "deals" {
            match source_is_empty(engine, source) {
                Ok(false) => {}
                empty => {
                    for (b, by) in breakdowns.iter().enumerate() {
                        for &i in idx.iter().filter(|&&i| todo(b, i)) {
                            out[b][i] = Some(match &empty {
                                Err(e) => Err(e.clone()),
                                Ok(_) => Ok(nothing_to_count(ms[i], by)),
                            });
                        }
                    }
                    continue;
                }
            }
        }
        let summed = sum_source(engine, ms, base, breakdowns, idx.clone(), &pending).or_else(|e| {
            // A workspace metric the engine rejects fails alone: the
            // others are summed again without it.
            let (rejected, rest) = isolate(engine, ms, &idx, base, e);
            for (i, e) in rejected {
                fail(&mut out, &pending, &[i], &e);
            }
            let (rest, first) = rest.ok_or(())?;
            sum_source(engine, ms, base, breakdowns, rest.clone(), &pending).map_err(|_| {
                fail(&mut out, &pending, &rest, &first);
            })
        });
        if let Ok(s) = summed {
            sources.push(s);
        }
    }
    ScorecardSums {
        ms: ms.to_vec(),
        breakdowns: breakdowns.to_vec(),
        out,
        sources,
    }
}

/// The base query broken down by `by`.
fn with_by(base: &MetricQuery, by: &[String]) -> MetricQuery {
    MetricQuery {
        by: by.to_vec(),
        ..base.clone()
    }
}

/// The fine sums of metrics `idx` (one kind of rows) for the breakdowns
/// `pending` marks.
fn sum_source(
    engine: &Engine,
    ms: &[&Metric],
    base: &MetricQuery,
    breakdowns: &[Vec<String>],
    idx: Vec<usize>,
    pending: &[Vec<bool>],
) -> Result<SourceSums, MetricError> {
    // Every dimension a breakdown to compute names (and the owner, when a
    // metric counts owners).
    let mut fine_by: Vec<String> = Vec::new();
    for (b, by) in breakdowns.iter().enumerate() {
        if idx.iter().any(|&i| pending[b][i]) {
            for d in by {
                if !fine_by.contains(d) {
                    fine_by.push(d.clone());
                }
            }
        }
    }
    let counts_owners = idx.iter().any(|&i| ms[i].sql.share_at_or_above.is_some());
    // A rep's team, region and manager come from the users table: group by
    // owner and look them up (what the SQL's join of users on the owner
    // does), rather than join users to every row.
    let derive = fine_by.iter().any(|d| rep_attribute(d).is_some());
    fine_by.retain(|d| rep_attribute(d).is_none());
    if (counts_owners || derive) && !fine_by.iter().any(|d| d == "owner") {
        fine_by.push("owner".into());
    }
    let users = if derive {
        rep_attributes(engine)?
    } else {
        Default::default()
    };
    // Owner-counting metrics are summed per owner first.
    let per_owner: Vec<Metric> = idx
        .iter()
        .map(|&i| {
            let mut m = ms[i].clone();
            m.sql.share_at_or_above = None;
            m
        })
        .collect();
    let group: Vec<&Metric> = per_owner.iter().collect();
    let plan = compile_group(&group, &with_by(base, &fine_by), Mode::Fine)?.fine()?;
    let fine = FineGroups::run(engine, &plan, fine_by.len(), &group)?;
    Ok(SourceSums {
        idx,
        pending: pending.to_vec(),
        fine_by,
        per_owner,
        plan,
        fine,
        users,
    })
}

impl ScorecardSums<'_> {
    /// Per breakdown, each metric's rows or its error.
    pub fn roll_up(self) -> Vec<Vec<Evaluated>> {
        let ScorecardSums {
            ms,
            breakdowns,
            mut out,
            sources,
        } = self;
        for src in &sources {
            // Each breakdown rolls up apart, in parallel; a worker that
            // panics fails the scorecard, never a breakdown short.
            let rolled: Vec<(usize, Vec<RolledUp>)> = breakdowns
                .par_iter()
                .enumerate()
                .filter(|&(b, _)| src.idx.iter().any(|&i| src.pending[b][i]))
                .map(|(b, by)| (b, src.breakdown(&ms, b, by)))
                .collect();
            for (b, done) in rolled {
                for (i, rows) in done {
                    out[b][i] = Some(Ok(rows));
                }
            }
        }
        out.into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|r| {
                        r.unwrap_or_else(|| {
                            Err(MetricError::Internal("a metric was not evaluated".into()))
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

impl SourceSums {
    /// Where each of `by`'s dimensions comes from among the columns `among`.
    fn positions(by: &[String], among: &[String]) -> Option<Vec<FineDim>> {
        by.iter()
            .map(|d| match among.iter().position(|x| x == d) {
                Some(p) => Some(FineDim::Column(p)),
                None => Some(FineDim::Rep(
                    rep_attribute(d)?,
                    among.iter().position(|x| x == "owner")?,
                )),
            })
            .collect()
    }

    /// The rows of the plan's metrics `which` (indexes into `per_owner`) for
    /// the breakdown `by`.
    fn rows(&self, by: &[String], which: &[usize]) -> Vec<Vec<MetricRow>> {
        let quota_by: &[String] = self.plan.quota.as_ref().map_or(&[], |(_, by)| by);
        let keep = Self::positions(by, &self.fine_by).unwrap_or_default();
        let quota_keep = Self::positions(by, quota_by);
        let group: Vec<&Metric> = self.per_owner.iter().collect();
        self.fine.metric_rows(
            &self.plan,
            &group,
            which,
            by,
            (&keep, quota_keep.as_deref()),
            &self.users,
        )
    }

    /// One breakdown's metric rows: (metric index, rows) for each metric it
    /// computes; owner-counting metrics from their per-owner rows.
    fn breakdown(&self, ms: &[&Metric], b: usize, by: &[String]) -> Vec<RolledUp> {
        let idx = &self.idx;
        let (plain, counting): (Vec<usize>, Vec<usize>) = (0..idx.len())
            .filter(|&k| self.pending[b][idx[k]])
            .partition(|&k| ms[idx[k]].sql.share_at_or_above.is_none());
        let mut done: Vec<RolledUp> = plain
            .iter()
            .zip(self.rows(by, &plain))
            .map(|(&k, r)| (idx[k], r))
            .collect();
        if !counting.is_empty() {
            let mut with_owner = by.to_vec();
            if !with_owner.iter().any(|d| d == "owner") {
                with_owner.push("owner".into());
            }
            for (&k, owners) in counting.iter().zip(self.rows(&with_owner, &counting)) {
                done.push((idx[k], count_owners(ms[idx[k]], by, &owners)));
            }
        }
        done
    }
}

/// Mark the pending (breakdown, metric) pairs of metrics `idx` failed.
fn fail(out: &mut [Vec<Option<Evaluated>>], pending: &[Vec<bool>], idx: &[usize], e: &MetricError) {
    for (row, todo) in out.iter_mut().zip(pending) {
        for &i in idx {
            if todo[i] {
                row[i] = Some(Err(e.clone()));
            }
        }
    }
}

/// A metric with `share_at_or_above`, from its per-owner rows (the breakdown's
/// dimensions then the owner): per group, the owners at or above the
/// threshold over the owners with a denominator — what the SQL of a
/// metric counting owners computes.
fn count_owners(m: &Metric, by: &[String], owners: &[MetricRow]) -> Vec<MetricRow> {
    let threshold = m.sql.share_at_or_above.unwrap_or(1.0);
    let n = by.len();
    // Per group, in order: owners at or above the threshold, owners with a
    // denominator. (Every group has an owner row, so every group shows.)
    type Group = (Vec<(String, Option<String>)>, f64, f64);
    let mut groups: Vec<Group> = Vec::new();
    for r in owners {
        let dims: Vec<(String, Option<String>)> = r.dims[..n].to_vec();
        if groups.last().is_none_or(|g| g.0 != dims) {
            groups.push((dims, 0.0, 0.0));
        }
        if let Some(g) = groups.last_mut()
            && r.denominator > 0.0
        {
            g.2 += 1.0;
            if r.numerator / r.denominator >= threshold {
                g.1 += 1.0;
            }
        }
    }
    if n == 0 && groups.is_empty() {
        groups.push((Vec::new(), 0.0, 0.0));
    }
    groups
        .into_iter()
        .map(|(dims, numerator, denominator)| MetricRow::new(m, dims, numerator, denominator, None))
        .collect()
}
