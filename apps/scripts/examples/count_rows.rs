//! `count_rows TARGET TABLE`: the original pattern's minimal usage example.
#![allow(clippy::print_stdout, reason = "prints its answer")]

use std::process::ExitCode;

use project_core::{context, registry};

fn main() -> ExitCode {
    let args = scripts::args("count_rows [--config-dir DIR] TARGET TABLE");
    app_main::main("count_rows", run(args))
}

async fn run(args: scripts::Args) -> anyhow::Result<ExitCode> {
    scripts::configure(args.config_dir.as_deref())?;
    let (target, table) = (args.target.as_str(), args.table.as_str());
    let db = registry::open(target, context()).await?;
    let sql = format!("select count(*) from {}", scripts::quoted(db.kind(), table));
    let rows: i64 = project_core::on_pool!(db.any_pool(), pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
    });
    println!("rows: {rows}");
    Ok(ExitCode::SUCCESS)
}
