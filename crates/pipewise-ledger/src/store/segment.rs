//! A segment's files: the Parquet schema of a field file and of the keys
//! file, ledger values to and from Arrow arrays, one field file read back.

use crate::error::LedgerError;
use crate::log::{FieldColumn, NULL_BOOL, NULL_DATE, NULL_TEXT, TextLookup, Values, intern};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use pipewise_model::{Field, FieldKind};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The events of one field in one segment file, with the file's own source
/// names (`events.source` indexes `sources`).
pub(super) struct FieldPart {
    pub(super) events: FieldColumn,
    pub(super) sources: Vec<String>,
}

/// One segment file's batches of `field` as events.
pub(super) fn field_part(
    field: &Field,
    batches: Vec<RecordBatch>,
    old_values: bool,
    path: &Path,
) -> Result<FieldPart, LedgerError> {
    let kind = field.kind();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut e = FieldColumn {
        old: old_values.then(|| Values::empty(kind)),
        ..FieldColumn::empty(field.clone())
    };
    e.opp.reserve_exact(rows);
    e.effective_at.reserve_exact(rows);
    let mut sources: Vec<String> = Vec::new();
    let mut source_lookup = TextLookup::default();
    let (mut new_lookup, mut old_lookup) = (TextLookup::default(), TextLookup::default());
    for b in batches {
        e.opp
            .extend_from_slice(col::<UInt32Array>(&b, "opportunity_key", path)?.values());
        e.effective_at.extend_from_slice(
            col::<TimestampMicrosecondArray>(&b, "effective_at", path)?.values(),
        );
        if b.column_by_name("recorded_at").is_some() {
            e.recorded_at.extend_from_slice(
                col::<TimestampMicrosecondArray>(&b, "recorded_at", path)?.values(),
            );
        }
        if b.column_by_name("seq").is_some() {
            e.seq
                .extend_from_slice(col::<UInt64Array>(&b, "seq", path)?.values());
        }
        if b.column_by_name("source").is_some() {
            let src = col::<DictionaryArray<Int32Type>>(&b, "source", path)?;
            let sv = src
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| corrupt(path, "source"))?;
            let remap: Vec<u32> = (0..sv.len())
                .map(|i| intern(&mut sources, &mut source_lookup, sv.value(i)))
                .collect();
            e.source
                .extend(src.keys().values().iter().map(|&k| remap[k as usize]));
        }
        let new = b
            .column_by_name("new_value")
            .ok_or_else(|| corrupt(path, "new_value"))?;
        e.new
            .extend(&array_to_values(new.as_ref(), kind, path)?, &mut new_lookup);
        if let Some(old) = e.old.as_mut() {
            let a = b
                .column_by_name("old_value")
                .ok_or_else(|| corrupt(path, "old_value"))?;
            old.extend(&array_to_values(a.as_ref(), kind, path)?, &mut old_lookup);
        }
    }
    Ok(FieldPart { events: e, sources })
}

pub(super) fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(super) fn text_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub(super) fn value_type(kind: FieldKind) -> DataType {
    match kind {
        FieldKind::Text => text_type(),
        FieldKind::Number => DataType::Float64,
        FieldKind::Date => DataType::Date32,
        FieldKind::Bool => DataType::Boolean,
    }
}

/// Schema of one field's segment file.
pub fn field_file_schema(kind: FieldKind) -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("opportunity_key", DataType::UInt32, false),
        ArrowField::new("effective_at", ts_type(), false),
        ArrowField::new("recorded_at", ts_type(), false),
        ArrowField::new("seq", DataType::UInt64, false),
        ArrowField::new("source", text_type(), false),
        ArrowField::new("old_value", value_type(kind), true),
        ArrowField::new("new_value", value_type(kind), true),
    ]))
}

pub(super) fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("opportunity_key", DataType::UInt32, false),
        ArrowField::new("opportunity_id", DataType::Utf8, false),
        ArrowField::new("created_at", ts_type(), false),
        ArrowField::new("first_recorded_at", ts_type(), false),
    ]))
}

pub(super) fn values_to_array(v: &Values) -> ArrayRef {
    match v {
        Values::Text { dict, codes } => {
            let keys: Int32Array = codes
                .iter()
                .map(|&c| (c != NULL_TEXT).then_some(c as i32))
                .collect();
            let values = Arc::new(StringArray::from_iter_values(dict.iter()));
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values).unwrap_or_else(|_| {
                    DictionaryArray::<Int32Type>::from_iter(std::iter::empty::<&str>())
                }),
            )
        }
        Values::Number(n) => Arc::new(
            n.iter()
                .map(|x| (!x.is_nan()).then_some(*x))
                .collect::<Float64Array>(),
        ),
        Values::Date(d) => Arc::new(
            d.iter()
                .map(|x| (*x != NULL_DATE).then_some(*x))
                .collect::<Date32Array>(),
        ),
        Values::Bool(b) => Arc::new(
            b.iter()
                .map(|x| (*x != NULL_BOOL).then_some(*x == 1))
                .collect::<BooleanArray>(),
        ),
    }
}

pub(super) fn corrupt(path: &Path, what: &str) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        message: format!("unexpected column type for {what}"),
    }
}

pub(super) fn array_to_values(
    a: &dyn Array,
    kind: FieldKind,
    path: &Path,
) -> Result<Values, LedgerError> {
    Ok(match kind {
        FieldKind::Text => {
            if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
                let vals = d
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| corrupt(path, "text dictionary"))?;
                // Every batch of a column carries the column chunk's whole
                // dictionary (1M entries for names): copy only the entries
                // this batch uses.
                let keys = d.keys();
                let mut remap = vec![NULL_TEXT; vals.len()];
                let mut dict: Vec<String> = Vec::new();
                let codes = (0..keys.len())
                    .map(|i| {
                        if keys.is_null(i) {
                            return NULL_TEXT;
                        }
                        let k = keys.value(i) as usize;
                        if remap[k] == NULL_TEXT {
                            remap[k] = dict.len() as u32;
                            dict.push(vals.value(k).to_string());
                        }
                        remap[k]
                    })
                    .collect();
                Values::Text { dict, codes }
            } else if let Some(s) = a.as_any().downcast_ref::<StringArray>() {
                // Plain-encoded text (Parquet falls back from dictionaries on
                // high-cardinality columns such as names): look values up by
                // reference, allocate each distinct value once.
                let mut lookup: HashMap<&str, u32, foldhash::fast::FixedState> = HashMap::default();
                let mut dict: Vec<String> = Vec::new();
                let codes = (0..s.len())
                    .map(|i| {
                        if s.is_null(i) {
                            return NULL_TEXT;
                        }
                        let v = s.value(i);
                        *lookup.entry(v).or_insert_with(|| {
                            dict.push(v.to_string());
                            (dict.len() - 1) as u32
                        })
                    })
                    .collect();
                Values::Text { dict, codes }
            } else {
                return Err(corrupt(path, "text value"));
            }
        }
        FieldKind::Number => {
            let n = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| corrupt(path, "number value"))?;
            Values::Number(
                (0..n.len())
                    .map(|i| if n.is_null(i) { f64::NAN } else { n.value(i) })
                    .collect(),
            )
        }
        FieldKind::Date => {
            let d = a
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or_else(|| corrupt(path, "date value"))?;
            Values::Date(
                (0..d.len())
                    .map(|i| if d.is_null(i) { NULL_DATE } else { d.value(i) })
                    .collect(),
            )
        }
        FieldKind::Bool => {
            let b = a
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| corrupt(path, "bool value"))?;
            Values::Bool(
                (0..b.len())
                    .map(|i| {
                        if b.is_null(i) {
                            NULL_BOOL
                        } else {
                            u8::from(b.value(i))
                        }
                    })
                    .collect(),
            )
        }
    })
}

pub(super) fn col<'a, T: 'static>(
    b: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a T, LedgerError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupt(path, name))
}
