//! `two_targets TARGET TABLE`: two targets in one program. Counts TABLE's rows on TARGET and
//! records the count in the embedded `local` target, in one `session_scope`.
#![allow(clippy::print_stdout, reason = "prints its answer")]

use project_core::db::connections::local;
use project_core::{DbKind, context, registry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (target, table) = scripts::target_and_table("two_targets [--config-dir DIR] TARGET TABLE");
    scripts::exit("two_targets", run(&target, &table).await)
}

async fn run(target: &str, table: &str) -> anyhow::Result<()> {
    let source = registry::open(target, context()).await?;
    let sql = format!(
        "select count(*) from {}",
        scripts::quoted(source.kind(), table)
    );
    let rows: i64 = match source.kind() {
        DbKind::Postgres => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(source.pool::<sqlx::Postgres>()?)
                .await?
        }
        DbKind::MySql => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(source.pool::<sqlx::MySql>()?)
                .await?
        }
        DbKind::Sqlite => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(source.pool::<sqlx::Sqlite>()?)
                .await?
        }
    };
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
    Ok(())
}
