//! `[console]`: the operators' web console and JSON API on the admin listener.

use super::{ConfigIssue, Secret, Settings};
use crate::domain::duration::HumanDuration;

/// `[console]`: the operators' web console (`/console/`) and JSON API (`/api/v1/`) on the
/// admin listener.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The argon2id hash of the console password, as `qunguan console password` prints it
    /// (`$argon2id$v=19$…`). Empty: the console pages are off.
    pub password_hash: Secret,
    /// The bearer token scripts send to `/api/v1/` (`Authorization: Bearer …`). Empty: the
    /// API takes only a console session.
    pub api_token: Secret,
    /// Mark the session cookie `Secure` (browsers then send it only over HTTPS): set it when
    /// a TLS proxy fronts the admin listener.
    pub secure_cookie: bool,
    /// How long a login lasts.
    pub session_ttl: HumanDuration,
    /// Failed logins one client address may make within `login_window` before further
    /// attempts are refused with 429 until the window has passed.
    pub login_failures: u32,
    /// The window of `login_failures`.
    pub login_window: HumanDuration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            password_hash: Secret::default(),
            api_token: Secret::default(),
            secure_cookie: false,
            session_ttl: HumanDuration::from_secs(12 * 3_600),
            login_failures: 5,
            login_window: HumanDuration::from_secs(15 * 60),
        }
    }
}

impl ConsoleSettings {
    /// True when something on the admin listener can authenticate a request: a console
    /// password or an API token.
    #[must_use]
    pub fn has_auth(&self) -> bool {
        !self.password_hash.is_empty() || !self.api_token.is_empty()
    }
}

/// The shortest API token accepted: a short token can be guessed over the network.
pub const MIN_API_TOKEN_CHARS: usize = 16;

impl Settings {
    /// The problems of `[console]`, and an admin listener reachable from other hosts with
    /// nothing to authenticate its requests.
    pub(super) fn console_issues(&self) -> Vec<ConfigIssue> {
        let console = &self.console;
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        if let Some(admin) = self.server.admin_listen
            && !admin.ip().is_loopback()
            && !console.has_auth()
        {
            issue(
                "server.admin_listen",
                format!(
                    "{admin} is not a loopback address, but neither console.password_hash nor console.api_token \
                     is set: anyone who reaches the port could read the groups and undo cases. Set one of \
                     them (`qunguan console password` prints a hash), or listen on 127.0.0.1"
                ),
            );
        }
        // Never echo a secret: a config error ends up in terminals, logs and bug reports.
        if !console.password_hash.is_empty() {
            match argon2::PasswordHash::new(console.password_hash.expose()) {
                Ok(hash) if hash.algorithm.as_str() == "argon2id" => {}
                Ok(hash) => issue(
                    "console.password_hash",
                    format!(
                        "is a {} hash; only argon2id is accepted (`qunguan console password` prints one)",
                        hash.algorithm
                    ),
                ),
                Err(e) => issue(
                    "console.password_hash",
                    format!(
                        "is not a password hash ({e}); paste the whole line `qunguan console password` \
                         prints, starting with $argon2id$"
                    ),
                ),
            }
        }
        let token = console.api_token.expose();
        if !token.is_empty() && token.chars().count() < MIN_API_TOKEN_CHARS {
            issue(
                "console.api_token",
                format!(
                    "is {} characters long; use at least {MIN_API_TOKEN_CHARS} random characters \
                     (e.g. `openssl rand -hex 32`)",
                    token.chars().count()
                ),
            );
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            issue(
                "console.api_token",
                "contains a space or control character, which an Authorization header cannot carry".into(),
            );
        }
        if console.session_ttl.as_secs() < 60 {
            issue("console.session_ttl", "must be at least 1m".into());
        }
        if console.login_failures == 0 {
            issue(
                "console.login_failures",
                "must be at least 1 (every login would be refused)".into(),
            );
        }
        if console.login_window.as_secs() == 0 {
            issue("console.login_window", "must be at least 1s".into());
        }
        issues
    }
}
