//! The CTEs of the rows a group of metrics counts: the owner subtree
//! (`--under`), the source's rows `d` (deals, activities or leads), and the
//! quotas. Owner, account and engaged-contact columns are joined only when a
//! dimension or an expression reads them (each is a hash join over every
//! deal).

use super::{Group, Times, quote};
use crate::{Dialect, Source};

/// Columns of the deal as it stood just before the period began (null for
/// deals created later).
pub(super) const START_COLUMNS: [&str; 7] = [
    "start_stage",
    "start_is_closed",
    "start_close_date",
    "start_amount",
    "start_forecast_category",
    "start_qualified",
    "start_probability",
];

/// Columns joined from the deal's owner.
const OWNER_COLUMNS: [&str; 3] = ["owner_manager_id", "owner_team", "owner_region"];

/// Columns joined from the deal's account.
const ACCOUNT_COLUMNS: [&str; 2] = ["account_industry", "account_region"];

/// The CTEs every statement of a group starts with.
pub(super) struct Rows {
    ctes: Vec<String>,
    recursive: bool,
    /// The test keeping the rows of the `--under` subtree (`TRUE` without).
    pub(super) owner_filter: String,
    /// The CTEs with the deals CTE written without the engaged-contacts join
    /// (it aggregates every activity), when some metric reads it: for a
    /// fine plan's windows whose metrics do not.
    plain: Option<Vec<String>>,
}

impl Rows {
    pub(super) fn new(g: &Group) -> Rows {
        let mut ctes: Vec<String> = Vec::new();
        let owner_filter = match &g.q.under {
            None => "TRUE".to_string(),
            Some(u) => {
                ctes.push(format!(
                    "sub(id) AS (SELECT id FROM users WHERE id = {} UNION ALL \
                     SELECT u.id FROM users u JOIN sub ON u.manager_id = sub.id)",
                    quote(u)
                ));
                "owner_id IN (SELECT id FROM sub)".to_string()
            }
        };
        let recursive = g.q.under.is_some();
        let deals = Deals::new(g);
        let at = ctes.len();
        let name = if g.source == Source::Deals {
            "d"
        } else {
            "deals"
        };
        let cte = |contacts: bool| format!("{name} AS ({})", deals.select(contacts));
        if g.source != Source::Leads {
            ctes.push(cte(true));
        }
        match g.source {
            Source::Deals => {}
            Source::Activities => ctes.extend(activity_ctes(&g.times, g.q.known)),
            Source::Leads => ctes.extend(lead_ctes(&g.times, g.q.known)),
        }
        if g.has_quota {
            ctes.push(quota_cte(g));
        }
        let plain = (deals.contacts && g.source != Source::Leads).then(|| {
            let mut plain = ctes.clone();
            plain[at] = cte(false);
            plain
        });
        Rows {
            ctes,
            recursive,
            owner_filter,
            plain,
        }
    }

    fn with_of(&self, ctes: &[String]) -> String {
        format!(
            "WITH {}{} ",
            if self.recursive { "RECURSIVE " } else { "" },
            ctes.join(", ")
        )
    }

    /// `WITH …` of every CTE.
    pub(super) fn with(&self) -> String {
        self.with_of(&self.ctes)
    }

    /// `WITH …` without the engaged-contacts join.
    pub(super) fn with_plain(&self) -> String {
        self.with_of(self.plain.as_ref().unwrap_or(&self.ctes))
    }
}

/// The deals' `SELECT`: `deal_facts` at the as-of time with what is read
/// joined to it.
struct Deals {
    facts_call: String,
    /// (columns, join) of owners, accounts and the start snapshot.
    joins: Vec<(String, String)>,
    /// Whether the engaged-contacts join is wanted at all.
    contacts: bool,
    contact_join: (String, String),
}

impl Deals {
    fn new(g: &Group) -> Deals {
        let t = &g.times;
        let (as_of, known) = (&t.as_of, t.known);
        let uses_start = g.reads_start();
        // pipewise's engine has the start snapshot as a table function (no
        // join); other engines join deal_facts at the two times by id.
        let native_start = uses_start && g.q.dialect == Dialect::DataFusion;
        let facts_call = if native_start {
            format!("deal_facts_since({as_of}, {}{known})", t.before)
        } else {
            format!("deal_facts({as_of}{known})")
        };
        let mut joins: Vec<(String, String)> = Vec::new();
        let activities = g.source == Source::Activities;
        if g.reads(&OWNER_COLUMNS) || activities {
            joins.push((
                ", u.manager_id AS owner_manager_id, u.team AS owner_team, u.region AS owner_region"
                    .into(),
                " LEFT JOIN users u ON u.id = f.owner_id".into(),
            ));
        }
        if g.reads(&ACCOUNT_COLUMNS) || activities {
            joins.push((
                ", a.industry AS account_industry, a.region AS account_region".into(),
                " LEFT JOIN accounts a ON a.id = f.account_id".into(),
            ));
        }
        if uses_start && !native_start {
            joins.push((
                ", s.*".into(),
                format!(
                    " LEFT JOIN (SELECT id AS s_id, stage AS start_stage, is_closed AS start_is_closed, \
                     close_date AS start_close_date, amount AS start_amount, forecast_category AS start_forecast_category, \
                     qualified AS start_qualified, coalesce(probability, stage_probability) AS start_probability \
                     FROM deal_facts({}{known})) s ON s.s_id = f.id",
                    t.before
                ),
            ));
        }
        // Engaged contacts per deal: distinct contacts with an activity on
        // it by the evaluation time.
        let contact_join = (
            ", coalesce(ec.engaged_contacts, 0) AS engaged_contacts".to_string(),
            format!(
                " LEFT JOIN (SELECT opportunity_id AS ec_id, COUNT(DISTINCT contact_id) AS engaged_contacts \
                 FROM activities WHERE contact_id IS NOT NULL AND opportunity_id IS NOT NULL \
                 AND occurred_at <= {} GROUP BY opportunity_id) ec ON ec.ec_id = f.id",
                t.as_of_t
            ),
        );
        Deals {
            facts_call,
            joins,
            contacts: g.reads(&["engaged_contacts"]),
            contact_join,
        }
    }

    /// The `SELECT`, with the engaged-contacts join when `contacts` (and
    /// some metric reads it).
    fn select(&self, contacts: bool) -> String {
        let with_contacts = (self.contacts && contacts).then_some(&self.contact_join);
        let joins: Vec<&(String, String)> = self.joins.iter().chain(with_contacts).collect();
        let cols: String = joins.iter().map(|(c, _)| c.as_str()).collect();
        let from: String = joins.iter().map(|(_, j)| j.as_str()).collect();
        format!("SELECT f.*{cols} FROM {} f{from}", self.facts_call)
    }
}

/// ` AND recorded_at <= …` when only what was recorded by then counts.
fn recorded(t: &Times, known: bool) -> String {
    if known {
        format!(" AND recorded_at <= {}", t.as_of_t)
    } else {
        String::new()
    }
}

/// Activities: each with its deal's facts and the stage the deal was in when
/// it happened.
fn activity_ctes(t: &Times, known: bool) -> [String; 2] {
    let (as_of_t, recorded) = (&t.as_of_t, recorded(t, known));
    [
        format!(
            "spans AS (SELECT opportunity_id, new_value AS stage, effective_at AS since, \
             LEAD(effective_at) OVER (PARTITION BY opportunity_id ORDER BY effective_at, seq) AS until \
             FROM opportunity_events WHERE field = 'stage' AND effective_at <= {as_of_t}{recorded})"
        ),
        format!(
            "d AS (SELECT x.id AS activity_id, x.type AS activity_type, x.direction, x.occurred_at, \
             x.duration_minutes, x.owner_id AS activity_owner_id, x.contact_id, x.contact_seniority, \
             sp.stage AS activity_stage, deals.* \
             FROM activities x JOIN deals ON deals.id = x.opportunity_id \
             LEFT JOIN spans sp ON sp.opportunity_id = x.opportunity_id AND x.occurred_at >= sp.since \
             AND (sp.until IS NULL OR x.occurred_at < sp.until) WHERE x.occurred_at <= {as_of_t})"
        ),
    ]
}

/// Leads: each with its status then, its first touch and response, and every
/// status it has had.
fn lead_ctes(t: &Times, known: bool) -> [String; 4] {
    let (as_of_t, recorded) = (&t.as_of_t, recorded(t, known));
    [
        format!(
            "touch AS (SELECT lead_id, \
             min(CASE WHEN direction = 'seller_to_buyer' THEN occurred_at END) AS first_touch_at, \
             min(CASE WHEN direction = 'buyer_to_seller' THEN occurred_at END) AS first_response_at \
             FROM activities WHERE lead_id IS NOT NULL AND occurred_at <= {as_of_t} GROUP BY lead_id)"
        ),
        format!(
            "lead_status AS (SELECT lead_id, status FROM (SELECT lead_id, new_value AS status, \
             ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY effective_at DESC, recorded_at DESC) AS rn \
             FROM lead_events WHERE field = 'status' AND effective_at <= {as_of_t}{recorded}) z WHERE rn = 1)"
        ),
        // Every status a lead has had, as `|A|B|…|`, for "reached" tests.
        format!(
            "lead_history AS (SELECT lead_id, concat('|', string_agg(new_value, '|'), '|') AS statuses \
             FROM lead_events WHERE field = 'status' AND effective_at <= {as_of_t}{recorded} GROUP BY lead_id)"
        ),
        format!(
            "d AS (SELECT l.id AS lead_id, l.created_at, l.source, l.owner_id, l.industry AS account_industry, \
             l.company, l.title, st.status, CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_at END AS converted_at, \
             CASE WHEN l.converted_at <= {as_of_t} THEN l.converted_opportunity_id END AS converted_opportunity_id, \
             t.first_touch_at, t.first_response_at, coalesce(h.statuses, '|') AS statuses, u.manager_id AS owner_manager_id, \
             u.team AS owner_team, u.region AS owner_region \
             FROM leads l LEFT JOIN users u ON u.id = l.owner_id LEFT JOIN touch t ON t.lead_id = l.id \
             LEFT JOIN lead_status st ON st.lead_id = l.id LEFT JOIN lead_history h ON h.lead_id = l.id \
             WHERE l.created_at <= {as_of_t})"
        ),
    ]
}

/// Quotas in the period: each counts with the share of its days inside it.
fn quota_cte(g: &Group) -> String {
    let dbl = g.q.dialect.double();
    let (a, b) = (
        Times::date_literal(g.times.days.0),
        Times::date_literal(g.times.days.1),
    );
    format!(
        "quota_rows AS (SELECT qt.owner_id, qt.period, u.manager_id AS owner_manager_id, u.team AS owner_team, \
         u.region AS owner_region, qt.amount * CAST(least(qt.period_end, {b}) - greatest(qt.period_start, {a}) + 1 AS {dbl}) \
         / CAST(qt.period_end - qt.period_start + 1 AS {dbl}) AS quota \
         FROM quotas qt LEFT JOIN users u ON u.id = qt.owner_id \
         WHERE qt.period_end >= {a} AND qt.period_start <= {b})"
    )
}
