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

/// `TARGET TABLE` after an optional `--config-dir DIR` (as every app takes), with the process
/// context set from it. `-h`/`--help` prints `usage` and exits 0; other arguments print it to
/// stderr and exit 2, as clap does for the apps.
#[allow(clippy::print_stdout, reason = "--help prints the usage")]
pub fn target_and_table(usage: &str) -> (String, String) {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: {usage}");
        std::process::exit(0);
    }
    let mut dir = None;
    if args.first().is_some_and(|a| a == "--config-dir") && args.len() > 1 {
        dir = Some(std::path::PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let [target, table] = <[String; 2]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    });
    let env: std::sync::Arc<dyn project_core::context::EnvPort> =
        std::sync::Arc::new(project_core::context::ProcessEnv);
    match project_core::Context::for_app(dir.as_deref(), env) {
        Ok(context) => project_core::configure(context),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    (target, table)
}

/// A script's exit: on error, `NAME: error: …` once, with each cause said once, and status 1.
pub fn exit(name: &str, outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: error: {}", project_core::one_line(error.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
