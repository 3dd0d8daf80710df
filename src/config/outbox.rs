//! `[outbox]`: delivery of actions — concurrency, the send governor, age limits.

use serde::Deserialize;

use crate::domain::action::ActionKind;
use crate::domain::duration::HumanDuration;

/// `[outbox]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Gateway calls in flight at once, each for a different group (a group's own calls are
    /// made one at a time, in order). Generous on purpose: a gateway that holds calls until
    /// they time out would otherwise tie up every slot and stall the healthy groups too.
    pub concurrency: usize,
    /// The bot's own messages per minute in one group; 0 = the platform's default (QQ and
    /// Telegram: 20). Moderation actions (recall, mute, kick) are not paced.
    pub sends_per_minute_per_group: u32,
    /// The bot's own messages per second over all groups of one bot account; 0 = the
    /// platform's default (QQ: 5, Telegram: 30).
    pub sends_per_second_total: u32,
    /// Undelivered actions older than this are given up, per kind: moderation actions as dead
    /// letters; the bot's own messages are only counted unless `keep_stale_messages`.
    pub max_age: MaxAgeSettings,
    /// Keep the bot's own messages (warnings, welcomes, replies) given up unsent because
    /// their group's queue was full (`[limits] outbox_messages_per_group`) or they outgrew
    /// `[outbox.max_age] send` as dead letters. Off by default: such a message is pointless
    /// to send late, so it is counted (`qunguan_actions_total{result="dropped"}`), logged
    /// and removed, and costs no record. Refused or failed messages are dead letters either way.
    #[serde(deserialize_with = "super::strict::bool")]
    pub keep_stale_messages: bool,
    /// Recalls sent as soon as they are decided, before their record is on disk, at most
    /// this many at once (and two per group) until their record is; 0 = off: every recall
    /// waits for its record's flush. A recall is idempotent, so the cost is at most a second
    /// recall of the same message after a crash or a full disk.
    pub early_recalls: usize,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            sends_per_minute_per_group: 0,
            sends_per_second_total: 0,
            max_age: MaxAgeSettings::default(),
            keep_stale_messages: false,
            early_recalls: 256,
        }
    }
}

/// `[outbox.max_age]`: how late each kind of action may still be delivered; `0s` = no limit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAgeSettings {
    /// The bot's messages (warnings, welcomes, replies): pointless when late.
    pub send: HumanDuration,
    /// Recalls.
    pub recall: HumanDuration,
    /// Mutes.
    pub mute: HumanDuration,
    /// Unmutes.
    pub unmute: HumanDuration,
    /// Kicks and bans.
    pub kick: HumanDuration,
    /// Answers to join requests.
    pub answer_join_request: HumanDuration,
}

impl Default for MaxAgeSettings {
    fn default() -> Self {
        Self {
            send: HumanDuration::from_secs(600),
            recall: HumanDuration::from_secs(0),
            mute: HumanDuration::from_secs(0),
            unmute: HumanDuration::from_secs(0),
            kick: HumanDuration::from_secs(0),
            answer_join_request: HumanDuration::from_secs(0),
        }
    }
}

/// How long an acknowledgement of a button press is worth sending (Telegram refuses answers
/// to old presses).
pub const ANSWER_BUTTON_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

impl MaxAgeSettings {
    /// The age limit of `kind`, if it has one.
    #[must_use]
    pub fn of(&self, kind: ActionKind) -> Option<std::time::Duration> {
        let limit = match kind {
            ActionKind::Send => self.send,
            ActionKind::Recall => self.recall,
            ActionKind::Mute => self.mute,
            ActionKind::Unmute => self.unmute,
            ActionKind::Kick => self.kick,
            ActionKind::AnswerJoinRequest => self.answer_join_request,
            // Telegram takes the answer to a press only shortly after it; later it is noise.
            ActionKind::AnswerButton => return Some(ANSWER_BUTTON_MAX_AGE),
            // Letting a member back in is never pointless, however late.
            ActionKind::Unban => return None,
        };
        (limit.as_secs() > 0).then(|| limit.get())
    }
}
