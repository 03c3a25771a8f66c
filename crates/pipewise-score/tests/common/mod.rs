//! What the tests against scikit-learn's fixtures share: reading a JSON
//! array of numbers or of 0 / 1 outcomes.

#![allow(dead_code)] // each test binary uses its own part of it

use serde_json::Value;

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A JSON array of 0 / 1 outcomes as classes.
pub fn outcomes(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() == 1)
        .collect()
}

/// The X Education leads (`../shared/data/x_education/Leads.csv`, target
/// `Converted`, `Select` read as missing).
pub fn x_education_leads() -> pipewise_score::dataset::Dataset {
    use pipewise_score::dataset::{LoadOptions, load_csv};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/x_education/Leads.csv");
    assert!(
        path.exists(),
        "{} is missing (../shared/data, see its README)",
        path.display()
    );
    load_csv(
        &path,
        &LoadOptions {
            target: "Converted".into(),
            id: Some("Prospect ID".into()),
            missing: vec!["Select".into()],
            ..Default::default()
        },
    )
    .unwrap()
}

/// The X Education leads read with the `Select` placeholder as missing, the
/// audited columns left out, encoded on the even rows: the dataset, its
/// encoding, and the even (training) and odd (test) row numbers.
pub fn x_education() -> (
    pipewise_score::dataset::Dataset,
    pipewise_score::encode::Encoding,
    Vec<usize>,
    Vec<usize>,
) {
    let ds = x_education_leads();
    let skip: Vec<String> = pipewise_score::leakage::audit(&ds, &[])
        .into_iter()
        .map(|f| f.name)
        .collect();
    let n = ds.target.len();
    let train: Vec<usize> = (0..n).step_by(2).collect();
    let test: Vec<usize> = (1..n).step_by(2).collect();
    let enc = pipewise_score::encode::Encoding::fit(&ds, &train, &skip, 20);
    (ds, enc, train, test)
}
