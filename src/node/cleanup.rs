//! Directories to remove when this Node.js environment (the main thread, or a Worker) is torn
//! down: also when a Worker is terminated, where no JavaScript `exit` handler runs. The emulator
//! registers its temporary certificate directory here.

use napi::Env;
use napi_derive::napi;

/// Removes the directory `path` (and what it holds) when the current environment is torn down.
/// A directory already gone is no error.
#[napi(catch_unwind)]
pub fn remove_dir_at_env_exit(env: Env, path: String) -> napi::Result<()> {
    env.add_env_cleanup_hook(path, |path| {
        let _ = std::fs::remove_dir_all(path);
    })?;
    Ok(())
}
