//! The audit record: one case per moderation measure, automatic or manual, and who took it.

use serde::{Deserialize, Serialize};

use crate::domain::event::GroupId;

/// Who took an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The bot, on its own (filter, flood).
    Auto,
    /// An admin, by command.
    Admin {
        /// Their user id.
        user_id: i64,
        /// Their display name at the time.
        name: String,
    },
    /// An operator, through the web console or its JSON API.
    Console {
        /// The name they gave at login (`console` when none), or `api` for the API token.
        name: String,
        /// The client address the request came from.
        #[serde(default)]
        address: String,
    },
}

/// What was done to the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    /// A warning was posted.
    Warn,
    /// Muted for this long.
    Mute {
        /// Seconds.
        seconds: u64,
    },
    /// Removed; may re-join.
    Kick,
    /// Removed and refused re-joining.
    Ban,
    /// Only the message(s) were recalled.
    Recall,
    /// A mute was lifted.
    Unmute,
    /// Strikes were taken back.
    Pardon {
        /// How many strikes were removed.
        removed: u32,
    },
    /// A join request was approved (it held one of the configured answers).
    JoinApproved,
    /// A join request was rejected (the filter flagged its text).
    JoinRejected,
    /// An admin labelled a message (`/spam`, `/notspam`) and nothing else was done to the
    /// member: the message was already dealt with, or its strike had expired.
    Labeled {
        /// Labelled as spam (`/spam`) or as an ordinary message (`/notspam`).
        spam: bool,
    },
    /// Points were given (positive) or taken away (negative) by an admin (`/加分`, `/扣分`).
    Points {
        /// The change asked for.
        delta: i64,
    },
    /// A super user banned the member in every group of the instance (`/gban`); the kicks
    /// of the groups they were seen in went out with this case.
    GlobalBan,
    /// A super user lifted the member's instance-wide ban (`/ungban`).
    GlobalUnban,
}

/// What an admin's label (`/spam`, `/notspam`) taught the bot: the sample it became and the
/// learned spam samples it retired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Spam or ordinary.
    pub spam: bool,
    /// The sample recorded (see `qunguan samples list`).
    pub sample: u64,
    /// Learned spam samples retired by a `/notspam` (they matched the message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<u64>,
}

/// One audit case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The case number within the group (assigned by the store).
    pub case: u64,
    /// Where.
    pub group: GroupId,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The member acted on.
    pub user_id: i64,
    /// Their display name at the time, if known (at most `[limits] name_chars` characters).
    #[serde(default)]
    pub user_name: String,
    /// Who acted.
    pub actor: Actor,
    /// The rule (`ads`, `flood`, …), or `manual` for admin commands.
    pub rule: String,
    /// The admin's reason, if they gave one.
    #[serde(default)]
    pub reason: String,
    /// The matched spans, quoted from the original message text (at most `[limits]
    /// matched_spans` of them, each at most `matched_chars` characters).
    #[serde(default)]
    pub matched: Vec<String>,
    /// The start of the message text (at most `[limits] excerpt_chars` characters).
    #[serde(default)]
    pub excerpt: String,
    /// The message that caused the case.
    #[serde(default)]
    pub message_id: Option<i64>,
    /// Messages recalled by this case.
    #[serde(default)]
    pub recalled: Vec<i64>,
    /// Active strikes before the case.
    pub strikes_before: u32,
    /// Active strikes after it.
    pub strikes_after: u32,
    /// What was done.
    pub measure: Measure,
    /// Decided and recorded, but nothing was sent (dry run).
    pub dry_run: bool,
    /// The case that undid this one (console Undo), once it was undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone_by: Option<u64>,
    /// The case this one undid (a console Undo's own case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<u64>,
    /// The learned spam sample the message resembled (rule `learned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u64>,
    /// The admin's label, for `/spam` and `/notspam` cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// How the message was judged: the member's trust and the model's score, for cases the
    /// filter decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged: Option<Judged>,
    /// What the case did to the member's points beside its measure: negative, the points its
    /// strikes took (`[engagement] strike_penalty`); positive, the points a `/notspam`
    /// pardon gives back (recorded again as a case of its own, like `/加分`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// How a message was judged, as recorded in its case (for `/why`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The member was trusted (else new).
    pub trusted: bool,
    /// The model's spam probability, when the model ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

// Scores are probabilities from the model, never NaN, so equality is an equivalence.
impl Eq for Judged {}

impl AuditEntry {
    /// A case about `user_id` in `group` at `at_ms`; the store numbers it, the caller fills in
    /// the evidence (matched text, strikes …) that applies.
    #[must_use]
    pub fn new(
        group: GroupId,
        at_ms: i64,
        user_id: i64,
        actor: Actor,
        rule: impl Into<String>,
        measure: Measure,
    ) -> Self {
        Self {
            case: 0,
            group,
            at_ms,
            user_id,
            user_name: String::new(),
            actor,
            rule: rule.into(),
            reason: String::new(),
            matched: Vec::new(),
            excerpt: String::new(),
            message_id: None,
            recalled: Vec::new(),
            strikes_before: 0,
            strikes_after: 0,
            measure,
            dry_run: false,
            undone_by: None,
            undoes: None,
            sample: None,
            label: None,
            judged: None,
            points: 0,
        }
    }
}

/// How much of a text [`excerpt`] keeps: the default of `[limits] excerpt_chars`.
pub const EXCERPT_CHARS: usize = 200;

/// The first [`EXCERPT_CHARS`] characters of `text`, with `…` when cut (for texts whose
/// configured cap is not at hand; stored excerpts use `[limits] excerpt_chars`).
#[must_use]
pub fn excerpt(text: &str) -> String {
    crate::domain::text::cap(text, EXCERPT_CHARS).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_character_boundaries() {
        assert_eq!(excerpt("短消息"), "短消息");
        let long = "广".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
