//! `[gateway.onebot]` and `[gateway.telegram]`: the chat gateways, and the checks of their
//! settings. Problems name the dotted key; a token or secret is never echoed, because a config
//! error ends up in terminals, logs and bug reports.

use std::fmt;

use serde::Deserialize;

use super::accounts::{OneBotAccount, TelegramBot};
use super::secret::Secret;
use super::validate::check_http_url;
use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// A gateway whose every call has failed for this long makes `/readyz` answer 503 (the
    /// outbox keeps retrying meanwhile); `0s` = never.
    pub unready_after: HumanDuration,
    /// `[gateway.onebot]`: QQ through NapCat, LLOneBot, Lagrange.OneBot or go-cqhttp.
    pub onebot: OneBotSettings,
    /// `[gateway.telegram]`: Telegram through the Bot API.
    pub telegram: TelegramSettings,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            unready_after: HumanDuration::from_secs(300),
            onebot: OneBotSettings::default(),
            telegram: TelegramSettings::default(),
        }
    }
}

/// `[gateway.onebot]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneBotSettings {
    /// Serve the OneBot v11 webhook and send actions to its HTTP API.
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// Path of the HTTP-POST webhook on the listener.
    pub webhook_path: String,
    /// Root URL of the gateway's HTTP API; actions go to `{api_root}/{action}`.
    pub api_root: String,
    /// Sent as `Authorization: Bearer <token>` on every API call.
    pub access_token: Secret,
    /// HMAC-SHA1 key of the `X-Signature` header; when set, unsigned or wrongly signed
    /// events are refused with 401.
    pub secret: Secret,
    /// Deadline of one API call.
    pub timeout: HumanDuration,
    /// `[[gateway.onebot.accounts]]`: several QQ accounts, each with its own gateway, API
    /// root, token and secret ([`super::accounts`]). When listed, the section's `api_root`,
    /// `access_token` and `secret` are not used, and an event is accepted only from a listed
    /// `self_id`.
    pub accounts: Vec<OneBotAccount>,
}

impl Default for OneBotSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            webhook_path: "/onebot/v11".into(),
            api_root: "http://127.0.0.1:3000".into(),
            access_token: Secret::default(),
            secret: Secret::default(),
            timeout: HumanDuration::from_secs(10),
            accounts: Vec::new(),
        }
    }
}

/// `[gateway.telegram]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramSettings {
    /// Receive updates from the Bot API and send actions to it.
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// The bot's token from @BotFather (`<bot id>:<secret>`). It is part of every API URL, so
    /// it never appears in logs or errors.
    pub token: Secret,
    /// Root URL of the Bot API; calls go to `{api_root}/bot<token>/<method>`. A self-hosted
    /// Bot API server (tdlib/telegram-bot-api) works too.
    pub api_root: String,
    /// How updates arrive: `polling` (no public URL needed) or `webhook`.
    pub mode: TelegramMode,
    /// Path of the webhook on the listener (webhook mode).
    pub webhook_path: String,
    /// The public HTTPS URL registered with `setWebhook`, which must reach `webhook_path`
    /// (webhook mode), usually through a reverse proxy.
    pub webhook_url: String,
    /// Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token` with every webhook delivery;
    /// deliveries without it are refused with 401. 1–256 characters of `A-Z a-z 0-9 _ -`.
    pub secret_token: Secret,
    /// Deadline of one API call (long polls get `poll_timeout` on top).
    pub timeout: HumanDuration,
    /// How long one `getUpdates` long poll waits for updates (polling mode).
    pub poll_timeout: HumanDuration,
    /// How long a chat's administrator list is trusted before it is fetched again.
    /// `chat_member` updates keep it current in between.
    pub admin_cache_ttl: HumanDuration,
    /// Discard the updates that queued up while qunguan was not running, at start.
    #[serde(deserialize_with = "super::strict::bool")]
    pub drop_pending_updates: bool,
    /// `[[gateway.telegram.bots]]`: several bots, each with its own token, mode, webhook and
    /// API root ([`super::accounts`]); the section's other keys are shared by all.
    pub bots: Vec<TelegramBot>,
    /// Set by loading when the section has a `token` but no `enabled` key: Telegram is then
    /// on, and `check-config` and `run` say why (a configured token is never ignored).
    #[serde(skip)]
    pub enabled_by_token: bool,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            token: Secret::default(),
            api_root: "https://api.telegram.org".into(),
            mode: TelegramMode::Polling,
            webhook_path: "/telegram/webhook".into(),
            webhook_url: String::new(),
            secret_token: Secret::default(),
            timeout: HumanDuration::from_secs(10),
            poll_timeout: HumanDuration::from_secs(30),
            admin_cache_ttl: HumanDuration::from_secs(600),
            drop_pending_updates: false,
            bots: Vec::new(),
            enabled_by_token: false,
        }
    }
}

impl TelegramSettings {
    /// The bot's user id: the digits before the `:` of the token. `None` for a token that
    /// does not have that shape (validation refuses those).
    #[must_use]
    pub fn bot_id(&self) -> Option<i64> {
        let (id, _) = self.token.expose().split_once(':')?;
        id.parse().ok().filter(|id: &i64| *id > 0)
    }
}

/// How Telegram updates reach qunguan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TelegramMode {
    /// `getUpdates` long polling: qunguan asks, no public URL needed.
    #[default]
    Polling,
    /// Telegram POSTs every update to `webhook_url`.
    Webhook,
}

impl<'de> Deserialize<'de> for TelegramMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::strict::choice(deserializer, &[("polling", Self::Polling), ("webhook", Self::Webhook)])
    }
}

impl fmt::Display for TelegramMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Polling => "polling",
            Self::Webhook => "webhook",
        })
    }
}

impl Settings {
    /// The problems of `[gateway.onebot]` (each listed account on its own), when it is
    /// enabled.
    pub(super) fn onebot_issues(&self, issue: &mut impl FnMut(&str, String)) {
        let onebot = &self.gateway.onebot;
        if !onebot.enabled {
            return;
        }
        if !onebot.webhook_path.starts_with('/') {
            issue(
                "gateway.onebot.webhook_path",
                format!("{:?} must start with '/'", onebot.webhook_path),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for account in onebot.accounts() {
            let key = |name: &str| format!("{}.{name}", account.key);
            if let Some(self_id) = account.self_id {
                if self_id <= 0 {
                    issue(&key("self_id"), format!("{self_id} is not a QQ number"));
                } else if !seen.insert(self_id) {
                    issue(
                        &key("self_id"),
                        format!("{self_id} is listed twice; list each account once"),
                    );
                }
            }
            let settings = &account.settings;
            if let Err(problem) = check_http_url(&settings.api_root) {
                issue(&key("api_root"), problem.to_string());
            }
            if settings.timeout.as_secs() == 0 {
                issue(&key("timeout"), "must be at least 1s".into());
            }
            if settings.secret.is_empty() && !self.server.listen.ip().is_loopback() && !self.server.allow_unsigned {
                issue(
                    &key("secret"),
                    format!(
                        "is empty while server.listen ({}) is not a loopback address: anyone who can \
                     reach the port could forge events. Set the same secret as the gateway's \
                     HTTP-POST secret, or set server.allow_unsigned = true",
                        self.server.listen
                    ),
                );
            }
        }
    }

    /// The problems of `[gateway.telegram]` (each listed bot on its own), when it is enabled.
    pub(super) fn telegram_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if !self.gateway.telegram.enabled {
            return issues;
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut paths = std::collections::BTreeSet::new();
        for bot in self.gateway.telegram.bots() {
            let mut issue = |key: &str, reason: String| {
                issues.push(ConfigIssue {
                    key: format!("{}.{key}", bot.key),
                    reason,
                });
            };
            self.bot_issues(&bot.settings, &bot.key, &mut issue);
            if let Some(id) = bot.settings.bot_id()
                && !ids.insert(id)
            {
                issue(
                    "token",
                    "is the token of a bot listed before; list each bot once".into(),
                );
            }
            if bot.settings.mode == TelegramMode::Webhook
                && !paths.insert(bot.settings.webhook_path.trim_end_matches('/').to_owned())
            {
                issue(
                    "webhook_path",
                    format!(
                        "{:?} is the path of another bot; give each bot its own path",
                        bot.settings.webhook_path
                    ),
                );
            }
        }
        issues
    }

    /// The problems of one bot's settings (`key` is where they are: `gateway.telegram` or
    /// `gateway.telegram.bots[i]`).
    fn bot_issues(&self, tg: &TelegramSettings, key: &str, issue: &mut impl FnMut(&str, String)) {
        // Never echo the token: a config error ends up in terminals, logs and bug reports.
        if tg.token.is_empty() {
            let env = key.to_uppercase().replace('.', "__").replace(['[', ']'], "__");
            issue(
                "token",
                format!(
                    "is empty; create a bot with @BotFather and set its token here or in \
                     QUNGUAN__{}__TOKEN",
                    env.trim_end_matches('_')
                ),
            );
        } else if !looks_like_bot_token(tg.token.expose()) {
            issue(
                "token",
                "does not look like a Bot API token (<bot id>:<secret>, as @BotFather prints it)".into(),
            );
        }
        if let Err(problem) = check_http_url(&tg.api_root) {
            issue("api_root", problem.to_string());
        }
        if !tg.secret_token.is_empty()
            && let Err(problem) = check_secret_token(tg.secret_token.expose())
        {
            issue("secret_token", problem.to_string());
        }
        if tg.timeout.as_secs() == 0 {
            issue("timeout", "must be at least 1s".into());
        }
        if tg.poll_timeout.as_secs() == 0 || tg.poll_timeout.as_secs() > 600 {
            issue("poll_timeout", "must be between 1s and 10m".into());
        }
        if tg.admin_cache_ttl.as_secs() == 0 {
            issue("admin_cache_ttl", "must be at least 1s".into());
        }
        if tg.mode == TelegramMode::Webhook {
            if !tg.webhook_path.starts_with('/') {
                issue("webhook_path", format!("{:?} must start with '/'", tg.webhook_path));
            } else if tg.webhook_path.contains(['{', '}', '*']) || tg.webhook_path == "/healthz" {
                issue(
                    "webhook_path",
                    format!(
                        "{:?} is reserved; use a plain path such as \"/telegram/webhook\"",
                        tg.webhook_path
                    ),
                );
            } else if self.gateway.onebot.enabled
                && tg.webhook_path.trim_end_matches('/') == self.gateway.onebot.webhook_path.trim_end_matches('/')
            {
                issue(
                    "webhook_path",
                    format!(
                        "{:?} is also gateway.onebot.webhook_path; give each gateway its own path",
                        tg.webhook_path
                    ),
                );
            }
            if tg.webhook_url.is_empty() {
                issue(
                    "webhook_url",
                    "is empty, but mode = \"webhook\" needs the public HTTPS URL Telegram should POST to \
                     (or use mode = \"polling\", which needs no public URL)"
                        .into(),
                );
            } else if let Err(problem) = check_http_url(&tg.webhook_url) {
                issue("webhook_url", problem.to_string());
            } else if !tg.webhook_url.starts_with("https://") && tg.api_root.contains("api.telegram.org") {
                issue(
                    "webhook_url",
                    format!(
                        "{:?}: the official Bot API only delivers to https:// URLs (ports 443, 80, 88, 8443)",
                        tg.webhook_url
                    ),
                );
            }
            if tg.secret_token.is_empty() {
                issue(
                    "secret_token",
                    "is empty, but mode = \"webhook\" needs it: without it anyone who finds the URL could \
                     forge updates. Use 1-256 characters of A-Z a-z 0-9 _ -"
                        .into(),
                );
            }
        }
    }
}

/// `<digits>:<at least 30 of A-Z a-z 0-9 _ ->`, the shape @BotFather hands out.
fn looks_like_bot_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a `secret_token` breaks the Bot API's rule. The messages never quote the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum SecretTokenProblem {
    /// Not 1-256 characters long (the byte length, all allowed characters being ASCII).
    #[error("must be 1-256 characters long, not {0}")]
    Length(usize),
    /// A character outside `A-Z a-z 0-9 _ -`, at this byte. The character is not quoted: it is
    /// part of a secret.
    #[error("has a character Telegram does not allow at byte {0}; use only A-Z a-z 0-9 _ -")]
    Character(usize),
}

/// The Bot API's rule for `secret_token`: 1-256 characters of `A-Z a-z 0-9 _ -`.
fn check_secret_token(secret: &str) -> Result<(), SecretTokenProblem> {
    if secret.is_empty() || secret.len() > 256 {
        return Err(SecretTokenProblem::Length(secret.len()));
    }
    if let Some(at) = secret.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        return Err(SecretTokenProblem::Character(at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{TG_TOKEN, env, write};

    #[test]
    fn unsigned_public_webhook_is_refused_unless_allowed() {
        let file = write("[server]\nlisten = \"0.0.0.0:8080\"\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("must refuse");
        assert!(err.to_string().contains("gateway.onebot.secret"), "{err}");
        let file = write("[server]\nlisten = \"0.0.0.0:8080\"\nallow_unsigned = true\n");
        Settings::load_with_env(Some(file.path()), env(&[])).expect("explicitly allowed");
    }

    #[test]
    fn telegram_is_off_by_default_and_configured_from_the_environment() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert!(!s.gateway.telegram.enabled);
        assert_eq!(s.gateway.telegram.mode, TelegramMode::Polling);
        assert_eq!(s.gateway.telegram.api_root, "https://api.telegram.org");

        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__TELEGRAM__ENABLED", "true"),
                ("QUNGUAN__GATEWAY__TELEGRAM__TOKEN", TG_TOKEN),
                ("QUNGUAN__GATEWAY__TELEGRAM__MODE", "webhook"),
                (
                    "QUNGUAN__GATEWAY__TELEGRAM__WEBHOOK_URL",
                    "https://bot.example.org/telegram/webhook",
                ),
                ("QUNGUAN__GATEWAY__TELEGRAM__SECRET_TOKEN", "q9Lr_4xT-2vWm8Zb"),
                ("QUNGUAN__GATEWAY__TELEGRAM__API_ROOT", "http://127.0.0.1:8081"),
            ]),
        )
        .expect("valid");
        let tg = &s.gateway.telegram;
        assert!(tg.enabled && tg.mode == TelegramMode::Webhook);
        assert_eq!(tg.bot_id(), Some(7_012_345_678));
        assert_eq!(tg.api_root, "http://127.0.0.1:8081", "a self-hosted Bot API server");
        assert!(!format!("{s:?}").contains("AAHdqTcv"), "the token never shows in Debug");
    }

    #[test]
    fn telegram_problems_name_the_key_and_never_the_token() {
        // ([gateway.telegram] settings, `{T}` standing for a valid token; the keys to be named)
        let cases: &[(&str, &[&str])] = &[
            ("enabled = true\n", &["gateway.telegram.token"]),
            (
                "enabled = true\ntoken = \"not-a-token-SECRETVALUE\"\n",
                &["gateway.telegram.token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\n",
                &["gateway.telegram.webhook_url", "gateway.telegram.secret_token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\n\
                 webhook_url = \"http://bot.example.org/tg\"\nsecret_token = \"has space\"\n",
                &["gateway.telegram.webhook_url", "gateway.telegram.secret_token"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\nwebhook_path = \"/onebot/v11\"\n\
                 webhook_url = \"https://x.example/\"\nsecret_token = \"abc\"\n",
                &["gateway.telegram.webhook_path"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\nmode = \"webhook\"\nwebhook_path = \"/healthz\"\n\
                 webhook_url = \"https://x.example/\"\nsecret_token = \"abc\"\n",
                &["gateway.telegram.webhook_path"],
            ),
            (
                "enabled = true\ntoken = \"{T}\"\npoll_timeout = \"0s\"\n",
                &["gateway.telegram.poll_timeout"],
            ),
        ];
        for (section, keys) in cases {
            let file = write(&format!("[gateway.telegram]\n{}", section.replace("{T}", TG_TOKEN)));
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(section);
            let message = err.to_string();
            for key in *keys {
                assert!(message.contains(key), "{section}: {message}");
            }
            assert!(
                !message.contains("SECRETVALUE") && !message.contains("AAHdqTcv"),
                "{message}"
            );
        }
        let polling = write(&format!("[gateway.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\n"));
        Settings::load_with_env(Some(polling.path()), env(&[])).expect("polling needs only the token");
        // Disabled, nothing is checked.
        let off = write("[gateway.telegram]\nmode = \"webhook\"\n");
        Settings::load_with_env(Some(off.path()), env(&[])).expect("disabled");
    }

    #[test]
    fn a_token_without_enabled_turns_telegram_on_and_enabled_false_keeps_it_off() {
        let by_token = write(&format!("[gateway.telegram]\ntoken = \"{TG_TOKEN}\"\n"));
        let s = Settings::load_with_env(Some(by_token.path()), env(&[])).expect("a token alone");
        assert!(s.gateway.telegram.enabled && s.gateway.telegram.enabled_by_token);
        // The same from the environment alone.
        let s = Settings::load_with_env(None, env(&[("QUNGUAN__GATEWAY__TELEGRAM__TOKEN", TG_TOKEN)])).expect("env");
        assert!(s.gateway.telegram.enabled && s.gateway.telegram.enabled_by_token);
        // Enabled by the token, the token is checked like any other.
        let bad = write("[gateway.telegram]\ntoken = \"not-a-token\"\n");
        let err = Settings::load_with_env(Some(bad.path()), env(&[])).expect_err("bad token");
        assert!(err.to_string().contains("gateway.telegram.token"), "{err}");
        // Said in so many words, it stays as said.
        let off = write(&format!(
            "[gateway.telegram]\nenabled = false\ntoken = \"{TG_TOKEN}\"\n"
        ));
        let s = Settings::load_with_env(Some(off.path()), env(&[])).expect("explicitly off");
        assert!(!s.gateway.telegram.enabled && !s.gateway.telegram.enabled_by_token);
        let on = write(&format!("[gateway.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\n"));
        let s = Settings::load_with_env(Some(on.path()), env(&[])).expect("explicitly on");
        assert!(s.gateway.telegram.enabled && !s.gateway.telegram.enabled_by_token);
        // No token, no Telegram.
        let none = write("[gateway.telegram]\ntoken = \"\"\n");
        let s = Settings::load_with_env(Some(none.path()), env(&[])).expect("empty token");
        assert!(!s.gateway.telegram.enabled);
    }
}
