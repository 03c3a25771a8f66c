//! Ledger errors.

use std::path::PathBuf;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // each variant is described by its #[error] message
pub enum LedgerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path} is not a pipewise workspace (no ledger/CURRENT); run `pipewise init` first")]
    NotAWorkspace { path: PathBuf },
    #[error(
        "{path} was written by a newer pipewise (ledger format {found}, this build reads up to {supported})"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{path}: another writer ({holder}) still holds this workspace after {waited} s; nothing was written\n\nhint: let it finish and run this again, or raise PIPEWISE_LOCK_WAIT (seconds)"
    )]
    Locked {
        path: PathBuf,
        holder: String,
        waited: u64,
    },
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LedgerError::Io {
            path: path.into(),
            source,
        }
    }
}
