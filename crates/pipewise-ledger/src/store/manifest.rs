//! Versions: one manifest per commit, naming its segments, entity tables and
//! ingests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ledger format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentInfo {
    pub id: String,
    /// Field name → number of events of that field in the segment.
    pub fields: BTreeMap<String, u64>,
    pub new_keys: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableInfo {
    /// Path relative to the ledger folder.
    pub path: String,
    pub rows: u64,
}

/// One input file of an ingest and how its rows were accounted for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_landed: u64,
    pub rows_quarantined: u64,
}

/// What one ingest (or synth) added, kept in the manifest forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRecord {
    pub id: String,
    pub kind: String,
    pub recorded_at: String,
    pub files: Vec<SourceFile>,
    pub events_added: u64,
    pub events_duplicate: u64,
    /// Workspace-relative paths of the quarantine and data-quality report.
    pub quarantine: Option<String>,
    pub report: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    pub next_seq: u64,
    pub key_count: u64,
    pub segments: Vec<SegmentInfo>,
    pub tables: BTreeMap<String, TableInfo>,
    pub ingests: Vec<IngestRecord>,
}

impl Manifest {
    pub(super) fn empty() -> Manifest {
        Manifest {
            format: FORMAT,
            version: 0,
            next_seq: 0,
            key_count: 0,
            segments: Vec::new(),
            tables: BTreeMap::new(),
            ingests: Vec::new(),
        }
    }

    pub fn event_count(&self) -> u64 {
        self.segments.iter().flat_map(|s| s.fields.values()).sum()
    }
}
