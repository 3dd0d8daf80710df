//! `qunguan check-config`: load the configuration and the rules, print a summary.

use std::path::PathBuf;

use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::i18n::{self, ConfigLine, GroupOverride, TelegramTransport};

pub(crate) fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let rules = Rules::load_with(&settings.rules.dir, &LoadOptions::from(&settings))?;
    let onebot = &settings.gateway.onebot;
    let locale = super::locale::operator_locale(config.as_deref(), &settings);
    let line = |l: ConfigLine<'_>| println!("{}", i18n::config_line(locale, l));
    let ignored_line = |ignored: &crate::config::IgnoredKeys| {
        line(ConfigLine::IgnoredKeys {
            section: ignored.section,
            list: ignored.list,
            keys: &ignored.keys.join(", "),
        });
    };
    let shown = config.as_deref().map(|p| p.display().to_string());
    println!("{}", i18n::config_ok(locale, shown.as_deref()));
    line(ConfigLine::Listen(&settings.server.listen.to_string()));
    let admin = settings.server.admin_listen.map(|a| a.to_string());
    line(ConfigLine::Admin(admin.as_deref()));
    if onebot.enabled {
        for account in onebot.accounts() {
            line(ConfigLine::OneBot {
                account: account.self_id,
                webhook: &onebot.webhook_path,
                api: account.settings.api_root.as_str(),
                token: !account.settings.access_token.is_empty(),
                signature: !account.settings.secret.is_empty(),
            });
        }
        if let Some(ignored) = onebot.ignored_keys() {
            ignored_line(&ignored);
        }
    }
    let telegram = &settings.gateway.telegram;
    if telegram.enabled {
        for resolved in telegram.bots() {
            let bot = &resolved.settings;
            let timeout = bot.poll_timeout.to_string();
            let transport = match bot.mode {
                crate::config::TelegramMode::Polling => TelegramTransport::Polling { timeout: &timeout },
                crate::config::TelegramMode::Webhook => TelegramTransport::Webhook {
                    path: &bot.webhook_path,
                    url: bot.webhook_url.as_str(),
                },
            };
            let id = bot.bot_id().map_or_else(|| "?".into(), |id| id.to_string());
            line(ConfigLine::Telegram {
                transport,
                api: bot.api_root.as_str(),
                bot: &id,
            });
        }
        if let Some(ignored) = telegram.ignored_keys() {
            ignored_line(&ignored);
        }
        if telegram.enabled_by_token {
            line(ConfigLine::TelegramByToken);
        }
    }
    line(ConfigLine::Storage(&settings.storage.path.display().to_string()));
    line(ConfigLine::Rules {
        dir: &settings.rules.dir.display().to_string(),
        summary: &rules.summary_in(locale),
    });
    // Applied as they are, but maybe an accident: an emptied list, or one deleted since the
    // daemon last loaded the folder.
    let before = crate::config::rules::lists::recorded(&settings.storage.path);
    for warning in crate::config::rules::lists::list_warnings_in(locale, &settings.rules.dir, &before) {
        line(ConfigLine::Warning(&warning));
    }
    let moderation = &settings.moderation;
    let rungs =
        |ladder: &[crate::policy::ladder::Rung]| ladder.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → ");
    line(ConfigLine::Ladder {
        rungs: &rungs(&moderation.ladder),
        ttl: &moderation.strike_ttl.to_string(),
        dry_run: moderation.dry_run,
    });
    let flood = moderation.flood;
    line(ConfigLine::Flood {
        messages: flood.messages,
        window: &flood.window.to_string(),
        repeats: flood.repeats,
        repeat_window: &flood.repeat_window.to_string(),
    });
    for (group, overrides) in &settings.groups {
        let mut parts = Vec::new();
        if let Some(ladder) = &overrides.ladder {
            parts.push(i18n::group_override(locale, GroupOverride::Ladder(&rungs(ladder))));
        }
        if let Some(ttl) = overrides.strike_ttl {
            parts.push(i18n::group_override(locale, GroupOverride::StrikeTtl(&ttl.to_string())));
        }
        if !overrides.exempt.is_empty() {
            parts.push(i18n::group_override(
                locale,
                GroupOverride::Exempt(overrides.exempt.len()),
            ));
        }
        if let Some(dry) = overrides.dry_run {
            parts.push(i18n::group_override(locale, GroupOverride::DryRun(dry)));
        }
        line(ConfigLine::Group {
            group: &group.to_string(),
            parts: &parts.join(" · "),
        });
    }
    if !settings.admin.super_users.is_empty() {
        let users: Vec<String> = settings.admin.super_users.iter().map(ToString::to_string).collect();
        line(ConfigLine::SuperUsers(&users.join(", ")));
    }
    line(ConfigLine::Welcome(settings.welcome.enabled));
    // A restricted Telegram member cannot type an answer: the gate asks them with the button.
    let verify = &settings.verify;
    let muted_without_button = |o: &crate::config::VerifyOverride| {
        o.enabled.unwrap_or(verify.enabled) && o.mute.unwrap_or(verify.mute) && !o.button.unwrap_or(verify.button)
    };
    if telegram.enabled
        && (muted_without_button(&crate::config::VerifyOverride::default())
            || settings.groups.values().any(|g| muted_without_button(&g.verify)))
    {
        line(ConfigLine::GateButton);
    }
    let inactivity = &settings.inactivity;
    if inactivity.enabled {
        let steps: Vec<String> = inactivity.remind_after.iter().map(ToString::to_string).collect();
        let steps = (!steps.is_empty()).then(|| steps.join(", "));
        let removal = inactivity.remove_after().map(|_| inactivity.remove_after.to_string());
        line(ConfigLine::Inactivity(Some((steps.as_deref(), removal.as_deref()))));
    } else {
        line(ConfigLine::Inactivity(None));
    }
    Ok(())
}
