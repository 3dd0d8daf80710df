//! OneBot v11 message bodies: CQ-code strings and segment arrays, both ways.
//!
//! Received messages come in either form depending on the gateway's post format. Both are
//! turned into [`Segment`]s; plain text is the concatenation of the text segments with the
//! CQ escapes (`&#91;` `&#93;` `&#44;` `&amp;`) undone, so a keyword split by an escape or
//! spread over two text segments is still one string for the filter.

use serde_json::{Map, Value};

use crate::domain::action::{OutgoingMessage, Part};
use crate::domain::event::Segment;

/// Undoes CQ escaping: `&amp;` `&#91;` `&#93;` `&#44;`. Other `&` sequences are kept as written.
#[must_use]
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (decoded, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&#91;") {
            ('[', 5)
        } else if tail.starts_with("&#93;") {
            (']', 5)
        } else if tail.starts_with("&#44;") {
            (',', 5)
        } else {
            ('&', 1)
        };
        out.push(decoded);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Parses a CQ-code string (`text[CQ:at,qq=1]text`) into segments.
///
/// Malformed codes (an unclosed `[CQ:`) are kept as text: a gateway bug must not hide the
/// message from the filter.
#[must_use]
pub fn parse_cq_string(s: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("[CQ:") {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        push_text(&mut segments, &rest[..start]);
        let body = &rest[start + 4..start + len];
        let (kind, params) = body.split_once(',').unwrap_or((body, ""));
        let mut data = Map::new();
        for pair in params.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            data.insert(k.to_owned(), Value::String(unescape(v)));
        }
        segments.push(segment_from_parts(kind, &data));
        rest = &rest[start + len + 1..];
    }
    push_text(&mut segments, rest);
    segments
}

fn push_text(segments: &mut Vec<Segment>, raw: &str) {
    if !raw.is_empty() {
        segments.push(Segment::Text { text: unescape(raw) });
    }
}

/// Turns one array-form segment (`{"type": …, "data": {…}}`) into a [`Segment`]. Values may be
/// strings or numbers; unknown types are kept opaque.
#[must_use]
pub fn segment_from_parts(kind: &str, data: &Map<String, Value>) -> Segment {
    let text_of = |key: &str| -> Option<String> {
        match data.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let int_of = |key: &str| text_of(key).and_then(|s| s.trim().parse::<i64>().ok());
    match kind {
        "text" => Segment::Text {
            text: text_of("text").unwrap_or_default(),
        },
        "at" => match text_of("qq").as_deref() {
            Some("all") => Segment::Mention { user_id: None },
            _ => match int_of("qq") {
                Some(id) => Segment::Mention { user_id: Some(id) },
                None => other(kind, data),
            },
        },
        "face" => Segment::Face {
            id: text_of("id").unwrap_or_default(),
        },
        "image" => Segment::Image {
            url: text_of("url").or_else(|| text_of("file")),
        },
        "reply" => match int_of("id") {
            Some(message_id) => Segment::Reply { message_id },
            None => other(kind, data),
        },
        _ => other(kind, data),
    }
}

fn other(kind: &str, data: &Map<String, Value>) -> Segment {
    Segment::Other {
        kind: kind.to_owned(),
        data: Value::Object(data.clone()),
    }
}

/// Why an event's `message` field is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Segment `i` has no string `type`.
    #[error("message[{0}] has no string \"type\"")]
    NoType(usize),
    /// The `data` of segment `i` is neither an object nor absent.
    #[error("message[{0}].data is not an object")]
    DataNotObject(usize),
    /// Neither a string, an array of segments nor one segment.
    #[error("\"message\" is neither a string nor an array of segments")]
    NotAMessage,
}

/// Parses the `message` field of an event: a CQ string or a segment array.
pub fn parse_message(value: &Value) -> Result<Vec<Segment>, MessageError> {
    match value {
        Value::String(s) => Ok(parse_cq_string(s)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or(MessageError::NoType(i))?;
                let empty = Map::new();
                let data = match item.get("data") {
                    Some(Value::Object(map)) => map,
                    None | Some(Value::Null) => &empty,
                    Some(_) => return Err(MessageError::DataNotObject(i)),
                };
                Ok(segment_from_parts(kind, data))
            })
            .collect(),
        // A single segment object is allowed by the spec for sending; accept it on receipt too.
        Value::Object(_) => parse_message(&Value::Array(vec![value.clone()])),
        _ => Err(MessageError::NotAMessage),
    }
}

/// The plain text of a message: its text segments joined.
#[must_use]
pub fn plain_text(segments: &[Segment]) -> String {
    let mut text = String::new();
    for seg in segments {
        if let Segment::Text { text: t } = seg {
            text.push_str(t);
        }
    }
    text
}

/// Renders an outgoing message as a OneBot segment array; text segments need no escaping.
#[must_use]
pub fn to_segments(message: &OutgoingMessage, reply_to: Option<i64>) -> Value {
    let mut out = Vec::with_capacity(message.parts.len() + 1);
    if let Some(id) = reply_to {
        out.push(serde_json::json!({"type": "reply", "data": {"id": id.to_string()}}));
    }
    for part in &message.parts {
        out.push(match part {
            Part::Text { text } => serde_json::json!({"type": "text", "data": {"text": text}}),
            Part::Mention { user_id, .. } => {
                serde_json::json!({"type": "at", "data": {"qq": user_id.to_string()}})
            }
        });
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_cq_entities_once() {
        assert_eq!(unescape("&#91;公告&#93; A&amp;B &#44; x"), "[公告] A&B , x");
        assert_eq!(unescape("&amp;#91;"), "&#91;", "decoding is a single pass");
        assert_eq!(unescape("a & b &lt;"), "a & b &lt;");
    }

    #[test]
    fn parses_cq_strings() {
        let segs = parse_cq_string("[CQ:at,qq=3889000123] 加V信 abc_1234[CQ:face,id=178]尾&#91;x&#93;");
        assert_eq!(
            segs,
            vec![
                Segment::Mention {
                    user_id: Some(3_889_000_123)
                },
                Segment::Text {
                    text: " 加V信 abc_1234".into()
                },
                Segment::Face { id: "178".into() },
                Segment::Text { text: "尾[x]".into() },
            ]
        );
        assert_eq!(
            parse_cq_string("[CQ:at,qq=all]"),
            vec![Segment::Mention { user_id: None }]
        );
        let image = parse_cq_string("[CQ:image,file=https://x/?a=1&amp;b=2]");
        assert_eq!(
            image,
            vec![Segment::Image {
                url: Some("https://x/?a=1&b=2".into())
            }]
        );
    }

    #[test]
    fn malformed_cq_codes_stay_text() {
        assert_eq!(plain_text(&parse_cq_string("前 [CQ:at,qq=1 后")), "前 [CQ:at,qq=1 后");
    }

    #[test]
    fn parses_arrays_with_numbers_where_strings_are_expected() {
        let value = serde_json::json!([
            {"type": "reply", "data": {"id": -1532815291}},
            {"type": "at", "data": {"qq": 42}},
            {"type": "text", "data": {"text": "加微"}},
            {"type": "face", "data": {"id": 14}},
            {"type": "text", "data": {"text": "信"}},
            {"type": "mface", "data": {"summary": "[x]"}},
        ]);
        let segs = parse_message(&value).expect("valid");
        assert_eq!(
            segs[0],
            Segment::Reply {
                message_id: -1_532_815_291
            }
        );
        assert_eq!(segs[1], Segment::Mention { user_id: Some(42) });
        assert!(matches!(&segs[5], Segment::Other { kind, .. } if kind == "mface"));
        assert_eq!(plain_text(&segs), "加微信");
    }

    #[test]
    fn rejects_messages_of_the_wrong_shape() {
        assert!(parse_message(&serde_json::json!(5)).is_err());
        assert!(parse_message(&serde_json::json!([{"data": {}}])).is_err());
        assert!(parse_message(&serde_json::json!([{"type": "text", "data": 3}])).is_err());
    }

    #[test]
    fn renders_outgoing_messages_as_segments() {
        let mut msg = OutgoingMessage::default();
        msg.push_mention(7, "x");
        msg.push_text(" [不是CQ码]");
        let value = to_segments(&msg, Some(-5));
        assert_eq!(
            value,
            serde_json::json!([
                {"type": "reply", "data": {"id": "-5"}},
                {"type": "at", "data": {"qq": "7"}},
                {"type": "text", "data": {"text": " [不是CQ码]"}},
            ])
        );
    }
}
