use super::*;
use adapters::credentials::{mycnf, pgpass};
use domain::{TargetIdentity, TargetOptions};
use proptest::prelude::*;
use secrecy::SecretString;

fn spec(kind: DbKind, host: Option<&str>, port: Option<u16>) -> TargetSpec {
    TargetSpec {
        identity: TargetIdentity {
            name: "t".into(),
            kind,
            host: host.map(Into::into),
            port,
            database: Some("app".into()),
            user: Some("target-user".into()),
        },
        path: None,
        options: TargetOptions::default(),
    }
}

fn libpq_finds(
    contents: &str,
    host: Option<&str>,
    port: Option<u16>,
    user: &str,
) -> Option<Vec<u8>> {
    let key = pgpass::PgpassKey::for_connection(
        host,
        port,
        Some("any-db"),
        user,
        pgpass::DEFAULT_SOCKET_DIR,
    );
    pgpass::find_password(contents.as_bytes(), &key).map(|m| m.password)
}

#[test]
fn a_pgpass_line_matches_the_target_for_any_database_and_nothing_else() {
    let password = SecretString::from("pa:ss\\word");
    let spec = spec(DbKind::Postgres, Some("db.internal"), Some(6432));
    let handed = Handed {
        spec: &spec,
        user: Some("v-role"),
        password: Some(&password),
    };
    let text = pgpass(&handed).unwrap();
    assert_eq!(
        libpq_finds(&text, Some("db.internal"), Some(6432), "v-role").as_deref(),
        Some(b"pa:ss\\word".as_slice())
    );
    assert!(
        libpq_finds(&text, Some("elsewhere"), Some(6432), "v-role").is_none(),
        "another host"
    );
    assert!(
        libpq_finds(&text, Some("db.internal"), Some(5432), "v-role").is_none(),
        "another port"
    );
    assert!(
        libpq_finds(&text, Some("db.internal"), Some(6432), "other").is_none(),
        "another user"
    );
}

#[test]
fn the_default_socket_directory_is_looked_up_as_localhost_and_any_other_literally() {
    let password = SecretString::from("pw");
    let default = spec(DbKind::Postgres, Some("/var/run/postgresql"), None);
    let text = pgpass(&Handed {
        spec: &default,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap();
    assert!(libpq_finds(&text, Some("/var/run/postgresql"), None, "u").is_some());
    let other = spec(DbKind::Postgres, Some("/tmp/sock:dir"), None);
    let text = pgpass(&Handed {
        spec: &other,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap();
    assert!(libpq_finds(&text, Some("/tmp/sock:dir"), None, "u").is_some());
    assert!(libpq_finds(&text, Some("localhost"), None, "u").is_none());
    let none = spec(DbKind::Postgres, None, None);
    let text = pgpass(&Handed {
        spec: &none,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap();
    assert!(libpq_finds(&text, None, None, "u").is_some());
}

#[test]
fn a_user_named_star_is_that_user_not_a_wildcard() {
    let password = SecretString::from("pw");
    let spec = spec(DbKind::Postgres, Some("h"), None);
    let text = pgpass(&Handed {
        spec: &spec,
        user: Some("*"),
        password: Some(&password),
    })
    .unwrap();
    assert!(libpq_finds(&text, Some("h"), None, "*").is_some());
    assert!(libpq_finds(&text, Some("h"), None, "someone").is_none());
}

#[test]
fn a_line_break_is_refused_without_showing_the_value() {
    let password = SecretString::from("canary\nsecond");
    let spec = spec(DbKind::Postgres, Some("h"), None);
    let error = pgpass(&Handed {
        spec: &spec,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the password has a line break or a NUL byte, which a pgpass file cannot hold"
    );
    let nul = SecretString::from("a\0b");
    assert!(
        option_file(&Handed {
            spec: &spec,
            user: Some("u"),
            password: Some(&nul)
        })
        .is_err()
    );
}

fn option(text: &str, group: &str, key: &str) -> Option<String> {
    mycnf::parse(text, &[group])
        .unwrap()
        .options
        .get(key)
        .map(|v| v.value.clone())
}

#[test]
fn the_option_file_says_tcp_unless_the_host_is_a_socket() {
    let password = SecretString::from("pw");
    let tcp = spec(DbKind::MySql, Some("localhost"), Some(3307));
    let text = option_file(&Handed {
        spec: &tcp,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap();
    assert_eq!(
        option(&text, "client", "host").as_deref(),
        Some("localhost")
    );
    assert_eq!(option(&text, "client", "protocol").as_deref(), Some("tcp"));
    assert_eq!(option(&text, "client", "port").as_deref(), Some("3307"));
    assert_eq!(option(&text, "mysql", "database").as_deref(), Some("app"));
    assert_eq!(
        option(&text, "client", "database"),
        None,
        "mysqldump refuses it in [client]"
    );
    let socket = spec(DbKind::MySql, Some("/run/mysqld/mysqld.sock"), None);
    let text = option_file(&Handed {
        spec: &socket,
        user: Some("u"),
        password: Some(&password),
    })
    .unwrap();
    assert_eq!(
        option(&text, "client", "socket").as_deref(),
        Some("/run/mysqld/mysqld.sock")
    );
    assert_eq!(option(&text, "client", "protocol"), None);
}

#[test]
fn urls_encode_every_part_and_carry_the_socket_and_sslmode() {
    let password = SecretString::from("p@ss/w:rd é");
    let mut pg = spec(DbKind::Postgres, Some("::1"), Some(5433));
    pg.options.sslmode = Some(domain::SslMode::Require);
    let handed = Handed {
        spec: &pg,
        user: Some("u@x"),
        password: Some(&password),
    };
    assert_eq!(
        url(DbKind::Postgres, &handed),
        "postgresql://u%40x:p%40ss%2Fw%3Ard%20%C3%A9@[::1]:5433/app?sslmode=require"
    );
    let socket = spec(DbKind::Postgres, Some("/tmp/s"), None);
    let handed = Handed {
        spec: &socket,
        user: Some("u"),
        password: Some(&password),
    };
    assert_eq!(
        url(DbKind::Postgres, &handed),
        "postgresql://u:p%40ss%2Fw%3Ard%20%C3%A9@/app?host=%2Ftmp%2Fs"
    );
    let socket = spec(DbKind::Postgres, Some("/tmp/s"), Some(55432));
    let handed = Handed {
        spec: &socket,
        user: Some("u"),
        password: None,
    };
    assert_eq!(
        url(DbKind::Postgres, &handed),
        "postgresql://u@/app?host=%2Ftmp%2Fs&port=55432"
    );
    let my = spec(DbKind::MySql, Some("127.0.0.1"), Some(3306));
    let handed = Handed {
        spec: &my,
        user: Some("u"),
        password: Some(&password),
    };
    assert!(
        url(DbKind::MySql, &handed)
            .starts_with("mysql://u:p%40ss%2Fw%3Ard%20%C3%A9@127.0.0.1:3306/app")
    );
}

#[test]
fn debug_names_no_password() {
    let password = SecretString::from("canary-dbg");
    let spec = spec(DbKind::Postgres, None, None);
    let handed = Handed {
        spec: &spec,
        user: Some("u"),
        password: Some(&password),
    };
    assert!(!format!("{handed:?}").contains("canary"));
}

proptest! {
    /// Whatever the password and user, libpq's reading of the line gives back exactly them.
    #[test]
    fn libpq_reads_back_any_password_and_user(
        password in "[^\n\r\0]{1,40}",
        user in "[^\n\r\0]{1,20}",
        host in "[a-z0-9:/.\\\\*-]{1,20}",
    ) {
        let secret = SecretString::from(password.clone());
        let spec = spec(DbKind::Postgres, Some(&host), Some(5432));
        let text = pgpass(&Handed { spec: &spec, user: Some(&user), password: Some(&secret) }).unwrap();
        let found = libpq_finds(&text, Some(&host), Some(5432), &user);
        prop_assert_eq!(found, Some(password.into_bytes()));
    }

    /// Whatever the password, the MySQL clients' unquoting gives back exactly it.
    #[test]
    fn the_option_file_reads_back_any_password(password in "[^\0]{0,40}", user in "[^\0\n]{1,20}") {
        let secret = SecretString::from(password.clone());
        let spec = spec(DbKind::MySql, Some("h"), None);
        let text = option_file(&Handed { spec: &spec, user: Some(&user), password: Some(&secret) }).unwrap();
        prop_assert_eq!(option(&text, "client", "password"), Some(password));
        prop_assert_eq!(option(&text, "client", "user"), Some(user));
    }
}

#[test]
fn the_service_file_names_where_and_who_and_never_the_password() {
    let password = SecretString::from("canary-svc");
    let mut spec = spec(DbKind::Postgres, Some("/tmp/sock dir"), Some(5433));
    spec.options.sslmode = Some(domain::SslMode::Disable);
    let text = pg_service(&Handed {
        spec: &spec,
        user: Some("v-new"),
        password: Some(&password),
    })
    .unwrap();
    assert_eq!(
        text,
        "[dbcore]\nhost=/tmp/sock dir\nport=5433\ndbname=app\nuser=v-new\nsslmode=disable\n"
    );
    let error = pg_service(&Handed {
        spec: &spec,
        user: Some("v-new "),
        password: None,
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the user name ends with white space, which a service file cannot hold"
    );
}

#[test]
fn the_pgpass_file_keeps_the_replaced_credential_after_the_current_one() {
    let new = SecretString::from("new-pw");
    let old = SecretString::from("old-pw");
    let spec = spec(DbKind::Postgres, Some("h"), None);
    let current = Handed {
        spec: &spec,
        user: Some("v-new"),
        password: Some(&new),
    };
    let previous = Handed {
        spec: &spec,
        user: Some("v-old"),
        password: Some(&old),
    };
    let written = files(DbKind::Postgres, &current, Some(&previous)).unwrap();
    let pgpass = &written.iter().find(|(name, _)| *name == PGPASS).unwrap().1;
    assert_eq!(
        libpq_finds(pgpass, Some("h"), None, "v-new").as_deref(),
        Some(b"new-pw".as_slice())
    );
    assert_eq!(
        libpq_finds(pgpass, Some("h"), None, "v-old").as_deref(),
        Some(b"old-pw".as_slice())
    );
    let same_user = Handed {
        spec: &spec,
        user: Some("v-new"),
        password: Some(&old),
    };
    let files = files(DbKind::Postgres, &current, Some(&same_user)).unwrap();
    assert_eq!(
        libpq_finds(&files[0].1, Some("h"), None, "v-new").as_deref(),
        Some(b"new-pw".as_slice()),
        "the current one wins"
    );
    assert!(
        !files
            .iter()
            .any(|(name, text)| *name == SERVICE_FILE && text.contains("pw"))
    );
}

#[test]
fn without_a_password_nothing_secret_is_written() {
    let spec = spec(DbKind::MySql, Some("h"), None);
    let handed = Handed {
        spec: &spec,
        user: Some("u"),
        password: None,
    };
    assert_eq!(pgpass(&handed).unwrap(), "");
    assert!(!option_file(&handed).unwrap().contains("password"));
    assert_eq!(url(DbKind::MySql, &handed), "mysql://u@h/app");
}

#[test]
fn the_option_file_carries_the_targets_tls_requirement() {
    let mut spec = spec(DbKind::MySql, Some("h"), None);
    let handed = |spec: &TargetSpec| {
        option_file(&Handed {
            spec,
            user: Some("u"),
            password: None,
        })
        .unwrap()
    };
    assert!(
        !handed(&spec).contains("ssl"),
        "no sslmode: the client's default"
    );
    spec.options.sslmode = Some(domain::SslMode::VerifyFull);
    let text = handed(&spec);
    let mariadb_only = text.split("[client-mariadb]\n").nth(1).unwrap();
    assert!(
        mariadb_only.starts_with("ssl\nssl-verify-server-cert\n"),
        "{text}"
    );
    assert_eq!(
        option(&text, "client", "loose-ssl-mode").as_deref(),
        Some("VERIFY_IDENTITY")
    );
    assert_eq!(
        option(&text, "client", "password"),
        None,
        "the password stays in [client] only when given"
    );
    spec.options.sslmode = Some(domain::SslMode::Require);
    assert_eq!(
        option(&handed(&spec), "client", "loose-ssl-mode").as_deref(),
        Some("REQUIRED")
    );
    assert_eq!(
        option(&handed(&spec), "mysql", "database").as_deref(),
        Some("app")
    );
}
