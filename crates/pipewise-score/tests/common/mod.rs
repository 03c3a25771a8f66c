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
