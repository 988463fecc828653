//! Where a setting's value came from.

use std::fmt;
use std::path::Path;

/// `default`, `file:<path> line N` or `env:<VAR>`. It is the text `config` carries with every
/// value (a `Value`'s origin), so it survives the merge exactly: the origin shown is the one
/// of the layer whose value won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

const DEFAULT: &str = "default";

impl Origin {
    /// A code default, or one derived from the run (the login name, the binary's name).
    pub fn code_default() -> Self {
        Origin(DEFAULT.to_owned())
    }

    /// A line of a target file (`None` when the line cannot be told).
    pub fn file(path: &Path, line: Option<usize>) -> Self {
        Origin(match line {
            Some(line) => format!("file:{} line {line}", path.display()),
            None => format!("file:{}", path.display()),
        })
    }

    /// Whether no file or variable set the value (it is the code's, or the run's).
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT
    }

    /// One of libpq's default files under `~/.postgresql/`, used because it exists.
    pub fn libpq_home_file() -> Self {
        Origin("libpq default (the file exists)".to_owned())
    }

    /// A line of a libpq service file's section.
    pub fn service(name: &str, file: &Path, line: usize) -> Self {
        Origin(format!("service:{name} in {} line {line}", file.display()))
    }

    pub fn env(var: &str) -> Self {
        Origin(format!("env:{var}"))
    }

    /// The origin `config` kept with a value; every layer stamps one, so none means a default.
    pub(super) fn from_config(origin: Option<&str>) -> Self {
        Origin(origin.unwrap_or(DEFAULT).to_owned())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_code_default_is_a_default() {
        assert!(Origin::code_default().is_default());
        assert!(Origin::from_config(None).is_default());
        assert!(!Origin::env("X").is_default());
        assert!(!Origin::file(Path::new("default"), None).is_default());
    }
}
