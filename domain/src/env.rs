use std::collections::HashMap;
use std::path::PathBuf;

/// The process environment, behind a port so that tests run in parallel with their own.
///
/// Nothing in dbcore reads `std::env` except the one production implementation of this trait
/// (`adapters::ProcessEnv`). Empty values are returned as they are; callers decide whether empty
/// counts as unset (for passwords it does, as in the original pattern).
pub trait Env: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;

    /// The user's home directory, used for `~/.pgpass`, `~/.my.cnf` and `~` in paths.
    fn home_dir(&self) -> Option<PathBuf> {
        self.var("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }

    /// The login name, which libpq uses as the default user: `USER`, else `LOGNAME` here; the
    /// process implementation asks the system, as libpq does.
    fn login_name(&self) -> Option<String> {
        self.non_empty("USER").or_else(|| self.non_empty("LOGNAME"))
    }

    /// A variable, treating an empty value as unset.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }
}

/// An environment made of fixed values, for tests and for embedding.
#[derive(Default, Clone)]
pub struct MapEnv {
    vars: HashMap<String, String>,
}

impl MapEnv {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }
}

impl std::fmt::Debug for MapEnv {
    // Values may be passwords: only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("MapEnv").field("names", &names).finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_only() {
        let env = MapEnv::new().with("PROJECT_DB_PASSWORD", "canary-7d1f");
        assert_eq!(
            format!("{env:?}"),
            r#"MapEnv { names: ["PROJECT_DB_PASSWORD"] }"#
        );
    }

    #[test]
    fn empty_counts_as_unset_only_when_asked() {
        let env = MapEnv::new().with("A", "").with("HOME", "/home/u");
        assert_eq!(env.var("A").as_deref(), Some(""));
        assert_eq!(env.non_empty("A"), None);
        assert_eq!(env.home_dir(), Some(PathBuf::from("/home/u")));
    }

    #[test]
    fn the_login_name_is_user_else_logname_and_empty_counts_as_unset() {
        let both = MapEnv::new().with("USER", "u").with("LOGNAME", "l");
        assert_eq!(both.login_name().as_deref(), Some("u"));
        let empty_user = MapEnv::new().with("USER", "").with("LOGNAME", "l");
        assert_eq!(empty_user.login_name().as_deref(), Some("l"));
        assert_eq!(MapEnv::new().login_name(), None);
        assert_eq!(both.non_empty("USER").as_deref(), Some("u"));
        assert_eq!(MapEnv::new().with("HOME", "").home_dir(), None);
    }

    #[test]
    fn values_are_set_by_with_and_by_set() {
        let mut env = MapEnv::new().with("A", "1");
        env.set("B", "2");
        env.set("A", "3");
        assert_eq!(env.var("A").as_deref(), Some("3"));
        assert_eq!(env.var("B").as_deref(), Some("2"));
        assert_eq!(env.var("C"), None);
    }
}
