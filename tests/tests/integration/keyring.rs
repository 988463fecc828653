//! The keyring source with the real kernel keyring and a real gnome-keyring on a private
//! D-Bus session, as a new user would use them: `dbcore secret set`, then `dbcore ping`.

use tests::bin::{ConfigDir, Run, have, run_shell};
use tests::pg::{PgCluster, cluster};
use tests::servers::{random_token, unavailable};

/// A target for `role` on the test cluster: env, keyring, pgpass, with its own keyring
/// service name (the kernel's persistent keyring is shared by every test of this user).
fn target(pg: &PgCluster, config: &ConfigDir, role: &str, store: &str) -> String {
    let service = format!("dbcore-test:{}", random_token(12));
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"env\", \"keyring\", \"pgpass\"]\nenv_prefix = \"KR\"\n[keyring]\nservice = \"{service}\"\nstore = \"{store}\"\n",
            pg.port()
        ),
    );
    service
}

/// The compiled `laptop` target (env, keyring, pgpass) pointed at the test cluster through its
/// environment variables, as a user on a laptop would, with a keyring service of its own.
fn laptop_env(
    pg: &PgCluster,
    role: &str,
    store: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PROJECT_DB_HOST".into(), "127.0.0.1".into()),
        ("PROJECT_DB_PORT".into(), pg.port().to_string()),
        ("PROJECT_DB_USER".into(), role.into()),
        ("PROJECT_DB_DATABASE".into(), role.into()),
        (
            "PROJECT_DB_KEYRING_SERVICE".into(),
            format!("dbcore-test:{}", random_token(12)),
        ),
        ("PROJECT_DB_KEYRING_STORE".into(), store.into()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn assert_ping_used_the_keyring(run: &Run, store: &str, role: &str, canary: &str) {
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("read back and verified"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("\"current_user\": \"{role}\"")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\"outcome\": \"found\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("\"detail\": \"found in {store} (")),
        "explain names the store: {}",
        run.stdout
    );
    assert!(
        !run.all_output().contains(canary),
        "the password was printed:\n{}",
        run.all_output()
    );
}

const FLOW: &str = r#"
set -e
printf '%s\n' "$PW" | "$ADMIN" --config-dir "$CONF" secret set laptop --stdin
"$ADMIN" --config-dir "$CONF" secret status laptop
env -u PW "$ADMIN" --config-dir "$CONF" --format json ping laptop
env -u PW "$ADMIN" --config-dir "$CONF" --format json explain laptop
"$ADMIN" --config-dir "$CONF" secret delete laptop
"#;

#[tokio::test]
async fn the_kernel_keyring_end_to_end() {
    let Some(pg) = cluster() else { return };
    if !have("keyctl") {
        return unavailable::<()>("keyutils (keyctl)", "not installed").unwrap_or(());
    }
    let canary = format!("canary-{}", random_token(12));
    pg.create_role_and_database("kr_kernel", &canary).await;
    let config = ConfigDir::new();
    let env = laptop_env(
        pg,
        "kr_kernel",
        "keyutils",
        &[
            ("PW", &canary),
            ("CONF", config.path_str()),
            ("HOME", config.path_str()),
            ("RUST_LOG", "trace"),
        ],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = run_shell(
        &format!("keyctl session - sh -c '{}'", FLOW.replace('\'', "'\\''")),
        &env,
    );
    assert!(run.stdout.contains("\"target\": \"laptop\""), "{run:?}");
    assert_ping_used_the_keyring(&run, "keyutils", "kr_kernel", &canary);
    assert!(
        run.stdout.contains("keyring.store = keyutils"),
        "{}",
        run.stdout
    );
}

/// `dbus-run-session` gives a private bus that ends with the script; gnome-keyring-daemon
/// leaves with it.
///
/// The daemon prints its environment before it owns `org.freedesktop.secrets` on the bus; a
/// client that asks in between makes the bus activate a second, locked daemon, and the test
/// would be about that race rather than about dbcore (as on a desktop, where the daemon is up
/// long before anyone asks). So the script starts only once the name has its owner.
fn with_gnome_keyring(script: &str, unlock: bool) -> String {
    let start = if unlock {
        r#"eval "$(printf 'keyring-pw' | gnome-keyring-daemon --unlock --components=secrets)""#
    } else {
        r#"eval "$(gnome-keyring-daemon --start --components=secrets)""#
    };
    let owned = "dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
                 org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q true";
    let wait = format!(
        "i=0; until {owned}; do i=$((i+1)); [ $i -lt 200 ] || {{ echo the secret service never came up >&2; exit 1; }}; sleep 0.05; done"
    );
    format!(
        "dbus-run-session -- sh -c '{start}; {wait}; {}'",
        script.replace('\'', "'\\''")
    )
}

#[tokio::test]
async fn gnome_keyring_over_secret_service_end_to_end() {
    let Some(pg) = cluster() else { return };
    if !have("dbus-run-session") || !have("gnome-keyring-daemon") {
        return unavailable::<()>("gnome-keyring and dbus", "not installed").unwrap_or(());
    }
    let canary = format!("canary-{}", random_token(12));
    pg.create_role_and_database("kr_secret_service", &canary)
        .await;
    let config = ConfigDir::new();
    let env = laptop_env(
        pg,
        "kr_secret_service",
        "auto",
        &[
            ("PW", &canary),
            ("CONF", config.path_str()),
            ("HOME", config.path_str()),
            ("RUST_LOG", "trace"),
        ],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = run_shell(&with_gnome_keyring(FLOW, true), &env);
    assert!(run.stdout.contains("\"target\": \"laptop\""), "{run:?}");
    assert_ping_used_the_keyring(&run, "secret-service", "kr_secret_service", &canary);
    assert!(
        run.stdout
            .contains("auto: a Secret Service answered on the session bus"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_locked_keyring_or_no_bus_is_unavailable_and_the_next_source_is_tried() {
    let Some(pg) = cluster() else { return };
    if !have("dbus-run-session") || !have("gnome-keyring-daemon") {
        return unavailable::<()>("gnome-keyring and dbus", "not installed").unwrap_or(());
    }
    pg.create_role_and_database("kr_locked", "from-pgpass")
        .await;
    let config = ConfigDir::new();
    target(pg, &config, "kr_locked", "secret-service");
    let pgpass = config.secret_file("pgpass", "*:*:*:kr_locked:from-pgpass\n");
    let explain = r#""$ADMIN" --config-dir "$CONF" --format json explain t"#;
    let env = [
        ("CONF", config.path_str()),
        ("HOME", config.path_str()),
        ("KR_PGPASS", pgpass.as_str()),
    ];

    // An entry stored in the login keyring, then a new session whose daemon never unlocks it
    // (as after a reboot without auto-unlock).
    let stored = run_shell(
        &with_gnome_keyring(
            r#"printf 'in-keyring\n' | "$ADMIN" --config-dir "$CONF" secret set t --stdin"#,
            true,
        ),
        &env,
    );
    assert_eq!(stored.code, Some(0), "{stored:?}");
    let locked = run_shell(&with_gnome_keyring(explain, false), &env);
    assert_eq!(locked.code, Some(0), "{locked:?}");
    let json: serde_json::Value =
        serde_json::from_str(&locked.stdout[locked.stdout.find('{').unwrap()..]).unwrap();
    let keyring = &json["attempts"][1];
    assert_eq!(keyring["source"], "keyring");
    assert_eq!(keyring["outcome"], "unavailable", "{json:#}");
    assert!(
        keyring["detail"]
            .as_str()
            .unwrap()
            .contains("secret-service is locked or not accessible"),
        "{json:#}"
    );
    assert_eq!(json["attempts"][2]["outcome"], "found");
    assert_eq!(json["credential"]["source"], "pgpass");

    // No session bus at all.
    let no_bus = run_shell(explain, &env);
    let json = no_bus.json();
    assert_eq!(json["attempts"][1]["outcome"], "unavailable", "{json:#}");
    assert_eq!(
        json["attempts"][1]["detail"],
        "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    );
    assert_eq!(json["credential"]["source"], "pgpass");
}
