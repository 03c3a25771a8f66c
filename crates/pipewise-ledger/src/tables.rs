//! Entity tables (users, accounts, activities, leads, lead events, quotas):
//! conversion from model types to Arrow batches in the canonical schemas, and
//! upserts that keep one row per key.

use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
pub use arrow_schema::ArrowError;
use arrow_schema::SchemaRef;
use pipewise_model::{Account, Activity, Lead, LeadEvent, Quota, User, schema};
use std::collections::HashMap;
use std::sync::Arc;

fn s<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(v.collect::<StringArray>())
}

fn ts(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        v.collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

fn kv_json(kv: &[(String, String)]) -> Option<String> {
    if kv.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = kv
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// Users as a batch of the canonical `users` schema.
pub fn users_batch(rows: &[User]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema::users(),
        vec![
            s(rows.iter().map(|r| Some(r.id.as_str()))),
            s(rows.iter().map(|r| Some(r.name.as_str()))),
            s(rows.iter().map(|r| r.email.as_deref())),
            s(rows.iter().map(|r| Some(r.role.as_str()))),
            s(rows.iter().map(|r| r.manager_id.as_deref())),
            s(rows.iter().map(|r| r.team.as_deref())),
            s(rows.iter().map(|r| r.segment.as_deref())),
            s(rows.iter().map(|r| r.region.as_deref())),
            Arc::new(rows.iter().map(|r| r.hire_date).collect::<Date32Array>()),
            Arc::new(rows.iter().map(|r| r.ramp_months).collect::<UInt32Array>()),
        ],
    )
}

/// Accounts as a batch of the canonical `accounts` schema.
pub fn accounts_batch(rows: &[Account]) -> Result<RecordBatch, ArrowError> {
    let custom: Vec<Option<String>> = rows.iter().map(|r| kv_json(&r.custom)).collect();
    RecordBatch::try_new(
        schema::accounts(),
        vec![
            s(rows.iter().map(|r| Some(r.id.as_str()))),
            s(rows.iter().map(|r| Some(r.name.as_str()))),
            s(rows.iter().map(|r| r.industry.as_deref())),
            Arc::new(rows.iter().map(|r| r.employees).collect::<Int64Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| r.annual_revenue)
                    .collect::<Float64Array>(),
            ),
            s(rows.iter().map(|r| r.region.as_deref())),
            s(rows.iter().map(|r| r.owner_id.as_deref())),
            s(custom.iter().map(|c| c.as_deref())),
        ],
    )
}

/// Activities as a batch of the canonical `activities` schema.
pub fn activities_batch(rows: &[Activity]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema::activities(),
        vec![
            s(rows.iter().map(|r| Some(r.id.as_str()))),
            s(rows.iter().map(|r| r.opportunity_id.as_deref())),
            s(rows.iter().map(|r| r.account_id.as_deref())),
            s(rows.iter().map(|r| r.lead_id.as_deref())),
            s(rows.iter().map(|r| Some(r.activity_type.as_str()))),
            s(rows.iter().map(|r| r.direction.map(|d| d.as_str()))),
            ts(rows.iter().map(|r| Some(r.occurred_at))),
            Arc::new(
                rows.iter()
                    .map(|r| r.duration_minutes)
                    .collect::<Float64Array>(),
            ),
            s(rows.iter().map(|r| r.owner_id.as_deref())),
            s(rows.iter().map(|r| r.contact_id.as_deref())),
            s(rows.iter().map(|r| r.contact_seniority.as_deref())),
        ],
    )
}

/// Leads as a batch of the canonical `leads` schema.
pub fn leads_batch(rows: &[Lead]) -> Result<RecordBatch, ArrowError> {
    let attrs: Vec<Option<String>> = rows.iter().map(|r| kv_json(&r.attributes)).collect();
    RecordBatch::try_new(
        schema::leads(),
        vec![
            s(rows.iter().map(|r| Some(r.id.as_str()))),
            ts(rows.iter().map(|r| Some(r.created_at))),
            s(rows.iter().map(|r| r.source.as_deref())),
            s(rows.iter().map(|r| r.company.as_deref())),
            s(rows.iter().map(|r| r.title.as_deref())),
            s(rows.iter().map(|r| r.industry.as_deref())),
            Arc::new(rows.iter().map(|r| r.employees).collect::<Int64Array>()),
            s(rows.iter().map(|r| r.country.as_deref())),
            s(rows.iter().map(|r| r.status.as_deref())),
            s(rows.iter().map(|r| r.owner_id.as_deref())),
            ts(rows.iter().map(|r| r.converted_at)),
            s(rows.iter().map(|r| r.converted_opportunity_id.as_deref())),
            s(attrs.iter().map(|c| c.as_deref())),
        ],
    )
}

/// Lead status changes as a batch of the canonical `lead_events` schema.
pub fn lead_events_batch(rows: &[LeadEvent]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema::lead_events(),
        vec![
            s(rows.iter().map(|r| Some(r.lead_id.as_str()))),
            s(rows.iter().map(|r| Some(r.field.as_str()))),
            s(rows.iter().map(|r| r.old_value.as_deref())),
            s(rows.iter().map(|r| r.new_value.as_deref())),
            ts(rows.iter().map(|r| Some(r.effective_at))),
            ts(rows.iter().map(|r| Some(r.recorded_at))),
            s(rows.iter().map(|r| Some(r.source.as_str()))),
        ],
    )
}

/// Quotas as a batch of the canonical `quotas` schema.
pub fn quotas_batch(rows: &[Quota]) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        schema::quotas(),
        vec![
            s(rows.iter().map(|r| Some(r.owner_id.as_str()))),
            s(rows.iter().map(|r| Some(r.period.as_str()))),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.period_start))
                    .collect::<Date32Array>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.period_end))
                    .collect::<Date32Array>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.amount))
                    .collect::<Float64Array>(),
            ),
        ],
    )
}

/// One `currency_rates` row: code, rate, start, end, corporate.
type RateRow<'a> = (&'a str, f64, Option<i32>, Option<i32>, bool);

/// The `currency_rates` table of a set of rates (the corporate currency's
/// row has rate 1 and `corporate` true).
pub fn rates_batch(rates: &pipewise_model::currency::Rates) -> Result<RecordBatch, ArrowError> {
    let mut rows: Vec<RateRow<'_>> = vec![(rates.corporate(), 1.0, None, None, true)];
    for (code, span) in rates.spans() {
        if code != rates.corporate() {
            rows.push((code, span.rate, span.start, span.end, false));
        }
    }
    RecordBatch::try_new(
        schema::currency_rates(),
        vec![
            s(rows.iter().map(|r| Some(r.0))),
            Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Date32Array>()),
            Arc::new(rows.iter().map(|r| r.3).collect::<Date32Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.4))
                    .collect::<arrow_array::BooleanArray>(),
            ),
        ],
    )
}

/// Rates back from a `currency_rates` table (`None` when it has no rows).
pub fn rates_from_batches(batches: &[RecordBatch]) -> Option<pipewise_model::currency::Rates> {
    use arrow_array::{Array, BooleanArray, StringArray};
    use pipewise_model::currency::{RateSpan, Rates};
    let mut rows = Vec::new();
    for b in batches {
        let code = b.column(0).as_any().downcast_ref::<StringArray>()?;
        let rate = b.column(1).as_any().downcast_ref::<Float64Array>()?;
        let start = b.column(2).as_any().downcast_ref::<Date32Array>()?;
        let end = b.column(3).as_any().downcast_ref::<Date32Array>()?;
        let corp = b.column(4).as_any().downcast_ref::<BooleanArray>()?;
        for i in 0..b.num_rows() {
            rows.push((
                code.value(i).to_string(),
                rate.value(i),
                (!start.is_null(i)).then(|| start.value(i)),
                (!end.is_null(i)).then(|| end.value(i)),
                corp.value(i),
            ));
        }
    }
    let corporate = rows.iter().find(|r| r.4)?.0.clone();
    let mut rates = Rates::new(&corporate);
    for (code, rate, start, end, c) in rows {
        if !c {
            rates.add(&code, RateSpan { start, end, rate });
        }
    }
    Some(rates)
}

/// The `fiscal_periods` table of a calendar.
pub fn fiscal_batch(cal: &pipewise_model::FiscalCalendar) -> Result<RecordBatch, ArrowError> {
    let mut rows: Vec<(i32, &str, i32, i32, i32)> = Vec::new();
    for y in cal.years() {
        rows.push((y.name, "year", 1, y.start, y.end));
        for (kind, list) in [("quarter", &y.quarters), ("month", &y.months)] {
            for (i, (a, b)) in list.iter().enumerate() {
                rows.push((y.name, kind, i as i32 + 1, *a, *b));
            }
        }
    }
    RecordBatch::try_new(
        schema::fiscal_periods(),
        vec![
            Arc::new(arrow_array::Int32Array::from_iter_values(
                rows.iter().map(|r| r.0),
            )),
            s(rows.iter().map(|r| Some(r.1))),
            Arc::new(arrow_array::Int32Array::from_iter_values(
                rows.iter().map(|r| r.2),
            )),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.4))),
        ],
    )
}

/// A calendar back from a `fiscal_periods` table (empty without one).
pub fn fiscal_from_batches(
    batches: &[RecordBatch],
) -> Result<pipewise_model::FiscalCalendar, String> {
    use arrow_array::{Int32Array, StringArray};
    use pipewise_model::FiscalYear;
    let mut years: Vec<FiscalYear> = Vec::new();
    for b in batches {
        let bad = || "fiscal_periods: unexpected column types".to_string();
        let fy = b
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(bad)?;
        let kind = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(bad)?;
        let start = b
            .column(3)
            .as_any()
            .downcast_ref::<Date32Array>()
            .ok_or_else(bad)?;
        let end = b
            .column(4)
            .as_any()
            .downcast_ref::<Date32Array>()
            .ok_or_else(bad)?;
        for i in 0..b.num_rows() {
            let name = fy.value(i);
            let span = (start.value(i), end.value(i));
            if kind.value(i) == "year" {
                years.push(FiscalYear {
                    name,
                    start: span.0,
                    end: span.1,
                    quarters: Vec::new(),
                    months: Vec::new(),
                });
                continue;
            }
            let Some(y) = years.iter_mut().find(|y| y.name == name) else {
                return Err(format!(
                    "fiscal_periods: a {} of FY{name} before its year row",
                    kind.value(i)
                ));
            };
            match kind.value(i) {
                "quarter" => y.quarters.push(span),
                _ => y.months.push(span),
            }
        }
    }
    pipewise_model::FiscalCalendar::new(years)
}

/// The key columns that identify a row of each entity table.
pub fn table_key(name: &str) -> &'static [&'static str] {
    match name {
        "quotas" => &["owner_id", "period"],
        "lead_events" => &["lead_id", "field", "effective_at", "new_value"],
        _ => &["id"],
    }
}

fn key_string(b: &RecordBatch, cols: &[usize], row: usize) -> String {
    let mut k = String::new();
    for &c in cols {
        let a = b.column(c);
        if a.is_null(row) {
            k.push('\u{0}');
        } else if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
            k.push_str(s.value(row));
        } else if let Some(t) = a.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            k.push_str(&t.value(row).to_string());
        } else {
            k.push('?');
        }
        k.push('\u{1f}');
    }
    k
}

/// Merge `incoming` into `existing` rows: a row whose key matches an existing
/// row replaces it in place; new keys are appended in incoming order.
/// Returns the merged batch and how many rows were new, replaced or unchanged.
pub fn upsert(
    schema: SchemaRef,
    key: &[&str],
    existing: &[RecordBatch],
    incoming: &RecordBatch,
) -> Result<(RecordBatch, UpsertCounts), ArrowError> {
    let mut all: Vec<RecordBatch> = existing.to_vec();
    all.push(incoming.clone());
    let merged = arrow_select::concat::concat_batches(&schema, &all)?;
    let cols: Vec<usize> = key
        .iter()
        .map(|k| schema.index_of(k))
        .collect::<Result<_, _>>()?;
    let n_existing = merged.num_rows() - incoming.num_rows();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    let mut counts = UpsertCounts::default();
    for row in 0..merged.num_rows() {
        let k = key_string(&merged, &cols, row);
        match slot.get(&k) {
            Some(&pos) => {
                if row >= n_existing {
                    let prev = order[pos] as usize;
                    if rows_equal(&merged, prev, row) {
                        counts.unchanged += 1;
                    } else {
                        counts.replaced += 1;
                        order[pos] = row as u32;
                    }
                } else {
                    order[pos] = row as u32;
                }
            }
            None => {
                slot.insert(k, order.len());
                order.push(row as u32);
                if row >= n_existing {
                    counts.new += 1;
                }
            }
        }
    }
    let idx = UInt32Array::from(order);
    let columns = merged
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((RecordBatch::try_new(schema, columns)?, counts))
}

fn rows_equal(b: &RecordBatch, i: usize, j: usize) -> bool {
    b.columns().iter().all(|c| {
        let x = c.slice(i, 1);
        let y = c.slice(j, 1);
        x.to_data() == y.to_data()
    })
}

/// What an upsert of an entity table did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // rows added, changed and unchanged
pub struct UpsertCounts {
    pub new: u64,
    pub replaced: u64,
    pub unchanged: u64,
}
