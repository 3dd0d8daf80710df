//! Texts the bot posts in groups, in Chinese (default) and English.
//!
//! Code, logs and docs are English; what members read defaults to zh-CN. Templates use
//! `{name}` placeholders filled by [`render`]; `{at}` becomes a real mention.

use crate::domain::action::OutgoingMessage;
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::locale::Locale;

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

/// Why a message was removed, for the warning text: names the rule that matched by its
/// display name (`Filter::display_name`), never by its internal id.
#[must_use]
pub fn reason_rule(locale: Locale, display: &str) -> String {
    match locale {
        Locale::ZhCn => format!("消息触发了规则「{display}」"),
        Locale::En => format!("your message matched the rule \"{display}\""),
    }
}

/// The built-in display name of a rule id qunguan itself defines: the contact detectors, the
/// model's rule and the synthetic ids of measures that come from elsewhere (`flood`,
/// `manual`, `inactive`, `join_answer`, `learned`). `None` for any other id (a word list,
/// a `[[regex]]` of the operator's), whose name comes from `display` in `rules.toml`.
#[must_use]
pub fn rule_display(locale: Locale, rule: &str) -> Option<&'static str> {
    let (zh, en) = match rule {
        "qq_id" => ("QQ号引流", "QQ number advertising"),
        "wechat_id" => ("微信引流", "WeChat contact advertising"),
        "tg_link" => ("Telegram链接引流", "Telegram link advertising"),
        "invite_link" => ("拉群链接", "group invite link"),
        "url" => ("可疑链接", "suspicious link"),
        "phone_cn" => ("手机号引流", "phone number advertising"),
        "email" => ("邮箱引流", "e-mail advertising"),
        "tg_handle" => ("账号引流", "account advertising"),
        "long_digits" => ("可疑号码", "suspicious number"),
        "flood" => ("刷屏", "flooding"),
        "model" => ("疑似广告", "likely spam"),
        "manual" => ("管理员处理", "admin action"),
        "inactive" => ("长期潜水", "inactivity"),
        "join_answer" => ("入群答案", "join answer"),
        "learned" => ("与管理员标记的广告相似", "similar to spam marked by an admin"),
        _ => return None,
    };
    Some(match locale {
        Locale::ZhCn => zh,
        Locale::En => en,
    })
}

/// The display name of a word list or `[[regex]]` without `display` in `rules.toml`.
#[must_use]
pub fn generic_rule_display(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "违规内容",
        Locale::En => "prohibited content",
    }
}

/// A warning for a rule whose action is "warn": no strike, just a notice.
#[must_use]
pub fn notice(locale: Locale, user_id: i64, name: &str, reason: &str) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, name);
    msg.push_text(match locale {
        Locale::ZhCn => format!(" 请注意：{reason}。请遵守群规。"),
        Locale::En => format!(" Please note: {reason}. Please follow the group rules."),
    });
    msg
}

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

/// What a [`Measure`] did, in words.
#[must_use]
pub fn measure(locale: Locale, measure: Measure) -> String {
    match (locale, measure) {
        (Locale::ZhCn, Measure::Warn) => "警告".into(),
        (Locale::ZhCn, Measure::Mute { seconds }) => format!("禁言 {}", duration(locale, seconds)),
        (Locale::ZhCn, Measure::Kick) => "移出本群".into(),
        (Locale::ZhCn, Measure::Ban) => "移出本群并拒绝再次加入".into(),
        (Locale::ZhCn, Measure::Recall) => "撤回消息".into(),
        (Locale::ZhCn, Measure::Unmute) => "解除禁言".into(),
        (Locale::ZhCn, Measure::Pardon { removed }) => format!("撤销 {removed} 次警告"),
        (Locale::ZhCn, Measure::JoinApproved) => "通过入群申请".into(),
        (Locale::ZhCn, Measure::JoinRejected) => "拒绝入群申请".into(),
        (Locale::En, Measure::Warn) => "warning".into(),
        (Locale::En, Measure::Mute { seconds }) => format!("mute for {}", duration(locale, seconds)),
        (Locale::En, Measure::Kick) => "removed from the group".into(),
        (Locale::En, Measure::Ban) => "removed and banned from re-joining".into(),
        (Locale::En, Measure::Recall) => "message recalled".into(),
        (Locale::En, Measure::Unmute) => "mute lifted".into(),
        (Locale::En, Measure::Pardon { removed }) => format!("{removed} strike(s) taken back"),
        (Locale::En, Measure::JoinApproved) => "join request approved".into(),
        (Locale::En, Measure::JoinRejected) => "join request rejected".into(),
    }
}

/// The reason of a manual action when the admin gave none.
#[must_use]
pub fn default_reason(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "管理员警告",
        Locale::En => "warned by an admin",
    }
}

/// The bot's answer to an admin's `/warn` (or another manual action): mentions the member,
/// says what was done and why, and gives the case number.
#[must_use]
pub fn manual_action(
    locale: Locale,
    user_id: i64,
    measure: Measure,
    reason: &str,
    count: Option<(u32, u32)>,
    case: u64,
) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, "");
    let what = self::measure(locale, measure);
    msg.push_text(match (locale, measure, count) {
        (Locale::ZhCn, Measure::Warn, Some((n, limit))) => {
            format!(" 第{n}次警告 ({n}/{limit})：{reason}。请遵守群规，再犯将受到处罚。（案件 #{case}）")
        }
        (Locale::ZhCn, _, Some((n, limit))) => {
            format!(" 因「{reason}」被警告，累计 {n}/{limit} 次：{what}。（案件 #{case}）")
        }
        (Locale::ZhCn, _, None) if reason.is_empty() => format!(" 已{what}。（案件 #{case}）"),
        (Locale::ZhCn, _, None) => format!(" 已{what}：{reason}。（案件 #{case}）"),
        (Locale::En, Measure::Warn, Some((n, limit))) => {
            format!(" Warning {n} ({n}/{limit}): {reason}. Please follow the group rules. (case #{case})")
        }
        (Locale::En, _, Some((n, limit))) => format!(" Warned for \"{reason}\", {n}/{limit}: {what}. (case #{case})"),
        (Locale::En, _, None) if reason.is_empty() => format!(" {what}. (case #{case})"),
        (Locale::En, _, None) => format!(" {what}: {reason}. (case #{case})"),
    });
    msg
}

/// The answer to `/pardon`.
#[must_use]
pub fn pardoned(
    locale: Locale,
    user_id: i64,
    removed: u32,
    left: u32,
    limit: u32,
    case: Option<u64>,
) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, "");
    msg.push_text(match (locale, case) {
        (Locale::ZhCn, Some(case)) => format!(" 已撤销 {removed} 次警告，当前 {left}/{limit} 次。（案件 #{case}）"),
        (Locale::ZhCn, None) => " 没有可撤销的有效警告。".to_owned(),
        (Locale::En, Some(case)) => format!(" {removed} strike(s) taken back; now {left}/{limit}. (case #{case})"),
        (Locale::En, None) => " has no active strikes to take back.".to_owned(),
    });
    msg
}

/// One active strike, for `/strikes`: how long ago, which rule, how long it still counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrikeLine {
    /// Seconds since it was given.
    pub age_secs: u64,
    /// Seconds until it expires.
    pub left_secs: u64,
    /// The rule.
    pub rule: String,
    /// Its weight.
    pub weight: u32,
}

/// The answer to `/strikes`.
#[must_use]
pub fn strikes(locale: Locale, user_id: i64, count: u32, limit: u32, lines: &[StrikeLine]) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, "");
    let mut text = match locale {
        Locale::ZhCn if lines.is_empty() => " 没有有效的警告记录。".to_owned(),
        Locale::ZhCn => format!(" 当前有效警告 {count}/{limit} 次："),
        Locale::En if lines.is_empty() => " has no active strikes.".to_owned(),
        Locale::En => format!(" has {count}/{limit} active strike(s):"),
    };
    for line in lines {
        let weight = if line.weight > 1 {
            format!(" ×{}", line.weight)
        } else {
            String::new()
        };
        text.push_str(&match locale {
            Locale::ZhCn => format!(
                "\n· {}前 「{}」{weight}，{}后失效",
                duration(locale, line.age_secs),
                line.rule,
                duration(locale, line.left_secs)
            ),
            Locale::En => format!(
                "\n· {} ago, \"{}\"{weight}, expires in {}",
                duration(locale, line.age_secs),
                line.rule,
                duration(locale, line.left_secs)
            ),
        });
    }
    msg.push_text(text);
    msg
}

/// The answer to `/why <case>`: the case as the audit log holds it.
#[must_use]
pub fn case_details(locale: Locale, entry: &AuditEntry, now_ms: i64) -> OutgoingMessage {
    let age = duration(
        locale,
        u64::try_from(now_ms.saturating_sub(entry.at_ms) / 1000).unwrap_or(0),
    );
    let who = if entry.user_name.is_empty() {
        entry.user_id.to_string()
    } else {
        format!("{} ({})", entry.user_name, entry.user_id)
    };
    let actor = match (&entry.actor, locale) {
        (Actor::Auto, Locale::ZhCn) => "自动".to_owned(),
        (Actor::Auto, Locale::En) => "automatic".to_owned(),
        (Actor::Admin { user_id, name }, _) if name.is_empty() => user_id.to_string(),
        (Actor::Admin { user_id, name }, _) => format!("{name} ({user_id})"),
    };
    let what = measure(locale, entry.measure);
    let quoted: Vec<String> = entry.matched.iter().map(|m| format!("「{m}」")).collect();
    let mut lines = match locale {
        Locale::ZhCn => vec![
            format!("案件 #{}（{age}前）", entry.case),
            format!("对象：{who}"),
            format!("操作：{actor}"),
            format!("规则：{}", entry.rule),
            format!(
                "处理：{what}{}",
                if entry.dry_run {
                    "（试运行，未执行）"
                } else {
                    ""
                }
            ),
            format!("警告次数：{} → {}", entry.strikes_before, entry.strikes_after),
        ],
        Locale::En => vec![
            format!("Case #{} ({age} ago)", entry.case),
            format!("Member: {who}"),
            format!("By: {actor}"),
            format!("Rule: {}", entry.rule),
            format!(
                "Action: {what}{}",
                if entry.dry_run {
                    " (dry run, not carried out)"
                } else {
                    ""
                }
            ),
            format!("Strikes: {} → {}", entry.strikes_before, entry.strikes_after),
        ],
    };
    if !quoted.is_empty() {
        lines.push(match locale {
            Locale::ZhCn => format!("命中：{}", quoted.join(" ")),
            Locale::En => format!("Matched: {}", quoted.join(" ")),
        });
    }
    if !entry.excerpt.is_empty() {
        lines.push(match locale {
            Locale::ZhCn => format!("原文：{}", entry.excerpt),
            Locale::En => format!("Message: {}", entry.excerpt),
        });
    }
    if !entry.reason.is_empty() {
        lines.push(match locale {
            Locale::ZhCn => format!("原因：{}", entry.reason),
            Locale::En => format!("Reason: {}", entry.reason),
        });
    }
    OutgoingMessage::text(lines.join("\n"))
}

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
    let tracked = duration(locale, tracked);
    let _ = match locale {
        Locale::ZhCn => write!(out, "\n（{tracked}前开始记录；此前入群且之后从未发言的成员不在此列）"),
        Locale::En => write!(
            out,
            "\n(Tracking began {tracked} ago; members who joined before that and never spoke since are not listed.)"
        ),
    };
    OutgoingMessage::text(out)
}

/// The `/stats` answer: a short health report of the group over the last 7 days.
#[must_use]
pub fn stats_summary(locale: Locale, s: &crate::policy::stats_report::Summary) -> OutgoingMessage {
    use std::fmt::Write as _;
    let zh = locale == Locale::ZhCn;
    let mut out = String::new();
    if s.days == 0 {
        return OutgoingMessage::text(if zh {
            "群统计：还没有数据（qunguan 从启动后开始统计）。"
        } else {
            "Group stats: nothing counted yet (qunguan counts from when it started)."
        });
    }
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    if zh {
        let _ = write!(out, "群统计（近{}天", s.days);
        match s.members {
            Some(m) => {
                let _ = write!(out, "，成员 {m} 人）");
            }
            None => out.push('）'),
        }
        let _ = write!(out, "\n发言：{} 条，日均 {:.1} 条", s.messages, s.messages_per_day);
        if let Some(x) = s.per_100_members {
            let _ = write!(out, "（每百人 {x:.1} 条/天）");
        }
        let _ = write!(out, "\n活跃：日均 {:.1} 人", s.active_per_day);
        if let Some(x) = s.active_share {
            let _ = write!(out, "，活跃率 {}", pct(x));
        }
        let _ = write!(out, "\n进群 {} 人，退群 {} 人", s.joins, s.leaves);
        let _ = write!(out, "\n违规：{} 次", s.violations);
        if !s.top_rules.is_empty() {
            let top: Vec<String> = s.top_rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = write!(out, "（{}）", top.join("、"));
        }
        match s.trend_percent {
            Some(t) => {
                let _ = write!(out, "\n较上周：日均发言 {t:+.0}%");
            }
            None => out.push_str("\n较上周：暂无上周数据"),
        }
    } else {
        if s.days == 1 {
            out.push_str("Group stats (last day");
        } else {
            let _ = write!(out, "Group stats (last {} days", s.days);
        }
        if let Some(m) = s.members {
            let _ = write!(out, ", {m} members");
        }
        out.push(')');
        let _ = write!(out, "\nMessages: {}, {:.1} a day", s.messages, s.messages_per_day);
        if let Some(x) = s.per_100_members {
            let _ = write!(out, " ({x:.1} per 100 members a day)");
        }
        let _ = write!(out, "\nActive: {:.1} members a day", s.active_per_day);
        if let Some(x) = s.active_share {
            let _ = write!(out, ", {} of the group", pct(x));
        }
        let _ = write!(out, "\nJoined {}, left {}", s.joins, s.leaves);
        let _ = write!(out, "\nViolations: {}", s.violations);
        if !s.top_rules.is_empty() {
            let top: Vec<String> = s.top_rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = write!(out, " ({})", top.join(", "));
        }
        match s.trend_percent {
            Some(t) => {
                let _ = write!(out, "\nVs last week: {t:+.0}% messages a day");
            }
            None => out.push_str("\nVs last week: no data for last week yet"),
        }
    }
    OutgoingMessage::text(out)
}

/// Fills `{key}` placeholders in `template`. `{at}` becomes a mention of `mention`; keys not in
/// `vars` and not `{at}` are left as written so a typo is visible in the group rather than
/// silently dropped. `{{` and `}}` are literal braces.
#[must_use]
pub fn render(template: &str, mention: Option<(i64, &str)>, vars: &[(&str, &str)]) -> OutgoingMessage {
    match mention {
        Some(one) => render_mentions(template, &[one], vars),
        None => render_mentions(template, &[], vars),
    }
}

/// [`render`] with `{at}` mentioning every member of `mentions`, separated by spaces (a
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

/// Joins the names of a batched welcome's members (`{name}`).
#[must_use]
pub fn name_list(locale: Locale, names: &[&str]) -> String {
    match locale {
        Locale::ZhCn => names.join("、"),
        Locale::En => names.join(", "),
    }
}

/// The reason shown to an applicant whose join request was rejected for blocked words, when
/// `reject_reason` is not configured.
#[must_use]
pub fn default_reject_reason(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "申请内容包含违规内容",
        Locale::En => "the request contains blocked content",
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Part;

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
    fn durations_read_naturally_in_both_languages() {
        for (secs, zh, en) in [
            (0, "0秒", "0 s"),
            (45, "45秒", "45 s"),
            (600, "10分钟", "10 min"),
            (5_400, "1小时30分钟", "1 h 30 min"),
            (2_592_000, "30天", "30 d"),
            (90_061, "1天1小时", "1 d 1 h"),
            (86_460, "1天", "1 d"),
        ] {
            assert_eq!(duration(Locale::ZhCn, secs), zh, "{secs}");
            assert_eq!(duration(Locale::En, secs), en, "{secs}");
        }
    }

    #[test]
    fn manual_actions_name_the_case() {
        let warn = manual_action(Locale::ZhCn, 7, Measure::Warn, "刷屏", Some((1, 3)), 12).plain_text();
        assert_eq!(
            warn,
            "@7 第1次警告 (1/3)：刷屏。请遵守群规，再犯将受到处罚。（案件 #12）"
        );
        let mute = manual_action(Locale::En, 7, Measure::Mute { seconds: 600 }, "", None, 3).plain_text();
        assert_eq!(mute, "@7 mute for 10 min. (case #3)");
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
