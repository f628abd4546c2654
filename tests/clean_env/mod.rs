//! For tests that read the environment: start from none of the crate's variables.

/// Removes every `DISCORD_*` variable, so that a test that sets some starts from none
/// (environment variables are process-wide: such tests run alone in their binary).
pub fn clear_discord_env() {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("DISCORD_")) {
            std::env::remove_var(name);
        }
    }
}
