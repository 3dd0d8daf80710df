//! The parts of Bot API objects qunguan reads, as serde types.
//!
//! Only the fields the adapter uses are declared; everything else in an update (photos,
//! stickers, reply markup, fields added by future Bot API versions) is skipped by serde
//! without being stored. Fields that are optional in the API are `Option` or defaulted, so a
//! shape the adapter does not know yet still parses.

use serde::Deserialize;

/// One update: `update_id` plus (at most) one of the kinds qunguan asks for in
/// `allowed_updates`. Kinds not declared here are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct Update {
    /// Sequential id; the dedup key and the polling offset.
    pub update_id: i64,
    /// A new message (text, caption, service message).
    #[serde(default)]
    pub message: Option<Message>,
    /// A message was edited.
    #[serde(default)]
    pub edited_message: Option<Message>,
    /// A member's status changed (join, leave, promotion, restriction). Delivered only when
    /// requested in `allowed_updates` and the bot is an admin.
    #[serde(default)]
    pub chat_member: Option<ChatMemberUpdated>,
    /// The bot's own status changed in a chat.
    #[serde(default)]
    pub my_chat_member: Option<ChatMemberUpdated>,
    /// Someone asks to join through an approval link.
    #[serde(default)]
    pub chat_join_request: Option<ChatJoinRequest>,
    /// Someone pressed an inline button under one of the bot's messages.
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// A press of an inline button.
#[derive(Clone, Debug, Deserialize)]
pub struct CallbackQuery {
    /// The query's id, to answer it with `answerCallbackQuery`.
    #[serde(default)]
    pub id: String,
    /// Who pressed.
    pub from: User,
    /// The message the button is under (absent for inline-mode messages and messages too old
    /// to be delivered).
    #[serde(default)]
    pub message: Option<CallbackMessage>,
    /// The button's data.
    #[serde(default)]
    pub data: Option<String>,
}

/// The message of a [`CallbackQuery`]: only where it is.
#[derive(Clone, Debug, Deserialize)]
pub struct CallbackMessage {
    /// Its chat.
    pub chat: Chat,
}

/// A Telegram user (or bot).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct User {
    /// User id (positive, up to 52 bits).
    pub id: i64,
    /// True for bots.
    #[serde(default)]
    pub is_bot: bool,
    /// First name (always set for users).
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// @username without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

impl User {
    /// "First Last", or the username, or the id: what a member sees as the name.
    #[must_use]
    pub fn display_name(&self) -> String {
        let mut name = self.first_name.trim().to_owned();
        if let Some(last) = self.last_name.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            if !name.is_empty() {
                name.push(' ');
            }
            name.push_str(last);
        }
        if name.is_empty() {
            name = self.username.clone().unwrap_or_else(|| self.id.to_string());
        }
        name
    }
}

/// A chat.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Chat {
    /// Chat id: negative for groups, `-100…` for supergroups and channels.
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Title of groups and channels.
    #[serde(default)]
    pub title: Option<String>,
}

impl Chat {
    /// Groups and supergroups: the chats qunguan moderates.
    #[must_use]
    pub fn is_group(&self) -> bool {
        matches!(self.kind.as_str(), "group" | "supergroup")
    }
}

/// A message (or an edit of one).
#[derive(Clone, Debug, Deserialize)]
pub struct Message {
    /// Unique within the chat.
    pub message_id: i64,
    /// The sender; a placeholder (`GroupAnonymousBot`, `Channel_Bot`, `Telegram`) when
    /// `sender_chat` is set.
    #[serde(default)]
    pub from: Option<User>,
    /// Set when the message was sent on behalf of a chat: the group itself (an anonymous
    /// admin), its linked channel, or a channel a user posts as.
    #[serde(default)]
    pub sender_chat: Option<Chat>,
    /// Where it was posted.
    pub chat: Chat,
    /// Unix seconds.
    #[serde(default)]
    pub date: i64,
    /// A post of the linked channel forwarded into its discussion group automatically.
    #[serde(default)]
    pub is_automatic_forward: bool,
    /// Signature of an anonymous admin.
    #[serde(default)]
    pub author_signature: Option<String>,
    /// The text of a text message.
    #[serde(default)]
    pub text: Option<String>,
    /// Entities of `text`.
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    /// The caption of a photo, video, document …
    #[serde(default)]
    pub caption: Option<String>,
    /// Entities of `caption`.
    #[serde(default)]
    pub caption_entities: Vec<MessageEntity>,
    /// The forum topic of a message in a forum supergroup.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// True for a message in a forum topic.
    #[serde(default)]
    pub is_topic_message: bool,
    /// The message this one replies to (its id is all qunguan needs). In a forum topic a
    /// message that replies to nothing carries the topic's first message here.
    #[serde(default)]
    pub reply_to_message: Option<Box<RepliedMessage>>,
    /// A photo (only its presence matters).
    #[serde(default)]
    pub photo: Option<serde::de::IgnoredAny>,
    /// Members added (service message).
    #[serde(default)]
    pub new_chat_members: Vec<User>,
    /// A member removed or gone (service message).
    #[serde(default)]
    pub left_chat_member: Option<User>,
    /// The group was upgraded to this supergroup (service message in the old group).
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
}

/// The replied-to message; only its id and sender are read.
#[derive(Clone, Debug, Deserialize)]
pub struct RepliedMessage {
    /// Its id.
    pub message_id: i64,
    /// Its sender.
    #[serde(default)]
    pub from: Option<User>,
}

/// A span of special text. `offset` and `length` count UTF-16 code units.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MessageEntity {
    /// `mention`, `url`, `text_link`, `text_mention`, `bot_command`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Start, in UTF-16 code units.
    pub offset: usize,
    /// Length, in UTF-16 code units.
    pub length: usize,
    /// The hidden target of a `text_link`.
    #[serde(default)]
    pub url: Option<String>,
    /// The user of a `text_mention`.
    #[serde(default)]
    pub user: Option<User>,
}

/// A member's status in a chat (`ChatMember`, tagged by `status`).
#[derive(Clone, Debug, Deserialize)]
pub struct ChatMember {
    /// `creator`, `administrator`, `member`, `restricted`, `left` or `kicked`.
    pub status: String,
    /// The member.
    pub user: User,
    /// For `restricted`: whether they are still in the chat.
    #[serde(default)]
    pub is_member: Option<bool>,
    /// For the bot's own `administrator` status: may it delete messages.
    #[serde(default)]
    pub can_delete_messages: Option<bool>,
    /// … restrict, ban and unban members.
    #[serde(default)]
    pub can_restrict_members: Option<bool>,
    /// … approve join requests.
    #[serde(default)]
    pub can_invite_users: Option<bool>,
}

impl ChatMember {
    /// Whether this status means "in the chat".
    #[must_use]
    pub fn is_present(&self) -> bool {
        match self.status.as_str() {
            "creator" | "administrator" | "member" => true,
            "restricted" => self.is_member.unwrap_or(true),
            _ => false,
        }
    }
}

/// A change of someone's membership.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatMemberUpdated {
    /// The chat.
    pub chat: Chat,
    /// Who made the change (the member themselves for a join by link).
    pub from: User,
    /// Unix seconds.
    #[serde(default)]
    pub date: i64,
    /// Before.
    pub old_chat_member: ChatMember,
    /// After.
    pub new_chat_member: ChatMember,
}

/// A request to join through an approval link.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatJoinRequest {
    /// The chat.
    pub chat: Chat,
    /// The applicant.
    pub from: User,
    /// Unix seconds.
    #[serde(default)]
    pub date: i64,
    /// The applicant's bio.
    #[serde(default)]
    pub bio: Option<String>,
}

/// The envelope of every API answer.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Success.
    pub ok: bool,
    /// The result, on success.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// The error code (equals the HTTP status), on failure.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// What went wrong, for logs.
    #[serde(default)]
    pub description: Option<String>,
    /// Machine-readable details of a failure.
    #[serde(default)]
    pub parameters: Option<ResponseParameters>,
}

/// `ResponseParameters`.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseParameters {
    /// Seconds to wait before repeating the call (with 429).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// The group became this supergroup.
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_fall_back_to_username_and_id() {
        let user = |first: &str, last: Option<&str>, username: Option<&str>| User {
            id: 7,
            is_bot: false,
            first_name: first.into(),
            last_name: last.map(Into::into),
            username: username.map(Into::into),
        };
        assert_eq!(user("Crypto", Some("Signals"), None).display_name(), "Crypto Signals");
        assert_eq!(user("小雨", None, Some("xy")).display_name(), "小雨");
        assert_eq!(user(" ", Some(""), Some("xy")).display_name(), "xy");
        assert_eq!(user("", None, None).display_name(), "7");
    }

    #[test]
    fn presence_follows_the_status() {
        for (status, is_member, present) in [
            ("creator", None, true),
            ("administrator", None, true),
            ("member", None, true),
            ("restricted", Some(true), true),
            ("restricted", Some(false), false),
            ("left", None, false),
            ("kicked", None, false),
        ] {
            let member: ChatMember = serde_json::from_value(serde_json::json!({
                "status": status, "user": {"id": 1, "is_bot": false, "first_name": "a"},
                "is_member": is_member,
            }))
            .expect("valid");
            assert_eq!(member.is_present(), present, "{status} {is_member:?}");
        }
    }
}
