//! Hostile inputs: viewer.
