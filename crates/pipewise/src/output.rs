//! One value to print, three renderers. stdout carries only data.
//!
//! JSON contract: an array of objects, one per row, keys are the column
//! names (snake_case); numbers are JSON numbers (amounts rounded to cents),
//! missing values are `null`.

use crate::args::Format;
use std::io::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Text repeated on many rows (a metric's name on each of its groups):
    /// shared, not copied per row. Renders as [`Cell::Text`] does.
    Shared(std::sync::Arc<str>),
    Int(i64),
    /// An amount: rendered with two decimals, rounded to cents in JSON.
    Money(f64),
    /// Any other number, shown as it is.
    Float(f64),
    Bool(bool),
    Null,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map(Cell::Text).unwrap_or(Cell::Null)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn text(c: &Cell) -> String {
    let mut s = String::new();
    write_text(c, &mut s);
    s
}

/// `digits` (an optional sign, digits, an optional fraction) with a comma
/// between each group of three digits before the point.
fn grouped(digits: &str) -> String {
    let (sign, rest) = match digits.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", digits),
    };
    let (whole, fraction) = rest
        .split_once('.')
        .map_or((rest, None), |(w, f)| (w, Some(f)));
    let mut out = String::from(sign);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// An amount as people read it in a sentence: whole dollars with thousands
/// separators (`$1,234,568`).
pub fn money_text(x: f64) -> String {
    let s = grouped(&format!("{:.0}", x.abs()));
    if x < -0.5 {
        format!("-${s}")
    } else {
        format!("${s}")
    }
}

/// A cell as people read it in a table: amounts and counts with thousands
/// separators; everything else as in CSV.
fn table_text(c: &Cell) -> String {
    match c {
        Cell::Money(_) | Cell::Int(_) => grouped(&text(c)),
        _ => text(c),
    }
}

/// A cell as text, appended to `out`.
fn write_text(c: &Cell, out: &mut String) {
    use std::fmt::Write as _;
    // (writing to a String cannot fail)
    let _ = match c {
        Cell::Text(s) => {
            out.push_str(s);
            Ok(())
        }
        Cell::Shared(s) => {
            out.push_str(s);
            Ok(())
        }
        Cell::Int(i) => write!(out, "{i}"),
        Cell::Money(m) => write!(out, "{:.2}", cents(*m)),
        // A whole number prints as the integer it is — what `{x}` prints
        // too, without the shortest-digits search (counts are most floats
        // of a scorecard). -0 keeps its sign through `{x}`.
        Cell::Float(x)
            if x.fract() == 0.0 && x.abs() < 1e15 && !(*x == 0.0 && x.is_sign_negative()) =>
        {
            write!(out, "{}", *x as i64)
        }
        Cell::Float(x) => write!(out, "{x}"),
        Cell::Bool(b) => write!(out, "{b}"),
        Cell::Null => Ok(()),
    };
}

/// Large tables (a scorecard prints ~400k rows) render on every core: `render`
/// over chunks of rows, results in order.
fn in_chunks<F>(rows: &[Vec<Cell>], render: F) -> std::io::Result<Vec<Vec<u8>>>
where
    F: Fn(&[Vec<Cell>]) -> std::io::Result<Vec<u8>> + Sync,
{
    use rayon::prelude::*;
    // Chunks of 20,000 rows on rayon's pool, rendered in order.
    rows.par_chunks(20_000).map(&render).collect()
}

/// Rows as CSV lines, field by field through one buffer.
fn csv_lines(rows: &[Vec<Cell>]) -> std::io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut buf = String::new();
    for r in rows {
        for c in r {
            buf.clear();
            write_text(c, &mut buf);
            w.write_field(&buf).map_err(std::io::Error::other)?;
        }
        w.write_record(None::<&[u8]>)
            .map_err(std::io::Error::other)?;
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

impl Table {
    pub fn new(columns: Vec<&str>) -> Table {
        Table {
            columns: columns.into_iter().map(str::to_string).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn render(&self, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            Format::Table => self.render_table(out),
            Format::Csv => {
                let mut header = csv::Writer::from_writer(Vec::new());
                header
                    .write_record(&self.columns)
                    .map_err(std::io::Error::other)?;
                out.write_all(
                    &header
                        .into_inner()
                        .map_err(|e| std::io::Error::other(e.to_string()))?,
                )?;
                for part in in_chunks(&self.rows, csv_lines)? {
                    out.write_all(&part)?;
                }
                out.flush()
            }
            Format::Json => {
                // What serde_json's pretty printer gives for the whole array,
                // one row at a time: each row object indented by two spaces,
                // rows separated by ",\n".
                if self.rows.is_empty() {
                    return writeln!(out, "[]");
                }
                let objects = |rows: &[Vec<Cell>]| -> std::io::Result<Vec<u8>> {
                    let mut buf = String::new();
                    for (i, r) in rows.iter().enumerate() {
                        if i > 0 {
                            buf.push_str(",\n");
                        }
                        let s = serde_json::to_string_pretty(&self.json_row(r))
                            .map_err(std::io::Error::other)?;
                        for (j, line) in s.lines().enumerate() {
                            if j > 0 {
                                buf.push('\n');
                            }
                            buf.push_str("  ");
                            buf.push_str(line);
                        }
                    }
                    Ok(buf.into_bytes())
                };
                out.write_all(b"[\n")?;
                for (i, part) in in_chunks(&self.rows, objects)?.into_iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",\n")?;
                    }
                    out.write_all(&part)?;
                }
                out.write_all(b"\n]\n")?;
                out.flush()
            }
        }
    }

    /// A row as a JSON object keyed by column name.
    fn json_row(&self, r: &[Cell]) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, c) in self.columns.iter().zip(r) {
            let v = match c {
                Cell::Text(s) => serde_json::Value::String(s.clone()),
                Cell::Shared(s) => serde_json::Value::String(s.to_string()),
                Cell::Int(i) => serde_json::Value::from(*i),
                Cell::Money(x) => serde_json::Number::from_f64(cents(*x))
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                Cell::Float(x) => serde_json::Number::from_f64(*x)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                Cell::Bool(b) => serde_json::Value::Bool(*b),
                Cell::Null => serde_json::Value::Null,
            };
            m.insert(k.clone(), v);
        }
        serde_json::Value::Object(m)
    }

    fn render_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(table_text).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &cells {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                !self.rows.is_empty()
                    && self.rows.iter().all(|r| {
                        matches!(
                            r[i],
                            Cell::Int(_) | Cell::Money(_) | Cell::Float(_) | Cell::Null
                        )
                    })
            })
            .collect();
        let line = |vals: &[String]| -> String {
            vals.iter()
                .enumerate()
                .map(|(i, v)| {
                    let pad = widths[i] - v.chars().count();
                    if numeric[i] {
                        format!("{}{v}", " ".repeat(pad))
                    } else {
                        format!("{v}{}", " ".repeat(pad))
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let header: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        writeln!(out, "{}", line(&header))?;
        writeln!(
            out,
            "{}",
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("  ")
        )?;
        for r in &cells {
            writeln!(out, "{}", line(r))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(vec!["group", "count", "amount"]);
        t.push(vec!["Discovery".into(), Cell::Int(3), Cell::Money(1234.5)]);
        t.push(vec![
            "Closed, Won".into(),
            Cell::Int(10),
            Cell::Money(0.1 + 0.2),
        ]);
        t
    }

    fn render(f: Format) -> String {
        let mut v = Vec::new();
        sample().render(f, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    /// Large tables render in chunks on several threads; the output is what
    /// one pass over all rows gives.
    #[test]
    fn chunked_rendering_matches_one_pass() {
        let mut t = Table::new(vec!["id", "name", "x"]);
        for i in 0..45_000 {
            t.push(vec![
                Cell::Int(i),
                if i % 7 == 0 {
                    Cell::Null
                } else {
                    Cell::Text(format!("n, {i}"))
                },
                Cell::Float(i as f64 / 3.0),
            ]);
        }
        let mut json = Vec::new();
        t.render(Format::Json, &mut json).unwrap();
        let whole: Vec<serde_json::Value> = t.rows.iter().map(|r| t.json_row(r)).collect();
        let expected = serde_json::to_string_pretty(&whole).unwrap() + "\n";
        assert!(String::from_utf8(json).unwrap() == expected);
        let mut csv = Vec::new();
        t.render(Format::Csv, &mut csv).unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["id", "name", "x"]).unwrap();
        for r in &t.rows {
            w.write_record(r.iter().map(text)).unwrap();
        }
        assert!(csv == w.into_inner().unwrap());
        let mut empty = Vec::new();
        Table::new(vec!["a"])
            .render(Format::Json, &mut empty)
            .unwrap();
        assert_eq!(empty, b"[]\n");
    }

    /// Whole floats take a shortcut; every float still prints as `{x}`.
    #[test]
    fn floats_print_as_display() {
        let xs = [
            0.0,
            -0.0,
            1.0,
            -7.0,
            58700.0,
            0.5,
            1.0 / 3.0,
            1e14,
            999_999_999_999_999.0,
            1e15,
            -1e15,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4_503_599_627_370_496.5,
        ];
        for x in xs {
            assert_eq!(text(&Cell::Float(x)), format!("{x}"), "{x:?}");
        }
        let shared: std::sync::Arc<str> = "win_rate".into();
        assert_eq!(text(&Cell::Shared(shared.clone())), "win_rate");
        let mut t = Table::new(vec!["metric"]);
        t.push(vec![Cell::Shared(shared)]);
        let mut json = Vec::new();
        t.render(Format::Json, &mut json).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            "[\n  {\n    \"metric\": \"win_rate\"\n  }\n]\n"
        );
    }

    #[test]
    fn thousands_are_grouped_for_people() {
        assert_eq!(grouped("1234567.89"), "1,234,567.89");
        assert_eq!(grouped("-1000"), "-1,000");
        assert_eq!(grouped("999.5"), "999.5");
        assert_eq!(grouped("0"), "0");
        assert_eq!(grouped("-12"), "-12");
        assert_eq!(table_text(&Cell::Int(1_000_000)), "1,000,000");
        assert_eq!(table_text(&Cell::Float(1234.5)), "1234.5");
        assert_eq!(money_text(1234567.6), "$1,234,568");
        assert_eq!(money_text(-2500.0), "-$2,500");
        assert_eq!(money_text(-0.2), "$0");
    }

    #[test]
    fn renderers() {
        assert_eq!(
            render(Format::Table),
            "group        count    amount\n-----------  -----  --------\nDiscovery        3  1,234.50\nClosed, Won     10      0.30\n"
        );
        assert_eq!(
            render(Format::Csv),
            "group,count,amount\nDiscovery,3,1234.50\n\"Closed, Won\",10,0.30\n"
        );
        let j: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(j[1]["group"], "Closed, Won");
        assert_eq!(j[1]["count"], 10);
        assert_eq!(j[1]["amount"], 0.3);
    }
}
