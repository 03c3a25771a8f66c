//! A flat file with a binary target as typed columns (issue #12 §2: "`train`
//! and `validate` accept any CSV with a binary target"), for scoring a list
//! that never went through the ledger.
//!
//! Each column's kind is inferred from its values and reported:
//! numeric (every value a number), boolean (two values such as Yes / No),
//! date (ISO `YYYY-MM-DD…`), identifier (a different value on every row,
//! which cannot generalise), constant (one value), else categorical. Values
//! listed as placeholders (`Select`) and empty cells are missing. A row whose
//! target is not one of the two classes is left out and listed with its line
//! and value: nothing is dropped silently.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Why a file could not be read as a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened or parsed as CSV.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The target column is not in the header.
    #[error("{path}: no column {column:?}; the columns are {columns}")]
    NoTarget {
        /// The file.
        path: String,
        /// The column asked for.
        column: String,
        /// The header's columns.
        columns: String,
    },
    /// The target does not have exactly two classes.
    #[error(
        "{path}: the target {column:?} has the values {values}; give --positive VALUE to say which one is the positive class"
    )]
    NotBinary {
        /// The file.
        path: String,
        /// The target column.
        column: String,
        /// Its distinct values (the first few).
        values: String,
    },
    /// A column a model reads is not in the file.
    #[error("{path}: the model reads the columns {columns}, which the file does not have")]
    MissingColumns {
        /// The file.
        path: String,
        /// The columns missing.
        columns: String,
    },
}

/// How to read a flat file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The target column.
    pub target: String,
    /// The value of the positive class (default: `1`, `true`, `yes`, `y`, any
    /// case, when the target has exactly two values and one of them is that).
    pub positive: Option<String>,
    /// An id column, kept to name rows and never a feature.
    pub id: Option<String>,
    /// Values that mean "missing" besides the empty cell (e.g. `Select`).
    pub missing: Vec<String>,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Every present value is a number.
    Numeric,
    /// Two values (yes / no, true / false, 1 / 0, y / n).
    Boolean,
    /// ISO dates, kept as days since 1970.
    Date,
    /// A value unique to each row: not a feature.
    Identifier,
    /// One value on every row: not a feature.
    Constant,
    /// Anything else: a level per distinct value.
    Categorical,
}

/// A column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers (numeric, boolean as 0 / 1, dates as days); `None` missing.
    Numbers(Vec<Option<f64>>),
    /// Levels and each row's level; `None` missing.
    Levels {
        /// Each distinct value once, in first-seen order.
        levels: Vec<String>,
        /// Per row: its index in `levels`.
        codes: Vec<Option<u32>>,
    },
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The header's name.
    pub name: String,
    /// What it holds.
    pub kind: ColumnKind,
    /// Its values, one per kept row.
    pub values: Values,
    /// Rows where it is missing.
    pub missing: usize,
    /// Distinct present values.
    pub distinct: usize,
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeftOut {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The target's raw value.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// A flat file read for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Every column but the target and the id.
    pub columns: Vec<Column>,
    /// Each kept row's class.
    pub target: Vec<bool>,
    /// Each kept row's id (its line when there is no id column).
    pub ids: Vec<String>,
    /// The positive class's value.
    pub positive: String,
    /// Rows left out.
    pub left_out: Vec<LeftOut>,
}

/// A CSV file's header and records, each with its line (the header is
/// line 1).
struct Table {
    headers: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

fn read_table(path: &Path) -> Result<Table, DatasetError> {
    let shown = path.display().to_string();
    let read_err = |e: csv::Error| DatasetError::Read {
        path: shown.clone(),
        message: e.to_string(),
    };
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(read_err)?;
    let headers: Vec<String> = rd
        .headers()
        .map_err(read_err)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(read_err)?;
        rows.push((i as u64 + 2, rec.iter().map(str::to_string).collect()));
    }
    Ok(Table { headers, rows })
}

/// The rows with an outcome (all rows when there is no target column):
/// their classes, ids and indexes, and the rows left out.
struct Kept {
    target: Vec<bool>,
    ids: Vec<String>,
    kept: Vec<usize>,
    left_out: Vec<LeftOut>,
}

fn keep_rows(
    rows: &[(u64, Vec<String>)],
    target_at: Option<usize>,
    id_at: Option<usize>,
    positive: &str,
    is_missing: &dyn Fn(&str) -> bool,
) -> Kept {
    let mut k = Kept {
        target: Vec::new(),
        ids: Vec::new(),
        kept: Vec::new(),
        left_out: Vec::new(),
    };
    for (i, (line, r)) in rows.iter().enumerate() {
        if let Some(t) = target_at {
            let v = r[t].trim();
            if is_missing(v) {
                k.left_out.push(LeftOut {
                    line: *line,
                    value: v.to_string(),
                    reason: "the target is missing".into(),
                });
                continue;
            }
            k.target.push(v == positive);
        }
        k.ids
            .push(id_at.map_or_else(|| line.to_string(), |c| r[c].clone()));
        k.kept.push(i);
    }
    k
}

/// Read a CSV file with a header.
pub fn load_csv(path: &Path, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    let shown = path.display().to_string();
    let Table { headers, rows } = read_table(path)?;
    let find = |name: &str| headers.iter().position(|h| h == name);
    let target_at = find(&opts.target).ok_or_else(|| DatasetError::NoTarget {
        path: shown.clone(),
        column: opts.target.clone(),
        columns: headers.join(", "),
    })?;
    let id_at = opts.id.as_deref().and_then(find);
    let is_missing = |v: &str| v.trim().is_empty() || opts.missing.iter().any(|m| m == v.trim());
    // The classes.
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in &rows {
        let v = r[target_at].trim();
        if !is_missing(v) {
            *classes.entry(v.to_string()).or_default() += 1;
        }
    }
    let not_binary = || DatasetError::NotBinary {
        path: shown.clone(),
        column: opts.target.clone(),
        values: classes
            .keys()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    };
    let positive = match &opts.positive {
        Some(p) => p.clone(),
        None => {
            let yes = ["1", "true", "yes", "y"];
            let found: Vec<&String> = classes
                .keys()
                .filter(|k| yes.contains(&k.to_ascii_lowercase().as_str()))
                .collect();
            match (classes.len(), found.as_slice()) {
                (2, [p]) => (*p).clone(),
                _ => {
                    return Err(not_binary());
                }
            }
        }
    };
    let negatives: Vec<&String> = classes.keys().filter(|k| **k != positive).collect();
    if negatives.len() != 1 || !classes.contains_key(&positive) {
        return Err(not_binary());
    }
    let Kept {
        target,
        ids,
        kept,
        left_out,
    } = keep_rows(&rows, Some(target_at), id_at, &positive, &is_missing);
    let columns = (0..headers.len())
        .filter(|&c| c != target_at && Some(c) != id_at)
        .map(|c| {
            let cells: Vec<Option<&str>> = kept
                .iter()
                .map(|&k| {
                    let v = rows[k].1[c].as_str();
                    (!is_missing(v)).then(|| v.trim())
                })
                .collect();
            infer(&headers[c], &cells)
        })
        .collect();
    Ok(Dataset {
        columns,
        target,
        ids,
        positive,
        left_out,
    })
}

/// A column a model reads, and the kind it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    /// The header's name.
    pub name: String,
    /// The kind its values are read as.
    pub kind: ColumnKind,
}

/// A value that could not be read as its column's kind: the row is kept and
/// scored with the value as missing, and the value reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unreadable {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The column.
    pub column: String,
    /// The raw value.
    pub value: String,
    /// Why it could not be read.
    pub reason: String,
}

/// Read a file to score with a model: the columns in `expected` read as the
/// kinds the model was trained on (a value that does not read as its kind is
/// missing, and reported); the target read too when the file has it (with
/// the model's positive class), else `target` is empty.
pub fn load_for_scoring(
    path: &Path,
    opts: &LoadOptions,
    positive: &str,
    expected: &[Expected],
) -> Result<(Dataset, Vec<Unreadable>), DatasetError> {
    let Table { headers, rows } = read_table(path)?;
    rows_for_scoring(
        &path.display().to_string(),
        &headers,
        &rows,
        opts,
        positive,
        expected,
    )
}

/// Rows already in memory (`headers`, then each row's line and cells) read
/// to score with a model, as [`load_for_scoring`] reads a file; `shown`
/// names them in errors.
pub fn rows_for_scoring(
    shown: &str,
    headers: &[String],
    rows: &[(u64, Vec<String>)],
    opts: &LoadOptions,
    positive: &str,
    expected: &[Expected],
) -> Result<(Dataset, Vec<Unreadable>), DatasetError> {
    let shown = shown.to_string();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let absent: Vec<&str> = expected
        .iter()
        .filter(|e| find(&e.name).is_none())
        .map(|e| e.name.as_str())
        .collect();
    if !absent.is_empty() {
        return Err(DatasetError::MissingColumns {
            path: shown,
            columns: absent.join(", "),
        });
    }
    let is_missing = |v: &str| v.trim().is_empty() || opts.missing.iter().any(|m| m == v.trim());
    let id_at = opts.id.as_deref().and_then(find);
    let target_at = find(&opts.target);
    let Kept {
        target,
        ids,
        kept,
        left_out,
    } = keep_rows(rows, target_at, id_at, positive, &is_missing);
    let mut unreadable = Vec::new();
    let columns = expected
        .iter()
        .map(|e| {
            let at = find(&e.name).unwrap_or_default();
            let cells: Vec<Option<&str>> = kept
                .iter()
                .map(|&k| {
                    let v = rows[k].1[at].as_str();
                    (!is_missing(v)).then(|| v.trim())
                })
                .collect();
            let lines: Vec<u64> = kept.iter().map(|&k| rows[k].0).collect();
            read_as(e, &cells, &lines, &mut unreadable)
        })
        .collect();
    Ok((
        Dataset {
            columns,
            target,
            ids,
            positive: positive.to_string(),
            left_out,
        },
        unreadable,
    ))
}

/// Cells read as an expected kind.
fn read_as(
    e: &Expected,
    cells: &[Option<&str>],
    lines: &[u64],
    unreadable: &mut Vec<Unreadable>,
) -> Column {
    let mut distinct: Vec<&str> = cells.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    type Parse = fn(&str) -> Option<f64>;
    let parse: Option<(Parse, &str)> = match e.kind {
        ColumnKind::Numeric | ColumnKind::Identifier => Some((number, "not a number")),
        ColumnKind::Boolean => Some((boolean, "not yes / no, true / false, 1 / 0 or y / n")),
        ColumnKind::Date => Some((iso_day, "not an ISO date (YYYY-MM-DD)")),
        ColumnKind::Constant | ColumnKind::Categorical => None,
    };
    let values = match parse {
        Some((f, why)) => Values::Numbers(
            cells
                .iter()
                .zip(lines)
                .map(|(c, line)| {
                    let v = (*c)?;
                    let x = f(v);
                    if x.is_none() {
                        unreadable.push(Unreadable {
                            line: *line,
                            column: e.name.clone(),
                            value: v.to_string(),
                            reason: format!("{why}; scored as missing"),
                        });
                    }
                    x
                })
                .collect(),
        ),
        None => levels_of(cells),
    };
    let missing = match &values {
        Values::Numbers(v) => v.iter().filter(|x| x.is_none()).count(),
        Values::Levels { codes, .. } => codes.iter().filter(|x| x.is_none()).count(),
    };
    Column {
        name: e.name.clone(),
        kind: e.kind,
        values,
        missing,
        distinct: distinct.len(),
    }
}

fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn boolean(v: &str) -> Option<f64> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "1" => Some(1.0),
        "no" | "false" | "n" | "0" => Some(0.0),
        _ => None,
    }
}

/// Cells as levels, each distinct value once in first-seen order.
fn levels_of(cells: &[Option<&str>]) -> Values {
    let mut levels: Vec<String> = Vec::new();
    let mut index: BTreeMap<&str, u32> = BTreeMap::new();
    let codes = cells
        .iter()
        .map(|c| {
            c.map(|v| {
                *index.entry(v).or_insert_with(|| {
                    levels.push(v.to_string());
                    (levels.len() - 1) as u32
                })
            })
        })
        .collect();
    Values::Levels { levels, codes }
}

/// A column's kind and values from its cells.
fn infer(name: &str, cells: &[Option<&str>]) -> Column {
    let present: Vec<&str> = cells.iter().flatten().copied().collect();
    let missing = cells.len() - present.len();
    let mut distinct: Vec<&str> = present.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let column = |kind, values| Column {
        name: name.to_string(),
        kind,
        values,
        missing,
        distinct: distinct.len(),
    };
    let numbers = |f: &dyn Fn(&str) -> Option<f64>| -> Option<Vec<Option<f64>>> {
        cells
            .iter()
            .map(|c| c.map_or(Some(None), |v| f(v).map(Some)))
            .collect()
    };
    if distinct.len() <= 1 {
        return column(
            ColumnKind::Constant,
            Values::Numbers(vec![None; cells.len()]),
        );
    }
    if distinct.len() == 2
        && let Some(v) = numbers(&boolean)
    {
        return column(ColumnKind::Boolean, Values::Numbers(v));
    }
    if let Some(v) = numbers(&number) {
        let integral = v.iter().flatten().all(|x| x.fract() == 0.0);
        let kind = if integral && distinct.len() == present.len() && missing == 0 {
            ColumnKind::Identifier
        } else {
            ColumnKind::Numeric
        };
        return column(kind, Values::Numbers(v));
    }
    if let Some(v) = numbers(&iso_day) {
        return column(ColumnKind::Date, Values::Numbers(v));
    }
    let kind = if distinct.len() == present.len() && missing == 0 {
        ColumnKind::Identifier
    } else {
        ColumnKind::Categorical
    };
    column(kind, levels_of(cells))
}

/// An ISO date (`YYYY-MM-DD`, optionally followed by a time) as days since 1970.
fn iso_day(s: &str) -> Option<f64> {
    let d = s.get(..10)?;
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, day): (i64, i64, i64) = (
        d[..4].parse().ok()?,
        d[5..7].parse().ok()?,
        d[8..10].parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as f64)
}
