//! Hostile inputs: files.
