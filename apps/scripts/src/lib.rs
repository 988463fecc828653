//! Tiny programs that show the pattern: a connection module (or a target by name) and the
//! standard API, no URL and no secret. See `examples/` (`cargo run -p scripts --example count_rows
//! -- laptop items`).

/// `"schema"."table"` (or `` `schema`.`table` `` for MySQL), for a name given on the command line.
pub fn quoted(kind: project_core::DbKind, name: &str) -> String {
    name.split('.')
        .map(|part| kind.quote_identifier(part))
        .collect::<Vec<_>>()
        .join(".")
}

/// A script's command line: `[--config-dir DIR] TARGET TABLE`.
#[derive(Debug)]
pub struct Args {
    pub config_dir: Option<std::path::PathBuf>,
    pub target: String,
    pub table: String,
}

/// Reads the command line. `-h`/`--help` prints `usage` and exits 0; other arguments print it
/// to stderr and exit 2, as clap does for the apps.
#[allow(clippy::print_stdout, reason = "--help prints the usage")]
pub fn args(usage: &str) -> Args {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: {usage}");
        std::process::exit(0);
    }
    let mut config_dir = None;
    if args.first().is_some_and(|a| a == "--config-dir") && args.len() > 1 {
        config_dir = Some(std::path::PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let [target, table] = <[String; 2]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    });
    Args {
        config_dir,
        target,
        table,
    }
}

/// Sets the process context from `--config-dir` (or the usual defaults), as every app does.
pub fn configure(config_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let env: std::sync::Arc<dyn project_core::context::EnvPort> =
        std::sync::Arc::new(project_core::context::ProcessEnv);
    project_core::configure(project_core::Context::for_app(config_dir, env)?);
    Ok(())
}
