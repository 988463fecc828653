//! Tiny programs that show the pattern: a connection module (or a target by name) and the
//! standard API, no URL and no secret. See `src/bin/`.

/// `"schema"."table"` (or `` `schema`.`table` `` for MySQL), for a name given on the command line.
pub fn quoted(kind: project_core::DbKind, name: &str) -> String {
    let q = |part: &str| match kind {
        project_core::DbKind::MySql => format!("`{}`", part.replace('`', "``")),
        _ => format!("\"{}\"", part.replace('"', "\"\"")),
    };
    name.split('.').map(q).collect::<Vec<_>>().join(".")
}

/// Positional arguments after an optional `--config-dir DIR` (as every app takes), with the
/// process context set from it.
pub fn args() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    if args.first().is_some_and(|a| a == "--config-dir") && args.len() > 1 {
        dir = Some(std::path::PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let env: std::sync::Arc<dyn project_core::context::EnvPort> =
        std::sync::Arc::new(project_core::context::ProcessEnv);
    project_core::configure(project_core::Context::new(dir.as_deref(), env));
    args
}
