//! `pipewise ingest hubspot DIR` (not yet implemented).
