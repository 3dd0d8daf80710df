//! The platform-neutral actions the bot takes, and what each platform can do.
//!
//! The pipeline decides in terms of [`Action`]; the outbox stores them; gateway clients
//! translate them to API calls. A platform that lacks a capability (WeChat has no per-member
//! mute, for example) declares it in [`Capabilities`] and the ladder falls back before an
//! action is ever stored.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::account::AccountId;
use crate::domain::event::{GroupId, Platform};

/// One piece of a message the bot sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text, sent as is (never interpreted as markup or CQ codes).
    Text {
        /// The text.
        text: String,
    },
    /// A real mention that notifies the member.
    Mention {
        /// Who.
        user_id: i64,
        /// Their display name, for platforms that render mentions as links.
        name: String,
    },
}

/// A message the bot sends: text with real mentions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// The parts in order.
    pub parts: Vec<Part>,
    /// Buttons under the message (Telegram inline buttons; platforms without them send the
    /// text alone). Pressing one is an [`crate::domain::event::EventKind::ButtonPressed`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// A button under a message: what it says, and what its press reports (at most 64 bytes,
/// Telegram's limit for callback data; never shown to members).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// The label.
    pub text: String,
    /// What a press reports.
    pub data: String,
}

impl OutgoingMessage {
    /// A message of plain text.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        let mut msg = Self::default();
        msg.push_text(text);
        msg
    }

    /// Appends text, merging with a preceding text part.
    pub fn push_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        if text.is_empty() {
            return;
        }
        if let Some(Part::Text { text: last }) = self.parts.last_mut() {
            last.push_str(&text);
        } else {
            self.parts.push(Part::Text { text });
        }
    }

    /// Appends a mention.
    pub fn push_mention(&mut self, user_id: i64, name: impl Into<String>) {
        self.parts.push(Part::Mention {
            user_id,
            name: name.into(),
        });
    }

    /// The message as plain text, mentions written `@name` (for logs, the audit log and
    /// the demo).
    #[must_use]
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text { text } => out.push_str(text),
                Part::Mention { name, user_id } if name.is_empty() => {
                    out.push_str(&format!("@{user_id}"));
                }
                Part::Mention { name, .. } => {
                    out.push('@');
                    out.push_str(name);
                }
            }
        }
        out
    }
}

/// Something the bot does in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Post a message.
    Send {
        /// Where.
        group: GroupId,
        /// What.
        message: OutgoingMessage,
        /// Quote this message, if set.
        reply_to: Option<i64>,
    },
    /// Recall (delete) a message.
    Recall {
        /// Where.
        group: GroupId,
        /// Which message.
        message_id: i64,
    },
    /// Mute a member for a time.
    Mute {
        /// Where.
        group: GroupId,
        /// Who.
        user_id: i64,
        /// For how long, in seconds (at least 1).
        seconds: u64,
    },
    /// Lift a mute.
    Unmute {
        /// Where.
        group: GroupId,
        /// Who.
        user_id: i64,
    },
    /// Remove a member.
    Kick {
        /// Where.
        group: GroupId,
        /// Who.
        user_id: i64,
        /// Also refuse their future join requests (a ban).
        ban: bool,
    },
    /// Approve or reject a join request.
    AnswerJoinRequest {
        /// Where.
        group: GroupId,
        /// The applicant.
        user_id: i64,
        /// The platform's opaque request handle (OneBot `flag`).
        handle: String,
        /// Approve (true) or reject.
        approve: bool,
        /// Reason shown to a rejected applicant.
        reason: String,
    },
    /// Lift a removal that the platform keeps as a ban (Telegram `unbanChatMember`, only if
    /// the member is banned there), so the member may join again: a lifted global ban
    /// (`/ungban`). QQ has no call to undo a refusal of re-joining, so qunguan never leaves
    /// one behind for a global ban there.
    Unban {
        /// Where.
        group: GroupId,
        /// Who.
        user_id: i64,
    },
    /// Acknowledge a press of a button under one of the bot's messages (Telegram
    /// `answerCallbackQuery`): the member's client stops its progress indicator and shows
    /// `text`, if any, as a short notice.
    AnswerButton {
        /// Where the message with the button is.
        group: GroupId,
        /// The press's id ([`crate::domain::event::ButtonPress::query_id`]).
        query_id: String,
        /// A short notice for the member who pressed; empty = none.
        text: String,
        /// The bot the press reached (its user id), the only one that can answer it: with
        /// several bots it need not be the one that keeps the chat. 0 = the chat's keeper
        /// (an acknowledgement stored before bots were told apart).
        #[serde(default)]
        bot: i64,
    },
}

/// The kind of an [`Action`], for metrics, priorities and per-kind policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// [`Action::Send`]
    Send,
    /// [`Action::Recall`]
    Recall,
    /// [`Action::Mute`]
    Mute,
    /// [`Action::Unmute`]
    Unmute,
    /// [`Action::Kick`]
    Kick,
    /// [`Action::AnswerJoinRequest`]
    AnswerJoinRequest,
    /// [`Action::AnswerButton`]
    AnswerButton,
    /// [`Action::Unban`]
    Unban,
}

impl ActionKind {
    /// Stable lower-case name, used in logs and metrics labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Recall => "recall",
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Kick => "kick",
            Self::AnswerJoinRequest => "answer_join_request",
            Self::AnswerButton => "answer_button",
            Self::Unban => "unban",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// The group the action happens in.
    #[must_use]
    pub fn group(&self) -> GroupId {
        match self {
            Self::Send { group, .. }
            | Self::Recall { group, .. }
            | Self::Mute { group, .. }
            | Self::Unmute { group, .. }
            | Self::Kick { group, .. }
            | Self::AnswerJoinRequest { group, .. }
            | Self::AnswerButton { group, .. }
            | Self::Unban { group, .. } => *group,
        }
    }

    /// The account the action must leave through, when it is not the group's keeper: a
    /// button press is answered by the bot that received it, since its id is that bot's.
    #[must_use]
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Self::AnswerButton { group, bot, .. } if *bot != 0 => Some(AccountId {
                platform: group.platform,
                id: *bot,
            }),
            _ => None,
        }
    }

    /// The action's kind.
    #[must_use]
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Send { .. } => ActionKind::Send,
            Self::Recall { .. } => ActionKind::Recall,
            Self::Mute { .. } => ActionKind::Mute,
            Self::Unmute { .. } => ActionKind::Unmute,
            Self::Kick { .. } => ActionKind::Kick,
            Self::AnswerJoinRequest { .. } => ActionKind::AnswerJoinRequest,
            Self::AnswerButton { .. } => ActionKind::AnswerButton,
            Self::Unban { .. } => ActionKind::Unban,
        }
    }
}

/// QQ refuses mutes of 30 days or more.
pub const MAX_MUTE_SECS: u64 = 30 * 86_400 - 1;

/// Telegram accepts mutes up to 366 days; longer ones (and shorter than 30 s) mean forever.
pub const TELEGRAM_MAX_MUTE_SECS: u64 = 366 * 86_400;

/// Supergroup and channel ids are −10¹² minus the channel number (the `-100` prefix); basic
/// group ids are above this.
const TELEGRAM_SUPERGROUP_ID_BELOW: i64 = -1_000_000_000_000;

/// What a platform's gateway can do. The pipeline consults it before deciding, so an
/// impossible action is replaced by the nearest possible one instead of failing later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Can mute one member for a time.
    pub mute: bool,
    /// Can recall other members' messages.
    pub recall: bool,
    /// Can remove members.
    pub kick: bool,
    /// Can refuse a removed member's future join requests.
    pub ban: bool,
    /// Can lift that refusal again ([`Action::Unban`]). QQ cannot: OneBot v11 has no call
    /// to undo `reject_add_request`.
    pub unban: bool,
    /// Can answer join requests.
    pub join_requests: bool,
    /// Longest mute the platform accepts, in seconds.
    pub max_mute_secs: u64,
    /// Default pace of the bot's own messages in one group (per minute); the send governor
    /// uses it unless the configuration says otherwise.
    pub sends_per_minute_per_group: u32,
    /// Default pace of the bot's own messages over all groups of one bot account (per second).
    pub sends_per_second_total: u32,
}

impl Capabilities {
    /// Everything a OneBot v11 (QQ) gateway offers.
    pub const ONEBOT: Self = Self {
        mute: true,
        recall: true,
        kick: true,
        ban: true,
        unban: false,
        join_requests: true,
        max_mute_secs: MAX_MUTE_SECS,
        // QQ publishes no limits; bursts get accounts risk-controlled (风控). Conservative.
        sends_per_minute_per_group: 20,
        sends_per_second_total: 5,
    };

    /// What the Telegram Bot API offers in a supergroup, the bot being an admin with the
    /// delete, restrict and invite rights. Basic groups cannot mute; see
    /// [`Capabilities::of`].
    pub const TELEGRAM: Self = Self {
        mute: true,
        recall: true,
        kick: true,
        ban: true,
        unban: true,
        join_requests: true,
        max_mute_secs: TELEGRAM_MAX_MUTE_SECS,
        // The Bot FAQ: no more than 20 messages a minute in one group, about 30 a second overall.
        sends_per_minute_per_group: 20,
        sends_per_second_total: 30,
    };

    /// What `platform` can do.
    #[must_use]
    pub fn of_platform(platform: Platform) -> Self {
        match platform {
            Platform::Qq => Self::ONEBOT,
            Platform::Telegram => Self::TELEGRAM,
        }
    }

    /// What can be done in `group` in particular: its platform's capabilities, less what
    /// that kind of group lacks. Telegram mutes (`restrictChatMember`) work only in
    /// supergroups, whose ids are `-100…` (below −10¹²); a basic group falls back to warnings.
    #[must_use]
    pub fn of(group: GroupId) -> Self {
        let mut caps = Self::of_platform(group.platform);
        if group.platform == Platform::Telegram && group.id > TELEGRAM_SUPERGROUP_ID_BELOW {
            caps.mute = false;
        }
        caps
    }
}
