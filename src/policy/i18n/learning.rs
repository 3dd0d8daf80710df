//! Texts of learning from admins (issue 12): the reason of a `learned` violation, the answers
//! to `/spam`, `/notspam` and `/review`, and what `/why` adds about samples.

use crate::domain::action::OutgoingMessage;
use crate::domain::audit::Measure;
use crate::domain::locale::Locale;

use super::{duration, manual_action};
use crate::policy::filter::ThresholdKind;

/// The reason recorded and shown for a `/spam`.
#[must_use]
pub fn spam_reason(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "管理员标记为广告",
        Locale::En => "marked as spam by an admin",
    }
}

/// The reason recorded for a `/notspam` of case `case`.
#[must_use]
pub fn not_spam_reason(locale: Locale, case: Option<u64>) -> String {
    match (locale, case) {
        (Locale::ZhCn, Some(case)) => format!("误判：案件 #{case}"),
        (Locale::ZhCn, None) => "管理员标记为正常消息".to_owned(),
        (Locale::En, Some(case)) => format!("not spam: case #{case}"),
        (Locale::En, None) => "marked as not spam by an admin".to_owned(),
    }
}

/// The reason of the case that gives a member back the points a strike of case `case` took,
/// when `/notspam` pardons it.
#[must_use]
pub fn points_refund_reason(locale: Locale, case: u64) -> String {
    match locale {
        Locale::ZhCn => format!("误判退还：案件 #{case} 的警告扣除的积分"),
        Locale::En => format!("not spam: the points case #{case}'s strike took, given back"),
    }
}

/// Answers to `/spam` and `/notspam` that change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelReply {
    /// The message replied to is not among the recent messages the bot keeps.
    UnknownMessage {
        /// How long messages are kept, in seconds.
        window_secs: u64,
    },
    /// The message has no text to learn from (an image, a sticker).
    NoText,
    /// The case is about no message (`/warn`, `/kick` …).
    CaseWithoutMessage(u64),
}

/// The text of a [`LabelReply`].
#[must_use]
pub fn label_reply(locale: Locale, reply: LabelReply) -> OutgoingMessage {
    OutgoingMessage::text(match (locale, reply) {
        (Locale::ZhCn, LabelReply::UnknownMessage { window_secs }) => format!(
            "找不到这条消息：机器人只记得最近{}内的消息。已处理的消息可以用 /notspam <案件号>。",
            duration(locale, window_secs)
        ),
        (Locale::ZhCn, LabelReply::NoText) => "这条消息没有可以学习的文字。".to_owned(),
        (Locale::ZhCn, LabelReply::CaseWithoutMessage(case)) => {
            format!("案件 #{case} 不涉及消息，无法标记；撤销警告请用 /pardon。")
        }
        (Locale::En, LabelReply::UnknownMessage { window_secs }) => format!(
            "I cannot find that message: I only keep the messages of the last {}. For a handled message use /notspam <case>.",
            duration(locale, window_secs)
        ),
        (Locale::En, LabelReply::NoText) => "That message has no text to learn from.".to_owned(),
        (Locale::En, LabelReply::CaseWithoutMessage(case)) => {
            format!("Case #{case} is not about a message; to take back a strike use /pardon.")
        }
    })
}

/// The answer to `/spam`: what was done to the member (as for `/warn`; `count` is the
/// strikes shown, `None` when no strike was given) and the sample learned. `earlier` is the
/// case that had already dealt with the message, if one had.
#[must_use]
pub fn spam_labelled(
    locale: Locale,
    user_id: i64,
    measure: Measure,
    count: Option<(u32, u32)>,
    case: u64,
    sample: u64,
    earlier: Option<u64>,
) -> OutgoingMessage {
    let mut msg = match (earlier, count) {
        (Some(earlier), _) => {
            let mut msg = OutgoingMessage::default();
            msg.push_mention(user_id, "");
            msg.push_text(match locale {
                Locale::ZhCn => format!(" 的这条消息已在案件 #{earlier} 处理。（案件 #{case}）"),
                Locale::En => format!("'s message was already dealt with in case #{earlier}. (case #{case})"),
            });
            msg
        }
        (None, Some(_)) => manual_action(locale, user_id, measure, spam_reason(locale), count, case),
        (None, None) => {
            let mut msg = OutgoingMessage::default();
            msg.push_mention(user_id, "");
            msg.push_text(match locale {
                Locale::ZhCn => format!(" 的消息已标记为广告。（案件 #{case}）"),
                Locale::En => format!("'s message was marked as spam. (case #{case})"),
            });
            msg
        }
    };
    msg.push_text(match locale {
        Locale::ZhCn => format!("\n已记为广告样本 #{sample}：相似的消息在本实例的所有群都会被自动处理。"),
        Locale::En => format!("\nLearned as spam sample #{sample}: similar messages are now handled in every group."),
    });
    msg
}

/// What a `/notspam` did, for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotSpamDone {
    /// The member.
    pub user_id: i64,
    /// The case it undid, if it was about one.
    pub of_case: Option<u64>,
    /// Strikes taken back.
    pub removed: u32,
    /// Strikes left, and the ladder's length.
    pub left: (u32, u32),
    /// A mute of that case was lifted.
    pub unmuted: bool,
    /// The ham sample recorded.
    pub sample: u64,
    /// Learned spam samples retired.
    pub retired: usize,
    /// The case of the label itself.
    pub case: u64,
    /// Points given back (what the pardoned strikes took; 0: none).
    pub points_back: i64,
}

/// The answer to `/notspam`.
#[must_use]
pub fn not_spam_done(locale: Locale, done: &NotSpamDone) -> OutgoingMessage {
    let mut msg = OutgoingMessage::default();
    msg.push_mention(done.user_id, "");
    let (left, limit) = done.left;
    let mut text = match (locale, done.of_case, done.removed) {
        (Locale::ZhCn, Some(of), 0) => format!(" 案件 #{of} 是误判；没有需要撤销的有效警告。"),
        (Locale::ZhCn, Some(of), n) => format!(" 案件 #{of} 是误判：已撤销 {n} 次警告，当前 {left}/{limit} 次。"),
        (Locale::ZhCn, None, _) => " 的消息已标记为正常消息。".to_owned(),
        (Locale::En, Some(of), 0) => format!(" case #{of} was a mistake; no active strike to take back."),
        (Locale::En, Some(of), n) => {
            format!(" case #{of} was a mistake: {n} strike(s) taken back; now {left}/{limit}.")
        }
        (Locale::En, None, _) => "'s message was marked as not spam.".to_owned(),
    };
    if done.unmuted {
        text.push_str(match locale {
            Locale::ZhCn => "已解除禁言。",
            Locale::En => " The mute is lifted.",
        });
    }
    if done.points_back > 0 {
        text.push_str(&match locale {
            Locale::ZhCn => format!("已退还 {} 积分。", done.points_back),
            Locale::En => format!(" {} points given back.", done.points_back),
        });
    }
    text.push_str(&match (locale, done.retired) {
        (Locale::ZhCn, 0) => format!("\n已记为正常消息样本 #{}。（案件 #{}）", done.sample, done.case),
        (Locale::ZhCn, n) => format!(
            "\n已记为正常消息样本 #{}，并停用 {n} 个与之相似的广告样本。（案件 #{}）",
            done.sample, done.case
        ),
        (Locale::En, 0) => format!("\nLearned as ordinary sample #{}. (case #{})", done.sample, done.case),
        (Locale::En, n) => format!(
            "\nLearned as ordinary sample #{}; {n} similar spam sample(s) retired. (case #{})",
            done.sample, done.case
        ),
    });
    msg.push_text(text);
    msg
}

/// A line of `/why` about the learned sample a case concerns: `#id` and its masked template.
#[must_use]
pub fn case_sample(locale: Locale, id: u64, masked: Option<&str>, labelled: Option<bool>) -> String {
    let template = masked.map(|m| format!("「{}」", excerpt_of(m))).unwrap_or_default();
    match (locale, labelled) {
        (Locale::ZhCn, None) => format!("相似样本：#{id}{template}"),
        (Locale::ZhCn, Some(true)) => format!("记为广告样本：#{id}{template}"),
        (Locale::ZhCn, Some(false)) => format!("记为正常消息样本：#{id}{template}"),
        (Locale::En, None) => format!("Similar sample: #{id}{template}"),
        (Locale::En, Some(true)) => format!("Learned as spam sample: #{id}{template}"),
        (Locale::En, Some(false)) => format!("Learned as ordinary sample: #{id}{template}"),
    }
}

fn excerpt_of(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// One message on the review list, for `/review`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewLine {
    /// The member.
    pub user_id: i64,
    /// Their display name.
    pub name: String,
    /// How long ago, in seconds.
    pub age_secs: u64,
    /// The model's spam probability, if it scored the message.
    pub score: Option<f32>,
    /// The start of the message.
    pub excerpt: String,
}

/// The answer to `/review`: no mentions (a list must not ping everyone on it).
#[must_use]
pub fn review_list(locale: Locale, lines: &[ReviewLine]) -> OutgoingMessage {
    use std::fmt::Write as _;
    if lines.is_empty() {
        return OutgoingMessage::text(match locale {
            Locale::ZhCn => "没有待复核的消息。",
            Locale::En => "Nothing to review.",
        });
    }
    let mut out = match locale {
        Locale::ZhCn => "待复核：老成员的这些消息模型认为像广告，但未处理。是广告就回复原消息 /spam：".to_owned(),
        Locale::En => {
            "To review: the model took these messages of trusted members for spam, and nothing was done. Reply /spam to one that is:"
                .to_owned()
        }
    };
    for (i, line) in lines.iter().enumerate() {
        let who = if line.name.is_empty() {
            line.user_id.to_string()
        } else {
            format!("{} ({})", line.name, line.user_id)
        };
        let ago = duration(locale, line.age_secs);
        let pct = line
            .score
            .map_or_else(String::new, |s| format!("{}%", (s * 100.0).round()));
        let n = i + 1;
        let _ = match locale {
            Locale::ZhCn => write!(out, "\n{n}. {who}，{ago}前 {pct}：{}", line.excerpt),
            Locale::En => write!(out, "\n{n}. {who}, {ago} ago {pct}: {}", line.excerpt),
        };
    }
    OutgoingMessage::text(out)
}

/// Lines `/why` adds about the model's view of a case's message: the score (as recorded when
/// the case was decided, else as the model sees the message now), the threshold in force
/// for the member's trust, and the features that weighed most (a linear model is additive:
/// each adds its weight to the log-odds).
#[must_use]
pub fn case_model(
    locale: Locale,
    score: f32,
    trusted: bool,
    threshold: Option<(ThresholdKind, f32)>,
    features: &[(String, f32)],
) -> Vec<String> {
    let pct = |p: f32| format!("{}%", (p * 100.0).round());
    let who = match (locale, trusted) {
        (Locale::ZhCn, true) => "老成员",
        (Locale::ZhCn, false) => "新成员",
        (Locale::En, true) => "a trusted member",
        (Locale::En, false) => "a new member",
    };
    let mut lines = vec![match (locale, threshold) {
        (Locale::ZhCn, Some((ThresholdKind::Veto, t))) => {
            format!("模型评分：{}（{who}；规则命中，低于 {} 时放行）", pct(score), pct(t))
        }
        (Locale::ZhCn, Some((ThresholdKind::Act, t))) => {
            format!("模型评分：{}（{who}；达到 {} 时处理）", pct(score), pct(t))
        }
        (Locale::ZhCn, Some((ThresholdKind::Review, t))) => {
            format!("模型评分：{}（{who}；达到 {} 时只记入复核）", pct(score), pct(t))
        }
        (Locale::ZhCn, None) => format!("模型评分：{}（{who}）", pct(score)),
        (Locale::En, Some((ThresholdKind::Veto, t))) => format!(
            "Model score: {} ({who}; a rule hit, let through below {})",
            pct(score),
            pct(t)
        ),
        (Locale::En, Some((ThresholdKind::Act, t))) => {
            format!("Model score: {} ({who}; acts at {})", pct(score), pct(t))
        }
        (Locale::En, Some((ThresholdKind::Review, t))) => {
            format!("Model score: {} ({who}; reviewed at {})", pct(score), pct(t))
        }
        (Locale::En, None) => format!("Model score: {} ({who})", pct(score)),
    }];
    if !features.is_empty() {
        let list: Vec<String> = features
            .iter()
            .map(|(name, weight)| format!("「{name}」{weight:+.2}"))
            .collect();
        lines.push(match locale {
            Locale::ZhCn => format!("主要特征：{}", list.join(" ")),
            Locale::En => format!("Top features: {}", list.join(" ")),
        });
    }
    lines
}
