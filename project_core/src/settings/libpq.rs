//! What libpq itself reads for a PostgreSQL target, so that dbcore and `psql` beside it agree:
//! the `PGSSL*` variables, and the files under `~/.postgresql/` when nothing names others.
//!
//! libpq puts its environment below the connection string, so the variables form a layer
//! above the code defaults and below the target file (and its `<PREFIX>_*` variables); the
//! home files are defaults that count only when they exist, as libpq uses `root.crt` and
//! `postgresql.crt` only then. Either way `explain` shows where each value came from. sqlx
//! reads none of this itself: its options start from no environment at all.

use std::path::Path;

use domain::{DbKind, Env, RootCert};

use super::environment::{EnvKey, env_keys, variables_layer};
use super::error::SettingsError;
use super::fields::TargetSettings;
use super::layer::Layer;
use super::origin::Origin;
use super::values::{FilePath, RootCertSetting};

/// The variables libpq reads for TLS, each setting the key of the same meaning.
#[rustfmt::skip]
const LIBPQ_VARIABLES: &[EnvKey] = env_keys![
    "PGSSLMODE" => sslmode,
    "PGSSLROOTCERT" => sslrootcert,
    "PGSSLCERT" => sslcert,
    "PGSSLKEY" => sslkey,
    "PGSSLCRL" => sslcrl,
];

/// The `PGSSL*` variables that are set, for a PostgreSQL target; nothing for other kinds.
pub(super) fn variables(
    kind: Option<DbKind>,
    env: &dyn Env,
) -> Result<Option<Layer>, SettingsError> {
    if kind != Some(DbKind::Postgres) {
        return Ok(None);
    }
    variables_layer(
        "libpq environment",
        LIBPQ_VARIABLES,
        |e| e.suffix.to_owned(),
        env,
    )
    .map(Some)
}

/// libpq's defaults under `~/.postgresql/` for what `merged` leaves unset, each only when its
/// file exists; the key only beside a certificate (libpq looks for `postgresql.key` only after
/// it found one), and none of them with `sslmode = disable` (libpq reads no TLS file then).
pub(super) fn home_files(
    merged: &TargetSettings,
    env: &dyn Env,
) -> Result<Option<Layer>, SettingsError> {
    if merged.kind.as_ref().map(|k| k.0) != Some(DbKind::Postgres)
        || merged.sslmode.map(|m| m.0) == Some(domain::SslMode::Disable)
    {
        return Ok(None);
    }
    let Some(dir) = env.home_dir().map(|home| home.join(".postgresql")) else {
        return Ok(None);
    };
    let existing = |name: &str| Some(dir.join(name)).filter(|p| exists(p));
    let cert_default = merged
        .sslcert
        .is_none()
        .then(|| existing("postgresql.crt"))
        .flatten();
    let has_cert = merged.sslcert.is_some() || cert_default.is_some();
    let defaults = TargetSettings {
        sslrootcert: merged
            .sslrootcert
            .is_none()
            .then(|| existing("root.crt"))
            .flatten()
            .map(|p| RootCertSetting(RootCert::File(p))),
        sslcert: cert_default.map(FilePath),
        sslcrl: merged
            .sslcrl
            .is_none()
            .then(|| existing("root.crl"))
            .flatten()
            .map(FilePath),
        sslkey: (merged.sslkey.is_none() && has_cert)
            .then(|| existing("postgresql.key"))
            .flatten()
            .map(FilePath),
        ..TargetSettings::default()
    };
    let layer = Layer::from_settings("libpq defaults", &defaults, |_| Origin::libpq_home_file())?;
    Ok(Some(layer))
}

/// Whether a default file is there to be used (a dangling link or an unreadable directory is
/// not, as libpq's `stat` says).
fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}
