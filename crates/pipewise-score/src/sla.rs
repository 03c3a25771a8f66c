//! Speed-to-lead against the routing SLAs (issue #12 §6): for each routed
//! lead, the time from its arrival to its first touch, and whether that was
//! within its band's SLA; then breaches per owner or per band. Times are
//! microseconds since 1970 (UTC); SLAs are wall-clock hours.

use serde::Serialize;
use std::collections::BTreeMap;

/// A routed lead.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedLead {
    /// The lead's id.
    pub id: String,
    /// Its owner, if known.
    pub owner: Option<String>,
    /// Its band.
    pub band: String,
    /// Its band's SLA in hours, if the band has one.
    pub within_hours: Option<f64>,
    /// …or in business days (Monday to Friday, UTC).
    pub within_business_days: Option<u32>,
    /// When it arrived; `None` when the time could not be read.
    pub created: Option<i64>,
}

/// Where a lead stands against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Touched within the SLA.
    Met,
    /// Touched, but after the SLA.
    Breached,
    /// Not touched, and the SLA has passed: a breach too.
    Overdue,
    /// Not touched, and the SLA has not passed yet.
    Open,
    /// Its band has no SLA.
    NoSla,
    /// Its arrival time is unknown, so the SLA cannot be judged.
    Unknown,
}

impl Status {
    /// Is this a breach?
    pub fn is_breach(self) -> bool {
        matches!(self, Status::Breached | Status::Overdue)
    }

    /// The status's name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Breached => "breached",
            Status::Overdue => "overdue",
            Status::Open => "open",
            Status::NoSla => "no SLA",
            Status::Unknown => "unknown arrival",
        }
    }
}

/// A lead's time to first touch.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadSla {
    /// The lead.
    pub lead: RoutedLead,
    /// Its first touch at or after its arrival.
    pub first_touch: Option<i64>,
    /// Hours from arrival to first touch.
    pub hours: Option<f64>,
    /// Where it stands.
    pub status: Status,
}

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `t` moved on by `days` business days (Monday to Friday, UTC): the same
/// time of day, `days` weekdays later; from a Saturday or Sunday, counted
/// from the next Monday's start.
pub fn add_business_days(t: i64, days: u32) -> i64 {
    // 1970-01-01 was a Thursday: weekday 0 = Monday
    let weekday = |t: i64| (t.div_euclid(MICROS_PER_DAY) + 3).rem_euclid(7);
    let mut t = t;
    while weekday(t) >= 5 {
        t = (t.div_euclid(MICROS_PER_DAY) + 1) * MICROS_PER_DAY;
    }
    let mut left = days;
    while left > 0 {
        t += MICROS_PER_DAY;
        if weekday(t) < 5 {
            left -= 1;
        }
    }
    t
}

impl RoutedLead {
    /// When its first touch is due, if its band has an SLA.
    pub fn due(&self) -> Option<i64> {
        let c = self.created?;
        match (self.within_hours, self.within_business_days) {
            (Some(h), _) => Some(c + (h * MICROS_PER_HOUR) as i64),
            (None, Some(d)) => Some(add_business_days(c, d)),
            (None, None) => None,
        }
    }
}

/// Judge each lead: `touches` are (lead id, time) pairs in any order; a
/// touch before the lead's arrival is not a response to it and is ignored.
pub fn judge(leads: &[RoutedLead], touches: &[(String, i64)], now: i64) -> Vec<LeadSla> {
    let mut by_lead: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (id, t) in touches {
        by_lead.entry(id.as_str()).or_default().push(*t);
    }
    leads
        .iter()
        .map(|l| {
            let first_touch = l.created.and_then(|c| {
                by_lead
                    .get(l.id.as_str())
                    .and_then(|ts| ts.iter().copied().filter(|&t| t >= c).min())
            });
            let hours = match (l.created, first_touch) {
                (Some(c), Some(t)) => Some((t - c) as f64 / MICROS_PER_HOUR),
                _ => None,
            };
            let status = match (l.created, l.due(), first_touch) {
                (None, _, _) => Status::Unknown,
                (_, None, _) => Status::NoSla,
                (_, Some(due), Some(t)) => {
                    if t <= due {
                        Status::Met
                    } else {
                        Status::Breached
                    }
                }
                (Some(_), Some(due), None) => {
                    if now > due {
                        Status::Overdue
                    } else {
                        Status::Open
                    }
                }
            };
            LeadSla {
                lead: l.clone(),
                first_touch,
                hours,
                status,
            }
        })
        .collect()
}

/// Leads and breaches of one owner or band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The owner or band (`(none)` for leads without an owner).
    pub group: String,
    /// Leads.
    pub leads: usize,
    /// Leads with an SLA that can be judged (met, breached, overdue).
    pub judged: usize,
    /// Touched after the SLA.
    pub breached: usize,
    /// Untouched past the SLA.
    pub overdue: usize,
    /// (breached + overdue) / judged.
    pub breach_rate: Option<f64>,
    /// Median hours to first touch of the touched leads.
    pub median_hours: Option<f64>,
}

/// Sum judged leads by `key` (owner or band), groups in name order.
pub fn summarise(judged: &[LeadSla], key: impl Fn(&LeadSla) -> String) -> Vec<Summary> {
    let mut groups: BTreeMap<String, Vec<&LeadSla>> = BTreeMap::new();
    for j in judged {
        groups.entry(key(j)).or_default().push(j);
    }
    groups
        .into_iter()
        .map(|(group, rows)| {
            let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
            let (met, breached, overdue) = (
                count(Status::Met),
                count(Status::Breached),
                count(Status::Overdue),
            );
            let judged = met + breached + overdue;
            let mut hours: Vec<f64> = rows.iter().filter_map(|r| r.hours).collect();
            hours.sort_by(f64::total_cmp);
            let median_hours = match hours.len() {
                0 => None,
                n if n % 2 == 1 => Some(hours[n / 2]),
                n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
            };
            Summary {
                group,
                leads: rows.len(),
                judged,
                breached,
                overdue,
                breach_rate: (judged > 0).then(|| (breached + overdue) as f64 / judged as f64),
                median_hours,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn lead(
        id: &str,
        owner: &str,
        band: &str,
        sla: Option<f64>,
        created: Option<i64>,
    ) -> RoutedLead {
        RoutedLead {
            id: id.into(),
            owner: Some(owner.into()),
            band: band.into(),
            within_hours: sla,
            within_business_days: None,
            created,
        }
    }

    #[test]
    fn business_days_skip_the_weekend() {
        // 2026-03-06 is a Friday
        let at = |d: i64, h: i64| (20_518 + d) * MICROS_PER_DAY + h * H;
        assert_eq!(add_business_days(at(0, 15), 1), at(3, 15)); // Friday 15:00 → Monday 15:00
        assert_eq!(add_business_days(at(-1, 9), 1), at(0, 9)); // Thursday → Friday
        assert_eq!(add_business_days(at(1, 10), 1), at(4, 0)); // Saturday → Tuesday 00:00
        assert_eq!(add_business_days(at(0, 15), 3), at(5, 15)); // Friday → Wednesday
        let mut l = lead("a", "ann", "mql", None, Some(at(0, 15)));
        l.within_business_days = Some(1);
        let late = RoutedLead {
            id: "b".into(),
            ..l.clone()
        };
        let j = judge(
            &[l, late],
            &[("a".into(), at(3, 14)), ("b".into(), at(3, 16))],
            at(10, 0),
        );
        assert_eq!(j[0].status, Status::Met); // Monday 14:00: within one business day
        assert_eq!(j[0].hours, Some(71.0));
        assert_eq!(j[1].status, Status::Breached); // Monday 16:00: not
    }

    #[test]
    fn first_touch_against_the_sla() {
        let leads = [
            lead("a", "ann", "ae", Some(1.0), Some(0)), // touched at 0:30 → met
            lead("b", "ann", "ae", Some(1.0), Some(0)), // touched at 2:00 → breached
            lead("c", "bob", "sdr", Some(4.0), Some(0)), // untouched, now 10 h → overdue
            lead("d", "bob", "sdr", Some(4.0), Some(8 * H)), // untouched, 2 h old → open
            lead("e", "bob", "nurture", None, Some(0)), // no SLA
            lead("f", "bob", "ae", Some(1.0), None),    // unknown arrival
            lead("g", "ann", "ae", Some(1.0), Some(5 * H)), // only an earlier touch → overdue
        ];
        let touches = vec![
            ("b".to_string(), 2 * H),
            ("a".to_string(), 3 * H),
            ("a".to_string(), H / 2),
            ("g".to_string(), 4 * H),
        ];
        let j = judge(&leads, &touches, 10 * H);
        let st: Vec<Status> = j.iter().map(|x| x.status).collect();
        use Status::*;
        assert_eq!(
            st,
            vec![Met, Breached, Overdue, Open, NoSla, Unknown, Overdue]
        );
        assert_eq!(j[0].hours, Some(0.5));
        assert_eq!(j[1].hours, Some(2.0));
        let by_owner = summarise(&j, |x| x.lead.owner.clone().unwrap_or_default());
        assert_eq!(by_owner[0].group, "ann");
        assert_eq!(
            (
                by_owner[0].leads,
                by_owner[0].judged,
                by_owner[0].breached,
                by_owner[0].overdue
            ),
            (3, 3, 1, 1)
        );
        assert_eq!(by_owner[0].breach_rate, Some(2.0 / 3.0));
        assert_eq!(by_owner[0].median_hours, Some(1.25));
        assert_eq!(
            (by_owner[1].leads, by_owner[1].judged, by_owner[1].overdue),
            (4, 1, 1)
        );
    }
}
