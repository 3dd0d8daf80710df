//! Inactivity (潜水): the reminder, the reason of a removal and the answer to `/inactive`.

use super::{ago, duration};
use crate::domain::action::OutgoingMessage;
use crate::domain::locale::Locale;

/// The inactivity reminder: mentions every member in `members` (id, name), says how long they
/// have been silent (`step_secs`, the reminder step reached) and, when removal is on, after
/// how long silent members are removed.
#[must_use]
pub fn inactivity_reminder(
    locale: Locale,
    members: &[(i64, &str)],
    step_secs: u64,
    remove_secs: Option<u64>,
) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    for (i, (user_id, name)) in members.iter().enumerate() {
        if i > 0 {
            msg.push_text(" ");
        }
        msg.push_mention(*user_id, *name);
    }
    let step = duration(locale, step_secs);
    msg.push_text(match locale {
        Locale::ZhCn => format!(" 好久不见！你已经{step}没有在群里发言了，出来冒个泡吧～"),
        Locale::En => format!(" We miss you! You have not posted here for {step}. Come say hi!"),
    });
    if let Some(remove) = remove_secs {
        let remove = duration(locale, remove);
        msg.push_text(match locale {
            Locale::ZhCn => format!("（潜水满{remove}的成员将被移出本群）"),
            Locale::En => format!(" (Members silent for {remove} are removed.)"),
        });
    }
    msg
}

/// Why a silent member was removed, for the audit case.
#[must_use]
pub fn inactive_reason(locale: Locale, silent_secs: u64) -> String {
    let silent = duration(locale, silent_secs);
    match locale {
        Locale::ZhCn => format!("潜水{silent}未发言"),
        Locale::En => format!("silent for {silent}"),
    }
}

/// The answer to `/inactive`: names and ids (no mentions: a list must not ping everyone on
/// it), how long each has been silent, and since when qunguan tracks the group.
#[must_use]
pub fn inactive_list(
    locale: Locale,
    silent_for_secs: u64,
    list: &crate::domain::activity::SilentList,
) -> OutgoingMessage {
    use crate::domain::activity::Since;
    use std::fmt::Write as _;
    let threshold = duration(locale, silent_for_secs);
    let Some(tracked) = list.tracked_secs else {
        return OutgoingMessage::text(match locale {
            Locale::ZhCn => "还没有本群的发言记录。",
            Locale::En => "No activity has been recorded in this group yet.",
        });
    };
    let mut out = if list.total == 0 {
        match locale {
            Locale::ZhCn => format!("没有潜水{threshold}以上的成员。"),
            Locale::En => format!("No member has been silent for {threshold} or more."),
        }
    } else {
        match locale {
            Locale::ZhCn => format!("潜水{threshold}以上的成员共 {} 人：", list.total),
            Locale::En => format!("Members silent for {threshold} or more: {}", list.total),
        }
    };
    for (i, m) in list.shown.iter().enumerate() {
        let silent = duration(locale, m.silent_secs);
        let who = if m.name.is_empty() {
            m.user_id.to_string()
        } else {
            format!("{} ({})", m.name, m.user_id)
        };
        let n = i + 1;
        let _ = match (locale, m.since) {
            (Locale::ZhCn, Since::Spoke) => write!(out, "\n{n}. {who}：{silent}未发言"),
            (Locale::ZhCn, Since::Joined) => write!(out, "\n{n}. {who}：入群{silent}，从未发言"),
            (Locale::En, Since::Spoke) => write!(out, "\n{n}. {who}: {silent} without a message"),
            (Locale::En, Since::Joined) => write!(out, "\n{n}. {who}: joined {silent} ago, no message yet"),
        };
    }
    let hidden = list.total.saturating_sub(list.shown.len());
    if hidden > 0 {
        let _ = match locale {
            Locale::ZhCn => write!(out, "\n……另有 {hidden} 人未列出"),
            Locale::En => write!(out, "\n… and {hidden} more"),
        };
    }
    let tracked = ago(locale, tracked);
    let _ = match locale {
        Locale::ZhCn => write!(out, "\n（{tracked}开始记录；此前入群且之后从未发言的成员不在此列）"),
        Locale::En => write!(
            out,
            "\n(Tracking began {tracked}; members who joined before that and never spoke since are not listed.)"
        ),
    };
    OutgoingMessage::text(out)
}
