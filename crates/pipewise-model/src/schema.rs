//! Arrow schemas of the canonical tables. `docs/data-model.md` documents them
//! field by field; the ledger writes these exact schemas to Parquet.

use arrow_schema::{DataType, Field as ArrowField, Schema, TimeUnit};
use std::sync::Arc;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn f(name: &str, dt: DataType, nullable: bool) -> ArrowField {
    ArrowField::new(name, dt, nullable)
}

/// The canonical `users` table.
pub fn users() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("name", DataType::Utf8, false),
        f("email", DataType::Utf8, true),
        f("role", DataType::Utf8, false),
        f("manager_id", DataType::Utf8, true),
        f("team", DataType::Utf8, true),
        f("segment", DataType::Utf8, true),
        f("region", DataType::Utf8, true),
        f("hire_date", DataType::Date32, true),
        f("ramp_months", DataType::UInt32, true),
    ]))
}

/// The canonical `accounts` table.
pub fn accounts() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("name", DataType::Utf8, false),
        f("industry", DataType::Utf8, true),
        f("employees", DataType::Int64, true),
        f("annual_revenue", DataType::Float64, true),
        f("region", DataType::Utf8, true),
        f("owner_id", DataType::Utf8, true),
        f("custom", DataType::Utf8, true),
    ]))
}

/// The canonical `activities` table.
pub fn activities() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("opportunity_id", DataType::Utf8, true),
        f("account_id", DataType::Utf8, true),
        f("lead_id", DataType::Utf8, true),
        f("type", DataType::Utf8, false),
        f("direction", DataType::Utf8, true),
        f("occurred_at", ts(), false),
        f("duration_minutes", DataType::Float64, true),
        f("owner_id", DataType::Utf8, true),
        f("contact_id", DataType::Utf8, true),
        f("contact_seniority", DataType::Utf8, true),
    ]))
}

/// The canonical `leads` table.
pub fn leads() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("created_at", ts(), false),
        f("source", DataType::Utf8, true),
        f("company", DataType::Utf8, true),
        f("title", DataType::Utf8, true),
        f("industry", DataType::Utf8, true),
        f("employees", DataType::Int64, true),
        f("country", DataType::Utf8, true),
        f("status", DataType::Utf8, true),
        f("owner_id", DataType::Utf8, true),
        f("converted_at", ts(), true),
        f("converted_opportunity_id", DataType::Utf8, true),
        f("attributes", DataType::Utf8, true),
    ]))
}

/// The canonical `lead_events` table (lead status changes).
pub fn lead_events() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("lead_id", DataType::Utf8, false),
        f("field", DataType::Utf8, false),
        f("old_value", DataType::Utf8, true),
        f("new_value", DataType::Utf8, true),
        f("effective_at", ts(), false),
        f("recorded_at", ts(), false),
        f("source", DataType::Utf8, false),
    ]))
}

/// The canonical `quotas` table.
pub fn quotas() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("owner_id", DataType::Utf8, false),
        f("period", DataType::Utf8, false),
        f("period_start", DataType::Date32, false),
        f("period_end", DataType::Date32, false),
        f("amount", DataType::Float64, false),
    ]))
}

/// Exchange rates an ingest converted with: units of `code` per corporate
/// unit, static (no dates) or from `start_date` to `end_date` (exclusive).
pub fn currency_rates() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("code", DataType::Utf8, false),
        f("rate", DataType::Float64, false),
        f("start_date", DataType::Date32, true),
        f("end_date", DataType::Date32, true),
        f("corporate", DataType::Boolean, false),
    ]))
}

/// Fiscal years the CRM defines itself (Salesforce custom fiscal years):
/// one `year` row per year, then its `quarter` and `month` rows (`number`
/// from 1), each with its first and last day.
pub fn fiscal_periods() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("fiscal_year", DataType::Int32, false),
        f("kind", DataType::Utf8, false),
        f("number", DataType::Int32, false),
        f("start_date", DataType::Date32, false),
        f("end_date", DataType::Date32, false),
    ]))
}

/// The canonical, field-generic view of the ledger: every value as canonical
/// text. (The ledger stores each field in its own typed column; this is the
/// shape it exports and that SQL sees.)
pub fn opportunity_events() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("opportunity_id", DataType::Utf8, false),
        f("field", DataType::Utf8, false),
        f("old_value", DataType::Utf8, true),
        f("new_value", DataType::Utf8, true),
        f("effective_at", ts(), false),
        f("recorded_at", ts(), false),
        f("source", DataType::Utf8, false),
        // The ledger's landing order: ties on effective_at resolve by it.
        f("seq", DataType::Int64, false),
    ]))
}

/// Current (or as-of) state of every opportunity.
pub fn opportunities() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8, false),
        f("account_id", DataType::Utf8, true),
        f("owner_id", DataType::Utf8, true),
        f("name", DataType::Utf8, true),
        f("type", DataType::Utf8, true),
        f("segment", DataType::Utf8, true),
        f("source", DataType::Utf8, true),
        f("currency", DataType::Utf8, true),
        f("amount", DataType::Float64, true),
        f("stage", DataType::Utf8, true),
        f("forecast_category", DataType::Utf8, true),
        f("probability", DataType::Float64, true),
        f("close_date", DataType::Date32, true),
        f("created_at", ts(), false),
        f("is_closed", DataType::Boolean, false),
        f("is_won", DataType::Boolean, false),
        f("loss_reason", DataType::Utf8, true),
        f("next_step", DataType::Utf8, true),
        f("next_step_date", DataType::Date32, true),
        f("has_business_case", DataType::Boolean, true),
        f("is_deleted", DataType::Boolean, false),
    ]))
}
