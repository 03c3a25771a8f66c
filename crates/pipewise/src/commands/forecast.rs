//! `pipewise forecast` and `pipewise backtest` (pipewise-forecast).

use crate::args::{BacktestArgs, ByChoice, ForecastArgs, Format};
use crate::commands::{print, print_json, spinner};
use crate::output::{Cell, Table};
use crate::settings::{Workspace, instant, open, user};
use anyhow::Result;
use pipewise_forecast::backtest::{self, BacktestOptions};
use pipewise_forecast::calendar::{Quarter, quarter_at};
use pipewise_forecast::forecast::{self, Context, Options, Row, past_quarters};
use pipewise_forecast::groups::{By, Org};
use pipewise_forecast::methods::{DealP, Forecast, Method};
use pipewise_forecast::scan::{FIELDS, Ledger};
use pipewise_forecast::submissions::{self, GroupCalls};
use pipewise_ledger::{EventLog, Projection};
use pipewise_model::Timestamp;
use pipewise_model::time::format_timestamp;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

/// The ledger's fields a forecast reads (with recorded times when `recorded`).
fn load(w: &Workspace, recorded: bool) -> Result<EventLog> {
    let manifest = w.store.manifest()?;
    Ok(w.store.load_projected(
        &manifest,
        &Projection {
            fields: Some(FIELDS.to_vec()),
            old_values: false,
            recorded_at: recorded,
            ids: true,
            sources: false,
        },
    )?)
}

fn org(w: &Workspace) -> Result<Org> {
    Ok(Org::from_batches(
        &w.store.read_table("users")?,
        &w.store.read_table("quotas")?,
    ))
}

fn methods(names: &[String], what: &str) -> Result<Vec<Method>> {
    if names.is_empty() {
        return Ok(Method::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Method::parse(n.trim()).ok_or_else(|| {
                user(format!(
                    "{what} {n:?}: not a method; the methods are {}",
                    Method::ALL.map(Method::as_str).join(", ")
                ))
            })
        })
        .collect()
}

fn by(b: ByChoice) -> By {
    match b {
        ByChoice::Company => By::Company,
        ByChoice::Owner => By::Owner,
        ByChoice::Team => By::Team,
        ByChoice::Manager => By::Manager,
        ByChoice::Segment => By::Segment,
    }
}

/// When the first deal was created (the history's start).
fn first_created(log: &EventLog) -> Timestamp {
    log.keys.created_at.iter().copied().min().unwrap_or(0)
}

pub fn run(ws: &Path, a: &ForecastArgs, format: Format) -> Result<()> {
    let w = open(ws)?;
    let at = match &a.as_of {
        Some(s) => instant(s, "--as-of")?,
        None => crate::settings::now(),
    };
    let fsm = w.process.fiscal_year_start_month();
    let quarter = match &a.period {
        Some(p) => {
            let (first, last) = w.period(p, "--period")?;
            let q = Quarter::containing(first, fsm, &w.calendar);
            if q.first != first || q.last != last {
                return Err(user(format!(
                    "--period {p}: forecasts are per fiscal quarter; {p} is {}..{}\n\nhint: --period {}",
                    pipewise_model::time::format_date(first),
                    pipewise_model::time::format_date(last),
                    q.label
                )));
            }
            q
        }
        None => quarter_at(at, fsm, &w.calendar),
    };
    if at < quarter.start() || at > quarter.end() {
        return Err(user(format!(
            "--as-of {}: outside {} ({}); a forecast is made during its quarter\n\nhint: --as-of {} (its first day) or later",
            format_timestamp(at),
            quarter.label,
            quarter.range(),
            pipewise_model::time::format_date(quarter.first)
        )));
    }
    let methods = methods(&a.method, "--method")?;
    let explain = a
        .explain
        .as_deref()
        .map(|m| {
            Method::parse(m).ok_or_else(|| {
                user(format!(
                    "--explain {m:?}: not a method; the methods are {}",
                    Method::ALL.map(Method::as_str).join(", ")
                ))
            })
        })
        .transpose()?;
    let pb = spinner("reading the ledger");
    // recorded times always: past quarters are read as they were recorded
    // (the rates, and the backtest that ranks the methods, must not see later records)
    let log = load(&w, true)?;
    let ledger = Ledger::new(&log, &w.process);
    let org = org(&w)?;
    let scope = match &a.under {
        Some(m) => {
            let p = org.find(m).ok_or_else(|| {
                user(format!(
                    "--under {m:?}: no user with that id or name in the users table"
                ))
            })?;
            Some(org.subtree(&p.id))
        }
        None => None,
    };
    let latest = log.latest();
    let week = quarter.week_of(at);
    pb.set_message("tallying past quarters");
    let past_q = past_quarters(&quarter, at, first_created(&log), fsm, &w.calendar);
    let past = forecast::tallies(&ledger, &past_q, &[week], true);
    let learned = match &a.model {
        Some(name) => Some(learned_probabilities(
            ws, &w, name, at, a.known, &quarter, &log,
        )?),
        None => None,
    };
    let o = Options {
        methods: if let Some(m) = explain {
            vec![m]
        } else {
            methods.clone()
        },
        by: by(a.by),
        scope,
        known: a.known,
        draws: a.draws.max(1),
        seed: a.seed,
        explain: explain.is_some(),
        lookback: a.lookback.max(1),
        learned,
    };
    let cx = Context {
        ledger: &ledger,
        org: &org,
        quarter: &quarter,
        cut: at,
        past: &past,
    };
    pb.set_message("forecasting");
    let prepared = forecast::prepare(&cx, &o);
    let mut rows = forecast::forecast(&cx, &o, &prepared);
    // the recommended method: the saved backtest's winner at this week, else
    // a backtest at this week of the last four quarters, run now
    let recommendation = match std::fs::read_to_string(ws.join("reports").join("backtest.json"))
        .ok()
        .and_then(|t| backtest::saved_recommendation(&t, week))
    {
        Some(r) => Some(r),
        None if explain.is_none() => {
            pb.set_message("ranking the methods at this week");
            backtest::recommend(&ledger, &org, &past, week, &methods)
        }
        None => None,
    };
    pb.finish_and_clear();
    if at > latest + 30 * pipewise_model::time::MICROS_PER_DAY {
        eprintln!(
            "warning: the ledger's latest change is {}, more than 30 days before --as-of {}; deals still open in it may long since have moved",
            format_timestamp(latest),
            format_timestamp(at)
        );
    }
    if let Some((m, _)) = &recommendation {
        for r in &mut rows {
            if let Some(i) = r.forecasts.iter().position(|f| f.method == *m) {
                let f = r.forecasts.remove(i);
                r.forecasts.insert(0, f);
            }
        }
    }
    if let Some(m) = explain {
        return print_explain(&rows, m, format);
    }
    let calls = group_calls(
        &w,
        &org,
        &ledger,
        &rows,
        &o,
        &quarter,
        at,
        a.under.as_deref(),
    )?;
    print_rows(
        &rows,
        &calls,
        &org,
        recommendation.as_ref(),
        &prepared.p_source,
        format,
    )
}

/// The calls beside each row (see `submissions::calls_beside`).
#[allow(clippy::too_many_arguments)]
fn group_calls(
    w: &Workspace,
    org: &Org,
    ledger: &Ledger,
    rows: &[Row],
    o: &Options,
    quarter: &Quarter,
    at: Timestamp,
    under: Option<&str>,
) -> Result<Vec<Option<GroupCalls>>> {
    let subs = submissions::from_batches(&w.store.read_journal(submissions::JOURNAL)?);
    let root = under.and_then(|m| org.find(m)).map(|p| p.id.clone());
    let groups: Vec<(By, String)> = rows
        .iter()
        .map(|r| {
            let by = if r.group == "all" { By::Company } else { o.by };
            (by, r.group.clone())
        })
        .collect();
    Ok(submissions::calls_beside(
        ledger,
        org,
        subs,
        &quarter.label,
        at,
        o.known,
        &groups,
        root.as_deref(),
    ))
}

/// A trained deal model's P(won / lost / slipped) for the deals open at `at`.
fn learned_probabilities(
    ws: &Path,
    w: &Workspace,
    name: &str,
    at: Timestamp,
    known: bool,
    quarter: &Quarter,
    log: &EventLog,
) -> Result<HashMap<u32, DealP>> {
    use pipewise_score::deals::history::DealHistory;
    use pipewise_score::deals::model::DealModel;
    let dir = crate::commands::leads::model_dir(ws, name)?;
    if !dir.join("model.json").exists() {
        return Err(user(format!(
            "--model {name}: no deal model in {}\n\nhint: pipewise deals train --name {name}",
            dir.display()
        )));
    }
    let m = DealModel::load(&dir)?;
    if known && m.known.is_none_or(|k| k > at) {
        return Err(user(format!(
            "--model {name}: trained on records later than --as-of; a --known forecast must not use it\n\nhint: pipewise deals train --known {} --name {name}-asof",
            format_timestamp(at)
        )));
    }
    let h = DealHistory::load_with(&w.store, w.process.clone(), known)?;
    let cut = if known {
        pipewise_ledger::Cut::known_at(at)
    } else {
        pipewise_ledger::Cut::at(at)
    };
    Ok(model_probabilities(&m, &h, cut, quarter, log))
}

/// A deal model's P(won / lost / slipped in `quarter`) for the deals open at
/// `cut`, by ledger key.
fn model_probabilities(
    m: &pipewise_score::deals::model::DealModel,
    h: &pipewise_score::deals::history::DealHistory,
    cut: pipewise_ledger::Cut,
    quarter: &Quarter,
    log: &EventLog,
) -> HashMap<u32, DealP> {
    m.score(h, cut, quarter.period(), 0, None)
        .into_iter()
        .filter_map(|s| {
            log.keys.key(&s.opportunity_id).map(|k| {
                (
                    k,
                    DealP {
                        won: s.p_won,
                        lost: s.p_lost,
                        slipped: s.p_slipped,
                    },
                )
            })
        })
        .collect()
}

fn forecast_json(
    r: &Row,
    f: &Forecast,
    rec: Option<&(Method, String)>,
    p_source: &str,
    calls: Option<Value>,
) -> Value {
    let recommended = rec.is_some_and(|(m, _)| *m == f.method);
    let gap = match (r.quota, f.value) {
        (Some(q), Some(v)) => Some(q - v),
        _ => None,
    };
    let mut v = json!({
        "group": r.group,
        "label": r.label,
        "method": f.method.as_str(),
        "recommended": recommended,
        "why": rec.filter(|_| recommended).map(|(_, why)| why.clone()),
        "value": f.value,
        "p10": f.p10,
        "p50": f.p50,
        "p90": f.p90,
        "quota": r.quota,
        "gap": gap,
        "terms": f.terms,
        "notes": f.notes,
        "warnings": f.warnings,
    });
    if let Some(u) = f.upside {
        v["upside"] = json!(u);
    }
    if let Some(c) = calls {
        v["calls"] = c;
    }
    if matches!(f.method, Method::Probabilistic | Method::InBlood) {
        v["probabilities"] = json!(p_source);
    }
    v
}

fn print_rows(
    rows: &[Row],
    calls: &[Option<GroupCalls>],
    org: &Org,
    rec: Option<&(Method, String)>,
    p_source: &str,
    format: Format,
) -> Result<()> {
    if format == Format::Json {
        let out: Vec<Value> = rows
            .iter()
            .zip(calls)
            .flat_map(|(r, c)| {
                let c = c.as_ref().map(|c| c.to_json(org));
                r.forecasts
                    .iter()
                    .map(move |f| forecast_json(r, f, rec, p_source, c.clone()))
            })
            .collect();
        return print_json(&out);
    }
    let mut t = Table::new(vec![
        "group", "method", "value", "p10", "p50", "p90", "quota", "gap", "note",
    ]);
    let money = |x: Option<f64>| x.map_or(Cell::Null, Cell::Money);
    for (r, c) in rows.iter().zip(calls) {
        for f in &r.forecasts {
            let recommended = rec.is_some_and(|(m, _)| *m == f.method);
            let note = if recommended {
                rec.map(|(_, why)| format!("recommended: {why}"))
            } else if f.value.is_none() {
                f.notes.first().cloned()
            } else {
                f.warnings.first().cloned()
            };
            t.push(vec![
                Cell::from(r.label.as_str()),
                Cell::from(f.method.as_str()),
                money(f.value),
                money(f.p10),
                money(f.p50),
                money(f.p90),
                money(r.quota),
                money(r.quota.zip(f.value).map(|(q, v)| q - v)),
                note.map_or(Cell::Null, Cell::from),
            ]);
        }
        let Some(c) = c else { continue };
        let who = org
            .person(&c.submitter)
            .map_or(c.submitter.as_str(), |p| p.name.as_str());
        let mut line = |method: String, value: f64, note: String| {
            t.push(vec![
                Cell::from(r.label.as_str()),
                Cell::Text(method),
                Cell::Money(value),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                money(r.quota),
                money(r.quota.map(|q| q - value)),
                Cell::Text(note),
            ]);
        };
        if let Some(d) = &c.call {
            for (k, (call, bias, adjusted)) in &d.calls {
                line(
                    format!("call: {k}"),
                    *call,
                    format!(
                        "{who}'s {} call of {}; de-biased {} (bias {:+.0}%)",
                        d.level.as_str(),
                        format_timestamp(d.submitted_at),
                        crate::output::money_text(*adjusted),
                        100.0 * bias
                    ),
                );
            }
        }
        if c.rollup_calls > 0 {
            for (k, (call, adjusted)) in &c.rollup {
                line(
                    format!("roll-up: {k}"),
                    *call,
                    format!(
                        "Σ the own calls of {} under {who}; de-biased {}",
                        if c.rollup_calls == 1 {
                            "1 person".to_string()
                        } else {
                            format!("{} people", c.rollup_calls)
                        },
                        crate::output::money_text(*adjusted)
                    ),
                );
            }
        }
    }
    print(&t, format)
}

fn print_explain(rows: &[Row], m: Method, format: Format) -> Result<()> {
    if format == Format::Json {
        let out: Vec<Value> = rows
            .iter()
            .flat_map(|r| {
                r.forecasts
                    .iter()
                    .filter(|f| f.method == m)
                    .map(move |f| forecast_json(r, f, None, "", None))
            })
            .collect();
        return print_json(&out);
    }
    let mut t = Table::new(vec![
        "group",
        "term",
        "opportunity_id",
        "amount",
        "weight",
        "contribution",
        "reason",
    ]);
    for r in rows {
        for f in r.forecasts.iter().filter(|f| f.method == m) {
            for term in &f.terms {
                if term.deals.is_empty() {
                    t.push(vec![
                        Cell::from(r.label.as_str()),
                        Cell::from(term.name.as_str()),
                        Cell::Null,
                        term.base.map_or(Cell::Null, Cell::Money),
                        term.rate.map_or(Cell::Null, Cell::Float),
                        Cell::Money(term.value),
                        Cell::Null,
                    ]);
                }
                for d in &term.deals {
                    t.push(vec![
                        Cell::from(r.label.as_str()),
                        Cell::from(term.name.as_str()),
                        Cell::from(d.opportunity_id.as_str()),
                        Cell::Money(d.amount),
                        Cell::Float(d.weight),
                        Cell::Money(d.contribution),
                        d.reason.as_deref().map_or(Cell::Null, Cell::from),
                    ]);
                }
            }
        }
    }
    print(&t, format)
}

pub fn backtest(ws: &Path, a: &BacktestArgs, format: Format) -> Result<()> {
    let w = open(ws)?;
    let methods = methods(&a.methods, "--methods")?;
    let weeks: Vec<u32> = if a.weeks.is_empty() {
        (1..=13).collect()
    } else {
        a.weeks.clone()
    };
    if let Some(bad) = weeks.iter().find(|&&w| w == 0 || w > 14) {
        return Err(user(format!(
            "--weeks {bad}: weeks of a quarter are 1 to 14"
        )));
    }
    let pb = spinner("reading the ledger");
    let log = load(&w, true)?;
    let ledger = Ledger::new(&log, &w.process);
    let org = org(&w)?;
    let fsm = w.process.fiscal_year_start_month();
    let latest = log.latest();
    let (quarters, targets) =
        backtest::quarters(latest, first_created(&log), fsm, &w.calendar, a.periods);
    if targets.is_empty() {
        return Err(user(format!(
            "the ledger holds {} complete quarter(s); a backtest forecasts a quarter with at least two before it\n\nhint: ingest more history (or `pipewise synth --years 4`)",
            quarters.len()
        )));
    }
    pb.set_message(format!("tallying {} quarters", quarters.len()));
    let all = forecast::tallies(&ledger, &quarters, &weeks, true);
    let mut models = HashMap::new();
    let history = if a.retrain {
        use pipewise_score::deals::history::DealHistory;
        use pipewise_score::deals::model::{DealModel, DealOptions};
        let h = DealHistory::load_with(&w.store, w.process.clone(), true)?;
        for &t in &targets {
            let q = &quarters[t];
            pb.set_message(format!(
                "training the deal model on what was recorded by {}",
                pipewise_model::time::format_date(q.first)
            ));
            let o = DealOptions {
                known: Some(q.start()),
                ..DealOptions::default()
            };
            match DealModel::train(&h, &o) {
                Ok(m) => {
                    models.insert(q.label.clone(), m);
                }
                Err(e) => eprintln!(
                    "warning: {}: no deal model trained on what was recorded by its start ({e}); its per-deal probabilities are the pooled cells'",
                    q.label
                ),
            }
        }
        Some(h)
    } else {
        None
    };
    pb.set_message(format!(
        "forecasting {} quarters × {} weeks",
        targets.len(),
        weeks.len()
    ));
    let learned = |q: &Quarter, cut: Timestamp| {
        let m = models.get(&q.label)?;
        Some(model_probabilities(
            m,
            history.as_ref()?,
            pipewise_ledger::Cut::known_at(cut),
            q,
            &log,
        ))
    };
    let bt = backtest::run(
        &ledger,
        &org,
        &all,
        &targets,
        &BacktestOptions {
            weeks,
            methods,
            draws: a.draws.max(1),
            seed: a.seed,
            lookback: a.lookback.max(1),
        },
        a.retrain.then_some(&learned as backtest::Learned),
    );
    pb.finish_and_clear();
    let dir = ws.join("reports");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the reports folder: {e}", dir.display()))?;
    let json_path = dir.join("backtest.json");
    let md_path = dir.join("backtest.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&bt)? + "\n")?;
    std::fs::write(&md_path, backtest::markdown(&bt))?;
    eprintln!("wrote {} and {}", json_path.display(), md_path.display());
    if format == Format::Json {
        return print_json(&bt);
    }
    let mut t = Table::new(vec![
        "method",
        "week",
        "forecasts",
        "wape",
        "mape",
        "bias",
        "coverage",
        "pinball",
    ]);
    let pct = |x: Option<f64>| crate::commands::leads::pct(x, format);
    for s in bt.leaderboard.iter().chain(&bt.scores) {
        t.push(vec![
            Cell::from(s.method.as_str()),
            s.week
                .map_or(Cell::from("all"), |w| Cell::Int(i64::from(w))),
            Cell::Int(s.n as i64),
            pct(s.wape),
            pct(s.mape),
            pct(s.bias),
            pct(s.coverage),
            pct(s.pinball),
        ]);
    }
    print(&t, format)
}
