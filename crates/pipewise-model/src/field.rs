//! Ledger fields and their typed values.

use crate::time::{Date, format_date};
use std::fmt;

/// The type a field's values have. Decides the Parquet column type the ledger
/// stores the field with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKind {
    /// Free or categorical text (stage names, ids, picklists).
    Text,
    /// A number (amounts, probabilities in percent).
    Number,
    /// A calendar date (close dates).
    Date,
    /// True or false.
    Bool,
}

/// One tracked field of an opportunity. Stage, amount, close date, forecast
/// category, owner, probability and custom fields are all just fields: each
/// change to any of them is one ledger event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // the fields are the canonical opportunity fields (docs/data-model.md)
pub enum Field {
    Stage,
    Amount,
    CloseDate,
    ForecastCategory,
    OwnerId,
    Probability,
    Name,
    AccountId,
    Type,
    Segment,
    Source,
    Currency,
    NextStep,
    NextStepDate,
    HasBusinessCase,
    LossReason,
    /// Set to true when the opportunity is deleted in the source, false when restored.
    IsDeleted,
    /// The amount in the deal's own currency (`currency`), when `amount` was
    /// converted to the corporate currency.
    AmountNative,
    /// The rate `amount_native` was converted with (units of the deal's
    /// currency per corporate unit: amount = amount_native / fx_rate).
    FxRate,
    /// The sales process the deal follows, as the source names it (a HubSpot
    /// pipeline, a Salesforce business process); `pipewise.toml` maps it.
    Pipeline,
    /// A custom field, stored as text, named `custom.<name>` in the ledger.
    Custom(String),
}

impl Field {
    /// Every built-in field, in canonical order.
    pub const BUILT_IN: [Field; 20] = [
        Field::Stage,
        Field::Amount,
        Field::CloseDate,
        Field::ForecastCategory,
        Field::OwnerId,
        Field::Probability,
        Field::Name,
        Field::AccountId,
        Field::Type,
        Field::Segment,
        Field::Source,
        Field::Currency,
        Field::NextStep,
        Field::NextStepDate,
        Field::HasBusinessCase,
        Field::LossReason,
        Field::IsDeleted,
        Field::AmountNative,
        Field::FxRate,
        Field::Pipeline,
    ];

    /// The field's canonical snake_case name, as stored in the ledger's `field` column.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Field::Stage => Borrowed("stage"),
            Field::Amount => Borrowed("amount"),
            Field::CloseDate => Borrowed("close_date"),
            Field::ForecastCategory => Borrowed("forecast_category"),
            Field::OwnerId => Borrowed("owner_id"),
            Field::Probability => Borrowed("probability"),
            Field::Name => Borrowed("name"),
            Field::AccountId => Borrowed("account_id"),
            Field::Type => Borrowed("type"),
            Field::Segment => Borrowed("segment"),
            Field::Source => Borrowed("source"),
            Field::Currency => Borrowed("currency"),
            Field::NextStep => Borrowed("next_step"),
            Field::NextStepDate => Borrowed("next_step_date"),
            Field::HasBusinessCase => Borrowed("has_business_case"),
            Field::LossReason => Borrowed("loss_reason"),
            Field::IsDeleted => Borrowed("is_deleted"),
            Field::AmountNative => Borrowed("amount_native"),
            Field::FxRate => Borrowed("fx_rate"),
            Field::Pipeline => Borrowed("pipeline"),
            Field::Custom(n) => std::borrow::Cow::Owned(format!("custom.{n}")),
        }
    }

    /// Parse a canonical field name; `custom.<name>` gives a custom field.
    pub fn parse(name: &str) -> Option<Field> {
        if let Some(rest) = name.strip_prefix("custom.") {
            let ok = !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            return ok.then(|| Field::Custom(rest.to_string()));
        }
        Field::BUILT_IN.iter().find(|f| f.name() == name).cloned()
    }

    /// The type of the field's values.
    pub fn kind(&self) -> FieldKind {
        match self {
            Field::Amount | Field::Probability | Field::AmountNative | Field::FxRate => {
                FieldKind::Number
            }
            Field::CloseDate | Field::NextStepDate => FieldKind::Date,
            Field::HasBusinessCase | Field::IsDeleted => FieldKind::Bool,
            _ => FieldKind::Text,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A field's value. `Null` means "no value" (a cleared field, or the old value
/// of a field's first event).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the variants are the field kinds' values
pub enum Value {
    Null,
    Text(String),
    Number(f64),
    Date(Date),
    Bool(bool),
}

impl Value {
    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if the value is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if the value is a number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The date, if the value is a date.
    pub fn as_date(&self) -> Option<Date> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// Canonical text form, used for the `old_value` / `new_value` columns of
    /// the canonical `opportunity_events` table: ISO dates, shortest
    /// round-tripping decimals, `true`/`false`; `None` for null.
    pub fn to_canonical_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Number(n) => Some(format_number(*n)),
            Value::Date(d) => Some(format_date(*d)),
            Value::Bool(b) => Some(b.to_string()),
        }
    }

    /// Exact equality including NaN-free numbers; used to drop no-op changes.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.to_bits() == b.to_bits() || a == b,
            _ => self == other,
        }
    }
}

/// Shortest decimal that round-trips, without a trailing `.0` for integers.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Opportunity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the types are their names
pub enum OpportunityType {
    New,
    Expansion,
    Renewal,
}

impl OpportunityType {
    /// The stage outcome's name in `pipewise.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityType::New => "new",
            OpportunityType::Expansion => "expansion",
            OpportunityType::Renewal => "renewal",
        }
    }

    /// Map common CRM spellings ("New Business", "Existing Customer - Upgrade", "Renewal").
    pub fn parse_loose(s: &str) -> Option<OpportunityType> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() {
            return None;
        }
        if s.contains("renew") {
            Some(OpportunityType::Renewal)
        } else if s.contains("expan")
            || s.contains("upgrade")
            || s.contains("upsell")
            || s.contains("existing")
        {
            Some(OpportunityType::Expansion)
        } else if s.contains("new") {
            Some(OpportunityType::New)
        } else {
            None
        }
    }
}

/// Why a deal was lost (seed 004 splits competition from no decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the reasons are their names
pub enum LossReason {
    Competition,
    NoDecision,
    Other,
    Unknown,
}

impl LossReason {
    /// Every loss reason.
    pub const ALL: [LossReason; 4] = [
        LossReason::Competition,
        LossReason::NoDecision,
        LossReason::Other,
        LossReason::Unknown,
    ];

    /// The loss reason's name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            LossReason::Competition => "competition",
            LossReason::NoDecision => "no_decision",
            LossReason::Other => "other",
            LossReason::Unknown => "unknown",
        }
    }

    /// A loss reason by its name in the tables.
    pub fn parse(s: &str) -> Option<LossReason> {
        LossReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Map common CRM spellings ("Lost to Competitor", "No Decision / Non-Responsive", "Price").
    pub fn parse_loose(s: &str) -> LossReason {
        let l = s.trim().to_ascii_lowercase();
        if l.is_empty() || l == "unknown" {
            LossReason::Unknown
        } else if l.contains("compet") {
            LossReason::Competition
        } else if l.contains("no decision")
            || l.contains("no_decision")
            || l.contains("nodecision")
            || l.contains("no-decision")
            || l.contains("status quo")
        {
            LossReason::NoDecision
        } else {
            LossReason::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for f in Field::BUILT_IN {
            assert_eq!(Field::parse(&f.name()), Some(f.clone()));
        }
        assert_eq!(
            Field::parse("custom.region_code"),
            Some(Field::Custom("region_code".into()))
        );
        assert_eq!(Field::parse("custom."), None);
        assert_eq!(Field::parse("nonsense"), None);
    }

    #[test]
    fn canonical_strings() {
        assert_eq!(Value::Number(1200.0).to_canonical_string().unwrap(), "1200");
        assert_eq!(Value::Number(12.5).to_canonical_string().unwrap(), "12.5");
        assert_eq!(Value::Date(0).to_canonical_string().unwrap(), "1970-01-01");
        assert_eq!(Value::Null.to_canonical_string(), None);
    }

    #[test]
    fn loose_loss_reasons() {
        assert_eq!(
            LossReason::parse_loose("Lost to Competitor"),
            LossReason::Competition
        );
        assert_eq!(
            LossReason::parse_loose("No Decision"),
            LossReason::NoDecision
        );
        assert_eq!(LossReason::parse_loose("Price"), LossReason::Other);
        assert_eq!(LossReason::parse_loose(""), LossReason::Unknown);
    }
}
