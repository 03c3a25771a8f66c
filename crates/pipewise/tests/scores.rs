//! `pipewise leads` and `pipewise deals`: train, validate, score, route and breaches on a
//! file made by hand here (not by the generator): 600 leads over 2025 with a
//! web-visit count, a source, a title, a `Select` placeholder, a date, and a
//! `Lead Status` column that is the outcome in disguise. The checks are
//! computed independently of the model code: the AUC of the saved model's
//! scores on the test rows (the latest 30% by date) by counting pairs, the
//! routing bands of seed 001 at their edges, and SLA breaches counted by hand.
//! `deals`: a backtest's model trained on what was recorded by a day, refused
//! for scoring before that day, and its rows' three probabilities.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use serde_json::Value;
use std::path::Path;
mod common;

use common::{json, ok, run};

/// A trained model's card.
fn card_of(ws: &Path, name: &str) -> Value {
    let path = ws.join("models").join(name).join("card.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A small linear congruential generator: the file is the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The leads: P(convert) = σ(−2 + 0.35·visits + 1.2·[referral] + 0.8·[VP]).
fn write_leads(path: &Path) {
    let mut rng = Lcg(42);
    let mut s = String::from("Lead Id,Created,Visits,Source,Title,Lead Status,Converted\n");
    for i in 0..600i32 {
        let visits = (rng.next() * 10.0).floor();
        let source = ["Referral", "Web", "Event", "Select"][(rng.next() * 4.0) as usize];
        let title = ["VP Sales", "Manager", "Analyst"][(rng.next() * 3.0) as usize];
        let z: f64 = -2.0
            + 0.35 * visits
            + if source == "Referral" { 1.2 } else { 0.0 }
            + if title.starts_with("VP") { 0.8 } else { 0.0 };
        let won = rng.next() < 1.0 / (1.0 + (-z).exp());
        // two leads a day from 2025-01-01, so the 30% cut falls between days
        let date = pipewise_model::time::format_date(20_089 + i / 2);
        let status = if won {
            "Closed - Converted"
        } else {
            "Not interested"
        };
        s.push_str(&format!(
            "L{i:04},{date},{visits},{source},{title},{status},{}\n",
            if won { "Yes" } else { "No" }
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// AUC by counting pairs: positives scored above negatives, ties half.
fn naive_auc(p: &[f64], y: &[bool]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..p.len() {
        for j in 0..p.len() {
            if y[i] && !y[j] {
                den += 1.0;
                num += if p[i] > p[j] {
                    1.0
                } else if p[i] == p[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    num / den
}

#[test]
fn train_validate_score_on_a_flat_file() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let data = ws.join("leads.csv");
    write_leads(&data);
    let d = data.to_str().unwrap();
    let common = [
        "--data",
        d,
        "--target",
        "Converted",
        "--id",
        "Lead Id",
        "--missing",
        "Select",
    ];

    let mut train = vec!["leads", "train"];
    train.extend(common);
    ok(ws, &train);
    let model = std::fs::read(ws.join("models/leads/model.json")).unwrap();
    let card: Value = card_of(ws, "leads");
    assert!(
        std::fs::read_to_string(ws.join("models/leads/card.md"))
            .unwrap()
            .contains("## Leakage audit")
    );
    // the disguised outcome is flagged, by name, with its reason
    let flagged = card["flagged_features"].as_array().unwrap();
    let status = flagged.iter().find(|f| f["name"] == "Lead Status").unwrap();
    assert!(status["reason"].as_str().unwrap().contains("status"));
    // the file's one date column splits by time: the latest 30% are the test rows
    assert!(
        card["split"].as_str().unwrap().starts_with("by time"),
        "{}",
        card["split"]
    );
    assert_eq!(card["test_rows"], 180);
    // the same file and seed give the same model, byte for byte
    ok(ws, &train);
    assert_eq!(
        std::fs::read(ws.join("models/leads/model.json")).unwrap(),
        model
    );

    // validate: one object with the keys
    let mut validate = vec!["leads", "validate"];
    validate.extend(common);
    let v = json(ws, &validate);
    for key in [
        "auc",
        "brier",
        "log_loss",
        "precision_at_k",
        "lift_by_decile",
        "reliability",
        "baseline",
        "flagged_features",
    ] {
        assert!(v.get(key).is_some(), "validate has no {key}: {v}");
    }
    assert_eq!(v["flagged_features"], card["flagged_features"]);
    assert!(v["auc"].as_f64().unwrap() > 0.65, "{}", v["auc"]);
    assert!(v["brier"].as_f64().unwrap() < v["baseline"]["brier"].as_f64().unwrap());

    // score: the saved model's probabilities on the test rows give the same AUC
    let scored = json(ws, &["leads", "score", "--data", d]);
    let rows = scored.as_array().unwrap();
    assert_eq!(rows.len(), 600);
    assert_eq!(rows[0]["id"], "L0000");
    let f = &rows[0]["factors"][0];
    assert!(f["text"].as_str().unwrap().contains(" points"), "{f}");
    let text = std::fs::read_to_string(&data).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let (mut p, mut y) = (Vec::new(), Vec::new());
    for (row, line) in rows.iter().zip(&lines).skip(420) {
        p.push(row["probability"].as_f64().unwrap());
        y.push(line.ends_with(",Yes"));
    }
    let auc = naive_auc(&p, &y);
    assert!(
        (auc - v["auc"].as_f64().unwrap()).abs() < 1e-12,
        "{auc} vs {}",
        v["auc"]
    );
    // and validating the saved model on the file's test rows agrees
    let tail = ws.join("tail.csv");
    let head = text.lines().next().unwrap();
    std::fs::write(&tail, format!("{head}\n{}\n", lines[420..].join("\n"))).unwrap();
    let again = json(
        ws,
        &[
            "leads",
            "validate",
            "--model",
            "leads",
            "--data",
            tail.to_str().unwrap(),
        ],
    );
    assert!((again["auc"].as_f64().unwrap() - auc).abs() < 1e-12);
    assert_eq!(again["rows"], 180);

    // one's own holdout: train on the first 420 rows, judge on the tail
    let first = ws.join("first.csv");
    std::fs::write(&first, format!("{head}\n{}\n", lines[..420].join("\n"))).unwrap();
    let (f, t) = (first.to_str().unwrap(), tail.to_str().unwrap());
    let own_args = [
        &["leads", "train"][..],
        &common[2..],
        &["--data", f, "--test-data", t, "--name", "own"],
    ]
    .concat();
    ok(ws, &own_args);
    let own: Value = card_of(ws, "own");
    assert_eq!(
        (own["train_rows"].as_u64(), own["test_rows"].as_u64()),
        (Some(420), Some(180))
    );
    assert!(own["split"].as_str().unwrap().contains("tail.csv"));
    let judged = json(ws, &["leads", "validate", "--model", "own", "--data", t]);
    assert!(
        (judged["auc"].as_f64().unwrap() - own["validation"]["auc"].as_f64().unwrap()).abs()
            < 1e-12
    );
}

#[test]
fn route_and_breaches() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let leads = ws.join("routed.csv");
    std::fs::write(
        &leads,
        "id,score,owner,created\n\
         a,81,ann,2026-03-02T09:00:00Z\n\
         b,80,ann,2026-03-02T09:00:00Z\n\
         c,50,bob,2026-03-02T09:00:00Z\n\
         d,49,bob,2026-03-02T09:00:00Z\n\
         e,95,bob,2026-03-02T09:00:00Z\n\
         f,,bob,2026-03-02T09:00:00Z\n",
    )
    .unwrap();
    let l = leads.to_str().unwrap();
    let routed = json(
        ws,
        &[
            "leads",
            "route",
            "--data",
            l,
            "--score-column",
            "score",
            "--id",
            "id",
        ],
    );
    let bands: Vec<(&str, Option<f64>)> = routed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["band"].as_str().unwrap_or("-"),
                r["within_hours"].as_f64(),
            )
        })
        .collect();
    // seed 001: above 80 → AE in 1 h; 50–80 → SDR in 4 h; below → nurture
    assert_eq!(
        bands,
        vec![
            ("ae", Some(1.0)),
            ("sdr", Some(4.0)),
            ("sdr", Some(4.0)),
            ("nurture", None),
            ("ae", Some(1.0)),
            ("-", None)
        ]
    );
    let touches = ws.join("touches.csv");
    std::fs::write(
        &touches,
        "lead_id,time\n\
         a,2026-03-02T09:40:00Z\n\
         b,2026-03-02T14:00:00Z\n\
         c,2026-03-02T10:00:00Z\n\
         e,2026-03-02T08:00:00Z\n\
         x,not a time\n",
    )
    .unwrap();
    let args = |by: &'static str| {
        vec![
            "leads",
            "breaches",
            "--data",
            l,
            "--score-column",
            "score",
            "--id",
            "id",
            "--created",
            "created",
            "--owner",
            "owner",
            "--touches",
            touches.to_str().unwrap(),
            "--now",
            "2026-03-03T09:00:00Z",
            "--by",
            by,
        ]
    };
    let per_lead = json(ws, &args("lead"));
    let status: Vec<&str> = per_lead
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    // a: 40 min ≤ 1 h; b: 5 h > 4 h; c: 1 h ≤ 4 h; d: nurture; e: only a touch before it arrived → overdue
    assert_eq!(
        status,
        vec!["met", "breached", "met", "no SLA", "overdue", "no SLA"]
    );
    assert_eq!(
        per_lead[0]["hours_to_first_touch"].as_f64(),
        Some(40.0 / 60.0)
    );
    let by_owner = json(ws, &args("owner"));
    let ann = &by_owner[0];
    assert_eq!(
        (
            ann["owner"].as_str(),
            ann["judged"].as_i64(),
            ann["breached"].as_i64()
        ),
        (Some("ann"), Some(2), Some(1))
    );
    let bob = &by_owner[1];
    assert_eq!(
        (
            bob["leads"].as_i64(),
            bob["judged"].as_i64(),
            bob["overdue"].as_i64()
        ),
        (Some(4), Some(2), Some(1))
    );
    assert_eq!(bob["breach_rate"].as_f64(), Some(0.5));
}

#[test]
fn leads_errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let data = ws.join("leads.csv");
    write_leads(&data);
    let d = data.to_str().unwrap();
    let out = run(ws, &["leads", "train", "--data", d, "--target", "Outcome"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("leads.csv") && err.contains("\"Outcome\"") && err.contains("Converted"),
        "{err}"
    );
    let out = run(ws, &["leads", "score", "--data", d, "--model", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leads train"));
    let out = run(
        ws,
        &[
            "leads",
            "train",
            "--data",
            d,
            "--target",
            "Converted",
            "--allow-feature",
            "Nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn deals_train_and_score_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(ws, &["synth", "--size", "300", "--seed", "5"]);
    // a backtest's model: only what was recorded by 2026-01-15
    ok(
        ws,
        &[
            "deals",
            "train",
            "--known",
            "2026-01-15",
            "--name",
            "jan",
            "--estimator",
            "logistic",
        ],
    );
    let card: Value = card_of(ws, "jan");
    assert!(card["known"].as_str().unwrap().starts_with("2026-01-15"));
    assert!(
        card["cuts"][1].as_str().unwrap() < "2026-01-01",
        "{}",
        card["cuts"]
    );
    // scoring as of a day before the model's knowledge is refused with --known…
    let out = run(
        ws,
        &[
            "deals",
            "score",
            "--model",
            "jan",
            "--as-of",
            "2025-12-01",
            "--known",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deals train --known"));
    // …and allowed after it
    let rows = json(
        ws,
        &[
            "deals",
            "score",
            "--model",
            "jan",
            "--as-of",
            "2026-02-01",
            "--known",
        ],
    );
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        for key in [
            "opportunity_id",
            "p_won",
            "p_lost",
            "p_slipped",
            "model",
            "factors",
        ] {
            assert!(r.get(key).is_some(), "no {key}: {r}");
        }
        let s = r["p_won"].as_f64().unwrap()
            + r["p_lost"].as_f64().unwrap()
            + r["p_slipped"].as_f64().unwrap();
        assert!((s - 1.0).abs() < 1e-9);
    }
    let out = run(ws, &["deals", "score", "--model", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    // leads from the ledger: the label worked out again from the leads table
    let rows = json(ws, &["leads", "rows", "--within", "30"]);
    let leads = json(
        ws,
        &["sql", "SELECT id, created_at, converted_at FROM leads"],
    );
    let last = json(
        ws,
        &["sql", "SELECT max(recorded_at) AS t FROM lead_events"],
    );
    let ts = |v: &Value| {
        v.as_str()
            .and_then(|s| pipewise_model::time::parse_iso_instant(s, false))
    };
    let last = ts(&last[0]["t"]).unwrap();
    let created_max = leads
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| ts(&l["created_at"]))
        .max()
        .unwrap();
    let now = last.max(created_max);
    let day = pipewise_model::time::MICROS_PER_DAY;
    let by_id: std::collections::HashMap<&str, &Value> = leads
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l))
        .collect();
    let (mut ones, mut zeros, mut open) = (0, 0, 0);
    for r in rows.as_array().unwrap() {
        let l = by_id[r["id"].as_str().unwrap()];
        let (c, conv) = (ts(&l["created_at"]).unwrap(), ts(&l["converted_at"]));
        let want = if conv.is_some_and(|x| x <= c + 30 * day) {
            "1"
        } else if c + 30 * day <= now {
            "0"
        } else {
            ""
        };
        assert_eq!(r["converted_within_30_days"], want, "{r}");
        match want {
            "1" => ones += 1,
            "0" => zeros += 1,
            _ => open += 1,
        }
    }
    assert!(ones > 10 && zeros > 10 && open > 0, "{ones} {zeros} {open}");
    // and they train as any flat file does (the rows without an outcome yet left out)
    let file = ws.join("lead-rows.csv");
    std::fs::write(
        &file,
        ok(ws, &["leads", "rows", "--within", "30", "--format", "csv"]),
    )
    .unwrap();
    ok(
        ws,
        &[
            "leads",
            "train",
            "--data",
            file.to_str().unwrap(),
            "--target",
            "converted_within_30_days",
            "--id",
            "id",
            "--name",
            "ledger-leads",
        ],
    );
    let card: Value = card_of(ws, "ledger-leads");
    assert_eq!(card["left_out"], open);
    assert!(card["split"].as_str().unwrap().starts_with("by time"));
}
