//! Benchmark parameters per segment, from seed-requirements §2.5
//! (`001_86a01be0341e6afc.txt` L67-92): conversion rates are the midpoints of
//! the seed's ranges; times in stage are drawn uniformly from the ranges.
//! Where the seeds give no number the value is marked `assumption`.

/// A customer segment, with its own deal sizes and cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the segments are their names
pub enum Segment {
    Smb,
    MidMarket,
    Enterprise,
}

impl Segment {
    /// Every segment.
    pub const ALL: [Segment; 3] = [Segment::Smb, Segment::MidMarket, Segment::Enterprise];

    /// The segment's name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Smb => "smb",
            Segment::MidMarket => "mid_market",
            Segment::Enterprise => "enterprise",
        }
    }
}

pub struct SegmentParams {
    /// Lead → SAL, SAL → SQL, SQL → opportunity conversion (seed midpoints).
    pub lead_to_sal: f64,
    pub sal_to_sql: f64,
    pub sql_to_opp: f64,
    /// Opportunity → Proposal (seed: 60–80% SMB, 50–70% MM, 40–60% ENT).
    pub opp_to_proposal: f64,
    /// Proposal → Closed Won (seed: 25–40%, 20–35%, 15–30%).
    pub proposal_to_won: f64,
    /// Days in each opportunity stage (min, max): Qualification, Discovery,
    /// Proposal, Negotiation, Redlining. Discovery spans the seed's
    /// Opportunity → Proposal time; Proposal + Negotiation + Redlining span
    /// Proposal → Closed-Won (SMB 7–14 d, ENT 45–90 d); Qualification spans
    /// SQL → Opportunity (SMB 7–14, ENT 20–45). Mid-market interpolates.
    pub stage_days: [(f64, f64); 5],
    /// Days lead → SAL and SAL → SQL (seed: SMB 3–7 / 5–10, ENT 10–20 / 14–30).
    pub lead_days: [(f64, f64); 2],
    /// Log-normal amount: median and sigma (assumption).
    pub amount_median: f64,
    pub amount_sigma: f64,
    /// Share of deals that build a business case (assumption).
    pub business_case_share: f64,
}

pub fn params(s: Segment) -> SegmentParams {
    match s {
        Segment::Smb => SegmentParams {
            lead_to_sal: 0.20,
            sal_to_sql: 0.60,
            sql_to_opp: 0.375,
            opp_to_proposal: 0.70,
            proposal_to_won: 0.325,
            stage_days: [
                (7.0, 14.0),
                (10.0, 20.0),
                (3.0, 6.0),
                (2.0, 5.0),
                (2.0, 3.0),
            ],
            lead_days: [(3.0, 7.0), (5.0, 10.0)],
            amount_median: 12_000.0,
            amount_sigma: 0.6,
            business_case_share: 0.15,
        },
        Segment::MidMarket => SegmentParams {
            lead_to_sal: 0.16,
            sal_to_sql: 0.55,
            sql_to_opp: 0.325,
            opp_to_proposal: 0.60,
            proposal_to_won: 0.275,
            stage_days: [
                (14.0, 30.0),
                (20.0, 40.0),
                (10.0, 20.0),
                (8.0, 20.0),
                (5.0, 12.0),
            ],
            lead_days: [(6.0, 13.0), (10.0, 20.0)],
            amount_median: 45_000.0,
            amount_sigma: 0.6,
            business_case_share: 0.30,
        },
        Segment::Enterprise => SegmentParams {
            lead_to_sal: 0.115,
            sal_to_sql: 0.40,
            sql_to_opp: 0.20,
            opp_to_proposal: 0.50,
            proposal_to_won: 0.225,
            stage_days: [
                (20.0, 45.0),
                (30.0, 60.0),
                (20.0, 40.0),
                (15.0, 30.0),
                (10.0, 20.0),
            ],
            lead_days: [(10.0, 20.0), (14.0, 30.0)],
            amount_median: 160_000.0,
            amount_sigma: 0.7,
            business_case_share: 0.45,
        },
    }
}

/// Win-probability multiplier for deals with a business case. Seed 000 says
/// deals with a business case "close at a higher rate" without a number;
/// 1.6 is an assumption.
pub const BUSINESS_CASE_LIFT: f64 = 1.6;
/// Qualification → Discovery pass rate (assumption: most opportunities are
/// accepted; the rest are disqualified before the SAL-proxy stage).
pub const QUALIFICATION_PASS: f64 = 0.85;
/// Negotiation → Redlining and Redlining → Won pass rates (assumption); the
/// Proposal → Negotiation rate is solved so the product equals the seed's
/// Proposal → Closed-Won rate.
pub const NEGOTIATION_PASS: f64 = 0.80;
pub const REDLINING_PASS: f64 = 0.90;
/// Loss reasons among qualified losses (assumption): competition, no decision, other, unknown.
pub const LOSS_SPLIT: [f64; 4] = [0.45, 0.40, 0.10, 0.05];
