//! Hostile inputs: settings.
