//! Deal rows from a ledger: no look-ahead (events recorded after a cut —
//! late, backdated corrections and later changes alike — leave that cut's
//! features byte-identical), and the features and labels of a hand-written
//! deal worked out by hand.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_ledger::{Commit, Cut, NewOpportunity, Store};
use pipewise_model::time::{MICROS_PER_DAY, parse_iso_instant};
use pipewise_model::{Field, OpportunityEvent, SalesProcess, Value};
use pipewise_score::dataset::Values;
use pipewise_score::deals::history::DealHistory;
use pipewise_score::deals::rows::{DealRows, Outcome, Period, scoring_rows, training_rows};

/// A synthetic company of `n` deals from `seed`, committed to a ledger in `dir`.
fn synth_store(dir: &std::path::Path, seed: u64, n: usize) -> (Store, pipewise_synth::Company) {
    let process = SalesProcess::default_process();
    let config = pipewise_synth::Config::new(seed, pipewise_synth::Size::Opportunities(n));
    let company = pipewise_synth::generate(&config, &process, &mut |_, _| {});
    let store = Store::init(dir).unwrap();
    company.commit(&store).unwrap();
    (store, company)
}

fn company_store(dir: &std::path::Path) -> (Store, pipewise_synth::Company) {
    synth_store(dir, 3, 400)
}

/// The deal history of a synthetic company (see [`synth_store`]).
fn synth_history(dir: &std::path::Path, seed: u64, n: usize) -> DealHistory {
    let (store, _) = synth_store(dir, seed, n);
    DealHistory::load(&store, SalesProcess::default_process()).unwrap()
}

/// The rows of cuts up to `c`, as text: every feature of every row.
fn rows_up_to(rows: &DealRows, c: i64) -> String {
    let mut s = String::new();
    for i in 0..rows.keys.len() {
        if rows.cuts[i] > c {
            continue;
        }
        s.push_str(&format!("{} {} ", rows.cuts[i], rows.dataset.ids[i]));
        for col in &rows.dataset.columns {
            match &col.values {
                Values::Numbers(v) => s.push_str(&format!("{:?},", v[i].map(f64::to_bits))),
                Values::Levels { levels, codes } => {
                    s.push_str(&format!("{:?},", codes[i].map(|c| &levels[c as usize])))
                }
            }
        }
        s.push('\n');
    }
    s
}

#[test]
fn deals_no_look_ahead() {
    let process = SalesProcess::default_process();
    let a = tempfile::tempdir().unwrap();
    let (store_a, company) = company_store(a.path());
    let b = tempfile::tempdir().unwrap();
    let (store_b, _) = company_store(b.path());
    let cut = parse_iso_instant("2025-11-15", true).unwrap();
    let known = parse_iso_instant("2026-06-30", true).unwrap();
    // In B: for every deal, a backdated amount and close-date change effective
    // before the cut but recorded the day after it, a stage change after the
    // cut, and a brand-new deal created before the cut but recorded after it.
    let mut events = Vec::new();
    for o in company.opportunities.iter().take(200) {
        let ev = |field: Field, v: Value, eff: i64, rec: i64| OpportunityEvent {
            opportunity_id: o.id.clone(),
            field,
            old_value: Value::Null,
            new_value: v,
            effective_at: eff,
            recorded_at: rec,
            source: "late".into(),
        };
        events.push(ev(
            Field::Amount,
            Value::Number(1.0),
            cut - MICROS_PER_DAY,
            cut + MICROS_PER_DAY,
        ));
        events.push(ev(
            Field::CloseDate,
            Value::Date(30_000),
            cut - 2 * MICROS_PER_DAY,
            cut + 1,
        ));
        events.push(ev(
            Field::Stage,
            Value::Text("Closed Lost".into()),
            cut + 3 * MICROS_PER_DAY,
            cut + 3 * MICROS_PER_DAY,
        ));
    }
    events.push(OpportunityEvent {
        opportunity_id: "late-deal".into(),
        field: Field::Stage,
        old_value: Value::Null,
        new_value: Value::Text("Discovery".into()),
        effective_at: cut - 30 * MICROS_PER_DAY,
        recorded_at: cut + MICROS_PER_DAY,
        source: "late".into(),
    });
    let base = store_b.manifest().unwrap();
    store_b
        .commit(
            &base,
            Commit {
                new_opportunities: vec![NewOpportunity {
                    id: "late-deal".into(),
                    created_at: cut - 30 * MICROS_PER_DAY,
                }],
                events,
                ..Default::default()
            },
        )
        .unwrap();
    let ha = DealHistory::load(&store_a, process.clone()).unwrap();
    let hb = DealHistory::load(&store_b, process.clone()).unwrap();
    let ra = training_rows(&ha, Some(known), 1_000_000, &[]);
    let rb = training_rows(&hb, Some(known), 1_000_000, &[]);
    let (ta, tb) = (rows_up_to(&ra, cut), rows_up_to(&rb, cut));
    assert!(ta.lines().count() > 1000, "{} rows", ta.lines().count());
    assert!(ta == tb, "rows up to the cut differ");
    // …while later cuts do see the changes (the test can fail)
    assert_ne!(ra.keys.len(), rb.keys.len());
    // scoring as of the cut, as known then, is the same too
    let period = Period::quarter_of(cut, 1);
    let sa = scoring_rows(&ha, Cut::known_at(cut), period, &[]);
    let sb = scoring_rows(&hb, Cut::known_at(cut), period, &[]);
    assert_eq!(rows_up_to(&sa, cut), rows_up_to(&sb, cut));
    // but not as of the cut with everything recorded since (the backdated changes show)
    let late = scoring_rows(&hb, Cut::at(cut), period, &[]);
    assert_ne!(rows_up_to(&sa, cut), rows_up_to(&late, cut));
}

#[test]
fn one_deal_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let day = |s: &str| parse_iso_instant(s, false).unwrap();
    let ev = |field: Field, v: Value, at: &str| OpportunityEvent {
        opportunity_id: "d1".into(),
        field,
        old_value: Value::Null,
        new_value: v,
        effective_at: day(at),
        recorded_at: day(at),
        source: "hand".into(),
    };
    let date = |s: &str| Value::Date(pipewise_model::time::date_of(day(s)));
    let events = vec![
        ev(Field::Stage, Value::Text("Discovery".into()), "2025-01-06"),
        ev(Field::Amount, Value::Number(10_000.0), "2025-01-06"),
        ev(Field::CloseDate, date("2025-03-15"), "2025-01-06"),
        ev(Field::Segment, Value::Text("SMB".into()), "2025-01-06"),
        ev(Field::Amount, Value::Number(15_000.0), "2025-02-01"),
        ev(Field::CloseDate, date("2025-03-31"), "2025-02-10"), // pushed
        ev(Field::CloseDate, date("2025-03-20"), "2025-02-12"), // pulled in: not a push
        ev(Field::Stage, Value::Text("Proposal".into()), "2025-02-20"),
        ev(Field::Stage, Value::Text("Closed Won".into()), "2025-03-25"),
    ];
    let base = store.manifest().unwrap();
    store
        .commit(
            &base,
            Commit {
                new_opportunities: vec![NewOpportunity {
                    id: "d1".into(),
                    created_at: day("2025-01-06"),
                }],
                events,
                ..Default::default()
            },
        )
        .unwrap();
    let h = DealHistory::load(&store, SalesProcess::default_process()).unwrap();
    let t = parse_iso_instant("2025-03-01", true).unwrap();
    let period = Period::quarter_of(t, 1);
    let rows = scoring_rows(&h, Cut::known_at(t), period, &[]);
    let column = |name: &str| {
        rows.dataset
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap()
    };
    let value = |name: &str| -> Option<f64> {
        match &column(name).values {
            Values::Numbers(v) => v[0],
            Values::Levels { .. } => panic!("{name} is categorical"),
        }
    };
    let level = |name: &str| -> Option<String> {
        match &column(name).values {
            Values::Levels { levels, codes } => codes[0].map(|c| levels[c as usize].clone()),
            Values::Numbers(_) => panic!("{name} is numeric"),
        }
    };
    assert_eq!(rows.keys.len(), 1);
    assert_eq!(level("stage").as_deref(), Some("Proposal"));
    // 2025-02-20 00:00 to 2025-03-01 23:59:59.999999: 9 days and a day less a microsecond
    assert!((value("days in stage").unwrap() - 10.0).abs() < 1e-6);
    assert_eq!(value("amount"), Some(15_000.0));
    assert_eq!(value("amount changes"), Some(1.0));
    assert_eq!(value("amount against the first"), Some(1.5));
    assert_eq!(value("close date pushes"), Some(1.0));
    assert_eq!(value("days to close date"), Some(19.0)); // 03-20 − 03-01
    assert_eq!(value("close date in period"), Some(1.0));
    assert_eq!(value("days left in period"), Some(30.0)); // 03-31 − 03-01
    assert_eq!(level("segment").as_deref(), Some("SMB"));
    assert_eq!(value("days since the last activity"), None);
    // its label: won by the end of 2025-Q1
    let train = training_rows(
        &h,
        Some(parse_iso_instant("2025-06-30", true).unwrap()),
        1000,
        &[],
    );
    // (weekly cuts from four weeks after the deal was created: 2025-02-03, -10, -17, -24, 03-03, …)
    let monday = parse_iso_instant("2025-02-24", true).unwrap();
    let i = train.cuts.iter().position(|&c| c == monday).unwrap();
    assert_eq!(train.outcomes[i], Some(Outcome::Won));
    // a cut in Q1 is labelled by the end of Q1 only; no Q2 cut (the deal is closed)
    assert!(
        train
            .periods
            .iter()
            .all(|p| p.last == pipewise_model::time::ymd(2025, 3, 31).unwrap())
    );
}

#[test]
fn small_data_uses_the_pooled_model_and_says_why() {
    use pipewise_score::deals::model::{DealModel, DealOptions};
    let dir = tempfile::tempdir().unwrap();
    let h = synth_history(dir.path(), 8, 120);
    let o = DealOptions::default();
    let m = DealModel::train(&h, &o).unwrap();
    assert_eq!(m.card.in_use, "pooled");
    assert!(m.card.why.contains("fewer than the 100"), "{}", m.card.why);
    assert!(m.rich.is_none());
    // the same history gives the same model, byte for byte
    let again = DealModel::train(&h, &o).unwrap();
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    // every open deal's three probabilities sum to one, inside its interval
    let t = parse_iso_instant("2026-05-15", true).unwrap();
    let scores = m.score(
        &h,
        Cut::at(t),
        Period::quarter_of(t, 1),
        3,
        Some(pipewise_score::boosted::Attribution::Shapley),
    );
    assert!(!scores.is_empty());
    for s in &scores {
        assert!((s.p_won + s.p_lost + s.p_slipped - 1.0).abs() < 1e-12);
        assert!(
            s.won_interval.0 <= s.p_won && s.p_won <= s.won_interval.1,
            "{s:?}"
        );
        assert_eq!(s.model, "pooled");
        assert!(s.factors[0].text.contains("deal-periods"));
    }
}

#[test]
fn the_learned_model_takes_over_with_enough_data_and_beats_the_base_rates() {
    use pipewise_score::deals::model::{DealModel, DealOptions};
    let dir = tempfile::tempdir().unwrap();
    let h = synth_history(dir.path(), 11, 700);
    let mut o = DealOptions::default();
    o.train.candidates = pipewise_score::model::Candidates::Logistic; // fast in a debug build
    let m = DealModel::train(&h, &o).unwrap();
    let v = &m.card.validation;
    assert_eq!(v.len(), 2, "{:?}", m.card.why);
    // the base rates' log loss on the test periods: −Σ share·ln share of
    // the training outcome shares, at worst; both models must beat ln 3
    for x in v {
        assert!(x.log_loss < 3f64.ln(), "{} {}", x.model, x.log_loss);
        assert!(x.won_auc.unwrap() > 0.7, "{} {:?}", x.model, x.won_auc);
    }
    // both beat the base rates, and the pooled model is calibrated: in every
    // bin of P(won) with 100 rows or more, predicted and observed agree within 10 points
    let base = m.card.baseline.as_ref().unwrap();
    for x in v {
        assert!(
            x.log_loss < base.log_loss && x.brier < base.brier,
            "{x:?} vs {base:?}"
        );
    }
    for b in v[0].won_reliability.iter().filter(|b| b.rows >= 100) {
        assert!((b.predicted - b.observed).abs() < 0.1, "{b:?}");
    }
    let chosen = if v[1].log_loss < v[0].log_loss {
        "learned"
    } else {
        "pooled"
    };
    assert_eq!(m.card.in_use, chosen);
}

#[test]
fn a_custom_field_filled_in_at_the_close_is_flagged() {
    use pipewise_score::deals::leakage::audit;
    use pipewise_score::deals::model::{DealModel, DealOptions};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let day = |d: i64| parse_iso_instant("2025-01-06", false).unwrap() + d * MICROS_PER_DAY;
    let mut news = Vec::new();
    let mut events = Vec::new();
    for n in 0..12 {
        let id = format!("d{n}");
        let ev = |field: Field, v: Value, at: i64| OpportunityEvent {
            opportunity_id: id.clone(),
            field,
            old_value: Value::Null,
            new_value: v,
            effective_at: at,
            recorded_at: at,
            source: "hand".into(),
        };
        news.push(NewOpportunity {
            id: id.clone(),
            created_at: day(n),
        });
        events.push(ev(Field::Stage, Value::Text("Discovery".into()), day(n)));
        events.push(ev(
            Field::Custom("tier".into()),
            Value::Text(["gold", "silver"][n as usize % 2].into()),
            day(n),
        ));
        let close = day(n + 40);
        let won = n % 3 != 0;
        events.push(ev(
            Field::Stage,
            Value::Text(if won { "Closed Won" } else { "Closed Lost" }.into()),
            close,
        ));
        // filled in a day before the close on 10 deals, at creation on 2: 10 of 12 near the close
        let at = if n < 10 {
            close - MICROS_PER_DAY
        } else {
            day(n)
        };
        events.push(ev(
            Field::Custom("win_notes".into()),
            Value::Text(if won { "champion" } else { "price" }.into()),
            at,
        ));
    }
    // a later deal, so that the first quarter has ended when the ledger was last written to
    news.push(NewOpportunity {
        id: "later".into(),
        created_at: day(200),
    });
    events.push(OpportunityEvent {
        opportunity_id: "later".into(),
        field: Field::Stage,
        old_value: Value::Null,
        new_value: Value::Text("Discovery".into()),
        effective_at: day(200),
        recorded_at: day(200),
        source: "hand".into(),
    });
    let base = store.manifest().unwrap();
    store
        .commit(
            &base,
            Commit {
                new_opportunities: news,
                events,
                ..Default::default()
            },
        )
        .unwrap();
    let h = DealHistory::load(&store, SalesProcess::default_process()).unwrap();
    let a = audit(&h, None);
    let by = |n: &str| a.iter().find(|x| x.name == n).unwrap();
    assert_eq!(
        (
            by("custom.win_notes").closed_with_value,
            by("custom.win_notes").first_near_close
        ),
        (12, 10)
    );
    assert!(
        by("custom.win_notes")
            .flag
            .as_ref()
            .unwrap()
            .reason
            .contains("10 of the 12")
    );
    assert_eq!(by("custom.tier").first_near_close, 0);
    assert!(by("custom.tier").flag.is_none());
    // as recorded before any close, nothing is closed, so nothing is flagged
    assert!(
        audit(&h, Some(day(30)))
            .iter()
            .all(|x| x.flag.is_none() && x.closed_with_value == 0)
    );
    let m = DealModel::train(&h, &DealOptions::default()).unwrap();
    let flagged: Vec<&str> = m
        .card
        .flagged_features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(flagged, ["loss_reason", "custom.win_notes"]);
    assert_eq!(m.custom, ["custom.tier"]);
    // the kept field is a feature of the rows
    let t = day(20) + MICROS_PER_DAY - 1;
    let rows = scoring_rows(&h, Cut::known_at(t), Period::quarter_of(t, 1), &m.custom);
    let tier = rows
        .dataset
        .columns
        .iter()
        .find(|c| c.name == "custom.tier")
        .unwrap();
    assert_eq!(tier.distinct, 2);
}

#[test]
fn tree_factors_are_shapley_for_a_few_deals_and_the_probabilities_never_depend_on_them() {
    use pipewise_score::boosted::Attribution;
    use pipewise_score::deals::model::{DealModel, DealOptions};
    let dir = tempfile::tempdir().unwrap();
    let h = synth_history(dir.path(), 11, 700);
    let mut o = DealOptions::default();
    o.train.candidates = pipewise_score::model::Candidates::Boosted;
    o.train.boost.trees = 20; // fast in a debug build
    let m = DealModel::train(&h, &o).unwrap();
    assert!(
        m.rich.as_ref().is_some_and(|r| r.is_boosted()),
        "{}",
        m.card.why
    );
    let t = parse_iso_instant("2026-05-15", true).unwrap();
    let score = |method| m.score(&h, Cut::at(t), Period::quarter_of(t, 1), 3, method);
    let (auto, shapley, path, none) = (
        score(None),
        score(Some(Attribution::Shapley)),
        score(Some(Attribution::Path)),
        m.score(&h, Cut::at(t), Period::quarter_of(t, 1), 0, None),
    );
    assert!(!auto.is_empty() && auto.len() <= Attribution::SHAPLEY_UP_TO);
    assert_eq!(
        Attribution::auto(Attribution::SHAPLEY_UP_TO + 1),
        Attribution::Path
    );
    for (((a, s), p), n) in auto.iter().zip(&shapley).zip(&path).zip(&none) {
        // a few deals: auto is exact
        assert_eq!(a.attribution, Some(Attribution::Shapley));
        assert_eq!(p.attribution, Some(Attribution::Path));
        assert_eq!(n.attribution, None);
        assert_eq!(a.factors, s.factors);
        // the same probabilities, bit for bit, whatever the factors
        for x in [s, p, n] {
            assert_eq!(
                (a.p_won.to_bits(), a.p_lost.to_bits(), a.p_slipped.to_bits()),
                (x.p_won.to_bits(), x.p_lost.to_bits(), x.p_slipped.to_bits())
            );
        }
    }
    // path and Shapley factors mostly name the same strongest column
    let agree = shapley
        .iter()
        .zip(&path)
        .filter(|(s, p)| {
            let column = |f: &[pipewise_score::deals::model::DealFactor]| {
                f.first()
                    .map(|f| f.text.split(" is ").next().unwrap_or("").to_string())
            };
            column(&s.factors) == column(&p.factors)
        })
        .count();
    assert!(agree * 2 > shapley.len(), "{agree} of {}", shapley.len());
}
