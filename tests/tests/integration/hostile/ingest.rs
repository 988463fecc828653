//! Hostile inputs: ingest.
