//! Forecast submissions and the bias ledger (issue #13 §2).
//!
//! A submission is one person's call for one quarter — commit, best case
//! and most likely, with a note — made at a time; a manager's `team` call
//! is their adjusted roll-up of their subtree. Submissions are kept in the
//! workspace's `submissions` journal (append-only, under the ledger's
//! lock): a new call never overwrites an old one.
//!
//! The bias ledger compares every call on a quarter that has ended with
//! what the caller booked in it (their own deals; a team call, their
//! subtree's): the signed error (call − booked) / booked, per person,
//! category and week of the quarter. Below 0 is sandbagging, above 0 happy
//! ears (seed 004). A person's bias is shrunk towards their team's (or
//! everyone's) by `SHRINK` pseudo-quarters, so a person with one quarter of
//! history is read mostly as the team is, and the de-biased call is the call divided
//! by (1 + bias).

use crate::calendar::Quarter;
use crate::groups::{By, Org};
use crate::scan::Ledger;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use pipewise_ledger::Cut;
use pipewise_model::{Date, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The journal submissions are kept in.
pub const JOURNAL: &str = "submissions";

/// Pseudo-quarters of the team's bias a person's bias is shrunk towards.
pub const SHRINK: f64 = 3.0;

/// The least (1 + bias) a call is divided by: a de-biased call is at most
/// four times the call, however deep the sandbagging was.
pub const MIN_FACTOR: f64 = 0.25;

/// Whose deals a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The submitter's own deals.
    Own,
    /// The submitter's subtree (a manager's adjusted roll-up).
    Team,
}

impl Level {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Own => "own",
            Level::Team => "team",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "own" | "rep" | "" => Some(Level::Own),
            "team" | "manager" | "rollup" | "roll-up" => Some(Level::Team),
            _ => None,
        }
    }
}

/// The three calls.
pub const CATEGORIES: [&str; 3] = ["commit", "best_case", "most_likely"];

/// One call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submission {
    /// The quarter's label.
    pub period: String,
    /// Its first day.
    pub first: Date,
    /// Its last day.
    pub last: Date,
    /// Who made it (a user id).
    pub submitter: String,
    /// Whose deals.
    pub level: Level,
    /// Commit.
    pub commit: f64,
    /// Best case.
    pub best_case: f64,
    /// Most likely.
    pub most_likely: f64,
    /// Why.
    pub note: Option<String>,
    /// When it was made.
    pub submitted_at: Timestamp,
    /// When pipewise stored it.
    pub recorded_at: Timestamp,
    /// Where it came from (`cli`, or the file imported).
    pub source: String,
}

impl Submission {
    /// The call in category `c` (one of [`CATEGORIES`]).
    pub fn call(&self, c: &str) -> f64 {
        match c {
            "commit" => self.commit,
            "best_case" => self.best_case,
            _ => self.most_likely,
        }
    }
}

fn schema() -> arrow_schema::SchemaRef {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("period_start", DataType::Date32, false),
        Field::new("period_end", DataType::Date32, false),
        Field::new("submitter", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("commit", DataType::Float64, false),
        Field::new("best_case", DataType::Float64, false),
        Field::new("most_likely", DataType::Float64, false),
        Field::new("note", DataType::Utf8, true),
        Field::new(
            "submitted_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "recorded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// Submissions as one batch for the journal.
pub fn to_batch(rows: &[Submission]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let text = |f: &dyn Fn(&Submission) -> String| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let num = |f: &dyn Fn(&Submission) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let ts = |f: &dyn Fn(&Submission) -> Timestamp| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(f).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    RecordBatch::try_new(
        schema(),
        vec![
            text(&|s| s.period.clone()),
            Arc::new(Date32Array::from(
                rows.iter().map(|s| s.first).collect::<Vec<_>>(),
            )),
            Arc::new(Date32Array::from(
                rows.iter().map(|s| s.last).collect::<Vec<_>>(),
            )),
            text(&|s| s.submitter.clone()),
            text(&|s| s.level.as_str().to_string()),
            num(&|s| s.commit),
            num(&|s| s.best_case),
            num(&|s| s.most_likely),
            Arc::new(StringArray::from(
                rows.iter().map(|s| s.note.clone()).collect::<Vec<_>>(),
            )),
            ts(&|s| s.submitted_at),
            ts(&|s| s.recorded_at),
            text(&|s| s.source.clone()),
        ],
    )
}

/// Submissions read back from the journal, in the order they were kept.
pub fn from_batches(batches: &[RecordBatch]) -> Vec<Submission> {
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
        };
        let num = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<Float64Type>())
        };
        let date = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<Date32Type>())
        };
        let ts = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        };
        let (
            Some(period),
            Some(first),
            Some(last),
            Some(who),
            Some(level),
            Some(commit),
            Some(best),
            Some(likely),
            Some(note),
            Some(at),
            Some(rec),
            Some(source),
        ) = (
            text("period"),
            date("period_start"),
            date("period_end"),
            text("submitter"),
            text("level"),
            num("commit"),
            num("best_case"),
            num("most_likely"),
            text("note"),
            ts("submitted_at"),
            ts("recorded_at"),
            text("source"),
        )
        else {
            continue;
        };
        for i in 0..b.num_rows() {
            out.push(Submission {
                period: period.value(i).to_string(),
                first: first.value(i),
                last: last.value(i),
                submitter: who.value(i).to_string(),
                level: Level::parse(level.value(i)).unwrap_or(Level::Own),
                commit: commit.value(i),
                best_case: best.value(i),
                most_likely: likely.value(i),
                note: (!note.is_null(i)).then(|| note.value(i).to_string()),
                submitted_at: at.value(i),
                recorded_at: rec.value(i),
                source: source.value(i).to_string(),
            });
        }
    }
    out
}

/// One row of the bias ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bias {
    /// The person.
    pub submitter: String,
    /// Own or team calls.
    pub level: Level,
    /// commit, best_case or most_likely.
    pub category: String,
    /// The week of the quarter (`None`: every week).
    pub week: Option<u32>,
    /// Calls scored.
    pub calls: usize,
    /// Quarters they were on.
    pub quarters: usize,
    /// Mean signed error, (call − booked) / booked.
    pub error: f64,
    /// Shrunk towards the team's (or everyone's) at the same level and category.
    pub shrunk: f64,
    /// Towards whose: `team NAME's` or `everyone's`.
    pub toward: String,
    /// In words.
    pub reading: String,
}

/// A scored call: the submission, its week and what was booked.
#[derive(Debug, Clone)]
pub struct Scored<'a> {
    /// The call.
    pub submission: &'a Submission,
    /// Its week of the quarter.
    pub week: u32,
    /// What its submitter (or subtree) booked in the quarter.
    pub booked: f64,
}

fn reading(shrunk: f64) -> String {
    if shrunk <= -0.05 {
        format!(
            "sandbagging: calls {:.0}% under what is booked",
            -100.0 * shrunk
        )
    } else if shrunk >= 0.05 {
        format!(
            "happy ears: calls {:.0}% over what is booked",
            100.0 * shrunk
        )
    } else {
        "on target (within 5%)".into()
    }
}

/// The bias ledger of scored calls: per person, level, category, and week
/// (and over every week), the mean signed error and its value shrunk
/// towards their team's (`team_of`: a person's team), or everyone's when
/// no one else in their team has calls scored.
pub fn ledger(scored: &[Scored], team_of: &dyn Fn(&str) -> Option<String>) -> Vec<Bias> {
    let mut out = Vec::new();
    for level in [Level::Own, Level::Team] {
        for c in CATEGORIES {
            let errors = |week: Option<u32>, who: &dyn Fn(&str) -> bool| -> (Vec<f64>, usize) {
                let pts: Vec<&Scored> = scored
                    .iter()
                    .filter(|s| {
                        s.submission.level == level
                            && s.booked > 0.0
                            && week.is_none_or(|w| s.week == w)
                            && who(&s.submission.submitter)
                    })
                    .collect();
                let mut quarters: Vec<&str> =
                    pts.iter().map(|s| s.submission.period.as_str()).collect();
                quarters.sort_unstable();
                quarters.dedup();
                (
                    pts.iter()
                        .map(|s| (s.submission.call(c) - s.booked) / s.booked)
                        .collect(),
                    quarters.len(),
                )
            };
            let mut people: Vec<&str> = scored
                .iter()
                .filter(|s| s.submission.level == level)
                .map(|s| s.submission.submitter.as_str())
                .collect();
            people.sort_unstable();
            people.dedup();
            let mut weeks: Vec<u32> = scored.iter().map(|s| s.week).collect();
            weeks.sort_unstable();
            weeks.dedup();
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            for week in std::iter::once(None).chain(weeks.into_iter().map(Some)) {
                let (all, _) = errors(week, &|_| true);
                if all.is_empty() {
                    continue;
                }
                for p in &people {
                    let (e, quarters) = errors(week, &|x| x == *p);
                    if e.is_empty() {
                        continue;
                    }
                    let team = team_of(p);
                    let (mates, _) =
                        errors(week, &|x| x != *p && team.is_some() && team_of(x) == team);
                    let (target, toward) = if mates.is_empty() {
                        (mean(&all), "everyone's".to_string())
                    } else {
                        let (with_p, _) = errors(week, &|x| team.is_some() && team_of(x) == team);
                        (
                            mean(&with_p),
                            format!("team {}'s", team.clone().unwrap_or_default()),
                        )
                    };
                    let m = mean(&e);
                    let q = quarters as f64;
                    let shrunk = (q * m + SHRINK * target) / (q + SHRINK);
                    out.push(Bias {
                        submitter: (*p).to_string(),
                        level,
                        category: c.into(),
                        week,
                        calls: e.len(),
                        quarters,
                        error: m,
                        shrunk,
                        toward,
                        reading: reading(shrunk),
                    });
                }
            }
        }
    }
    out
}

/// One person's latest call for a quarter, de-biased.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Debiased {
    /// The person.
    pub submitter: String,
    /// Own or team.
    pub level: Level,
    /// When the call was made.
    pub submitted_at: Timestamp,
    /// Per category: (call, bias used, de-biased call).
    pub calls: BTreeMap<String, (f64, f64, f64)>,
    /// In words.
    pub why: String,
}

/// The latest call of each person and level for `period` made by `at`,
/// de-biased with their shrunk bias over every week (the team's when they
/// have no history).
pub fn debiased(subs: &[Submission], period: &str, at: Timestamp, bias: &[Bias]) -> Vec<Debiased> {
    let mut latest: BTreeMap<(String, Level), &Submission> = BTreeMap::new();
    for s in subs {
        if s.period == period && s.submitted_at <= at {
            let e = latest.entry((s.submitter.clone(), s.level)).or_insert(s);
            if s.submitted_at >= e.submitted_at {
                *e = s;
            }
        }
    }
    latest
        .into_iter()
        .map(|((who, level), s)| {
            let mut calls = BTreeMap::new();
            let mut words = Vec::new();
            for c in CATEGORIES {
                let own = bias.iter().find(|b| {
                    b.submitter == who && b.level == level && b.category == c && b.week.is_none()
                });
                let team: Vec<&Bias> = bias
                    .iter()
                    .filter(|b| b.level == level && b.category == c && b.week.is_none())
                    .collect();
                let b = match own {
                    Some(b) => {
                        words.push(format!(
                            "{c}: {:+.0}% over {} quarter(s), shrunk towards {} to {:+.0}%",
                            100.0 * b.error,
                            b.quarters,
                            b.toward,
                            100.0 * b.shrunk
                        ));
                        b.shrunk
                    }
                    None if !team.is_empty() => {
                        // everyone's: the shrink target with no history of one's own
                        let all = team.iter().map(|b| b.error * b.calls as f64).sum::<f64>()
                            / team.iter().map(|b| b.calls as f64).sum::<f64>();
                        words.push(format!("{c}: no history, everyone's {:+.0}%", 100.0 * all));
                        all
                    }
                    None => {
                        words.push(format!("{c}: no history"));
                        0.0
                    }
                };
                let call = s.call(c);
                if 1.0 + b < MIN_FACTOR {
                    words.push(format!(
                        "{c} read at most {:.0}× its call",
                        1.0 / MIN_FACTOR
                    ));
                }
                let adjusted = call / (1.0 + b).max(MIN_FACTOR);
                calls.insert(c.to_string(), (call, b, adjusted));
            }
            Debiased {
                submitter: who,
                level,
                submitted_at: s.submitted_at,
                calls,
                why: words.join("; "),
            }
        })
        .collect()
}

/// The first of a call's amounts (named as its caller names them) that is
/// not an amount of 0 or more, and why.
pub fn bad_amount(amounts: [(&str, f64); 3]) -> Option<String> {
    amounts
        .iter()
        .find(|(_, v)| !v.is_finite() || *v < 0.0)
        .map(|(name, v)| format!("{name} {v}: give an amount, 0 or more"))
}

/// Score every call on a quarter that ended by `ended_by` against what its
/// submitter booked in it (their own deals; a team call, their subtree's),
/// bookings read as recorded by `recorded` (`None`: everything recorded).
pub fn score<'a>(
    ledger: &Ledger,
    org: &Org,
    subs: &'a [Submission],
    ended_by: Timestamp,
    recorded: Option<Timestamp>,
) -> Vec<Scored<'a>> {
    // per ended quarter: booked per owner id
    let mut booked: HashMap<&str, HashMap<String, f64>> = HashMap::new();
    for s in subs {
        if booked.contains_key(s.period.as_str())
            || pipewise_model::time::date_end(s.last) > ended_by
        {
            continue;
        }
        let q = quarter_of(s);
        let cut = Cut {
            effective: q.end(),
            recorded,
        };
        let mut by: HashMap<String, f64> = HashMap::new();
        for key in 0..ledger.len() as u32 {
            if let Some(won) = ledger.won_in(key, cut, &q) {
                let owner = won.owner.map_or("", |o| ledger.owner_name(o));
                *by.entry(owner.to_string()).or_default() += won.amount;
            }
        }
        booked.insert(s.period.as_str(), by);
    }
    subs.iter()
        .filter_map(|s| {
            let by = booked.get(s.period.as_str())?;
            let amount = match s.level {
                Level::Own => by.get(&s.submitter).copied().unwrap_or(0.0),
                Level::Team => org
                    .subtree(&s.submitter)
                    .iter()
                    .map(|p| by.get(p).copied().unwrap_or(0.0))
                    .sum(),
            };
            Some(Scored {
                submission: s,
                week: quarter_of(s).week_of(s.submitted_at),
                booked: amount,
            })
        })
        .collect()
}

fn quarter_of(s: &Submission) -> Quarter {
    Quarter {
        label: s.period.clone(),
        first: s.first,
        last: s.last,
    }
}

/// The calls beside a forecast group: the caller's latest call, and the
/// roll-up of the latest own calls of the people under them, raw and
/// de-biased.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupCalls {
    /// The caller (see [`Org::caller`]).
    pub submitter: String,
    /// Their latest call at the group's level, de-biased, if they made one.
    pub call: Option<Debiased>,
    /// How many people under them (themselves excluded) have an own call.
    pub rollup_calls: usize,
    /// Per category: (Σ their own calls, Σ de-biased).
    pub rollup: BTreeMap<String, (f64, f64)>,
}

/// The calls beside forecast group `group` (split `by`, `root` the
/// `--under` manager), from the latest calls of [`debiased`].
pub fn group_calls(
    org: &Org,
    by: By,
    group: &str,
    root: Option<&str>,
    latest: &[Debiased],
) -> Option<GroupCalls> {
    let (who, team) = org.caller(by, group, root)?;
    let level = if team { Level::Team } else { Level::Own };
    let call = latest
        .iter()
        .find(|d| d.submitter == who && d.level == level)
        .cloned();
    let mut rollup: BTreeMap<String, (f64, f64)> = CATEGORIES
        .iter()
        .map(|c| (c.to_string(), (0.0, 0.0)))
        .collect();
    let mut n = 0;
    if team {
        let under = org.subtree(&who);
        for d in latest {
            if d.level == Level::Own && d.submitter != who && under.contains(&d.submitter) {
                n += 1;
                for (c, (call, _, adjusted)) in &d.calls {
                    let e = rollup.entry(c.clone()).or_default();
                    e.0 += call;
                    e.1 += adjusted;
                }
            }
        }
    }
    if call.is_none() && n == 0 {
        return None;
    }
    Some(GroupCalls {
        submitter: who,
        call,
        rollup_calls: n,
        rollup,
    })
}

/// A row of an imported file that did not land, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    /// The file.
    pub file: String,
    /// Its line (the header is line 1).
    pub row: usize,
    /// The column at fault.
    pub column: String,
    /// Its raw value.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// A quarter's label, first and last day.
pub type QuarterDays = (String, Date, Date);

/// What an import needs from the workspace.
pub struct Resolve<'a> {
    /// A period's label, first and last day (a quarter), or why not.
    pub period: &'a dyn Fn(&str) -> Result<QuarterDays, String>,
    /// A person's user id from an id or a name.
    pub person: &'a dyn Fn(&str) -> Option<String>,
    /// A time.
    pub instant: &'a dyn Fn(&str) -> Option<Timestamp>,
}

/// The columns an import file must have.
pub const REQUIRED: [&str; 6] = [
    "period",
    "submitter",
    "commit",
    "best_case",
    "most_likely",
    "submitted_at",
];

/// Read past calls from a CSV (`period, submitter, commit, best_case,
/// most_likely, submitted_at`, and optionally `level` and `note`). Every
/// row lands or is quarantined with its line, column, raw value and reason.
/// Fails, naming the column, only when a required column is missing.
pub fn import_csv(
    text: &str,
    file: &str,
    resolve: &Resolve,
    now: Timestamp,
) -> Result<(Vec<Submission>, Vec<Quarantined>), String> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| format!("{file}: cannot read the header: {e}"))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    for name in REQUIRED {
        if col(name).is_none() {
            return Err(format!(
                "{file}: no column {name:?} (it has {})\n\nhint: the columns are {}, and optionally level (own or team) and note",
                headers.join(", "),
                REQUIRED.join(", ")
            ));
        }
    }
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(Quarantined {
                    file: file.into(),
                    row: line,
                    column: String::new(),
                    value: String::new(),
                    reason: format!("unreadable line: {e}"),
                });
                continue;
            }
        };
        let get = |name: &str| col(name).and_then(|c| rec.get(c)).unwrap_or("").trim();
        let mut fail = |column: &str, reason: String| {
            bad.push(Quarantined {
                file: file.into(),
                row: line,
                column: column.into(),
                value: get(column).into(),
                reason,
            });
        };
        let period = match (resolve.period)(get("period")) {
            Ok(p) => p,
            Err(why) => {
                fail("period", why);
                continue;
            }
        };
        let Some(who) = (resolve.person)(get("submitter")) else {
            fail(
                "submitter",
                "no user with this id or name in the users table".into(),
            );
            continue;
        };
        let mut amounts = [0.0; 3];
        let mut broken = false;
        for (k, c) in CATEGORIES.iter().enumerate() {
            let raw = get(c).replace([',', '$', ' '], "");
            match raw.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => amounts[k] = v,
                _ => {
                    fail(c, "not an amount (a number, 0 or more)".into());
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            continue;
        }
        let Some(at) = (resolve.instant)(get("submitted_at")) else {
            fail(
                "submitted_at",
                "not a date or time (2026-04-03 or 2026-04-03T16:00:00Z)".into(),
            );
            continue;
        };
        let Some(level) = Level::parse(get("level")) else {
            fail("level", "not own or team".into());
            continue;
        };
        let note = get("note");
        ok.push(Submission {
            period: period.0,
            first: period.1,
            last: period.2,
            submitter: who,
            level,
            commit: amounts[0],
            best_case: amounts[1],
            most_likely: amounts[2],
            note: (!note.is_empty()).then(|| note.to_string()),
            submitted_at: at,
            recorded_at: now,
            source: file.into(),
        });
    }
    Ok((ok, bad))
}

/// The calls beside each forecast group (`groups`: how each row is split
/// and its key; `root` the manager it is under, if any): the latest made by
/// `at` (and, for a forecast as known then, recorded by then), de-biased
/// with the bias of calls on quarters that had ended by then. The CLI's
/// forecast table and the server's forecast rows both come from here.
#[allow(clippy::too_many_arguments)]
pub fn calls_beside(
    ledger: &Ledger,
    org: &Org,
    mut subs: Vec<Submission>,
    period: &str,
    at: Timestamp,
    known: bool,
    groups: &[(By, String)],
    root: Option<&str>,
) -> Vec<Option<GroupCalls>> {
    subs.retain(|s| s.submitted_at <= at && (!known || s.recorded_at <= at));
    if subs.is_empty() {
        return vec![None; groups.len()];
    }
    let scored = score(ledger, org, &subs, at, known.then_some(at));
    let team_of = |id: &str| org.person(id).and_then(|p| p.team.clone());
    let bias = self::ledger(&scored, &team_of);
    let latest = debiased(&subs, period, at, &bias);
    groups
        .iter()
        .map(|(by, g)| group_calls(org, *by, g, root, &latest))
        .collect()
}

impl GroupCalls {
    /// As JSON: the caller, their call per category (call, the bias used,
    /// de-biased) and the roll-up of the own calls under them. One shape
    /// for the CLI's `--format json` and the server's forecast rows.
    pub fn to_json(&self, org: &Org) -> serde_json::Value {
        use serde_json::json;
        let name = org.person(&self.submitter).map(|p| p.name.clone());
        let call = self.call.as_ref().map(|d| {
            let mut v = json!({
                "level": d.level,
                "submitted_at": pipewise_model::time::format_timestamp(d.submitted_at),
                "why": d.why,
            });
            for (k, (call, bias, adjusted)) in &d.calls {
                v[k] = json!({"call": call, "bias": bias, "debiased": adjusted});
            }
            v
        });
        let mut rollup = json!({ "people": self.rollup_calls });
        for (k, (call, adjusted)) in &self.rollup {
            rollup[k] = json!({"call": call, "debiased": adjusted});
        }
        json!({
            "submitter": self.submitter,
            "name": name,
            "call": call,
            "rollup": (self.rollup_calls > 0).then_some(rollup),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(who: &str, period: &str, commit: f64, at: Timestamp) -> Submission {
        Submission {
            period: period.into(),
            first: 0,
            last: 90,
            submitter: who.into(),
            level: Level::Own,
            commit,
            best_case: commit * 1.5,
            most_likely: commit * 1.2,
            note: Some("n".into()),
            submitted_at: at,
            recorded_at: at,
            source: "cli".into(),
        }
    }

    #[test]
    fn an_import_lands_or_quarantines_every_row() {
        let text = "period,submitter,commit,best_case,most_likely,submitted_at,note\n\
            2026-Q1,Ann,\"1,000\",2000,1500,2026-01-05,first\n\
            2026-Q1,nobody,1,2,3,2026-01-05,\n\
            2026-Q9,Ann,1,2,3,2026-01-05,\n\
            2026-Q1,a1,lots,2,3,2026-01-05,\n\
            2026-Q1,a1,1,2,3,yesterday,\n";
        let resolve = Resolve {
            period: &|p| {
                if p == "2026-Q1" {
                    Ok(("2026-Q1".into(), 0, 89))
                } else {
                    Err("not a quarter".into())
                }
            },
            person: &|w| (w == "Ann" || w == "a1").then(|| "a1".to_string()),
            instant: &|t| pipewise_model::time::parse_iso_instant(t, false),
        };
        let (ok, bad) = import_csv(text, "calls.csv", &resolve, 7).unwrap();
        assert_eq!(ok.len() + bad.len(), 5);
        assert_eq!(ok.len(), 1);
        assert_eq!((ok[0].commit, ok[0].submitter.as_str()), (1000.0, "a1"));
        assert_eq!(ok[0].recorded_at, 7);
        let cols: Vec<(usize, &str, &str)> = bad
            .iter()
            .map(|q| (q.row, q.column.as_str(), q.value.as_str()))
            .collect();
        assert_eq!(
            cols,
            [
                (3, "submitter", "nobody"),
                (4, "period", "2026-Q9"),
                (5, "commit", "lots"),
                (6, "submitted_at", "yesterday")
            ]
        );
        let e = import_csv("period,submitter\n", "x.csv", &resolve, 0).unwrap_err();
        assert!(e.contains("x.csv: no column \"commit\""), "{e}");
    }

    #[test]
    fn the_journal_round_trip() {
        let rows = vec![sub("a", "2026-Q1", 100.0, 5), sub("b", "2026-Q1", 50.0, 6)];
        let back = from_batches(&[to_batch(&rows).unwrap()]);
        assert_eq!(back, rows);
    }

    #[test]
    fn bias_by_hand() {
        // a sandbags: commits 80 and 90 on bookings of 100 → −20%, −10%: mean −15%
        // b: commits 120 on 100 → +20%
        let subs = [
            sub("a", "2025-Q4", 80.0, 1),
            sub("a", "2026-Q1", 90.0, 2),
            sub("b", "2026-Q1", 120.0, 3),
        ];
        let scored: Vec<Scored> = subs
            .iter()
            .map(|s| Scored {
                submission: s,
                week: 1,
                booked: 100.0,
            })
            .collect();
        let l = ledger(&scored, &|_| None);
        let a = l
            .iter()
            .find(|b| b.submitter == "a" && b.category == "commit" && b.week.is_none())
            .unwrap();
        assert!((a.error + 0.15).abs() < 1e-12);
        // everyone's: (−0.2 − 0.1 + 0.2) / 3 = −1/30; shrunk: (2·−0.15 + 3·−1/30) / 5 = −0.08
        assert!((a.shrunk + 0.08).abs() < 1e-12, "{}", a.shrunk);
        assert!(a.reading.starts_with("sandbagging: calls 8% under"));
        let b = l
            .iter()
            .find(|b| b.submitter == "b" && b.category == "commit" && b.week.is_none())
            .unwrap();
        // (1·0.2 + 3·−1/30) / 4 = 0.025
        assert!((b.shrunk - 0.025).abs() < 1e-12);
        assert_eq!(b.reading, "on target (within 5%)");
        // a's next call of 92 reads as 92 / (1 − 0.08) = 100
        let next = [sub("a", "2026-Q2", 92.0, 10), sub("a", "2026-Q2", 70.0, 20)];
        let d = debiased(&next, "2026-Q2", 15, &l);
        assert_eq!(d.len(), 1);
        let (call, bias, adjusted) = d[0].calls["commit"];
        assert_eq!(call, 92.0);
        assert!((bias + 0.08).abs() < 1e-12);
        assert!((adjusted - 100.0).abs() < 1e-9, "{adjusted}");
        assert!(
            d[0].why.contains("shrunk towards everyone's to -8%"),
            "{}",
            d[0].why
        );
        // in a team of a and b, each is shrunk towards the team's: the same two people
        let teams = ledger(&scored, &|_| Some("t".into()));
        let a2 = teams
            .iter()
            .find(|b| b.submitter == "a" && b.category == "commit" && b.week.is_none())
            .unwrap();
        assert_eq!(a2.toward, "team t's");
        assert!((a2.shrunk + 0.08).abs() < 1e-12);
        // a alone in its team: everyone's
        let alone = ledger(&scored, &|p| Some(p.to_string()));
        assert!(alone.iter().all(|b| b.toward == "everyone's"));
        // someone without history reads as everyone does
        let c = debiased(&[sub("c", "2026-Q2", 50.0, 1)], "2026-Q2", 15, &l);
        assert!(
            c[0].why.starts_with("commit: no history, everyone's -3%"),
            "{}",
            c[0].why
        );
    }
}
