//! Which config directory a process reads, and why.
//!
//! Design decision: the directory is chosen once, with the reason kept beside it, because a
//! silent choice is what users trip on: run from a repository root, `./config` would hide
//! `~/.config/dbcore`; a mistyped `--config-dir` would fall back to code defaults. So a
//! directory someone named (the flag, `PROJECT_CONFIG_DIR`) must exist, `./config` counts only
//! when it holds a `targets/` directory, and `dbcore targets` and `explain` say which was used.

use std::fmt;
use std::path::{Path, PathBuf};

use domain::Env;

/// Why this directory was chosen, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// An app's `--config-dir`.
    Flag,
    /// `$PROJECT_CONFIG_DIR`.
    Variable,
    /// `./config`, which has a `targets/` directory.
    Local,
    /// The user config directory (`~/.config/dbcore`), which may not exist.
    User,
}

impl ChosenBy {
    /// The spelling in `--format json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChosenBy::Flag => "flag",
            ChosenBy::Variable => "variable",
            ChosenBy::Local => "local",
            ChosenBy::User => "user",
        }
    }

    fn named_by_someone(self) -> bool {
        matches!(self, ChosenBy::Flag | ChosenBy::Variable)
    }
}

impl fmt::Display for ChosenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChosenBy::Flag => "--config-dir",
            ChosenBy::Variable => "PROJECT_CONFIG_DIR",
            ChosenBy::Local => "./config, which has targets/",
            ChosenBy::User => "the user config directory",
        })
    }
}

/// The config directory in use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir {
    pub path: PathBuf,
    pub chosen_by: ChosenBy,
}

impl ConfigDir {
    /// The flag, else `$PROJECT_CONFIG_DIR`, else `./config` when it has `targets/`, else the
    /// user config directory. Nothing is checked here (see [`ConfigDir::check`]).
    pub fn find(flag: Option<&Path>, env: &dyn Env) -> Option<Self> {
        Self::find_from(flag, env, Path::new("."))
    }

    /// [`ConfigDir::find`] with `./config` looked for in `cwd`.
    pub fn find_from(flag: Option<&Path>, env: &dyn Env, cwd: &Path) -> Option<Self> {
        let chosen = |path: PathBuf, chosen_by| Some(Self { path, chosen_by });
        if let Some(dir) = flag {
            return chosen(dir.to_owned(), ChosenBy::Flag);
        }
        if let Some(dir) = env.non_empty("PROJECT_CONFIG_DIR") {
            return chosen(PathBuf::from(dir), ChosenBy::Variable);
        }
        let local = cwd.join("config");
        if local.join("targets").is_dir() {
            let path = if cwd == Path::new(".") {
                PathBuf::from("config")
            } else {
                local
            };
            return chosen(path, ChosenBy::Local);
        }
        dirs::config_dir().and_then(|d| chosen(d.join("dbcore"), ChosenBy::User))
    }

    /// A directory someone named must be a directory; the others may be missing.
    pub fn check(&self) -> Result<(), ConfigDirError> {
        if !self.chosen_by.named_by_someone() || self.path.is_dir() {
            return Ok(());
        }
        let problem = if self.path.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        Err(ConfigDirError {
            path: self.path.clone(),
            chosen_by: self.chosen_by,
            problem,
        })
    }
}

/// A config directory someone named (flag or variable) that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config directory {} (from {chosen_by}) {problem}", path.display())]
pub struct ConfigDirError {
    pub path: PathBuf,
    pub chosen_by: ChosenBy,
    pub problem: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::MapEnv;

    #[test]
    fn the_flag_wins_then_the_variable_then_a_local_config_with_targets() {
        let cwd = tempfile::tempdir().unwrap();
        let env = MapEnv::new().with("PROJECT_CONFIG_DIR", "/etc/project");
        let find = |flag: Option<&Path>, env: &MapEnv| ConfigDir::find_from(flag, env, cwd.path());
        assert_eq!(
            find(Some(Path::new("/flag")), &env),
            Some(ConfigDir {
                path: "/flag".into(),
                chosen_by: ChosenBy::Flag
            })
        );
        assert_eq!(
            find(None, &env).map(|c| (c.path, c.chosen_by)),
            Some(("/etc/project".into(), ChosenBy::Variable))
        );
        assert_eq!(
            ConfigDir::find(None, &env).map(|c| c.chosen_by),
            Some(ChosenBy::Variable),
            "find is find_from in the current directory"
        );
        let unset = MapEnv::new().with("PROJECT_CONFIG_DIR", "");
        // An empty ./config (no targets/) does not hide the user directory.
        std::fs::create_dir(cwd.path().join("config")).unwrap();
        assert_eq!(
            find(None, &unset).map(|c| c.chosen_by),
            dirs::config_dir().map(|_| ChosenBy::User)
        );
        std::fs::create_dir(cwd.path().join("config/targets")).unwrap();
        assert_eq!(
            find(None, &unset).map(|c| (c.path, c.chosen_by)),
            Some((cwd.path().join("config"), ChosenBy::Local))
        );
    }

    #[test]
    fn a_named_directory_must_exist_and_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let named = |path: &Path, chosen_by| ConfigDir {
            path: path.to_owned(),
            chosen_by,
        };
        assert!(named(dir.path(), ChosenBy::Flag).check().is_ok());
        let missing = dir.path().join("missing");
        assert_eq!(
            named(&missing, ChosenBy::Flag)
                .check()
                .unwrap_err()
                .to_string(),
            format!(
                "config directory {} (from --config-dir) does not exist",
                missing.display()
            )
        );
        assert_eq!(
            named(&file, ChosenBy::Variable)
                .check()
                .unwrap_err()
                .to_string(),
            format!(
                "config directory {} (from PROJECT_CONFIG_DIR) is not a directory",
                file.display()
            )
        );
        assert!(
            named(&missing, ChosenBy::User).check().is_ok(),
            "may be missing"
        );
    }

    #[test]
    fn reasons_are_spelled_for_json_and_for_people() {
        let all = [
            ChosenBy::Flag,
            ChosenBy::Variable,
            ChosenBy::Local,
            ChosenBy::User,
        ];
        assert_eq!(
            all.map(ChosenBy::as_str),
            ["flag", "variable", "local", "user"]
        );
        assert_eq!(
            all.map(|c| c.to_string()),
            [
                "--config-dir",
                "PROJECT_CONFIG_DIR",
                "./config, which has targets/",
                "the user config directory"
            ]
        );
    }
}
