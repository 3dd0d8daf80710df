//! Several bot accounts in one instance: `[[gateway.onebot.accounts]]` and
//! `[[gateway.telegram.bots]]`.
//!
//! Each list entry names one account and the few settings that are its own (where its API
//! is, its token, its webhook secret); everything else (timeouts, polling, the admin cache)
//! stays in the section and is shared. The single-account form — the plain
//! `[gateway.onebot]` / `[gateway.telegram]` section — keeps working: it is one account,
//! and for OneBot one that accepts any `self_id`.
//!
//! The rest of the crate never looks at the two forms: it asks for
//! [`OneBotSettings::accounts`] and [`TelegramSettings::bots`], which resolve either form into
//! one complete settings value per account, so a client or a poller is built the same way
//! for one account or ten.
//!
//! Environment overrides address a list entry by its index:
//! `QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__0__SECRET` sets `gateway.onebot.accounts[0].secret`
//! (see `load.rs`).

use serde::Deserialize;

use super::secret::Secret;
use super::{OneBotSettings, TelegramMode, TelegramSettings};
use crate::domain::account::AccountId;
use crate::domain::duration::HumanDuration;

/// `[[gateway.onebot.accounts]]`: one QQ account behind its own OneBot gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneBotAccount {
    /// The account's QQ number: the `self_id` of its events and its `X-Self-ID` header.
    pub self_id: i64,
    /// Root URL of this account's gateway HTTP API.
    #[serde(default)]
    pub api_root: String,
    /// Sent as `Authorization: Bearer <token>` to this account's gateway.
    #[serde(default)]
    pub access_token: Secret,
    /// HMAC-SHA1 key of this account's `X-Signature` (its gateway's HTTP-POST secret).
    #[serde(default)]
    pub secret: Secret,
    /// Deadline of one API call; the section's `timeout` when left out.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// `[[gateway.telegram.bots]]`: one Telegram bot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramBot {
    /// The bot's token from @BotFather.
    #[serde(default)]
    pub token: Secret,
    /// How this bot's updates arrive; the section's `mode` when left out.
    #[serde(default)]
    pub mode: Option<TelegramMode>,
    /// This bot's webhook path on the listener (webhook mode); each bot needs its own.
    #[serde(default)]
    pub webhook_path: Option<String>,
    /// The public HTTPS URL registered for this bot (webhook mode).
    #[serde(default)]
    pub webhook_url: String,
    /// This bot's `X-Telegram-Bot-Api-Secret-Token` (webhook mode).
    #[serde(default)]
    pub secret_token: Secret,
    /// Root URL of the Bot API for this bot; the section's `api_root` when left out.
    #[serde(default)]
    pub api_root: Option<String>,
}

/// One OneBot account, resolved: its settings, and the `self_id` it answers to (`None`: the
/// single-account form, which accepts any).
#[derive(Debug, Clone)]
pub struct ResolvedOneBot {
    /// The account, when the accounts are listed.
    pub self_id: Option<i64>,
    /// Its settings: the section's, with this account's API, token, secret and timeout.
    pub settings: OneBotSettings,
    /// The dotted key of its settings, for problems: `gateway.onebot` or
    /// `gateway.onebot.accounts[1]`.
    pub key: String,
}

impl OneBotSettings {
    /// True when `[[gateway.onebot.accounts]]` lists the accounts (otherwise the section is
    /// the one account, accepting any `self_id`).
    #[must_use]
    pub fn has_accounts(&self) -> bool {
        !self.accounts.is_empty()
    }

    /// Every account, resolved: one per `[[gateway.onebot.accounts]]` entry, or the section
    /// itself as the one account when there is no list.
    #[must_use]
    pub fn accounts(&self) -> Vec<ResolvedOneBot> {
        if self.accounts.is_empty() {
            return vec![ResolvedOneBot {
                self_id: None,
                settings: self.clone(),
                key: "gateway.onebot".into(),
            }];
        }
        self.accounts
            .iter()
            .enumerate()
            .map(|(i, account)| ResolvedOneBot {
                self_id: Some(account.self_id),
                settings: OneBotSettings {
                    api_root: account.api_root.clone(),
                    access_token: account.access_token.clone(),
                    secret: account.secret.clone(),
                    timeout: account.timeout.unwrap_or(self.timeout),
                    accounts: Vec::new(),
                    ..self.clone()
                },
                key: format!("gateway.onebot.accounts[{i}]"),
            })
            .collect()
    }
}

/// Keys of a gateway section that are set but not used because a list replaces them; the
/// names as the configuration spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKeys {
    /// The section: `gateway.onebot` or `gateway.telegram`.
    pub section: &'static str,
    /// The list that replaces them: `accounts` or `bots`.
    pub list: &'static str,
    /// The keys that are set, in the section's order.
    pub keys: Vec<&'static str>,
}

impl OneBotSettings {
    /// The section's `api_root`, `access_token` and `secret` when they are set although
    /// `[[gateway.onebot.accounts]]` gives every account its own (`None`: nothing ignored).
    /// The daemon and `check-config` warn about them: an operator who added the list may
    /// believe the section's secret still guards the webhook.
    #[must_use]
    pub fn ignored_keys(&self) -> Option<IgnoredKeys> {
        if self.accounts.is_empty() {
            return None;
        }
        let defaults = Self::default();
        let keys: Vec<&'static str> = [
            ("api_root", self.api_root != defaults.api_root),
            ("access_token", !self.access_token.is_empty()),
            ("secret", !self.secret.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        (!keys.is_empty()).then_some(IgnoredKeys {
            section: "gateway.onebot",
            list: "accounts",
            keys,
        })
    }
}

impl TelegramSettings {
    /// The section's `token`, `webhook_url` and `secret_token` when they are set although
    /// `[[gateway.telegram.bots]]` gives every bot its own (`None`: nothing ignored).
    #[must_use]
    pub fn ignored_keys(&self) -> Option<IgnoredKeys> {
        if self.bots.is_empty() {
            return None;
        }
        let keys: Vec<&'static str> = [
            ("token", !self.token.is_empty()),
            ("webhook_url", !self.webhook_url.is_empty()),
            ("secret_token", !self.secret_token.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        (!keys.is_empty()).then_some(IgnoredKeys {
            section: "gateway.telegram",
            list: "bots",
            keys,
        })
    }
}

/// One Telegram bot, resolved.
#[derive(Debug, Clone)]
pub struct ResolvedBot {
    /// Its settings: the section's, with this bot's token, mode, webhook and API root.
    pub settings: TelegramSettings,
    /// The dotted key of its settings: `gateway.telegram` or `gateway.telegram.bots[0]`.
    pub key: String,
}

impl ResolvedBot {
    /// The bot's account, when its token has the shape of one.
    #[must_use]
    pub fn account(&self) -> Option<AccountId> {
        self.settings.bot_id().map(AccountId::telegram)
    }
}

impl TelegramSettings {
    /// Every bot, resolved: one per `[[gateway.telegram.bots]]` entry, or the section itself
    /// when there is no list.
    #[must_use]
    pub fn bots(&self) -> Vec<ResolvedBot> {
        if self.bots.is_empty() {
            return vec![ResolvedBot {
                settings: self.clone(),
                key: "gateway.telegram".into(),
            }];
        }
        self.bots
            .iter()
            .enumerate()
            .map(|(i, bot)| ResolvedBot {
                settings: TelegramSettings {
                    token: bot.token.clone(),
                    mode: bot.mode.unwrap_or(self.mode),
                    webhook_path: bot
                        .webhook_path
                        .clone()
                        .unwrap_or_else(|| format!("{}/{i}", self.webhook_path.trim_end_matches('/'))),
                    webhook_url: bot.webhook_url.clone(),
                    secret_token: bot.secret_token.clone(),
                    api_root: bot.api_root.clone().unwrap_or_else(|| self.api_root.clone()),
                    bots: Vec::new(),
                    ..self.clone()
                },
                key: format!("gateway.telegram.bots[{i}]"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::config::test_support::{TG_TOKEN, env, write};

    const ACCOUNTS: &str = "[[gateway.onebot.accounts]]\nself_id = 20001\napi_root = \"http://127.0.0.1:3001\"\n\
         secret = \"one\"\n\n[[gateway.onebot.accounts]]\nself_id = 20002\napi_root = \"http://127.0.0.1:3002\"\n\
         secret = \"two\"\ntimeout = \"3s\"\n";

    #[test]
    fn section_keys_a_list_replaces_are_named_and_nothing_else() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults");
        assert_eq!(s.gateway.onebot.ignored_keys(), None, "no list, nothing replaced");
        let file = write(ACCOUNTS);
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        assert_eq!(
            s.gateway.onebot.ignored_keys(),
            None,
            "the section's defaults are not set keys"
        );
        let file = write(&format!(
            "[gateway.onebot]\napi_root = \"http://127.0.0.1:3999\"\nsecret = \"old\"\ntimeout = \"5s\"\n{ACCOUNTS}"
        ));
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        let ignored = s.gateway.onebot.ignored_keys().expect("two keys are replaced");
        assert_eq!(
            (ignored.section, ignored.list, ignored.keys),
            ("gateway.onebot", "accounts", vec!["api_root", "secret"]),
            "timeout is shared, not replaced"
        );
        let file = write(&format!(
            "[gateway.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\n[[gateway.telegram.bots]]\ntoken = \"{TG_TOKEN}\"\n"
        ));
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        let ignored = s.gateway.telegram.ignored_keys().expect("the token is replaced");
        assert_eq!((ignored.section, ignored.keys), ("gateway.telegram", vec!["token"]));
    }

    #[test]
    fn listed_accounts_resolve_one_by_one_and_the_section_alone_is_one_any_account() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults");
        let legacy = s.gateway.onebot.accounts();
        assert_eq!(legacy.len(), 1);
        assert_eq!(legacy[0].self_id, None, "the single section accepts any self_id");

        let file = write(ACCOUNTS);
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        let accounts = s.gateway.onebot.accounts();
        let ids: Vec<_> = accounts.iter().map(|a| a.self_id).collect();
        assert_eq!(ids, [Some(20_001), Some(20_002)]);
        assert_eq!(accounts[1].settings.api_root, "http://127.0.0.1:3002");
        assert_eq!(accounts[1].settings.secret.expose(), "two");
        assert_eq!(accounts[1].settings.timeout.as_secs(), 3);
        assert_eq!(accounts[0].settings.timeout.as_secs(), 10, "the section's timeout");
    }

    #[test]
    fn the_environment_sets_a_listed_account_by_its_index() {
        let file = write(ACCOUNTS);
        let s = Settings::load_with_env(
            Some(file.path()),
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__1__SECRET", "from-env"),
                ("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__0__ACCESS_TOKEN", "0123"),
            ]),
        )
        .expect("valid");
        let accounts = s.gateway.onebot.accounts();
        assert_eq!(accounts[1].settings.secret.expose(), "from-env");
        assert_eq!(accounts[1].self_id, Some(20_002), "the rest of the entry is kept");
        assert_eq!(accounts[0].settings.access_token.expose(), "0123", "kept a string");
        // An account given by the environment alone.
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__0__SELF_ID", "30001"),
                (
                    "QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__0__API_ROOT",
                    "http://127.0.0.1:3005",
                ),
            ]),
        )
        .expect("valid");
        assert_eq!(s.gateway.onebot.accounts()[0].self_id, Some(30_001));
    }

    #[test]
    fn account_problems_name_the_entry() {
        let cases: &[(&str, &str)] = &[
            (
                "[[gateway.onebot.accounts]]\nself_id = 1\napi_root = \"ftp://x\"\n",
                "gateway.onebot.accounts[0].api_root",
            ),
            (
                "[[gateway.onebot.accounts]]\nself_id = 0\napi_root = \"http://127.0.0.1:1\"\n",
                "gateway.onebot.accounts[0].self_id",
            ),
            (
                "[[gateway.onebot.accounts]]\nself_id = 5\napi_root = \"http://127.0.0.1:1\"\n\
                 [[gateway.onebot.accounts]]\nself_id = 5\napi_root = \"http://127.0.0.1:2\"\n",
                "gateway.onebot.accounts[1].self_id",
            ),
            (
                "[server]\nlisten = \"0.0.0.0:8080\"\n[[gateway.onebot.accounts]]\nself_id = 5\n\
                 api_root = \"http://127.0.0.1:1\"\n",
                "gateway.onebot.accounts[0].secret",
            ),
        ];
        for (toml, key) in cases {
            let file = write(toml);
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn listed_bots_turn_telegram_on_and_each_needs_its_own_webhook_path() {
        let other = TG_TOKEN.replacen("7012345678", "7012345679", 1);
        let file = write(&format!(
            "[[gateway.telegram.bots]]\ntoken = \"{TG_TOKEN}\"\n\n[[gateway.telegram.bots]]\ntoken = \"{other}\"\n\
             mode = \"webhook\"\nwebhook_path = \"/tg/b\"\nwebhook_url = \"https://x.example/tg/b\"\n\
             secret_token = \"b-secret\"\n"
        ));
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        assert!(s.gateway.telegram.enabled, "listed bots turn Telegram on");
        let bots = s.gateway.telegram.bots();
        let ids: Vec<_> = bots.iter().map(|b| b.settings.bot_id()).collect();
        assert_eq!(ids, [Some(7_012_345_678), Some(7_012_345_679)]);
        assert_eq!(bots[1].settings.webhook_path, "/tg/b");

        let clash = write(&format!(
            "[[gateway.telegram.bots]]\ntoken = \"{TG_TOKEN}\"\nmode = \"webhook\"\nwebhook_path = \"/tg\"\n\
             webhook_url = \"https://x.example/tg\"\nsecret_token = \"a\"\n\
             [[gateway.telegram.bots]]\ntoken = \"{other}\"\nmode = \"webhook\"\nwebhook_path = \"/tg\"\n\
             webhook_url = \"https://x.example/tg\"\nsecret_token = \"b\"\n"
        ));
        let err = Settings::load_with_env(Some(clash.path()), env(&[])).expect_err("one path, two bots");
        assert!(
            err.to_string().contains("gateway.telegram.bots[1].webhook_path"),
            "{err}"
        );
        let twice = write(&format!(
            "[[gateway.telegram.bots]]\ntoken = \"{TG_TOKEN}\"\n[[gateway.telegram.bots]]\ntoken = \"{TG_TOKEN}\"\n"
        ));
        let err = Settings::load_with_env(Some(twice.path()), env(&[])).expect_err("one bot twice");
        assert!(err.to_string().contains("gateway.telegram.bots[1].token"), "{err}");
        assert!(!err.to_string().contains("AAHdqTcv"), "{err}");
    }
    #[test]
    fn the_environment_appends_an_entry_but_leaves_no_gap_and_gives_no_whole_list() {
        let one = write("[[gateway.onebot.accounts]]\nself_id = 20001\napi_root = \"http://127.0.0.1:3001\"\n");
        // The next index adds an account after the file's.
        let s = Settings::load_with_env(
            Some(one.path()),
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__1__SELF_ID", "20002"),
                (
                    "QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__1__API_ROOT",
                    "http://127.0.0.1:3002",
                ),
            ]),
        )
        .expect("valid");
        let ids: Vec<_> = s.gateway.onebot.accounts().iter().map(|a| a.self_id).collect();
        assert_eq!(ids, [Some(20_001), Some(20_002)]);
        // An index past the end leaves an empty entry between: refused, naming it.
        let err = Settings::load_with_env(
            Some(one.path()),
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__2__SELF_ID", "20003"),
                (
                    "QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__2__API_ROOT",
                    "http://127.0.0.1:3003",
                ),
            ]),
        )
        .expect_err("a gap");
        assert!(err.to_string().contains("gateway.onebot.accounts[1]"), "{err}");
        // A new entry without its self_id names the missing key.
        let err = Settings::load_with_env(
            Some(one.path()),
            env(&[("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS__1__SECRET", "x")]),
        )
        .expect_err("no self_id");
        assert!(err.to_string().contains("gateway.onebot.accounts[1].self_id"), "{err}");
        // The list is set entry by entry, never as one value.
        let err = Settings::load_with_env(Some(one.path()), env(&[("QUNGUAN__GATEWAY__ONEBOT__ACCOUNTS", "[]")]))
            .expect_err("a whole list");
        assert!(err.to_string().contains("gateway.onebot.accounts"), "{err}");
        // A bot given by the environment alone turns Telegram on.
        let s = Settings::load_with_env(None, env(&[("QUNGUAN__GATEWAY__TELEGRAM__BOTS__0__TOKEN", TG_TOKEN)]))
            .expect("valid");
        assert!(s.gateway.telegram.enabled);
        assert_eq!(s.gateway.telegram.bots()[0].settings.bot_id(), Some(7_012_345_678));
    }
}
