//! The direct reading of a OneBot v11 event body: one pass over the bytes into the fields an
//! event is made of, without building a [`Value`] tree first.
//!
//! A webhook body has a dozen top-level fields plus `raw_message`, `font`, `anonymous` and
//! the like; read as a [`Value`] each becomes a `String` key and value in a `BTreeMap`
//! (two maps with the `sender`). Here the fields the parser reads are kept — strings
//! borrowed from the body where they hold no escapes, numbers as numbers — and the rest is
//! skipped. A `message` or `data` array (the segment form) is still read as a [`Value`]: its
//! segments are parsed the one way ([`super::message::parse_message`]).
//!
//! What a field holds is kept exactly enough for the parser to see the same thing as through
//! a [`Value`]: its string, its integer (a number or a numeric string) and its compact JSON
//! (the notice identity hashes that). A repeated key keeps its last value, as a [`Value`]
//! object does.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::event::{FieldValue, Fields};
use super::message::{self, MessageError};
use crate::domain::event::Segment;

/// A string of the body: borrowed unless it held escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Any JSON value of one field; scalars without allocating where the body allows.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// An array or an object, as a [`Value`].
    Nested(Value),
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As `Value` does: a float JSON cannot hold becomes null.
        Ok(Number::from_f64(v).map_or(Field::Null, Field::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Field::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Field::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Field::Nested)
    }
}

impl FieldValue for Field<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            Field::Nested(v) => v.as_str(),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Field::Number(n) => n.as_i64().or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok())),
            Field::Str(s) => s.trim().parse().ok(),
            Field::Nested(v) => FieldValue::as_int(v),
            Field::Null | Field::Bool(_) => None,
        }
    }

    fn to_json(&self) -> String {
        match self {
            Field::Null => "null".into(),
            Field::Bool(b) => b.to_string(),
            // Both serialize as a `Value` of the same content does.
            Field::Number(n) => serde_json::to_string(n).unwrap_or_default(),
            Field::Str(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
            Field::Nested(v) => v.to_string(),
        }
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Field::Str(s) => Some(s.as_ref().to_owned()),
            Field::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// The `sender` object's fields the parser reads.
pub(super) struct SenderFields<'f> {
    pub(super) user_id: Option<&'f dyn FieldValue>,
    pub(super) card: Option<&'f dyn FieldValue>,
    pub(super) nickname: Option<&'f dyn FieldValue>,
    pub(super) role: Option<&'f dyn FieldValue>,
}

/// The `sender` field: its fields when it is an object, nothing otherwise.
#[derive(Debug, Default)]
struct Sender<'a> {
    object: bool,
    user_id: Option<Field<'a>>,
    card: Option<Field<'a>>,
    nickname: Option<Field<'a>>,
    role: Option<Field<'a>>,
}

impl<'de> Deserialize<'de> for Sender<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SenderVisitor)
    }
}

struct SenderVisitor;

impl<'de> Visitor<'de> for SenderVisitor {
    type Value = Sender<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut sender = Sender {
            object: true,
            ..Sender::default()
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.0.as_ref() {
                "user_id" => &mut sender.user_id,
                "card" => &mut sender.card,
                "nickname" => &mut sender.nickname,
                "role" => &mut sender.role,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(sender)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Sender::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Sender::default())
    }
}

/// The top-level fields of an event body the parser reads; see the module docs. Only a JSON
/// object deserializes into one.
#[derive(Debug, Default)]
pub(super) struct Envelope<'a> {
    post_type: Option<Field<'a>>,
    self_id: Option<Field<'a>>,
    time: Option<Field<'a>>,
    message_type: Option<Field<'a>>,
    notice_type: Option<Field<'a>>,
    request_type: Option<Field<'a>>,
    meta_event_type: Option<Field<'a>>,
    sub_type: Option<Field<'a>>,
    group_id: Option<Field<'a>>,
    user_id: Option<Field<'a>>,
    operator_id: Option<Field<'a>>,
    message_id: Option<Field<'a>>,
    message: Option<Field<'a>>,
    flag: Option<Field<'a>>,
    comment: Option<Field<'a>>,
    sender: Option<Sender<'a>>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut e = Envelope::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.0.as_ref() {
                "post_type" => &mut e.post_type,
                "self_id" => &mut e.self_id,
                "time" => &mut e.time,
                "message_type" => &mut e.message_type,
                "notice_type" => &mut e.notice_type,
                "request_type" => &mut e.request_type,
                "meta_event_type" => &mut e.meta_event_type,
                "sub_type" => &mut e.sub_type,
                "group_id" => &mut e.group_id,
                "user_id" => &mut e.user_id,
                "operator_id" => &mut e.operator_id,
                "message_id" => &mut e.message_id,
                "message" => &mut e.message,
                "flag" => &mut e.flag,
                "comment" => &mut e.comment,
                "sender" => {
                    e.sender = Some(map.next_value()?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(e)
    }
}

impl Fields for Envelope<'_> {
    fn field(&self, key: &str) -> Option<&dyn FieldValue> {
        let field = match key {
            "post_type" => &self.post_type,
            "self_id" => &self.self_id,
            "time" => &self.time,
            "message_type" => &self.message_type,
            "notice_type" => &self.notice_type,
            "request_type" => &self.request_type,
            "meta_event_type" => &self.meta_event_type,
            "sub_type" => &self.sub_type,
            "group_id" => &self.group_id,
            "user_id" => &self.user_id,
            "operator_id" => &self.operator_id,
            "message_id" => &self.message_id,
            "message" => &self.message,
            "flag" => &self.flag,
            "comment" => &self.comment,
            _ => return None,
        };
        field.as_ref().map(|f| f as &dyn FieldValue)
    }

    fn sender(&self) -> Option<SenderFields<'_>> {
        let s = self.sender.as_ref().filter(|s| s.object)?;
        Some(SenderFields {
            user_id: s.user_id.as_ref().map(|f| f as &dyn FieldValue),
            card: s.card.as_ref().map(|f| f as &dyn FieldValue),
            nickname: s.nickname.as_ref().map(|f| f as &dyn FieldValue),
            role: s.role.as_ref().map(|f| f as &dyn FieldValue),
        })
    }

    fn message(&self) -> Option<Result<Vec<Segment>, MessageError>> {
        Some(match self.message.as_ref()? {
            Field::Str(s) => Ok(message::parse_cq_string(s)),
            Field::Nested(v) => message::parse_message(v),
            Field::Null | Field::Bool(_) | Field::Number(_) => Err(MessageError::NotAMessage),
        })
    }
}
