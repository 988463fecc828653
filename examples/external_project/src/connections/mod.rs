//! This project's targets, one module each, as `project_core::db::connections` holds dbcore's.

pub mod notes;
