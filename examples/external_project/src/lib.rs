//! Another project's code on dbcore: a stand-in for a crate in some other workspace that
//! depends on `domain`, `adapters` and `project_core` (by `git = "…"` there, by path here) and
//! declares its own target with `project_core::connection_module!`, under its own environment
//! prefix. Nothing here is a URL or a secret: the target's module and its settings decide.
//!
//! The test (`tests/notes.rs`) opens it on a temporary SQLite file named through
//! `EXAMPLE_DB_PATH`, given by a fake environment rather than the process's.

use std::path::Path;
use std::sync::Arc;

use project_core::{Context, DbError};

pub mod connections;

use connections::notes;

/// What a binary of this project does first: settings from `--config-dir` (or the usual
/// places) and the process environment, read through dbcore's `Env` port.
pub fn configure(config_dir: Option<&Path>) -> Result<(), project_core::settings::SettingsError> {
    let context = Context::for_app(config_dir, Arc::new(adapters::ProcessEnv))?;
    project_core::configure(context);
    Ok(())
}

/// Adds a note in one transaction (creating the table on first use) and returns how many
/// notes there are now.
pub async fn add_note(body: &str) -> Result<i64, DbError> {
    notes::session_scope(async |tx| {
        let created = sqlx::query(
            "create table if not exists notes (id integer primary key, body text not null)",
        )
        .execute(&mut **tx)
        .await;
        created.map_err(|cause| tx.query_error(cause))?;
        let inserted = sqlx::query("insert into notes (body) values (?)")
            .bind(body)
            .execute(&mut **tx)
            .await;
        inserted.map_err(|cause| tx.query_error(cause))?;
        let count = sqlx::query_scalar("select count(*) from notes")
            .fetch_one(&mut **tx)
            .await;
        count.map_err(|cause| tx.query_error(cause))
    })
    .await
}

/// The columns of the `notes` table as `metadata()` reflects them, in order, each with whether
/// it may be null (`None` while the table does not exist).
pub async fn note_columns() -> Result<Option<Vec<(String, bool)>>, DbError> {
    let metadata = notes::metadata().await?;
    Ok(metadata.table("notes").map(|(_, table)| {
        table
            .columns
            .iter()
            .map(|column| (column.name.clone(), column.nullable))
            .collect()
    }))
}

/// Every note's body, oldest first.
pub async fn note_bodies() -> Result<Vec<String>, DbError> {
    notes::session_scope(async |tx| {
        let bodies = sqlx::query_scalar("select body from notes order by id")
            .fetch_all(&mut **tx)
            .await;
        bodies.map_err(|cause| tx.query_error(cause))
    })
    .await
}
