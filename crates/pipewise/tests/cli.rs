//! The CLI as a user runs it: the real binary on temporary workspaces.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn pw(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("PIPEWISE_WORKSPACE")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

/// A command's rows, as JSON.
fn json_rows(ws: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    json(&pw(ws, &a)).as_array().unwrap().clone()
}

/// A hand-built export of `pipewise-ingest/tests/fixtures/quirks/<quirk>`,
/// ingested with `--init` into a new workspace `ws`; its path.
fn ingest_quirk(ws: &Path, kind: &str, quirk: &str, as_of: &str) -> String {
    let export = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipewise-ingest/tests/fixtures/quirks")
        .join(quirk);
    let export = export.to_str().unwrap().to_string();
    ok(&pw(
        ws,
        &["ingest", kind, &export, "--as-of", as_of, "--init"],
    ));
    export
}

#[test]
fn init_synth_asof_changes_status() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["init"]));
    assert!(ws.join("pipewise.toml").exists());
    let again = pw(&ws, &["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a pipewise workspace"));

    let s = json(&pw(
        &ws,
        &["synth", "--size", "400", "--seed", "3", "--format", "json"],
    ));
    let opps = s
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entity"] == "opportunities")
        .unwrap()["count"]
        .as_i64()
        .unwrap();
    assert_eq!(opps, 400);

    // asof JSON contract: an array of {group, count, amount}; counts add up to the opportunities created by then.
    let a = json(&pw(
        &ws,
        &["asof", "2026-06-30", "--by", "stage", "--format", "json"],
    ));
    let rows = a.as_array().unwrap();
    assert!(rows.iter().all(
        |r| r.as_object().unwrap().keys().cloned().collect::<Vec<_>>()
            == ["amount", "count", "group"]
    ));
    let total: i64 = rows.iter().map(|r| r["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 400);
    // every grouping gives the same total
    for by in ["forecast_category", "owner", "segment", "source"] {
        let g = json(&pw(
            &ws,
            &["asof", "2026-06-30", "--by", by, "--format", "json"],
        ));
        let t: i64 = g
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["count"].as_i64().unwrap())
            .sum();
        assert_eq!(t, 400, "{by}");
    }
    // --deals lists the same opportunities the totals count
    let deals = json(&pw(
        &ws,
        &["asof", "2026-06-30", "--deals", "--format", "json"],
    ));
    assert_eq!(deals.as_array().unwrap().len(), 400);
    let discovery = deals
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["stage"] == "Discovery")
        .count() as i64;
    let from_totals = rows
        .iter()
        .find(|r| r["group"] == "Discovery")
        .map(|r| r["count"].as_i64().unwrap())
        .unwrap_or(0);
    assert_eq!(discovery, from_totals);
    // --weeks: one row per week and group, the last week equal to the single as-of
    let weekly = json(&pw(
        &ws,
        &["asof", "2026-06-30", "--weeks", "4", "--format", "json"],
    ));
    let last: Vec<_> = weekly
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["as_of"].as_str().unwrap().starts_with("2026-06-30"))
        .collect();
    assert_eq!(last.len(), rows.len());
    for r in rows {
        assert!(last.iter().any(|w| w["group"] == r["group"]
            && w["count"] == r["count"]
            && w["amount"] == r["amount"]));
    }
    // open pipeline excludes closed stages
    let open = json(&pw(
        &ws,
        &["asof", "2026-06-30", "--open", "--format", "json"],
    ));
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|r| !r["group"].as_str().unwrap().starts_with("Closed"))
    );

    // changes: CSV with a header, only events inside (FROM, TO]
    let csv = ok(&pw(
        &ws,
        &["changes", "2026-06-01", "2026-06-30", "--format", "csv"],
    ));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "effective_at,recorded_at,opportunity_id,field,old_value,new_value,source"
    );
    let mut n = 0;
    for l in lines {
        let t = &l[..10];
        assert!(("2026-06-02"..="2026-06-30").contains(&t), "{l}");
        n += 1;
    }
    assert!(n > 0);

    // flow: start + membership buckets = end, in count and amount (cents)
    let flow = json(&pw(
        &ws,
        &[
            "flow",
            "2025-12-31",
            "2026-03-31",
            "--period",
            "2026-Q1",
            "--format",
            "json",
        ],
    ));
    let flow = flow.as_array().unwrap();
    let get = |b: &str| {
        flow.iter()
            .find(|r| r["bucket"] == b)
            .map(|r| (r["count"].as_i64().unwrap(), r["amount"].as_f64().unwrap()))
    };
    let (start, end) = (get("start").unwrap(), get("end").unwrap());
    let movement = [
        "start",
        "end",
        "stage_advanced",
        "stage_regressed",
        "forecast_category_up",
        "forecast_category_down",
        "owner_changed",
    ];
    let (mut fc, mut fa) = start;
    for r in flow
        .iter()
        .filter(|r| !movement.contains(&r["bucket"].as_str().unwrap()))
    {
        fc += r["count"].as_i64().unwrap();
        fa += r["amount"].as_f64().unwrap();
    }
    assert_eq!(fc, end.0);
    assert!(
        (fa - end.1).abs() < 0.01 * flow.len() as f64,
        "{fa} vs {}",
        end.1
    );
    assert!(start.0 > 0);
    let deals = json(&pw(
        &ws,
        &[
            "flow",
            "2025-12-31",
            "2026-03-31",
            "--period",
            "2026-Q1",
            "--deals",
            "--format",
            "json",
        ],
    ));
    assert!(
        deals
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["opportunity_id"].as_str().unwrap().starts_with("006"))
    );
    let bad = pw(&ws, &["flow", "2025-12-31", "2026-03-31", "--period", "Q1"]);
    assert_eq!(bad.status.code(), Some(2));

    // sql: pipeline_as_of agrees with asof, through the same JSON contract
    let q = "SELECT stage AS \"group\", count(*) AS count FROM pipeline_as_of('2026-06-30') GROUP BY stage";
    let sql = json(&pw(&ws, &["sql", q, "--format", "json"]));
    for r in rows {
        let m = sql
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["group"] == r["group"])
            .unwrap();
        assert_eq!(m["count"], r["count"]);
    }
    let bad = pw(&ws, &["sql", "SELECT nope FROM opportunities"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pipeline_as_of"));
    // sql is read-only: a DROP is refused (exit 2, a clear error) and the table stays.
    let drop = pw(&ws, &["sql", "DROP TABLE users"]);
    assert_eq!(drop.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&drop.stderr).contains("read-only"),
        "{}",
        String::from_utf8_lossy(&drop.stderr)
    );
    assert!(
        pw(&ws, &["sql", "SELECT count(*) FROM users"])
            .status
            .success()
    );

    // metric: JSON rows carry the dimension, value, numerator and denominator;
    // close_rate's counts equal a SQL count over deal_facts.
    let cr = json(&pw(
        &ws,
        &[
            "metric",
            "close_rate",
            "--by",
            "segment",
            "--format",
            "json",
        ],
    ));
    let (mut num, mut den) = (0.0, 0.0);
    for r in cr.as_array().unwrap() {
        for k in ["segment", "value", "numerator", "denominator", "status"] {
            assert!(r.get(k).is_some(), "{k} in {r}");
        }
        num += r["numerator"].as_f64().unwrap();
        den += r["denominator"].as_f64().unwrap();
    }
    let check = json(&pw(
        &ws,
        &[
            "sql",
            "SELECT sum(CASE WHEN is_won THEN 1 ELSE 0 END) AS w, count(*) AS c FROM deal_facts('2100-01-01') WHERE qualified AND is_closed",
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        (num, den),
        (
            check[0]["w"].as_f64().unwrap(),
            check[0]["c"].as_f64().unwrap()
        )
    );
    // funnel: every deal enters the first stage; later stages see fewer deals
    let fun = json(&pw(&ws, &["funnel", "--format", "json"]));
    let fun = fun.as_array().unwrap();
    assert_eq!(fun[0]["stage"], "Qualification");
    assert_eq!(fun[0]["entered"], 400);
    assert!(
        fun.windows(2)
            .all(|w| w[1]["entered"].as_i64() <= w[0]["entered"].as_i64())
    );
    // aging counts exactly the open deals that asof --open counts
    let aging = json(&pw(
        &ws,
        &[
            "funnel",
            "--aging",
            "--as-of",
            "2026-06-30",
            "--format",
            "json",
        ],
    ));
    let open_total: i64 = aging
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["open"].as_i64().unwrap())
        .sum();
    let open_asof: i64 = open
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(open_total, open_asof);
    // explain: the counted deals add up to the metric
    let ex = json(&pw(&ws, &["explain", "close_rate", "--format", "json"]));
    let counted: Vec<_> = ex
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "counted")
        .collect();
    assert_eq!(counted.len() as f64, den);
    assert_eq!(
        counted
            .iter()
            .map(|r| r["numerator"].as_f64().unwrap())
            .sum::<f64>(),
        num
    );
    let evs = json(&pw(
        &ws,
        &[
            "explain",
            "close_rate",
            "--period",
            "2026-Q1",
            "--events",
            "--format",
            "json",
        ],
    ));
    assert!(!evs.as_array().unwrap().is_empty());
    assert!(
        evs.as_array()
            .unwrap()
            .iter()
            .all(|e| e["role"] == "counted" || e["role"] == "excluded")
    );
    // velocity: the factors are the metrics of the same names; contributions add up to the change
    let vel = json(&pw(
        &ws,
        &[
            "velocity",
            "--period",
            "2026-Q1",
            "--compare",
            "2025-Q4",
            "--format",
            "json",
        ],
    ));
    let vel = vel.as_array().unwrap();
    let total = vel
        .iter()
        .find(|r| r["factor"] == "sales_velocity_per_day")
        .unwrap();
    let parts: f64 = vel
        .iter()
        .filter(|r| r["factor"] != "sales_velocity_per_day")
        .map(|r| r["contribution"].as_f64().unwrap())
        .sum();
    assert!(
        (parts - total["contribution"].as_f64().unwrap()).abs() < 0.05,
        "{vel:?}"
    );
    let cr_q1 = json(&pw(
        &ws,
        &[
            "metric",
            "close_rate",
            "--period",
            "2026-Q1",
            "--format",
            "json",
        ],
    ));
    let cr_row = vel.iter().find(|r| r["factor"] == "close_rate").unwrap();
    assert!((cr_row["after"].as_f64().unwrap() - cr_q1[0]["value"].as_f64().unwrap()).abs() < 1e-6);
    let sql = ok(&pw(
        &ws,
        &["metric", "win_rate", "--period", "2026-Q1", "--emit-sql"],
    ));
    assert!(
        sql.contains("deal_facts(") && sql.contains("2026-03-31"),
        "{sql}"
    );
    let unknown = pw(&ws, &["metric", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    std::fs::create_dir_all(ws.join("metrics")).unwrap();
    std::fs::write(
        ws.join("metrics/broken.toml"),
        "name = \"broken\"\nunit = 3\n",
    )
    .unwrap();
    let broken = pw(&ws, &["metrics"]);
    assert_eq!(broken.status.code(), Some(2));
    let e = String::from_utf8_lossy(&broken.stderr);
    assert!(e.contains("broken.toml") && e.contains("line 2"), "{e}");
    std::fs::remove_file(ws.join("metrics/broken.toml")).unwrap();
    // A workspace metric that replaces a built-in one says so.
    let builtin = include_str!("../../pipewise-metrics/library/win_rate.toml");
    std::fs::write(
        ws.join("metrics/my_win_rate.toml"),
        format!("# ours\n{builtin}"),
    )
    .unwrap();
    let o = pw(&ws, &["metric", "win_rate", "--period", "2026-Q1"]);
    ok(&o);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("my_win_rate.toml: metric \"win_rate\" replaces the built-in one of that name"),
        "{e}"
    );
    std::fs::remove_file(ws.join("metrics/my_win_rate.toml")).unwrap();

    let st = json(&pw(&ws, &["status", "--format", "json"]));
    let get = |k: &str| {
        st.as_array()
            .unwrap()
            .iter()
            .find(|r| r["item"] == k)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(get("opportunities"), 400);

    // Same seed → byte-identical output.
    let ws2 = dir.path().join("ws2");
    ok(&pw(&ws2, &["synth", "--size", "400", "--seed", "3"]));
    let a2 = json(&pw(
        &ws2,
        &["asof", "2026-06-30", "--by", "stage", "--format", "json"],
    ));
    assert_eq!(a, a2);
    let c1 = ok(&pw(
        &ws,
        &["changes", "2024-01-01", "2026-06-30", "--format", "csv"],
    ));
    let c2 = ok(&pw(
        &ws2,
        &["changes", "2024-01-01", "2026-06-30", "--format", "csv"],
    ));
    assert_eq!(c1, c2);
}

#[test]
fn errors_go_to_stderr_with_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = pw(&dir.path().join("nope"), &["status"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("not a pipewise workspace") && err.contains("hint:"),
        "{err}"
    );

    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["init"]));
    let bad_date = pw(&ws, &["asof", "30/09/2026"]);
    assert_eq!(bad_date.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("not a date"));
    let bad_by = pw(&ws, &["asof", "2026-09-30", "--by", "amount"]);
    assert_eq!(bad_by.status.code(), Some(2));

    // an export with a missing required column names the file and the column
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("Opportunity.csv"),
        "Id,CreatedDate\n006A,2025-01-01\n",
    )
    .unwrap();
    let o = pw(
        &ws,
        &[
            "ingest",
            "salesforce",
            export.to_str().unwrap(),
            "--as-of",
            "2025-12-31",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("Opportunity.csv") && e.contains("StageName"),
        "{e}"
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["synth", "--help"],
        vec!["ingest", "--help"],
        vec!["ingest", "salesforce", "--help"],
        vec!["ingest", "hubspot", "--help"],
        vec!["ingest", "csv", "--help"],
        vec!["status", "--help"],
        vec!["asof", "--help"],
        vec!["changes", "--help"],
        vec!["flow", "--help"],
        vec!["sql", "--help"],
        vec!["metrics", "--help"],
        vec!["metric", "--help"],
        vec!["explain", "--help"],
        vec!["velocity", "--help"],
        vec!["funnel", "--help"],
        vec!["scorecard", "--help"],
        vec!["pacing", "--help"],
        vec!["export", "--help"],
        vec!["demo", "--help"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_pipewise"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("Usage:") && out.contains("--workspace") && out.contains("--format"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn synth_to_salesforce_to_ingest_via_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("sf");
    let truth = dir.path().join("truth");
    let ws = dir.path().join("ws");
    ok(&pw(
        &ws,
        &[
            "synth",
            "--size",
            "300",
            "--seed",
            "9",
            "--salesforce-export",
            export.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ],
    ));
    assert!(!ws.exists(), "exporting does not touch the workspace");
    ok(&pw(&ws, &["init"]));
    let files = json(&pw(
        &ws,
        &[
            "ingest",
            "salesforce",
            export.to_str().unwrap(),
            "--as-of",
            "2026-06-30",
            "--format",
            "json",
        ],
    ));
    for f in files.as_array().unwrap() {
        assert_eq!(f["read"], f["landed"], "{f}");
        assert_eq!(f["quarantined"], 0);
    }
    // The truth's per-stage totals at the last quarter end equal `asof`.
    let truth_csv = std::fs::read_to_string(truth.join("quarter_end_by_stage.csv")).unwrap();
    let a = json(&pw(&ws, &["asof", "2026-06-30", "--format", "json"]));
    let mut checked = 0;
    for line in truth_csv.lines().filter(|l| l.starts_with("2026-06-30")) {
        let parts: Vec<&str> = line.split(',').collect();
        let row = a
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == parts[1])
            .unwrap();
        assert_eq!(row["count"].as_i64().unwrap().to_string(), parts[2]);
        assert!((row["amount"].as_f64().unwrap() - parts[3].parse::<f64>().unwrap()).abs() < 0.006);
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn periods_comparisons_pacing_scorecard_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["synth", "--size", "600", "--seed", "5"]));
    let rows = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        json(&pw(&ws, &a)).as_array().unwrap().clone()
    };
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);

    // --every: one row per quarter, adding up to the year.
    let q = rows(&[
        "metric",
        "pipeline_created",
        "--period",
        "2025",
        "--every",
        "quarter",
    ]);
    let labels: Vec<&str> = q.iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(labels, ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]);
    let year = rows(&["metric", "pipeline_created", "--period", "2025"]);
    let sum: f64 = q.iter().map(|r| num(&r["numerator"])).sum();
    assert!((sum - num(&year[0]["numerator"])).abs() < 1e-6 && sum > 0.0);

    // --compare previous / year: the earlier period's own value.
    let c = rows(&[
        "metric",
        "close_rate",
        "--period",
        "2026-Q1",
        "--compare",
        "previous",
    ]);
    assert_eq!(c[0]["compared_period"], "2025-Q4");
    let before = rows(&["metric", "close_rate", "--period", "2025-Q4"]);
    assert_eq!(c[0]["compared_value"], before[0]["value"]);
    let y = rows(&[
        "metric",
        "close_rate",
        "--period",
        "2026-Q1",
        "--compare",
        "year",
    ]);
    assert_eq!(y[0]["compared_period"], "2025-Q1");

    // pacing: day 45 of Q2 against day 45 of the two quarters before.
    let p = rows(&[
        "pacing",
        "pipeline_created",
        "--period",
        "2026-Q2",
        "--as-of",
        "2026-05-15",
        "--previous",
        "2",
    ]);
    let got: Vec<(&str, &str, &str)> = p
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap(),
                r["through"].as_str().unwrap(),
                r["day"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-Q2", "2026-05-15", "45 of 91"),
            ("2026-Q1", "2026-02-14", "45 of 90"),
            ("2025-Q4", "2025-11-14", "45 of 92")
        ]
    );
    let to_date = rows(&[
        "metric",
        "pipeline_created",
        "--from",
        "2026-04-01",
        "--to",
        "2026-05-15",
        "--as-of",
        "2026-05-15",
    ]);
    assert_eq!(p[0]["numerator"], to_date[0]["numerator"]);

    // scorecard: the overall row of each metric is what `metric` gives.
    let sc = rows(&["scorecard", "--period", "2026-Q1", "--by", "team"]);
    let overall = sc
        .iter()
        .find(|r| r["metric"] == "close_rate" && r["dimension"].is_null())
        .unwrap();
    let single = rows(&["metric", "close_rate", "--period", "2026-Q1"]);
    assert_eq!(overall["numerator"], single[0]["numerator"]);
    assert_eq!(overall["denominator"], single[0]["denominator"]);
    assert!(
        sc.iter()
            .any(|r| r["metric"] == "quota_attainment" && r["dimension"] == "team")
    );
    // leads have no team-less breakdown problem, but quota metrics cannot go by segment: skipped
    let seg = rows(&["scorecard", "--period", "2026-Q1", "--by", "segment"]);
    assert!(
        !seg.iter()
            .any(|r| r["metric"] == "quota_attainment" && r["dimension"] == "segment")
    );
    assert!(
        seg.iter()
            .any(|r| r["metric"] == "close_rate" && r["dimension"] == "segment")
    );

    // export and the postgres dialect
    let out = dir.path().join("pg");
    ok(&pw(
        &ws,
        &["export", "--dialect", "postgres", out.to_str().unwrap()],
    ));
    let schema = std::fs::read_to_string(out.join("schema.sql")).unwrap();
    assert!(schema.contains("CREATE OR REPLACE FUNCTION deal_facts(as_of timestamptz"));
    let events = std::fs::read_to_string(out.join("data/opportunity_events.csv")).unwrap();
    let n_events = rows(&["sql", "SELECT count(*) AS n FROM opportunity_events"]);
    assert_eq!(
        events.lines().count() as i64 - 1,
        n_events[0]["n"].as_i64().unwrap()
    );
    let sql = ok(&pw(
        &ws,
        &[
            "metric",
            "close_rate",
            "--period",
            "2026-Q1",
            "--emit-sql",
            "--dialect",
            "postgres",
        ],
    ));
    assert!(sql.contains("DOUBLE PRECISION") && sql.contains("TIMESTAMPTZ"));

    // user errors: exit 2 with a reason
    for (args, says) in [
        (
            vec!["metric", "close_rate", "--every", "month"],
            "--every needs",
        ),
        (
            vec!["metric", "close_rate", "--emit-sql", "--dialect", "oracle"],
            "--dialect",
        ),
        (
            vec!["metric", "close_rate", "--compare", "previous"],
            "--compare needs",
        ),
        (
            vec![
                "metric",
                "close_rate",
                "--period",
                "2026-Q1",
                "--every",
                "fortnight",
            ],
            "--every",
        ),
        (
            vec![
                "ingest",
                "csv",
                dir.path().to_str().unwrap(),
                "--mapping",
                "nope.toml",
            ],
            "cannot read the mapping",
        ),
    ] {
        let o = pw(&ws, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}"
        );
    }
}

#[test]
fn ingest_without_a_workspace_offers_init_from_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let export = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipewise-ingest/tests/fixtures/quirks/salesforce-standard-stage-picklist");
    let export = export.to_str().unwrap();
    let o = pw(
        &ws,
        &["ingest", "salesforce", export, "--as-of", "2025-06-30"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("init --from") && err.contains("--init"),
        "{err}"
    );
    assert!(!ws.join("ledger").exists(), "nothing was created");
    // --init writes the process from the export, then ingests.
    let o = pw(
        &ws,
        &[
            "ingest",
            "salesforce",
            export,
            "--as-of",
            "2025-06-30",
            "--init",
        ],
    );
    ok(&o);
    let toml = std::fs::read_to_string(ws.join("pipewise.toml")).unwrap();
    assert!(toml.contains("name = \"Prospecting\"") && toml.contains("init --from"));
    // Prospecting and Qualification stay apart: 2 + 2 deals on 2025-01-31.
    let rows = json(&pw(
        &ws,
        &["asof", "2025-01-31", "--by", "stage", "--format", "json"],
    ));
    let count = |g: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == g)
            .map(|r| r["count"].as_i64().unwrap())
    };
    assert_eq!(count("Prospecting"), Some(2));
    assert_eq!(count("Qualification"), Some(2));
    // init --from on a fresh folder writes the same file.
    let ws2 = dir.path().join("ws2");
    ok(&pw(&ws2, &["init", "--from", export]));
    assert_eq!(
        std::fs::read_to_string(ws2.join("pipewise.toml")).unwrap(),
        toml
    );
}

#[test]
fn asof_in_another_currency() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ingest_quirk(&ws, "salesforce", "salesforce-multi-currency", "2025-06-30");
    let rows = json(&pw(
        &ws,
        &[
            "asof",
            "2025-06-30",
            "--currency",
            "JPY",
            "--format",
            "json",
        ],
    ));
    let get = |g: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == g)
            .cloned()
            .unwrap()
    };
    // 30,000 dollars open and 10,000 won (worked out in quirks.rs), at 150 yen each.
    assert_eq!(get("Prospecting")["amount"].as_f64(), Some(4_500_000.0));
    assert_eq!(get("Closed Won")["amount"].as_f64(), Some(1_500_000.0));
    assert_eq!(get("Closed Won")["currency"], "JPY");
    let o = pw(&ws, &["asof", "2025-06-30", "--currency", "GBP"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no rate"));
    // Metrics, the scorecard and the flow too: money in yen (150 per dollar),
    // counts and ratios as they are.
    let run = |args: &[&str], yen: bool| -> Vec<serde_json::Value> {
        let mut a = args.to_vec();
        if yen {
            a.extend(["--currency", "JPY"]);
        }
        json_rows(&ws, &a)
    };
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap();
    // (money is printed to the cent: a cent of dollars is 1.5 yen)
    let yen = |usd: f64, jpy: f64| (usd * 150.0 - jpy).abs() <= 0.005 * 150.0 + 0.005;
    let metric = ["metric", "open_pipeline", "--as-of", "2025-06-30"];
    let (usd, jpy) = (run(&metric, false), run(&metric, true));
    assert!(f(&usd[0], "value") > 0.0);
    assert!(
        yen(f(&usd[0], "value"), f(&jpy[0], "value")),
        "{usd:?} {jpy:?}"
    );
    assert!(yen(f(&usd[0], "numerator"), f(&jpy[0], "numerator")));
    assert_eq!(f(&jpy[0], "denominator"), f(&usd[0], "denominator"));
    assert_eq!(jpy[0]["currency"], "JPY");
    let card = [
        "scorecard",
        "--as-of",
        "2025-06-30",
        "--metric",
        "open_pipeline",
        "--metric",
        "win_rate",
    ];
    let (usd, jpy) = (run(&card, false), run(&card, true));
    for (a, b) in usd.iter().zip(&jpy) {
        let money = a["metric"] == "open_pipeline";
        if money {
            assert!(yen(f(a, "value"), f(b, "value")), "{a} {b}");
        } else {
            assert_eq!(a["value"], b["value"]);
        }
        assert_eq!(
            b["currency"],
            if money {
                "JPY".into()
            } else {
                serde_json::Value::Null
            }
        );
    }
    let flow = ["flow", "2025-01-01", "2025-06-30"];
    let (usd, jpy) = (run(&flow, false), run(&flow, true));
    assert!(usd.iter().any(|r| f(r, "amount") > 0.0));
    for (a, b) in usd.iter().zip(&jpy) {
        assert!(yen(f(a, "amount"), f(b, "amount")), "{a} {b}");
        assert_eq!(a["count"], b["count"]);
    }
}

#[test]
fn several_sales_processes_by_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let export = ingest_quirk(&ws, "hubspot", "hubspot-several-pipelines", "2025-06-30");
    let export = export.as_str();
    let toml = std::fs::read_to_string(ws.join("pipewise.toml")).unwrap();
    assert_eq!(toml.matches("[[pipelines]]").count(), 2, "{toml}");
    let rows = |args: &[&str]| json_rows(&ws, args);
    let pairs = |rs: &[serde_json::Value], key: &str| -> Vec<(String, i64)> {
        rs.iter()
            .map(|r| {
                (
                    r[key].as_str().unwrap().to_string(),
                    r["count"].as_i64().or(r["entered"].as_i64()).unwrap(),
                )
            })
            .collect()
    };
    let by = rows(&["asof", "2025-06-30", "--by", "pipeline"]);
    assert_eq!(
        pairs(&by, "group"),
        [
            ("Sales Pipeline".to_string(), 3),
            ("Renewals (EMEA, UK)".to_string(), 3)
        ]
    );
    // One process (named in any case): its stages, by their own names.
    let renewals = rows(&["asof", "2025-02-28", "--pipeline", "renewals (emea, uk)"]);
    assert_eq!(
        pairs(&renewals, "group"),
        [
            ("Contract Sent".to_string(), 2),
            ("Renewal Signed".to_string(), 1)
        ]
    );
    let err = pw(&ws, &["asof", "2025-02-28", "--pipeline", "Partners"]);
    assert_eq!(err.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&err.stderr)
            .contains("\"Sales Pipeline\", \"Renewals (EMEA, UK)\""),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
    // The funnel, process by process: Contract Sent is two stages.
    let fun = rows(&["funnel"]);
    let got: Vec<(String, String, i64, i64)> = fun
        .iter()
        .map(|r| {
            (
                r["pipeline"].as_str().unwrap().to_string(),
                r["stage"].as_str().unwrap().to_string(),
                r["entered"].as_i64().unwrap(),
                r["advanced"].as_i64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("Sales Pipeline", "Appointment Scheduled", 3, 2),
        ("Sales Pipeline", "Contract Sent", 2, 1),
        ("Renewals (EMEA, UK)", "Contract Sent", 3, 1),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(p, s, e, a)| (p.to_string(), s.to_string(), *e, *a))
            .collect::<Vec<_>>()
    );
    // An unknown --timezone says what is expected.
    let o = pw(
        &ws,
        &["ingest", "hubspot", export, "--timezone", "Mars/Olympus"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--timezone \"Mars/Olympus\" is not an IANA time zone name"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let one = rows(&["funnel", "--pipeline", "Renewals (EMEA, UK)"]);
    assert_eq!(one.len(), 1);
    // `pipeline` is a dimension of every metric.
    let open = rows(&[
        "metric",
        "open_pipeline",
        "--as-of",
        "2025-06-30",
        "--by",
        "pipeline",
    ]);
    let amounts: Vec<(String, f64)> = open
        .iter()
        .map(|r| {
            (
                r["pipeline"].as_str().unwrap().to_string(),
                r["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        amounts.contains(&("Sales Pipeline".to_string(), 2000.0))
            && amounts.contains(&("Renewals (EMEA, UK)".to_string(), 3000.0)),
        "{open:?}"
    );
}

#[test]
fn custom_fiscal_years_from_a_salesforce_export() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ingest_quirk(
        &ws,
        "salesforce",
        "salesforce-custom-fiscal-year",
        "2026-06-30",
    );
    let toml = std::fs::read_to_string(ws.join("pipewise.toml")).unwrap();
    assert!(toml.contains("fiscal_year_start_month = 2"), "{toml}");
    let rows = |args: &[&str]| json_rows(&ws, args);
    // FY2027-Q1 is the custom 13 weeks to 2026-05-02: deals 1 and 3 (not Feb-Apr).
    let q1 = rows(&["metric", "average_won_deal_size", "--period", "FY2027-Q1"]);
    assert_eq!(q1[0]["numerator"].as_f64(), Some(5000.0));
    assert_eq!(q1[0]["denominator"].as_f64(), Some(2.0));
    let every = rows(&[
        "metric",
        "average_won_deal_size",
        "--period",
        "FY2027",
        "--every",
        "quarter",
    ]);
    let got: Vec<(String, Option<f64>)> = every
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_string(),
                r["numerator"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        got[..2],
        [
            ("FY2027-Q1".to_string(), Some(5000.0)),
            ("FY2027-Q2".to_string(), Some(2000.0))
        ]
    );
    assert_eq!(got.len(), 4, "{got:?}");
    // A year the export does not define follows fiscal_year_start_month.
    let q = rows(&["metric", "average_won_deal_size", "--period", "FY2026-Q4"]);
    assert_eq!(q[0]["denominator"].as_f64(), Some(0.0), "{q:?}");
}

/// A Salesforce export of `n` opportunities with ids `006<tag>…`, each with
/// two history rows, written into `dir`.
fn small_export(dir: &Path, tag: char, n: usize) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut opp = String::from(
        "\"Id\",\"Name\",\"StageName\",\"Amount\",\"CloseDate\",\"CreatedDate\",\"LastModifiedDate\"\n",
    );
    let mut hist = String::from(
        "\"Id\",\"OpportunityId\",\"CreatedDate\",\"StageName\",\"Amount\",\"CloseDate\"\n",
    );
    for i in 0..n {
        let id = format!("006{tag}{i:014}");
        let stage = if i % 3 == 0 {
            "Closed Won"
        } else {
            "Discovery"
        };
        opp.push_str(&format!(
            "\"{id}\",\"Deal {i}\",\"{stage}\",\"{}.00\",\"2025-06-30\",\"2025-01-02T09:00:00.000Z\",\"2025-03-01T09:00:00.000Z\"\n",
            1000 + i
        ));
        hist.push_str(&format!(
            "\"h{tag}{i:014}a\",\"{id}\",\"2025-01-02T09:00:00.000Z\",\"Qualification\",\"{}.00\",\"2025-06-30\"\n\"h{tag}{i:014}b\",\"{id}\",\"2025-03-01T09:00:00.000Z\",\"{stage}\",\"{}.00\",\"2025-06-30\"\n",
            1000 + i,
            1000 + i
        ));
    }
    std::fs::write(dir.join("Opportunity.csv"), opp).unwrap();
    std::fs::write(dir.join("OpportunityHistory.csv"), hist).unwrap();
    dir.to_str().unwrap().to_string()
}

fn spawn_ingest(ws: &Path, export: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args([
            "ingest",
            "salesforce",
            export,
            "--as-of",
            "2025-06-30",
            "--missing",
            "keep",
        ])
        .env_remove("PIPEWISE_WORKSPACE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// (deals, events) in a workspace.
fn ledger_size(ws: &Path) -> (i64, i64) {
    let rows = json_rows(
        ws,
        &[
            "sql",
            "SELECT (SELECT count(*) FROM opportunity_keys) AS deals, (SELECT count(*) FROM opportunity_events) AS events",
        ],
    );
    (
        rows[0]["deals"].as_i64().unwrap(),
        rows[0]["events"].as_i64().unwrap(),
    )
}

#[test]
fn concurrent_ingests_land_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = small_export(&dir.path().join("a"), 'A', 300);
    let b = small_export(&dir.path().join("b"), 'B', 300);
    // What one after the other leaves.
    let seq = dir.path().join("seq");
    ok(&pw(&seq, &["init"]));
    for e in [&a, &b] {
        assert!(spawn_ingest(&seq, e).wait().unwrap().success());
    }
    let want = ledger_size(&seq);
    assert_eq!(want.0, 600);
    for round in 0..4 {
        // Two different exports at once: both land.
        let ws = dir.path().join(format!("both{round}"));
        ok(&pw(&ws, &["init"]));
        let (mut x, mut y) = (spawn_ingest(&ws, &a), spawn_ingest(&ws, &b));
        let (ox, oy) = (x.wait().unwrap(), y.wait().unwrap());
        assert!(ox.success() && oy.success(), "round {round}");
        assert_eq!(ledger_size(&ws), want, "round {round}");
        // The same export twice at once: what one leaves.
        let ws = dir.path().join(format!("same{round}"));
        ok(&pw(&ws, &["init"]));
        let (mut x, mut y) = (spawn_ingest(&ws, &a), spawn_ingest(&ws, &a));
        assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
        assert_eq!(ledger_size(&ws), (300, want.1 / 2), "round {round}");
    }
}

#[test]
fn readers_see_a_whole_version_and_a_killed_writer_leaves_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let big = small_export(&dir.path().join("big"), 'C', 3000);
    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["init"]));
    // While an ingest runs, every as-of sees nothing or everything.
    let mut writer = spawn_ingest(&ws, &big);
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let done = writer.try_wait().unwrap().is_some();
        let rows = json_rows(&ws, &["asof", "2025-06-30"]);
        let deals: i64 = rows.iter().map(|r| r["count"].as_i64().unwrap()).sum();
        seen.insert(deals);
        if done {
            break;
        }
    }
    assert!(writer.wait().unwrap().success());
    assert!(
        seen.iter().all(|&n| n == 0 || n == 3000),
        "a reader saw a partial version: {seen:?}"
    );
    // A writer killed at some point of its run: the workspace opens, and the
    // same ingest run again completes.
    let ws = dir.path().join("killed");
    ok(&pw(&ws, &["init"]));
    for delay_ms in [30u64, 120, 400] {
        let mut w = spawn_ingest(&ws, &big);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = w.kill();
        let _ = w.wait();
        ok(&pw(&ws, &["status"]));
    }
    assert!(spawn_ingest(&ws, &big).wait().unwrap().success());
    let rows = json_rows(&ws, &["asof", "2025-06-30"]);
    let deals: i64 = rows.iter().map(|r| r["count"].as_i64().unwrap()).sum();
    assert_eq!(deals, 3000);
}

#[test]
fn a_second_writer_waits_then_gives_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["init"]));
    // Hold the workspace's write lock as another writer would.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(ws.join("ledger/LOCK"))
        .unwrap();
    lock.lock().unwrap();
    let a = small_export(&dir.path().join("a"), 'A', 5);
    let o = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(&ws)
        .args(["ingest", "salesforce", &a, "--as-of", "2025-06-30"])
        .env("PIPEWISE_LOCK_WAIT", "1")
        .env_remove("PIPEWISE_WORKSPACE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("waiting for another writer"), "{err}");
    assert!(
        err.contains("still holds this workspace after 1 s; nothing was written"),
        "{err}"
    );
    drop(lock);
    assert_eq!(ledger_size(&ws), (0, 0));
    ok(&pw(
        &ws,
        &["ingest", "salesforce", &a, "--as-of", "2025-06-30"],
    ));
    assert_eq!(ledger_size(&ws).0, 5);
}

/// Metric errors say whose they are: a definition the engine rejects names
/// its file (exit 2), an engine failure running a metric keeps its cause
/// (exit 1), a breakdown a metric cannot give is the user's (exit 2); in a
/// scorecard a workspace metric the engine rejects fails alone, named.
#[test]
fn metric_errors_say_whose_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&pw(&ws, &["synth", "--size", "150", "--seed", "2"]));
    let builtin = include_str!("../../pipewise-metrics/library/win_rate.toml");
    let metric = |name: &str, numerator: &str| {
        builtin
            .replace("name = \"win_rate\"", &format!("name = \"{name}\""))
            .replace(
                "numerator = \"CASE WHEN is_won THEN 1 ELSE 0 END\"",
                &format!("numerator = \"{numerator}\""),
            )
    };
    let bad_column = metric("bad_column", "no_such_column");
    assert_ne!(bad_column, builtin.replace("win_rate", "bad_column"));
    std::fs::create_dir_all(ws.join("metrics")).unwrap();
    std::fs::write(ws.join("metrics/bad_column.toml"), &bad_column).unwrap();
    std::fs::write(
        ws.join("metrics/bad_cast.toml"),
        metric("bad_cast", "CAST(stage AS INT)"),
    )
    .unwrap();
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let o = pw(&ws, &["metric", "bad_column"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("metrics/bad_column.toml: metric bad_column: the engine rejects its SQL")
            && e.contains("no_such_column"),
        "{e}"
    );

    let o = pw(&ws, &["metric", "bad_cast"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("error: evaluating bad_cast") && e.contains("caused by:"),
        "{e}"
    );

    let o = pw(&ws, &["metric", "win_rate", "--by", "colour"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--by \"colour\": expected one of"));

    // The scorecard evaluates deal metrics together: the one metric the
    // engine rejects is named, not the whole group.
    std::fs::remove_file(ws.join("metrics/bad_cast.toml")).unwrap();
    let o = pw(&ws, &["scorecard"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("bad_column.toml") && !e.contains("win_rate"),
        "{e}"
    );
    std::fs::remove_file(ws.join("metrics/bad_column.toml")).unwrap();
    ok(&pw(&ws, &["scorecard"]));
}

/// `experiment plan` and `analyze` give seed-requirements §4.10's numbers
/// (seed 001: 1,000 vs 1,000 at a 20% relative lift) and statsmodels' z-test
/// (see pipewise-score's tests), with no workspace; bad input is the user's.
#[test]
fn experiment_plan_and_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("none");
    let value = |rows: &[serde_json::Value], item: &str| {
        rows.iter().find(|r| r["item"] == item).unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    let plan = json_rows(
        &ws,
        &[
            "experiment",
            "plan",
            "--baseline",
            "20%",
            "--lift",
            "20%",
            "--per-arm",
            "1000",
        ],
    );
    assert_eq!(value(&plan, "rows per arm needed"), 1683.0); // 1,682.4, rounded up
    assert!((value(&plan, "power with --per-arm rows") - 0.58).abs() < 0.01);
    let p0 = value(&plan, "lowest baseline --per-arm rows detect the lift at");
    assert!((0.285..0.295).contains(&p0), "{p0}");
    let absolute = json_rows(
        &ws,
        &[
            "experiment",
            "plan",
            "--baseline",
            "0.2",
            "--lift",
            "0.05",
            "--absolute",
        ],
    );
    assert!((value(&absolute, "target rate") - 0.25).abs() < 1e-12);
    let z = json_rows(
        &ws,
        &[
            "experiment",
            "analyze",
            "--a",
            "230/1000",
            "--b",
            "190/1000",
        ],
    );
    assert!((value(&z, "p-value (two-sided)") - 0.028_095_756_5).abs() < 1e-9);
    for bad in [
        &["experiment", "plan", "--baseline", "2", "--lift", "20%"][..],
        &["experiment", "analyze", "--a", "1200/1000", "--b", "3/10"],
        &["experiment", "analyze"],
    ] {
        let o = pw(&ws, bad);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(!ws.exists(), "experiments need no workspace");
}

/// `pipewise users add … --password-stdin` with `password` on stdin.
fn add_user(ws: &Path, args: &[&str], password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(ws)
        .args(["users", "add"])
        .args(args)
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// GET `path` with a bearer token: the status and the body as JSON.
fn get_json(addr: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// Opportunity.csv as Data Loader writes it, with a stray opening quote in
/// line 4: that row is quarantined, the other eight land.
const STRAY_QUOTE: &str = "Id,Name,StageName,Amount,CloseDate,CreatedDate,OwnerId\n\
006000000000001AAA,Alpha,Prospecting,100,2026-03-01,2026-01-01T00:00:00Z,005000000000001AAA\n\
006000000000002AAA,Beta,Prospecting,200,2026-03-01,2026-01-01T00:00:00Z,005000000000001AAA\n\
006000000000003AAA,\"Gamma,Prospecting,300,2026-03-01,2026-01-01T00:00:00Z,005000000000001AAA\n\
006000000000004AAA,Delta,Prospecting,,2026-03-01,2026-01-01T00:00:00Z,005000000000001AAA\n\
006000000000005AAA,Eps,Prospecting,500,2026-03-01,2026-01-01T00:00:00Z,005000000000002AAA\n\
006000000000006AAA,\"Omega, Inc\",Prospecting,600,2026-03-01,2026-01-01T00:00:00Z,005000000000002AAA\n\
006000000000007AAA,Zeta,Prospecting,700,2026-03-01,2026-01-01T00:00:00Z,005000000000002AAA\n\
006000000000008AAA,Theta,Prospecting,800,2026-03-01,2026-01-01T00:00:00Z,005000000000002AAA\n\
006000000000009AAA,Eta,Prospecting,900,2026-03-01,2026-01-01T00:00:00Z,005000000000002AAA\n";

#[test]
fn the_data_quality_route_reconciles_every_row_and_guards_the_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let (export, ws) = (dir.path().join("export"), dir.path().join("ws"));
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(export.join("Opportunity.csv"), STRAY_QUOTE).unwrap();
    ok(&pw(
        &ws,
        &[
            "ingest",
            "salesforce",
            export.to_str().unwrap(),
            "--as-of",
            "2026-02-01T00:00:00Z",
            "--init",
        ],
    ));
    for (login, role, owner) in [
        ("eve", "exec", None),
        ("rita", "rep", Some("005000000000001AAA")),
    ] {
        let mut args = vec![login, "--role", role];
        args.extend(owner.iter().flat_map(|o| ["--owner", *o]));
        assert!(
            add_user(&ws, &args, "a long enough password")
                .status
                .success()
        );
    }
    let token = |login: &str| ok(&pw(&ws, &["users", "token", login])).trim().to_string();
    let (eve, rita) = (token("eve"), token("rita"));
    let (mut child, addr) = common::serve(&ws);

    let (status, q) = get_json(&addr, "/api/quality?as_of=2026-02-01", &eve);
    assert_eq!(status, 200, "{q}");
    let ingest = &q["ingests"][0];
    let file = &ingest["files"][0];
    assert_eq!(
        (
            &file["rows_read"],
            &file["rows_landed"],
            &file["rows_quarantined"]
        ),
        (&9.into(), &8.into(), &1.into()),
        "{ingest}"
    );
    let checks = ingest["report"]["checks"].as_object().unwrap();
    assert!(
        checks
            .values()
            .any(|c| c["examples"].as_array().is_some_and(|e| !e.is_empty()))
    );
    // completeness of the eight open deals: one has no amount
    let field = |q: &serde_json::Value, name: &str| {
        q["completeness"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {q}"))
    };
    let amount = field(&q, "amount");
    assert_eq!(
        (&amount["filled"], &amount["deals"]),
        (&7.into(), &8.into())
    );
    assert_eq!(field(&q, "name")["filled"], 8);
    // the quarantined row itself, with where and why
    let (status, rows) = get_json(&addr, "/api/quality/quarantine", &eve);
    assert_eq!(status, 200, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["row"], "4");
    assert!(rows[0]["raw_value"].as_str().unwrap().contains("\"Gamma"));
    assert!(
        rows[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("Opportunity.csv")
    );

    // a rep: the counts, their own deals' completeness, no raw values
    let (status, r) = get_json(&addr, "/api/quality?as_of=2026-02-01", &rita);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["ingests"][0]["files"], ingest["files"]);
    assert!(r.to_string().find("Gamma").is_none(), "{r}");
    let amount = field(&r, "amount");
    assert_eq!(
        (&amount["filled"], &amount["deals"]),
        (&2.into(), &3.into())
    );
    let (status, e) = get_json(&addr, "/api/quality/quarantine", &rita);
    assert_eq!((status, &e["code"]), (403, &"forbidden".into()));
    child.kill().unwrap();
    let _ = child.wait();
}

/// One HTTP/1.1 request over a plain socket; the status and the body.
fn http(addr: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn users_and_the_server_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(ws, &["synth", "--size", "600", "--seed", "3"]);
    let rep = common::json(
        ws,
        &[
            "sql",
            "select id from users where role = 'rep' order by id limit 1",
        ],
    )[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = add_user(
        ws,
        &["ana", "--role", "rep", "--owner", &rep],
        "a long enough password",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // refused: a taken login, a short password, an unknown role
    for (args, password, needle) in [
        (
            vec!["ana", "--role", "rep"],
            "a long enough password",
            "exists already",
        ),
        (vec!["bob", "--role", "rep"], "short", "at least 8"),
        (
            vec!["bob", "--role", "boss"],
            "a long enough password",
            "--role",
        ),
    ] {
        let out = add_user(ws, &args, password);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
    let users = common::json(ws, &["users", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["owner_id"], rep.as_str());
    assert!(users.to_string().find("argon2").is_none());
    let token = common::ok(ws, &["users", "token", "ana"])
        .trim()
        .to_string();
    assert!(token.starts_with("pw_"));
    common::refused(ws, &["users", "disable", "nobody"], "no user");

    // the server: the token reads ana's deals, nothing else answers without one
    let (mut child, addr) = common::serve(ws);
    let get = |path: &str, auth: &str| {
        http(
            &addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    let (status, body) = get(
        "/api/deals?as_of=2026-03-31&open=true",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    let deals: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(!deals.as_array().unwrap().is_empty());
    assert!(
        deals
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["owner_id"] == rep.as_str())
    );
    assert_eq!(get("/api/deals", "").0, 401);
    // disabled: the token ends
    common::ok(ws, &["users", "disable", "ana"]);
    assert_eq!(
        get("/api/me", &format!("Authorization: Bearer {token}\r\n")).0,
        401
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn the_demo_serves_a_user_of_each_role() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewise"))
        .arg("--workspace")
        .arg(&ws)
        .args(["demo", "--size", "600", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // the credentials (stdout), then the address (stderr)
    let mut passwords = std::collections::BTreeMap::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 4 && words[2] == "password" {
            passwords.insert(words[0].to_string(), words[3].to_string());
        }
        if line.starts_with("Log in:") {
            break;
        }
    }
    assert_eq!(
        passwords.keys().map(String::as_str).collect::<Vec<_>>(),
        ["admin", "exec", "manager", "rep"]
    );
    let addr = std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find_map(|l| {
            l.split("http://")
                .nth(1)
                .and_then(|s| s.split('/').next())
                .map(str::to_string)
        })
        .unwrap();
    for (login, role) in [("rep", "rep"), ("exec", "exec")] {
        let body = format!(
            "{{\"login\":\"{login}\",\"password\":\"{}\"}}",
            passwords[login]
        );
        let (status, reply) = http(
            &addr,
            &format!(
                "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(status, 200, "{login}: {reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["role"], role);
    }
    child.kill().unwrap();
    let _ = child.wait();
}
