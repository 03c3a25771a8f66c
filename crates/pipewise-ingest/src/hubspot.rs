//! `pipewise ingest hubspot DIR` (not yet implemented).

use crate::{IngestError, IngestOptions, IngestOutcome};
use pipewise_ledger::Store;
use pipewise_model::SalesProcess;
use std::path::Path;

pub fn ingest(
    _store: &Store,
    _process: &SalesProcess,
    dir: &Path,
    _opts: IngestOptions,
) -> Result<IngestOutcome, IngestError> {
    Err(IngestError::NoInput {
        dir: dir.display().to_string(),
        message: "the HubSpot connector is not built yet".into(),
    })
}
