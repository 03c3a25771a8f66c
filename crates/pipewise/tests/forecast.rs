//! `pipewise forecast` and `pipewise backtest` end to end on the small
//! synthetic company: the JSON contract, the recommended method first, the
//! deals behind a number, the backtest's report files, and the errors.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use serde_json::Value;
mod common;

use common::{json, ok, refused, run};

#[test]
fn forecast_backtest_and_their_contract() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(ws, &["synth", "--size", "1500", "--seed", "3"]);
    let base = [
        "forecast",
        "--period",
        "2026-Q2",
        "--as-of",
        "2026-04-15",
        "--known",
    ];
    // one object per method, the recommended first, saying why
    let v = json(ws, &base);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0]["recommended"], true);
    assert!(
        rows[0]["why"].as_str().unwrap().contains("WAPE at week 3"),
        "{}",
        rows[0]["why"]
    );
    assert!(rows[1..].iter().all(|r| r["recommended"] == false));
    for r in rows {
        for key in [
            "method", "value", "p10", "p50", "p90", "quota", "gap", "terms",
        ] {
            assert!(r.get(key).is_some(), "no {key}: {r}");
        }
        if let (Some(q), Some(v), Some(g)) =
            (r["quota"].as_f64(), r["value"].as_f64(), r["gap"].as_f64())
        {
            assert!((q - v - g).abs() < 1e-6);
        }
        // the terms add up to the value (the probabilistic value is the simulation's median)
        if r["method"] != "probabilistic"
            && let Some(v) = r["value"].as_f64()
        {
            let s: f64 = r["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["value"].as_f64().unwrap())
                .sum();
            assert!((s - v).abs() < 1e-3 * v.abs().max(1.0), "{}", r["method"]);
        }
    }
    let p = rows
        .iter()
        .find(|r| r["method"] == "probabilistic")
        .unwrap();
    let (p10, p50, p90) = (
        p["p10"].as_f64().unwrap(),
        p["p50"].as_f64().unwrap(),
        p["p90"].as_f64().unwrap(),
    );
    assert!(p10 < p50 && p50 < p90);
    // deterministic: the same command, the same bytes
    assert_eq!(ok(ws, &base), ok(ws, &base));

    // the deals behind a number
    let mut explain = base.to_vec();
    explain.extend(["--explain", "category"]);
    let e = json(ws, &explain);
    let terms = e[0]["terms"].as_array().unwrap();
    let deals: Vec<&Value> = terms
        .iter()
        .flat_map(|t| t["deals"].as_array().into_iter().flatten())
        .collect();
    assert!(!deals.is_empty());
    for d in &deals {
        let c = d["amount"].as_f64().unwrap() * d["weight"].as_f64().unwrap();
        assert!((c - d["contribution"].as_f64().unwrap()).abs() < 1e-6);
    }

    // by manager: the total first, then one row per manager, each from the same draws
    let mut by = base.to_vec();
    by.extend([
        "--by",
        "manager",
        "--method",
        "category",
        "--method",
        "probabilistic",
    ]);
    let b = json(ws, &by);
    let b = b.as_array().unwrap();
    assert_eq!(b[0]["group"], "all");
    assert!(b.len() > 4);
    let total = |m: &str| {
        b.iter()
            .find(|r| r["group"] == "all" && r["method"] == m)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    let parts: f64 = b
        .iter()
        .filter(|r| r["group"] != "all" && r["method"] == "category")
        .map(|r| r["value"].as_f64().unwrap())
        .sum();
    assert!((parts - total("category")).abs() < 1e-3 * total("category"));

    // the backtest writes its report, and forecast then ranks by it
    let out = run(
        ws,
        &[
            "backtest",
            "--periods",
            "2",
            "--weeks",
            "1,3",
            "--draws",
            "200",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(ws.join("reports/backtest.json")).unwrap()).unwrap();
    assert_eq!(report["weeks"], serde_json::json!([1, 3]));
    assert_eq!(report["quarters"].as_array().unwrap().len(), 2);
    assert!(ws.join("reports/backtest.md").exists());
    let winner = report["winners"]["3"].as_str().unwrap();
    let v = json(ws, &base);
    assert_eq!(v[0]["method"], winner);
    assert!(v[0]["why"].as_str().unwrap().contains("saved backtest"));

    // a trained deal model's probabilities, only one trained on what was recorded by then
    ok(
        ws,
        &[
            "deals",
            "train",
            "--known",
            "2026-04-15",
            "--name",
            "apr",
            "--estimator",
            "logistic",
        ],
    );
    let mut with_model = base.to_vec();
    with_model.extend(["--model", "apr", "--method", "probabilistic"]);
    let m = json(ws, &with_model);
    let source = m[0]["probabilities"].as_str().unwrap();
    assert!(
        source.starts_with("the trained deal model for "),
        "{source}"
    );
    // the same model is refused for a forecast as of a day before what it learnt from
    refused(
        ws,
        &[
            "forecast",
            "--period",
            "2026-Q2",
            "--as-of",
            "2026-04-10",
            "--known",
            "--model",
            "apr",
        ],
        "trained on records later than --as-of",
    );

    // errors name the option and say how to fix it
    refused(
        ws,
        &["forecast", "--period", "2026-05", "--as-of", "2026-05-02"],
        "--period 2026-Q2",
    );
    refused(
        ws,
        &["forecast", "--period", "2026-Q2", "--as-of", "2026-07-02"],
        "outside 2026-Q2",
    );
    refused(
        ws,
        &["forecast", "--as-of", "2026-04-15", "--method", "magic"],
        "stage_weighted",
    );
    refused(
        ws,
        &[
            "forecast",
            "--as-of",
            "2026-04-15",
            "--under",
            "Nobody Atall",
        ],
        "--under",
    );
}

#[test]
fn submissions_are_kept_imported_and_read_for_bias() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    ok(ws, &["synth", "--size", "1500", "--seed", "4"]);
    // a rep with wins in 2026-Q1 (from the SQL tables, not from pipewise's own forecast code)
    let users = json(
        ws,
        &[
            "sql",
            "select id, name from users where role = 'rep' order by id",
        ],
    );
    let rep = users[0]["id"].as_str().unwrap().to_string();
    let name = users[0]["name"].as_str().unwrap().to_string();
    let csv = ws.join("calls.csv");
    std::fs::write(
        &csv,
        format!(
            "period,submitter,commit,best_case,most_likely,submitted_at,note\n\
             2026-Q1,{name},0,0,0,2026-01-05,nothing will close\n\
             2026-Q1,{rep},\"1,000\",2000,1500,2026-02-20,\n\
             2026-Q1,Nobody Here,1,2,3,2026-01-05,\n\
             2026-Q7,{rep},1,2,3,2026-01-05,\n"
        ),
    )
    .unwrap();
    let out = run(
        ws,
        &[
            "submissions",
            "--import",
            csv.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 row(s) read, 2 landed, 2 quarantined")
    );
    let bad: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bad[0]["column"], "submitter");
    assert_eq!(bad[0]["value"], "Nobody Here");
    assert_eq!(bad[0]["row"], 4);
    assert_eq!(bad[1]["column"], "period");
    // a call now: kept beside the others, never overwriting them
    let first = std::fs::read(ws.join("journals/submissions/00000001.parquet")).unwrap();
    ok(
        ws,
        &[
            "submit",
            "--period",
            "2026-Q2",
            "--who",
            &rep,
            "--commit",
            "100",
            "--best-case",
            "200",
            "--most-likely",
            "150",
            "--at",
            "2026-04-03",
        ],
    );
    assert_eq!(
        std::fs::read(ws.join("journals/submissions/00000001.parquet")).unwrap(),
        first
    );
    let all = json(ws, &["submissions", "--who", &name]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let q2 = json(ws, &["submissions", "--period", "2026-Q2"]);
    assert_eq!(q2.as_array().unwrap().len(), 1);
    // the bias ledger: a commit of 0 on a quarter the rep booked in is −100%
    let bias = json(ws, &["submissions", "--bias", "--who", &rep]);
    let commit_week_1 = bias
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["category"] == "commit" && b["week"] == 1)
        .unwrap();
    assert_eq!(commit_week_1["error"].as_f64().unwrap(), -1.0);
    assert_eq!(commit_week_1["calls"], 1);
    // the de-biased call of Q2 divides by (1 + the shrunk bias)
    let d = json(
        ws,
        &[
            "submissions",
            "--period",
            "2026-Q2",
            "--debiased",
            "--as-of",
            "2026-04-10",
        ],
    );
    let c = &d[0]["calls"]["commit"];
    let (call, b, adjusted) = (
        c[0].as_f64().unwrap(),
        c[1].as_f64().unwrap(),
        c[2].as_f64().unwrap(),
    );
    assert_eq!(call, 100.0);
    assert!(b < 0.0, "a commit of 0 is sandbagging: {b}");
    assert!((adjusted - call / (1.0 + b).max(0.25)).abs() < 1e-9);
    // the calls beside the forecast: the rep's own, de-biased the same way;
    // their manager's row and the company's roll up the own calls under them
    let f = |extra: &[&str]| {
        let args = [
            &[
                "forecast",
                "--period",
                "2026-Q2",
                "--method",
                "stage_weighted",
            ][..],
            extra,
        ]
        .concat();
        json(ws, &args)
    };
    let by_owner = f(&["--as-of", "2026-04-10", "--by", "owner"]);
    let row = |v: &Value, group: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == group)
            .cloned()
            .unwrap_or_else(|| panic!("no row {group} in {v}"))
    };
    let mine = row(&by_owner, &rep)["calls"].clone();
    assert_eq!(mine["submitter"], rep.as_str());
    assert_eq!(mine["call"]["level"], "own");
    assert_eq!(mine["call"]["commit"]["call"], 100.0);
    assert_eq!(
        mine["call"]["commit"]["debiased"].as_f64().unwrap(),
        adjusted
    );
    assert_eq!(mine["call"]["most_likely"]["call"], 150.0);
    let manager = json(
        ws,
        &[
            "sql",
            &format!("select manager_id from users where id = '{rep}'"),
        ],
    )[0]["manager_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_manager = f(&["--as-of", "2026-04-10", "--by", "manager"]);
    let team = row(&by_manager, &manager)["calls"].clone();
    assert_eq!(team["submitter"], manager.as_str());
    assert!(team["call"].is_null(), "the manager made no call: {team}");
    assert_eq!(team["rollup"]["people"], 1);
    assert_eq!(team["rollup"]["commit"]["call"], 100.0);
    assert_eq!(
        team["rollup"]["commit"]["debiased"].as_f64().unwrap(),
        adjusted
    );
    assert_eq!(
        row(&by_manager, "all")["calls"]["rollup"]["best_case"]["call"],
        200.0
    );
    // a forecast before the call was made shows none
    let before = f(&["--as-of", "2026-04-02", "--by", "owner", "--known"]);
    assert!(row(&before, &rep)["calls"].is_null());
    // errors
    let call = ["--commit", "1", "--best-case", "1", "--most-likely", "1"];
    let nobody = [
        &["submit", "--period", "2026-Q2", "--who", "Nobody Here"][..],
        &call,
    ]
    .concat();
    refused(ws, &nobody, "--who");
    let month = [
        &["submit", "--period", "2026-05", "--who", rep.as_str()][..],
        &call,
    ]
    .concat();
    refused(ws, &month, "--period 2026-Q2");
}
