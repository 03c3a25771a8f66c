//! Reading a file to score with a trained model's columns: values that do
//! not read as the column's kind are scored as missing and reported with
//! their line, column and raw value; a column the model reads must be there.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

use pipewise_score::dataset::{
    ColumnKind, DatasetError, Expected, LoadOptions, Values, load_for_scoring,
};

#[test]
fn scoring_reads_the_models_kinds_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("new.csv");
    std::fs::write(&f, "id,visits,vip,created,source\na,3,yes,2026-01-05,Web\nb,lots,no,yesterday,Select\nc,,maybe,2026-01-07,Event\n").unwrap();
    let expected = [
        Expected {
            name: "visits".into(),
            kind: ColumnKind::Numeric,
        },
        Expected {
            name: "vip".into(),
            kind: ColumnKind::Boolean,
        },
        Expected {
            name: "created".into(),
            kind: ColumnKind::Date,
        },
        Expected {
            name: "source".into(),
            kind: ColumnKind::Categorical,
        },
    ];
    let opts = LoadOptions {
        target: String::new(),
        id: Some("id".into()),
        missing: vec!["Select".into()],
        ..Default::default()
    };
    let (ds, bad) = load_for_scoring(&f, &opts, "1", &expected).unwrap();
    assert_eq!(ds.ids, ["a", "b", "c"]);
    assert!(ds.target.is_empty());
    assert_eq!(
        ds.columns[0].values,
        Values::Numbers(vec![Some(3.0), None, None])
    );
    assert_eq!(
        ds.columns[2].values,
        Values::Numbers(vec![Some(20_458.0), None, Some(20_460.0)])
    );
    let seen: Vec<(u64, &str, &str)> = bad
        .iter()
        .map(|u| (u.line, u.column.as_str(), u.value.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (3, "visits", "lots"),
            (4, "vip", "maybe"),
            (3, "created", "yesterday")
        ]
    );
    // the placeholder is missing, not a level
    assert_eq!(ds.columns[3].missing, 1);

    let gone = [Expected {
        name: "budget".into(),
        kind: ColumnKind::Numeric,
    }];
    match load_for_scoring(&f, &opts, "1", &gone) {
        Err(DatasetError::MissingColumns { columns, .. }) => assert_eq!(columns, "budget"),
        other => panic!("{other:?}"),
    }
}
