//! Differential test against libpq: for service files written the ways libpq's own tests
//! (`src/interfaces/libpq/t/006_service.pl`) and its parser care about — which file wins, a
//! section that ends at the next `[`, comments and whitespace, spaces around `=`, unknown and
//! nested keys, a header with a comment, a name that is only a prefix, a repeated key — `dbcore
//! ping` on a target with `service = "s"` and `psql "service=s"` either both connect, as the
//! same user to the same database, or both refuse.

use tests::bin::{ConfigDir, run};
use tests::pg::{PgCluster, cluster};

/// One way of writing the service `s`.
struct Case {
    name: &'static str,
    /// `PGSERVICEFILE`'s text; `None`: it names a file that does not exist.
    user_file: Option<String>,
    system_file: String,
    /// Variables set beyond the usual ones (an empty value is set, empty).
    env: &'static [(&'static str, &'static str)],
}

/// The cases for the service `s`, on `pg`: `{a}` and `{b}` stand for a section body that
/// connects as `svc_a` / `svc_b`.
fn cases(pg: &PgCluster) -> Vec<Case> {
    let body = |who: &str| {
        format!(
            "host=127.0.0.1\nport={}\ndbname={who}\nuser={who}\n",
            pg.port()
        )
    };
    let (a, b) = (body("svc_a"), body("svc_b"));
    // (name, user file, system file)
    let written = vec![
        (
            "the user file wins",
            format!("[s]\n{a}"),
            format!("[s]\n{b}"),
        ),
        (
            "else the system file",
            format!("[other]\n{a}"),
            format!("[s]\n{b}"),
        ),
        (
            "comments, blank lines, whitespace and CRLF",
            format!(
                "# sites\n\n   [s]   \r\n  {}\r\n\t# inside\n",
                a.replace('\n', "\r\n  ")
            ),
            String::new(),
        ),
        (
            "a header with a comment",
            format!("[s] # production\n{a}"),
            String::new(),
        ),
        (
            "spaces around =",
            format!("[s]\nhost = 127.0.0.1\n{a}"),
            String::new(),
        ),
        (
            "an unknown key",
            format!("[s]\n{a}surprise=1\n"),
            String::new(),
        ),
        (
            "a nested service",
            format!("[s]\nservice=other\n{a}"),
            String::new(),
        ),
        (
            "a line without =",
            format!("[s]\n{a}just words\n"),
            String::new(),
        ),
        (
            "a name that is only a prefix",
            format!("[sx]\n{a}"),
            String::new(),
        ),
        ("not defined anywhere", String::new(), String::new()),
        (
            "the first value of a key wins",
            format!("[s]\ndbname=svc_a\n{b}"),
            String::new(),
        ),
        (
            "another section's bad line is not read",
            format!("[x]\nbroken\n[s]\n{a}"),
            String::new(),
        ),
        (
            "the section ends at the next [",
            format!("[s]\n{a}[t]\nbroken\n"),
            String::new(),
        ),
    ];
    let mut cases: Vec<Case> = written
        .into_iter()
        .map(|(name, user_file, system_file)| Case {
            name,
            user_file: Some(user_file),
            system_file,
            env: &[],
        })
        .collect();
    cases.extend([
        // libpq reads a named PGSERVICEFILE or fails; only ~/.pg_service.conf may be missing.
        Case {
            name: "PGSERVICEFILE names a file that does not exist",
            user_file: None,
            system_file: format!("[s]\n{b}"),
            env: &[],
        },
        Case {
            name: "PGSERVICEFILE set and empty",
            user_file: Some(format!("[s]\n{a}")),
            system_file: format!("[s]\n{b}"),
            env: &[("PGSERVICEFILE", "")],
        },
        Case {
            name: "an ldap line",
            user_file: Some(format!("[s]\nldap://localhost:1/x\n{a}")),
            system_file: String::new(),
            env: &[],
        },
    ]);
    cases
}

fn psql_user(pg: &PgCluster, env: &[(&str, String)]) -> Option<String> {
    let mut command = std::process::Command::new(pg.bin("psql"));
    command
        .args([
            "-w",
            "-X",
            "-tA",
            "-d",
            "service=s",
            "-c",
            "select current_user || '/' || current_database()",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[tokio::test]
async fn dbcore_reads_a_service_exactly_as_psql_does() {
    let Some(pg) = cluster() else { return };
    for who in ["svc_a", "svc_b"] {
        pg.create_role_and_database(who, &format!("pw-{who}")).await;
    }
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "127.0.0.1:{0}:*:svc_a:pw-svc_a\n127.0.0.1:{0}:*:svc_b:pw-svc_b\n",
            pg.port()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = ConfigDir::new();
    config.target(
        "t",
        "kind = \"postgres\"\nservice = \"s\"\nsources = [\"pgpass\"]\n",
    );

    let mut outcomes = Vec::new();
    for Case {
        name: case,
        user_file,
        system_file,
        env: overrides,
    } in cases(pg)
    {
        let user = home.path().join("user.conf");
        let sysconf = home.path().join("sysconf");
        std::fs::create_dir_all(&sysconf).unwrap();
        match user_file {
            Some(text) => std::fs::write(&user, text).unwrap(),
            None => drop(std::fs::remove_file(&user)),
        }
        std::fs::write(sysconf.join("pg_service.conf"), &system_file).unwrap();
        let mut env = vec![
            ("PGSERVICEFILE", user.display().to_string()),
            ("PGSYSCONFDIR", sysconf.display().to_string()),
            ("PGPASSFILE", pgpass.display().to_string()),
            ("HOME", home.path().display().to_string()),
        ];
        for (key, value) in overrides {
            env.retain(|(k, _)| k != key);
            env.push((key, (*value).to_owned()));
        }
        let libpq = psql_user(pg, &env);
        let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ping = run(
            "dbcore",
            &[
                "--config-dir",
                config.path_str(),
                "--format",
                "json",
                "ping",
                "t",
            ],
            &env_refs,
        );
        let ours = (ping.code == Some(0)).then(|| {
            let json = ping.json();
            format!(
                "{}/{}",
                json["current_user"].as_str().unwrap_or_default(),
                json["database"].as_str().unwrap_or_default()
            )
        });
        assert_eq!(ours, libpq, "{case}: dbcore {ping:?}");
        outcomes.push((case, libpq));
    }
    // Not a comparison of two failures: the cases connect and refuse as libpq's rules say.
    let connected: Vec<&str> = outcomes
        .iter()
        .filter(|(_, user)| user.is_some())
        .map(|(case, _)| *case)
        .collect();
    assert_eq!(
        connected,
        [
            "the user file wins",
            "else the system file",
            "comments, blank lines, whitespace and CRLF",
            "a header with a comment",
            "the first value of a key wins",
            "another section's bad line is not read",
            "the section ends at the next [",
        ]
    );
    assert_eq!(outcomes[0].1.as_deref(), Some("svc_a/svc_a"));
    assert_eq!(outcomes[1].1.as_deref(), Some("svc_b/svc_b"));
    assert_eq!(
        outcomes[10].1.as_deref(),
        Some("svc_b/svc_a"),
        "dbname from its first line"
    );
}
