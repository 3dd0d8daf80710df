//! OneBot v11 events (HTTP-POST bodies) → the neutral [`Event`] model.
//!
//! Parsing is lenient where implementations disagree with the spec (ids as numbers or numeric
//! strings, extra fields, `sender` partly missing) and strict where a missing field would make
//! the event meaningless (a group message without `group_id`): those are refused with a
//! [`ParseError`] that names the field, and the webhook answers 400.

use serde_json::{Map, Value};

use super::message::{self, MessageError};
use super::wire::{Envelope, SenderFields};
use crate::domain::event::{
    Event, EventKey, EventKind, GroupId, GroupMessage, JoinRequest, MemberJoined, MemberLeft, Platform, PrivateMessage,
    Role, Segment, Sender,
};

/// Why a webhook body is not a usable OneBot v11 event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid OneBot v11 event: {0}")]
pub struct ParseError(String);

/// Parses one HTTP-POST body.
///
/// The body is read once into the few fields an event is made of ([`Envelope`]: strings
/// borrowed from the body, numbers as numbers, everything else skipped). A body that is not
/// a JSON object is parsed again as a [`Value`], only to say why it is refused; both readings
/// go through the same [`Fields`] logic, so they give the same event.
///
/// The body must be UTF-8 as a whole, as before, although fields the parser does not read are
/// only skipped: one difference remains, a `\uD800`-style lone surrogate escape in such a
/// field no longer refuses the event.
pub fn parse_event(body: &[u8]) -> Result<Event, ParseError> {
    let direct = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<Envelope<'_>>(text).ok());
    match direct {
        Some(envelope) => event_of(&envelope),
        None => parse_value(body),
    }
}

/// The former reading, through a [`Value`]: what a body the direct reading refused is.
fn parse_value(body: &[u8]) -> Result<Event, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(format!("malformed JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ParseError("the body is not a JSON object".into()))?;
    event_of(obj)
}

/// One JSON field of an event body, as the parser reads it.
pub(super) trait FieldValue {
    /// The string, if the field is one.
    fn as_str(&self) -> Option<&str>;
    /// An integer given as a JSON number or a numeric string.
    fn as_int(&self) -> Option<i64>;
    /// The field as compact JSON (what [`Value`]'s `to_string` gives).
    fn to_json(&self) -> String;
    /// A string verbatim or a number's decimal text (a request's `flag`).
    fn as_text(&self) -> Option<String>;
}

/// The fields of an event body: a parsed [`Envelope`] or a [`Value`] object.
pub(super) trait Fields {
    /// One top-level field.
    fn field(&self, key: &str) -> Option<&dyn FieldValue>;
    /// The `sender` object's `(user_id, card, nickname, role)`, if `sender` is an object.
    fn sender(&self) -> Option<SenderFields<'_>>;
    /// The `message` field's segments, if there is one.
    fn message(&self) -> Option<Result<Vec<Segment>, MessageError>>;
}

impl FieldValue for Value {
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64().or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok())),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn to_json(&self) -> String {
        self.to_string()
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

type Obj = Map<String, Value>;

impl Fields for Obj {
    fn field(&self, key: &str) -> Option<&dyn FieldValue> {
        self.get(key).map(|v| v as &dyn FieldValue)
    }

    fn sender(&self) -> Option<SenderFields<'_>> {
        let s = self.get("sender")?.as_object()?;
        let get = |k: &str| s.get(k).map(|v| v as &dyn FieldValue);
        Some(SenderFields {
            user_id: get("user_id"),
            card: get("card"),
            nickname: get("nickname"),
            role: get("role"),
        })
    }

    fn message(&self) -> Option<Result<Vec<Segment>, MessageError>> {
        self.get("message").map(message::parse_message)
    }
}

fn event_of(obj: &dyn Fields) -> Result<Event, ParseError> {
    let post_type = str_field(obj, "post_type")?;
    let self_id = int_field(obj, "self_id").unwrap_or(0);
    let time = int_field(obj, "time").unwrap_or(0);
    let kind = match post_type {
        "message" => parse_message_event(obj, time)?,
        "notice" => parse_notice(obj, time)?,
        "request" => parse_request(obj, time)?,
        "message_sent" => EventKind::Other("message_sent (the bot's own message)".into()),
        "meta_event" => EventKind::Other(format!(
            "meta_event {}",
            obj.field("meta_event_type").and_then(FieldValue::as_str).unwrap_or("?")
        )),
        other => EventKind::Other(format!("post_type {other}")),
    };
    let key = match &kind {
        // Every group message: its identity is hashed as it is formatted, without a string.
        EventKind::GroupMessage(m) => EventKey::dated_fmt(
            time,
            format_args!(
                "{}",
                GroupMessageIdentity {
                    self_id,
                    time,
                    message: m
                }
            ),
        ),
        _ => EventKey::dated(time, &identity(self_id, time, obj, &kind)),
    };
    Ok(Event { key, self_id, kind })
}

/// The identity of a group message, the text its [`EventKey`] is derived from. One
/// definition for [`identity`] and for the key hashed as it is formatted in [`event_of`]:
/// a change here changes every group message's key, which redeliveries are recognised by.
struct GroupMessageIdentity<'a> {
    self_id: i64,
    time: i64,
    message: &'a GroupMessage,
}

impl std::fmt::Display for GroupMessageIdentity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            self_id,
            time,
            message: m,
        } = self;
        write!(
            f,
            "qq|m|{self_id}|{}|{}|{}|{time}",
            m.message_id, m.group.id, m.sender.user_id
        )
    }
}

/// The fields that identify an event, as one string. OneBot v11 has no event id, so a
/// redelivery is recognised by these: message id, group, user and time for messages; the
/// notice tuple and time for notices; the flag for requests.
fn identity(self_id: i64, time: i64, obj: &dyn Fields, kind: &EventKind) -> String {
    match kind {
        EventKind::GroupMessage(m) => GroupMessageIdentity {
            self_id,
            time,
            message: m,
        }
        .to_string(),
        EventKind::PrivateMessage(p) => format!(
            "qq|p|{self_id}|{}|{}|{time}",
            obj.field("message_id").map(FieldValue::to_json).unwrap_or_default(),
            p.user_id
        ),
        EventKind::JoinRequest(r) => format!("qq|r|{self_id}|{}|{}|{}|{time}", r.handle, r.group.id, r.user_id),
        _ => {
            let field = |k: &str| obj.field(k).map(FieldValue::to_json).unwrap_or_default();
            format!(
                "qq|n|{self_id}|{}|{}|{}|{}|{}|{}|{}|{time}",
                field("post_type"),
                field("notice_type"),
                field("sub_type"),
                field("group_id"),
                field("user_id"),
                field("operator_id"),
                field("message_id"),
            )
        }
    }
}

/// The key of an event as any account of the instance sees it, for instances with several
/// accounts in one group: `None` for events that are not about a group (they keep their own
/// key).
///
/// OneBot gives each sighting of a message its own `message_id` (NapCat's are per instance)
/// and each sighting of a join request its own `flag`, so those cannot join two sightings.
/// What both accounts see alike is the group, the member, the gateway's date (whole seconds,
/// from the QQ server's message time) and the content: the text and the kinds of the
/// segments (an image's URL carries a per-account key, so only its kind counts).
///
/// The cost: one member sending the same text twice within one second in one group counts
/// once. That is a flood, and its first copy is handled.
#[must_use]
pub fn cross_account_key(event: &Event) -> Option<EventKey> {
    let identity = match &event.kind {
        EventKind::GroupMessage(m) => {
            let kinds: Vec<String> = m.segments.iter().map(segment_shape).collect();
            format!(
                "qq|m*|{}|{}|{}|{}|{}",
                m.group.id,
                m.sender.user_id,
                m.time,
                kinds.join(","),
                m.text
            )
        }
        EventKind::JoinRequest(r) => format!("qq|r*|{}|{}|{}", r.group.id, r.user_id, r.time),
        EventKind::MemberJoined(j) => format!("qq|j*|{}|{}|{}", j.group.id, j.user_id, j.time),
        EventKind::MemberLeft(l) => format!("qq|l*|{}|{}|{}|{}", l.group.id, l.user_id, l.kicked, l.time),
        // Button presses are Telegram's; OneBot never reports one. A private message reaches
        // one account only: its own key (which names the account) is the right one.
        EventKind::ButtonPressed(_) | EventKind::PrivateMessage(_) | EventKind::Other(_) => return None,
    };
    Some(EventKey::dated(event.time().unwrap_or(0), &identity))
}

/// What of a segment every account sees alike: its kind, and for a mention or an emoji whom
/// or which.
fn segment_shape(segment: &Segment) -> String {
    match segment {
        Segment::Text { .. } => "text".into(),
        Segment::Mention { user_id } => format!("at{}", user_id.unwrap_or(0)),
        Segment::Face { id } => format!("face{id}"),
        Segment::Image { .. } => "image".into(),
        Segment::Reply { .. } => "reply".into(),
        Segment::Other { kind, .. } => kind.clone(),
    }
}

fn parse_message_event(obj: &dyn Fields, time: i64) -> Result<EventKind, ParseError> {
    let message_type = str_field(obj, "message_type")?;
    if message_type == "private" {
        return parse_private(obj, time);
    }
    if message_type != "group" {
        return Ok(EventKind::Other(format!("{message_type} message")));
    }
    let group_id = require_int(obj, "group_id", "a group message")?;
    let message_id = require_int(obj, "message_id", "a group message")?;
    let sender = obj.sender();
    let user_id = int_field(obj, "user_id")
        .or_else(|| sender.as_ref().and_then(|s| s.user_id?.as_int()))
        .ok_or_else(|| missing("user_id", "a group message"))?;
    let segments = obj
        .message()
        .ok_or_else(|| missing("message", "a group message"))?
        .map_err(|e| ParseError(e.to_string()))?;
    let text = message::plain_text(&segments);
    let (name, role) = match sender {
        Some(s) => {
            let card = s.card.and_then(FieldValue::as_str).unwrap_or("");
            let nick = s.nickname.and_then(FieldValue::as_str).unwrap_or("");
            let role = match s.role.and_then(FieldValue::as_str) {
                Some("owner") => Role::Owner,
                Some("admin") => Role::Admin,
                _ => Role::Member,
            };
            (if card.is_empty() { nick } else { card }.to_owned(), role)
        }
        None => (String::new(), Role::Member),
    };
    Ok(EventKind::GroupMessage(GroupMessage {
        group: GroupId::qq(group_id),
        message_id,
        sender: Sender { user_id, name, role },
        text,
        segments,
        time,
        edited: false,
    }))
}

/// A private message, of any `sub_type` (`friend`, `group` — a temporary session opened from
/// a group —, `other`): only its sender and text matter (see [`PrivateMessage`]).
fn parse_private(obj: &dyn Fields, time: i64) -> Result<EventKind, ParseError> {
    let user_id = int_field(obj, "user_id")
        .or_else(|| obj.sender().and_then(|s| s.user_id?.as_int()))
        .ok_or_else(|| missing("user_id", "a private message"))?;
    let segments = obj
        .message()
        .ok_or_else(|| missing("message", "a private message"))?
        .map_err(|e| ParseError(e.to_string()))?;
    Ok(EventKind::PrivateMessage(PrivateMessage {
        platform: Platform::Qq,
        user_id,
        text: message::plain_text(&segments),
        time,
    }))
}

fn parse_notice(obj: &dyn Fields, time: i64) -> Result<EventKind, ParseError> {
    let notice_type = str_field(obj, "notice_type")?;
    Ok(match notice_type {
        "group_increase" => EventKind::MemberJoined(MemberJoined {
            group: GroupId::qq(require_int(obj, "group_id", "group_increase")?),
            user_id: require_int(obj, "user_id", "group_increase")?,
            name: None,
            time,
        }),
        "group_decrease" => EventKind::MemberLeft(MemberLeft {
            group: GroupId::qq(require_int(obj, "group_id", "group_decrease")?),
            user_id: require_int(obj, "user_id", "group_decrease")?,
            kicked: matches!(
                obj.field("sub_type").and_then(FieldValue::as_str),
                Some("kick" | "kick_me")
            ),
            time,
        }),
        other => EventKind::Other(format!("notice {other}")),
    })
}

fn parse_request(obj: &dyn Fields, time: i64) -> Result<EventKind, ParseError> {
    let request_type = str_field(obj, "request_type")?;
    let sub_type = obj.field("sub_type").and_then(FieldValue::as_str).unwrap_or("");
    if request_type != "group" || sub_type != "add" {
        return Ok(EventKind::Other(format!("request {request_type}/{sub_type}")));
    }
    let handle = obj
        .field("flag")
        .and_then(FieldValue::as_text)
        .ok_or_else(|| missing("flag", "a join request"))?;
    Ok(EventKind::JoinRequest(JoinRequest {
        group: GroupId::qq(require_int(obj, "group_id", "a join request")?),
        user_id: require_int(obj, "user_id", "a join request")?,
        comment: obj
            .field("comment")
            .and_then(FieldValue::as_str)
            .unwrap_or("")
            .to_owned(),
        handle,
        time,
    }))
}

fn str_field<'a>(obj: &'a dyn Fields, key: &str) -> Result<&'a str, ParseError> {
    obj.field(key)
        .and_then(FieldValue::as_str)
        .ok_or_else(|| ParseError(format!("missing string field {key:?}")))
}

/// An integer field given as a JSON number or a numeric string.
fn int_field(obj: &dyn Fields, key: &str) -> Option<i64> {
    obj.field(key)?.as_int()
}

fn require_int(obj: &dyn Fields, key: &str, what: &str) -> Result<i64, ParseError> {
    int_field(obj, key).ok_or_else(|| missing(key, what))
}

fn missing(key: &str, what: &str) -> ParseError {
    ParseError(format!("{what} needs an integer {key:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Event, ParseError> {
        parse_event(json.as_bytes())
    }

    #[test]
    fn string_and_array_forms_give_the_same_text() {
        let string = parse(
            r#"{"post_type":"message","message_type":"group","time":1,"self_id":9,"group_id":5,
                "user_id":7,"message_id":-12,"message":"加&#91;V&#93;信[CQ:face,id=1]123",
                "sender":{"user_id":7,"nickname":"n","card":"","role":"member"}}"#,
        )
        .expect("valid");
        let array = parse(
            r#"{"post_type":"message","message_type":"group","time":1,"self_id":9,"group_id":"5",
                "user_id":7,"message_id":-12,"message":[{"type":"text","data":{"text":"加[V]信"}},
                {"type":"face","data":{"id":1}},{"type":"text","data":{"text":"123"}}],
                "sender":{"user_id":7,"nickname":"n","card":"","role":"member"}}"#,
        )
        .expect("valid");
        for event in [&string, &array] {
            let EventKind::GroupMessage(m) = &event.kind else {
                panic!("not a message: {event:?}")
            };
            assert_eq!(m.text, "加[V]信123");
            assert_eq!(m.message_id, -12);
            assert_eq!(m.group, GroupId::qq(5));
        }
        assert_eq!(string.key, array.key, "same event in either form has the same key");
    }

    #[test]
    fn roles_and_names_come_from_the_sender() {
        let e = parse(
            r#"{"post_type":"message","message_type":"group","self_id":1,"group_id":5,"user_id":7,
                "message_id":1,"message":"x","sender":{"nickname":"老周","card":"群主-老周","role":"owner"}}"#,
        )
        .expect("valid");
        let EventKind::GroupMessage(m) = e.kind else { panic!() };
        assert_eq!(m.sender.role, Role::Owner);
        assert_eq!(m.sender.name, "群主-老周");
    }

    #[test]
    fn private_messages_of_any_sub_type_carry_their_sender_and_text() {
        for sub_type in ["friend", "group", "other"] {
            let json = format!(
                r#"{{"post_type":"message","message_type":"private","sub_type":"{sub_type}","self_id":1,
                    "user_id":"2","message_id":3,"time":4,"message":[{{"type":"text","data":{{"text":" Rust"}}}}]}}"#
            );
            let e = parse(&json).expect("valid");
            assert_eq!(
                e.kind,
                EventKind::PrivateMessage(PrivateMessage {
                    platform: Platform::Qq,
                    user_id: 2,
                    text: " Rust".into(),
                    time: 4
                }),
                "{sub_type}"
            );
        }
        let one = parse(
            r#"{"post_type":"message","message_type":"private","user_id":2,"message_id":3,"time":4,"message":"x"}"#,
        );
        let other = parse(
            r#"{"post_type":"message","message_type":"private","user_id":2,"message_id":5,"time":4,"message":"x"}"#,
        );
        assert_ne!(
            one.expect("valid").key,
            other.expect("valid").key,
            "keyed by message id"
        );
        assert!(parse(r#"{"post_type":"message","message_type":"private","message":"x"}"#).is_err());
    }

    #[test]
    fn unknown_and_uninteresting_events_are_other() {
        for json in [
            r#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":1,"time":1}"#,
            r#"{"post_type":"notice","notice_type":"group_recall","group_id":1,"user_id":2}"#,
            r#"{"post_type":"request","request_type":"friend","user_id":2,"flag":"x"}"#,
            r#"{"post_type":"something_new","self_id":1}"#,
        ] {
            assert!(matches!(parse(json).expect(json).kind, EventKind::Other(_)), "{json}");
        }
    }

    #[test]
    fn malformed_bodies_are_errors_that_say_why() {
        for (json, needle) in [
            ("{not json", "malformed JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"self_id":1}"#, "post_type"),
            (
                r#"{"post_type":"message","message_type":"group","user_id":1,"message_id":1,"message":"x"}"#,
                "group_id",
            ),
            (
                r#"{"post_type":"message","message_type":"group","group_id":1,"user_id":1,"message_id":1,"message":7}"#,
                "message",
            ),
            (
                r#"{"post_type":"notice","notice_type":"group_increase","group_id":1}"#,
                "user_id",
            ),
        ] {
            let err = parse(json).expect_err(json).to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn join_requests_keep_the_flag_verbatim() {
        let e = parse(
            r#"{"time":1,"self_id":1,"post_type":"request","request_type":"group","sub_type":"add",
                "group_id":5,"user_id":6,"comment":"朋友推荐","flag":"1732171802-726300112-1-0"}"#,
        )
        .expect("valid");
        let EventKind::JoinRequest(r) = e.kind else { panic!() };
        assert_eq!(r.handle, "1732171802-726300112-1-0");
        assert_eq!(r.comment, "朋友推荐");
    }

    #[test]
    fn notices_of_the_same_kind_at_other_times_have_other_keys() {
        let a = parse(r#"{"post_type":"notice","notice_type":"group_increase","group_id":1,"user_id":2,"time":10}"#);
        let b = parse(r#"{"post_type":"notice","notice_type":"group_increase","group_id":1,"user_id":2,"time":11}"#);
        assert_ne!(a.expect("valid").key, b.expect("valid").key);
    }

    /// The direct reading and the former one through a `Value` give the same event, or the
    /// same refusal, for every shape a field can take.
    #[test]
    fn the_direct_reading_agrees_with_the_value_reading() {
        let bodies = [
            r#"{"time":1700000000,"self_id":10001,"post_type":"message","message_type":"group","sub_type":"normal","message_id":100000000,"group_id":700000163,"user_id":3000125163,"anonymous":null,"message":"我们下午三点开始","raw_message":"我们下午三点开始","font":0,"sender":{"user_id":3000125163,"nickname":"u3000125163","card":"","role":"member"}}"#,
            r#"{"post_type":"message","message_type":"group","group_id":"5","message_id":"-3","message":"a\u0041\"b&#91;[CQ:at,qq=7]","sender":{"user_id":" 8 ","card":"c\n","nickname":"n","role":"admin","title":"x"}}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5,"message_id":3,"user_id":9,"message":[{"type":"text","data":{"text":"x"}},{"type":"mface","data":{"a":[1,{"b":null}]}}],"sender":[1,2]}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5,"message_id":3,"message":"x","sender":"nobody"}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5,"message_id":3,"user_id":1,"message":null}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5,"message_id":3,"user_id":1,"message":{"type":"text","data":{"text":"one"}}}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5,"message_id":3,"user_id":1,"message":[{"data":{}}]}"#,
            r#"{"post_type":"message","message_type":"group","group_id":5.0,"message_id":3,"user_id":1,"message":"x"}"#,
            r#"{"post_type":"message","message_type":"group","group_id":18446744073709551615,"message_id":3,"user_id":1,"message":"x"}"#,
            r#"{"post_type":"message","message_type":"private","user_id":2,"message_id":3.5,"time":4,"message":"x"}"#,
            r#"{"post_type":"message","message_type":"private","message_id":{"a":1},"sender":{"user_id":2},"message":"x"}"#,
            r#"{"post_type":"message","message_type":"guild","message":"x"}"#,
            r#"{"post_type":"notice","notice_type":"group_increase","sub_type":"approve","group_id":1,"user_id":"2","operator_id":[3],"time":10,"self_id":4}"#,
            r#"{"post_type":"notice","notice_type":"group_decrease","sub_type":"kick_me","group_id":1,"user_id":2,"operator_id":1e3,"time":-1}"#,
            r#"{"post_type":"notice","notice_type":"group_recall","group_id":1,"user_id":2,"message_id":"\u00e9","operator_id":true,"sub_type":null}"#,
            r#"{"post_type":"request","request_type":"group","sub_type":"add","group_id":5,"user_id":6,"comment":"朋友\t推荐","flag":12345678901234567890}"#,
            r#"{"post_type":"request","request_type":"group","sub_type":"add","group_id":5,"user_id":6,"flag":null}"#,
            r#"{"post_type":"request","request_type":"group","sub_type":"invite","flag":"x"}"#,
            r#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":1,"time":1,"status":{"online":true}}"#,
            r#"{"post_type":"meta_event","meta_event_type":7}"#,
            r#"{"post_type":"message_sent","self_id":1}"#,
            r#"{"post_type":"x","post_type":"notice","notice_type":"group_increase","group_id":1,"user_id":2,"user_id":3}"#,
            r#"{"post_type":1}"#,
            r#"{"self_id":1}"#,
            r#"{}"#,
            r#"[1,2]"#,
            r#""message""#,
            r#"{"post_type":"message""#,
            r#"{"post_type":"message"} trailing"#,
            "{not json",
            "",
        ];
        for body in bodies {
            assert_eq!(parse(body), parse_value(body.as_bytes()), "{body}");
        }
        let not_utf8 = b"{\"post_type\":\"message_sent\",\"raw_message\":\"\xff\"}";
        let err = parse_event(not_utf8).expect_err("not UTF-8").to_string();
        assert!(err.contains("malformed JSON"), "{err}");
    }

    #[test]
    fn two_accounts_sightings_of_one_message_share_the_cross_account_key_only() {
        let sighting = |self_id: i64, message_id: i64, text: &str, time: i64| {
            parse(&format!(
                r#"{{"post_type":"message","message_type":"group","time":{time},"self_id":{self_id},"group_id":5,
                    "user_id":7,"message_id":{message_id},"message":[{{"type":"text","data":{{"text":"{text}"}}}},
                    {{"type":"image","data":{{"url":"https://x/{self_id}"}}}}],
                    "sender":{{"user_id":7,"nickname":"n","role":"member"}}}}"#
            ))
            .expect("valid")
        };
        let (a, b) = (sighting(20_001, 11, "hi", 100), sighting(20_002, 912, "hi", 100));
        assert_ne!(a.key, b.key, "each account's own key differs");
        assert_eq!(
            cross_account_key(&a),
            cross_account_key(&b),
            "the same message for both"
        );
        for other in [sighting(20_002, 913, "hi!", 100), sighting(20_002, 914, "hi", 101)] {
            assert_ne!(cross_account_key(&a), cross_account_key(&other), "{other:?}");
        }
        let heartbeat = parse(r#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":1,"time":1}"#);
        assert_eq!(cross_account_key(&heartbeat.expect("valid")), None);
    }
}
