//! Dimensions a metric breaks down by, and the SQL dialects it compiles to.

use crate::Source;

/// The SQL dialect a metric compiles to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// pipewise's embedded engine.
    #[default]
    DataFusion,
    /// PostgreSQL over the tables and `deal_facts` function `pipewise export
    /// --dialect postgres` writes.
    Postgres,
}

impl Dialect {
    /// `datafusion`, `postgres` or `postgresql`.
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "datafusion" => Some(Dialect::DataFusion),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            _ => None,
        }
    }

    pub(crate) fn double(self) -> &'static str {
        match self {
            Dialect::DataFusion => "DOUBLE",
            Dialect::Postgres => "DOUBLE PRECISION",
        }
    }

    pub(crate) fn timestamp(self) -> &'static str {
        match self {
            Dialect::DataFusion => "TIMESTAMP",
            Dialect::Postgres => "TIMESTAMPTZ",
        }
    }

    fn month_label(self, col: &str) -> String {
        match self {
            Dialect::DataFusion => format!("to_char(date_trunc('month', {col}), '%Y-%m')"),
            Dialect::Postgres => format!("to_char({col}, 'YYYY-MM')"),
        }
    }
}

/// Dimensions a metric can be broken down by (`--by`).
pub const DIMENSIONS: [&str; 17] = [
    "owner",
    "manager",
    "team",
    "region",
    "segment",
    "source",
    "type",
    "product",
    "industry",
    "account_region",
    "stage",
    "pipeline",
    "forecast_category",
    "cohort_month",
    "cohort_quarter",
    "loss_reason",
    "business_case",
];

/// Dimensions of quota-based metrics: quotas are set per rep.
pub(crate) const QUOTA_DIMENSIONS: [&str; 4] = ["owner", "manager", "team", "region"];

/// The SQL for a dimension over a source's `d` CTE (`None`: the source lacks it).
pub(crate) fn dimension_sql(source: Source, name: &str, dialect: Dialect) -> Option<String> {
    let common = match name {
        "owner" => Some("owner_id".to_string()),
        "manager" => Some("owner_manager_id".into()),
        "team" => Some("owner_team".into()),
        "region" => Some("owner_region".into()),
        "source" => Some("source".into()),
        "industry" => Some("account_industry".into()),
        "cohort_month" => Some(dialect.month_label("created_at")),
        "cohort_quarter" => Some(
            "concat(CAST(date_part('year', created_at) AS INT), '-Q', CAST(date_part('quarter', created_at) AS INT))"
                .into(),
        ),
        _ => None,
    };
    if common.is_some() || source == Source::Leads {
        return common;
    }
    let e = match name {
        "segment" => "segment",
        "type" => "type",
        "product" => "custom_product",
        "account_region" => "account_region",
        "stage" if source == Source::Activities => "activity_stage",
        "stage" => "stage",
        "pipeline" => "pipeline",
        "forecast_category" => "forecast_category",
        "loss_reason" => "loss_reason",
        "business_case" => "CAST(coalesce(has_business_case, false) AS VARCHAR)",
        _ => return None,
    };
    Some(e.to_string())
}
