//! `file`: a password kept alone in a file (Docker and Kubernetes secrets, systemd credentials).
//!
//! Contract:
//! - Path: the target's `password_file` setting, else `<PREFIX>_PASSWORD_FILE`, else
//!   `$CREDENTIALS_DIRECTORY/<target name>` (systemd's `LoadCredential=`).
//! - The whole file is the password, with one trailing newline (`\n` or `\r\n`) removed.
//! - A file named by `password_file` or `<PREFIX>_PASSWORD_FILE` that is missing or unreadable
//!   is a hard error: the user asked for it. Under `$CREDENTIALS_DIRECTORY` a missing file is
//!   "not here". An empty password is "not here". Nothing set at all is "not here".

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, Lookup, SecretString, SourceError, TargetIdentity,
};

use crate::fs::{FileKind, expand_home, read_regular};

pub struct FileSource {
    prefix: String,
    configured: Option<PathBuf>,
    env: Arc<dyn Env>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("prefix", &self.prefix)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// `configured` is the target's `password_file` setting, if any.
    pub fn new(prefix: impl Into<String>, configured: Option<PathBuf>, env: Arc<dyn Env>) -> Self {
        Self {
            prefix: prefix.into(),
            configured,
            env,
        }
    }

    /// The path to read, whether the user named it explicitly, and what chose it.
    fn path(&self, target: &TargetIdentity) -> Option<(PathBuf, bool, String)> {
        if let Some(path) = &self.configured {
            return Some((path.clone(), true, "password_file".into()));
        }
        let var = format!("{}_PASSWORD_FILE", self.prefix);
        if let Some(path) = self.env.non_empty(&var) {
            return Some((expand_home(&path, self.env.as_ref()), true, var));
        }
        self.env.non_empty("CREDENTIALS_DIRECTORY").map(|dir| {
            (
                PathBuf::from(dir).join(&target.name),
                false,
                "CREDENTIALS_DIRECTORY".into(),
            )
        })
    }
}

#[async_trait]
impl CredentialSource for FileSource {
    fn name(&self) -> &str {
        "file"
    }

    fn watched_files(&self, target: &TargetIdentity) -> Vec<PathBuf> {
        self.path(target)
            .map(|(path, ..)| path)
            .into_iter()
            .collect()
    }

    async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let Some((path, explicit, chosen_by)) = self.path(target) else {
            return Ok(Lookup::not_found(format!(
                "no password_file setting, {}_PASSWORD_FILE or CREDENTIALS_DIRECTORY",
                self.prefix
            )));
        };
        let Some(bytes) = read_regular(&path, FileKind::SECRET)? else {
            if explicit {
                return Err(SourceError::Misconfigured(format!(
                    "password file {} (from {chosen_by}) does not exist",
                    path.display()
                )));
            }
            return Ok(Lookup::not_found(format!(
                "{} does not exist",
                path.display()
            )));
        };
        let mut text = String::from_utf8(bytes).map_err(|_| SourceError::Malformed {
            path: path.clone(),
            message: "the password is not valid UTF-8".into(),
        })?;
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        } else if text.ends_with('\n') {
            text.truncate(text.len() - 1);
        }
        if text.is_empty() {
            return Ok(Lookup::not_found(format!("{} is empty", path.display())));
        }
        Ok(Lookup::Found(Credential::new(
            None,
            SecretString::from(text),
            "file",
            path.display().to_string(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, ExposeSecret, MapEnv};

    fn target() -> TargetIdentity {
        TargetIdentity {
            name: "prod".into(),
            kind: DbKind::Postgres,
            host: None,
            port: None,
            database: None,
            user: Some("app".into()),
        }
    }

    fn password(l: Lookup) -> String {
        match l {
            Lookup::Found(c) => c.password.expose_secret().to_owned(),
            other => panic!("expected found, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn order_setting_then_variable_then_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("setting"), "from-setting\n").unwrap();
        std::fs::write(dir.path().join("var"), "from-var\r\n").unwrap();
        std::fs::write(dir.path().join("prod"), "from-systemd\n\n").unwrap();
        let env = MapEnv::new().with("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap());
        let source = FileSource::new("PROJECT_DB", None, Arc::new(env.clone()));
        assert_eq!(
            password(source.lookup(&target()).await.unwrap()),
            "from-systemd\n",
            "exactly one trailing newline is removed"
        );
        let env = env.with(
            "PROJECT_DB_PASSWORD_FILE",
            dir.path().join("var").to_str().unwrap(),
        );
        let source = FileSource::new("PROJECT_DB", None, Arc::new(env.clone()));
        assert_eq!(
            password(source.lookup(&target()).await.unwrap()),
            "from-var"
        );
        let source = FileSource::new(
            "PROJECT_DB",
            Some(dir.path().join("setting")),
            Arc::new(env),
        );
        assert_eq!(
            password(source.lookup(&target()).await.unwrap()),
            "from-setting"
        );
    }

    #[tokio::test]
    async fn missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::new().with("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap());
        let source = FileSource::new("PROJECT_DB", None, Arc::new(env));
        assert!(matches!(
            source.lookup(&target()).await.unwrap(),
            Lookup::NotFound { .. }
        ));
        let source = FileSource::new(
            "PROJECT_DB",
            Some(dir.path().join("nope")),
            Arc::new(MapEnv::new()),
        );
        let err = source.lookup(&target()).await.unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("does not exist") && err.contains("password_file"),
            "{err}"
        );
        let none = FileSource::new("PROJECT_DB", None, Arc::new(MapEnv::new()));
        assert!(matches!(
            none.lookup(&target()).await.unwrap(),
            Lookup::NotFound { reason } if reason.contains("PROJECT_DB_PASSWORD_FILE")
        ));
    }

    #[tokio::test]
    async fn an_empty_file_is_not_a_password() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "\n").unwrap();
        let source = FileSource::new("P", Some(dir.path().join("pw")), Arc::new(MapEnv::new()));
        assert!(matches!(
            source.lookup(&target()).await.unwrap(),
            Lookup::NotFound { reason } if reason.contains("empty")
        ));
    }
}
