//! The in-memory, columnar event log.

use pipewise_model::{Field, FieldKind, OpportunityEvent, Timestamp, Value};
use std::collections::{BTreeMap, HashMap};

/// Code for "no value" in a text column.
pub const NULL_TEXT: u32 = u32::MAX;
/// "No value" in a date column.
pub const NULL_DATE: i32 = i32::MIN;
/// "No value" in a bool column (0 = false, 1 = true).
pub const NULL_BOOL: u8 = 2;

/// Text → dictionary code. foldhash (a fast, fixed-seed hash) rather than
/// SipHash: merging a million distinct names was dominated by hashing.
pub(crate) type TextLookup = HashMap<String, u32, foldhash::fast::FixedState>;

/// The code of `s` in `dict` (`lookup` indexes `dict`), adding it when new.
pub(crate) fn intern(dict: &mut Vec<String>, lookup: &mut TextLookup, s: &str) -> u32 {
    if let Some(&c) = lookup.get(s) {
        return c;
    }
    let c = dict.len() as u32;
    dict.push(s.to_string());
    lookup.insert(s.to_string(), c);
    c
}

/// A typed value column. Nulls are sentinels so columns stay plain vectors:
/// NaN for numbers, [`NULL_DATE`], [`NULL_BOOL`], [`NULL_TEXT`].
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Text as a dictionary and a code per value (`NULL_TEXT`: null).
    Text {
        /// Each distinct string once.
        dict: Vec<String>,
        /// Per value: its index in `dict`.
        codes: Vec<u32>,
    },
    /// Numbers (NaN: null).
    Number(Vec<f64>),
    /// Dates as days since 1970 (`NULL_DATE`: null).
    Date(Vec<i32>),
    /// Booleans as 0 / 1 (`NULL_BOOL`: null).
    Bool(Vec<u8>),
}

impl Values {
    /// No values of this kind.
    pub fn empty(kind: FieldKind) -> Values {
        match kind {
            FieldKind::Text => Values::Text {
                dict: Vec::new(),
                codes: Vec::new(),
            },
            FieldKind::Number => Values::Number(Vec::new()),
            FieldKind::Date => Values::Date(Vec::new()),
            FieldKind::Bool => Values::Bool(Vec::new()),
        }
    }

    /// How many values.
    pub fn len(&self) -> usize {
        match self {
            Values::Text { codes, .. } => codes.len(),
            Values::Number(v) => v.len(),
            Values::Date(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as a model value.
    pub fn get(&self, i: usize) -> Value {
        match self {
            Values::Text { dict, codes } => match codes[i] {
                NULL_TEXT => Value::Null,
                c => Value::Text(dict[c as usize].clone()),
            },
            Values::Number(v) if v[i].is_nan() => Value::Null,
            Values::Number(v) => Value::Number(v[i]),
            Values::Date(v) if v[i] == NULL_DATE => Value::Null,
            Values::Date(v) => Value::Date(v[i]),
            Values::Bool(v) => match v[i] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => Value::Null,
            },
        }
    }

    /// Are values `a` and `b` equal (nulls equal nulls)?
    pub fn same(&self, a: usize, b: usize) -> bool {
        match self {
            Values::Text { codes, .. } => codes[a] == codes[b],
            Values::Number(v) => v[a].to_bits() == v[b].to_bits() || v[a] == v[b],
            Values::Date(v) => v[a] == v[b],
            Values::Bool(v) => v[a] == v[b],
        }
    }

    /// Reorder by a permutation (`out[i] = self[perm[i]]`).
    pub(crate) fn permute(&self, perm: &[u32]) -> Values {
        fn p<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
            perm.iter().map(|&i| v[i as usize]).collect()
        }
        match self {
            Values::Text { dict, codes } => Values::Text {
                dict: dict.clone(),
                codes: p(codes, perm),
            },
            Values::Number(v) => Values::Number(p(v, perm)),
            Values::Date(v) => Values::Date(p(v, perm)),
            Values::Bool(v) => Values::Bool(p(v, perm)),
        }
    }

    /// Append another column of the same kind. Text dictionaries are merged
    /// through `lookup`, the caller's index of `self`'s dictionary, kept
    /// across calls so appending batch after batch stays linear.
    pub(crate) fn extend(&mut self, other: &Values, lookup: &mut TextLookup) {
        match (self, other) {
            (
                Values::Text { dict, codes },
                Values::Text {
                    dict: d2,
                    codes: c2,
                },
            ) if dict.is_empty() => {
                // The first batch: take its dictionary as it is.
                lookup.reserve(d2.len());
                for (i, s) in d2.iter().enumerate() {
                    lookup.insert(s.clone(), i as u32);
                }
                dict.extend(d2.iter().cloned());
                codes.extend_from_slice(c2);
            }
            (
                Values::Text { dict, codes },
                Values::Text {
                    dict: d2,
                    codes: c2,
                },
            ) => {
                let remap: Vec<u32> = d2.iter().map(|s| intern(dict, lookup, s)).collect();
                codes.extend(c2.iter().map(|&c| {
                    if c == NULL_TEXT {
                        NULL_TEXT
                    } else {
                        remap[c as usize]
                    }
                }));
            }
            (Values::Number(a), Values::Number(b)) => a.extend_from_slice(b),
            (Values::Date(a), Values::Date(b)) => a.extend_from_slice(b),
            (Values::Bool(a), Values::Bool(b)) => a.extend_from_slice(b),
            _ => {}
        }
    }
}

/// Builds a [`Values`] column value by value.
///
/// Text is interned by its hash (code of the first string with that hash,
/// others with the same hash beside it), so each distinct string is stored
/// once, in the dictionary: a column of a million distinct names holds them
/// once, not twice.
#[derive(Debug)]
pub struct ValuesBuilder {
    values: Values,
    by_hash: HashMap<u64, u32, foldhash::fast::FixedState>,
    /// Further codes whose strings share a hash with an earlier one.
    collisions: HashMap<u64, Vec<u32>, foldhash::fast::FixedState>,
}

impl ValuesBuilder {
    /// An empty builder of values of this kind.
    pub fn new(kind: FieldKind) -> Self {
        ValuesBuilder {
            values: Values::empty(kind),
            by_hash: HashMap::default(),
            collisions: HashMap::default(),
        }
    }

    fn text_code(
        dict: &mut Vec<String>,
        by_hash: &mut HashMap<u64, u32, foldhash::fast::FixedState>,
        collisions: &mut HashMap<u64, Vec<u32>, foldhash::fast::FixedState>,
        s: &str,
    ) -> u32 {
        use std::hash::BuildHasher;
        let h = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(s);
        match by_hash.get(&h) {
            None => {
                let c = dict.len() as u32;
                dict.push(s.to_string());
                by_hash.insert(h, c);
                c
            }
            Some(&c) if dict[c as usize] == s => c,
            Some(_) => {
                let more = collisions.entry(h).or_default();
                if let Some(&c) = more.iter().find(|&&c| dict[c as usize] == s) {
                    return c;
                }
                let c = dict.len() as u32;
                dict.push(s.to_string());
                more.push(c);
                c
            }
        }
    }

    /// Push a value; a value of the wrong kind is stored as null (the caller
    /// validates kinds before it gets here).
    pub fn push(&mut self, v: &Value) {
        match &mut self.values {
            Values::Text { dict, codes } => {
                let code = match v {
                    Value::Text(s) => {
                        Self::text_code(dict, &mut self.by_hash, &mut self.collisions, s)
                    }
                    _ => NULL_TEXT,
                };
                codes.push(code);
            }
            Values::Number(n) => n.push(v.as_number().unwrap_or(f64::NAN)),
            Values::Date(d) => d.push(v.as_date().unwrap_or(NULL_DATE)),
            Values::Bool(b) => b.push(match v {
                Value::Bool(x) => u8::from(*x),
                _ => NULL_BOOL,
            }),
        }
    }

    /// The values pushed so far.
    pub fn finish(self) -> Values {
        self.values
    }

    /// The values pushed so far.
    pub fn values(&self) -> &Values {
        &self.values
    }
}

/// All events of one field, sorted by (opportunity key, effective_at, seq).
#[derive(Debug, Clone)]
pub struct FieldColumn {
    /// The field.
    pub field: Field,
    /// Each event's opportunity key.
    pub opp: Vec<u32>,
    /// When each change happened.
    pub effective_at: Vec<Timestamp>,
    /// When pipewise learned of it.
    pub recorded_at: Vec<Timestamp>,
    /// Each event's landing order.
    pub seq: Vec<u64>,
    /// Index into [`EventLog::sources`].
    pub source: Vec<u32>,
    /// The source's claimed previous value; `None` when not loaded.
    pub old: Option<Values>,
    /// Each event's new value.
    pub new: Values,
    /// `offsets[k]..offsets[k + 1]` are the events of opportunity key `k`.
    pub offsets: Vec<u32>,
}

impl FieldColumn {
    /// A column of `field` with no events (and no old values).
    pub(crate) fn empty(field: Field) -> FieldColumn {
        FieldColumn {
            new: Values::empty(field.kind()),
            field,
            opp: Vec::new(),
            effective_at: Vec::new(),
            recorded_at: Vec::new(),
            seq: Vec::new(),
            source: Vec::new(),
            old: None,
            offsets: Vec::new(),
        }
    }

    /// How many events the column holds.
    pub fn len(&self) -> usize {
        self.opp.len()
    }

    /// Whether the column holds no events.
    pub fn is_empty(&self) -> bool {
        self.opp.is_empty()
    }

    /// Events of one opportunity key, as an index range.
    pub fn run(&self, key: u32) -> std::ops::Range<usize> {
        let k = key as usize;
        if k + 1 >= self.offsets.len() {
            return 0..0;
        }
        self.offsets[k] as usize..self.offsets[k + 1] as usize
    }

    /// Drop events that repeat an earlier event of the same opportunity with
    /// the same effective time and new value (the earliest landing is kept).
    /// Needs the column sorted; returns how many were dropped.
    pub(crate) fn remove_duplicates(&mut self) -> u64 {
        let n = self.len();
        let mut keep = vec![true; n];
        let mut run_start = 0;
        for i in 1..=n {
            if i == n
                || self.opp[i] != self.opp[run_start]
                || self.effective_at[i] != self.effective_at[run_start]
            {
                for a in run_start..i {
                    if keep[a] && (run_start..a).any(|b| keep[b] && self.new.same(a, b)) {
                        keep[a] = false;
                    }
                }
                run_start = i;
            }
        }
        let dropped = keep.iter().filter(|k| !**k).count() as u64;
        if dropped > 0 {
            let idx: Vec<u32> = (0..n as u32).filter(|&i| keep[i as usize]).collect();
            let p64 = |v: &[i64]| idx.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
            self.effective_at = p64(&self.effective_at);
            self.recorded_at = p64(&self.recorded_at);
            self.opp = idx.iter().map(|&i| self.opp[i as usize]).collect();
            self.seq = idx.iter().map(|&i| self.seq[i as usize]).collect();
            if !self.source.is_empty() {
                self.source = idx.iter().map(|&i| self.source[i as usize]).collect();
            }
            self.new = self.new.permute(&idx);
            self.old = self.old.as_ref().map(|o| o.permute(&idx));
        }
        dropped
    }

    /// Sort by (opp, effective_at, seq) if needed and rebuild offsets for `n_keys`.
    pub(crate) fn finish(&mut self, n_keys: usize) {
        let has_seq = self.seq.len() == self.opp.len();
        let seq = |i: usize| if has_seq { self.seq[i] } else { i as u64 };
        let sorted = (1..self.opp.len()).all(|i| {
            (self.opp[i - 1], self.effective_at[i - 1], seq(i - 1))
                <= (self.opp[i], self.effective_at[i], seq(i))
        });
        if !sorted {
            let mut perm: Vec<u32> = (0..self.opp.len() as u32).collect();
            perm.sort_by_key(|&i| {
                let i = i as usize;
                (self.opp[i], self.effective_at[i], seq(i))
            });
            let p = |v: &[i64]| {
                if v.is_empty() {
                    Vec::new()
                } else {
                    perm.iter().map(|&i| v[i as usize]).collect::<Vec<_>>()
                }
            };
            self.effective_at = p(&self.effective_at);
            self.recorded_at = p(&self.recorded_at);
            self.opp = perm.iter().map(|&i| self.opp[i as usize]).collect();
            if has_seq {
                self.seq = perm.iter().map(|&i| self.seq[i as usize]).collect();
            }
            if !self.source.is_empty() {
                self.source = perm.iter().map(|&i| self.source[i as usize]).collect();
            }
            self.new = self.new.permute(&perm);
            self.old = self.old.as_ref().map(|o| o.permute(&perm));
        }
        let mut offsets = vec![0u32; n_keys + 1];
        for &k in &self.opp {
            if (k as usize) < n_keys {
                offsets[k as usize + 1] += 1;
            }
        }
        for i in 0..n_keys {
            offsets[i + 1] += offsets[i];
        }
        self.offsets = offsets;
    }
}

/// Opportunity ids and their dense keys (assigned in order of first landing).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// Every id, back to back: one buffer for 1M ids, not 1M strings.
    ids: String,
    /// Where each key's id ends in `ids` (empty when ids were not loaded).
    id_ends: Vec<usize>,
    /// Per key: when the opportunity was created.
    pub created_at: Vec<Timestamp>,
    /// When pipewise first learned of the opportunity (for backtests).
    pub first_recorded_at: Vec<Timestamp>,
    /// id → key, built on first lookup: reading the ledger (as-of, metrics)
    /// never needs it, and building it for 1M ids costs more than the read.
    index: std::sync::OnceLock<TextLookup>,
}

impl Keys {
    /// How many opportunities have keys.
    pub fn len(&self) -> usize {
        self.created_at.len()
    }

    /// Whether no opportunity has a key.
    pub fn is_empty(&self) -> bool {
        self.created_at.is_empty()
    }

    /// The key of an opportunity id, if it has one.
    pub fn key(&self, id: &str) -> Option<u32> {
        self.index
            .get_or_init(|| {
                (0..self.id_ends.len() as u32)
                    .map(|k| (self.id(k).to_string(), k))
                    .collect()
            })
            .get(id)
            .copied()
    }

    /// The id of a key; empty when ids were not loaded.
    pub fn id(&self, key: u32) -> &str {
        let k = key as usize;
        match self.id_ends.get(k) {
            Some(&end) => {
                let start = if k == 0 { 0 } else { self.id_ends[k - 1] };
                self.ids.get(start..end).unwrap_or("")
            }
            None => "",
        }
    }

    pub(crate) fn push(&mut self, id: &str, created_at: Timestamp, recorded: Timestamp) -> u32 {
        let k = self.id_ends.len() as u32;
        if let Some(index) = self.index.get_mut() {
            index.insert(id.to_string(), k);
        }
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len());
        self.created_at.push(created_at);
        self.first_recorded_at.push(recorded);
        k
    }
}

/// An opportunity's immutable identity: id and creation time.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // an opportunity's id and creation time
pub struct NewOpportunity {
    pub id: String,
    pub created_at: Timestamp,
}

/// The whole ledger in memory, or the part of it (some fields) that was loaded.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// The opportunities' keys.
    pub keys: Keys,
    /// Per field: its events.
    pub columns: BTreeMap<Field, FieldColumn>,
    /// The events' source labels (`FieldColumn::source` indexes them).
    pub sources: Vec<String>,
    /// The next sequence number to assign.
    pub next_seq: u64,
}

impl EventLog {
    /// A field's events, if the log holds any.
    pub fn column(&self, field: &Field) -> Option<&FieldColumn> {
        self.columns.get(field)
    }

    /// The latest time anything in it happened or was recorded (recorded
    /// times count when they were loaded); 0 for an empty log.
    pub fn latest(&self) -> Timestamp {
        self.columns
            .values()
            .flat_map(|c| c.effective_at.iter().chain(c.recorded_at.iter()).copied())
            .max()
            .unwrap_or(0)
    }

    /// Number of events loaded.
    pub fn event_count(&self) -> usize {
        self.columns.values().map(FieldColumn::len).sum()
    }

    /// The event at `i` of `col` in canonical form.
    pub fn event(&self, col: &FieldColumn, i: usize) -> OpportunityEvent {
        OpportunityEvent {
            opportunity_id: self.keys.id(col.opp[i]).to_string(),
            field: col.field.clone(),
            old_value: col.old.as_ref().map(|o| o.get(i)).unwrap_or(Value::Null),
            new_value: col.new.get(i),
            effective_at: col.effective_at[i],
            recorded_at: col.recorded_at[i],
            // (empty when the load skipped sources)
            source: col
                .source
                .get(i)
                .and_then(|&s| self.sources.get(s as usize))
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Every event in ledger order (by seq), canonical form. For dumps and tests.
    pub fn all_events(&self) -> Vec<(u64, OpportunityEvent)> {
        let mut out = Vec::with_capacity(self.event_count());
        for col in self.columns.values() {
            for i in 0..col.len() {
                out.push((col.seq[i], self.event(col, i)));
            }
        }
        out.sort_by_key(|(s, _)| *s);
        out
    }

    /// A canonical text dump of the ledger (one event a line, in seq order),
    /// for snapshot tests and debugging.
    pub fn dump(&self) -> String {
        use pipewise_model::time::format_timestamp;
        let mut s = String::new();
        for (seq, e) in self.all_events() {
            s.push_str(&format!(
                "{seq}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                e.opportunity_id,
                e.field,
                e.old_value.to_canonical_string().unwrap_or_default(),
                e.new_value.to_canonical_string().unwrap_or_default(),
                format_timestamp(e.effective_at),
                format_timestamp(e.recorded_at),
                e.source
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_interns_each_distinct_text_once() {
        let mut b = ValuesBuilder::new(FieldKind::Text);
        for v in ["a", "b", "a", "", "c", "b"] {
            b.push(&if v.is_empty() {
                Value::Null
            } else {
                Value::Text(v.into())
            });
        }
        let Values::Text { dict, codes } = b.finish() else {
            panic!("a text column")
        };
        assert_eq!(dict, ["a", "b", "c"]);
        assert_eq!(codes, [0, 1, 0, NULL_TEXT, 2, 1]);
    }
}
