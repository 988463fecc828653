//! `count_rows TARGET TABLE`: the original pattern's minimal usage example.
#![allow(clippy::print_stdout, reason = "prints its answer")]

use project_core::{DbKind, context, registry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (target, table) = scripts::target_and_table("count_rows [--config-dir DIR] TARGET TABLE");
    scripts::exit("count_rows", run(&target, &table).await)
}

async fn run(target: &str, table: &str) -> anyhow::Result<()> {
    let db = registry::open(target, context()).await?;
    let sql = format!("select count(*) from {}", scripts::quoted(db.kind(), table));
    let rows: i64 = match db.kind() {
        DbKind::Postgres => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(db.pool::<sqlx::Postgres>()?)
                .await?
        }
        DbKind::MySql => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(db.pool::<sqlx::MySql>()?)
                .await?
        }
        DbKind::Sqlite => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(db.pool::<sqlx::Sqlite>()?)
                .await?
        }
    };
    println!("rows: {rows}");
    Ok(())
}
