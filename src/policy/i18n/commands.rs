//! Short answers to admin commands: fixed replies, `/reload` and usage hints.

use crate::domain::action::OutgoingMessage;
use crate::domain::event::Platform;
use crate::domain::locale::Locale;
use crate::policy::calendar::TimeProblem;

/// Short fixed answers to commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `/why` of a case that does not exist.
    NoSuchCase(u64),
    /// The platform cannot mute.
    CannotMute,
    /// The platform cannot remove members.
    CannotKick,
    /// The target is the bot or a super user.
    ProtectedTarget,
    /// `/rules` when there are none.
    NoRules,
    /// `/warn` of an owner or admin: they cannot be struck.
    AdminTarget,
    /// `/mute` for longer than the platform allows.
    MuteTooLong(Platform),
}

/// The text of a [`Reply`].
#[must_use]
pub fn reply(locale: Locale, reply: Reply) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, reply) {
        (Locale::ZhCn, Reply::NoSuchCase(case)) => format!("找不到案件 #{case}。"),
        (Locale::ZhCn, Reply::CannotMute) => "这个平台不支持禁言单个成员。".to_owned(),
        (Locale::ZhCn, Reply::CannotKick) => "这个平台不支持移出成员。".to_owned(),
        (Locale::ZhCn, Reply::ProtectedTarget) => "不能对机器人或超级管理员执行此操作。".to_owned(),
        (Locale::ZhCn, Reply::NoRules) => "本群还没有设置群规。".to_owned(),
        (Locale::ZhCn, Reply::AdminTarget) => "群主和管理员不能被警告。".to_owned(),
        (Locale::ZhCn, Reply::MuteTooLong(Platform::Qq)) => {
            "禁言时间太长：QQ 的禁言必须短于 30 天，请写 29d 或更短。".to_owned()
        }
        (Locale::ZhCn, Reply::MuteTooLong(Platform::Telegram)) => {
            "禁言时间太长：Telegram 的禁言最长 366 天。".to_owned()
        }
        (Locale::En, Reply::NoSuchCase(case)) => format!("There is no case #{case}."),
        (Locale::En, Reply::CannotMute) => "This platform cannot mute a single member.".to_owned(),
        (Locale::En, Reply::CannotKick) => "This platform cannot remove members.".to_owned(),
        (Locale::En, Reply::ProtectedTarget) => "That cannot be done to the bot or a super user.".to_owned(),
        (Locale::En, Reply::NoRules) => "This group has no rules text yet.".to_owned(),
        (Locale::En, Reply::AdminTarget) => "Owners and admins cannot be warned.".to_owned(),
        (Locale::En, Reply::MuteTooLong(Platform::Qq)) => {
            "That mute is too long: QQ mutes must be shorter than 30 days; write 29d or less.".to_owned()
        }
        (Locale::En, Reply::MuteTooLong(Platform::Telegram)) => {
            "That mute is too long: Telegram mutes last at most 366 days.".to_owned()
        }
    })
}

/// What a loaded rules folder holds: the input of [`rules_summary`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RulesCounts {
    /// The word lists' rule names.
    pub lists: Vec<String>,
    /// Phrases over all lists.
    pub phrases: usize,
    /// Built-in detectors in use.
    pub detectors: usize,
    /// Characters of `group-rules.md` (0 = none).
    pub group_rules_chars: usize,
    /// Groups with their own rules text.
    pub groups_with_own_rules: usize,
    /// Scheduled posts of `schedule.toml`.
    pub posts: usize,
    /// … of which enabled.
    pub posts_enabled: usize,
}

/// A one-line description of a rule set: for `/reload` in the group's language, and (in
/// English) for logs and `check-config`.
#[must_use]
pub fn rules_summary(locale: Locale, c: &RulesCounts) -> String {
    let mut out = match locale {
        Locale::ZhCn => format!(
            "{} 个词表（{}），共 {} 条；{} 个检测器；群规：{}",
            c.lists.len(),
            c.lists.join("、"),
            c.phrases,
            c.detectors,
            if c.group_rules_chars == 0 {
                "无".to_owned()
            } else {
                format!("{} 字", c.group_rules_chars)
            }
        ),
        Locale::En => format!(
            "{} word list(s) [{}] with {} phrase(s); {} detector(s); group rules: {}",
            c.lists.len(),
            c.lists.join(", "),
            c.phrases,
            c.detectors,
            if c.group_rules_chars == 0 {
                "none".to_owned()
            } else {
                format!("{} chars", c.group_rules_chars)
            }
        ),
    };
    if c.groups_with_own_rules > 0 {
        out.push_str(&match locale {
            Locale::ZhCn => format!("（另有 {} 个群有自己的群规）", c.groups_with_own_rules),
            Locale::En => format!(" (+{} group(s) with their own)", c.groups_with_own_rules),
        });
    }
    if c.posts > 0 {
        out.push_str(&match locale {
            Locale::ZhCn => format!("；定时消息 {} 条，{} 条启用", c.posts, c.posts_enabled),
            Locale::En => format!("; {} scheduled post(s), {} enabled", c.posts, c.posts_enabled),
        });
    }
    out
}

/// The answer to `/reload`: the new rules' summary, or why the old rules stay (the error names
/// the file and line; its wording is the log's).
#[must_use]
pub fn reloaded(locale: Locale, result: Result<&RulesCounts, &str>) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, result) {
        (Locale::ZhCn, Ok(counts)) => format!("规则已重新加载：{}", rules_summary(locale, counts)),
        (Locale::ZhCn, Err(error)) => format!("规则重新加载失败，继续使用原规则。出错的位置：{error}"),
        (Locale::En, Ok(counts)) => format!("Rules reloaded: {}", rules_summary(locale, counts)),
        (Locale::En, Err(error)) => format!("Reloading the rules failed; the old rules stay live: {error}"),
    })
}

/// The answer to a command whose member argument is text, not a member: `word` is neither a
/// mention nor a user id. `usage` is the command's syntax.
#[must_use]
pub fn not_a_member(locale: Locale, word: &str, usage: &str) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => {
            format!("找不到成员「{word}」：请用 @ 选中群成员（手打的 @名字 不算），或者写对方的 QQ 号。\n用法：{usage}")
        }
        Locale::En => format!(
            "No member \"{word}\": pick the member with a real @mention (a typed @name is not one), or write their user id.\nUsage: {usage}"
        ),
    })
}

/// The answer to `/schedule add` with a time that is not one.
#[must_use]
pub fn bad_time(locale: Locale, at: &str, why: TimeProblem) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, why) {
        (Locale::ZhCn, TimeProblem::Format) => {
            format!("时间「{at}」看不懂：请写 24 小时制的 时:分，例如 07:30 或 21:00。")
        }
        (Locale::ZhCn, TimeProblem::Hour(h)) => {
            format!("时间「{at}」不对：小时是 {h}，只能是 0 到 23（24 小时制，例如 07:30 或 21:00）。")
        }
        (Locale::ZhCn, TimeProblem::Minute(m)) => {
            format!("时间「{at}」不对：分钟是 {m}，只能是 00 到 59。")
        }
        (Locale::En, TimeProblem::Format) => {
            format!("\"{at}\" is not a time: write hours:minutes on a 24-hour clock, such as 07:30 or 21:00.")
        }
        (Locale::En, TimeProblem::Hour(h)) => format!(
            "\"{at}\" is not a time: the hour is {h}, but it must be 0 to 23 (24-hour clock, e.g. 07:30 or 21:00)."
        ),
        (Locale::En, TimeProblem::Minute(m)) => {
            format!("\"{at}\" is not a time: the minute is {m}, but it must be 00 to 59.")
        }
    })
}

/// How to use a command, for an admin who got it wrong. `usage` is the command's syntax.
#[must_use]
pub fn usage(locale: Locale, usage: &str) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => format!("用法：{usage}"),
        Locale::En => format!("Usage: {usage}"),
    })
}
