//! `pipewise ingest csv DIR --mapping FILE.toml` (not yet implemented).
