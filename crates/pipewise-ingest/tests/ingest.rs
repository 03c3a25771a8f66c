//! End-to-end ingest tests: synth → Salesforce export → ingest → as-of vs the
//! generator's truth; a corrupted export with every row accounted for.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ingest::{DateOrder, IngestOptions, salesforce};
use pipewise_ledger::Store;
use pipewise_ledger::asof::{self, Cut, GroupBy};
use pipewise_model::time::date_of;
use pipewise_model::{Field, SalesProcess, Value};
use pipewise_synth::{Company, Config, Size, generate, truth};
use std::collections::BTreeMap;
use std::path::Path;

fn company(n: usize) -> Company {
    generate(
        &Config::new(11, Size::Opportunities(n)),
        &SalesProcess::default_process(),
        &mut |_, _| {},
    )
}

fn opts(co: &Company) -> IngestOptions {
    IngestOptions::new(co.end, None)
}

#[test]
fn synth_export_ingest_asof_equals_truth_at_every_quarter_end() {
    let process = SalesProcess::default_process();
    let co = company(1500);
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    pipewise_synth::salesforce::write_export(&co, &process, &export).unwrap();
    let ws = dir.path().join("ws");
    let store = Store::init(&ws).unwrap();
    let out = salesforce::ingest(&store, &process, &export, opts(&co)).unwrap();
    assert!(out.report.reconciles());
    assert!(
        out.quarantine.is_empty(),
        "{:?}",
        &out.quarantine[..out.quarantine.len().min(3)]
    );
    assert_eq!(out.summary.opportunities_added, 1500);
    // A clean export contradicts nothing.
    for bad in [
        "history_current_mismatch",
        "stage_outcome_mismatch",
        "orphan_history",
        "orphan_reference",
    ] {
        assert!(
            !out.report.checks.contains_key(bad),
            "{bad}: {:?}",
            out.report.checks.get(bad)
        );
    }

    let log = store.load(None, false).unwrap();
    let quarter_ends = truth::quarter_ends(&co);
    assert_eq!(quarter_ends.len(), 8);
    for &t in &quarter_ends {
        let want: BTreeMap<String, truth::TruthRow> = truth::state_at(&co, &process, t)
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let got = asof::states(&log, Cut::at(t));
        assert_eq!(got.len(), want.len(), "opportunities at {}", date_of(t));
        for s in &got {
            let w = &want[&s.id];
            assert_eq!(
                s.get(&Field::Stage).as_text(),
                Some(w.stage.as_str()),
                "{} stage",
                s.id
            );
            assert_eq!(
                s.get(&Field::Amount).as_number().unwrap_or(0.0),
                w.amount,
                "{} amount",
                s.id
            );
            assert_eq!(
                s.get(&Field::CloseDate).as_date(),
                w.close_date,
                "{} close date",
                s.id
            );
            assert_eq!(
                s.get(&Field::OwnerId).as_text(),
                Some(w.owner_id.as_str()),
                "{} owner",
                s.id
            );
        }
        // Grouped totals by stage and by forecast category equal the truth's.
        for (group, key) in [(GroupBy::Stage, 0), (GroupBy::ForecastCategory, 1)] {
            let mut expect: BTreeMap<String, (u64, f64)> = BTreeMap::new();
            for r in want.values() {
                let k = if key == 0 {
                    r.stage.clone()
                } else {
                    r.forecast_category.clone()
                };
                let e = expect.entry(k).or_default();
                e.0 += 1;
                e.1 += r.amount;
            }
            let got: BTreeMap<String, (u64, f64)> =
                asof::totals(&log, &process, &group, &[Cut::at(t)], false)[0]
                    .iter()
                    .map(|g| (g.group.clone(), (g.count, g.amount)))
                    .collect();
            assert_eq!(got.len(), expect.len());
            for (k, (c, a)) in &expect {
                let (gc, ga) = got[k];
                assert_eq!(gc, *c, "{k} count");
                assert!((ga - a).abs() < 1e-6, "{k} amount {ga} vs {a}");
            }
        }
    }

    // Activities name their contact (WhoId 003…), whose seniority comes from
    // Contact.csv's title: the generator's own seniority for every one.
    let want: BTreeMap<String, String> = co
        .activities
        .iter()
        .filter_map(|a| {
            let id = if a.activity_type == pipewise_model::ActivityType::Meeting {
                a.id.replace("00T", "00U")
            } else {
                a.id.clone()
            };
            Some((id, a.contact_seniority.clone()?))
        })
        .collect();
    assert!(want.len() > 100, "the company has activities with contacts");
    assert!(want.values().any(|s| s == "executive"));
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for b in store.read_table("activities").unwrap() {
        use arrow_array::Array;
        let col = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap()
                .clone()
        };
        let (ids, sen, contact) = (col("id"), col("contact_seniority"), col("contact_id"));
        for i in 0..b.num_rows() {
            if !sen.is_null(i) {
                assert!(contact.value(i).starts_with("003"));
                got.insert(ids.value(i).to_string(), sen.value(i).to_string());
            }
        }
    }
    assert_eq!(got, want);

    // Ingesting the same folder again adds nothing.
    let again = salesforce::ingest(&store, &process, &export, opts(&co)).unwrap();
    assert_eq!(again.summary.events_added, 0);
    assert_eq!(again.summary.opportunities_added, 0);
}

/// Rewrite ISO dates as day-first numeric dates.
fn day_first(v: &str) -> String {
    let b = v.as_bytes();
    if v.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        let (y, m, d) = (&v[0..4], &v[5..7], &v[8..10]);
        if v.len() >= 19 && b[10] == b'T' {
            return format!("{d}/{m}/{y} {}", &v[11..19]);
        }
        if v.len() == 10 {
            return format!("{d}/{m}/{y}");
        }
    }
    v.to_string()
}

struct Corrupted {
    data_rows: BTreeMap<String, u64>,
    duplicates: u64,
    bad_amounts: u64,
    unknown_stages: u64,
    truncated: u64,
    /// Lines given a stray opening quote (one per history/opportunity file).
    stray_quotes: u64,
}

fn corrupt(src: &Path, dst: &Path) -> Corrupted {
    std::fs::create_dir_all(dst).unwrap();
    let mut c = Corrupted {
        data_rows: BTreeMap::new(),
        duplicates: 0,
        bad_amounts: 0,
        unknown_stages: 0,
        truncated: 0,
        stray_quotes: 0,
    };
    let mut names: Vec<_> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(src.join(&name))
            .unwrap();
        let rows: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        let header = rows[0].clone();
        let amount = header.iter().position(|h| h == "Amount");
        let stage = header.iter().position(|h| h == "StageName");
        let mut out: Vec<Vec<String>> = vec![header.clone()];
        for (i, r) in rows[1..].iter().enumerate() {
            let mut r: Vec<String> = r.iter().map(|v| day_first(v)).collect();
            if name == "Opportunity.csv" || name == "OpportunityHistory.csv" {
                if i % 97 == 5
                    && let Some(a) = amount
                    && !r[a].is_empty()
                {
                    r[a] = format!("{}abc", r[a]);
                    c.bad_amounts += 1;
                } else if i % 89 == 7
                    && let Some(s) = stage
                {
                    r[s] = "Demo Scheduled".into();
                    c.unknown_stages += 1;
                }
            }
            out.push(r.clone());
            if i % 101 == 3 {
                out.push(r); // a duplicate line
                c.duplicates += 1;
            }
        }
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(vec![]);
        for r in &out {
            w.write_record(r).unwrap();
        }
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(w.into_inner().unwrap());
        // Truncate the last line of every file: cut it after its first field.
        let body = String::from_utf8(bytes).unwrap();
        let trimmed = body.trim_end_matches("\r\n");
        let last_start = trimmed.rfind("\r\n").unwrap() + 2;
        let last = &trimmed[last_start..];
        let cut = last.find(',').unwrap() + 1;
        let mut truncated = format!("{}{}", &trimmed[..last_start], &last[..cut]);
        c.truncated += 1;
        if name == "Opportunity.csv" || name == "OpportunityHistory.csv" {
            // A stray opening quote in the second field of a line from the
            // 40th on that is unique, not mutated, and whose field is not
            // quoted already: the CSV grammar would run it over the rest.
            let lines: Vec<&str> = truncated.split("\r\n").collect();
            let k = (40..lines.len() - 1)
                .find(|&k| {
                    let l = lines[k];
                    let second = &l[l.find(',').unwrap() + 1..];
                    !second.starts_with('"')
                        && !l.contains("abc")
                        && !l.contains("Demo Scheduled")
                        && lines[k - 1] != l
                        && lines[k + 1] != l
                })
                .unwrap();
            let l = lines[k];
            let at = l.find(',').unwrap() + 1;
            let strayed = format!("{}\"{}", &l[..at], &l[at..]);
            let mut owned: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            owned[k] = strayed;
            truncated = owned.join("\r\n");
            c.stray_quotes += 1;
        }
        std::fs::write(dst.join(&name), truncated).unwrap();
        c.data_rows.insert(name, (out.len() - 1) as u64);
    }
    c
}

#[test]
fn corrupted_export_ingests_with_every_row_accounted_for() {
    let process = SalesProcess::default_process();
    let co = company(600);
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    pipewise_synth::salesforce::write_export(&co, &process, &clean).unwrap();
    let bad = dir.path().join("bad");
    let c = corrupt(&clean, &bad);
    let store = Store::init(&dir.path().join("ws")).unwrap();
    // The unknown stage stops the ingest first, naming it and both files.
    let err = salesforce::ingest(&store, &process, &bad, opts(&co))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"Demo Scheduled\"")
            && err.contains("in Opportunity.csv")
            && err.contains("in OpportunityHistory.csv"),
        "{err}"
    );
    assert_eq!(store.manifest().unwrap().version, 0, "nothing landed");
    // With the stage added as an alias the same export lands.
    let process = SalesProcess::from_toml(
        &pipewise_model::process::DEFAULT_PROCESS_TOML.replace(
            "aliases = [\"Contract Sent\", \"contractsent\"]",
            "aliases = [\"Contract Sent\", \"contractsent\", \"Demo Scheduled\"]",
        ),
        "test.toml",
    )
    .unwrap();
    let out = salesforce::ingest(&store, &process, &bad, opts(&co)).unwrap();
    let r = &out.report;
    assert_eq!(
        r.date_order.as_deref(),
        Some("dmy"),
        "day-first dates are detected"
    );
    assert!(r.reconciles());
    for f in &r.files {
        assert_eq!(
            f.read, c.data_rows[&f.file],
            "{}: every data row is read",
            f.file
        );
        assert_eq!(f.read, f.landed + f.quarantined, "{}", f.file);
        // header + data rows (the truncated last line included) = physical lines
        assert_eq!(f.lines, c.data_rows[&f.file] + 1, "{}", f.file);
        assert_eq!(f.lines, f.lines_read, "{}", f.file);
    }
    let count = |k: &str| r.checks.get(k).map(|c| c.count).unwrap_or(0);
    assert_eq!(
        count("malformed_row"),
        c.truncated + c.stray_quotes,
        "one truncated line per file, one stray quote per opportunity file"
    );
    // A bad amount no longer loses the row: the amount is left unknown.
    assert_eq!(count("field:unparsable_number"), c.bad_amounts);
    assert_eq!(count("unparsable_number"), 0);
    assert!(c.unknown_stages > 0);
    assert_eq!(count("duplicate_row") + count("duplicate_id"), c.duplicates);
    let quarantined: u64 = r.files.iter().map(|f| f.quarantined).sum();
    let rows_out = out
        .quarantine
        .iter()
        .filter(|q| q.scope == pipewise_ingest::Scope::Row)
        .count();
    assert_eq!(quarantined as usize, rows_out);
    // The quarantine file on disk holds every record with file, row, column, raw value, reason.
    let q = std::fs::read_to_string(store.root().join(&out.quarantine_path)).unwrap();
    assert_eq!(q.lines().count(), out.quarantine.len() + 1);
    assert!(q.starts_with("file,row,column,raw_value,reason,detail,action"));
    assert!(q.contains("abc") && q.contains("field left unknown; row landed"));
    assert!(q.contains("stray quote"));
}

#[test]
fn ambiguous_dates_stop_and_ask() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("e");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("Opportunity.csv"),
        "Id,StageName,CreatedDate,CloseDate,Amount\n006A,Discovery,03/04/2025 10:00,05/06/2025,100\n",
    )
    .unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let process = SalesProcess::default_process();
    let as_of = pipewise_model::time::parse_iso_instant("2025-12-31", true).unwrap();
    let err = salesforce::ingest(&store, &process, &export, IngestOptions::new(as_of, None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Opportunity.csv") && err.contains("--date-order"),
        "{err}"
    );
    assert_eq!(store.manifest().unwrap().version, 0, "nothing landed");
    let ok = salesforce::ingest(
        &store,
        &process,
        &export,
        IngestOptions::new(as_of, Some(DateOrder::DayFirst)),
    )
    .unwrap();
    let log = store.load(None, false).unwrap();
    let s = &asof::states(&log, Cut::at(as_of))[0];
    assert_eq!(
        s.get(&Field::CloseDate),
        &Value::Date(pipewise_model::time::ymd(2025, 6, 5).unwrap())
    );
    assert_eq!(ok.summary.opportunities_added, 1);
}

#[test]
fn missing_required_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("e");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("Opportunity.csv"),
        "Id,Stage,CreatedDate\n006A,Discovery,2025-01-01\n",
    )
    .unwrap();
    let store = Store::init(&dir.path().join("ws")).unwrap();
    let as_of = pipewise_model::time::parse_iso_instant("2025-12-31", true).unwrap();
    let err = salesforce::ingest(
        &store,
        &SalesProcess::default_process(),
        &export,
        IngestOptions::new(as_of, None),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Opportunity.csv") && err.contains("\"StageName\""),
        "{err}"
    );
}
