//! A dataset's columns as model features (issue #12: "the fitted model, its
//! features and their encodings"), learnt on the training rows and applied
//! unchanged to any later rows:
//! - numbers (and dates, as days): missing values take the training median,
//!   then are standardised by the training mean and standard deviation;
//! - booleans: 0 / 1;
//! - categories: one indicator per level seen on at least `min_level_rows`
//!   training rows (rarer levels and new ones fall in no indicator);
//! - every column with missing values in training gets a missing indicator;
//! - identifiers, constants and the columns the audit flagged are left out.

use crate::dataset::{ColumnKind, Dataset, Values};
use serde::{Deserialize, Serialize};

/// One model feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Feature {
    /// A standardised number.
    Numeric {
        /// The column.
        column: String,
        /// The training median, for missing values.
        median: f64,
        /// The training mean.
        mean: f64,
        /// The training standard deviation (1 when it is 0).
        sd: f64,
    },
    /// A 0 / 1 value (missing: 0).
    Boolean {
        /// The column.
        column: String,
    },
    /// 1 when the column holds this level.
    Level {
        /// The column.
        column: String,
        /// The level.
        level: String,
    },
    /// 1 when the column is missing.
    Missing {
        /// The column.
        column: String,
    },
    /// For trees: the value as it is (numbers, dates as days, booleans 0 /
    /// 1), missing as NaN (the trees learn where missing values go).
    Raw {
        /// The column.
        column: String,
    },
    /// For trees: a category as its rank among the training levels ordered
    /// by their positive rate (one column, however many levels), rarer and
    /// unseen levels at the rank of the overall rate, missing as NaN.
    Ordinal {
        /// The column.
        column: String,
        /// The levels with enough training rows, by positive rate.
        levels: Vec<String>,
        /// The rank of every other level.
        other: f64,
    },
}

impl Feature {
    /// The feature's name in model cards and explanations.
    pub fn name(&self) -> String {
        match self {
            Feature::Numeric { column, .. } | Feature::Boolean { column } => column.clone(),
            Feature::Level { column, level } => format!("{column} = {level}"),
            Feature::Missing { column } => format!("{column} is missing"),
            Feature::Raw { column } | Feature::Ordinal { column, .. } => column.clone(),
        }
    }

    /// The column the feature is read from.
    pub fn column(&self) -> &str {
        match self {
            Feature::Numeric { column, .. }
            | Feature::Boolean { column }
            | Feature::Level { column, .. }
            | Feature::Missing { column }
            | Feature::Raw { column }
            | Feature::Ordinal { column, .. } => column,
        }
    }
}

/// How a dataset's columns become features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    /// The features, in order.
    pub features: Vec<Feature>,
}

impl Encoding {
    /// Learn the encoding on the rows `train` (indexes) of `ds`, leaving out
    /// the columns named in `skip`.
    pub fn fit(ds: &Dataset, train: &[usize], skip: &[String], min_level_rows: usize) -> Encoding {
        let mut features = Vec::new();
        for c in &ds.columns {
            if skip.contains(&c.name)
                || matches!(c.kind, ColumnKind::Identifier | ColumnKind::Constant)
            {
                continue;
            }
            let column = c.name.clone();
            let mut any_missing = false;
            match &c.values {
                Values::Numbers(v) if c.kind == ColumnKind::Boolean => {
                    any_missing = train.iter().any(|&i| v[i].is_none());
                    features.push(Feature::Boolean {
                        column: column.clone(),
                    });
                }
                Values::Numbers(v) => {
                    let mut present: Vec<f64> = train.iter().filter_map(|&i| v[i]).collect();
                    any_missing = present.len() < train.len();
                    if present.is_empty() {
                        continue;
                    }
                    present.sort_by(f64::total_cmp);
                    let median = present[present.len() / 2];
                    let filled: Vec<f64> = train.iter().map(|&i| v[i].unwrap_or(median)).collect();
                    let n = filled.len() as f64;
                    let mean = filled.iter().sum::<f64>() / n;
                    let var = filled.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
                    features.push(Feature::Numeric {
                        column: column.clone(),
                        median,
                        mean,
                        sd,
                    });
                }
                Values::Levels { levels, codes } => {
                    let mut counts = vec![0usize; levels.len()];
                    for &i in train {
                        match codes[i] {
                            Some(l) => counts[l as usize] += 1,
                            None => any_missing = true,
                        }
                    }
                    for (l, level) in levels.iter().enumerate() {
                        if counts[l] >= min_level_rows.max(1) {
                            features.push(Feature::Level {
                                column: column.clone(),
                                level: level.clone(),
                            });
                        }
                    }
                }
            }
            if any_missing {
                features.push(Feature::Missing { column });
            }
        }
        Encoding { features }
    }

    /// Learn an encoding for trees on the rows `train` of `ds`: one feature
    /// per column (numbers as they are, categories as ranks by their
    /// training positive rate), missing values as NaN. The ranks read the
    /// training rows' outcomes, so out-of-fold scores need an encoding
    /// learnt on each fold's own training rows.
    pub fn fit_trees(
        ds: &Dataset,
        train: &[usize],
        skip: &[String],
        min_level_rows: usize,
    ) -> Encoding {
        let mut features = Vec::new();
        let overall =
            train.iter().filter(|&&i| ds.target[i]).count() as f64 / train.len().max(1) as f64;
        for c in &ds.columns {
            if skip.contains(&c.name)
                || matches!(c.kind, ColumnKind::Identifier | ColumnKind::Constant)
            {
                continue;
            }
            let column = c.name.clone();
            match &c.values {
                Values::Numbers(v) => {
                    if train.iter().any(|&i| v[i].is_some()) {
                        features.push(Feature::Raw { column });
                    }
                }
                Values::Levels { levels, codes } => {
                    let mut counts = vec![(0usize, 0usize); levels.len()];
                    for &i in train {
                        if let Some(l) = codes[i] {
                            counts[l as usize].0 += 1;
                            counts[l as usize].1 += usize::from(ds.target[i]);
                        }
                    }
                    let mut kept: Vec<(f64, &String)> = levels
                        .iter()
                        .zip(&counts)
                        .filter(|(_, (n, _))| *n >= min_level_rows.max(1))
                        .map(|(l, (n, pos))| (*pos as f64 / *n as f64, l))
                        .collect();
                    if kept.is_empty() {
                        continue;
                    }
                    kept.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
                    let other = kept.partition_point(|(r, _)| *r < overall) as f64 - 0.5;
                    features.push(Feature::Ordinal {
                        column,
                        levels: kept.into_iter().map(|(_, l)| l.clone()).collect(),
                        other,
                    });
                }
            }
        }
        Encoding { features }
    }

    /// The feature values of row `i` of `ds` (a dataset with the same columns).
    pub fn row(&self, ds: &Dataset, i: usize) -> Vec<f64> {
        self.rows(ds, &[i]).pop().unwrap_or_default()
    }

    /// The feature values of rows `idx` of `ds`, each feature's column found
    /// once.
    pub fn rows(&self, ds: &Dataset, idx: &[usize]) -> Vec<Vec<f64>> {
        let columns: Vec<Option<&crate::dataset::Column>> = self
            .features
            .iter()
            .map(|f| ds.columns.iter().find(|c| c.name == f.column()))
            .collect();
        idx.iter()
            .map(|&i| {
                self.features
                    .iter()
                    .zip(&columns)
                    .map(|(f, c)| c.map_or(0.0, |c| value(f, &c.values, i)))
                    .collect()
            })
            .collect()
    }
}

/// Feature `f`'s value on row `i` of a column holding `values`.
fn value(f: &Feature, values: &Values, i: usize) -> f64 {
    match (f, values) {
        (
            Feature::Numeric {
                median, mean, sd, ..
            },
            Values::Numbers(v),
        ) => (v[i].unwrap_or(*median) - mean) / sd,
        (Feature::Boolean { .. }, Values::Numbers(v)) => v[i].unwrap_or(0.0),
        (Feature::Level { level, .. }, Values::Levels { levels, codes }) => f64::from(u8::from(
            codes[i].is_some_and(|l| levels[l as usize] == *level),
        )),
        (Feature::Missing { .. }, Values::Numbers(v)) => f64::from(u8::from(v[i].is_none())),
        (Feature::Missing { .. }, Values::Levels { codes, .. }) => {
            f64::from(u8::from(codes[i].is_none()))
        }
        (Feature::Raw { .. }, Values::Numbers(v)) => v[i].unwrap_or(f64::NAN),
        (
            Feature::Ordinal {
                levels: ranked,
                other,
                ..
            },
            Values::Levels { levels, codes },
        ) => codes[i].map_or(f64::NAN, |l| {
            let v = &levels[l as usize];
            ranked
                .iter()
                .position(|r| r == v)
                .map_or(*other, |p| p as f64)
        }),
        _ => 0.0,
    }
}
