//! Reflection and the metadata cache on real SQLite, PostgreSQL and MariaDB.
//!
//! Each kind gets a schema with composite keys, cross-schema foreign keys (where the kind has
//! them), views, quoted mixed-case identifiers and a dropped column; the reflection is checked
//! against expectations and against the server's own `information_schema`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use domain::ConnectionTarget as _;
use domain::MapEnv;
use domain::metadata::{ForeignKey, Metadata, Table, TableKind};
use project_core::db::DatabaseConnection;
use project_core::metadata::CacheStatus;
use project_core::{Context, context_with, registry};
use tests::bin::{ConfigDir, run};

fn table<'m>(m: &'m Metadata, schema: &str, name: &str) -> &'m Table {
    m.schemas
        .iter()
        .find(|s| s.name == schema)
        .and_then(|s| s.tables.iter().find(|t| t.name == name))
        .unwrap_or_else(|| panic!("{schema}.{name} is reflected: {m:#?}"))
}

fn column_names(t: &Table) -> Vec<&str> {
    t.columns.iter().map(|c| c.name.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A context whose caches live in `config`'s directory.
fn context(config: &ConfigDir, env: MapEnv) -> Context {
    let cache = config.path().join("cache");
    context_with(
        Some(config.path()),
        Arc::new(env.with("PROJECT_CACHE_DIR", cache.to_str().unwrap())),
    )
}

// ---------------------------------------------------------------- SQLite

const SQLITE_SCHEMA: &str = r#"
create table products (sku text, region integer, name text not null default 'unnamed', primary key (sku, region));
create table "Order Lines" ("Line ID" integer primary key, sku text not null, region integer not null,
    "Qty" numeric(10,2) default 1, foreign key (sku, region) references products (sku, region),
    unique (sku, "Line ID"));
create table refs_implicit (id integer primary key, p_sku text, p_region integer,
    doubled integer generated always as (p_region * 2) virtual,
    foreign key (p_sku, p_region) references products);
create index "Idx Region" on "Order Lines" (region, sku);
create view "Big Lines" as select "Line ID", "Qty" from "Order Lines" where "Qty" > 10;
"#;

async fn sqlite_target(config: &ConfigDir, name: &str) -> DatabaseConnection {
    let path = config.path().join(format!("{name}.sqlite3"));
    config.target(
        name,
        &format!(
            "kind = \"sqlite\"\npath = {:?}\n",
            path.display().to_string()
        ),
    );
    registry::open(name, &context(config, MapEnv::new()))
        .await
        .expect("opens")
}

#[tokio::test]
async fn sqlite_reflection_is_exact() {
    let config = ConfigDir::new();
    let db = sqlite_target(&config, "reflect_sqlite").await;
    let pool = db.pool::<sqlx::Sqlite>().unwrap();
    sqlx::raw_sql(SQLITE_SCHEMA).execute(pool).await.unwrap();
    let m = db.metadata().await.unwrap();
    assert_eq!(m.schemas.len(), 1);
    assert_eq!(m.schemas[0].name, "main");
    let names: Vec<&str> = m.schemas[0]
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["Big Lines", "Order Lines", "products", "refs_implicit"]
    );

    let products = table(&m, "main", "products");
    assert_eq!(products.primary_key, strings(&["sku", "region"]));
    let name = &products.columns[2];
    assert_eq!(
        (name.name.as_str(), name.data_type.as_str(), name.nullable),
        ("name", "TEXT", false)
    );
    assert_eq!(name.default.as_deref(), Some("'unnamed'"));
    assert_eq!(name.ordinal, 3);

    let lines = table(&m, "main", "Order Lines");
    assert_eq!(column_names(lines), vec!["Line ID", "sku", "region", "Qty"]);
    assert_eq!(lines.columns[3].data_type, "numeric(10,2)");
    assert_eq!(lines.primary_key, strings(&["Line ID"]));
    assert_eq!(
        lines.foreign_keys,
        vec![ForeignKey {
            name: String::new(),
            columns: strings(&["sku", "region"]),
            referenced_schema: "main".into(),
            referenced_table: "products".into(),
            referenced_columns: strings(&["sku", "region"]),
        }]
    );
    assert_eq!(lines.unique_constraints.len(), 1);
    assert_eq!(
        lines.unique_constraints[0].columns,
        strings(&["sku", "Line ID"])
    );
    let idx = lines
        .indexes
        .iter()
        .find(|i| i.name == "Idx Region")
        .expect("index");
    assert_eq!(
        (idx.columns.clone(), idx.unique),
        (strings(&["region", "sku"]), false)
    );

    let implicit = table(&m, "main", "refs_implicit");
    assert_eq!(
        column_names(implicit),
        vec!["id", "p_sku", "p_region", "doubled"],
        "generated columns too"
    );
    assert_eq!(
        implicit.foreign_keys[0].referenced_columns,
        strings(&["sku", "region"]),
        "a reference without columns means the primary key"
    );
    let view = table(&m, "main", "Big Lines");
    assert_eq!(view.kind, TableKind::View);
    assert_eq!(column_names(view), vec!["Line ID", "Qty"]);
}

/// The cache's life: rebuilt, memory, used; a data write keeps it; DDL rebuilds it; damage and
/// another target's file are rebuilt, never an error.
async fn cache_lifecycle(
    open: impl AsyncFn() -> DatabaseConnection,
    ddl: &str,
    dml: &[&str],
    table_name: &str,
) {
    let db = open().await;
    let (_, report) = db.metadata_with_report(false).await.unwrap();
    assert_eq!(
        report.status,
        CacheStatus::Rebuilt("no cache file yet".into())
    );
    let path = report.path.clone().expect("a cache path");
    assert!(path.exists());
    let (_, report) = db.metadata_with_report(false).await.unwrap();
    assert_eq!(report.status, CacheStatus::Memory);
    drop(db);

    let db = open().await;
    for statement in dml {
        run_sql(&db, statement).await;
    }
    let (model, report) = db.metadata_with_report(false).await.unwrap();
    assert_eq!(
        report.status,
        CacheStatus::Used,
        "a data-only write keeps the cache"
    );
    assert!(
        !model
            .table(table_name)
            .unwrap()
            .1
            .columns
            .iter()
            .any(|c| c.name == "added_later")
    );

    run_sql(&db, ddl).await;
    let (model, report) = db.metadata_with_report(false).await.unwrap();
    assert_eq!(
        report.status,
        CacheStatus::Rebuilt("the schema changed since it was written".into())
    );
    assert!(
        model
            .table(table_name)
            .unwrap()
            .1
            .columns
            .iter()
            .any(|c| c.name == "added_later")
    );
    drop(db);

    let full = std::fs::read(&path).unwrap();
    for damaged in [&full[..full.len() / 2], b"garbage".as_slice()] {
        std::fs::write(&path, damaged).unwrap();
        let db = open().await;
        let (model, report) = db
            .metadata_with_report(false)
            .await
            .expect("damage is not an error");
        assert!(
            matches!(&report.status, CacheStatus::Rebuilt(r) if r.contains("corrupt") || r.contains("truncated") || r.contains("not a dbcore")),
            "{:?}",
            report.status
        );
        assert!(model.table(table_name).is_some());
    }
    let db = open().await;
    let (_, report) = db.metadata_with_report(false).await.unwrap();
    assert_eq!(
        report.status,
        CacheStatus::Used,
        "the rebuilt cache is used again"
    );
}

async fn run_sql(db: &DatabaseConnection, sql: &str) {
    match db.any_pool() {
        adapters::database::DbPool::Postgres(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(p)
                .await
                .map(|_| ())
        }
        adapters::database::DbPool::MySql(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(p)
            .await
            .map(|_| ()),
        adapters::database::DbPool::Sqlite(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(p)
            .await
            .map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn sqlite_cache_lifecycle() {
    let config = ConfigDir::new();
    let setup = sqlite_target(&config, "cache_sqlite").await;
    run_sql(
        &setup,
        "create table items (id integer primary key, name text)",
    )
    .await;
    drop(setup);
    cache_lifecycle(
        async || sqlite_target(&config, "cache_sqlite").await,
        "alter table items add column added_later integer",
        &[
            "insert into items(name) values ('x'), ('y')",
            "delete from items where name = 'x'",
        ],
        "items",
    )
    .await;
}

#[tokio::test]
async fn a_cache_from_another_target_is_rebuilt_with_a_warning() {
    let config = ConfigDir::new();
    let a = sqlite_target(&config, "cache_a").await;
    run_sql(&a, "create table only_in_a (x integer)").await;
    let (_, report_a) = a.metadata_with_report(false).await.unwrap();
    let b = sqlite_target(&config, "cache_b").await;
    let (_, report_b) = b.metadata_with_report(false).await.unwrap();
    let (from, to) = (report_a.path.unwrap(), report_b.path.clone().unwrap());
    std::fs::copy(&from, &to).unwrap();
    drop(b);
    // The warning an operator sees (admin logs at warn by default): why, and which file.
    let cache = config.path().join("cache");
    let admin = tests::bin::run(
        "dbcore",
        &["--config-dir", config.path_str(), "metadata", "cache_b"],
        &[("PROJECT_CACHE_DIR", cache.to_str().unwrap())],
    );
    assert_eq!(admin.code, Some(0), "{admin:?}");
    let warning = admin
        .stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("metadata cache is unusable; rebuilding it"))
        .unwrap_or_else(|| panic!("no warning: {admin:?}"));
    assert!(
        warning.contains("the cache belongs to another target")
            && warning.contains(&to.display().to_string()),
        "{warning}"
    );
    assert!(
        admin
            .stdout
            .contains("rebuilt: the cache belongs to another target"),
        "{}",
        admin.stdout
    );
    // admin rewrote it; the library is shown the foreign cache again.
    std::fs::copy(&from, &to).unwrap();
    let b = sqlite_target(&config, "cache_b").await;
    let (model, report) = b.metadata_with_report(false).await.unwrap();
    assert!(
        matches!(&report.status, CacheStatus::Rebuilt(r) if r.starts_with("the cache belongs to another target")),
        "{:?}",
        report.status
    );
    assert!(model.table("only_in_a").is_none());
}

// ---------------------------------------------------------------- PostgreSQL

const PG_SCHEMA: &str = r#"
create schema "Sales";
create schema inventory;
create table inventory.products (sku text, region int, name varchar(40) not null default 'unnamed',
    primary key (sku, region));
create table "Sales"."Order Lines" ("Line ID" serial primary key, sku text not null, region int not null,
    "Qty" numeric(10,2) default 1, tmp int,
    constraint "fk_Product" foreign key (sku, region) references inventory.products (sku, region),
    constraint uq_line unique (sku, "Line ID"));
alter table "Sales"."Order Lines" drop column tmp;
alter table "Sales"."Order Lines" add column "Added" boolean;
create index "Idx Lower" on "Sales"."Order Lines" (lower(sku), region);
create view "Sales"."Big Lines" as select "Line ID", "Qty" from "Sales"."Order Lines" where "Qty" > 10;
create table public.ignored (x int);
"#;

async fn pg_target(
    config: &ConfigDir,
    pg: &tests::pg::PgCluster,
    name: &str,
    schemas: &str,
) -> DatabaseConnection {
    config.target(
        name,
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"M_{}\"\nschemas = [{schemas}]\n",
            pg.port(),
            name.to_uppercase()
        ),
    );
    let env = MapEnv::new().with(format!("M_{}_PASSWORD", name.to_uppercase()), "meta-pw");
    registry::open(name, &context(config, env))
        .await
        .expect("opens")
}

#[tokio::test]
async fn postgres_reflection_is_exact_and_agrees_with_information_schema() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("reflect_pg", "meta-pw").await;
    let config = ConfigDir::new();
    let db = pg_target(&config, pg, "reflect_pg", "\"Sales\", \"inventory\"").await;
    run_sql(&db, PG_SCHEMA).await;
    let m = db.metadata().await.unwrap();
    let names: Vec<&str> = m.schemas.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["Sales", "inventory"],
        "only the configured schemas"
    );

    let lines = table(&m, "Sales", "Order Lines");
    assert_eq!(
        column_names(lines),
        vec!["Line ID", "sku", "region", "Qty", "Added"]
    );
    let ordinals: Vec<u32> = lines.columns.iter().map(|c| c.ordinal).collect();
    assert_eq!(
        ordinals,
        vec![1, 2, 3, 4, 6],
        "the dropped column keeps its position"
    );
    assert_eq!(lines.columns[3].data_type, "numeric(10,2)");
    assert_eq!(lines.columns[3].default.as_deref(), Some("1"));
    assert_eq!(
        lines.columns[0].default.as_deref(),
        Some("nextval('\"Sales\".\"Order Lines_Line ID_seq\"'::regclass)")
    );
    assert_eq!(lines.primary_key, strings(&["Line ID"]));
    assert_eq!(
        lines.foreign_keys,
        vec![ForeignKey {
            name: "fk_Product".into(),
            columns: strings(&["sku", "region"]),
            referenced_schema: "inventory".into(),
            referenced_table: "products".into(),
            referenced_columns: strings(&["sku", "region"]),
        }]
    );
    assert_eq!(
        lines.unique_constraints[0].columns,
        strings(&["sku", "Line ID"])
    );
    let idx = lines
        .indexes
        .iter()
        .find(|i| i.name == "Idx Lower")
        .expect("expression index");
    assert_eq!(idx.columns, strings(&["lower(sku)", "region"]));
    assert_eq!(
        table(&m, "inventory", "products").primary_key,
        strings(&["sku", "region"])
    );
    assert_eq!(table(&m, "Sales", "Big Lines").kind, TableKind::View);

    // Against information_schema, an independent path through the catalogs.
    let pool = db.pool::<sqlx::Postgres>().unwrap();
    let catalog: BTreeSet<(String, String, String, i32, bool, Option<String>)> = sqlx::query_as(
        "select table_schema::text, table_name::text, column_name::text, ordinal_position::int,
                is_nullable = 'YES', column_default::text
           from information_schema.columns where table_schema in ('Sales', 'inventory')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let ours: BTreeSet<(String, String, String, i32, bool, Option<String>)> = m
        .schemas
        .iter()
        .flat_map(|s| {
            s.tables.iter().flat_map(move |t| {
                t.columns.iter().map(move |c| {
                    (
                        s.name.clone(),
                        t.name.clone(),
                        c.name.clone(),
                        c.ordinal as i32,
                        c.nullable,
                        c.default.clone(),
                    )
                })
            })
        })
        .collect();
    assert_eq!(ours, catalog);
    let key_columns: BTreeSet<(String, String, String, String, i32)> = sqlx::query_as(
        "select k.table_schema::text, k.table_name::text, k.constraint_name::text, k.column_name::text, k.ordinal_position::int
           from information_schema.key_column_usage k where k.table_schema in ('Sales', 'inventory')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut ours: BTreeSet<(String, String, String, String, i32)> = BTreeSet::new();
    for s in &m.schemas {
        for t in &s.tables {
            let pk_name = t
                .indexes
                .iter()
                .find(|i| i.name.ends_with("_pkey"))
                .map(|i| i.name.clone());
            for (i, c) in t.primary_key.iter().enumerate() {
                ours.insert((
                    s.name.clone(),
                    t.name.clone(),
                    pk_name.clone().unwrap(),
                    c.clone(),
                    i as i32 + 1,
                ));
            }
            for fk in &t.foreign_keys {
                for (i, c) in fk.columns.iter().enumerate() {
                    ours.insert((
                        s.name.clone(),
                        t.name.clone(),
                        fk.name.clone(),
                        c.clone(),
                        i as i32 + 1,
                    ));
                }
            }
            for u in &t.unique_constraints {
                for (i, c) in u.columns.iter().enumerate() {
                    ours.insert((
                        s.name.clone(),
                        t.name.clone(),
                        u.name.clone(),
                        c.clone(),
                        i as i32 + 1,
                    ));
                }
            }
        }
    }
    assert_eq!(ours, key_columns);
}

#[tokio::test]
async fn postgres_reflects_many_tables_and_keeps_its_cache_honest() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("cache_pg", "meta-pw").await;
    let config = ConfigDir::new();
    let setup = pg_target(&config, pg, "cache_pg", "\"public\"").await;
    let mut ddl = String::from("create table items (id serial primary key, name text);");
    for i in 0..300 {
        ddl.push_str(&format!(
            "create table t{i} (id int primary key, items_id int references items(id), v text);"
        ));
    }
    run_sql(&setup, &ddl).await;
    assert_eq!(setup.metadata().await.unwrap().table_count(), 301);
    // The cache written above is used by the lifecycle's first call, so start it from scratch.
    let path = setup
        .metadata_with_report(false)
        .await
        .unwrap()
        .1
        .path
        .unwrap();
    drop(setup);
    std::fs::remove_file(&path).unwrap();
    cache_lifecycle(
        async || pg_target(&config, pg, "cache_pg", "\"public\"").await,
        "alter table items add column added_later int",
        &[
            "insert into items(name) values ('x')",
            "update items set name = 'y'",
            "vacuum analyze items",
        ],
        "items",
    )
    .await;
}

// ---------------------------------------------------------------- MariaDB

const MYSQL_SCHEMA: &str = r#"
create table inventory.products (sku varchar(20), region int, name varchar(40) not null default 'unnamed',
    primary key (sku, region)) engine = innodb;
create table shop.`Order Lines` (`Line ID` int auto_increment primary key, sku varchar(20) not null,
    region int not null, `Qty` decimal(10,2) default 1,
    constraint `fk_Product` foreign key (sku, region) references inventory.products (sku, region),
    constraint uq_line unique (sku, `Line ID`)) engine = innodb;
create index `Idx Region` on shop.`Order Lines` (region, sku);
create view shop.`Big Lines` as select `Line ID`, `Qty` from shop.`Order Lines` where `Qty` > 10;
"#;

async fn mysql_target(
    config: &ConfigDir,
    server: &tests::mariadb::MariaDb,
    name: &str,
    database: &str,
    schemas: &str,
) -> DatabaseConnection {
    config.target(
        name,
        &format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{database}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"M_{}\"\nschemas = [{schemas}]\n",
            server.port(),
            name.to_uppercase()
        ),
    );
    let env = MapEnv::new().with(format!("M_{}_PASSWORD", name.to_uppercase()), "meta-pw");
    registry::open(name, &context(config, env))
        .await
        .expect("opens")
}

#[tokio::test]
async fn mariadb_reflection_is_exact_and_agrees_with_information_schema() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server
        .sql_as_root(
            "create database inventory; create database shop;
             create user 'reflect_my'@'127.0.0.1' identified by 'meta-pw';
             grant all on inventory.* to 'reflect_my'@'127.0.0.1';
             grant all on shop.* to 'reflect_my'@'127.0.0.1';",
        )
        .unwrap();
    let config = ConfigDir::new();
    let db = mysql_target(
        &config,
        server,
        "reflect_my",
        "shop",
        "\"inventory\", \"shop\"",
    )
    .await;
    run_sql(&db, MYSQL_SCHEMA).await;
    let m = db.metadata().await.unwrap();
    let lines = table(&m, "shop", "Order Lines");
    assert_eq!(column_names(lines), vec!["Line ID", "sku", "region", "Qty"]);
    assert_eq!(lines.columns[3].data_type, "decimal(10,2)");
    assert_eq!(lines.columns[1].data_type, "varchar(20)");
    assert!(!lines.columns[1].nullable && lines.columns[3].nullable);
    assert_eq!(lines.primary_key, strings(&["Line ID"]));
    assert_eq!(
        lines.foreign_keys,
        vec![ForeignKey {
            name: "fk_Product".into(),
            columns: strings(&["sku", "region"]),
            referenced_schema: "inventory".into(),
            referenced_table: "products".into(),
            referenced_columns: strings(&["sku", "region"]),
        }]
    );
    assert_eq!(
        lines.unique_constraints[0].columns,
        strings(&["sku", "Line ID"])
    );
    let idx = lines
        .indexes
        .iter()
        .find(|i| i.name == "Idx Region")
        .expect("index");
    assert_eq!(idx.columns, strings(&["region", "sku"]));
    let products = table(&m, "inventory", "products");
    assert_eq!(products.primary_key, strings(&["sku", "region"]));
    assert_eq!(products.columns[2].default.as_deref(), Some("'unnamed'"));
    assert_eq!(table(&m, "shop", "Big Lines").kind, TableKind::View);

    // Against information_schema, queried directly: every table and view with its kind; every
    // table's columns in order, each with its position, type as reported (`column_type`),
    // nullability and default; and every key column (primary keys, which MariaDB always names
    // `PRIMARY`, unique constraints and foreign keys with what they reference), in key order.
    let pool = db.pool::<sqlx::MySql>().unwrap();
    let catalog: BTreeSet<(String, String, bool)> = sqlx::query_as::<_, (String, String, String)>(
        "select cast(table_schema as char), cast(table_name as char), cast(table_type as char)
           from information_schema.tables where table_schema in ('inventory', 'shop')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(schema, name, kind)| (schema, name, kind == "VIEW"))
    .collect();
    let ours: BTreeSet<(String, String, bool)> = m
        .schemas
        .iter()
        .flat_map(|s| {
            s.tables
                .iter()
                .map(move |t| (s.name.clone(), t.name.clone(), t.kind == TableKind::View))
        })
        .collect();
    assert_eq!(ours, catalog);

    type ColumnRow = (String, u64, String, bool, Option<String>);
    let mut catalog: BTreeMap<(String, String), Vec<ColumnRow>> = BTreeMap::new();
    type CatalogRow = (String, String, String, u64, String, String, Option<String>);
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "select cast(table_schema as char), cast(table_name as char), cast(column_name as char),
                cast(ordinal_position as unsigned), cast(column_type as char),
                cast(is_nullable as char), cast(column_default as char)
           from information_schema.columns where table_schema in ('inventory', 'shop')
          order by table_schema, table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (schema, name, column, ordinal, data_type, nullable, default) in rows {
        catalog.entry((schema, name)).or_default().push((
            column,
            ordinal,
            data_type,
            nullable == "YES",
            default,
        ));
    }
    let ours: BTreeMap<(String, String), Vec<ColumnRow>> = m
        .schemas
        .iter()
        .flat_map(|s| {
            s.tables.iter().map(move |t| {
                let columns = t
                    .columns
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            u64::from(c.ordinal),
                            c.data_type.clone(),
                            c.nullable,
                            c.default.clone(),
                        )
                    })
                    .collect();
                ((s.name.clone(), t.name.clone()), columns)
            })
        })
        .collect();
    assert_eq!(ours, catalog);

    type KeyRow = (
        String,
        String,
        String,
        String,
        u64,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let key_columns: BTreeSet<KeyRow> = sqlx::query_as(
        "select cast(table_schema as char), cast(table_name as char), cast(constraint_name as char),
                cast(column_name as char), cast(ordinal_position as unsigned),
                cast(referenced_table_schema as char), cast(referenced_table_name as char),
                cast(referenced_column_name as char)
           from information_schema.key_column_usage where table_schema in ('inventory', 'shop')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut ours: BTreeSet<KeyRow> = BTreeSet::new();
    for s in &m.schemas {
        for t in &s.tables {
            let row = |constraint: &str, i: usize, column: &str| {
                (
                    s.name.clone(),
                    t.name.clone(),
                    constraint.to_owned(),
                    column.to_owned(),
                    i as u64 + 1,
                    None,
                    None,
                    None,
                )
            };
            for (i, c) in t.primary_key.iter().enumerate() {
                ours.insert(row("PRIMARY", i, c));
            }
            for u in &t.unique_constraints {
                for (i, c) in u.columns.iter().enumerate() {
                    ours.insert(row(&u.name, i, c));
                }
            }
            for fk in &t.foreign_keys {
                for (i, c) in fk.columns.iter().enumerate() {
                    let mut key = row(&fk.name, i, c);
                    key.5 = Some(fk.referenced_schema.clone());
                    key.6 = Some(fk.referenced_table.clone());
                    key.7 = fk.referenced_columns.get(i).cloned();
                    ours.insert(key);
                }
            }
        }
    }
    assert_eq!(ours, key_columns);
}

#[tokio::test]
async fn mariadb_cache_lifecycle() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server.create_user_and_database("cache_my", "meta-pw").await;
    let config = ConfigDir::new();
    let setup = mysql_target(&config, server, "cache_my", "cache_my", "").await;
    run_sql(
        &setup,
        "create table items (id int auto_increment primary key, name text)",
    )
    .await;
    drop(setup);
    cache_lifecycle(
        async || mysql_target(&config, server, "cache_my", "cache_my", "").await,
        "alter table items add column added_later int",
        &[
            "insert into items(name) values ('x'), ('y')",
            "update items set name = 'z'",
            "analyze table items",
        ],
        "items",
    )
    .await;
}

#[tokio::test]
async fn mariadb_ping_with_a_my_cnf() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server
        .create_user_and_database("mycnf_user", "cnf pw#1")
        .await;
    let config = ConfigDir::new();
    config.target(
        "shop",
        &format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"mycnf_user\"\nuser = \"mycnf_user\"\nsources = [\"env\", \"mycnf\"]\nenv_prefix = \"S\"\n",
            server.port()
        ),
    );
    let cnf = config.secret_file(
        "my.cnf",
        "[client]\nhost = localhost\npassword = wrong\n\n[shop]\nuser = mycnf_user # the target's user\npassword = \"cnf pw#1\"\n",
    );
    let env = [("S_MYCNF", cnf.as_str())];
    let ping = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "shop",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(ping.code, Some(0), "{ping:?}");
    let json = ping.json();
    assert_eq!(json["current_user"], "mycnf_user@127.0.0.1");
    assert_eq!(json["database"], "mycnf_user");
    assert_eq!(json["credential"]["source"], "mycnf");
    let explain = run(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "shop"],
        &env,
    );
    assert!(
        explain
            .stdout
            .contains(&format!("found in {cnf} line 7 [shop]")),
        "{}",
        explain.stdout
    );
}

#[tokio::test]
async fn mariadb_connection_errors_are_classified() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server.create_user_and_database("my_errors", "right").await;
    let config = ConfigDir::new();
    let target = |database: &str| {
        format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{database}\"\nuser = \"my_errors\"\nsources = [\"env\"]\nenv_prefix = \"E\"\n",
            server.port()
        )
    };
    config.target("bad_pw", &target("my_errors"));
    config.target("no_db", &target("no_such_db"));
    let dir = config.path_str();
    let wrong = run(
        "dbcore",
        &["--config-dir", dir, "ping", "bad_pw", "--format", "json"],
        &[("E_PASSWORD", "wrong")],
    );
    assert_eq!(
        wrong.json()["error"]["kind"],
        "authentication_failed",
        "{wrong:?}"
    );
    assert!(
        wrong.stderr.contains("password from env (E_PASSWORD)"),
        "{}",
        wrong.stderr
    );
    let missing = run(
        "dbcore",
        &["--config-dir", dir, "ping", "no_db", "--format", "json"],
        &[("E_PASSWORD", "right")],
    );
    assert_eq!(
        missing.json()["error"]["kind"],
        "database_does_not_exist",
        "{missing:?}"
    );
    let ok = run(
        "dbcore",
        &["--config-dir", dir, "ping", "bad_pw"],
        &[("E_PASSWORD", "right")],
    );
    assert_eq!(ok.code, Some(0), "{ok:?}");
}

/// Every kind of DDL changes the fingerprint; data writes and maintenance do not.
async fn fingerprint_follows_ddl_only(
    db: &DatabaseConnection,
    setup: &str,
    data: &[&str],
    ddl: &[&str],
) {
    let schemas = db.settings().schemas();
    let fingerprint = async || {
        adapters::database::reflect::fingerprint(db.any_pool(), &schemas)
            .await
            .unwrap()
    };
    let horizon = async || {
        adapters::database::SqlxTarget::new(db.settings().spec())
            .commit_horizon(db.any_pool())
            .await
    };
    run_sql(db, setup).await;
    let mut last = fingerprint().await;
    for statement in data {
        run_sql(db, statement).await;
        assert_eq!(
            fingerprint().await,
            last,
            "changed by a data-only statement: {statement}"
        );
    }
    for statement in ddl {
        let before = horizon().await;
        run_sql(db, statement).await;
        let now = fingerprint().await;
        assert_ne!(now, last, "not changed by: {statement}");
        if let Some(before) = before {
            assert_ne!(
                horizon().await,
                Some(before),
                "the commit horizon moved: {statement}"
            );
        }
        last = now;
    }
}

#[tokio::test]
async fn postgres_fingerprint_follows_ddl_only() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("fp_pg", "meta-pw").await;
    let config = ConfigDir::new();
    let db = pg_target(&config, pg, "fp_pg", "\"public\"").await;
    fingerprint_follows_ddl_only(
        &db,
        "create table a (id int primary key, v varchar(20), w int default 1); create table b (id int); create sequence s; create type mood as enum ('ok'); create function f() returns int language sql as 'select 1';",
        // (TRUNCATE, CLUSTER, REINDEX and VACUUM FULL give a table a new file and do change it:
        // documented.)
        &["insert into a values (1, 'x')", "update a set v = 'y'", "delete from a", "vacuum a", "analyze a", "vacuum freeze a", "select nextval('s')", "comment on table a is 'c'"],
        &[
            "alter table a add constraint a_positive check (id > 0)",
            "alter table a drop constraint a_positive",
            "alter table a alter column w set default nextval('s')",
            "alter sequence s rename to s2",
            "alter table a add column m mood",
            "alter type mood rename to feeling",
            "alter table a add column fd int default f()",
            "alter function f() rename to g",
            "alter table a alter column v set not null",
            "alter table a alter column v drop not null",
            "alter table a alter column w set default 2",
            "alter table a alter column w drop default",
            "alter table a alter column v type varchar(40)",
            "alter table a rename column w to w2",
            "alter table a drop column w2",
            "alter table a add column z int",
            "alter table a add constraint z_unique unique (z)",
            "create index a_v on a (v)",
            "alter index a_v rename to a_v2",
            "drop index a_v2",
            "alter table b add constraint b_a foreign key (id) references a (id)",
            "alter table b rename to b2",
            "create view vv as select id from a",
            "create or replace view vv as select id, v from a",
            "drop table b2",
        ],
    )
    .await;
}

/// The steps of a cache hit on a fresh connection to `name`.
async fn hit_steps(
    config: &ConfigDir,
    pg: &tests::pg::PgCluster,
    name: &str,
) -> (CacheStatus, Vec<&'static str>) {
    let db = pg_target(config, pg, name, "\"public\"").await;
    let (_, report) = db.metadata_with_report(false).await.unwrap();
    db.close().await;
    (
        report.status,
        report.steps.iter().map(|(step, _)| *step).collect(),
    )
}

#[tokio::test]
async fn postgres_cache_is_trusted_without_a_fingerprint_only_while_nothing_commits() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("fp_quiet", "meta-pw").await;
    let config = ConfigDir::new();
    let db = pg_target(&config, pg, "fp_quiet", "\"public\"").await;
    run_sql(&db, "create table a (id int primary key, v text)").await;
    let (_, built) = db.metadata_with_report(false).await.unwrap();
    assert!(matches!(built.status, CacheStatus::Rebuilt(_)));
    db.close().await;
    // The shared cluster has other tests' transactions: a hit by the horizon alone needs a
    // moment in which nobody commits, so it is looked for a few times; the fingerprint path
    // is what must always be right.
    let mut quiet = false;
    for _ in 0..20 {
        let (status, steps) = hit_steps(&config, pg, "fp_quiet").await;
        assert_eq!(status, CacheStatus::Used, "{steps:?}");
        assert!(steps.contains(&"commit_horizon"), "{steps:?}");
        if !steps.contains(&"fingerprint") {
            quiet = true;
            break;
        }
    }
    let db = pg_target(&config, pg, "fp_quiet", "\"public\"").await;
    run_sql(&db, "insert into a values (1, 'x')").await;
    let (status, steps) = hit_steps(&config, pg, "fp_quiet").await;
    assert_eq!(status, CacheStatus::Used, "a data write keeps the cache");
    assert!(
        steps.contains(&"fingerprint"),
        "after a commit the fingerprint decides: {steps:?}"
    );
    // That hit recorded the horizon it was proven at: the next, while nothing commits, needs
    // no fingerprint (looked for a few times, on a cluster other tests share).
    let mut again = false;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (status, steps) = hit_steps(&config, pg, "fp_quiet").await;
        assert_eq!(status, CacheStatus::Used, "{steps:?}");
        if !steps.contains(&"fingerprint") {
            again = true;
            break;
        }
    }
    run_sql(&db, "alter table a add column w int").await;
    db.close().await;
    let (status, steps) = hit_steps(&config, pg, "fp_quiet").await;
    assert!(
        matches!(status, CacheStatus::Rebuilt(_)),
        "a DDL rebuilds: {status:?} {steps:?}"
    );
    // A quiet moment on a cluster the other tests share may not come; on the benchmark's own
    // cluster it always does (the benchmark measures that hit).
    if !quiet || !again {
        println!("note: no quiet moment for a horizon-only hit on the shared cluster");
    }
}

#[tokio::test]
async fn mariadb_fingerprint_follows_ddl_only() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server.create_user_and_database("fp_my", "meta-pw").await;
    let config = ConfigDir::new();
    let db = mysql_target(&config, server, "fp_my", "fp_my", "").await;
    fingerprint_follows_ddl_only(
        &db,
        "create table a (id int primary key, v varchar(20), w int default 1); create table b (id int);",
        &["insert into a values (1, 'x', 3)", "update a set v = 'y'", "delete from a", "analyze table a", "optimize table b"],
        &[
            "alter table a modify v varchar(20) not null",
            "alter table a alter column w set default 2",
            "alter table a modify v varchar(40) not null",
            "alter table a rename column w to w2",
            "alter table a drop column w2",
            "alter table a add column z int",
            "alter table a add constraint z_unique unique (z)",
            "create index a_v on a (v)",
            "drop index a_v on a",
            "alter table b add constraint b_a foreign key (id) references a (id)",
            "rename table b to b2",
            "create view vv as select id from a",
            "create or replace view vv as select id, v from a",
            "drop table b2",
        ],
    )
    .await;
}
