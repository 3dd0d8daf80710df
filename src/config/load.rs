//! Loading: built-in defaults, then the TOML file, then `QUNGUAN__SECTION__KEY` environment
//! variables, then [`Settings::validate`]. Errors name the key or the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ConfigIssue, Settings};

/// Environment variable prefix: `QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN` sets
/// `gateway.onebot.access_token`.
pub const ENV_PREFIX: &str = "QUNGUAN";

/// Keys whose environment value is a comma-separated list, by their last segment
/// (`moderation.ladder`, `groups.<id>.ladder`, `groups.<id>.exempt`, `admin.super_users`,
/// `join_requests.answers`, `inactivity.remind_after`, `engagement.streak_bonus`).
const ENV_LIST_KEYS: &[&str] = &[
    "ladder",
    "exempt",
    "super_users",
    "answers",
    "remind_after",
    "streak_bonus",
];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// The file or environment could not be read or did not deserialise.
    #[error("{0}")]
    Load(String),
    /// The values deserialised but make no sense together.
    #[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

impl Settings {
    /// Loads defaults, then `file` (if any), then `QUNGUAN__…` variables from the process
    /// environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], but reads the environment overrides from `env` instead of the
    /// process environment (tests).
    pub fn load_with_env(file: Option<&Path>, env: Option<BTreeMap<String, String>>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::NotFound(path.to_owned()));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true));
        }
        // Environment overrides. Values stay strings (a token like "0123" must not become the
        // number 123); the few list-valued keys are split on commas here.
        let env: BTreeMap<String, String> = env.unwrap_or_else(|| std::env::vars().collect());
        let prefix = format!("{ENV_PREFIX}__");
        let mut plain = BTreeMap::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(&prefix) else {
                continue;
            };
            let key = path.to_lowercase().replace("__", ".");
            let last = key.rsplit('.').next().unwrap_or_default();
            if let Some(indexed) = indexed_key(&key) {
                // An entry of a list of tables (`gateway.onebot.accounts.0.secret`): set in
                // place, so the entry's other keys from the file are kept.
                builder = builder
                    .set_override(indexed, value)
                    .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
            } else if ENV_LIST_KEYS.contains(&last) {
                let items: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                builder = builder
                    .set_override(key, items)
                    .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
            } else {
                plain.insert(name, value);
            }
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .source(Some(plain.into_iter().collect()));
        let raw = builder
            .add_source(environment)
            .build()
            .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
        // A `[gateway.telegram]` with a token and no `enabled` key is meant to run: enable it
        // rather than ignore the token (an explicit `enabled = false` keeps it off).
        // Listed bots count as a token.
        let telegram_by_token = raw.get::<config::Value>("gateway.telegram.enabled").is_err()
            && (raw
                .get_string("gateway.telegram.token")
                .is_ok_and(|token| !token.trim().is_empty())
                || raw
                    .get_array("gateway.telegram.bots")
                    .is_ok_and(|bots| !bots.is_empty()));
        let mut settings: Self = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Load(describe_config_error(&e, file)))?;
        if telegram_by_token {
            settings.gateway.telegram.enabled = true;
            settings.gateway.telegram.enabled_by_token = true;
        }
        settings.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }
}

/// The lists of tables whose entries the environment may set by index.
const INDEXED_LISTS: &[&str] = &["gateway.onebot.accounts", "gateway.telegram.bots"];

/// `gateway.onebot.accounts.0.secret` → `gateway.onebot.accounts[0].secret`: the path of a
/// key inside an entry of one of the [`INDEXED_LISTS`]; `None` for any other key.
fn indexed_key(key: &str) -> Option<String> {
    INDEXED_LISTS.iter().find_map(|list| {
        let rest = key.strip_prefix(list)?.strip_prefix('.')?;
        let (index, field) = rest.split_once('.')?;
        let index: usize = index.parse().ok()?;
        (!field.is_empty()).then(|| format!("{list}[{index}].{field}"))
    })
}

/// Turns a `config` crate error into one line: the dotted key first, then what is wrong with
/// the value, then where it came from — the file as it was given on the command line (the
/// crate would show only its name), or the environment.
fn describe_config_error(err: &config::ConfigError, file: Option<&Path>) -> String {
    let source = |origin: &Option<String>| match (origin, file) {
        (Some(_), Some(path)) => format!(" (in {})", path.display()),
        (Some(origin), None) => format!(" (in {origin})"),
        (None, _) => String::new(),
    };
    match err {
        config::ConfigError::FileParse { cause, .. } => match file {
            Some(path) => format!("{}: {cause}", path.display()),
            None => err.to_string(),
        },
        config::ConfigError::Type {
            origin,
            unexpected,
            expected,
            key: Some(key),
        } => format!("{key}: {unexpected} is not {expected}{}", source(origin)),
        config::ConfigError::At {
            error,
            origin,
            key: Some(key),
        } => {
            let inner = match &**error {
                config::ConfigError::Message(message) => message.clone(),
                other => describe_config_error(other, file),
            };
            format!("{key}: {inner}{}", source(origin))
        }
        // The crate joins a list index and the next key without a dot (`accounts[1]self_id`).
        config::ConfigError::NotFound(key) => {
            let mut dotted = String::with_capacity(key.len() + 4);
            let mut after_index = false;
            for c in key.chars() {
                if after_index && (c.is_alphanumeric() || c == '_') {
                    dotted.push('.');
                }
                after_index = c == ']';
                dotted.push(c);
            }
            format!("missing configuration field \"{dotted}\"")
        }
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{env, write};
    use crate::domain::action::ActionKind;
    use crate::domain::duration::HumanDuration;
    use crate::policy::ladder::Rung;

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.storage.path, PathBuf::from("./data"));
        assert_eq!(s.rules.dir, PathBuf::from("./rules"));
        assert_eq!(s.gateway.onebot.webhook_path, "/onebot/v11");
        assert_eq!(s.moderation.ladder.len(), 3);
        assert_eq!(s.moderation.strike_ttl.as_secs(), 30 * 86_400);
    }

    #[test]
    fn environment_overrides_nested_keys_and_lists() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", "0123"),
                ("QUNGUAN__SERVER__LISTEN", "127.0.0.1:0"),
                ("QUNGUAN__MODERATION__LADDER", "warn,mute 1h,ban"),
            ]),
        )
        .expect("valid");
        // Leading zeros survive: tokens are strings, never numbers.
        assert_eq!(s.gateway.onebot.access_token.expose(), "0123");
        assert_eq!(s.server.listen.port(), 0);
        assert_eq!(
            s.moderation.ladder,
            vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(3600)), Rung::Ban]
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let file = write("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("typo must fail");
        assert!(err.to_string().contains("listne"), "{err}");

        let err = Settings::load_with_env(None, env(&[("QUNGUAN__MODERATION__LADER", "warn")]))
            .expect_err("typo in a variable must fail");
        assert!(err.to_string().contains("lader"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let file = write("[server]\nlisten = \n");
        let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err("syntax");
        let text = err.to_string();
        assert!(text.contains(&*file.path().to_string_lossy()), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn groups_admins_flood_and_outbox_read_from_the_file() {
        let file = write(
            r#"
[moderation]
dry_run = true
[moderation.flood]
messages = 5
window = "20s"

[admin]
super_users = [10001, "tg:123456789", "qq:42"]

[outbox]
concurrency = 4
sends_per_minute_per_group = 10
[outbox.max_age]
send = "5m"
kick = "1d"

[groups."qq:726300112"]
ladder = ["warn", "ban"]
exempt = [7, 8]
dry_run = false
[groups."qq:726300112".flood]
repeats = 0

[groups.123]
strike_ttl = "7d"
"#,
        );
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("valid");
        assert!(s.moderation.dry_run);
        assert_eq!(
            (s.moderation.flood.messages, s.moderation.flood.window.as_secs()),
            (5, 20)
        );
        assert_eq!(s.moderation.flood.repeats, 5, "unset keys keep their defaults");
        let users: Vec<String> = s.admin.super_users.iter().map(ToString::to_string).collect();
        assert_eq!(users, ["qq:10001", "tg:123456789", "qq:42"]);
        assert_eq!((s.outbox.concurrency, s.outbox.sends_per_minute_per_group), (4, 10));
        assert_eq!(
            s.outbox.max_age.of(ActionKind::Send),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(s.outbox.max_age.of(ActionKind::Recall), None, "0s = no limit");
        let group = &s.groups["qq:726300112"];
        assert_eq!(group.ladder.as_deref(), Some(&[Rung::Warn, Rung::Ban][..]));
        assert_eq!((group.exempt.as_slice(), group.dry_run), (&[7, 8][..], Some(false)));
        assert_eq!(group.flood.apply(s.moderation.flood).repeats, 0);
        assert_eq!(s.groups["123"].strike_ttl.map(HumanDuration::as_secs), Some(7 * 86_400));
    }

    #[test]
    fn group_and_admin_keys_come_from_the_environment_too() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__ADMIN__SUPER_USERS", "10001, tg:5"),
                ("QUNGUAN__GROUPS__726300112__DRY_RUN", "true"),
                ("QUNGUAN__GROUPS__726300112__EXEMPT", "7,8"),
                ("QUNGUAN__GROUPS__726300112__LADDER", "warn,kick"),
                ("QUNGUAN__OUTBOX__MAX_AGE__SEND", "1m"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.admin.super_users.len(), 2);
        let group = &s.groups["726300112"];
        assert_eq!((group.dry_run, group.exempt.as_slice()), (Some(true), &[7, 8][..]));
        assert_eq!(group.ladder.as_deref(), Some(&[Rung::Warn, Rung::Kick][..]));
        assert_eq!(s.outbox.max_age.send.as_secs(), 60);
    }

    #[test]
    fn schedule_welcome_and_join_request_keys_read_from_the_file_and_the_environment() {
        let file = write(
            "[schedule]\ntimezone = \"Europe/Berlin\"\njitter = \"0s\"\n\
             [welcome]\nbatch_window = \"30s\"\ndelete_previous = true\n\
             [groups.1.welcome]\nenabled = false\n",
        );
        let s = Settings::load_with_env(
            Some(file.path()),
            env(&[
                ("QUNGUAN__JOIN_REQUESTS__ANSWERS", "朋友推荐,Rust 中文社区"),
                ("QUNGUAN__WELCOME__REJOIN_WINDOW", "1d"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.schedule.timezone, "Europe/Berlin");
        assert_eq!(s.schedule.jitter.as_secs(), 0);
        assert_eq!(s.schedule.catch_up.as_secs(), 600, "the default");
        assert_eq!(s.welcome.batch_window.as_secs(), 30);
        assert_eq!(s.welcome.rejoin_window.as_secs(), 86_400);
        assert!(s.welcome.delete_previous);
        assert_eq!(s.groups["1"].welcome.enabled, Some(false));
        assert_eq!(s.join_requests.answers, ["朋友推荐", "Rust 中文社区"]);
        assert!(s.join_requests.reject_blocked, "the default");
    }
}
