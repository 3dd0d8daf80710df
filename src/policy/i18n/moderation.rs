//! What members and admins read about violations and strikes: the warning of a "warn" rung,
//! the notice of a warn-only rule, the answers to `/warn`, `/pardon`, `/strikes` and `/why`.

use super::{ago, duration};
use crate::domain::action::OutgoingMessage;
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::locale::Locale;

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

/// The built-in template of the notice a rung posts after its action (see
/// `config::notices`): `{at}`, `{rule}`, `{count}` and `{duration}` are filled in.
/// `with_count` is false for a rule that acts without the ladder.
#[must_use]
pub fn rung_notice_template(locale: Locale, measure: Measure, with_count: bool) -> &'static str {
    match (locale, measure, with_count) {
        (Locale::ZhCn, Measure::Mute { .. }, true) => "{at} 因「{rule}」第{count}次违规，禁言{duration}。",
        (Locale::ZhCn, Measure::Mute { .. }, false) => "{at} 因「{rule}」被禁言{duration}。",
        (Locale::ZhCn, Measure::Ban, true) => "{at} 因「{rule}」第{count}次违规，已被移出本群，且不能再加入。",
        (Locale::ZhCn, Measure::Ban, false) => "{at} 因「{rule}」已被移出本群，且不能再加入。",
        (Locale::ZhCn, _, true) => "{at} 因「{rule}」第{count}次违规，已被移出本群。",
        (Locale::ZhCn, _, false) => "{at} 因「{rule}」已被移出本群。",
        (Locale::En, Measure::Mute { .. }, true) => {
            "{at} is muted for {duration} after violation {count} (\"{rule}\")."
        }
        (Locale::En, Measure::Mute { .. }, false) => "{at} is muted for {duration} (\"{rule}\").",
        (Locale::En, Measure::Ban, true) => {
            "{at} was removed and banned from the group after violation {count} (\"{rule}\")."
        }
        (Locale::En, Measure::Ban, false) => "{at} was removed and banned from the group (\"{rule}\").",
        (Locale::En, _, true) => "{at} was removed from the group after violation {count} (\"{rule}\").",
        (Locale::En, _, false) => "{at} was removed from the group (\"{rule}\").",
    }
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
/// `manual`, `inactive`, `join_answer`, `learned`, `verify`). `None` for any other id (a word list,
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
        "seed_phrase_request" => ("索要钱包助记词", "asking for a wallet recovery phrase"),
        "model" => ("疑似广告", "likely spam"),
        "manual" => ("管理员处理", "admin action"),
        "inactive" => ("长期潜水", "inactivity"),
        "join_answer" => ("入群答案", "join answer"),
        "learned" => ("与管理员标记的广告相似", "similar to spam marked by an admin"),
        "verify" => ("入群验证", "join verification"),
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
        (Locale::ZhCn, Measure::Labeled { spam: true }) => "标记为广告".into(),
        (Locale::ZhCn, Measure::Labeled { spam: false }) => "标记为误判".into(),
        (Locale::ZhCn, Measure::Points { delta }) if delta >= 0 => format!("加 {delta} 积分"),
        (Locale::ZhCn, Measure::Points { delta }) => format!("扣 {} 积分", delta.unsigned_abs()),
        (Locale::ZhCn, Measure::GlobalBan) => "全局拉黑".into(),
        (Locale::ZhCn, Measure::GlobalUnban) => "解除全局拉黑".into(),
        (Locale::En, Measure::Warn) => "warning".into(),
        (Locale::En, Measure::Mute { seconds }) => format!("mute for {}", duration(locale, seconds)),
        (Locale::En, Measure::Kick) => "removed from the group".into(),
        (Locale::En, Measure::Ban) => "removed and banned from re-joining".into(),
        (Locale::En, Measure::Recall) => "message recalled".into(),
        (Locale::En, Measure::Unmute) => "mute lifted".into(),
        (Locale::En, Measure::Pardon { removed }) => format!("{removed} strike(s) taken back"),
        (Locale::En, Measure::JoinApproved) => "join request approved".into(),
        (Locale::En, Measure::JoinRejected) => "join request rejected".into(),
        (Locale::En, Measure::Labeled { spam: true }) => "marked as spam".into(),
        (Locale::En, Measure::Labeled { spam: false }) => "marked as not spam".into(),
        (Locale::En, Measure::Points { delta }) if delta >= 0 => format!("{delta} points given"),
        (Locale::En, Measure::Points { delta }) => format!("{} points taken away", delta.unsigned_abs()),
        (Locale::En, Measure::GlobalBan) => "banned in every group".into(),
        (Locale::En, Measure::GlobalUnban) => "global ban lifted".into(),
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
    /// The rule, as members see it ([`crate::policy::filter::Filter::display_name`]; never
    /// the internal id).
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
                "\n· {} 「{}」{weight}，{}后失效",
                ago(locale, line.age_secs),
                line.rule,
                duration(locale, line.left_secs)
            ),
            Locale::En => format!(
                "\n· {}, \"{}\"{weight}, expires in {}",
                ago(locale, line.age_secs),
                line.rule,
                duration(locale, line.left_secs)
            ),
        });
    }
    msg.push_text(text);
    msg
}

/// The answer to `/why <case>`: the case as the audit log holds it, its rule shown as
/// `rule_display` (the name members see, never the internal id).
#[must_use]
pub fn case_details(locale: Locale, entry: &AuditEntry, rule_display: &str, now_ms: i64) -> OutgoingMessage {
    let age = ago(
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
        (Actor::Console { name, .. }, Locale::ZhCn) => format!("{name}（控制台）"),
        (Actor::Console { name, .. }, Locale::En) => format!("{name} (console)"),
    };
    let what = measure(locale, entry.measure);
    let quoted: Vec<String> = entry.matched.iter().map(|m| format!("「{m}」")).collect();
    let mut lines = match locale {
        Locale::ZhCn => vec![
            format!("案件 #{}（{age}）", entry.case),
            format!("对象：{who}"),
            format!("操作：{actor}"),
            format!("规则：{rule_display}"),
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
            format!("Case #{} ({age})", entry.case),
            format!("Member: {who}"),
            format!("By: {actor}"),
            format!("Rule: {rule_display}"),
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
    if let Some(undo) = entry.undone_by {
        lines.push(match locale {
            Locale::ZhCn => format!("已撤销：案件 #{undo}"),
            Locale::En => format!("Undone by case #{undo}"),
        });
    }
    if let Some(undone) = entry.undoes {
        lines.push(match locale {
            Locale::ZhCn => format!("撤销了案件 #{undone}"),
            Locale::En => format!("Undoes case #{undone}"),
        });
    }
    OutgoingMessage::text(lines.join("\n"))
}
