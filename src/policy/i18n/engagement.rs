//! Engagement: the answers to `/签到`, `/积分`, `/加分` / `/扣分`, `/排行`, `/退出积分` and
//! `/问答`, the leaderboard post and the tier alert.

use std::fmt::Write as _;

use crate::domain::action::OutgoingMessage;
use crate::domain::engagement::Tier;
use crate::domain::locale::Locale;

/// A member as lists show them: their name, or their id when no name is known.
fn who(name: &str, user_id: i64) -> String {
    if name.is_empty() {
        user_id.to_string()
    } else {
        name.to_owned()
    }
}

/// The operator's `template` (`[engagement] *_template`) filled in, or the built-in text
/// when it is empty. Placeholders as [`super::render_mentions`]: `{at}` mentions `mentions`.
fn custom_or(
    template: &str,
    mentions: &[(i64, &str)],
    vars: &[(&str, &str)],
    builtin: impl FnOnce() -> OutgoingMessage,
) -> OutgoingMessage {
    if template.is_empty() {
        builtin()
    } else {
        super::render_mentions(template, mentions, vars)
    }
}

/// A text-only template (a title, a list row) filled in, or `builtin` when it is empty.
fn custom_line(template: &str, vars: &[(&str, &str)], builtin: impl FnOnce() -> String) -> String {
    if template.is_empty() {
        builtin()
    } else {
        super::render_mentions(template, &[], vars).plain_text()
    }
}

/// What a check-in earned, for its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedIn {
    /// Consecutive days (连续 N 天).
    pub streak: u32,
    /// Points for the check-in.
    pub points: u32,
    /// The streak bonus reached today (0: none).
    pub bonus: u32,
    /// The member's place among today's check-ins.
    pub rank: u32,
    /// The balance after it.
    pub total: i64,
}

/// The answer to a check-in: a mention, the streak, the points and today's rank.
#[must_use]
pub fn checked_in(locale: Locale, user_id: i64, name: &str, c: CheckedIn) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(user_id, name);
    let CheckedIn {
        streak,
        points,
        bonus,
        rank,
        total,
    } = c;
    msg.push_text(&match locale {
        Locale::ZhCn => {
            let bonus = if bonus > 0 {
                format!("，连续签到奖励 +{bonus}")
            } else {
                String::new()
            };
            format!(" 签到成功！连续 {streak} 天，获得 {points} 积分{bonus}，今天第 {rank} 个签到，当前积分 {total}。")
        }
        Locale::En => {
            let bonus = if bonus > 0 {
                format!(", streak bonus +{bonus}")
            } else {
                String::new()
            };
            format!(
                " Checked in! {streak} day(s) in a row, +{points} points{bonus}; #{rank} to check in today; {total} points in all."
            )
        }
    });
    msg
}

/// The answer to a second check-in the same day.
#[must_use]
pub fn already_checked_in(locale: Locale, streak: u32) -> OutgoingMessage {
    OutgoingMessage::text(match locale {
        Locale::ZhCn => format!("今天已经签到过了，明天再来吧～（已连续签到 {streak} 天）"),
        Locale::En => format!("You have already checked in today; come back tomorrow. ({streak} day(s) in a row)"),
    })
}

/// The operator's texts for `/积分` and `/加分` / `/扣分` (`[engagement] points_template`,
/// `points_hidden_template`, `points_adjusted_template`); empty = built-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct PointsTexts<'a> {
    /// `/积分`: `{at}`, `{name}`, `{points}`, `{rank}`.
    pub shown: &'a str,
    /// `/积分` of a member who opted out: `{at}`, `{name}`.
    pub hidden: &'a str,
    /// `/加分` and `/扣分`: `{at}`, `{change}` (signed, `+5` / `-5`), `{total}`, `{reason}`,
    /// `{case}`.
    pub adjusted: &'a str,
}

/// The answer to `/积分`: the balance and the place among the group's members (`None`: the
/// member opted out, so their points are not shown).
#[must_use]
pub fn points(
    locale: Locale,
    texts: PointsTexts<'_>,
    user_id: i64,
    name: &str,
    shown: Option<(i64, usize)>,
) -> OutgoingMessage {
    let who = who(name, user_id);
    let mention = [(user_id, name)];
    match shown {
        Some((points, rank)) => custom_or(
            texts.shown,
            &mention,
            &[
                ("name", &who),
                ("points", &points.to_string()),
                ("rank", &rank.to_string()),
            ],
            || {
                OutgoingMessage::text(match locale {
                    Locale::ZhCn => format!("{who} 当前积分 {points}，排名第 {rank}。"),
                    Locale::En => format!("{who} has {points} points, #{rank} in this group."),
                })
            },
        ),
        None => custom_or(texts.hidden, &mention, &[("name", &who)], || {
            OutgoingMessage::text(match locale {
                Locale::ZhCn => format!("{who} 已退出积分排行，积分不显示。"),
                Locale::En => format!("{who} opted out of points; they are not shown."),
            })
        }),
    }
}

/// The answer to `/加分` and `/扣分`: the change made, the new balance, why, and the case.
#[must_use]
pub fn points_adjusted(
    locale: Locale,
    texts: PointsTexts<'_>,
    user_id: i64,
    change: i64,
    total: i64,
    reason: &str,
    case: u64,
) -> OutgoingMessage {
    let (signed, total_text, case_text) = (format!("{change:+}"), total.to_string(), case.to_string());
    let vars = [
        ("change", signed.as_str()),
        ("total", &total_text),
        ("reason", reason),
        ("case", &case_text),
    ];
    custom_or(texts.adjusted, &[(user_id, "")], &vars, || {
        let mut msg = OutgoingMessage::default();
        msg.push_mention(user_id, "");
        let amount = change.unsigned_abs();
        let reason = if reason.is_empty() {
            String::new()
        } else {
            match locale {
                Locale::ZhCn => format!("（{reason}）"),
                Locale::En => format!(" ({reason})"),
            }
        };
        msg.push_text(&match (locale, change >= 0) {
            (Locale::ZhCn, true) => format!(" 加 {amount} 积分{reason}，当前积分 {total}。（案件 #{case}）"),
            (Locale::ZhCn, false) => format!(" 扣 {amount} 积分{reason}，当前积分 {total}。（案件 #{case}）"),
            (Locale::En, true) => format!(" +{amount} points{reason}; {total} points in all. (case #{case})"),
            (Locale::En, false) => format!(" -{amount} points{reason}; {total} points in all. (case #{case})"),
        });
        msg
    })
}

/// Which leaderboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// This week (Monday to Sunday).
    Week,
    /// This month.
    Month,
}

/// The operator's texts for leaderboards (`[engagement] board_week_title`,
/// `board_month_title`, `board_row_template`, `board_empty_template`); empty = built-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoardTexts<'a> {
    /// The week's title.
    pub week_title: &'a str,
    /// The month's title.
    pub month_title: &'a str,
    /// One row: `{rank}`, `{name}`, `{points}`.
    pub row: &'a str,
    /// The whole board when nobody earned points: `{title}`.
    pub empty: &'a str,
}

/// A leaderboard: (name, user id, points), best first. The post is the title, then one row
/// per member.
#[must_use]
pub fn board(locale: Locale, texts: BoardTexts<'_>, which: Board, rows: &[(String, i64, i64)]) -> OutgoingMessage {
    let (custom_title, builtin_title) = match (locale, which) {
        (Locale::ZhCn, Board::Week) => (texts.week_title, "本周积分排行"),
        (Locale::ZhCn, Board::Month) => (texts.month_title, "本月积分排行"),
        (Locale::En, Board::Week) => (texts.week_title, "This week's points"),
        (Locale::En, Board::Month) => (texts.month_title, "This month's points"),
    };
    let title = custom_line(custom_title, &[], || builtin_title.to_owned());
    if rows.is_empty() {
        return custom_or(texts.empty, &[], &[("title", &title)], || {
            OutgoingMessage::text(match locale {
                Locale::ZhCn => format!("{title}：还没有人获得积分。"),
                Locale::En => format!("{title}: nobody has earned points yet."),
            })
        });
    }
    let mut out = match locale {
        Locale::ZhCn => format!("{title}："),
        Locale::En => format!("{title}:"),
    };
    for (i, (name, user_id, points)) in rows.iter().enumerate() {
        let (rank, who, points) = ((i + 1).to_string(), who(name, *user_id), points.to_string());
        let row = custom_line(
            texts.row,
            &[("rank", &rank), ("name", &who), ("points", &points)],
            || match locale {
                Locale::ZhCn => format!("{rank}. {who} {points} 分"),
                Locale::En => format!("{rank}. {who} {points}"),
            },
        );
        let _ = write!(out, "\n{row}");
    }
    OutgoingMessage::text(out)
}

/// The operator's texts for `/退出积分` (`[engagement] optout_template`, `optin_template`);
/// empty = built-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptoutTexts<'a> {
    /// The member is off the boards and alerts now: `{at}`, `{name}`.
    pub out: &'a str,
    /// The member is back on them: `{at}`, `{name}`.
    pub back: &'a str,
}

/// The answer to `/退出积分` from member `user_id` called `name`: out (`true`) or back in.
#[must_use]
pub fn opted_out(locale: Locale, texts: OptoutTexts<'_>, user_id: i64, name: &str, out: bool) -> OutgoingMessage {
    let template = if out { texts.out } else { texts.back };
    custom_or(template, &[(user_id, name)], &[("name", name)], || {
        OutgoingMessage::text(match (locale, out) {
            (Locale::ZhCn, true) => "已退出积分排行和提醒：你的积分会保留，但不再显示。再发一次 /退出积分 可恢复。",
            (Locale::ZhCn, false) => "已恢复积分排行和提醒。",
            (Locale::En, true) => {
                "You are off the boards and alerts: your points are kept but not shown. Send /optout again to come back."
            }
            (Locale::En, false) => "You are back on the boards and alerts.",
        })
    })
}

/// The tier alert to the admins: `silent` of `members` have been silent `days` days or more.
#[must_use]
pub fn tier_alert(locale: Locale, admins: &[(i64, &str)], silent: usize, members: usize, days: u32) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    for (i, (user_id, name)) in admins.iter().enumerate() {
        if i > 0 {
            msg.push_text(" ");
        }
        msg.push_mention(*user_id, *name);
    }
    let percent = silent * 100 / members.max(1);
    let space = if admins.is_empty() { "" } else { " " };
    msg.push_text(&match locale {
        Locale::ZhCn => format!(
            "{space}活跃度提醒：本群 {percent}% 的成员（{silent}/{members}）已经 {days} 天以上没有发言了，可以发起话题或活动，带动一下气氛。"
        ),
        Locale::En => format!(
            "{space}Activity alert: {percent}% of this group's members ({silent}/{members}) have not posted for {days} days or more. A topic or an event could wake the group up."
        ),
    });
    msg
}

/// A tier's name.
#[must_use]
pub fn tier_name(locale: Locale, tier: Tier) -> &'static str {
    match (locale, tier) {
        (Locale::ZhCn, Tier::Core) => "核心",
        (Locale::ZhCn, Tier::Active) => "活跃",
        (Locale::ZhCn, Tier::Lurking) => "潜水",
        (Locale::ZhCn, Tier::Dormant) => "沉睡",
        (Locale::En, Tier::Core) => "core",
        (Locale::En, Tier::Active) => "active",
        (Locale::En, Tier::Lurking) => "lurking",
        (Locale::En, Tier::Dormant) => "dormant",
    }
}

/// The tiers line of `/stats`: counts per tier and the change since a week ago, in the
/// operator's `template` (`[engagement] tiers_template`; empty = built-in). Placeholders:
/// `{core}`, `{active}`, `{lurking}`, `{dormant}` (each a count with its change, `12 (+3)`)
/// and `{tiers}` (the built-in list: `核心 12 (+3) · 活跃 30 · …`).
#[must_use]
pub fn tiers_line(locale: Locale, template: &str, counts: &[(Tier, usize, Option<i64>)]) -> String {
    let count = |(_, n, change): &(Tier, usize, Option<i64>)| {
        let change = match change {
            Some(c) if *c > 0 => format!(" (+{c})"),
            Some(c) if *c < 0 => format!(" ({c})"),
            _ => String::new(),
        };
        format!("{n}{change}")
    };
    let parts: Vec<String> = counts
        .iter()
        .map(|row| format!("{} {}", tier_name(locale, row.0), count(row)))
        .collect();
    let tiers = parts.join(" · ");
    let of = |tier: Tier| {
        counts
            .iter()
            .find(|row| row.0 == tier)
            .map_or_else(|| "0".to_owned(), count)
    };
    let (core, active, lurking, dormant) = (of(Tier::Core), of(Tier::Active), of(Tier::Lurking), of(Tier::Dormant));
    custom_line(
        template,
        &[
            ("core", &core),
            ("active", &active),
            ("lurking", &lurking),
            ("dormant", &dormant),
            ("tiers", &tiers),
        ],
        || match locale {
            Locale::ZhCn => format!("成员分层：{tiers}"),
            Locale::En => format!("Tiers: {tiers}"),
        },
    )
}

/// The operator's texts for `/问答` (`[engagement] faq_*`); empty = built-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaqTexts<'a> {
    /// `/问答 add` done: `{number}`, `{keyword}`.
    pub added: &'a str,
    /// `/问答 del` done: `{number}`.
    pub deleted: &'a str,
    /// `/问答 del` of a number the group does not have: `{number}`.
    pub missing: &'a str,
    /// `/问答 add` when the group has the most answers it may: `{max}`.
    pub full: &'a str,
    /// The first line of `/问答 list`.
    pub list_title: &'a str,
    /// One line of `/问答 list`: `{label}` (`#3` or `[id]`), `{keywords}`, `{answer}`.
    pub list_row: &'a str,
    /// `/问答 list` with no answers.
    pub list_empty: &'a str,
}

/// The answer to `/问答 add`.
#[must_use]
pub fn reply_added(locale: Locale, texts: FaqTexts<'_>, number: u64, keyword: &str) -> OutgoingMessage {
    custom_or(
        texts.added,
        &[],
        &[("number", &number.to_string()), ("keyword", keyword)],
        || {
            OutgoingMessage::text(match locale {
                Locale::ZhCn => format!("已添加关键词回复 #{number}：「{keyword}」。删除：/问答 del {number}"),
                Locale::En => {
                    format!("Keyword answer #{number} added: \"{keyword}\". Remove it with /faq del {number}")
                }
            })
        },
    )
}

/// The answer to `/问答 del`.
#[must_use]
pub fn reply_deleted(locale: Locale, texts: FaqTexts<'_>, number: u64, deleted: bool) -> OutgoingMessage {
    let template = if deleted { texts.deleted } else { texts.missing };
    custom_or(template, &[], &[("number", &number.to_string())], || {
        OutgoingMessage::text(match (locale, deleted) {
            (Locale::ZhCn, true) => format!("已删除关键词回复 #{number}。"),
            (Locale::ZhCn, false) => {
                format!("本群没有关键词回复 #{number}（rules/replies.toml 中的回复请在文件中修改）。")
            }
            (Locale::En, true) => format!("Keyword answer #{number} removed."),
            (Locale::En, false) => {
                format!(
                    "This group has no keyword answer #{number} (answers of rules/replies.toml are changed in the file)."
                )
            }
        })
    })
}

/// The answer to `/问答 add` when the group already has `max` answers.
#[must_use]
pub fn replies_full(locale: Locale, texts: FaqTexts<'_>, max: usize) -> OutgoingMessage {
    custom_or(texts.full, &[], &[("max", &max.to_string())], || {
        OutgoingMessage::text(match locale {
            Locale::ZhCn => format!("本群已有 {max} 条关键词回复，请先删除一些，或写入 rules/replies.toml。"),
            Locale::En => {
                format!("This group already has {max} keyword answers: remove some first, or use rules/replies.toml.")
            }
        })
    })
}

/// The answer to `/问答 list`: (label, keywords, answer), `#3` for answers added here and
/// `[id]` for those of `rules/replies.toml`.
#[must_use]
pub fn reply_list(locale: Locale, texts: FaqTexts<'_>, lines: &[(String, String, String)]) -> OutgoingMessage {
    if lines.is_empty() {
        return custom_or(texts.list_empty, &[], &[], || {
            OutgoingMessage::text(match locale {
                Locale::ZhCn => "本群还没有关键词回复。添加：/问答 add 关键词 回答",
                Locale::En => "No keyword answers in this group yet. Add one with /faq add <keyword> <answer>",
            })
        });
    }
    let mut out = custom_line(texts.list_title, &[], || {
        match locale {
            Locale::ZhCn => "关键词回复：",
            Locale::En => "Keyword answers:",
        }
        .to_owned()
    });
    for (label, keywords, answer) in lines {
        let row = custom_line(
            texts.list_row,
            &[("label", label), ("keywords", keywords), ("answer", answer)],
            || format!("{label} {keywords} → {answer}"),
        );
        let _ = write!(out, "\n{row}");
    }
    OutgoingMessage::text(out)
}
