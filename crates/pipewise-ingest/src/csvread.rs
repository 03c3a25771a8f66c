//! Reading export files as they really are: UTF-8 with or without BOM, or
//! Windows-1252; LF or CRLF; quoted commas and newlines; a truncated or
//! malformed line becomes a quarantine record, never a silent drop.
//! Parquet files are read too, every value rendered as text.

use crate::IngestError;
use crate::quality::{QuarantineRecord, Reason, Scope};
use std::path::Path;

/// One data row: its 1-based line number in the file (the header is line 1)
/// and its fields.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // a row's line in the file and its fields
pub struct RawRow {
    pub line: u64,
    pub fields: Fields,
}

/// A row's fields in two allocations (their text end to end, and where each
/// ends), not one `String` each: a large export holds tens of millions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Fields {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl Fields {
    /// How many fields the row has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, if the row has it.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The fields joined by commas (for messages).
    pub fn join(&self, sep: &str) -> String {
        self.iter().collect::<Vec<_>>().join(sep)
    }
}

impl Fields {
    /// A CSV record's fields: its text in one allocation.
    pub fn from_record(rec: &csv::StringRecord) -> Fields {
        let mut ends = Vec::with_capacity(rec.len());
        let mut text = String::with_capacity(rec.as_slice().len());
        for f in rec.iter() {
            text.push_str(f);
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Fields {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Fields {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Fields {
        let mut text = String::new();
        let mut ends = Vec::new();
        for f in iter {
            text.push_str(f.as_ref());
            // A field past 4 GiB cannot be: files are read whole and split.
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Fields {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

/// A whole input file.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the file's hash, header and rows
pub struct RawFile {
    /// File name as shown in messages (relative to the ingested folder).
    pub name: String,
    pub sha256: String,
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
    /// Rows that could not be split into the header's fields.
    pub malformed: Vec<QuarantineRecord>,
    /// Reported problems on rows that land (a row decoded as Windows-1252).
    pub flags: Vec<QuarantineRecord>,
    /// Set when the file was not UTF-8 and was decoded as Windows-1252.
    pub decoded_from: Option<&'static str>,
    /// Physical lines in the file, header included.
    pub lines: u64,
    /// Physical lines accounted for: header, rows, malformed and blank lines.
    /// Equal to `lines` unless the reader lost track.
    pub lines_read: u64,
}

impl RawFile {
    /// Rows read, including malformed ones.
    pub fn rows_read(&self) -> u64 {
        (self.rows.len() + self.malformed.len()) as u64
    }

    /// A file with its header only (to ask which columns it has).
    pub fn header_only(name: &str, headers: Vec<String>) -> RawFile {
        RawFile {
            name: name.to_string(),
            sha256: String::new(),
            headers,
            rows: Vec::new(),
            malformed: Vec::new(),
            flags: Vec::new(),
            decoded_from: None,
            lines: 0,
            lines_read: 0,
        }
    }

    /// The row on 1-based `line`.
    pub fn row_at(&self, line: u64) -> Option<&RawRow> {
        self.rows
            .binary_search_by_key(&line, |r| r.line)
            .ok()
            .map(|i| &self.rows[i])
    }

    /// The index of the column with this header, if any.
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

fn unreadable(name: &str, message: String) -> IngestError {
    IngestError::Unreadable {
        file: name.to_string(),
        message,
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// A file's column names only, without reading its rows (a CSV's first
/// line, a Parquet file's schema).
pub fn read_header(path: &Path, name: &str) -> Result<Vec<String>, IngestError> {
    let unreadable = |message: String| unreadable(name, message);
    if is_parquet(path) {
        let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| unreadable(e.to_string()))?;
        return Ok(b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect());
    }
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| unreadable(e.to_string()))?
        .take(1 << 20)
        .read_to_end(&mut head)
        .map_err(|e| unreadable(e.to_string()))?;
    // Up to the first line end outside quotes: enough for any header.
    let mut in_quotes = false;
    let end = head
        .iter()
        .position(|&b| {
            if b == b'"' {
                in_quotes = !in_quotes;
            }
            !in_quotes && (b == b'\n' || b == b'\r')
        })
        .unwrap_or(head.len());
    let f = read_csv_bytes(&head[..end], name)?;
    Ok(f.headers)
}

/// Stream the values of columns `cols` of a file's data rows to `feed`
/// (column position in `cols`, value), keeping nothing: one record buffer
/// for the whole file. Values that are not UTF-8 are skipped (dates are ASCII).
pub fn scan_columns(
    path: &Path,
    name: &str,
    cols: &[usize],
    feed: &mut dyn FnMut(usize, &str),
) -> Result<(), IngestError> {
    let unreadable = |message: String| unreadable(name, message);
    if is_parquet(path) {
        let f = read_file(path, name)?;
        for r in &f.rows {
            for (k, &c) in cols.iter().enumerate() {
                if let Some(v) = r.fields.get(c) {
                    feed(k, v);
                }
            }
        }
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {
                for (k, &c) in cols.iter().enumerate() {
                    if let Some(v) = rec.get(c).and_then(|b| std::str::from_utf8(b).ok()) {
                        feed(k, v);
                    }
                }
            }
            Ok(false) => return Ok(()),
            // A broken record: the full read reports it; sniffing goes on.
            Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => {}
            Err(e) => return Err(unreadable(e.to_string())),
        }
    }
}

/// Read a CSV or Parquet file (by extension).
pub fn read_file(path: &Path, name: &str) -> Result<RawFile, IngestError> {
    let bytes = std::fs::read(path).map_err(|e| unreadable(name, e.to_string()))?;
    if is_parquet(path) {
        return read_parquet(&bytes, name);
    }
    read_csv_bytes(&bytes, name)
}

/// Decode a file's bytes: valid UTF-8 stays as it is. A file with invalid
/// bytes is decided line by line: when other lines prove it UTF-8 (they hold
/// valid multi-byte characters), only the invalid lines are decoded as
/// Windows-1252 and their line numbers returned; otherwise the whole file is
/// Windows-1252. A UTF-8 character never spans a line end, so per-line
/// decisions are exact.
fn decode(body: &[u8]) -> (std::borrow::Cow<'_, str>, Option<&'static str>, Vec<u64>) {
    if let Ok(s) = std::str::from_utf8(body) {
        return (std::borrow::Cow::Borrowed(s), None, Vec::new());
    }
    let lines: Vec<&[u8]> = body.split_inclusive(|b| *b == b'\n').collect();
    let proves_utf8 = lines
        .iter()
        .any(|l| !l.is_ascii() && std::str::from_utf8(l).is_ok());
    if !proves_utf8 {
        let (s, _, _) = encoding_rs::WINDOWS_1252.decode(body);
        return (s, Some("windows-1252"), Vec::new());
    }
    let mut out = String::with_capacity(body.len() + body.len() / 16);
    let mut decoded = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match std::str::from_utf8(l) {
            Ok(s) => out.push_str(s),
            Err(_) => {
                let (s, _, _) = encoding_rs::WINDOWS_1252.decode(l);
                out.push_str(&s);
                decoded.push(i as u64 + 1);
            }
        }
    }
    (std::borrow::Cow::Owned(out), None, decoded)
}

/// Parse CSV bytes.
///
/// **Runaway quotes.** A stray `"` opens a quoted value that the CSV grammar
/// runs on, over line ends, to the next `"` in the file, swallowing the rows
/// between. A record that spans several physical lines is taken as such a
/// runaway when its field count is not the header's, when it spans far more
/// lines than any other record of the file, or when two or more of the lines
/// inside it look like whole rows themselves (as many commas as the header).
/// Then only its first line is quarantined and reading resumes at the next
/// line, so the rows it swallowed land.
pub fn read_csv_bytes(bytes: &[u8], name: &str) -> Result<RawFile, IngestError> {
    // The file's hash on another core while this one parses it.
    let (sha256, parsed) = rayon::join(|| sha256_hex(bytes), || parse_csv(bytes, name));
    let mut f = parsed?;
    f.sha256 = sha256;
    Ok(f)
}

fn parse_csv(bytes: &[u8], name: &str) -> Result<RawFile, IngestError> {
    let sha256 = String::new();
    let mut body = bytes;
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        body = &body[3..];
    }
    let (text, decoded_from, decoded_lines) = decode(body);
    let tb = text.as_bytes();
    // Line numbers from byte offsets: the csv crate's own line counter lags on
    // CRLF files (it counts the `\n` of a CRLF when it reads the next record).
    // Line ends as the CSV grammar reads them: LF, CRLF, or a lone CR (old
    // Mac exports); each position is the line's last byte.
    let newlines: Vec<usize> = tb
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && tb.get(i + 1) != Some(&b'\n')))
        .map(|(i, _)| i)
        .collect();
    let lines_total = newlines.len() as u64
        + u64::from(!tb.is_empty() && !matches!(tb.last(), Some(b'\n' | b'\r')));
    let is_end = |b: u8| b == b'\r' || b == b'\n';
    // Records as rows (line = the record's first physical line, 1-based) and,
    // beside them, where each starts and ends and how many lines it spans;
    // reading restarts after runaways. Lines are counted with a cursor over
    // `newlines`, as records come in byte order.
    struct Meta {
        start: usize,
        end: usize,
        n: u64,
    }
    let read_from =
        |offset: usize, rows: &mut Vec<RawRow>, meta: &mut Vec<Meta>| -> Result<(), csv::Error> {
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .has_headers(false)
                .from_reader(&tb[offset..]);
            let mut rec = csv::StringRecord::new();
            let mut cur = newlines.partition_point(|&nl| nl < offset);
            loop {
                let start = offset + rdr.position().byte() as usize;
                if !rdr.read_record(&mut rec)? {
                    return Ok(());
                }
                let end = offset + rdr.position().byte() as usize;
                let mut b = start;
                while b < end && is_end(tb[b]) {
                    b += 1;
                }
                while cur < newlines.len() && newlines[cur] < b {
                    cur += 1;
                }
                let first = cur as u64 + 1;
                let mut e = end;
                while e > b && is_end(tb[e - 1]) {
                    e -= 1;
                }
                let n = if e <= b {
                    1
                } else {
                    while cur < newlines.len() && newlines[cur] < e - 1 {
                        cur += 1;
                    }
                    cur as u64 + 1 - first + 1
                };
                rows.push(RawRow {
                    line: first,
                    fields: Fields::from_record(&rec),
                });
                meta.push(Meta { start, end, n });
            }
        };
    // The 1-based line of byte `b` (for errors the reader stops at).
    let line_of = |b: usize| -> u64 { newlines.partition_point(|&nl| nl < b) as u64 + 1 };
    let mut recs: Vec<RawRow> = Vec::new();
    let mut meta: Vec<Meta> = Vec::new();
    let mut pending_err: Option<(usize, String)> = None;
    if let Err(e) = read_from(0, &mut recs, &mut meta) {
        let at = e.position().map(|p| p.byte() as usize).unwrap_or(0);
        pending_err = Some((at, e.to_string()));
    }
    let Some(header) = recs.first() else {
        return Err(IngestError::Unreadable {
            file: name.to_string(),
            message: match pending_err {
                Some((_, e)) => format!("header line: {e}"),
                None => "the file is empty; expected a header line".into(),
            },
        });
    };
    let headers: Vec<String> = header.fields.iter().map(|s| s.trim().to_string()).collect();
    let header_first = header.line;
    let header_lines = meta[0].n;
    let width = headers.len();
    // The widest multi-line record among well-formed one-line-per-row files is
    // usually 1; legitimate long texts set the bar for the rest.
    // (Only files with multi-line records need the spread of their spans.)
    let multi_line = meta[1..].iter().any(|m| m.n > 1);
    let mut ok_spans: Vec<u64> = if multi_line {
        recs[1..]
            .iter()
            .zip(&meta[1..])
            .filter(|(r, _)| r.fields.len() == width)
            .map(|(_, m)| m.n)
            .collect()
    } else {
        Vec::new()
    };
    ok_spans.sort_unstable();
    let typical = ok_spans
        .get(ok_spans.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(1);
    let too_long = (typical * 8).max(64);
    let looks_like_row = |line: &[u8]| -> bool {
        width > 2 && line.iter().filter(|b| **b == b',').count() + 1 >= width
    };
    let is_runaway = |r: &RawRow, m: &Meta| -> Option<String> {
        let n = m.n;
        if n <= 1 {
            return None;
        }
        if r.fields.len() != width {
            return Some(format!(
                "a quoted value opens on this line and runs over {n} lines, leaving {} fields where the header has {width}",
                r.fields.len()
            ));
        }
        if n > too_long {
            return Some(format!(
                "a quoted value opens on this line and runs over {n} lines, far more than any other row of the file"
            ));
        }
        let inner = tb[m.start..m.end]
            .split(|b| *b == b'\n')
            .skip(1)
            .filter(|l| looks_like_row(l))
            .count();
        (inner >= 2).then(|| {
            format!(
                "a quoted value opens on this line and runs over {n} lines that look like rows of their own"
            )
        })
    };
    // Which records are rows; the header is not.
    let mut keep: Vec<bool> = vec![false];
    let mut malformed = Vec::new();
    // Blank lines before the header count as read, too.
    let mut lines_read = header_first - 1 + header_lines;
    // The last physical line consumed; lines skipped between records are blank.
    let mut last_line = header_first + header_lines - 1;
    let mut i = 1;
    while i < recs.len() {
        let (r, m) = (&recs[i], &meta[i]);
        let line = r.line;
        lines_read += line.saturating_sub(last_line + 1); // blank lines before it
        if let Some(why) = is_runaway(r, m) {
            // Quarantine the first physical line only and read on from the next.
            let next = newlines
                .get(line as usize - 1)
                .map(|&nl| nl + 1)
                .unwrap_or(tb.len());
            let first_line = String::from_utf8_lossy(&tb[m.start..next])
                .trim_matches(['\r', '\n'])
                .to_string();
            malformed.push(QuarantineRecord {
                file: name.to_string(),
                row: line,
                column: String::new(),
                raw_value: first_line,
                reason: Reason::MalformedRow,
                detail: format!(
                    "{why}: an unclosed or stray quote; this line is quarantined and reading resumes at the next line"
                ),
                scope: Scope::Row,
            });
            lines_read += 1;
            last_line = line;
            recs.truncate(i);
            meta.truncate(i);
            pending_err = None;
            if let Err(e) = read_from(next, &mut recs, &mut meta) {
                let at = next + e.position().map(|p| p.byte() as usize).unwrap_or(0);
                pending_err = Some((at, e.to_string()));
            }
            // The quarantined record's slot goes: the first re-read record takes it.
            continue;
        }
        let n = m.n;
        lines_read += n;
        last_line = line + n - 1;
        i += 1;
        if r.fields.len() == 1 && r.fields.get(0).is_some_and(str::is_empty) {
            keep.push(false); // a blank line is not a row
            continue;
        }
        if r.fields.len() != width {
            malformed.push(QuarantineRecord {
                file: name.to_string(),
                row: line,
                column: String::new(),
                raw_value: r.fields.join(","),
                reason: Reason::MalformedRow,
                detail: format!(
                    "row has {} fields, the header has {width} (a truncated line, or an unquoted comma)",
                    r.fields.len()
                ),
                scope: Scope::Row,
            });
            keep.push(false);
            continue;
        }
        keep.push(true);
    }
    drop(meta);
    let mut k = 0;
    recs.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    let rows = recs;
    lines_read += lines_total.saturating_sub(last_line); // blank lines at the end
    if let Some((at, e)) = pending_err {
        // The csv crate stops at invalid input; what follows is one quarantined record.
        let line = line_of(at);
        lines_read += lines_total.saturating_sub(lines_read);
        malformed.push(QuarantineRecord {
            file: name.to_string(),
            row: line,
            column: String::new(),
            raw_value: String::new(),
            reason: Reason::MalformedRow,
            detail: e,
            scope: Scope::Row,
        });
    }
    let flags = decoded_lines
        .iter()
        .map(|&l| QuarantineRecord {
            file: name.to_string(),
            row: l,
            column: String::new(),
            raw_value: String::new(),
            reason: Reason::DecodedWindows1252,
            detail: "this line is not UTF-8 in a UTF-8 file; decoded as Windows-1252".into(),
            scope: Scope::Row,
        })
        .collect();
    Ok(RawFile {
        name: name.to_string(),
        sha256,
        headers,
        rows,
        malformed,
        flags,
        decoded_from,
        lines: lines_total,
        lines_read,
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
        lines: rows.len() as u64 + 1,
        lines_read: rows.len() as u64 + 1,
        rows,
        malformed: Vec::new(),
        flags: Vec::new(),
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
        assert_eq!(f.rows[0].fields.get(1), Some("Acme, Inc"));
        assert_eq!(f.rows[0].line, 2);
        assert_eq!(f.rows[1].fields.get(1), Some("multi\r\nline"));
        assert_eq!(f.malformed.len(), 1);
        assert_eq!(f.malformed[0].row, 5);
        assert_eq!(f.rows_read(), 3);
    }

    #[test]
    fn windows_1252_is_decoded() {
        let data = b"Id,Name\n1,Caf\xe9\n";
        let f = read_csv_bytes(data, "x.csv").unwrap();
        assert_eq!(f.rows[0].fields.get(1), Some("Café"));
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
