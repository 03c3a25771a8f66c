//! `pipewise deals train | score`: deal win, loss and slip probabilities
//! from the ledger (pipewise-score's `deals`).

use crate::args::{
    DealsCommand, DealsRowsArgs, DealsScoreArgs, DealsTrainArgs, EstimatorChoice, Format,
};
use crate::commands::leads::{measure, model_dir, pct};
use crate::commands::{print, print_json, spinner};
use crate::output::{Cell, Table};
use crate::settings::{instant, open, user};
use anyhow::Result;
use pipewise_ledger::Cut;
use pipewise_model::time::{date_end, format_timestamp};
use pipewise_score::deals::history::DealHistory;
use pipewise_score::deals::model::{DealModel, DealOptions};
use pipewise_score::deals::rows::Period;
use pipewise_score::model::Candidates;
use std::path::Path;

pub fn run(ws: &Path, c: &DealsCommand, format: Format) -> Result<()> {
    match c {
        DealsCommand::Train(a) => train(ws, a, format),
        DealsCommand::Score(a) => score(ws, a, format),
        DealsCommand::Rows(a) => rows(ws, a, format),
    }
}

/// The `--known` time and the workspace's deal history.
fn history(
    ws: &Path,
    known: Option<&str>,
) -> Result<(Option<pipewise_model::Timestamp>, DealHistory)> {
    let w = open(ws)?;
    let known = known.map(|k| instant(k, "--known")).transpose()?;
    Ok((known, DealHistory::load(&w.store, w.process)?))
}

fn train(ws: &Path, a: &DealsTrainArgs, format: Format) -> Result<()> {
    let dir = model_dir(ws, &a.name)?;
    let pb = spinner("reading the ledger");
    let (known, h) = history(ws, a.known.as_deref())?;
    pb.set_message("training");
    let mut o = DealOptions {
        known,
        max_rows: a.max_rows,
        ..DealOptions::default()
    };
    o.train.candidates = match a.estimator {
        EstimatorChoice::Auto => Candidates::Auto,
        EstimatorChoice::Logistic => Candidates::Logistic,
        EstimatorChoice::Boosted => Candidates::Boosted,
    };
    for f in &a.allow_feature {
        if !h.custom.iter().any(|c| c.name() == f.as_str()) {
            return Err(user(format!(
                "--allow-feature {f:?}: the ledger has no such custom field; it has {}",
                if h.custom.is_empty() {
                    "none".to_string()
                } else {
                    h.custom
                        .iter()
                        .map(|c| c.name().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    o.train.allow = a.allow_feature.clone();
    let m = DealModel::train(&h, &o);
    pb.finish_and_clear();
    let m = m?;
    m.save(&dir, &a.name)?;
    if format == Format::Json {
        return print_json(&m.card);
    }
    let c = &m.card;
    let mut t = Table::new(vec!["item", "value"]);
    let mut row = |k: &str, v: Cell| t.push(vec![Cell::from(k), v]);
    row("model", Cell::from(dir.display().to_string()));
    row("in use", Cell::from(c.in_use.as_str()));
    row("why", Cell::from(c.why.as_str()));
    row("rows", Cell::Int(c.rows as i64));
    row("deal-periods", Cell::Int(c.deal_periods.round() as i64));
    row("split", Cell::from(c.split.as_str()));
    for v in &c.validation {
        let num = |x: f64| measure(Some(x), format);
        row(&format!("{}: test log loss", v.model), num(v.log_loss));
        row(&format!("{}: test Brier", v.model), num(v.brier));
        row(
            &format!("{}: test AUC of P(won)", v.model),
            v.won_auc.map_or(Cell::Null, num),
        );
    }
    print(&t, format)
}

fn score(ws: &Path, a: &DealsScoreArgs, format: Format) -> Result<()> {
    let w = open(ws)?;
    let dir = model_dir(ws, &a.model)?;
    if !dir.join("model.json").exists() {
        return Err(user(format!(
            "no deal model {:?} in {}\n\nhint: train one with `pipewise deals train --name {}` (add --known TIME for a backtest's model)",
            a.model,
            dir.display(),
            a.model
        )));
    }
    let started = std::time::Instant::now();
    let m = DealModel::load(&dir)?;
    tracing::debug!(elapsed = ?started.elapsed(), "deal model read");
    let at = match &a.as_of {
        Some(s) => instant(s, "--as-of")?,
        None => crate::settings::now(),
    };
    if a.known {
        match m.known {
            Some(k) if k <= at => {}
            _ => {
                return Err(user(format!(
                    "--known: the model {:?} learnt from what was recorded by {}, later than --as-of {}; a backtest must not score with it\n\nhint: pipewise deals train --known {} --name {}-asof",
                    a.model,
                    m.known
                        .map_or_else(|| "the last recorded event".into(), format_timestamp),
                    format_timestamp(at),
                    format_timestamp(at),
                    a.model
                )));
            }
        }
    }
    let cut = if a.known {
        Cut::known_at(at)
    } else {
        Cut::at(at)
    };
    let fiscal = w.process.fiscal_year_start_month();
    let period = match &a.period {
        Some(p) => {
            let (first, last) = w.period(p, "--period")?;
            if date_end(last) < at {
                return Err(user(format!(
                    "--period {p}: it ends before --as-of; a deal open at {} cannot close in it",
                    format_timestamp(at)
                )));
            }
            Period { first, last }
        }
        None => Period::quarter_of(at, fiscal),
    };
    let pb = spinner("scoring");
    tracing::debug!(elapsed = ?started.elapsed(), "reading the ledger");
    let h = DealHistory::load_with(&w.store, w.process.clone(), a.known)?;
    tracing::debug!(elapsed = ?started.elapsed(), "ledger read");
    let method = match a.attribution {
        crate::args::AttributionChoice::Auto => None,
        crate::args::AttributionChoice::Shapley => {
            Some(pipewise_score::boosted::Attribution::Shapley)
        }
        crate::args::AttributionChoice::Path => Some(pipewise_score::boosted::Attribution::Path),
    };
    let scores = m.score(&h, cut, period, a.factors, method);
    pb.finish_and_clear();
    tracing::debug!(elapsed = ?started.elapsed(), "deals scored");
    if format == Format::Json {
        return print_json(&scores);
    }
    let mut t = Table::new(vec![
        "opportunity_id",
        "p_won",
        "p_lost",
        "p_slipped",
        "p_won_low",
        "p_won_high",
        "model",
        "factors",
    ]);
    let pct = |x: f64| pct(Some(x), format);
    for s in &scores {
        t.push(vec![
            Cell::from(s.opportunity_id.as_str()),
            pct(s.p_won),
            pct(s.p_lost),
            pct(s.p_slipped),
            pct(s.won_interval.0),
            pct(s.won_interval.1),
            Cell::from(s.model.as_str()),
            Cell::from(
                s.factors
                    .iter()
                    .map(|f| f.text.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ]);
    }
    print(&t, format)
}

fn rows(ws: &Path, a: &DealsRowsArgs, format: Format) -> Result<()> {
    use pipewise_score::dataset::Values;
    let pb = spinner("building rows");
    let (known, h) = history(ws, a.known.as_deref())?;
    let audits = pipewise_score::deals::leakage::audit(&h, known);
    let custom: Vec<String> = audits
        .iter()
        .filter(|x| x.flag.is_none())
        .map(|x| x.name.clone())
        .collect();
    let r = pipewise_score::deals::rows::training_rows(&h, known, a.max_rows, &custom);
    pb.finish_and_clear();
    let ds = &r.dataset;
    let mut columns = vec!["opportunity_id", "cut", "period_end", "outcome"];
    let names: Vec<String> = ds
        .columns
        .iter()
        .map(|c| c.name.replace([' ', ','], "_").replace("'", ""))
        .collect();
    columns.extend(names.iter().map(String::as_str));
    let mut t = Table::new(columns);
    for i in 0..r.keys.len() {
        let mut row = vec![
            Cell::from(ds.ids[i].as_str()),
            Cell::from(format_timestamp(r.cuts[i])),
            Cell::from(pipewise_model::time::format_date(r.periods[i].last)),
            Cell::from(r.outcomes[i].map(|o| format!("{o:?}").to_lowercase())),
        ];
        for c in &ds.columns {
            row.push(match &c.values {
                Values::Numbers(v) => v[i].map_or(Cell::Null, Cell::Float),
                Values::Levels { levels, codes } => {
                    codes[i].map_or(Cell::Null, |l| Cell::from(levels[l as usize].as_str()))
                }
            });
        }
        t.push(row);
    }
    print(&t, format)
}
