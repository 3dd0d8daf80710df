//! The answers to `/schedule add`, `/schedule del` and `/schedule list`.

use crate::domain::action::OutgoingMessage;
use crate::domain::locale::Locale;

/// One line of `/schedule list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleLine {
    /// `#3` for a post added in the group, the id for one of `schedule.toml`.
    pub label: String,
    /// When: `07:30 (Asia/Shanghai)` or a cron pattern with its zone.
    pub when: String,
    /// The first text, shortened.
    pub text: String,
    /// False for a disabled post of `schedule.toml`.
    pub enabled: bool,
}

/// The answer to `/schedule add`.
#[must_use]
pub fn schedule_added(locale: Locale, number: u64, at: &str, zone: &str) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => format!("已添加定时消息 #{number}：每天 {at}（{zone}）。删除：/schedule del {number}"),
        Locale::En => {
            format!("Scheduled post #{number} added: daily at {at} ({zone}). Remove it with /schedule del {number}")
        }
    })
}

/// The answer to `/schedule add` when the group already has `max` posts.
#[must_use]
pub fn schedule_full(locale: Locale, max: usize) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => {
            format!("本群已有 {max} 条定时消息，请先删除一些（/schedule del <编号>），或写入 rules/schedule.toml。")
        }
        Locale::En => format!(
            "This group already has {max} scheduled posts: remove some first (/schedule del <n>), or use rules/schedule.toml."
        ),
    })
}

/// The answer to `/schedule del`.
#[must_use]
pub fn schedule_deleted(locale: Locale, number: u64, deleted: bool) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, deleted) {
        (Locale::ZhCn, true) => format!("已删除定时消息 #{number}。"),
        (Locale::ZhCn, false) => format!("本群没有定时消息 #{number}（schedule.toml 中的定时消息请在文件中修改）。"),
        (Locale::En, true) => format!("Scheduled post #{number} removed."),
        (Locale::En, false) => {
            format!("This group has no scheduled post #{number} (posts of schedule.toml are changed in the file).")
        }
    })
}

/// The answer to `/schedule list`.
#[must_use]
pub fn schedule_list(locale: Locale, lines: &[ScheduleLine]) -> OutgoingMessage {
    if lines.is_empty() {
        return OutgoingMessage::text(match locale {
            Locale::ZhCn => "本群没有定时消息。添加：/schedule add 07:30 内容",
            Locale::En => "This group has no scheduled posts. Add one: /schedule add 07:30 text",
        });
    }
    let mut out = match locale {
        Locale::ZhCn => format!("本群的定时消息（{} 条）：", lines.len()),
        Locale::En => format!("Scheduled posts of this group ({}):", lines.len()),
    };
    for line in lines {
        let off = match (locale, line.enabled) {
            (_, true) => "",
            (Locale::ZhCn, false) => "［已停用］",
            (Locale::En, false) => " [disabled]",
        };
        out.push_str(&format!("\n{} {}{off} {}", line.label, line.when, line.text));
    }
    OutgoingMessage::text(out)
}
