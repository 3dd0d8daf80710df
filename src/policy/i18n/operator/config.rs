//! The lines of `qunguan check-config` below its headline, and the word-list warnings it
//! shares with the daemon's log (which is English).
//!
//! Values that are configuration (addresses, paths, ladder rungs like `mute 10m`, durations
//! like `30d`, key names like `strike_ttl`) are printed as written in the file, in both
//! languages: the operator copies them back.

use crate::domain::locale::Locale;

/// How the daemon receives Telegram updates, for [`ConfigLine::Telegram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelegramTransport<'a> {
    /// `getUpdates`, each call waiting up to this long (`30s`).
    Polling {
        /// `[gateway.telegram] poll_timeout`, as written.
        timeout: &'a str,
    },
    /// Bot API webhook at `path`, which Telegram reaches as `url`.
    Webhook {
        /// The webhook path the daemon serves.
        path: &'a str,
        /// The public URL Telegram posts to.
        url: &'a str,
    },
}

/// One line of `check-config` after its headline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigLine<'a> {
    /// `server.listen`.
    Listen(&'a str),
    /// `server.admin_listen`, `None` when off.
    Admin(Option<&'a str>),
    /// The OneBot gateway, or one listed account of it.
    OneBot {
        /// The account's `self_id` when the accounts are listed (`None`: the single section,
        /// which accepts any).
        account: Option<i64>,
        /// The webhook path.
        webhook: &'a str,
        /// The gateway's HTTP API root.
        api: &'a str,
        /// Whether an access token is set.
        token: bool,
        /// Whether a signature is required.
        signature: bool,
    },
    /// The Telegram gateway.
    Telegram {
        /// How updates arrive.
        transport: TelegramTransport<'a>,
        /// The Bot API root.
        api: &'a str,
        /// The bot's numeric id, from its token (`?` when the token has none).
        bot: &'a str,
    },
    /// `[gateway.telegram]` has a token but no `enabled` key.
    TelegramByToken,
    /// Keys of a gateway section that are set but not used, because its list of accounts
    /// or bots gives each its own ([`ignored_section_keys`]).
    IgnoredKeys {
        /// The section (`gateway.onebot`).
        section: &'a str,
        /// The list that replaces them (`accounts`).
        list: &'a str,
        /// The keys, joined (`api_root, secret`).
        keys: &'a str,
    },
    /// `storage.path`.
    Storage(&'a str),
    /// `rules.dir` and what it holds ([`crate::policy::i18n::rules_summary`] and the model).
    Rules {
        /// The folder.
        dir: &'a str,
        /// What it holds, in the same locale.
        summary: &'a str,
    },
    /// A warning about the rules folder ([`word_list_warning`]).
    Warning(&'a str),
    /// The ladder, its strike window, and whether it is a dry run.
    Ladder {
        /// The rungs, as written (`warn → mute 10m → kick`).
        rungs: &'a str,
        /// `moderation.strike_ttl`, as written.
        ttl: &'a str,
        /// `moderation.dry_run`.
        dry_run: bool,
    },
    /// The flood limits, as written.
    Flood {
        /// Messages …
        messages: u32,
        /// … in this window.
        window: &'a str,
        /// The same text this many times …
        repeats: u32,
        /// … in this window.
        repeat_window: &'a str,
    },
    /// A `[groups."…"]` override: the group and its parts ([`group_override`]).
    Group {
        /// The group (`qq:123`).
        group: &'a str,
        /// Its overrides, joined.
        parts: &'a str,
    },
    /// `admin.super_users`, joined.
    SuperUsers(&'a str),
    /// `welcome.enabled`.
    Welcome(bool),
    /// `[inactivity]`: `None` when not tracked, else the reminders (`None`: off) and the
    /// removal (`None`: off).
    Inactivity(Option<(Option<&'a str>, Option<&'a str>)>),
    /// Telegram is on and a gate at the door mutes without `verify.button`: its newcomers are
    /// asked with the button all the same (a restricted member cannot post).
    GateButton,
}

/// One line of `check-config`, indented, in `locale`.
#[must_use]
pub fn config_line(locale: Locale, line: ConfigLine<'_>) -> String {
    match locale {
        Locale::ZhCn => format!("  {}", zh(line)),
        Locale::En => format!("  {}", en(line)),
    }
}

fn zh(line: ConfigLine<'_>) -> String {
    match line {
        ConfigLine::Listen(addr) => format!("监听地址：{addr}"),
        ConfigLine::Admin(None) => "管理端口：关闭".to_owned(),
        ConfigLine::Admin(Some(addr)) => format!("管理端口：{addr}（/metrics /healthz /readyz /stats/<group>）"),
        ConfigLine::OneBot {
            account,
            webhook,
            api,
            token,
            signature,
        } => format!(
            "OneBot{}：Webhook {webhook} · API {api} · 令牌{} · 签名{}",
            account.map(|id| format!(" 账号 {id}")).unwrap_or_default(),
            if token { "已设置" } else { "未设置" },
            if signature { "必须" } else { "不要求" }
        ),
        ConfigLine::Telegram { transport, api, bot } => {
            let transport = match transport {
                TelegramTransport::Polling { timeout } => format!("长轮询（每次最长 {timeout}）"),
                TelegramTransport::Webhook { path, url } => {
                    format!("Webhook {path} ← {url} · 要求 secret token")
                }
            };
            format!("Telegram：{transport} · API {api} · 机器人 {bot}")
        }
        ConfigLine::TelegramByToken => "警告：[gateway.telegram] 设置了 token 但没有 `enabled` 键，因此 Telegram 已开启；加上 `enabled = true` 确认开启，或 `enabled = false` 保持关闭".to_owned(),
        ConfigLine::IgnoredKeys { section, list, keys } => format!(
            "警告：[{section}] 的 {keys} 未被使用：已列出 [[{section}.{list}]]，每一项用自己的设置；请把它们移到各项里，或删掉"
        ),
        ConfigLine::Storage(path) => format!("数据目录：{path}"),
        ConfigLine::Rules { dir, summary } => format!("规则目录：{dir} —— {summary}"),
        ConfigLine::Warning(text) => format!("警告：{text}"),
        ConfigLine::Ladder { rungs, ttl, dry_run } => format!(
            "处置阶梯：{rungs}（违规次数保留 {ttl}）{}",
            if dry_run { " · 试运行：不发送任何动作" } else { "" }
        ),
        ConfigLine::Flood {
            messages,
            window,
            repeats,
            repeat_window,
        } => format!("刷屏：{window} 内 {messages} 条消息 · 同一内容 {repeat_window} 内 {repeats} 次（0 表示关闭）"),
        ConfigLine::Group { group, parts } => format!("群 {group}：{parts}"),
        ConfigLine::SuperUsers(users) => format!("超级管理员：{users}"),
        ConfigLine::Welcome(on) => format!("欢迎语：{}", if on { "开启" } else { "关闭" }),
        ConfigLine::GateButton => "入群验证：Telegram 上被禁言的新成员无法发言，因此总是点按钮验证（即使 verify.button = false）".to_owned(),
        ConfigLine::Inactivity(None) => "潜水检测：关闭".to_owned(),
        ConfigLine::Inactivity(Some((reminders, removal))) => format!(
            "潜水检测：开启 · 提醒 {} · 移出 {}",
            reminders.unwrap_or("关闭"),
            removal.map_or_else(|| "关闭".to_owned(), |after| format!("沉默 {after} 后"))
        ),
    }
}

fn en(line: ConfigLine<'_>) -> String {
    match line {
        ConfigLine::Listen(addr) => format!("listen:      {addr}"),
        ConfigLine::Admin(None) => "admin:       off".to_owned(),
        ConfigLine::Admin(Some(addr)) => format!("admin:       {addr} (/metrics /healthz /readyz /stats/<group>)"),
        ConfigLine::OneBot {
            account,
            webhook,
            api,
            token,
            signature,
        } => format!(
            "onebot:      {}webhook {webhook} · api {api} · token {} · signature {}",
            account.map(|id| format!("account {id} · ")).unwrap_or_default(),
            if token { "set" } else { "none" },
            if signature { "required" } else { "not required" }
        ),
        ConfigLine::Telegram { transport, api, bot } => {
            let transport = match transport {
                TelegramTransport::Polling { timeout } => format!("long polling (up to {timeout} a call)"),
                TelegramTransport::Webhook { path, url } => {
                    format!("webhook {path} ← {url} · secret token required")
                }
            };
            format!("telegram:    {transport} · api {api} · bot {bot}")
        }
        ConfigLine::TelegramByToken => format!("warning: {}", telegram_by_token()),
        ConfigLine::IgnoredKeys { section, list, keys } => {
            format!("warning: {}", ignored_section_keys(section, list, keys))
        }
        ConfigLine::Storage(path) => format!("storage:     {path}"),
        ConfigLine::Rules { dir, summary } => format!("rules:       {dir} — {summary}"),
        ConfigLine::Warning(text) => format!("warning:     {text}"),
        ConfigLine::Ladder { rungs, ttl, dry_run } => format!(
            "ladder:      {rungs} (strikes count for {ttl}){}",
            if dry_run { " · DRY RUN: nothing is sent" } else { "" }
        ),
        ConfigLine::Flood {
            messages,
            window,
            repeats,
            repeat_window,
        } => format!(
            "flood:       {messages} messages in {window} · the same text {repeats}× in {repeat_window} (0 = off)"
        ),
        ConfigLine::Group { group, parts } => format!("group {group}: {parts}"),
        ConfigLine::SuperUsers(users) => format!("super users: {users}"),
        ConfigLine::Welcome(on) => format!("welcome:     {}", if on { "on" } else { "off" }),
        ConfigLine::GateButton => "verify:      on Telegram a muted newcomer cannot post, so they are always asked with the button (even with verify.button = false)".to_owned(),
        ConfigLine::Inactivity(None) => "inactivity:  not tracked".to_owned(),
        ConfigLine::Inactivity(Some((reminders, removal))) => format!(
            "inactivity:  tracked · reminders {} · removal {}",
            reminders.unwrap_or("off"),
            removal.map_or_else(|| "off".to_owned(), |after| format!("after {after}"))
        ),
    }
}

/// What the daemon logs (English) and `check-config` says when `[gateway.telegram]` has a
/// token but no `enabled` key.
#[must_use]
pub fn telegram_by_token() -> &'static str {
    "[gateway.telegram] has a token but no `enabled` key, so Telegram is on; add `enabled = true` to say so, or `enabled = false` to keep it off"
}

/// What the daemon logs (English) and `check-config` says when a gateway section sets keys
/// that its list of accounts or bots replaces.
#[must_use]
pub fn ignored_section_keys(section: &str, list: &str, keys: &str) -> String {
    format!(
        "[{section}] sets {keys}, but [[{section}.{list}]] gives each entry its own, so the section's are not used: move them into the entries, or remove them"
    )
}

/// One part of a `[groups."…"]` override line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupOverride<'a> {
    /// Its own ladder, as written.
    Ladder(&'a str),
    /// Its own `strike_ttl`, as written.
    StrikeTtl(&'a str),
    /// How many members it exempts.
    Exempt(usize),
    /// Its own `dry_run`.
    DryRun(bool),
}

/// One part of a group's override line; the keys are the configuration's.
#[must_use]
pub fn group_override(locale: Locale, part: GroupOverride<'_>) -> String {
    match (locale, part) {
        (Locale::ZhCn, GroupOverride::Ladder(rungs)) => format!("处置阶梯 {rungs}"),
        (Locale::En, GroupOverride::Ladder(rungs)) => format!("ladder {rungs}"),
        (_, GroupOverride::StrikeTtl(ttl)) => format!("strike_ttl {ttl}"),
        (Locale::ZhCn, GroupOverride::Exempt(n)) => format!("{n} 人豁免"),
        (Locale::En, GroupOverride::Exempt(n)) => format!("{n} exempt"),
        (_, GroupOverride::DryRun(dry)) => format!("dry_run {dry}"),
    }
}

/// A word list that may be an accident, for `check-config` and the daemon's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordListWarning<'a> {
    /// The list `file` of rule `name` has no phrase.
    Empty {
        /// The list's file.
        file: &'a str,
        /// Its rule.
        name: &'a str,
    },
    /// The list of rule `name`, loaded before, is gone from `dir`.
    Gone {
        /// Its rule.
        name: &'a str,
        /// The rules folder.
        dir: &'a str,
    },
}

/// The text of a word-list warning.
#[must_use]
pub fn word_list_warning(locale: Locale, warning: WordListWarning<'_>) -> String {
    match (locale, warning) {
        (Locale::ZhCn, WordListWarning::Empty { file, name }) => {
            format!("词表 {file} 是空的：规则「{name}」不会命中任何内容（每行写一个词，或删除该文件）")
        }
        (Locale::En, WordListWarning::Empty { file, name }) => format!(
            "word list {file} is empty: rule \"{name}\" matches nothing (write a phrase per line, or delete the file)"
        ),
        (Locale::ZhCn, WordListWarning::Gone { name, dir }) => {
            format!("词表 {name}.txt 已从 {dir} 中删除：规则「{name}」不再生效")
        }
        (Locale::En, WordListWarning::Gone { name, dir }) => {
            format!("word list {name}.txt is gone from {dir}: rule \"{name}\" no longer applies")
        }
    }
}

/// What the rules folder's model is, appended to its summary: trained on `spam` + `ham`
/// messages with thresholds `veto` and `act`, or `None` when there is no model.
#[must_use]
pub fn model_summary(locale: Locale, model: Option<(u32, u32, f32, f32)>) -> String {
    match (locale, model) {
        (Locale::ZhCn, Some((spam, ham, veto, act))) => {
            format!("；模型用 {spam} 条垃圾 + {ham} 条正常消息训练（低于 {veto} 否决规则，≥ {act} 单独处置）")
        }
        (Locale::ZhCn, None) => "；无模型".to_owned(),
        (Locale::En, Some((spam, ham, veto, act))) => {
            format!("; model trained on {spam} spam + {ham} ham (veto < {veto}, acts alone ≥ {act})")
        }
        (Locale::En, None) => "; no model".to_owned(),
    }
}
