//! Notes: this project's own embedded SQLite file. Its settings come from `EXAMPLE_DB_*`
//! (`EXAMPLE_DB_PATH` moves the file) and `<config dir>/targets/notes.toml`.

project_core::connection_module! {
    name: "notes",
    kind: Sqlite,
    path: project_core::settings::DefaultPath::UserData("example-notes.sqlite3"),
    sources: [],
    env_prefix: "EXAMPLE_DB",
    about: "the example project's notes, in SQLite; no server, no credential",
}
