//! Every numerator, denominator, excluded count and row count of a group as
//! one exact sum each (`a0, a1, …`, each distinct sum once), and the
//! statements that compute them: one aggregate ([`Mode::Aggregate`]) or one
//! per period window ([`Mode::Fine`]).

use super::{EXACT, Group, Mode, Rows, Times};
use crate::QuotaSide;
use crate::dialect::QUOTA_DIMENSIONS;

/// [`Mode::Fine`]: the dimensions then the sums `a0, a1, …` per group (exact:
/// integer counts and `DECIMAL(38, 10)` sums), the quota per group (a
/// `DECIMAL(38, 10)` sum), and per metric which sums are its numerator,
/// denominator, excluded count and row count.
pub(crate) struct FineSql {
    /// One statement per period window, each giving its window's sums
    /// (`a<k>`, numbered across the plan) per group.
    pub(crate) aggregates: Vec<String>,
    /// How many sums the plan has.
    pub(crate) width: usize,
    /// The quota statement and its dimensions (the plan's rep dimensions).
    pub(crate) quota: Option<(String, Vec<String>)>,
    pub(crate) slots: Vec<Slots>,
}

/// A metric's sums (indexes of `a<k>`): numerator, denominator, excluded
/// count, row count. An empty slot is a sum of nothing and reads as 0.
pub(crate) type Slots = [Option<usize>; 4];

/// The sums of a group.
pub(super) struct Sums {
    /// Each sum as the aggregate statement writes it (with its period test).
    aggs: Vec<String>,
    /// Each sum's period window and the sum without the period test, which a
    /// fine statement's WHERE makes.
    windowed: Vec<(String, String)>,
    slots: Vec<Slots>,
    /// Per period window, the row tests of the metrics in it (what a metric
    /// counts or leaves out), each once.
    windows: Vec<(String, Vec<String>)>,
}

impl Sums {
    pub(super) fn new(g: &Group) -> Sums {
        let mut s = Sums {
            aggs: Vec::new(),
            windowed: Vec::new(),
            slots: Vec::new(),
            windows: Vec::new(),
        };
        for p in &g.parts {
            let f = &p.f;
            let pop = &f.population.sql;
            let sum = |t: &super::Term| {
                Some((
                    sum_in(t, pop, &p.period, &g.times)?,
                    sum_in(t, pop, "TRUE", &g.times)?,
                ))
            };
            let count = |c: &str| {
                let with = |period: &str| format!("COUNT(1) FILTER (WHERE ({period}) AND ({c}))");
                (with(&p.period), with("TRUE"))
            };
            let numerator = sum(&f.numerator).map(|x| s.intern(x, &p.period));
            let denominator = sum(&f.denominator).map(|x| s.intern(x, &p.period));
            let excluded = f
                .excluded
                .as_ref()
                .map(|e| s.intern(count(&e.sql), &p.period));
            let counted = match &f.excluded {
                Some(e) => format!("({pop}) OR ({})", e.sql),
                None => pop.clone(),
            };
            let rows = s.intern(count(&counted), &p.period);
            s.slots.push([numerator, denominator, excluded, Some(rows)]);
            // Only rows some metric counts or leaves out: with a period most
            // deals are neither, and skipping them early spares every sum.
            // The test is grouped by period window, each window tested first
            // and once — (P AND a) OR (P AND b) is P AND (a OR b) in SQL's
            // three-valued logic too — so the populations are only tested on
            // the rows of their window.
            match s.windows.iter_mut().find(|(w, _)| *w == p.period) {
                Some((_, cs)) if cs.contains(&counted) => {}
                Some((_, cs)) => cs.push(counted),
                None => s.windows.push((p.period.clone(), vec![counted])),
            }
        }
        s
    }

    /// A sum's index: each distinct sum once (metrics may share one; SQL
    /// engines reject the same aggregate twice in one select).
    fn intern(&mut self, (e, local): (String, String), period: &str) -> usize {
        match self.aggs.iter().position(|x| *x == e) {
            Some(k) => k,
            None => {
                self.aggs.push(e);
                self.windowed.push((period.to_string(), local));
                self.aggs.len() - 1
            }
        }
    }

    /// A metric's column `what` (0 numerator, 1 denominator, 2 excluded, 3
    /// rows) in the aggregate, qualified by `t` ("n." or "").
    fn column(&self, i: usize, what: usize, t: &str) -> String {
        match self.slots[i][what] {
            Some(k) => format!("{t}a{k}"),
            None => "NULL".to_string(),
        }
    }

    /// [`Mode::Fine`]: one statement per period window, over that window's
    /// rows only (each row meets only its window's sums, not every sum of
    /// the plan), and the quota per rep group.
    pub(super) fn fine_plan(self, g: &Group, rows: &Rows) -> FineSql {
        debug_assert_eq!(g.mode, Mode::Fine);
        let (with, with_plain) = (rows.with(), rows.with_plain());
        let select_dims = g.select_dims();
        let group_by = Group::group_by(g.dims.len());
        let owner_filter = &rows.owner_filter;
        let aggregates = self
            .windows
            .iter()
            .map(|(p, cs)| {
                let sums: Vec<String> = self
                    .windowed
                    .iter()
                    .enumerate()
                    .filter(|(_, (w, _))| w == p)
                    .map(|(k, (_, e))| format!("{e} AS a{k}"))
                    .collect();
                let contacts = g
                    .parts
                    .iter()
                    .any(|part| part.period == *p && part.columns.contains("engaged_contacts"));
                let with = if contacts { &with } else { &with_plain };
                format!(
                    "{with}SELECT {select_dims}{} FROM d WHERE {owner_filter} AND ({p}) AND (({})){group_by}",
                    sums.join(", "),
                    cs.join(") OR (")
                )
            })
            .collect();
        // Quotas are per rep: by the plan's rep dimensions only.
        let quota = g.has_quota.then(|| {
            let rep_dims: Vec<&(String, String)> = g
                .dims
                .iter()
                .filter(|(name, _)| QUOTA_DIMENSIONS.contains(&name.as_str()))
                .collect();
            let select: String = rep_dims
                .iter()
                .map(|(name, e)| format!("{e} AS \"{name}\", "))
                .collect();
            let group_by = Group::group_by(rep_dims.len());
            (
                format!(
                    "{with}SELECT {select}SUM(CAST(quota AS {EXACT})) AS quota FROM quota_rows WHERE {owner_filter}{group_by}"
                ),
                rep_dims.iter().map(|(name, _)| name.clone()).collect(),
            )
        });
        FineSql {
            aggregates,
            width: self.aggs.len(),
            quota,
            slots: self.slots,
        }
    }

    /// [`Mode::Aggregate`]: one statement giving each metric's numerator,
    /// denominator, excluded and row count per group (columns numbered
    /// `numerator_<i>` … when there are several metrics), joined to the
    /// quota of the same group for quota metrics.
    pub(super) fn aggregate_sql(&self, g: &Group, rows: &Rows) -> String {
        let n = g.dims.len();
        let (dbl, with) = (g.q.dialect.double(), rows.with());
        let (select_dims, group_by) = (g.select_dims(), Group::group_by(n));
        let owner_filter = &rows.owner_filter;
        let sums: Vec<String> = self
            .aggs
            .iter()
            .enumerate()
            .map(|(k, e)| format!("{e} AS a{k}"))
            .collect();
        let tests: Vec<String> = self
            .windows
            .iter()
            .map(|(p, cs)| format!("(({p}) AND (({})))", cs.join(") OR (")))
            .collect();
        let aggregate = format!(
            "SELECT {select_dims}{} FROM d WHERE {owner_filter} AND ({}){group_by}",
            sums.join(", "),
            tests.join(" OR ")
        );
        let outs = self.outputs(g, dbl).join(", ");
        let mut sql = if g.has_quota {
            // Numerators per group, joined to the quota of the same group.
            let quota_agg = format!(
                "SELECT {select_dims}SUM(CAST(quota AS {EXACT})) AS quota FROM quota_rows WHERE {owner_filter}{group_by}"
            );
            let out_dims: String = g
                .dims
                .iter()
                .map(|(name, _)| format!("coalesce(n.\"{name}\", g.\"{name}\") AS \"{name}\", "))
                .collect();
            let on = if n == 0 {
                "TRUE".to_string()
            } else {
                g.dims
                    .iter()
                    // (a plain equality of non-null keys: PostgreSQL's FULL JOIN
                    // needs a hashable condition, which IS NOT DISTINCT FROM is not)
                    .map(|(name, _)| {
                        format!(
                            "coalesce(n.\"{name}\", '<none>') = coalesce(g.\"{name}\", '<none>')"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            format!(
                "{with}SELECT {out_dims}{outs}, g.quota IS NOT NULL AS has_quota \
                 FROM ({aggregate}) n FULL OUTER JOIN ({quota_agg}) g ON {on}"
            )
        } else {
            let dims: String = g
                .dims
                .iter()
                .map(|(name, _)| format!("\"{name}\", "))
                .collect();
            format!("{with}SELECT {dims}{outs} FROM ({aggregate}) agg")
        };
        if n > 0 {
            let order: Vec<String> = (1..=n).map(|i| format!("{i} ASC NULLS LAST")).collect();
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        sql
    }

    /// Per metric: its four output columns from the aggregate `n`, plus the
    /// quota `g` on the side its definition names.
    fn outputs(&self, g: &Group, dbl: &str) -> Vec<String> {
        let col = |what: &str, i: usize| {
            if g.ms.len() == 1 {
                what.to_string()
            } else {
                format!("{what}_{i}")
            }
        };
        g.ms.iter()
            .enumerate()
            .map(|(i, m)| {
                let t = if g.has_quota { "n." } else { "" };
                let (qn, qd) = match m.sql.quota {
                    None => ("", ""),
                    Some(QuotaSide::Numerator) => ("coalesce(g.quota, 0) + ", ""),
                    Some(QuotaSide::Denominator) => ("", "coalesce(g.quota, 0) + "),
                };
                let [an, ad, ax, ar] = [0, 1, 2, 3].map(|w| self.column(i, w, t));
                let [nc, dc, xc, rc] =
                    ["numerator", "denominator", "excluded", "rows"].map(|w| col(w, i));
                format!(
                    "CAST({qn}coalesce({an}, 0) AS {dbl}) AS {nc}, \
                     CAST({qd}coalesce({ad}, 0) AS {dbl}) AS {dc}, CAST({ax} AS BIGINT) AS {xc}, \
                     CAST(coalesce({ar}, 0) AS BIGINT) AS {rc}"
                )
            })
            .collect()
    }
}

/// A term summed over its population in a period window, or `None` for a
/// sum of nothing (`NULL`, `0`).
///
/// Sums run in parallel partitions; summing exact decimals keeps the result
/// the same whatever order the partial sums meet in. Counts are integers,
/// exact as they are; anything else is summed as an exact decimal. Each sum
/// aggregates only its rows (`FILTER`), so a value shared by several sums is
/// computed once per row, not once per sum inside a `CASE`.
fn sum_in(t: &super::Term, pop: &str, period: &str, times: &Times) -> Option<String> {
    let e = &t.sql;
    Some(match t.count_condition(times) {
        Some(None) => format!("COUNT(1) FILTER (WHERE ({period}) AND ({pop}))"),
        Some(Some(c)) => format!("COUNT(1) FILTER (WHERE ({period}) AND ({pop}) AND ({c}))"),
        None if t.parsed.is_nothing() => return None,
        None if t.parsed.safe_everywhere() => {
            format!("SUM(CAST(({e}) AS {EXACT})) FILTER (WHERE ({period}) AND ({pop}))")
        }
        // An expression that could fail on rows it does not count (a
        // division by a column) is only evaluated on its rows.
        None => format!(
            "SUM(CAST(CASE WHEN ({period}) AND ({pop}) THEN ({e}) END AS {EXACT})) \
             FILTER (WHERE ({period}) AND ({pop}))"
        ),
    })
}
