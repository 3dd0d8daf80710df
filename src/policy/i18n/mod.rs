//! Texts the bot posts in groups, in Chinese (default) and English.
//!
//! Code, logs and docs are English; what members read defaults to zh-CN. Templates use
//! `{name}` placeholders filled by [`render_mentions`]; `{at}` becomes a real mention.
//!
//! One file per topic (moderation, commands, welcome, schedule, inactivity, stats, learning,
//! engagement, and `operator` for the command line's own output); the
//! helpers every topic shares — [`render_mentions`] for operator templates and [`duration`] for
//! spans of time — live here. Every text is a pure function of the locale and its inputs.

mod bans;
mod commands;
mod engagement;
mod gate;
mod inactivity;
mod learning;
mod moderation;
mod operator;
mod schedule;
mod stats;
#[cfg(test)]
mod tests;
mod welcome;

pub use bans::{GbanRefusal, gban_refused, gbanned, ungbanned};
pub use commands::{Reply, RulesCounts, bad_time, not_a_member, reloaded, reply, rules_summary, usage};
pub use engagement::{
    Board, BoardTexts, CheckedIn, FaqTexts, OptoutTexts, PointsTexts, already_checked_in, board, checked_in, opted_out,
    points, points_adjusted, replies_full, reply_added, reply_deleted, reply_list, tier_alert, tier_name, tiers_line,
};
pub use gate::{
    default_gate_button_expired, default_gate_button_not_yours, default_gate_button_passed, default_gate_button_prompt,
    default_gate_private_prompt, default_gate_prompt, gate_button, gate_removal_reason, gate_tries_note,
};
pub use inactivity::{inactive_list, inactive_reason, inactivity_reminder};
pub use learning::{
    LabelReply, NotSpamDone, ReviewLine, case_model, case_sample, label_reply, not_spam_done, not_spam_reason,
    points_refund_reason, review_list, spam_labelled, spam_reason,
};
pub use moderation::{
    StrikeLine, case_details, default_reason, generic_rule_display, manual_action, measure, notice, pardoned,
    reason_rule, rule_display, rung_notice_template, strikes, warning,
};
pub use operator::*;
pub use schedule::{ScheduleLine, schedule_added, schedule_deleted, schedule_full, schedule_list};
pub use stats::stats_summary;
pub use welcome::{default_reject_reason, default_welcome_template, name_list};

use crate::domain::action::OutgoingMessage;
use crate::domain::locale::Locale;

/// A duration for people: `10分钟`, `1小时30分钟`, `30天` / `10 min`, `1 h 30 min`, `30 days`.
/// At most two units, largest first.
#[must_use]
pub fn duration(locale: Locale, secs: u64) -> String {
    let units: [(u64, &str, &str); 4] = [
        (86_400, "天", " d"),
        (3_600, "小时", " h"),
        (60, "分钟", " min"),
        (1, "秒", " s"),
    ];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, zh, en) in units {
        if rest >= size && parts.len() < 2 {
            let n = rest / size;
            rest %= size;
            parts.push(match locale {
                Locale::ZhCn => format!("{n}{zh}"),
                Locale::En => format!("{n}{en}"),
            });
        } else if !parts.is_empty() {
            // Keep the two units adjacent: "1 d 3 min" would read oddly.
            break;
        }
    }
    if parts.is_empty() {
        return match locale {
            Locale::ZhCn => "0秒".into(),
            Locale::En => "0 s".into(),
        };
    }
    parts.join(if locale == Locale::ZhCn { "" } else { " " })
}

/// How long ago something happened: `3分钟前` / `3 min ago`, and `刚刚` / `just now` under a
/// minute (a case or strike made in the same breath would otherwise read `0秒前`).
#[must_use]
pub fn ago(locale: Locale, secs: u64) -> String {
    match locale {
        Locale::ZhCn if secs < 60 => "刚刚".to_owned(),
        Locale::En if secs < 60 => "just now".to_owned(),
        Locale::ZhCn => format!("{}前", duration(locale, secs)),
        Locale::En => format!("{} ago", duration(locale, secs)),
    }
}

/// Fills `{key}` placeholders in `template`. `{at}` becomes a mention of `mention`; keys not in
/// `vars` and not `{at}` are left as written so a typo is visible in the group rather than
/// silently dropped. `{{` and `}}` are literal braces.
#[cfg(test)]
#[must_use]
pub fn render(template: &str, mention: Option<(i64, &str)>, vars: &[(&str, &str)]) -> OutgoingMessage {
    match mention {
        Some(one) => render_mentions(template, &[one], vars),
        None => render_mentions(template, &[], vars),
    }
}

/// Fills `{key}` placeholders like `render` does, with `{at}` mentioning every member of
/// `mentions`, separated by spaces (a
/// batched welcome). With no one to mention, `{at}` is left as written.
#[must_use]
pub fn render_mentions(template: &str, mentions: &[(i64, &str)], vars: &[(&str, &str)]) -> OutgoingMessage {
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
        if key == "at" && !mentions.is_empty() {
            for (i, (user_id, name)) in mentions.iter().enumerate() {
                if i > 0 {
                    msg.push_text(" ");
                }
                msg.push_mention(*user_id, *name);
            }
        } else {
            match vars.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => msg.push_text(*value),
                None => msg.push_text(&after[..=close]),
            }
        }
        rest = &after[close + 1..];
    }
    msg.push_text(rest);
    msg
}
