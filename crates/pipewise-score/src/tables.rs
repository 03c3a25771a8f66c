//! Reading the canonical entity tables' Arrow columns: each column looked up
//! once per batch, nulls as `None`.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};

/// A text column of a batch.
pub(crate) fn strings<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    b.column_by_name(name)?.as_string_opt::<i32>()
}

/// Row `i` of a text column.
pub(crate) fn text(c: Option<&StringArray>, i: usize) -> Option<String> {
    let c = c?;
    (!c.is_null(i)).then(|| c.value(i).to_string())
}

/// A timestamp column of a batch.
pub(crate) fn stamps<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a TimestampMicrosecondArray> {
    b.column_by_name(name)?
        .as_primitive_opt::<TimestampMicrosecondType>()
}

/// Row `i` of a timestamp column.
pub(crate) fn stamp(c: Option<&TimestampMicrosecondArray>, i: usize) -> Option<i64> {
    let c = c?;
    (!c.is_null(i)).then(|| c.value(i))
}
