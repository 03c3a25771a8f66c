//! Who a deal's number belongs to: owners, their teams and managers (the
//! `users` table's manager hierarchy), segments; and the quotas of each.
//!
//! Quotas roll up from the people who carry them: a team's quota is its
//! own row in the `quotas` table when it has one, else its members'; a
//! manager's, a segment's and the company's are the sum of the quotas of
//! the people under them who manage no one (the reps), so a manager's own
//! quota row never counts twice.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type};
use arrow_array::{Array, RecordBatch};
use pipewise_model::Date;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How forecast rows are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One row: the whole company (or the subtree under `--under`).
    Company,
    /// Per deal owner.
    Owner,
    /// Per owner's team.
    Team,
    /// Per owner's direct manager.
    Manager,
    /// Per deal segment.
    Segment,
}

/// A person in the `users` table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Manager's id.
    pub manager: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Segment.
    pub segment: Option<String>,
}

/// One quota row.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaRow {
    /// A user id or a team name.
    pub owner: String,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// The quota.
    pub amount: f64,
}

/// The people and their quotas.
#[derive(Debug, Clone, Default)]
pub struct Org {
    people: BTreeMap<String, Person>,
    /// (owner, first day, last day) → the sum of its quota rows.
    quotas: HashMap<(String, Date, Date), f64>,
    /// Manager id → direct reports.
    reports: HashMap<String, Vec<String>>,
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a arrow_array::ArrayRef> {
    b.column_by_name(name)
}

fn texts(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let Some(c) = col(b, name) else {
        return vec![None; b.num_rows()];
    };
    let c = arrow_cast_utf8(c);
    (0..b.num_rows())
        .map(|i| {
            c.as_ref()
                .and_then(|c| (!c.is_null(i)).then(|| c.value(i).to_string()))
        })
        .collect()
}

fn arrow_cast_utf8(c: &arrow_array::ArrayRef) -> Option<arrow_array::StringArray> {
    c.as_string_opt::<i32>().cloned()
}

impl Org {
    /// From the `users` and `quotas` tables' batches.
    pub fn from_batches(users: &[RecordBatch], quotas: &[RecordBatch]) -> Org {
        let mut people = BTreeMap::new();
        for b in users {
            let (ids, names, managers, teams, segments) = (
                texts(b, "id"),
                texts(b, "name"),
                texts(b, "manager_id"),
                texts(b, "team"),
                texts(b, "segment"),
            );
            for i in 0..b.num_rows() {
                if let Some(id) = ids[i].clone() {
                    people.insert(
                        id.clone(),
                        Person {
                            name: names[i].clone().unwrap_or_else(|| id.clone()),
                            id,
                            manager: managers[i].clone(),
                            team: teams[i].clone(),
                            segment: segments[i].clone(),
                        },
                    );
                }
            }
        }
        let mut rows = Vec::new();
        for b in quotas {
            let owners = texts(b, "owner_id");
            let starts = col(b, "period_start").and_then(|c| c.as_primitive_opt::<Date32Type>());
            let ends = col(b, "period_end").and_then(|c| c.as_primitive_opt::<Date32Type>());
            let amounts = col(b, "amount").and_then(|c| c.as_primitive_opt::<Float64Type>());
            let (Some(starts), Some(ends), Some(amounts)) = (starts, ends, amounts) else {
                continue;
            };
            for (i, owner) in owners.into_iter().enumerate() {
                if let Some(owner) = owner
                    && !starts.is_null(i)
                    && !ends.is_null(i)
                    && !amounts.is_null(i)
                {
                    rows.push(QuotaRow {
                        owner,
                        start: starts.value(i),
                        end: ends.value(i),
                        amount: amounts.value(i),
                    });
                }
            }
        }
        Org::new(people.into_values().collect(), rows)
    }

    /// From people and quota rows.
    pub fn new(people: Vec<Person>, quotas: Vec<QuotaRow>) -> Org {
        let mut reports: HashMap<String, Vec<String>> = HashMap::new();
        for p in &people {
            if let Some(m) = &p.manager {
                reports.entry(m.clone()).or_default().push(p.id.clone());
            }
        }
        for r in reports.values_mut() {
            r.sort();
        }
        let mut by_owner: HashMap<(String, Date, Date), f64> = HashMap::new();
        for q in quotas {
            *by_owner.entry((q.owner, q.start, q.end)).or_default() += q.amount;
        }
        Org {
            people: people.into_iter().map(|p| (p.id.clone(), p)).collect(),
            quotas: by_owner,
            reports,
        }
    }

    /// Everyone, by id.
    pub fn people(&self) -> impl Iterator<Item = &Person> {
        self.people.values()
    }

    /// Whether `id` manages anyone.
    pub fn manages(&self, id: &str) -> bool {
        self.reports.get(id).is_some_and(|r| !r.is_empty())
    }

    /// A person by id.
    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.get(id)
    }

    /// A person by id or name (names compared case-insensitively).
    pub fn find(&self, who: &str) -> Option<&Person> {
        self.people.get(who).or_else(|| {
            self.people
                .values()
                .find(|p| p.name.eq_ignore_ascii_case(who))
        })
    }

    /// `root` and everyone under them.
    pub fn subtree(&self, root: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![root.to_string()];
        while let Some(id) = stack.pop() {
            if out.insert(id.clone())
                && let Some(r) = self.reports.get(&id)
            {
                stack.extend(r.iter().cloned());
            }
        }
        out
    }

    /// Whose call stands for forecast group `group` (split `by`): an owner's
    /// own call; a manager's team call; for a team, the call of the member
    /// who manages others in it (the first by id); for the company, the
    /// team call of `root` (the `--under` manager; a rep's own call when
    /// `root` is a rep) or of the one person at the top of the hierarchy.
    /// Segments have no caller.
    pub fn caller(&self, by: By, group: &str, root: Option<&str>) -> Option<(String, bool)> {
        match by {
            By::Owner => self
                .people
                .contains_key(group)
                .then(|| (group.to_string(), false)),
            By::Manager => self
                .people
                .contains_key(group)
                .then(|| (group.to_string(), true)),
            By::Team => self
                .people
                .values()
                .find(|p| {
                    p.team.as_deref() == Some(group)
                        && self.reports.get(&p.id).is_some_and(|r| {
                            r.iter().any(|x| {
                                self.people.get(x).and_then(|m| m.team.as_deref()) == Some(group)
                            })
                        })
                })
                .map(|p| (p.id.clone(), true)),
            By::Company => match root {
                // a rep's own deals: their own call
                Some(r) => Some((r.to_string(), !self.is_rep(r))),
                None => {
                    let mut tops = self
                        .people
                        .values()
                        .filter(|p| p.manager.is_none() && !self.is_rep(&p.id));
                    match (tops.next(), tops.next()) {
                        (Some(p), None) => Some((p.id.clone(), true)),
                        _ => None,
                    }
                }
            },
            By::Segment => None,
        }
    }

    /// Whether `id` manages no one.
    pub fn is_rep(&self, id: &str) -> bool {
        self.reports.get(id).is_none_or(Vec::is_empty)
    }

    /// The group of a deal owned by `owner` in segment `segment`.
    pub fn group_of(&self, by: By, owner: Option<&str>, segment: Option<&str>) -> String {
        let none = "(none)".to_string();
        match by {
            By::Company => "all".into(),
            By::Owner => owner.map_or(none, str::to_string),
            By::Team => owner
                .and_then(|o| self.people.get(o))
                .and_then(|p| p.team.clone())
                .unwrap_or(none),
            By::Manager => owner
                .and_then(|o| self.people.get(o))
                .and_then(|p| p.manager.clone())
                .unwrap_or(none),
            By::Segment => segment.map_or(none, str::to_string),
        }
    }

    /// A group's name for people to read.
    pub fn label(&self, by: By, group: &str) -> String {
        match by {
            By::Owner | By::Manager => self
                .people
                .get(group)
                .map_or_else(|| group.to_string(), |p| p.name.clone()),
            _ => group.to_string(),
        }
    }

    fn quota_of(&self, owner: &str, first: Date, last: Date) -> Option<f64> {
        self.quotas.get(&(owner.to_string(), first, last)).copied()
    }

    /// The reps' quotas summed, among people `keep` accepts.
    fn reps_quota(&self, first: Date, last: Date, keep: impl Fn(&Person) -> bool) -> Option<f64> {
        let mut any = false;
        let mut sum = 0.0;
        for p in self.people.values() {
            if keep(p)
                && self.is_rep(&p.id)
                && let Some(q) = self.quota_of(&p.id, first, last)
            {
                any = true;
                sum += q;
            }
        }
        any.then_some(sum)
    }

    /// The quota of `group` (split `by`) for the quarter `first..=last`,
    /// among the people in `scope` (everyone when `None`).
    pub fn quota(
        &self,
        by: By,
        group: &str,
        first: Date,
        last: Date,
        scope: Option<&BTreeSet<String>>,
    ) -> Option<f64> {
        let in_scope = |p: &Person| scope.is_none_or(|s| s.contains(&p.id));
        match by {
            By::Company => self.reps_quota(first, last, in_scope),
            By::Owner => self.quota_of(group, first, last),
            By::Team => self.quota_of(group, first, last).or_else(|| {
                self.reps_quota(first, last, |p| {
                    in_scope(p) && p.team.as_deref() == Some(group)
                })
            }),
            By::Manager => {
                let under = self.subtree(group);
                self.reps_quota(first, last, |p| in_scope(p) && under.contains(&p.id))
            }
            By::Segment => self.reps_quota(first, last, |p| {
                in_scope(p) && p.segment.as_deref() == Some(group)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, manager: Option<&str>, team: &str) -> Person {
        Person {
            id: id.into(),
            name: format!("Name {id}"),
            manager: manager.map(Into::into),
            team: Some(team.into()),
            segment: Some("smb".into()),
        }
    }

    #[test]
    fn whose_call_stands_for_a_group() {
        let people = vec![
            person("cro", None, "exec"),
            person("m1", Some("cro"), "t1"),
            person("r1", Some("m1"), "t1"),
            person("r3", Some("cro"), "t2"),
        ];
        let org = Org::new(people.clone(), vec![]);
        let c = |by, g: &str, root| org.caller(by, g, root);
        assert_eq!(c(By::Owner, "r1", None), Some(("r1".into(), false)));
        assert_eq!(c(By::Owner, "nobody", None), None);
        assert_eq!(c(By::Manager, "m1", None), Some(("m1".into(), true)));
        // t1's caller manages someone in t1; t2 has no one who does
        assert_eq!(c(By::Team, "t1", None), Some(("m1".into(), true)));
        assert_eq!(c(By::Team, "t2", None), None);
        assert_eq!(c(By::Company, "all", None), Some(("cro".into(), true)));
        assert_eq!(c(By::Company, "all", Some("m1")), Some(("m1".into(), true)));
        assert_eq!(c(By::Segment, "smb", None), None);
        // two people at the top: no one speaks for the company
        let mut two = people;
        two.push(person("ceo2", None, "exec"));
        two.push(person("r9", Some("ceo2"), "t9"));
        assert_eq!(Org::new(two, vec![]).caller(By::Company, "all", None), None);
    }

    #[test]
    fn quotas_roll_up_from_the_reps() {
        let org = Org::new(
            vec![
                person("cro", None, "exec"),
                person("m1", Some("cro"), "t1"),
                person("r1", Some("m1"), "t1"),
                person("r2", Some("m1"), "t1"),
                person("r3", Some("cro"), "t2"),
            ],
            vec![
                QuotaRow {
                    owner: "r1".into(),
                    start: 0,
                    end: 90,
                    amount: 100.0,
                },
                QuotaRow {
                    owner: "r2".into(),
                    start: 0,
                    end: 90,
                    amount: 50.0,
                },
                QuotaRow {
                    owner: "r3".into(),
                    start: 0,
                    end: 90,
                    amount: 30.0,
                },
                // a manager's own row does not count twice
                QuotaRow {
                    owner: "m1".into(),
                    start: 0,
                    end: 90,
                    amount: 999.0,
                },
                QuotaRow {
                    owner: "t2".into(),
                    start: 0,
                    end: 90,
                    amount: 40.0,
                },
                QuotaRow {
                    owner: "r1".into(),
                    start: 91,
                    end: 181,
                    amount: 7.0,
                },
            ],
        );
        assert_eq!(org.quota(By::Company, "all", 0, 90, None), Some(180.0));
        assert_eq!(org.quota(By::Manager, "m1", 0, 90, None), Some(150.0));
        assert_eq!(org.quota(By::Manager, "cro", 0, 90, None), Some(180.0));
        assert_eq!(org.quota(By::Owner, "r1", 0, 90, None), Some(100.0));
        assert_eq!(org.quota(By::Owner, "r1", 91, 181, None), Some(7.0));
        assert_eq!(org.quota(By::Team, "t1", 0, 90, None), Some(150.0));
        assert_eq!(org.quota(By::Team, "t2", 0, 90, None), Some(40.0));
        assert_eq!(org.quota(By::Segment, "smb", 0, 90, None), Some(180.0));
        assert_eq!(org.quota(By::Owner, "nobody", 0, 90, None), None);
        let under = org.subtree("m1");
        assert_eq!(under.len(), 3);
        assert_eq!(
            org.quota(By::Company, "all", 0, 90, Some(&under)),
            Some(150.0)
        );
        assert_eq!(org.find("name r2").map(|p| p.id.as_str()), Some("r2"));
        assert_eq!(org.group_of(By::Manager, Some("r1"), None), "m1");
        assert_eq!(org.group_of(By::Team, Some("r3"), None), "t2");
        assert_eq!(org.group_of(By::Owner, None, None), "(none)");
        assert_eq!(org.label(By::Owner, "r1"), "Name r1");
    }
}
