//! Texts of the global ban list (`/gban`, `/ungban`).

use crate::domain::action::OutgoingMessage;
use crate::domain::event::UserRef;
use crate::domain::locale::Locale;

/// Why a `/gban` or `/ungban` was not done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GbanRefusal {
    /// A group admin asked: only super users ban instance-wide; `/kick` is theirs.
    AdminNotSuperUser,
    /// `/ungban` of a member the instance's own list does not hold.
    NotBanned(UserRef),
}

/// The answer to a refused `/gban` or `/ungban`.
#[must_use]
pub fn gban_refused(locale: Locale, refusal: GbanRefusal) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, refusal) {
        (Locale::ZhCn, GbanRefusal::AdminNotSuperUser) => {
            "全局拉黑只限超级管理员使用。要把成员移出本群，请用 /kick @成员 (/踢出)。".to_owned()
        }
        (Locale::En, GbanRefusal::AdminNotSuperUser) => {
            "Only super users can ban instance-wide. To remove a member from this group, use /kick @member.".to_owned()
        }
        (Locale::ZhCn, GbanRefusal::NotBanned(user)) => format!("{user} 不在全局黑名单中。"),
        (Locale::En, GbanRefusal::NotBanned(user)) => format!("{user} is not on the global ban list."),
    })
}

/// The answer to a `/gban` of `user`: removed from `groups` groups, audit `case`.
#[must_use]
pub fn gbanned(locale: Locale, user: UserRef, groups: usize, case: u64) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => {
            format!("已全局拉黑 {user}，正在将其移出 {groups} 个群；之后入群或发言都会被立即移出。（案件 #{case}）")
        }
        Locale::En => format!(
            "{user} is banned in every group: being removed from {groups} group(s); joining or speaking anywhere removes them at once. (case #{case})"
        ),
    })
}

/// The answer to an `/ungban` of `user`, audit `case`.
#[must_use]
pub fn ungbanned(locale: Locale, user: UserRef, case: u64) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => format!("已解除对 {user} 的全局拉黑。（案件 #{case}）"),
        Locale::En => format!("{user} is no longer banned. (case #{case})"),
    })
}
