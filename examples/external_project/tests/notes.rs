//! The example project's target opened on SQLite, with its file named through its own
//! environment prefix: a session_scope that creates a table and inserts, then the table read
//! back through `metadata()`. The environment is a `MapEnv`, never the process's.

use std::sync::Arc;

use dbcore_example_project::connections::notes;
use dbcore_example_project::{add_note, note_bodies, note_columns};
use domain::MapEnv;

#[tokio::test]
async fn the_projects_own_target_opens_on_sqlite_from_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (config, cache) = (dir.path().join("config"), dir.path().join("cache"));
    std::fs::create_dir_all(&config).unwrap();
    let file = dir.path().join("notes.sqlite3");
    let env = MapEnv::new()
        .with("EXAMPLE_DB_PATH", file.to_str().unwrap())
        .with("PROJECT_CACHE_DIR", cache.to_str().unwrap());
    assert!(
        project_core::configure(project_core::context_with(Some(&config), Arc::new(env))),
        "nothing configured the process before this test"
    );

    assert_eq!(notes::DEFAULTS.env_prefix, "EXAMPLE_DB");
    assert_eq!(add_note("first").await.unwrap(), 1);
    assert_eq!(add_note("second").await.unwrap(), 2);
    assert!(file.exists(), "the target used EXAMPLE_DB_PATH");

    let columns = note_columns().await.unwrap().expect("metadata has notes");
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["id", "body"]);
    assert!(!columns[1].1, "body is declared not null");
    assert_eq!(note_bodies().await.unwrap(), ["first", "second"]);
    let db = notes::db().await.unwrap();
    assert_eq!(db.name(), "notes");
    assert_eq!(db.kind(), project_core::DbKind::Sqlite);
    notes::close().await;
}
