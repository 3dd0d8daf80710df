//! Texts the bot posts in groups, in Chinese (default) and English.
//!
//! Code, logs and docs are English; what members read defaults to zh-CN. Templates use
//! `{name}` placeholders filled by [`render`]; `{at}` becomes a real mention.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::action::OutgoingMessage;

/// Language of the bot's group texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Locale {
    /// Simplified Chinese.
    #[default]
    #[serde(rename = "zh-CN", alias = "zh", alias = "zh-cn", alias = "zh_CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en", alias = "en-US", alias = "en_US")]
    En,
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        })
    }
}

/// The built-in welcome template.
#[must_use]
pub fn default_welcome_template(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "{at} 欢迎加入本群！请先阅读群规：\n{rules}",
        Locale::En => "{at} Welcome! Please read the group rules first:\n{rules}",
    }
}

/// The warning posted on a "warn" rung: mentions the member, says why and how many strikes
/// they have out of how many the ladder has.
#[must_use]
pub fn warning(locale: Locale, user_id: i64, name: &str, reason: &str, count: u32, limit: u32) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, name);
    msg.push_text(match locale {
        Locale::ZhCn => {
            format!(" 第{count}次警告 ({count}/{limit})：{reason}。请遵守群规，再犯将受到处罚。")
        }
        Locale::En => {
            format!(" Warning {count} ({count}/{limit}): {reason}. Please follow the group rules.")
        }
    });
    msg
}

/// Why a message was removed, for the warning text: names the rule that matched.
#[must_use]
pub fn reason_rule(locale: Locale, rule: &str) -> String {
    match locale {
        Locale::ZhCn => format!("消息触发了规则「{rule}」"),
        Locale::En => format!("your message matched the rule \"{rule}\""),
    }
}

/// Fills `{key}` placeholders in `template`. `{at}` becomes a mention of `mention`; keys not in
/// `vars` and not `{at}` are left as written so a typo is visible in the group rather than
/// silently dropped. `{{` and `}}` are literal braces.
#[must_use]
pub fn render(template: &str, mention: Option<(i64, &str)>, vars: &[(&str, &str)]) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        let (before, after) = rest.split_at(open);
        msg.push_text(before);
        if let Some(tail) = after.strip_prefix("{{") {
            msg.push_text("{");
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix("}}") {
            msg.push_text("}");
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix('}') {
            msg.push_text("}");
            rest = tail;
            continue;
        }
        let Some(close) = after.find('}') else {
            msg.push_text(after);
            return msg;
        };
        let key = &after[1..close];
        match (key, mention) {
            ("at", Some((user_id, name))) => msg.push_mention(user_id, name),
            _ => match vars.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => msg.push_text(*value),
                None => msg.push_text(&after[..=close]),
            },
        }
        rest = &after[close + 1..];
    }
    msg.push_text(rest);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Part;

    #[test]
    fn render_fills_variables_and_mentions() {
        let msg = render(
            "{at} 欢迎 {name}！{{规则}}\n{rules}",
            Some((42, "小明")),
            &[("name", "小明"), ("rules", "不许打广告")],
        );
        assert_eq!(
            msg.parts,
            vec![
                Part::Mention {
                    user_id: 42,
                    name: "小明".into()
                },
                Part::Text {
                    text: " 欢迎 小明！{规则}\n不许打广告".into()
                },
            ]
        );
    }

    #[test]
    fn render_keeps_unknown_placeholders_visible() {
        assert_eq!(render("hi {nmae}", None, &[("name", "x")]).plain_text(), "hi {nmae}");
        assert_eq!(render("unclosed {at", None, &[]).plain_text(), "unclosed {at");
    }

    #[test]
    fn warning_counts_against_the_ladder() {
        let msg = warning(Locale::ZhCn, 7, "阿杰", "消息触发了规则「ads」", 1, 3);
        assert!(msg.plain_text().contains("第1次警告 (1/3)"), "{}", msg.plain_text());
        assert!(matches!(msg.parts[0], Part::Mention { user_id: 7, .. }));
        let en = warning(Locale::En, 7, "A", "r", 2, 3).plain_text();
        assert!(en.contains("Warning 2 (2/3)"), "{en}");
    }
}
