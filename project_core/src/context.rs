//! The process-wide context connection modules read: the config directory and the environment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use adapters::ProcessEnv;
/// The environment port, for apps that build a `Context`.
pub use domain::Env as EnvPort;
use domain::Env;

use crate::config_dir::ConfigDir;
use crate::settings::SettingsError;

/// Where settings come from for this process.
#[derive(Clone)]
pub struct Context {
    config: Option<ConfigDir>,
    cache_dir: Option<PathBuf>,
    env: Arc<dyn Env>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The config directory from `flag` (an app's `--config-dir`), else `$PROJECT_CONFIG_DIR`,
    /// else `./config` when it has `targets/`, else the user config directory
    /// ([`ConfigDir::find`]), taken as it is: for tests and embedding. Apps use
    /// [`Context::for_app`].
    pub fn new(flag: Option<&Path>, env: Arc<dyn Env>) -> Self {
        let cache_dir = env
            .non_empty("PROJECT_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("dbcore")));
        Self {
            config: ConfigDir::find(flag, env.as_ref()),
            cache_dir,
            env,
        }
    }

    /// [`Context::new`], refusing a config directory that was named (flag or variable) but is
    /// not a directory: falling back to code defaults would hide the mistake.
    pub fn for_app(flag: Option<&Path>, env: Arc<dyn Env>) -> Result<Self, SettingsError> {
        let context = Self::new(flag, env);
        if let Some(config) = &context.config {
            config.check()?;
        }
        Ok(context)
    }

    pub fn config_dir(&self) -> Option<&Path> {
        self.config.as_ref().map(|c| c.path.as_path())
    }

    /// The config directory and why it was chosen, for `targets` and `explain`.
    pub fn config(&self) -> Option<&ConfigDir> {
        self.config.as_ref()
    }

    /// Where metadata caches live: `$PROJECT_CACHE_DIR`, else the user cache directory
    /// (`~/.cache/dbcore`).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    pub fn env(&self) -> &Arc<dyn Env> {
        &self.env
    }
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Sets the process context; call it once at start, before the first `db()`.
/// Returns `false` when a context was already in place (it is kept).
pub fn configure(context: Context) -> bool {
    CONTEXT.set(context).is_ok()
}

/// The process context: the configured one, else the process environment with the default
/// config directory.
pub fn context() -> &'static Context {
    CONTEXT.get_or_init(|| Context::new(None, Arc::new(ProcessEnv)))
}
