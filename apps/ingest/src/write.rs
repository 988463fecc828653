//! Writing checked rows: `COPY … FROM STDIN` on PostgreSQL, batched multi-row inserts with
//! bound values on MySQL and SQLite, inside a transaction of the caller's.

use anyhow::Result;
use project_core::db::Tx;
use project_core::{DbError, DbKind};

use crate::plan::{Plan, Row};

/// The server's COPY error, with the input line it names ("COPY items, line 3" counts the rows
/// sent, which are mapped back to the file's lines).
pub fn refused_copy(error: &sqlx::Error, sent_lines: &[u64]) -> anyhow::Error {
    let context = match error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.r#where().map(str::to_owned)),
        _ => None,
    };
    let copy_line = context.as_deref().and_then(|w| {
        let rest = w.split(", line ").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<usize>()
            .ok()
    });
    match copy_line.and_then(|n| sent_lines.get(n.checked_sub(1)?)) {
        Some(line) => anyhow::anyhow!("the server refused line {line}: {error}"),
        None => anyhow::anyhow!("the server refused the rows: {error}"),
    }
}

pub fn copy_payload(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, value) in row.values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if let Some(v) = value {
                out.push(b'"');
                out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'\n');
    }
    out
}

/// `COPY table (columns) FROM STDIN` for the plan's columns, in CSV as `copy_payload` writes it.
pub fn copy_statement(plan: &Plan) -> String {
    let columns: Vec<String> = plan
        .columns
        .iter()
        .map(|(c, _)| DbKind::Postgres.quote_identifier(&c.name))
        .collect();
    format!(
        "COPY {} ({}) FROM STDIN WITH (FORMAT csv)",
        plan.qualified,
        columns.join(", ")
    )
}

async fn write_pg(tx: &mut Tx<sqlx::Postgres>, plan: &Plan, rows: &[Row]) -> Result<u64, DbError> {
    let statement = copy_statement(plan);
    let target = tx.target_name().to_owned();
    let err = |cause| DbError::Query {
        target: target.clone(),
        cause,
    };
    let mut copy = tx.copy_in_raw(&statement).await.map_err(err)?;
    let payload = copy_payload(rows);
    for chunk in payload.chunks(1 << 20) {
        copy.send(chunk).await.map_err(err)?;
    }
    copy.finish().await.map_err(err)
}

macro_rules! insert_batches {
    ($name:ident, $db:ty, $kind:expr, $max_params:expr) => {
        async fn $name(tx: &mut Tx<$db>, plan: &Plan, rows: &[Row]) -> Result<u64, DbError> {
            let columns: Vec<String> = plan
                .columns
                .iter()
                .map(|(c, _)| $kind.quote_identifier(&c.name))
                .collect();
            let per_statement = ($max_params / plan.columns.len().max(1)).max(1);
            let mut written = 0;
            for chunk in rows.chunks(per_statement) {
                let mut builder = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {} ({}) ",
                    plan.qualified,
                    columns.join(", ")
                ));
                builder.push_values(chunk, |mut b, row| {
                    for value in &row.values {
                        b.push_bind(value.clone());
                    }
                });
                let done = match builder.build().execute(&mut **tx).await {
                    Ok(done) => done,
                    Err(cause) => return Err(tx.query_error(cause)),
                };
                written += done.rows_affected();
            }
            Ok(written)
        }
    };
}

insert_batches!(write_mysql, sqlx::MySql, DbKind::MySql, 60_000);
insert_batches!(write_sqlite, sqlx::Sqlite, DbKind::Sqlite, 30_000);

/// A transaction of any kind, for the load loop.
pub enum AnyTx<'t> {
    Pg(&'t mut Tx<sqlx::Postgres>),
    My(&'t mut Tx<sqlx::MySql>),
    Lite(&'t mut Tx<sqlx::Sqlite>),
}
pub use AnyTx::{Lite, My, Pg};

// So that a body written once for every kind (`project_core::on_pool!`) can wrap its `Tx<DB>`.
impl<'t> From<&'t mut Tx<sqlx::Postgres>> for AnyTx<'t> {
    fn from(tx: &'t mut Tx<sqlx::Postgres>) -> Self {
        Pg(tx)
    }
}

impl<'t> From<&'t mut Tx<sqlx::MySql>> for AnyTx<'t> {
    fn from(tx: &'t mut Tx<sqlx::MySql>) -> Self {
        My(tx)
    }
}

impl<'t> From<&'t mut Tx<sqlx::Sqlite>> for AnyTx<'t> {
    fn from(tx: &'t mut Tx<sqlx::Sqlite>) -> Self {
        Lite(tx)
    }
}

impl AnyTx<'_> {
    pub async fn write(&mut self, plan: &Plan, rows: &[Row]) -> Result<u64> {
        let first_line = rows.first().map_or(0, |r| r.line);
        let last_line = rows.last().map_or(0, |r| r.line);
        match self {
            Pg(tx) => write_pg(tx, plan, rows).await,
            My(tx) => write_mysql(tx, plan, rows).await,
            Lite(tx) => write_sqlite(tx, plan, rows).await,
        }
        .map_err(|e| {
            anyhow::anyhow!("the server refused the rows of lines {first_line}–{last_line}: {e}")
        })
    }
}
