//! The canonical entities besides opportunities (which live in the ledger as
//! events and are reconstructed as of any time).

use crate::field::{Field, Value};
use crate::time::{Date, Timestamp};

/// A user's role in the sales team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the roles are their names
pub enum Role {
    Rep,
    Manager,
    Exec,
    Admin,
}

impl Role {
    /// The role's name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Exec => "exec",
            Role::Admin => "admin",
        }
    }

    /// A role by its name in the tables.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Rep, Role::Manager, Role::Exec, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A person who owns deals or manages people who do.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `users` columns (docs/data-model.md)
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    /// The user's manager; the manager hierarchy scopes roll-ups and access.
    pub manager_id: Option<String>,
    pub team: Option<String>,
    pub segment: Option<String>,
    pub region: Option<String>,
    pub hire_date: Option<Date>,
    /// Months a new hire takes to reach full productivity.
    pub ramp_months: Option<u32>,
}

/// A customer or prospect company.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `accounts` columns (docs/data-model.md)
pub struct Account {
    pub id: String,
    pub name: String,
    pub industry: Option<String>,
    pub employees: Option<i64>,
    pub annual_revenue: Option<f64>,
    pub region: Option<String>,
    pub owner_id: Option<String>,
    /// Custom fields, name → value, kept in source order.
    pub custom: Vec<(String, String)>,
}

/// What kind of activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the types are their names
pub enum ActivityType {
    Call,
    Email,
    Meeting,
    Task,
}

impl ActivityType {
    /// The type's name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::Call => "call",
            ActivityType::Email => "email",
            ActivityType::Meeting => "meeting",
            ActivityType::Task => "task",
        }
    }

    /// A type from a CRM's name for it (anything naming a call, mail, meeting, event or demo), any case.
    pub fn parse_loose(s: &str) -> Option<ActivityType> {
        let l = s.trim().to_ascii_lowercase();
        if l.contains("call") {
            Some(ActivityType::Call)
        } else if l.contains("mail") {
            Some(ActivityType::Email)
        } else if l.contains("meet") || l.contains("event") || l.contains("demo") {
            Some(ActivityType::Meeting)
        } else if l.is_empty() {
            None
        } else {
            Some(ActivityType::Task)
        }
    }
}

/// Who acted: seed 000's seller:buyer activity ratio needs the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the directions are their names
pub enum Direction {
    SellerToBuyer,
    BuyerToSeller,
}

impl Direction {
    /// The direction's name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SellerToBuyer => "seller_to_buyer",
            Direction::BuyerToSeller => "buyer_to_seller",
        }
    }

    /// A direction from a CRM's name for it (`outbound`, `received`, …), any case.
    pub fn parse_loose(s: &str) -> Option<Direction> {
        let l = s.trim().to_ascii_lowercase();
        match l.as_str() {
            "seller_to_buyer" | "outbound" | "outgoing" | "sent" => Some(Direction::SellerToBuyer),
            "buyer_to_seller" | "inbound" | "incoming" | "received" | "reply" => {
                Some(Direction::BuyerToSeller)
            }
            _ => None,
        }
    }
}

/// A call, email, meeting or task, on an opportunity, account or lead.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `activities` columns (docs/data-model.md)
pub struct Activity {
    pub id: String,
    pub opportunity_id: Option<String>,
    pub account_id: Option<String>,
    pub lead_id: Option<String>,
    pub activity_type: ActivityType,
    pub direction: Option<Direction>,
    pub occurred_at: Timestamp,
    pub duration_minutes: Option<f64>,
    pub owner_id: Option<String>,
    /// The buyer-side contact the activity was with (Salesforce's `WhoId`
    /// when it names a contact).
    pub contact_id: Option<String>,
    /// That contact's seniority: `executive` (C-level, VP: "above the line",
    /// seed 000) or anything else a source says (`manager`, `individual`).
    pub contact_seniority: Option<String>,
}

/// A lead: a person or company not yet an opportunity.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `leads` columns (docs/data-model.md)
pub struct Lead {
    pub id: String,
    pub created_at: Timestamp,
    pub source: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i64>,
    pub country: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub converted_at: Option<Timestamp>,
    pub converted_opportunity_id: Option<String>,
    /// Behavioural and other attributes (page views, demo request, …), name → value.
    pub attributes: Vec<(String, String)>,
}

/// A change to a lead's status or another lead field.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `lead_events` columns (docs/data-model.md)
pub struct LeadEvent {
    pub lead_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub source: String,
}

/// A quota for a person or a team over a period.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `quotas` columns (docs/data-model.md)
pub struct Quota {
    /// A user id or a team name.
    pub owner_id: String,
    /// Period label, e.g. `2026-Q3`.
    pub period: String,
    pub period_start: Date,
    pub period_end: Date,
    pub amount: f64,
}

/// The ledger's unit: one field of one opportunity changed.
///
/// `effective_at` is when the change happened in the CRM; `recorded_at` is
/// when pipewise (or the CRM's own audit trail) learned it. As-of queries
/// filter on `effective_at`; backtests also filter on `recorded_at`.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the canonical `opportunity_events` columns (docs/data-model.md)
pub struct OpportunityEvent {
    pub opportunity_id: String,
    pub field: Field,
    pub old_value: Value,
    pub new_value: Value,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub source: String,
}
