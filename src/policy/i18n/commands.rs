//! Short answers to admin commands: fixed replies, `/reload` and usage hints.

use crate::domain::action::OutgoingMessage;
use crate::domain::locale::Locale;

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
        (Locale::En, Reply::NoSuchCase(case)) => format!("There is no case #{case}."),
        (Locale::En, Reply::CannotMute) => "This platform cannot mute a single member.".to_owned(),
        (Locale::En, Reply::CannotKick) => "This platform cannot remove members.".to_owned(),
        (Locale::En, Reply::ProtectedTarget) => "That cannot be done to the bot or a super user.".to_owned(),
        (Locale::En, Reply::NoRules) => "This group has no rules text yet.".to_owned(),
    })
}

/// The answer to `/reload`: the new rules' summary, or why the old rules stay.
#[must_use]
pub fn reloaded(locale: Locale, result: Result<&str, &str>) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, result) {
        (Locale::ZhCn, Ok(summary)) => format!("规则已重新加载：{summary}"),
        (Locale::ZhCn, Err(error)) => format!("规则重新加载失败，继续使用原规则：{error}"),
        (Locale::En, Ok(summary)) => format!("Rules reloaded: {summary}"),
        (Locale::En, Err(error)) => format!("Reloading the rules failed; the old rules stay live: {error}"),
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
