//! A scorecard's fine groups: the exact sums per group of every dimension
//! the breakdowns name, read from the engine's batches, and rolled up into
//! each breakdown's rows.

use crate::compile::FineSql;
use crate::evaluate::{cell_text, engine_failure};
use crate::{Metric, MetricError, MetricRow, QuotaSide};
use pipewise_engine::Engine;

/// Where a breakdown dimension comes from in a fine plan's rows.
#[derive(Debug, Clone, Copy)]
pub(super) enum FineDim {
    /// The plan's dimension column.
    Column(usize),
    /// A rep attribute ([`rep_attribute`]) of the owner in the given column.
    Rep(usize, usize),
}

/// Per user id: team, region and manager.
pub(super) type RepAttributes = std::collections::HashMap<String, [Option<String>; 3]>;

/// The index of a rep dimension in [`RepAttributes`].
pub(super) fn rep_attribute(dimension: &str) -> Option<usize> {
    match dimension {
        "team" => Some(0),
        "region" => Some(1),
        "manager" => Some(2),
        _ => None,
    }
}

/// Every user's team, region and manager.
pub(super) fn rep_attributes(engine: &Engine) -> Result<RepAttributes, MetricError> {
    let doing = "reading every rep's team, region and manager";
    let batches = engine
        .sql("SELECT id, team, region, manager_id FROM users")
        .map_err(|e| MetricError::engine(doing, e))?;
    let (_, rows) = pipewise_engine::rows(&batches).map_err(|e| MetricError::engine(doing, e))?;
    let text = cell_text;
    Ok(rows
        .iter()
        .filter_map(|r| Some((text(r.first()?)?, [text(&r[1]), text(&r[2]), text(&r[3])])))
        .collect())
}

/// A fine group's dimension values.
type Dims = Vec<Option<String>>;

/// The groups of a fine plan: dimension values and exact sums.
pub(super) struct FineGroups {
    /// Per group: its dimension values.
    dims: Vec<Dims>,
    /// Per group, `width` sums in a row (a SQL NULL, the sum of no rows,
    /// is 0: every use of a sum takes NULL for 0).
    sums: Vec<i128>,
    width: usize,
    /// Per sum: a `DECIMAL(38, 10)` (else an integer count).
    decimal: Vec<bool>,
    /// The quota per group (10-digit decimals), for quota metrics.
    quota: Option<Vec<(Dims, Option<i128>)>>,
}

/// 10^10: the scale of exact decimal sums.
const DECIMAL_ONE: i128 = 10_000_000_000;

/// A `DECIMAL(38, 10)` as a double, the way the SQL engine casts it.
fn decimal_to_f64(x: i128) -> f64 {
    x as f64 / 10_f64.powi(10)
}

impl FineGroups {
    /// Run a fine plan of metrics `ms` with `n` dimensions.
    pub(super) fn run(
        engine: &Engine,
        plan: &FineSql,
        n: usize,
        ms: &[&Metric],
    ) -> Result<FineGroups, MetricError> {
        use pipewise_engine::datafusion::arrow::array::{Array, AsArray};
        use pipewise_engine::datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
        use std::collections::HashMap;
        let width = plan.width;
        let mut groups = FineGroups {
            dims: Vec::new(),
            sums: Vec::new(),
            width,
            decimal: vec![false; width],
            quota: None,
        };
        let query = |sql: &str| {
            engine
                .sql(sql)
                .map_err(|e| engine_failure(ms, "summing", e))
        };
        let started = std::time::Instant::now();
        // Each window's statement gives some of the sums for the groups
        // with rows in that window: merged into one row per group.
        let mut index: HashMap<Dims, usize> = HashMap::new();
        for sql in &plan.aggregates {
            tracing::trace!(%sql, "fine plan");
            for b in &query(sql)? {
                let schema = b.schema();
                let mut at: Vec<usize> = Vec::with_capacity(b.num_columns() - n);
                for f in &schema.fields()[n..] {
                    match f.name().strip_prefix('a').and_then(|k| k.parse().ok()) {
                        Some(k) if k < width => at.push(k),
                        _ => {
                            return Err(MetricError::Internal(format!(
                                "a fine statement gave an unexpected column {:?}",
                                f.name()
                            )));
                        }
                    }
                }
                let mut rows: Vec<usize> = Vec::with_capacity(b.num_rows());
                for r in 0..b.num_rows() {
                    let dims = b.columns()[..n]
                        .iter()
                        .map(|c| text_cell(c.as_ref(), r))
                        .collect::<Result<Dims, _>>()?;
                    let g = *index.entry(dims).or_insert_with_key(|dims| {
                        groups.dims.push(dims.clone());
                        groups.sums.resize(groups.sums.len() + width, 0);
                        groups.dims.len() - 1
                    });
                    rows.push(g);
                }
                for (c, &k) in b.columns()[n..].iter().zip(&at) {
                    let cells = rows.iter().map(|&g| g * width + k);
                    match c.data_type() {
                        DataType::Int64 => {
                            let c = c.as_primitive::<Int64Type>();
                            for (r, cell) in cells.enumerate() {
                                if c.is_valid(r) {
                                    groups.sums[cell] += i128::from(c.value(r));
                                }
                            }
                        }
                        DataType::Decimal128(_, 10) => {
                            groups.decimal[k] = true;
                            let c = c.as_primitive::<Decimal128Type>();
                            for (r, cell) in cells.enumerate() {
                                if c.is_valid(r) {
                                    groups.sums[cell] += c.value(r);
                                }
                            }
                        }
                        t => {
                            return Err(MetricError::Internal(format!(
                                "a fine sum came back as {t}, not an exact count or decimal"
                            )));
                        }
                    }
                }
            }
        }
        tracing::debug!(
            groups = groups.dims.len(),
            statements = plan.aggregates.len(),
            elapsed = ?started.elapsed(),
            "fine sums"
        );
        if let Some((sql, by)) = &plan.quota {
            let k = by.len();
            let mut quota = Vec::new();
            for b in &query(sql)? {
                let q = b.column(k);
                let Some(q) = q.as_primitive_opt::<Decimal128Type>() else {
                    return Err(MetricError::Internal(format!(
                        "a quota sum came back as {}, not an exact decimal",
                        q.data_type()
                    )));
                };
                for r in 0..b.num_rows() {
                    let dims = b.columns()[..k]
                        .iter()
                        .map(|c| text_cell(c.as_ref(), r))
                        .collect::<Result<Dims, _>>()?;
                    quota.push((dims, q.is_valid(r).then(|| q.value(r))));
                }
            }
            groups.quota = Some(quota);
        }
        Ok(groups)
    }

    /// The rows of the plan's metrics `which` (indexes into `ms`, the plan's
    /// metrics) for the breakdown `by`, whose dimensions are the fine plan's
    /// columns `keep` (and, when they are all rep dimensions, the quota
    /// statement's columns `quota_keep`): the fine groups summed per
    /// breakdown group, then turned into numerator, denominator, excluded and
    /// row count exactly as the single-breakdown SQL does. Returns one row
    /// list per entry of `which`.
    pub(super) fn metric_rows<'s>(
        &'s self,
        plan: &FineSql,
        ms: &[&Metric],
        which: &[usize],
        by: &[String],
        (keep, quota_keep): (&[FineDim], Option<&[FineDim]>),
        users: &'s RepAttributes,
    ) -> Vec<Vec<MetricRow>> {
        use std::collections::HashMap;
        fn value<'a>(
            dims: &'a [Option<String>],
            d: &FineDim,
            users: &'a RepAttributes,
        ) -> Option<&'a str> {
            match *d {
                FineDim::Column(p) => dims[p].as_deref(),
                FineDim::Rep(a, o) => dims[o]
                    .as_deref()
                    .and_then(|id| users.get(id))
                    .and_then(|u| u[a].as_deref()),
            }
        }
        type Key<'a> = Vec<Option<&'a str>>;
        // The sums these metrics read, `w` of them per breakdown group.
        let mut cols: Vec<usize> = which
            .iter()
            .flat_map(|&i| plan.slots[i].iter().flatten().copied())
            .collect();
        cols.sort_unstable();
        cols.dedup();
        let w = cols.len();
        let mut at = vec![usize::MAX; self.width];
        for (j, &c) in cols.iter().enumerate() {
            at[c] = j;
        }
        // Breakdown groups (keys borrow the fine rows' text), their sums and
        // quota.
        let mut index: HashMap<Key<'s>, usize> = HashMap::new();
        let mut keys: Vec<Key<'s>> = Vec::new();
        let mut sums: Vec<i128> = Vec::new();
        let mut quota: Vec<Option<i128>> = Vec::new();
        let mut group_of = |k: Key<'s>| -> usize {
            *index.entry(k).or_insert_with_key(|k| {
                keys.push(k.clone());
                sums.resize(sums.len() + w, 0);
                quota.push(None);
                keys.len() - 1
            })
        };
        let mut fine_group: Vec<usize> = Vec::with_capacity(self.dims.len());
        for dims in &self.dims {
            fine_group.push(group_of(
                keep.iter().map(|d| value(dims, d, users)).collect(),
            ));
        }
        let mut quota_group: Vec<usize> = Vec::new();
        if let (Some(rows), Some(qk)) = (&self.quota, quota_keep) {
            for (dims, _) in rows {
                quota_group.push(group_of(qk.iter().map(|d| value(dims, d, users)).collect()));
            }
        }
        if by.is_empty() && fine_group.is_empty() && quota_group.is_empty() {
            group_of(Vec::new());
        }
        for (g, &to) in fine_group.iter().enumerate() {
            let from = &self.sums[g * self.width..(g + 1) * self.width];
            for (acc, &c) in sums[to * w..(to + 1) * w].iter_mut().zip(&cols) {
                *acc += from[c];
            }
        }
        if let Some(rows) = &self.quota {
            for ((_, q), &to) in rows.iter().zip(&quota_group) {
                if let Some(q) = q {
                    quota[to] = Some(quota[to].unwrap_or(0) + q);
                }
            }
        }
        // In the SQL's order: ascending, nulls last.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| {
            keys[a]
                .iter()
                .map(|v| (v.is_none(), v.unwrap_or("")))
                .cmp(keys[b].iter().map(|v| (v.is_none(), v.unwrap_or(""))))
        });
        let mut out: Vec<Vec<MetricRow>> = (0..which.len())
            .map(|_| Vec::with_capacity(keys.len()))
            .collect();
        for g in order {
            let s = &sums[g * w..(g + 1) * w];
            let q = quota[g];
            let dims: Vec<(String, Option<String>)> = by
                .iter()
                .zip(&keys[g])
                .map(|(d, v)| (d.clone(), v.map(str::to_string)))
                .collect();
            for (o, &i) in which.iter().enumerate() {
                let m = ms[i];
                let has_quota = m.sql.quota.is_some() && q.is_some();
                let slot = plan.slots[i];
                let raw =
                    |what: usize| slot[what].map_or((0, false), |a| (s[at[a]], self.decimal[a]));
                // CAST([quota +] coalesce(sum, 0) AS DOUBLE)
                let side = |what: usize, with_quota: bool| -> f64 {
                    let (v, dec) = raw(what);
                    if with_quota {
                        let v = if dec { v } else { v * DECIMAL_ONE };
                        decimal_to_f64(q.unwrap_or(0) + v)
                    } else if dec {
                        decimal_to_f64(v)
                    } else {
                        v as f64
                    }
                };
                if !by.is_empty() && raw(3).0 == 0 && !has_quota {
                    continue;
                }
                let numerator = side(0, m.sql.quota == Some(QuotaSide::Numerator));
                let denominator = side(1, m.sql.quota == Some(QuotaSide::Denominator));
                let excluded = slot[2].map(|_| raw(2).0 as i64);
                out[o].push(MetricRow::new(
                    m,
                    dims.clone(),
                    numerator,
                    denominator,
                    excluded,
                ));
            }
        }
        out
    }
}

/// A dimension value of a result batch as text (dimensions are text).
fn text_cell(
    c: &dyn pipewise_engine::datafusion::arrow::array::Array,
    r: usize,
) -> Result<Option<String>, MetricError> {
    use pipewise_engine::datafusion::arrow::array::AsArray;
    use pipewise_engine::datafusion::arrow::datatypes::DataType;
    if c.is_null(r) {
        return Ok(None);
    }
    Ok(Some(match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(r).to_string(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(r).to_string(),
        DataType::Utf8View => c.as_string_view().value(r).to_string(),
        t => {
            return Err(MetricError::Internal(format!(
                "a dimension came back as {t}, not text"
            )));
        }
    }))
}
