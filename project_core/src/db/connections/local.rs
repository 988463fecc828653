//! Local: an embedded SQLite file in the user data directory; needs no server and no settings.

crate::connection_module! {
    name: "local",
    kind: Sqlite,
    path: crate::settings::DefaultPath::UserData("local.sqlite3"),
    sources: [],
    env_prefix: "PROJECT_LOCAL_DB",
    about: "embedded SQLite in the user data directory; no server, no credential",
}
