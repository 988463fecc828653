//! `count_rows TARGET TABLE`: the original pattern's minimal usage example.
#![allow(clippy::print_stdout, reason = "prints its answer")]

use project_core::{DbKind, context, registry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = scripts::args().into_iter();
    let (Some(target), Some(table)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: count_rows [--config-dir DIR] TARGET TABLE");
    };
    let db = registry::open(&target, context()).await?;
    let sql = format!(
        "select count(*) from {}",
        scripts::quoted(db.kind(), &table)
    );
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
