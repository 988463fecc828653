//! The one place that reads the process environment.

use domain::Env;

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// The effective user's name from the password database, as libpq's `pg_get_user_name`.
    fn login_name(&self) -> Option<String> {
        whoami::username().ok().filter(|n| !n.is_empty())
    }

    fn home_dir(&self) -> Option<std::path::PathBuf> {
        self.var("HOME")
            .filter(|h| !h.is_empty())
            .map(std::path::PathBuf::from)
    }
}
