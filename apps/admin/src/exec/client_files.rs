//! What a client library reads: the text of a private pgpass file or MySQL option file, the
//! variables that point at it, and (on request) a URL. Pure functions, no I/O.
//!
//! Each is written for the reader that will parse it: the pgpass line is escaped as libpq
//! unescapes it (`\` before `:` and `\`), the option file is quoted as the MySQL and MariaDB
//! clients unquote it. Text that such a file cannot hold (a line break in a pgpass field) is
//! refused rather than written wrong.

use domain::{DbKind, ExposeSecret, TargetSpec};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// libpq's default socket directory on Debian; libpq looks a connection through it up in a
/// pgpass file as `localhost`.
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// The connection a child is handed: where, who, and the secret.
pub struct Handed<'a> {
    pub spec: &'a TargetSpec,
    /// The credential's user, else the target's.
    pub user: Option<&'a str>,
    /// `None` when the chain supplied none (the server decides, as with `trust`).
    pub password: Option<&'a secrecy::SecretString>,
}

impl std::fmt::Debug for Handed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handed")
            .field("target", &self.spec.identity.name)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why a credential cannot be written for a client. Names the field, never its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unwritable {
    #[error("the {field} has a line break or a NUL byte, which a {file} cannot hold")]
    LineBreak {
        field: &'static str,
        file: &'static str,
    },
    #[error("the {field} ends with white space, which a {file} cannot hold")]
    TrailingSpace {
        field: &'static str,
        file: &'static str,
    },
}

/// The files a child of `kind` is handed, by name, current credential first. For PostgreSQL
/// the pgpass file also keeps the replaced credential's line: the service file names the new
/// user a moment after the pgpass file has its password, and a connection made in between
/// (or one that read the service file just before) still finds the password of its user.
pub fn files(
    kind: DbKind,
    current: &Handed<'_>,
    previous: Option<&Handed<'_>>,
) -> Result<Vec<(&'static str, String)>, Unwritable> {
    Ok(match kind {
        DbKind::MySql => vec![(OPTION_FILE, option_file(current)?)],
        _ => {
            let mut lines = pgpass(current)?;
            if let Some(previous) = previous {
                lines += &pgpass(previous)?;
            }
            vec![(PGPASS, lines), (SERVICE_FILE, pg_service(current)?)]
        }
    })
}

pub const PGPASS: &str = "pgpass";
pub const SERVICE_FILE: &str = "pg_service.conf";
pub const OPTION_FILE: &str = "my.cnf";
/// The service the child's `PGSERVICE` names.
pub const SERVICE: &str = "dbcore";

/// One pgpass line per host name libpq will look the connection up as, for any database of
/// the server (the credential is the user's, not one database's); nothing without a
/// password.
pub fn pgpass(handed: &Handed<'_>) -> Result<String, Unwritable> {
    let Some(password) = handed.password else {
        return Ok(String::new());
    };
    let identity = &handed.spec.identity;
    let port = identity.port.unwrap_or(5432).to_string();
    let user = match handed.user {
        Some(user) => pgpass_field(user, "user name")?,
        None => "*".to_owned(),
    };
    let password = pgpass_field(password.expose_secret(), "password")?;
    let mut hosts = Vec::new();
    match identity.host.as_deref() {
        None | Some("") => hosts.push("localhost".to_owned()),
        Some(dir) if dir.starts_with('/') => {
            hosts.push(pgpass_field(dir, "host")?);
            if dir == DEFAULT_SOCKET_DIR {
                hosts.push("localhost".to_owned());
            }
        }
        Some(host) => hosts.push(pgpass_field(host, "host")?),
    }
    Ok(hosts
        .iter()
        .map(|host| format!("{host}:{port}:*:{user}:{password}\n"))
        .collect())
}

/// A libpq service file with one service, [`SERVICE`]: host, port, database, user and
/// sslmode (never the password). libpq reads it at every connection and applies it before
/// the environment, so a rotation that changes the user name reaches the next connection of
/// a running child.
pub fn pg_service(handed: &Handed<'_>) -> Result<String, Unwritable> {
    let identity = &handed.spec.identity;
    let mut text = format!("[{SERVICE}]\n");
    let mut line = |key: &str, value: Option<&str>, field: &'static str| {
        if let Some(value) = value {
            text += &format!("{key}={}\n", service_value(value, field)?);
        }
        Ok::<_, Unwritable>(())
    };
    line("host", identity.host.as_deref(), "host")?;
    line(
        "port",
        identity.port.map(|p| p.to_string()).as_deref(),
        "port",
    )?;
    line("dbname", identity.database.as_deref(), "database")?;
    line("user", handed.user, "user name")?;
    line(
        "sslmode",
        handed.spec.options.sslmode.map(|m| m.as_str()),
        "sslmode",
    )?;
    line(
        "application_name",
        handed.spec.options.application_name.as_deref(),
        "application name",
    )?;
    Ok(text)
}

/// libpq takes a service file's value as the rest of the line, trailing white space cut.
fn service_value<'v>(value: &'v str, field: &'static str) -> Result<&'v str, Unwritable> {
    const FILE: &str = "service file";
    if value.contains(['\n', '\r', '\0']) {
        return Err(Unwritable::LineBreak { field, file: FILE });
    }
    // C's isspace, which libpq trims with: the vertical tab is one, unlike in Rust's set.
    if value.ends_with([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']) {
        return Err(Unwritable::TrailingSpace { field, file: FILE });
    }
    Ok(value)
}

fn pgpass_field(value: &str, field: &'static str) -> Result<String, Unwritable> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(Unwritable::LineBreak {
            field,
            file: "pgpass file",
        });
    }
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if c == ':' || c == '\\' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    // A `*` alone is libpq's wildcard; escaped, it is the literal name.
    if escaped == "*" {
        escaped = "\\*".to_owned();
    }
    Ok(escaped)
}

/// A MySQL option file: where and who in `[client]` (read by every client program), the
/// database in `[mysql]` (read by `mysql`/`mariadb`; `mysqldump` would refuse it in
/// `[client]`). `protocol=tcp` unless the host is a socket, because the clients take
/// `localhost` to mean the socket and the target means TCP (as sqlx does).
pub fn option_file(handed: &Handed<'_>) -> Result<String, Unwritable> {
    let identity = &handed.spec.identity;
    let mut client = String::from("[client]\n");
    match identity.host.as_deref() {
        Some(socket) if socket.starts_with('/') => {
            client += &format!("socket={}\n", option_value(socket, "host")?);
        }
        host => {
            client += &format!(
                "host={}\nprotocol=tcp\n",
                option_value(host.unwrap_or("localhost"), "host")?
            );
            client += &format!("port={}\n", identity.port.unwrap_or(3306));
        }
    }
    if let Some(user) = handed.user {
        client += &format!("user={}\n", option_value(user, "user name")?);
    }
    if let Some(password) = handed.password {
        client += &format!(
            "password={}\n",
            option_value(password.expose_secret(), "password")?
        );
    }
    client += ssl_options(handed.spec.options.sslmode);
    if let Some(database) = identity.database.as_deref() {
        client += &format!(
            "[mysql]\ndatabase={}\n",
            option_value(database, "database")?
        );
    }
    Ok(client)
}

/// The target's sslmode as the clients take it: MariaDB's `ssl` / `ssl-verify-server-cert`
/// in `[client-mariadb]`, the group only MariaDB's clients read, and, when TLS is required,
/// MySQL 8's `ssl-mode` in `[client]` as `loose-ssl-mode` (MariaDB's clients warn that they
/// do not know it and go on; a requirement is not dropped to keep them quiet). verify-ca
/// becomes MariaDB's verification, which also checks the host name: stricter, never looser.
fn ssl_options(mode: Option<domain::SslMode>) -> &'static str {
    use domain::SslMode;
    match mode {
        None | Some(SslMode::Prefer | SslMode::Allow) => "",
        Some(SslMode::Disable) => "[client-mariadb]\nskip-ssl\n",
        Some(SslMode::Require) => "loose-ssl-mode=REQUIRED\n[client-mariadb]\nssl\n",
        Some(SslMode::VerifyCa) => {
            "loose-ssl-mode=VERIFY_CA\n[client-mariadb]\nssl\nssl-verify-server-cert\n"
        }
        Some(SslMode::VerifyFull) => {
            "loose-ssl-mode=VERIFY_IDENTITY\n[client-mariadb]\nssl\nssl-verify-server-cert\n"
        }
    }
}

/// A double-quoted option value with the escapes the clients undo (`my_default.cc`).
fn option_value(value: &str, field: &'static str) -> Result<String, Unwritable> {
    if value.contains('\0') {
        return Err(Unwritable::LineBreak {
            field,
            file: "MySQL option file",
        });
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{8}' => quoted.push_str("\\b"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Ok(quoted)
}

/// Everything outside RFC 3986's unreserved characters is percent-encoded in a URL part.
const URL_PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URL `--url-var` exports: `postgresql://` (libpq's form, which Django, Rails and Prisma
/// take) or `mysql://`, password included.
pub fn url(kind: DbKind, handed: &Handed<'_>) -> String {
    let identity = &handed.spec.identity;
    let part = |s: &str| utf8_percent_encode(s, URL_PART).to_string();
    let scheme = if kind == DbKind::MySql {
        "mysql"
    } else {
        "postgresql"
    };
    let user = handed.user.map(part).unwrap_or_default();
    let password = handed
        .password
        .map(|p| format!(":{}", part(p.expose_secret())))
        .unwrap_or_default();
    let database = identity.database.as_deref().map(part).unwrap_or_default();
    let mut query = Vec::new();
    let authority = match identity.host.as_deref() {
        Some(socket) if socket.starts_with('/') => {
            query.push(format!("host={}", part(socket)));
            if let Some(port) = identity.port {
                query.push(format!("port={port}"));
            }
            String::new()
        }
        host => {
            let host = host.unwrap_or("localhost");
            let host = if host.contains(':') {
                format!("[{host}]") // an IPv6 address
            } else {
                part(host)
            };
            match identity.port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        }
    };
    if kind != DbKind::MySql
        && let Some(mode) = handed.spec.options.sslmode
    {
        query.push(format!("sslmode={}", mode.as_str()));
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("{scheme}://{user}{password}@{authority}/{database}{query}")
}

#[cfg(test)]
#[path = "client_files_tests.rs"]
mod tests;
