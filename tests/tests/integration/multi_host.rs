//! Multi-host PostgreSQL targets against a real primary and its streaming standby: libpq's
//! `target_session_attrs` picks the server, each host gets its own `.pgpass` password, and
//! `explain` and `ping` say which host is which.

use std::sync::Arc;

use domain::MapEnv;
use project_core::{context_with, registry};
use sqlx::Postgres;
use tests::bin::{ConfigDir, Run, run};
use tests::pg::{PgCluster, cluster};
use tests::pg_pair::{PgPair, own_pair, pair, psql};

/// A target over `ports` on 127.0.0.1 (in that order) with `attrs`, as `role` with the
/// password from `MH_PASSWORD`.
fn target(config: &ConfigDir, name: &str, role: &str, ports: &[u16], lines: &str) {
    let hosts: Vec<String> = ports.iter().map(|_| "\"127.0.0.1\"".to_owned()).collect();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    config.target(
        name,
        &format!(
            "kind = \"postgres\"\nhost = [{}]\nport = [{}]\ndatabase = \"{role}\"\nuser = \"{role}\"\nenv_prefix = \"MH\"\nsources = [\"env\"]\nconnect_timeout = \"3s\"\n{lines}",
            hosts.join(", "),
            ports.join(", ")
        ),
    );
}

fn dbcore(config: &ConfigDir, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--config-dir", config.path_str(), "--format", "json"];
    all.extend_from_slice(args);
    run("dbcore", &all, env)
}

/// The port of the server `ping` says answered, and whether it is a standby.
fn answered(ping: &Run) -> (u16, bool) {
    assert_eq!(ping.code, Some(0), "{ping:?}");
    let json = ping.json();
    let by = json["answered_by"]
        .as_str()
        .expect("answered_by")
        .to_owned();
    let port = by.rsplit(':').next().unwrap().parse().unwrap();
    (port, json["standby"].as_bool().expect("standby"))
}

async fn shared_pair_with_role(role: &str, password: &str) -> Option<&'static PgPair> {
    let pair = pair()?;
    let exists = psql(
        &pair.primary,
        &format!("select count(*) from pg_roles where rolname = '{role}'"),
    )
    .unwrap();
    if exists.trim() == "0" {
        pair.primary.create_role_and_database(role, password).await;
    }
    Some(pair)
}

#[tokio::test]
async fn target_session_attrs_choose_the_primary_or_the_standby_as_libpq_does() {
    let Some(pair) = shared_pair_with_role("mh_attrs", "pw-attrs").await else {
        return;
    };
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    let config = ConfigDir::new();
    let env = [("MH_PASSWORD", "pw-attrs")];
    let cases = [
        ("read-write", primary, false),
        ("primary", primary, false),
        ("read-only", standby, true),
        ("standby", standby, true),
        ("prefer-standby", standby, true),
        ("any", standby, true),
    ];
    for (attrs, port, is_standby) in cases {
        // The standby first, so that only the check can move a connection to the primary.
        target(
            &config,
            "t",
            "mh_attrs",
            &[standby, primary],
            &format!("target_session_attrs = \"{attrs}\"\n"),
        );
        let ping = dbcore(&config, &["ping", "t"], &env);
        assert_eq!(answered(&ping), (port, is_standby), "{attrs}: {ping:?}");
        assert_eq!(
            ping.json()["where"],
            format!("127.0.0.1:{standby},127.0.0.1:{primary}/mh_attrs")
        );
    }
    // The text says which host answered.
    target(
        &config,
        "t",
        "mh_attrs",
        &[standby, primary],
        "target_session_attrs = \"read-write\"\n",
    );
    let text = run(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &env,
    );
    assert!(
        text.stdout
            .contains(&format!("answered:   127.0.0.1:{primary} (a primary)")),
        "{text:?}"
    );

    // Only the standby, and a primary wanted: a classified error naming both facts.
    target(
        &config,
        "t",
        "mh_attrs",
        &[standby, standby],
        "target_session_attrs = \"read-write\"\n",
    );
    let refused = dbcore(&config, &["ping", "t"], &env);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(
        refused.json()["error"]["kind"],
        "no_suitable_host",
        "{refused:?}"
    );
    assert!(
        refused
            .all_output()
            .contains("a standby, not read-write (target_session_attrs)"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_library_pool_keeps_to_the_primary_and_explain_lists_every_host() {
    let Some(pair) = shared_pair_with_role("mh_pool", "pw-pool").await else {
        return;
    };
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    let config = ConfigDir::new();
    target(
        &config,
        "rw",
        "mh_pool",
        &[standby, primary],
        "target_session_attrs = \"read-write\"\n[pool]\nmax_connections = 4\n",
    );
    let env = MapEnv::new().with("MH_PASSWORD", "pw-pool");
    let context = context_with(Some(config.path()), Arc::new(env));
    let db = registry::open("rw", &context).await.expect("opens");
    let pool = db.pool::<Postgres>().unwrap();
    sqlx::query("create table if not exists writes (n int)")
        .execute(pool)
        .await
        .expect("a write reaches the primary");
    // Every connection of the pool, not only the first, is on the primary.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut connection = pool.acquire().await.unwrap();
        let port: i32 = sqlx::query_scalar("select inet_server_port()")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(port, i32::from(primary));
        held.push(connection);
    }
    drop(held);
    db.close().await;

    let explained = dbcore(&config, &["explain", "rw"], &[("MH_PASSWORD", "pw-pool")]);
    assert_eq!(explained.code, Some(0), "{explained:?}");
    let hosts = explained.json()["hosts"].clone();
    assert_eq!(hosts[0]["port"], standby);
    assert_eq!(hosts[1]["port"], primary);
    assert_eq!(hosts[0]["source"], "env");
    assert_eq!(hosts[1]["source"], "env");
    assert_eq!(
        explained.json()["settings"]["host"]["value"],
        serde_json::json!(["127.0.0.1", "127.0.0.1"])
    );
}

/// Two servers with a role of the same name and a different password on each; the second
/// server's sessions are read-only for that role, so `target_session_attrs` picks either.
async fn two_servers_two_passwords(role: &str) -> Option<(&'static PgCluster, &'static PgCluster)> {
    let one = cluster()?;
    let two = &pair()?.primary;
    one.create_role_and_database(role, "pw-one").await;
    two.create_role_and_database(role, "pw-two").await;
    psql(
        two,
        &format!("alter role {role} set default_transaction_read_only = on"),
    )
    .unwrap();
    Some((one, two))
}

#[tokio::test]
async fn each_host_logs_in_with_its_own_pgpass_line_as_psql_does() {
    let Some((one, two)) = two_servers_two_passwords("mh_pgpass").await else {
        return;
    };
    let config = ConfigDir::new();
    let lines = format!(
        "127.0.0.1:{}:*:mh_pgpass:pw-one\n127.0.0.1:{}:*:mh_pgpass:pw-two\n",
        one.port(),
        two.port()
    );
    let pgpass = config.secret_file("pgpass", &lines);
    let targets = |attrs: &str| {
        config.target(
            "pp",
            &format!(
                "kind = \"postgres\"\nhost = \"127.0.0.1,127.0.0.1\"\nport = [{}, {}]\ndatabase = \"mh_pgpass\"\nuser = \"mh_pgpass\"\nsources = [\"env\", \"pgpass\"]\nenv_prefix = \"PP\"\ntarget_session_attrs = \"{attrs}\"\n",
                one.port(),
                two.port()
            ),
        );
    };
    let env = [("PGPASSFILE", pgpass.as_str())];
    targets("read-write");
    assert_eq!(
        answered(&dbcore(&config, &["ping", "pp"], &env)).0,
        one.port()
    );
    targets("read-only");
    assert_eq!(
        answered(&dbcore(&config, &["ping", "pp"], &env)).0,
        two.port()
    );

    // explain: each host with its own line.
    let explained = run(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "pp"],
        &env,
    );
    assert_eq!(explained.code, Some(0), "{explained:?}");
    for (n, port) in [(1, one.port()), (2, two.port())] {
        assert!(
            explained.stdout.contains(&format!(
                "  {n}. 127.0.0.1:{port}: password from pgpass ({pgpass} line {n})"
            )),
            "{explained:?}"
        );
    }

    // psql agrees with the same file and hosts.
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} dbname=mh_pgpass user=mh_pgpass target_session_attrs=read-only",
        one.port(),
        two.port()
    );
    let psql_run = std::process::Command::new(one.bin("psql"))
        .args([
            "-X",
            "-tA",
            "-d",
            &conninfo,
            "-c",
            "select inet_server_port()",
        ])
        .env("PGPASSFILE", &pgpass)
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&psql_run.stdout).trim(),
        two.port().to_string()
    );

    // Without the second host's line, it gets no password — never the first host's.
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:*:mh_pgpass:pw-one\n", one.port()),
    )
    .unwrap();
    let refused = dbcore(&config, &["ping", "pp"], &env);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(
        refused.json()["error"]["kind"],
        "authentication_failed",
        "{refused:?}"
    );
    let explained = run(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "pp"],
        &env,
    );
    assert!(
        explained.stdout.contains(&format!(
            "  2. 127.0.0.1:{}: no password (no source answered for this host)",
            two.port()
        )),
        "{explained:?}"
    );
}

#[tokio::test]
async fn after_a_failover_new_connections_find_the_promoted_standby() {
    let Some(pair) = own_pair() else { return };
    pair.primary
        .create_role_and_database("mh_failover", "pw-failover")
        .await;
    let (primary, standby) = (pair.primary.port(), pair.standby.port());
    let config = ConfigDir::new();
    target(
        &config,
        "rw",
        "mh_failover",
        &[primary, standby],
        "target_session_attrs = \"read-write\"\n[pool]\nmax_connections = 2\nacquire_timeout = \"5s\"\n",
    );
    let env = MapEnv::new().with("MH_PASSWORD", "pw-failover");
    let context = context_with(Some(config.path()), Arc::new(env));
    let db = registry::open("rw", &context).await.expect("opens");
    let pool = db.pool::<Postgres>().unwrap().clone();
    sqlx::query(
        "create table writes (n int primary key, port int not null default inet_server_port())",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("insert into writes (n) values (1)")
        .execute(&pool)
        .await
        .unwrap();

    pair.primary.stop();
    // While only the standby is up, no connection may be handed out for writing.
    let during = sqlx::query("insert into writes (n) values (2)")
        .execute(&pool)
        .await;
    assert!(during.is_err(), "a write with no primary up: {during:?}");
    pair.standby.promote();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let error = match sqlx::query("insert into writes (n) values (3)")
            .execute(&pool)
            .await
        {
            Ok(_) => break,
            Err(error) => error,
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never reached the new primary: {error}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let rows: Vec<(i32, i32)> = sqlx::query_as("select n, port from writes order by n")
        .fetch_all(&pool)
        .await
        .unwrap();
    // The acknowledged row 1 (written on the old primary, replicated) and row 3, on the new.
    assert_eq!(rows, [(1, i32::from(primary)), (3, i32::from(standby))]);
    db.close().await;
}

#[test]
fn every_host_refusing_is_one_classified_error_listing_each_host() {
    // Two ports nothing listens on: the first connection is made directly, so the refusal
    // is reported as such (the pool would retry it until its acquire timeout and call it a
    // timeout), with each host's reason.
    let ports = [
        tests::servers::free_port().unwrap(),
        tests::servers::free_port().unwrap(),
    ];
    let config = ConfigDir::new();
    target(
        &config,
        "t",
        "nobody",
        &ports,
        "target_session_attrs = \"read-write\"\n",
    );
    let refused = dbcore(&config, &["ping", "t"], &[("MH_PASSWORD", "x")]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let error = &refused.json()["error"];
    assert_eq!(error["kind"], "connection_refused", "{refused:?}");
    let message = error["message"].as_str().unwrap();
    for port in ports {
        assert!(
            message.contains(&format!("127.0.0.1:{port}: ")),
            "{message}"
        );
    }
}
