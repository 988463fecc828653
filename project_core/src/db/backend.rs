//! `Backend`: the sqlx databases the standard API hands out typed pools for.

use adapters::database::DbPool;
use domain::DbKind;
use sqlx::Pool;

/// A kind of database the standard API can hand out typed pools for.
pub trait Backend: sqlx::Database {
    const KIND: DbKind;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>>;
}

impl Backend for sqlx::Postgres {
    const KIND: DbKind = DbKind::Postgres;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_postgres()
    }
}

impl Backend for sqlx::MySql {
    const KIND: DbKind = DbKind::MySql;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_mysql()
    }
}

impl Backend for sqlx::Sqlite {
    const KIND: DbKind = DbKind::Sqlite;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_sqlite()
    }
}
