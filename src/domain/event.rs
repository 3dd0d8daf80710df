//! The platform-neutral event model.
//!
//! Gateway adapters translate their wire format into these types and nothing past the adapter
//! sees OneBot or Telegram JSON. Ids are `i64` everywhere: QQ numbers, Telegram chat ids
//! (negative for groups, beyond 32 bits) and OneBot message ids (signed 32-bit hashes, often
//! negative) all fit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use sha1::Digest;

/// The chat platform an id belongs to. Group ids are only unique within a platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// QQ, reached through a OneBot v11 gateway.
    Qq,
    /// Telegram, through the Bot API.
    Telegram,
}

impl Platform {
    /// Short prefix used in group keys: `qq`, `tg`.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Qq => "qq",
            Self::Telegram => "tg",
        }
    }

    /// One byte for storage keys. Never reuse a value.
    #[must_use]
    pub fn tag(self) -> u8 {
        match self {
            Self::Qq => 1,
            Self::Telegram => 2,
        }
    }

    /// Inverse of [`Platform::tag`].
    #[must_use]
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Self::Qq),
            2 => Some(Self::Telegram),
            _ => None,
        }
    }
}

/// A group on a platform, written `qq:726300112` or `tg:-1001234567890`. A bare number means QQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId {
    /// The platform.
    pub platform: Platform,
    /// The platform's group (chat) id.
    pub id: i64,
}

impl GroupId {
    /// A QQ group.
    #[must_use]
    pub const fn qq(id: i64) -> Self {
        Self {
            platform: Platform::Qq,
            id,
        }
    }

    /// A Telegram chat.
    #[must_use]
    pub const fn telegram(id: i64) -> Self {
        Self {
            platform: Platform::Telegram,
            id,
        }
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform.prefix(), self.id)
    }
}

/// Why a group (or user) id does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// `xx:123` with a platform that is not `qq` or `tg`.
    #[error("unknown platform {platform:?} in {what} {text:?}; use qq:<id> or tg:<id>")]
    Platform {
        /// `group` or `user`.
        what: &'static str,
        /// The platform as written.
        platform: String,
        /// The whole id as written.
        text: String,
    },
    /// Not a number after the platform.
    #[error("{what} {text:?} is not a number, qq:<id> or tg:<id>")]
    Number {
        /// `group` or `user`.
        what: &'static str,
        /// The whole id as written.
        text: String,
    },
}

/// Parses `qq:123`, `tg:-100…` or a bare (QQ) number; `what` names it in errors.
fn parse_id(s: &str, what: &'static str) -> Result<(Platform, i64), IdError> {
    let s = s.trim();
    let (platform, number) = match s.split_once(':') {
        Some(("qq", n)) => (Platform::Qq, n),
        Some(("tg" | "telegram", n)) => (Platform::Telegram, n),
        Some((p, _)) => {
            return Err(IdError::Platform {
                what,
                platform: p.to_owned(),
                text: s.to_owned(),
            });
        }
        None => (Platform::Qq, s),
    };
    number.parse().map(|id| (platform, id)).map_err(|_| IdError::Number {
        what,
        text: s.to_owned(),
    })
}

impl FromStr for GroupId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_id(s, "group").map(|(platform, id)| Self { platform, id })
    }
}

/// A member's standing in a group, as the platform reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Group owner.
    Owner,
    /// Group administrator.
    Admin,
    /// Everyone else.
    #[default]
    Member,
}

impl Role {
    /// `owner`, `admin` or `member`, as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Owners and admins are never punished by the bot and may run admin commands.
    #[must_use]
    pub fn is_moderator(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// Who sent a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Platform user id.
    pub user_id: i64,
    /// The name to show: group card / nickname, or first + last name.
    pub name: String,
    /// Role as reported with the message (may be stale; the platform is the authority).
    pub role: Role,
}

/// One piece of a received message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Segment {
    /// Plain text, already unescaped.
    Text {
        /// The text.
        text: String,
    },
    /// A mention of one member, or of everyone (`user_id: None`).
    Mention {
        /// The mentioned user; `None` for @all.
        user_id: Option<i64>,
    },
    /// A platform emoji.
    Face {
        /// Its id.
        id: String,
    },
    /// An image.
    Image {
        /// Where to fetch it, if given.
        url: Option<String>,
    },
    /// A quote of an earlier message.
    Reply {
        /// The quoted message.
        message_id: i64,
    },
    /// Anything else (records, cards, forwards …), kept as the gateway sent it.
    Other {
        /// The gateway's segment type.
        kind: String,
        /// The gateway's segment data.
        data: serde_json::Value,
    },
}

/// A message posted in a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// Where it was posted.
    pub group: GroupId,
    /// Platform message id (unique within the group).
    pub message_id: i64,
    /// Who posted it.
    pub sender: Sender,
    /// The plain text: every text segment joined, escapes undone. This is what the filter sees.
    pub text: String,
    /// The message as segments, for mentions, replies and commands.
    pub segments: Vec<Segment>,
    /// When it was sent, unix seconds.
    pub time: i64,
    /// True for an edit of an earlier message (Telegram); edits are filtered again.
    pub edited: bool,
}

impl GroupMessage {
    /// Users mentioned in the message, in order, without duplicates and without @all.
    #[must_use]
    pub fn mentions(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for seg in &self.segments {
            if let Segment::Mention { user_id: Some(id) } = seg
                && !out.contains(id)
            {
                out.push(*id);
            }
        }
        out
    }
}

/// Someone joined a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJoined {
    /// The group.
    pub group: GroupId,
    /// The new member.
    pub user_id: i64,
    /// Their name, when the platform says it.
    pub name: Option<String>,
    /// Unix seconds.
    pub time: i64,
}

/// Someone left or was removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLeft {
    /// The group.
    pub group: GroupId,
    /// The member who left.
    pub user_id: i64,
    /// True when an admin (or the bot) removed them.
    pub kicked: bool,
    /// Unix seconds.
    pub time: i64,
}

/// Someone asks to join a group the bot administers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The group.
    pub group: GroupId,
    /// The applicant.
    pub user_id: i64,
    /// What they wrote (the answer to the group's question on QQ, the bio on Telegram).
    pub comment: String,
    /// The platform's handle to answer the request (OneBot `flag`), opaque.
    pub handle: String,
    /// Unix seconds.
    pub time: i64,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// A group message.
    GroupMessage(GroupMessage),
    /// A member joined.
    MemberJoined(MemberJoined),
    /// A member left or was removed.
    MemberLeft(MemberLeft),
    /// A join request.
    JoinRequest(JoinRequest),
    /// A member pressed a button under one of the bot's messages (Telegram inline buttons).
    ButtonPressed(ButtonPress),
    /// A private message to the bot (QQ: from a friend or a temporary session opened from a
    /// group). The pipeline reads it only as the answer of a newcomer waiting at the gate at
    /// the door of a group; any other private message is ignored.
    PrivateMessage(PrivateMessage),
    /// Anything the pipeline does not act on (private messages, heartbeats, other notices);
    /// the text says what it was, for logs.
    Other(String),
}

/// A press of a button under one of the bot's messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonPress {
    /// Where the message is.
    pub group: GroupId,
    /// Who pressed.
    pub user_id: i64,
    /// The button's data (untrusted: a client may send any data for any message).
    pub data: String,
    /// The platform's id of the press, to acknowledge it ([`crate::domain::action::Action::AnswerButton`]);
    /// empty when there is none.
    #[serde(default)]
    pub query_id: String,
}

/// A private message to the bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateMessage {
    /// The platform it came through.
    pub platform: Platform,
    /// Who sent it.
    pub user_id: i64,
    /// The plain text (every text segment joined, escapes undone).
    pub text: String,
    /// When it was sent, unix seconds.
    pub time: i64,
}

/// One event from a gateway, with the key used to ignore redeliveries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Identifies this delivery's event so a redelivery changes nothing.
    pub key: EventKey,
    /// The bot account that received it.
    pub self_id: i64,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// When the event happened, unix seconds, as the gateway dated it; `None` when it carries
    /// no date (heartbeats, notices nothing acts on) or a zero one (a gateway that left it out).
    #[must_use]
    pub fn time(&self) -> Option<i64> {
        let time = match &self.kind {
            EventKind::GroupMessage(m) => m.time,
            EventKind::MemberJoined(j) => j.time,
            EventKind::MemberLeft(l) => l.time,
            EventKind::JoinRequest(r) => r.time,
            EventKind::PrivateMessage(p) => p.time,
            // A press carries no date of its own (only its message's, which may be old).
            EventKind::ButtonPressed(_) | EventKind::Other(_) => return None,
        };
        (time > 0).then_some(time)
    }
}

/// A 16-byte idempotency key derived from the fields that identify an event.
///
/// OneBot v11 events carry no id, so adapters derive one from (self_id, message_id, group,
/// user, time) for messages and the notice tuple for notices; Telegram uses `update_id`.
///
/// Two forms: [`EventKey::dated`] (an event with a date: its 4-byte date, then 12 bytes of
/// the identity's digest) and [`EventKey::derive`] (16 bytes of the digest). Dated keys sort
/// by date, so the store's `seen` tree receives them in about the order it keys them, which
/// costs sled far less memory per key than keys in random order (docs/storage.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventKey(pub [u8; 16]);

impl EventKey {
    /// Derives a key from the identifying text of an event (any stable encoding of its fields).
    #[must_use]
    pub fn derive(identity: &str) -> Self {
        let digest = sha1::Sha1::digest(identity.as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// Derives the key of an event dated `time` (unix seconds, as the gateway dated it): the
    /// date as 4 big-endian bytes (clamped to 1970..2106), then the first 12 bytes of the
    /// identity's digest. `identity` should include the date itself, as with [`derive`].
    ///
    /// The digest part is the first 12 bytes of what [`derive`] gives for the same identity,
    /// which is how the store still recognises an event an older build recorded under its
    /// [`derive`] key ([`EventKey::digest_part`]).
    ///
    /// [`derive`]: EventKey::derive
    #[must_use]
    pub fn dated(time: i64, identity: &str) -> Self {
        Self::of_date_and_digest(time, &sha1::Sha1::digest(identity.as_bytes()))
    }

    /// The key [`EventKey::dated`] describes, from the date and the identity's digest.
    fn of_date_and_digest(time: i64, digest: &[u8]) -> Self {
        let date = u32::try_from(time.max(0)).unwrap_or(u32::MAX);
        let mut key = [0; 16];
        key[..4].copy_from_slice(&date.to_be_bytes());
        key[4..].copy_from_slice(&digest[..12]);
        Self(key)
    }

    /// [`EventKey::dated`] of the identity `identity` formats to, hashed as it is written
    /// (no string is built): the same key as `dated(time, &identity.to_string())`.
    #[must_use]
    pub fn dated_fmt(time: i64, identity: fmt::Arguments<'_>) -> Self {
        /// Feeds what is written to the digest.
        struct Hashing(sha1::Sha1);
        impl fmt::Write for Hashing {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let mut hashing = Hashing(sha1::Sha1::new());
        // Writing to the digest cannot fail; a Display that failed would leave a key of
        // what was written before it, which `dated` of the same text could not give either.
        let _ = fmt::Write::write_fmt(&mut hashing, identity);
        Self::of_date_and_digest(time, &hashing.0.finalize())
    }

    /// The digest part of a [`dated`](EventKey::dated) key: the first 12 bytes of the
    /// [`derive`](EventKey::derive) key of the same identity.
    #[must_use]
    pub fn digest_part(&self) -> &[u8] {
        &self.0[4..]
    }

    /// 8 bytes of the key that vary from event to event even among events of the same
    /// second (a seed for choices a redelivery must repeat).
    #[must_use]
    pub fn seed(&self) -> u64 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.0[8..]);
        u64::from_le_bytes(bytes)
    }
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKey({})", hex::encode(self.0))
    }
}

/// A user on a platform, written like a group: `"qq:10001"`, `"tg:123456789"`, or a bare QQ
/// number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserRef {
    /// The platform.
    pub platform: Platform,
    /// The platform's user id.
    pub id: i64,
}

impl std::str::FromStr for UserRef {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_id(s, "user").map(|(platform, id)| Self { platform, id })
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform.prefix(), self.id)
    }
}

/// Written as its text form (`"qq:10001"`), which [`UserRef`]'s `Deserialize` reads back.
impl Serialize for UserRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UserRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = UserRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id such as 10001, \"qq:10001\" or \"tg:123456789\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(UserRef {
                    platform: Platform::Qq,
                    id: v,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(|id| UserRef {
                        platform: Platform::Qq,
                        id,
                    })
                    .map_err(|_| E::custom("the user id is too large"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_round_trip_through_text() {
        for (text, group) in [
            ("726300112", GroupId::qq(726_300_112)),
            ("qq:726300112", GroupId::qq(726_300_112)),
            ("tg:-1001234567890", GroupId::telegram(-1_001_234_567_890)),
        ] {
            assert_eq!(text.parse::<GroupId>(), Ok(group));
        }
        assert_eq!(GroupId::telegram(-5).to_string(), "tg:-5");
        assert!("wx:1".parse::<GroupId>().is_err());
        assert!("qq:abc".parse::<GroupId>().is_err());
    }

    #[test]
    fn event_keys_differ_for_different_identities() {
        assert_eq!(EventKey::derive("a"), EventKey::derive("a"));
        assert_ne!(EventKey::derive("a"), EventKey::derive("b"));
        assert_eq!(EventKey::dated(7, "a"), EventKey::dated(7, "a"));
        assert_ne!(EventKey::dated(7, "a"), EventKey::dated(7, "b"));
    }

    #[test]
    fn dated_keys_sort_by_date_and_share_their_digest_with_the_undated_key() {
        let times = [0, 1, 255, 256, 1_700_000_000, 1_700_000_001, 4_000_000_000];
        let keys: Vec<EventKey> = times
            .iter()
            .map(|t| EventKey::dated(*t, &format!("e|{}", 9_999 - t % 7)))
            .collect();
        assert!(keys.windows(2).all(|w| w[0].0 < w[1].0), "{keys:?}");
        let old = EventKey::derive("qq|m|1|2|3|4|1700000000");
        let new = EventKey::dated(1_700_000_000, "qq|m|1|2|3|4|1700000000");
        assert_eq!(new.digest_part(), &old.0[..12]);
        assert_eq!(&new.0[..4], &1_700_000_000_u32.to_be_bytes());
        // Out-of-range dates are clamped, never wrapped.
        assert_eq!(&EventKey::dated(-5, "x").0[..4], &[0; 4]);
        assert_eq!(&EventKey::dated(i64::MAX, "x").0[..4], &[0xff; 4]);
        assert_ne!(EventKey::dated(5, "x").seed(), EventKey::dated(5, "y").seed());
    }

    #[test]
    fn a_key_hashed_as_it_is_formatted_is_the_key_of_the_formatted_text() {
        for (time, id) in [
            (1_700_000_000_i64, -5_i64),
            (0, 0),
            (-3, i64::MAX),
            (i64::MAX, i64::MIN),
        ] {
            let text = format!("qq|m|{id}|{}|{}|{}|{time}", id / 3, "群", id ^ 7);
            let streamed = EventKey::dated_fmt(time, format_args!("qq|m|{id}|{}|{}|{}|{time}", id / 3, "群", id ^ 7));
            assert_eq!(streamed, EventKey::dated(time, &text), "{text}");
        }
        assert_eq!(EventKey::dated_fmt(9, format_args!("")), EventKey::dated(9, ""));
    }
}
