//! `pipewise init --from EXPORT_DIR`: a sales process (`pipewise.toml`)
//! proposed from the export itself, so that no two source stages fold into
//! one by a default's aliases.
//!
//! * **Salesforce.** `OpportunityStage.csv` when the export has it: its
//!   `SortOrder`, `IsClosed`, `IsWon`, `DefaultProbability` and
//!   `ForecastCategoryName`. Otherwise the stage names of `Opportunity.csv`
//!   and `OpportunityHistory.csv`, open stages ordered by their median
//!   `Probability`, then by where they come in the deals' histories;
//!   won/lost from `IsWon`/`IsClosed`, forecast categories from
//!   `ForecastCategoryName` / `ForecastCategory`. The fiscal year's first
//!   month from `Organization.csv` (`FiscalYearStartMonth`) or
//!   `FiscalYearSettings.csv` (the latest year's `StartDate`).
//! * **HubSpot.** The labels of `Deal Stage` and of the `Date entered "…"`
//!   columns (pipelines merged by label), open stages ordered by median
//!   `Deal probability`, then by column order; won from `Is Closed Won`,
//!   lost from a closed deal (`Is closed`) that is not won or, without that
//!   column, a 0 probability on a stage whose name says lost.
//!
//! **Several sales processes.** A Salesforce export whose opportunities follow
//! several record types (`RecordTypeId`, named through `RecordType.csv` and
//! `BusinessProcess.csv`) and a HubSpot export with several values in
//! `Pipeline` get one `[[pipelines]]` entry each, with the stages its own deals
//! use (Salesforce: and every closed stage of the org), in the order above.
//!
//! What is inferred rather than read is said in a comment beside it, and the
//! qualified stage is only proposed: the second open stage.

use crate::csvread::{RawFile, read_file};
use crate::values::{boolean, number};
use crate::{IngestError, cell, list_files};
use pipewise_model::{ForecastCategory, SalesProcess, StageOutcome};
use std::collections::BTreeMap;
use std::path::Path;

/// A proposed process: the TOML text and what it was read from.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the proposed pipewise.toml and what it found
pub struct Proposal {
    pub toml: String,
    /// `salesforce` or `hubspot`.
    pub source: &'static str,
    /// The files the proposal read.
    pub read: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct StageSeen {
    /// Spelling as the export has it (first seen).
    name: String,
    probabilities: Vec<f64>,
    categories: BTreeMap<ForecastCategory, u64>,
    won: u64,
    closed: u64,
    /// Rows that say whether the deal is closed / won (current records).
    outcome_rows: u64,
    rows: u64,
    /// Relative position (0..1) in each deal's history where it first comes.
    ranks: Vec<f64>,
    /// Explicit order (`OpportunityStage.SortOrder`, column order).
    order: Option<f64>,
    /// Read from a stage table (not inferred).
    declared: Option<StageOutcome>,
    default_probability: Option<f64>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 2])
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default, Clone)]
struct Seen {
    stages: BTreeMap<String, StageSeen>, // lower-case name → what was seen
}

/// What was seen per sales process, in the order processes were first met
/// (`""`: deals that name none); names match case-insensitively.
#[derive(Default)]
struct Processes {
    /// (lower-case key, name as first seen)
    order: Vec<(String, String)>,
    seen: BTreeMap<String, Seen>,
}

impl Processes {
    fn get(&mut self, name: &str) -> &mut Seen {
        let name = squash(name);
        let key = name.to_lowercase();
        if !self.seen.contains_key(&key) {
            self.order.push((key.clone(), name));
        }
        self.seen.entry(key).or_default()
    }

    /// (process name, what was seen), in order; one unnamed entry at least.
    fn into_list(mut self) -> Vec<(String, Seen)> {
        if self.order.is_empty() {
            self.order.push((String::new(), String::new()));
        }
        self.order
            .into_iter()
            .map(|(k, n)| {
                let s = self.seen.remove(&k).unwrap_or_default();
                (n, s)
            })
            .collect()
    }
}

impl Seen {
    fn stage(&mut self, raw: &str) -> Option<&mut StageSeen> {
        let name = squash(raw);
        if name.is_empty() {
            return None;
        }
        let e = self.stages.entry(name.to_lowercase()).or_default();
        if e.name.is_empty() {
            e.name = name;
        }
        Some(e)
    }
}

/// Propose a process from an export folder (Salesforce or HubSpot, told apart
/// by their files).
pub fn propose(dir: &Path) -> Result<Proposal, IngestError> {
    let files = list_files(dir, &["csv"])?;
    let named = |n: &str| {
        files.iter().find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.eq_ignore_ascii_case(n))
        })
    };
    if named("Opportunity.csv").is_some() || named("OpportunityHistory.csv").is_some() {
        let mut read = Vec::new();
        let mut open = |n: &str| -> Result<Option<RawFile>, IngestError> {
            match named(n) {
                Some(p) => {
                    read.push(n.to_string());
                    read_file(p, n).map(Some)
                }
                None => Ok(None),
            }
        };
        let stage_table = open("OpportunityStage.csv")?;
        let opps = open("Opportunity.csv")?;
        let hist = open("OpportunityHistory.csv")?;
        let org = open("Organization.csv")?;
        let fy = open("FiscalYearSettings.csv")?;
        let record_types = open("RecordType.csv")?;
        let business = open("BusinessProcess.csv")?;
        let process_of = record_type_processes(record_types.as_ref(), business.as_ref());
        let seen = salesforce_stages(
            stage_table.as_ref(),
            opps.as_ref(),
            hist.as_ref(),
            &process_of,
        );
        let fiscal = fiscal_start(org.as_ref(), fy.as_ref());
        let toml = render(seen, fiscal, "salesforce")?;
        return Ok(Proposal {
            toml,
            source: "salesforce",
            read,
        });
    }
    for p in &files {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let f = read_file(p, &name)?;
        if f.column("Deal Stage").is_some() {
            let seen = hubspot_stages(&f);
            let toml = render(seen, None, "hubspot")?;
            return Ok(Proposal {
                toml,
                source: "hubspot",
                read: vec![name],
            });
        }
    }
    Err(IngestError::NoInput {
        dir: dir.display().to_string(),
        message: "neither a Salesforce export (Opportunity.csv, OpportunityHistory.csv) nor a HubSpot deals export (a CSV with \"Deal Stage\") is here".into(),
    })
}

/// Record type id → the name of its sales process (its business process's
/// name, else its own).
fn record_type_processes(
    types: Option<&RawFile>,
    business: Option<&RawFile>,
) -> BTreeMap<String, String> {
    let mut bp: BTreeMap<String, String> = BTreeMap::new();
    if let Some(b) = business {
        for r in &b.rows {
            let name = squash(cell(r, b.column("Name")));
            if !name.is_empty() {
                bp.insert(
                    crate::salesforce::sf_id18(cell(r, b.column("Id")).trim()).into_owned(),
                    name,
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(t) = types {
        for r in &t.rows {
            let object = cell(r, t.column("SobjectType"));
            if !object.is_empty() && !object.eq_ignore_ascii_case("Opportunity") {
                continue;
            }
            let via = bp.get(
                crate::salesforce::sf_id18(cell(r, t.column("BusinessProcessId")).trim()).as_ref(),
            );
            let name = via
                .cloned()
                .unwrap_or_else(|| squash(cell(r, t.column("Name"))));
            if !name.is_empty() {
                out.insert(
                    crate::salesforce::sf_id18(cell(r, t.column("Id")).trim()).into_owned(),
                    name,
                );
            }
        }
    }
    out
}

fn salesforce_stages(
    table: Option<&RawFile>,
    opps: Option<&RawFile>,
    hist: Option<&RawFile>,
    process_of: &BTreeMap<String, String>,
) -> Vec<(String, Seen)> {
    // Each opportunity's process (by its record type).
    let mut deal_process: BTreeMap<String, String> = BTreeMap::new();
    if let Some(f) = opps {
        let (id, rt) = (f.column("Id"), f.column("RecordTypeId"));
        for r in &f.rows {
            if let Some(p) = process_of.get(crate::salesforce::sf_id18(cell(r, rt).trim()).as_ref())
            {
                deal_process.insert(
                    crate::salesforce::sf_id18(cell(r, id).trim()).into_owned(),
                    p.clone(),
                );
            }
        }
    }
    let mut names: Vec<&String> = deal_process.values().collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        let seen = salesforce_process(table, opps, hist, &|_| true);
        let name = names.first().map(|n| n.to_string()).unwrap_or_default();
        return vec![(name, seen)];
    }
    // Several processes: each one's stages from its own deals.
    let mut order: Vec<String> = Vec::new();
    if let Some(f) = opps {
        let rt = f.column("RecordTypeId");
        for r in &f.rows {
            if let Some(p) = process_of.get(crate::salesforce::sf_id18(cell(r, rt).trim()).as_ref())
                && !order.contains(p)
            {
                order.push(p.clone());
            }
        }
    }
    // Deals with no known record type follow the first (default) process.
    let first = order.first().cloned().unwrap_or_default();
    // The org's stage table describes every stage (read once, for all processes).
    let all = table.map(|t| salesforce_process(Some(t), None, None, &|_| true));
    order
        .into_iter()
        .map(|p| {
            let mine = |oid: &str| match deal_process
                .get(crate::salesforce::sf_id18(oid.trim()).as_ref())
            {
                Some(d) => *d == p,
                None => p == first,
            };
            let mut seen = salesforce_process(None, opps, hist, &mine);
            if let Some(all) = &all {
                // This process keeps the table's stages its deals use, and
                // every closed one.
                let used: Vec<String> = seen.stages.keys().cloned().collect();
                seen = Seen {
                    stages: all
                        .stages
                        .iter()
                        .map(|(k, s)| (k.clone(), s.clone()))
                        .filter(|(k, s)| {
                            used.contains(k)
                                || matches!(
                                    s.declared,
                                    Some(StageOutcome::Won) | Some(StageOutcome::Lost)
                                )
                        })
                        .collect(),
                };
            }
            (p, seen)
        })
        .collect()
}

/// The stages of one process: the opportunities (and their history rows)
/// whose id `mine` accepts, or the org's stage table when given.
fn salesforce_process(
    table: Option<&RawFile>,
    opps: Option<&RawFile>,
    hist: Option<&RawFile>,
    mine: &dyn Fn(&str) -> bool,
) -> Seen {
    let mut seen = Seen::default();
    if let Some(t) = table {
        let name = t.column("ApiName").or(t.column("MasterLabel"));
        let [active, sort, closed, won, prob, cat] = [
            "IsActive",
            "SortOrder",
            "IsClosed",
            "IsWon",
            "DefaultProbability",
            "ForecastCategoryName",
        ]
        .map(|c| t.column(c));
        let cat = cat.or(t.column("ForecastCategory"));
        for r in &t.rows {
            if boolean(cell(r, active)) == Ok(false) {
                continue;
            }
            let Some(s) = seen.stage(cell(r, name)) else {
                continue;
            };
            s.order = number(cell(r, sort)).ok();
            let is_closed = boolean(cell(r, closed)).unwrap_or(false);
            let is_won = boolean(cell(r, won)).unwrap_or(false);
            s.declared = Some(match (is_closed, is_won) {
                (_, true) => StageOutcome::Won,
                (true, false) => StageOutcome::Lost,
                _ => StageOutcome::Open,
            });
            s.default_probability = number(cell(r, prob)).ok();
            if let Some(c) = ForecastCategory::parse_loose(cell(r, cat)) {
                *s.categories.entry(c).or_default() += 1;
            }
        }
        return seen;
    }
    if let Some(f) = opps {
        let [stage, prob, cat, closed, won, id] = [
            "StageName",
            "Probability",
            "ForecastCategoryName",
            "IsClosed",
            "IsWon",
            "Id",
        ]
        .map(|c| f.column(c));
        for r in &f.rows {
            if !mine(cell(r, id)) {
                continue;
            }
            let Some(s) = seen.stage(cell(r, stage)) else {
                continue;
            };
            s.rows += 1;
            if let Ok(p) = number(cell(r, prob)) {
                s.probabilities.push(p);
            }
            if let Some(c) = ForecastCategory::parse_loose(cell(r, cat)) {
                *s.categories.entry(c).or_default() += 1;
            }
            if closed.is_some() || won.is_some() {
                s.outcome_rows += 1;
            }
            if boolean(cell(r, closed)) == Ok(true) {
                s.closed += 1;
            }
            if boolean(cell(r, won)) == Ok(true) {
                s.won += 1;
            }
        }
    }
    if let Some(h) = hist {
        let [opp, time, stage, prob, cat] = [
            "OpportunityId",
            "CreatedDate",
            "StageName",
            "Probability",
            "ForecastCategory",
        ]
        .map(|c| h.column(c));
        let mut per_opp: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for r in &h.rows {
            if !mine(cell(r, opp)) {
                continue;
            }
            per_opp
                .entry(cell(r, opp))
                .or_default()
                .push((cell(r, time), cell(r, stage)));
            let Some(s) = seen.stage(cell(r, stage)) else {
                continue;
            };
            s.rows += 1;
            if let Ok(p) = number(cell(r, prob)) {
                s.probabilities.push(p);
            }
            if let Some(c) = ForecastCategory::parse_loose(cell(r, cat)) {
                *s.categories.entry(c).or_default() += 1;
            }
        }
        for rows in per_opp.values_mut() {
            // ISO instants sort as text; other formats only refine the order.
            rows.sort();
            let mut firsts: Vec<String> = Vec::new();
            for (_, st) in rows.iter() {
                let k = squash(st).to_lowercase();
                if !k.is_empty() && !firsts.contains(&k) {
                    firsts.push(k);
                }
            }
            let n = firsts.len().max(2) as f64 - 1.0;
            for (i, k) in firsts.iter().enumerate() {
                if let Some(s) = seen.stages.get_mut(k) {
                    s.ranks.push(i as f64 / n);
                }
            }
        }
    }
    seen
}

fn hubspot_stages(f: &RawFile) -> Vec<(String, Seen)> {
    let mut all = Processes::default();
    let [stage, prob, cat, won, closed, pipeline] = [
        "Deal Stage",
        "Deal probability",
        "Forecast category",
        "Is Closed Won",
        "Is closed",
        "Pipeline",
    ]
    .map(|c| f.column(c));
    let closed = closed.or(f.column("Is Deal Closed?"));
    let pipelines = crate::hubspot::pipelines_of(f);
    // Processes in the order the deals first name them.
    for r in &f.rows {
        let p = cell(r, pipeline);
        if !p.trim().is_empty() {
            all.get(p);
        }
    }
    // Stage-entry columns: a pipeline's own, or every pipeline's.
    let mut unscoped: Vec<(String, usize)> = Vec::new();
    for (i, h) in f.headers.iter().enumerate() {
        match crate::hubspot::stage_column(h, &pipelines) {
            Some((label, Some(p))) => {
                if let Some(s) = all.get(&p).stage(&label)
                    && s.order.is_none()
                {
                    s.order = Some(i as f64);
                }
            }
            Some((label, None)) => unscoped.push((label, i)),
            None => {}
        }
    }
    if all.order.is_empty() {
        all.get("");
    }
    for (_, name) in all.order.clone() {
        let seen = all.get(&name);
        for (label, i) in &unscoped {
            if let Some(s) = seen.stage(label)
                && s.order.is_none()
            {
                s.order = Some(*i as f64);
            }
        }
    }
    for r in &f.rows {
        let seen = all.get(cell(r, pipeline));
        let Some(s) = seen.stage(cell(r, stage)) else {
            continue;
        };
        s.rows += 1;
        if let Ok(p) = number(cell(r, prob)) {
            s.probabilities.push(if p <= 1.0 { p * 100.0 } else { p });
        }
        if let Some(c) = ForecastCategory::parse_loose(cell(r, cat)) {
            *s.categories.entry(c).or_default() += 1;
        }
        if won.is_some() || closed.is_some() {
            s.outcome_rows += 1;
        }
        if boolean(cell(r, won)) == Ok(true) {
            s.won += 1;
            s.closed += 1;
        } else if boolean(cell(r, closed)) == Ok(true) {
            s.closed += 1;
        }
    }
    // Deals with no pipeline fold into the first one, when there is one.
    if all.order.len() > 1
        && let Some(none) = all.seen.remove("")
    {
        all.order.retain(|(k, _)| !k.is_empty());
        let first = all.get(&all.order[0].1.clone());
        for (k, s) in none.stages {
            first.stages.entry(k).or_insert(s);
        }
    }
    all.into_list()
}

/// The fiscal year's first month, from `Organization.csv` or the latest
/// `FiscalYearSettings.csv` row.
fn fiscal_start(org: Option<&RawFile>, fy: Option<&RawFile>) -> Option<u32> {
    if let Some(o) = org
        && let Some(r) = o.rows.first()
        && let Ok(m) = number(cell(r, o.column("FiscalYearStartMonth")))
        && (1.0..=12.0).contains(&m)
    {
        return Some(m as u32);
    }
    let f = fy?;
    let c = f.column("StartDate");
    let latest = f
        .rows
        .iter()
        .map(|r| cell(r, c))
        .filter(|s| s.len() >= 7)
        .max()?;
    latest
        .get(5..7)?
        .parse()
        .ok()
        .filter(|m| (1..=12).contains(m))
}

struct Decided {
    name: String,
    outcome: StageOutcome,
    outcome_note: &'static str,
    probability: Option<f64>,
    category: ForecastCategory,
    category_note: &'static str,
    sort: (f64, f64, f64),
}

fn decide(s: &StageSeen, source: &str) -> Decided {
    let lname = s.name.to_lowercase();
    let median_p = median(&s.probabilities);
    let (outcome, outcome_note) = if let Some(o) = s.declared {
        (o, "")
    } else if s.outcome_rows > 0 && s.won * 2 > s.outcome_rows {
        (StageOutcome::Won, "inferred: most of its deals are won")
    } else if s.outcome_rows > 0 && s.closed * 2 > s.outcome_rows {
        (
            StageOutcome::Lost,
            "inferred: most of its deals are closed, not won",
        )
    } else if s.closed == 0 && s.won == 0 && median_p == Some(100.0) && lname.contains("won") {
        (
            StageOutcome::Won,
            "inferred from its name and 100% probability",
        )
    } else if s.closed == 0 && median_p == Some(0.0) && lname.contains("lost") {
        (
            StageOutcome::Lost,
            "inferred from its name and 0% probability",
        )
    } else {
        (StageOutcome::Open, "")
    };
    let probability = s.default_probability.or(median_p);
    let (category, category_note) = match s.categories.iter().max_by_key(|(_, n)| **n) {
        Some((c, _)) => (*c, ""),
        None => (
            match outcome {
                StageOutcome::Won => ForecastCategory::Closed,
                StageOutcome::Lost => ForecastCategory::Omitted,
                StageOutcome::Open => match probability {
                    Some(p) if p >= 70.0 => ForecastCategory::Commit,
                    Some(p) if p >= 40.0 => ForecastCategory::BestCase,
                    _ => ForecastCategory::Pipeline,
                },
            },
            if source == "salesforce" {
                "inferred from the outcome and probability: the export names no forecast category"
            } else {
                "inferred from the outcome and probability"
            },
        ),
    };
    let group = match outcome {
        StageOutcome::Open => 0.0,
        StageOutcome::Won => 1.0,
        StageOutcome::Lost => 2.0,
    };
    let sort = match s.order {
        Some(o) => (group, o, 0.0),
        None => (
            group,
            probability.unwrap_or(f64::MAX),
            mean(&s.ranks).unwrap_or(f64::MAX),
        ),
    };
    Decided {
        name: s.name.clone(),
        outcome,
        outcome_note,
        probability,
        category,
        category_note,
        sort,
    }
}

/// One process's stages, decided and in order (a won and a lost stage added
/// when the export shows none), and its proposed qualified stage.
fn decide_all(seen: &Seen, source: &str) -> (Vec<Decided>, Option<String>) {
    let mut stages: Vec<Decided> = seen.stages.values().map(|s| decide(s, source)).collect();
    // A process needs a won and a lost stage: propose them when the export shows none.
    for (outcome, name, category, sort) in [
        (
            StageOutcome::Won,
            "Closed Won",
            ForecastCategory::Closed,
            1.0,
        ),
        (
            StageOutcome::Lost,
            "Closed Lost",
            ForecastCategory::Omitted,
            2.0,
        ),
    ] {
        if !stages.iter().any(|s| s.outcome == outcome)
            && !stages.iter().any(|s| s.name.eq_ignore_ascii_case(name))
        {
            stages.push(Decided {
                name: name.into(),
                outcome,
                outcome_note: "not in the export: pipewise needs one; rename it to your CRM's",
                probability: Some(if outcome == StageOutcome::Won {
                    100.0
                } else {
                    0.0
                }),
                category,
                category_note: "",
                sort: (sort, 0.0, 0.0),
            });
        }
    }
    // Open stages first, then won, then lost (a proposed one among them).
    stages.sort_by(|a, b| {
        a.sort
            .0
            .total_cmp(&b.sort.0)
            .then(a.sort.1.total_cmp(&b.sort.1))
            .then(a.sort.2.total_cmp(&b.sort.2))
            .then(a.name.cmp(&b.name))
    });
    let open: Vec<&Decided> = stages
        .iter()
        .filter(|s| s.outcome == StageOutcome::Open)
        .collect();
    let qualified = open.get(1).or(open.first()).map(|s| s.name.clone());
    (stages, qualified)
}

/// The `[[stages]]` (or `[[pipelines.stages]]`) tables of one process.
fn render_stages(t: &mut String, stages: &[Decided], table: &str) {
    for s in stages {
        t.push_str(&format!("\n[[{table}]]\n"));
        t.push_str(&format!("name = {:?}\n", s.name));
        t.push_str(&format!("forecast_category = {:?}", s.category.as_str()));
        if !s.category_note.is_empty() {
            t.push_str(&format!("  # {}", s.category_note));
        }
        t.push('\n');
        if let Some(p) = s.probability {
            t.push_str(&format!("probability = {}\n", (p * 100.0).round() / 100.0));
        }
        match s.outcome {
            StageOutcome::Open => {}
            o => {
                t.push_str(&format!(
                    "outcome = {:?}",
                    if o == StageOutcome::Won {
                        "won"
                    } else {
                        "lost"
                    }
                ));
                if !s.outcome_note.is_empty() {
                    t.push_str(&format!("  # {}", s.outcome_note));
                }
                t.push('\n');
            }
        }
    }
}

fn render(
    processes: Vec<(String, Seen)>,
    fiscal: Option<u32>,
    source: &str,
) -> Result<String, IngestError> {
    let mut t = String::new();
    t.push_str(&format!(
        "# pipewise sales process, proposed by `pipewise init --from` from a {source} export.\n\
         # Stages are in the order the export gives; check each one, above all the\n\
         # lines marked \"inferred\", and the qualified stage.\n"
    ));
    match fiscal {
        Some(m) => t.push_str(&format!(
            "fiscal_year_start_month = {m}  # read from the export\n"
        )),
        None => t.push_str(
            "fiscal_year_start_month = 1  # the export does not say: set your fiscal year's first month\n",
        ),
    }
    let qualified_note = "# The stage that proxies a sales-accepted lead (SAL): close and win rates only\n\
         # count deals that reached it (seed 004). Proposed: the second open stage.\n";
    match processes.as_slice() {
        [(name, seen)] => {
            if !name.is_empty() {
                t.push_str(&format!(
                    "# The sales process's name as the export gives it (deals' pipeline).\npipeline = {name:?}\n"
                ));
            }
            let (stages, qualified) = decide_all(seen, source);
            t.push_str(qualified_note);
            t.push_str(&format!(
                "qualified_stage = {:?}\n",
                qualified.unwrap_or_default()
            ));
            render_stages(&mut t, &stages, "stages");
        }
        several => {
            t.push_str(&format!(
                "# {} sales processes, each with the stages its own deals use. The first is the\n\
                 # default: deals that name no process follow it.\n",
                several.len()
            ));
            for (name, seen) in several {
                let (stages, qualified) = decide_all(seen, source);
                t.push_str("\n[[pipelines]]\n");
                t.push_str(&format!("name = {name:?}\n"));
                t.push_str(qualified_note);
                t.push_str(&format!(
                    "qualified_stage = {:?}\n",
                    qualified.unwrap_or_default()
                ));
                render_stages(&mut t, &stages, "pipelines.stages");
            }
        }
    }
    // The proposal must be a valid process: say what is missing instead.
    SalesProcess::from_toml(&t, "pipewise.toml (proposed)").map_err(|e| IngestError::NoInput {
        dir: String::new(),
        message: format!(
            "the export does not give a complete sales process ({e}); start from `pipewise init` and edit pipewise.toml"
        ),
    })?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }
}
