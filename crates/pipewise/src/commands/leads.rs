//! `pipewise leads train | validate | score | route | breaches`: lead scores
//! from a flat file (pipewise-score's `model`, `rules` and `sla`). Models are
//! folders of the workspace: `models/NAME/`.

use crate::args::{
    BreachView, BreachesArgs, CalibrationChoice, DataArgs, EstimatorChoice, FitArgs, Format,
    LeadsCommand, RouteArgs, ScoreArgs, TrainArgs, ValidateArgs,
};
use crate::commands::{print, print_json, spinner};
use crate::output::{Cell, Table};
use crate::settings::user;
use anyhow::{Context, Result};
use pipewise_score::card::Validation;
use pipewise_score::dataset::{Dataset, LoadOptions, Unreadable, load_csv, load_for_scoring};
use pipewise_score::model::{CalibrationMethod, Candidates, LeadModel, SplitBy, TrainOptions};
use pipewise_score::rules::{PointsModel, Routing};
use pipewise_score::sla::{self, RoutedLead};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn run(ws: &Path, c: &LeadsCommand, format: Format) -> Result<()> {
    match c {
        LeadsCommand::Train(a) => train(ws, a, format),
        LeadsCommand::Validate(a) => validate(ws, a, format),
        LeadsCommand::Score(a) => score(ws, a, format),
        LeadsCommand::Route(a) => route(ws, a, format),
        LeadsCommand::Breaches(a) => breaches(ws, a, format),
        LeadsCommand::Rows(a) => rows(ws, a, format),
    }
}

/// A model's folder in the workspace: `models/NAME/`.
pub(crate) fn model_dir(ws: &Path, name: &str) -> Result<PathBuf> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(user(format!(
            "model name {name:?}: use letters, digits, - and _ only"
        )));
    }
    Ok(ws.join("models").join(name))
}

fn open_model(ws: &Path, name: &str) -> Result<LeadModel> {
    let dir = model_dir(ws, name)?;
    if !dir.join("model.json").exists() {
        return Err(user(format!(
            "no model {name:?} in {}\n\nhint: train one with `pipewise leads train --data FILE --target COLUMN --name {name}`",
            dir.display()
        )));
    }
    Ok(LeadModel::load(&dir)?)
}

fn load_options(d: &DataArgs) -> Result<LoadOptions> {
    let target = d
        .target
        .clone()
        .ok_or_else(|| user("--target COLUMN is needed: the column holding each row's outcome"))?;
    Ok(LoadOptions {
        target,
        positive: d.positive.clone(),
        id: d.id.clone(),
        missing: d.missing.clone(),
    })
}

fn share_arg(raw: &str, what: &str) -> Result<f64> {
    let t = raw.trim();
    let (num, scale) = t.strip_suffix('%').map_or((t, 1.0), |n| (n.trim(), 100.0));
    num.parse::<f64>()
        .ok()
        .map(|v| v / scale)
        .filter(|v| *v > 0.0 && *v < 1.0)
        .ok_or_else(|| {
            user(format!(
                "{what} {raw:?}: expected a share such as 0.3 or 30%"
            ))
        })
}

fn train_options(f: &FitArgs) -> Result<TrainOptions> {
    Ok(TrainOptions {
        split: match (&f.split_by, f.random_split) {
            (Some(c), _) => SplitBy::Time(c.clone()),
            (None, true) => SplitBy::Random,
            (None, false) => SplitBy::Auto,
        },
        test_share: share_arg(&f.test_share, "--test-share")?,
        seed: f.seed,
        allow: f.allow_feature.clone(),
        candidates: match f.estimator {
            EstimatorChoice::Auto => Candidates::Auto,
            EstimatorChoice::Logistic => Candidates::Logistic,
            EstimatorChoice::Boosted => Candidates::Boosted,
        },
        calibration: match f.calibration {
            CalibrationChoice::Platt => CalibrationMethod::Platt,
            CalibrationChoice::Isotonic => CalibrationMethod::Isotonic,
            CalibrationChoice::None => CalibrationMethod::None,
        },
        ..TrainOptions::default()
    })
}

fn fit(d: &DataArgs, f: &FitArgs) -> Result<(LeadModel, Dataset)> {
    let load = load_options(d)?;
    let o = train_options(f)?;
    let ds = load_csv(&d.data, &load)?;
    for a in &o.allow {
        if !ds.columns.iter().any(|c| &c.name == a) {
            return Err(user(format!(
                "--allow-feature {a:?}: {} has no such column",
                d.data.display()
            )));
        }
    }
    let holdout = match &f.test_data {
        Some(t) => {
            let (hd, unreadable) =
                load_for_scoring(t, &load, &ds.positive, &LeadModel::holdout_columns(&ds))?;
            report_unreadable(t, &unreadable);
            if hd.target.is_empty() {
                return Err(user(format!(
                    "--test-data {}: no outcomes in column {:?}",
                    t.display(),
                    load.target
                )));
            }
            Some((hd, file_name(t)))
        }
        None => None,
    };
    let pb = spinner("training");
    let m = LeadModel::train(
        &ds,
        &file_name(&d.data),
        &load,
        &o,
        holdout.as_ref().map(|(h, n)| (h, n.as_str())),
    );
    pb.finish_and_clear();
    Ok((m?, ds))
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A share: `12.3%` in a table, in full in CSV and JSON.
pub(crate) fn pct(x: Option<f64>, format: Format) -> Cell {
    match x {
        None => Cell::Null,
        Some(v) if format == Format::Table => Cell::Text(format!("{:.1}%", v * 100.0)),
        Some(v) => Cell::Float(v),
    }
}

/// A measure: four decimals in a table, in full in CSV and JSON.
pub(crate) fn measure(x: Option<f64>, format: Format) -> Cell {
    match x {
        None => Cell::Null,
        Some(v) if format == Format::Table => Cell::Text(format!("{v:.4}")),
        Some(v) => Cell::Float(v),
    }
}

fn validation_rows(t: &mut Table, v: &Validation, format: Format) {
    let mut row = |k: &str, c: Cell| t.push(vec![Cell::from(k), c]);
    row("test rows", Cell::Int(v.rows as i64));
    row("positives", Cell::Int(v.positives as i64));
    row("AUC", measure(v.auc, format));
    row("Brier score", measure(Some(v.brier), format));
    row("log loss", measure(Some(v.log_loss), format));
    row(
        &format!("precision at k = {}", v.k),
        pct(v.precision_at_k, format),
    );
    row(
        &format!("recall at k = {}", v.k),
        pct(v.recall_at_k, format),
    );
    row(
        "top-decile lift",
        measure(v.lift_by_decile.first().map(|d| d.lift), format),
    );
    if let Some(b) = &v.baseline {
        row("baseline: positive rate", pct(Some(b.prevalence), format));
        row(
            "baseline: no-information rate",
            pct(Some(b.no_information_rate), format),
        );
        row("baseline: Brier score", measure(Some(b.brier), format));
        row("baseline: log loss", measure(Some(b.log_loss), format));
    }
    for f in &v.flagged_features {
        row(
            &format!("flagged: {}", f.name),
            Cell::from(f.reason.as_str()),
        );
    }
}

fn train(ws: &Path, a: &TrainArgs, format: Format) -> Result<()> {
    let dir = model_dir(ws, &a.name)?;
    let (m, _) = fit(&a.data, &a.fit)?;
    m.save(&dir, &a.name)?;
    if format == Format::Json {
        return print_json(&m.card);
    }
    let c = &m.card;
    let mut t = Table::new(vec!["item", "value"]);
    t.push(vec![
        Cell::from("model"),
        Cell::from(dir.display().to_string()),
    ]);
    t.push(vec![
        Cell::from("estimator"),
        Cell::from(c.estimator.as_str()),
    ]);
    t.push(vec![Cell::from("why"), Cell::from(c.why.as_str())]);
    t.push(vec![Cell::from("rows"), Cell::Int(c.rows as i64)]);
    t.push(vec![
        Cell::from("left out (no outcome)"),
        Cell::Int(c.left_out as i64),
    ]);
    t.push(vec![Cell::from("split"), Cell::from(c.split.as_str())]);
    t.push(vec![Cell::from("features"), Cell::Int(c.features as i64)]);
    validation_rows(&mut t, &c.validation, format);
    for w in &c.allowed {
        eprintln!(
            "warning: {w:?} is kept with --allow-feature although the leakage audit flags it; the model card says so"
        );
    }
    print(&t, format)
}

fn validate(ws: &Path, a: &ValidateArgs, format: Format) -> Result<()> {
    let v = match &a.model {
        None => fit(&a.data, &a.fit)?.0.card.validation,
        Some(name) => {
            let m = open_model(ws, name)?;
            let mut load = m.load_options();
            if let Some(t) = &a.data.target {
                load.target = t.clone();
            }
            let (ds, unreadable) = load_for_scoring(&a.data.data, &load, &m.positive, &m.expected)?;
            report_unreadable(&a.data.data, &unreadable);
            if ds.target.is_empty() {
                return Err(user(format!(
                    "{}: no outcomes in column {:?} to validate against; give --target COLUMN",
                    a.data.data.display(),
                    load.target
                )));
            }
            let p: Vec<f64> = m.score(&ds, 0).iter().map(|s| s.probability).collect();
            Validation::of(
                &p,
                &ds.target,
                m.card.options.top_share,
                &m.card.flagged_features,
            )
        }
    };
    if format == Format::Json {
        return print_json(&v);
    }
    let mut t = Table::new(vec!["measure", "value"]);
    validation_rows(&mut t, &v, format);
    print(&t, format)
}

fn report_unreadable(file: &Path, u: &[Unreadable]) {
    if u.is_empty() {
        return;
    }
    eprintln!(
        "warning: {}: {} values could not be read as their column's kind and were scored as missing:",
        file.display(),
        u.len()
    );
    for x in u.iter().take(10) {
        eprintln!(
            "  line {}, {}: {:?} ({})",
            x.line, x.column, x.value, x.reason
        );
    }
    if u.len() > 10 {
        eprintln!("  … and {} more", u.len() - 10);
    }
}

fn score(ws: &Path, a: &ScoreArgs, format: Format) -> Result<()> {
    let m = open_model(ws, &a.model)?;
    let mut load = m.load_options();
    load.target = String::new(); // score every row, outcome or not
    let (ds, unreadable) = load_for_scoring(&a.data, &load, &m.positive, &m.expected)?;
    report_unreadable(&a.data, &unreadable);
    let scored = m.score(&ds, a.factors);
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = scored
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "probability": s.probability,
                    "score": s.probability * 100.0,
                    "factors": s.factors.iter().map(|f| serde_json::json!({
                        "column": f.column, "value": f.value, "points": f.points,
                        "log_odds": f.log_odds, "text": f.text(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return print_json(&rows);
    }
    let mut t = Table::new(vec!["id", "probability", "score", "factors"]);
    for s in &scored {
        t.push(vec![
            Cell::from(s.id.as_str()),
            measure(Some(s.probability), format),
            if format == Format::Table {
                Cell::Int((s.probability * 100.0).round() as i64)
            } else {
                Cell::Float(s.probability * 100.0)
            },
            Cell::from(
                s.factors
                    .iter()
                    .map(|f| f.text())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ]);
    }
    print(&t, format)
}

/// A CSV file's header and rows, each row as column → value.
struct Raw {
    headers: Vec<String>,
    rows: Vec<(u64, BTreeMap<String, String>)>,
}

fn read_raw(path: &Path) -> Result<Raw> {
    let mut rd =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers: Vec<String> = rd
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| user(format!("{}: {e}", path.display())))?;
        let row = headers
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        rows.push((i as u64 + 2, row));
    }
    Ok(Raw { headers, rows })
}

fn need_column(raw: &Raw, file: &Path, column: &str, flag: &str) -> Result<()> {
    if raw.headers.iter().any(|h| h == column) {
        Ok(())
    } else {
        Err(user(format!(
            "{flag} {column:?}: {} has no such column; its columns are {}",
            file.display(),
            raw.headers.join(", ")
        )))
    }
}

/// A routed lead: its row, id, score, band.
struct Routed {
    line: u64,
    id: String,
    score: Option<f64>,
    band: Option<pipewise_score::rules::Band>,
}

fn routed(ws: &Path, a: &RouteArgs) -> Result<(Raw, Vec<Routed>)> {
    let raw = read_raw(&a.data)?;
    let mut id_column = a.id.clone();
    let mut own_bands = None;
    let scores: Vec<Option<f64>> = if let Some(name) = &a.model {
        let m = open_model(ws, name)?;
        if id_column.is_none() {
            id_column = m.id.clone().filter(|c| raw.headers.contains(c));
        }
        let mut load = m.load_options();
        load.target = String::new();
        let (ds, unreadable) = load_for_scoring(&a.data, &load, &m.positive, &m.expected)?;
        report_unreadable(&a.data, &unreadable);
        m.score(&ds, 0)
            .into_iter()
            .map(|s| Some(s.probability * 100.0))
            .collect()
    } else if let Some(p) = &a.points {
        let pm = if p == "seed-001" {
            PointsModel::seed_001()?
        } else {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {p}"))?;
            PointsModel::from_toml(&text, p)?
        };
        if !pm.bands.is_empty() {
            own_bands = Some(Routing {
                bands: pm.bands.clone(),
            });
        }
        raw.rows
            .iter()
            .map(|(_, r)| Some(pm.score(r).total))
            .collect()
    } else if let Some(c) = &a.score_column {
        need_column(&raw, &a.data, c, "--score-column")?;
        raw.rows
            .iter()
            .map(|(_, r)| r.get(c).and_then(|v| v.trim().parse::<f64>().ok()))
            .collect()
    } else {
        return Err(user(
            "say where the scores come from: --model NAME, --points FILE (or seed-001), or --score-column COLUMN",
        ));
    };
    let routing = match (&a.rules, own_bands) {
        (Some(f), _) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Routing::from_toml(&text, &f.display().to_string())?
        }
        (None, Some(r)) => r,
        (None, None) => Routing::seed_001()?,
    };
    if let Some(c) = &id_column {
        need_column(&raw, &a.data, c, "--id")?;
    }
    let out = raw
        .rows
        .iter()
        .zip(scores)
        .map(|((line, r), score)| Routed {
            line: *line,
            id: id_column
                .as_ref()
                .and_then(|c| r.get(c).cloned())
                .unwrap_or_else(|| line.to_string()),
            score,
            band: score.and_then(|s| routing.band(s).cloned()),
        })
        .collect();
    Ok((raw, out))
}

fn route(ws: &Path, a: &RouteArgs, format: Format) -> Result<()> {
    let (_, rows) = routed(ws, a)?;
    let unscored = rows.iter().filter(|r| r.score.is_none()).count();
    if unscored > 0 {
        eprintln!(
            "warning: {unscored} leads have no score (an empty or unreadable score cell) and no band"
        );
    }
    let mut t = Table::new(vec![
        "id",
        "score",
        "band",
        "action",
        "within_hours",
        "within_business_days",
    ]);
    for r in &rows {
        t.push(vec![
            Cell::from(r.id.as_str()),
            r.score.map_or(Cell::Null, |s| {
                if format == Format::Table {
                    Cell::Text(format!("{s:.1}"))
                } else {
                    Cell::Float(s)
                }
            }),
            Cell::from(r.band.as_ref().map(|b| b.name.clone())),
            Cell::from(r.band.as_ref().map(|b| b.action.clone())),
            r.band
                .as_ref()
                .and_then(|b| b.within_hours)
                .map_or(Cell::Null, Cell::Float),
            r.band
                .as_ref()
                .and_then(|b| b.within_business_days)
                .map_or(Cell::Null, |d| Cell::Int(i64::from(d))),
        ]);
    }
    print(&t, format)
}

fn breaches(ws: &Path, a: &BreachesArgs, format: Format) -> Result<()> {
    let (raw, rows) = routed(ws, &a.route)?;
    need_column(&raw, &a.route.data, &a.created, "--created")?;
    if let Some(o) = &a.owner {
        need_column(&raw, &a.route.data, o, "--owner")?;
    }
    let time = |s: &str| pipewise_model::time::parse_iso_instant(s, false);
    let by_line: BTreeMap<u64, &BTreeMap<String, String>> =
        raw.rows.iter().map(|(l, r)| (*l, r)).collect();
    let mut unreadable = 0usize;
    let leads: Vec<RoutedLead> = rows
        .iter()
        .map(|r| {
            let fields = by_line.get(&r.line);
            let field = |c: &str| fields.and_then(|f| f.get(c)).map(|v| v.trim().to_string());
            let created = field(&a.created).and_then(|v| time(&v));
            if created.is_none() {
                unreadable += 1;
            }
            RoutedLead {
                id: r.id.clone(),
                owner: a.owner.as_deref().and_then(field).filter(|o| !o.is_empty()),
                band: r
                    .band
                    .as_ref()
                    .map_or_else(|| "(no band)".into(), |b| b.name.clone()),
                within_hours: r.band.as_ref().and_then(|b| b.within_hours),
                within_business_days: r.band.as_ref().and_then(|b| b.within_business_days),
                created,
            }
        })
        .collect();
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} leads have no readable time in {:?}; their SLA is reported as unknown",
            a.created
        );
    }
    let touch_raw = read_raw(&a.touches)?;
    need_column(&touch_raw, &a.touches, &a.touch_lead, "--touch-lead")?;
    need_column(&touch_raw, &a.touches, &a.touch_time, "--touch-time")?;
    let mut touches = Vec::new();
    let mut bad = Vec::new();
    for (line, r) in &touch_raw.rows {
        let v = r.get(&a.touch_time).map(|s| s.trim()).unwrap_or_default();
        match time(v) {
            Some(t) => touches.push((r.get(&a.touch_lead).cloned().unwrap_or_default(), t)),
            None => bad.push(format!("line {line}: {v:?}")),
        }
    }
    if !bad.is_empty() {
        eprintln!(
            "warning: {}: {} touches have no readable time in {:?} and are not counted ({})",
            a.touches.display(),
            bad.len(),
            a.touch_time,
            bad.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let now = crate::settings::opt_instant(a.now.as_deref(), "--now")?
        .unwrap_or_else(crate::settings::now);
    let judged = sla::judge(&leads, &touches, now);
    let hours = |h: Option<f64>| match h {
        None => Cell::Null,
        Some(v) if format == Format::Table => Cell::Text(format!("{v:.1}")),
        Some(v) => Cell::Float(v),
    };
    let t = match a.by {
        BreachView::Lead => {
            let mut t = Table::new(vec![
                "id",
                "owner",
                "band",
                "within_hours",
                "due",
                "created",
                "first_touch",
                "hours_to_first_touch",
                "status",
            ]);
            for j in &judged {
                let ts = |x: Option<i64>| Cell::from(x.map(pipewise_model::time::format_timestamp));
                t.push(vec![
                    Cell::from(j.lead.id.as_str()),
                    Cell::from(j.lead.owner.clone()),
                    Cell::from(j.lead.band.as_str()),
                    j.lead.within_hours.map_or(Cell::Null, Cell::Float),
                    ts(j.lead.due()),
                    ts(j.lead.created),
                    ts(j.first_touch),
                    hours(j.hours),
                    Cell::from(j.status.name()),
                ]);
            }
            t
        }
        BreachView::Owner | BreachView::Band => {
            let owner = a.by == BreachView::Owner;
            let s = sla::summarise(&judged, |j| {
                if owner {
                    j.lead.owner.clone().unwrap_or_else(|| "(none)".into())
                } else {
                    j.lead.band.clone()
                }
            });
            let mut t = Table::new(vec![
                if owner { "owner" } else { "band" },
                "leads",
                "judged",
                "breached",
                "overdue",
                "breach_rate",
                "median_hours_to_first_touch",
            ]);
            for g in s {
                t.push(vec![
                    Cell::from(g.group),
                    Cell::Int(g.leads as i64),
                    Cell::Int(g.judged as i64),
                    Cell::Int(g.breached as i64),
                    Cell::Int(g.overdue as i64),
                    pct(g.breach_rate, format),
                    hours(g.median_hours),
                ]);
            }
            t
        }
    };
    print(&t, format)
}

fn rows(ws: &Path, a: &crate::args::LeadRowsArgs, format: Format) -> Result<()> {
    use pipewise_score::leads::{LeadOutcome, lead_rows};
    let w = crate::settings::open(ws)?;
    let known = crate::settings::opt_instant(a.known.as_deref(), "--known")?;
    if a.within <= 0 {
        return Err(user(format!(
            "--within {}: a window of at least one day",
            a.within
        )));
    }
    let outcome = match a.outcome {
        crate::args::LeadOutcomeChoice::Converted => LeadOutcome::Converted,
        crate::args::LeadOutcomeChoice::Won => LeadOutcome::Won,
    };
    let r = lead_rows(&w.store, &w.process, outcome, a.within, known)?;
    if !r.current_only.is_empty() {
        eprintln!(
            "note: {} have no history in the workspace, so they are read as they are now, not as they were when each lead arrived",
            r.current_only.join(", ")
        );
    }
    let mut t = Table::new(r.header.iter().map(String::as_str).collect());
    for row in r.rows {
        t.push(row.into_iter().map(Cell::from).collect());
    }
    print(&t, format)
}
