//! `qunguan check-config`: load the configuration and the rules, print a summary.

use std::path::PathBuf;

use crate::config::Settings;
use crate::config::rules::{LoadOptions, Rules};
use crate::policy::i18n;

/// What `check-config` and `run` say when `[gateway.telegram]` has a token but no `enabled`.
pub(crate) const TELEGRAM_BY_TOKEN: &str = "[gateway.telegram] has a token but no `enabled` key, so Telegram is on; add `enabled = true` to say so, or `enabled = false` to keep it off";

pub(crate) fn check_config(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let rules = Rules::load_with(&settings.rules.dir, &LoadOptions::from(&settings))?;
    let onebot = &settings.gateway.onebot;
    let locale = super::locale::operator_locale(config.as_deref(), &settings);
    let shown = config.as_deref().map(|p| p.display().to_string());
    println!("{}", i18n::config_ok(locale, shown.as_deref()));
    println!("  listen:      {}", settings.server.listen);
    println!(
        "  admin:       {}",
        settings.server.admin_listen.map_or_else(
            || "off".to_owned(),
            |a| format!("{a} (/metrics /healthz /readyz /stats/<group>)")
        )
    );
    if onebot.enabled {
        println!(
            "  onebot:      webhook {} · api {} · token {} · signature {}",
            onebot.webhook_path,
            onebot.api_root,
            if onebot.access_token.is_empty() { "none" } else { "set" },
            if onebot.secret.is_empty() {
                "not required"
            } else {
                "required"
            },
        );
    }
    let telegram = &settings.gateway.telegram;
    if telegram.enabled {
        let transport = match telegram.mode {
            crate::config::TelegramMode::Polling => format!("long polling (up to {} a call)", telegram.poll_timeout),
            crate::config::TelegramMode::Webhook => format!(
                "webhook {} ← {} · secret token required",
                telegram.webhook_path, telegram.webhook_url
            ),
        };
        println!(
            "  telegram:    {transport} · api {} · bot {}",
            telegram.api_root,
            telegram.bot_id().map_or_else(|| "?".into(), |id| id.to_string()),
        );
        if telegram.enabled_by_token {
            println!("  warning: {TELEGRAM_BY_TOKEN}");
        }
    }
    println!("  storage:     {}", settings.storage.path.display());
    println!("  rules:       {} — {}", settings.rules.dir.display(), rules.summary());
    // Applied as they are, but maybe an accident: an emptied list, or one deleted since the
    // daemon last loaded the folder.
    let before = crate::config::rules::lists::recorded(&settings.storage.path);
    for warning in crate::config::rules::lists::list_warnings(&settings.rules.dir, &before) {
        println!("  warning:     {warning}");
    }
    let moderation = &settings.moderation;
    let ladder: Vec<String> = moderation.ladder.iter().map(ToString::to_string).collect();
    println!(
        "  ladder:      {} (strikes count for {}){}",
        ladder.join(" → "),
        moderation.strike_ttl,
        if moderation.dry_run {
            " · DRY RUN: nothing is sent"
        } else {
            ""
        }
    );
    let flood = moderation.flood;
    println!(
        "  flood:       {} messages in {} · the same text {}× in {} (0 = off)",
        flood.messages, flood.window, flood.repeats, flood.repeat_window
    );
    for (group, overrides) in &settings.groups {
        let mut parts = Vec::new();
        if let Some(ladder) = &overrides.ladder {
            let rungs: Vec<String> = ladder.iter().map(ToString::to_string).collect();
            parts.push(format!("ladder {}", rungs.join(" → ")));
        }
        if let Some(ttl) = overrides.strike_ttl {
            parts.push(format!("strike_ttl {ttl}"));
        }
        if !overrides.exempt.is_empty() {
            parts.push(format!("{} exempt", overrides.exempt.len()));
        }
        if let Some(dry) = overrides.dry_run {
            parts.push(format!("dry_run {dry}"));
        }
        println!("  group {group}: {}", parts.join(" · "));
    }
    if !settings.admin.super_users.is_empty() {
        let users: Vec<String> = settings.admin.super_users.iter().map(ToString::to_string).collect();
        println!("  super users: {}", users.join(", "));
    }
    println!("  welcome:     {}", if settings.welcome.enabled { "on" } else { "off" });
    let inactivity = &settings.inactivity;
    if inactivity.enabled {
        let steps: Vec<String> = inactivity.remind_after.iter().map(ToString::to_string).collect();
        println!(
            "  inactivity:  tracked · reminders {} · removal {}",
            if steps.is_empty() {
                "off".to_owned()
            } else {
                steps.join(", ")
            },
            inactivity
                .remove_after()
                .map_or_else(|| "off".to_owned(), |_| format!("after {}", inactivity.remove_after)),
        );
    } else {
        println!("  inactivity:  not tracked");
    }
    Ok(())
}
