//! Reading and writing whole Parquet files. Files are written to a temporary
//! name, synced, then renamed into place, so a reader never sees half a file.

use crate::error::LedgerError;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::fs::File;
use std::io::Write;
use std::path::Path;

fn pq(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> LedgerError + '_ {
    move |source| LedgerError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `batches` (all of `schema`) to `path` atomically.
pub(crate) fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), LedgerError> {
    // Uncompressed and plain-encoded except for text: timestamps barely
    // compress, and plain pages decode at memory speed. Text columns
    // (dictionary arrays) keep their dictionaries.
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| LedgerError::io(&tmp, e))?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false);
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            arrow_schema::DataType::Dictionary(_, _) | arrow_schema::DataType::Utf8
        ) {
            props = props.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(f.name().as_str()),
                true,
            );
        }
    }
    let props = props
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(256 * 1024))
        .set_created_by("pipewise".to_string())
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(pq(&tmp))?;
    for b in batches {
        w.write(b).map_err(pq(&tmp))?;
    }
    let file = w.into_inner().map_err(pq(&tmp))?;
    file.sync_all().map_err(|e| LedgerError::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| LedgerError::io(path, e))?;
    Ok(())
}

/// Read a whole Parquet file, optionally only the named columns.
pub(crate) fn read_parquet(
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>, LedgerError> {
    let file = File::open(path).map_err(|e| LedgerError::io(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq(path))?
        // Batches never span row groups (256Ki rows), so dictionary columns stay
        // dictionaries instead of being decoded to strings and re-encoded.
        .with_batch_size(1 << 16);
    if let Some(cols) = columns {
        let schema = builder.parquet_schema();
        let idx: Vec<usize> = cols
            .iter()
            .filter_map(|c| (0..schema.num_columns()).find(|&i| schema.column(i).name() == *c))
            .collect();
        let mask = ProjectionMask::leaves(schema, idx);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(pq(path))?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b.map_err(|e| LedgerError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?);
    }
    Ok(out)
}

/// Write a small text file atomically (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| LedgerError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| LedgerError::io(&tmp, e))?;
    f.sync_all().map_err(|e| LedgerError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| LedgerError::io(path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        // Persist the rename itself; not all platforms allow syncing a directory.
        let _ = d.sync_all();
    }
    Ok(())
}
