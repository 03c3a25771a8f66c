//! Versions: one manifest per commit, naming its segments, entity tables and
//! ingests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ledger format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;

/// One commit's segment: its folder, its field files and how many new keys it adds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentInfo {
    /// The segment's folder name (`s000007`).
    pub id: String,
    /// Field name → number of events of that field in the segment.
    pub fields: BTreeMap<String, u64>,
    /// Opportunities the segment adds.
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
    /// The file's path as given to the ingest.
    pub path: String,
    /// The SHA-256 of its bytes.
    pub sha256: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows landed.
    pub rows_landed: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
}

/// What one ingest (or synth) added, kept in the manifest forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRecord {
    /// The ingest's id.
    pub id: String,
    /// The connector.
    pub kind: String,
    /// When it ran.
    pub recorded_at: String,
    /// The files it read.
    pub files: Vec<SourceFile>,
    /// Events it landed.
    pub events_added: u64,
    /// Events it skipped as already in the ledger.
    pub events_duplicate: u64,
    /// The seq numbers of the events it landed: `[first, next)`, set by
    /// the commit. `None` in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqs: Option<[u64; 2]>,
    /// Workspace-relative paths of the quarantine and data-quality report.
    pub quarantine: Option<String>,
    /// Its data-quality report's path.
    pub report: Option<String>,
}

/// One version of the ledger: every segment, entity table and ingest up to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The ledger format ([`FORMAT`]).
    pub format: u32,
    /// The version number (0: empty).
    pub version: u64,
    /// The seq number the next event gets.
    pub next_seq: u64,
    /// How many opportunities have keys.
    pub key_count: u64,
    /// Every segment, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Each entity table's current file.
    pub tables: BTreeMap<String, TableInfo>,
    /// Every ingest, oldest first.
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

    /// How many events the version holds.
    pub fn event_count(&self) -> u64 {
        self.segments.iter().flat_map(|s| s.fields.values()).sum()
    }
}
