//! Hostile inputs: vault.
