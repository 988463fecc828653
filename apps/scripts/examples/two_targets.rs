//! `two_targets TARGET TABLE`: two targets in one program. Counts TABLE's rows on TARGET and
//! records the count in the embedded `local` target, in one `session_scope`.
#![allow(clippy::print_stdout, reason = "prints its answer")]

use project_core::db::connections::local;
use std::process::ExitCode;

use project_core::{context, registry};

fn main() -> ExitCode {
    let args = scripts::args("two_targets [--config-dir DIR] TARGET TABLE");
    app_main::main("two_targets", run(args))
}

async fn run(args: scripts::Args) -> anyhow::Result<ExitCode> {
    scripts::configure(args.config_dir.as_deref())?;
    let (target, table) = (args.target.as_str(), args.table.as_str());
    let source = registry::open(target, context()).await?;
    let sql = format!(
        "select count(*) from {}",
        scripts::quoted(source.kind(), table)
    );
    let rows: i64 = project_core::on_pool!(source.any_pool(), pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
    });
    let recorded: i64 = local::session_scope(async |tx| {
        sqlx::query("create table if not exists counts (target text, tbl text, n integer, at text default current_timestamp)")
            .execute(&mut **tx)
            .await?;
        sqlx::query("insert into counts (target, tbl, n) values (?, ?, ?)")
            .bind(target)
            .bind(table)
            .bind(rows)
            .execute(&mut **tx)
            .await?;
        Ok::<_, anyhow::Error>(sqlx::query_scalar("select count(*) from counts").fetch_one(&mut **tx).await?)
    })
    .await?;
    println!("{target}.{table}: {rows} rows; local has {recorded} recorded counts");
    source.close().await;
    local::close().await;
    Ok(ExitCode::SUCCESS)
}
