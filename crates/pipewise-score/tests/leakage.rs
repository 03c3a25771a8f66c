//! The leakage audit and the flat-file reader on the X Education leads
//! (`../shared/data/x_education/Leads.csv`, target `Converted`; the data's
//! README documents what is expected here: `Select` means missing, Tags and
//! Lead Quality are set by sales staff after contact), and on small files
//! written by hand.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use pipewise_score::dataset::{ColumnKind, LoadOptions, load_csv};
use pipewise_score::leakage::{alone_auc, audit};

fn leads() -> pipewise_score::dataset::Dataset {
    common::x_education_leads()
}

#[test]
fn x_education_columns_are_typed_and_counted() {
    let ds = leads();
    // 9,240 leads: 5,679 not converted, 3,561 converted (the data's README)
    assert_eq!(ds.target.len(), 9240);
    assert_eq!(ds.target.iter().filter(|&&v| v).count(), 3561);
    assert!(ds.left_out.is_empty());
    let col = |n: &str| ds.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(col("TotalVisits").kind, ColumnKind::Numeric);
    assert_eq!(col("TotalVisits").missing, 137);
    assert_eq!(col("Do Not Email").kind, ColumnKind::Boolean);
    assert_eq!(col("Lead Number").kind, ColumnKind::Identifier);
    assert_eq!(col("Magazine").kind, ColumnKind::Constant);
    assert_eq!(col("Lead Origin").kind, ColumnKind::Categorical);
    assert_eq!(col("Lead Origin").distinct, 5);
    // `Select` is missing: City 2,249 of them, plus its blanks
    let city = col("City");
    assert!(city.missing >= 2249, "{}", city.missing);
    assert_eq!(col("Lead Quality").missing, 4767);
}

#[test]
fn x_education_leaks_are_flagged_with_their_reasons() {
    let ds = leads();
    let flags = audit(&ds, &[]);
    let reason = |n: &str| flags.iter().find(|f| f.name == n).map(|f| f.reason.clone());
    for (name, says) in [
        ("Tags", "tags are set by staff"),
        ("Lead Quality", "quality judgement"),
        ("Last Activity", "last activity"),
        ("Last Notable Activity", "last activity"),
        ("Lead Number", "identifier"),
        ("Magazine", "one value"),
    ] {
        let r = reason(name).unwrap_or_else(|| panic!("{name} is not flagged: {flags:?}"));
        assert!(r.contains(says), "{name}: {r}");
    }
    // ordinary features stay
    for name in [
        "Lead Origin",
        "Lead Source",
        "TotalVisits",
        "Total Time Spent on Website",
    ] {
        assert!(reason(name).is_none(), "{name} flagged: {:?}", reason(name));
    }
    // Tags alone: AUC 0.919 by scikit-learn's roc_auc_score on 2-fold target
    // encoding (a different fold split): above the 0.9 line either way
    let tags = ds.columns.iter().find(|c| c.name == "Tags").unwrap();
    let a = alone_auc(tags, &ds.target).unwrap();
    assert!(a > 0.9 && a < 0.95, "{a}");
    // --allow-feature keeps one
    let kept = audit(&ds, &["Tags".to_string()]);
    assert!(kept.iter().all(|f| f.name != "Tags"));
}

#[test]
fn a_field_that_separates_alone_is_flagged_by_its_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("list.csv");
    let mut text = String::from("id,score_band,visits,won\n");
    for i in 0..200 {
        let won = i % 3 == 0;
        // score_band is the outcome in disguise; visits is noise
        let band = if won { "A" } else { "C" };
        text.push_str(&format!(
            "r{i},{band},{},{}\n",
            (i * 7) % 11,
            if won { "yes" } else { "no" }
        ));
    }
    text.push_str("r-x,B,3,\n"); // a row without its target: left out, listed
    std::fs::write(&p, text).unwrap();
    let ds = load_csv(
        &p,
        &LoadOptions {
            target: "won".into(),
            id: Some("id".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.positive, "yes");
    assert_eq!(ds.left_out.len(), 1);
    assert_eq!(ds.left_out[0].line, 202);
    let flags = audit(&ds, &[]);
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0].name, "score_band");
    assert!(
        flags[0].reason.contains("separates the classes"),
        "{}",
        flags[0].reason
    );
    // a target with three classes needs --positive
    let q = dir.path().join("three.csv");
    std::fs::write(&q, "x,t\n1,a\n2,b\n3,c\n").unwrap();
    let e = load_csv(
        &q,
        &LoadOptions {
            target: "t".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("--positive"), "{e}");
}
