//! Reading export files as they really are: UTF-8 with or without BOM, or
//! Windows-1252; LF or CRLF; quoted commas and newlines; a truncated or
//! malformed line becomes a quarantine record, never a silent drop.
//! Parquet files are read too, every value rendered as text.

use crate::IngestError;
use crate::quality::{QuarantineRecord, Reason};
use std::path::Path;

/// One data row: its 1-based line number in the file (the header is line 1)
/// and its fields.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub line: u64,
    pub fields: Vec<String>,
}

/// A whole input file.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// File name as shown in messages (relative to the ingested folder).
    pub name: String,
    pub sha256: String,
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
    /// Rows that could not be split into the header's fields.
    pub malformed: Vec<QuarantineRecord>,
    /// Set when the file was not UTF-8 and was decoded as Windows-1252.
    pub decoded_from: Option<&'static str>,
}

impl RawFile {
    /// Rows read, including malformed ones.
    pub fn rows_read(&self) -> u64 {
        (self.rows.len() + self.malformed.len()) as u64
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Index of a column the connector cannot work without.
    pub fn require(&self, name: &str, hint: &str) -> Result<usize, IngestError> {
        self.column(name).ok_or_else(|| IngestError::MissingColumn {
            file: self.name.clone(),
            column: name.to_string(),
            found: self.headers.join(", "),
            hint: hint.to_string(),
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read a CSV or Parquet file (by extension).
pub fn read_file(path: &Path, name: &str) -> Result<RawFile, IngestError> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::Unreadable {
        file: name.to_string(),
        message: e.to_string(),
    })?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        return read_parquet(&bytes, name);
    }
    read_csv_bytes(&bytes, name)
}

/// Parse CSV bytes.
pub fn read_csv_bytes(bytes: &[u8], name: &str) -> Result<RawFile, IngestError> {
    let sha256 = sha256_hex(bytes);
    let mut body = bytes;
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        body = &body[3..];
    }
    let (text, decoded_from): (std::borrow::Cow<'_, str>, _) = match std::str::from_utf8(body) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), None),
        Err(_) => {
            let (s, _, _) = encoding_rs::WINDOWS_1252.decode(body);
            (s, Some("windows-1252"))
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = rdr.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(|s| s.trim().to_string()).collect(),
        Some(Err(e)) => {
            return Err(IngestError::Unreadable {
                file: name.to_string(),
                message: format!("header line: {e}"),
            });
        }
        None => {
            return Err(IngestError::Unreadable {
                file: name.to_string(),
                message: "the file is empty; expected a header line".into(),
            });
        }
    };
    // Line numbers from byte offsets: the csv crate's own line counter lags on
    // CRLF files (it counts the `\n` of a CRLF when it reads the next record).
    let tb = text.as_bytes();
    let newlines: Vec<usize> = tb
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let line_at = |byte: u64| -> u64 {
        let mut b = byte as usize;
        while b < tb.len() && (tb[b] == b'\r' || tb[b] == b'\n') {
            b += 1;
        }
        newlines.partition_point(|&nl| nl < b) as u64 + 1
    };
    let mut rows = Vec::new();
    let mut malformed = Vec::new();
    for rec in records {
        match rec {
            Ok(r) => {
                let line = r.position().map(|p| line_at(p.byte())).unwrap_or(0);
                if r.len() == 1 && r.get(0).is_some_and(str::is_empty) {
                    continue; // a blank line is not a row
                }
                if r.len() != headers.len() {
                    malformed.push(QuarantineRecord {
                        file: name.to_string(),
                        row: line,
                        column: String::new(),
                        raw_value: r.iter().collect::<Vec<_>>().join(","),
                        reason: Reason::MalformedRow,
                        detail: format!(
                            "row has {} fields, the header has {} (a truncated line, or an unquoted comma)",
                            r.len(),
                            headers.len()
                        ),
                    });
                    continue;
                }
                rows.push(RawRow {
                    line,
                    fields: r.iter().map(str::to_string).collect(),
                });
            }
            Err(e) => {
                let line = e.position().map(|p| line_at(p.byte())).unwrap_or(0);
                malformed.push(QuarantineRecord {
                    file: name.to_string(),
                    row: line,
                    column: String::new(),
                    raw_value: String::new(),
                    reason: Reason::MalformedRow,
                    detail: e.to_string(),
                });
            }
        }
    }
    Ok(RawFile {
        name: name.to_string(),
        sha256,
        headers,
        rows,
        malformed,
        decoded_from,
    })
}

fn read_parquet(bytes: &[u8], name: &str) -> Result<RawFile, IngestError> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let err = |m: String| IngestError::Unreadable {
        file: name.to_string(),
        message: m,
    };
    let data = bytes::Bytes::copy_from_slice(bytes);
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(|e| err(e.to_string()))?
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut headers = Vec::new();
    let mut rows = Vec::new();
    let opts = FormatOptions::default().with_null("");
    let mut line = 1u64;
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        if headers.is_empty() {
            headers = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        let fmts = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        for r in 0..batch.num_rows() {
            line += 1;
            rows.push(RawRow {
                line,
                fields: fmts.iter().map(|f| f.value(r).to_string()).collect(),
            });
        }
    }
    Ok(RawFile {
        name: name.to_string(),
        sha256: sha256_hex(bytes),
        headers,
        rows,
        malformed: Vec::new(),
        decoded_from: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_crlf_quotes_and_truncation() {
        let data = b"\xEF\xBB\xBFId,Name,Amount\r\n1,\"Acme, Inc\",10\r\n2,\"multi\r\nline\",20\r\n3,Trunc";
        let f = read_csv_bytes(data, "x.csv").unwrap();
        assert_eq!(f.headers, vec!["Id", "Name", "Amount"]);
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[0].fields[1], "Acme, Inc");
        assert_eq!(f.rows[0].line, 2);
        assert_eq!(f.rows[1].fields[1], "multi\r\nline");
        assert_eq!(f.malformed.len(), 1);
        assert_eq!(f.malformed[0].row, 5);
        assert_eq!(f.rows_read(), 3);
    }

    #[test]
    fn windows_1252_is_decoded() {
        let data = b"Id,Name\n1,Caf\xe9\n";
        let f = read_csv_bytes(data, "x.csv").unwrap();
        assert_eq!(f.rows[0].fields[1], "Café");
        assert_eq!(f.decoded_from, Some("windows-1252"));
    }

    #[test]
    fn empty_file_is_an_error_naming_the_file() {
        let e = read_csv_bytes(b"", "Opportunity.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Opportunity.csv") && e.contains("empty"), "{e}");
    }
}
