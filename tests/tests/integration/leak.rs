//! A canary password in each source never appears in anything `dbcore` prints, at trace level,
//! whether authentication succeeds or fails.

use tests::bin::{ConfigDir, Run, run};
use tests::pg::cluster;
use tests::servers::random_token;

fn assert_no_canary(canary: &str, what: &str, run: &Run) {
    assert!(
        !run.all_output().contains(canary),
        "{what} printed the canary password:\n{}",
        run.all_output()
    );
}

#[tokio::test]
async fn no_command_prints_a_password_at_any_log_level() {
    let Some(pg) = cluster() else { return };
    for source in ["env", "pgpass", "file", "mycnf"] {
        let role = format!("leak_{source}");
        let canary = format!("canary-{}", random_token(16));
        pg.create_role_and_database(&role, &canary).await;
        let config = ConfigDir::new();
        config.target(
            "t",
            &format!(
                "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"{source}\"]\nenv_prefix = \"T\"\n",
                pg.port()
            ),
        );
        let mut env: Vec<(String, String)> = vec![
            ("RUST_LOG".into(), "trace".into()),
            ("HOME".into(), config.path_str().into()),
        ];
        match source {
            "env" => env.push(("T_PASSWORD".into(), canary.clone())),
            "pgpass" => env.push((
                "T_PGPASS".into(),
                config.secret_file("pgpass", &format!("*:*:*:*:{canary}\n")),
            )),
            "file" => env.push((
                "T_PASSWORD_FILE".into(),
                config.secret_file("pw", &format!("{canary}\n")),
            )),
            _ => env.push((
                "T_MYCNF".into(),
                config.secret_file("my.cnf", &format!("[client]\npassword = \"{canary}\"\n")),
            )),
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let dir = config.path_str();

        for format in ["text", "json"] {
            let explain = run(
                "dbcore",
                &["--config-dir", dir, "--format", format, "explain", "t"],
                &env,
            );
            assert_eq!(explain.code, Some(0), "{source}: {explain:?}");
            assert_no_canary(&canary, &format!("explain ({source}, {format})"), &explain);

            let ping = run(
                "dbcore",
                &["--config-dir", dir, "--format", format, "ping", "t"],
                &env,
            );
            assert_eq!(ping.code, Some(0), "{source}: {ping:?}");
            assert!(
                ping.stderr.contains("TRACE") || ping.stderr.contains("DEBUG"),
                "trace logging is on"
            );
            assert_no_canary(&canary, &format!("ping ({source}, {format})"), &ping);
        }

        // The server now wants another password: authentication fails with the canary.
        pg.set_password(&role, &format!("other-{}", random_token(8)))
            .await;
        for format in ["text", "json"] {
            let failed = run(
                "dbcore",
                &["--config-dir", dir, "--format", format, "ping", "t"],
                &env,
            );
            assert_eq!(failed.code, Some(1), "{source}: {failed:?}");
            assert!(
                failed.stderr.contains("authentication failed"),
                "{}",
                failed.stderr
            );
            assert_no_canary(
                &canary,
                &format!("failed ping ({source}, {format})"),
                &failed,
            );
        }
        let targets = run("dbcore", &["--config-dir", dir, "targets"], &env);
        assert_no_canary(&canary, "targets", &targets);
    }
}
