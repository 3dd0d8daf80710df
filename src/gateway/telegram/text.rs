//! A message's text or caption and its entities → the text the filter sees and the segments.
//!
//! Entity offsets count UTF-16 code units while Rust strings are UTF-8, so every entity is
//! mapped to a byte range in one sweep over the text (an emoji before an entity shifts it by
//! two units but four bytes). Entities that point outside the text or into the middle of a
//! character are ignored rather than trusted.
//!
//! **What the filter sees.** The visible text, then, one per line, the hidden target of every
//! `text_link` entity (a word whose link goes to a scam site shows only the word). `url` and
//! `mention` entities are already visible in the text (`https://t.me/+…`, `@fast_profit_bot`),
//! so link and @-handle rules match them there. Hit offsets past the visible text therefore
//! point into the appended links.

use serde_json::{Map, Value};

use super::wire::MessageEntity;
use crate::domain::event::Segment;

/// A message body translated for the pipeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Content {
    /// Visible text plus hidden link targets, one per line: what the filter checks.
    pub filter_text: String,
    /// Text split around real mentions (`text_mention`) and links (`text_link`).
    pub segments: Vec<Segment>,
}

/// Translates `text` and its `entities`.
#[must_use]
pub fn content(text: &str, entities: &[MessageEntity]) -> Content {
    let spans = byte_spans(text, entities);
    let mut filter_text = String::with_capacity(text.len());
    filter_text.push_str(text);
    let mut segments = Vec::with_capacity(1 + 2 * spans.len());
    let mut cursor = 0;
    for (entity, range) in &spans {
        // Nested or overlapping entities (bold inside a link) add nothing new here.
        if range.start < cursor {
            continue;
        }
        match entity.kind.as_str() {
            "text_mention" => {
                let Some(user) = &entity.user else { continue };
                push_text(&mut segments, &text[cursor..range.start]);
                segments.push(Segment::Mention { user_id: Some(user.id) });
            }
            "text_link" => {
                let Some(url) = entity.url.as_deref().filter(|u| !u.is_empty()) else {
                    continue;
                };
                push_text(&mut segments, &text[cursor..range.end]);
                let mut data = Map::new();
                data.insert("url".into(), Value::String(url.to_owned()));
                segments.push(Segment::Other {
                    kind: "text_link".into(),
                    data: Value::Object(data),
                });
                filter_text.push('\n');
                filter_text.push_str(url);
            }
            _ => continue,
        }
        cursor = range.end;
    }
    push_text(&mut segments, &text[cursor..]);
    Content { filter_text, segments }
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if !text.is_empty() {
        segments.push(Segment::Text { text: text.to_owned() });
    }
}

/// The entities that matter here (mentions and links), in text order, with their byte ranges.
///
/// Offsets come from outside: an entity whose end overflows (`offset + length` past
/// `usize::MAX`), points past the text or into the middle of a character is dropped with a
/// warning, never trusted and never a panic.
fn byte_spans<'a>(text: &str, entities: &'a [MessageEntity]) -> Vec<(&'a MessageEntity, std::ops::Range<usize>)> {
    // (entity, start, end) in UTF-16 units.
    let mut wanted: Vec<(&MessageEntity, usize, usize)> = entities
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "text_mention" | "text_link") && e.length > 0)
        .filter_map(|e| match e.offset.checked_add(e.length) {
            Some(end) => Some((e, e.offset, end)),
            None => {
                ignored(e, "offset + length overflows");
                None
            }
        })
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    wanted.sort_by_key(|&(_, start, _)| start);
    // Every boundary in UTF-16 units, sorted; one sweep over the characters resolves them all.
    let mut bounds: Vec<usize> = wanted.iter().flat_map(|&(_, start, end)| [start, end]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut resolved: Vec<(usize, usize)> = Vec::with_capacity(bounds.len());
    let mut next = bounds.iter().copied().peekable();
    let mut units: usize = 0;
    for (byte, ch) in text.char_indices().chain(std::iter::once((text.len(), '\0'))) {
        while let Some(&want) = next.peek() {
            if want > units {
                break;
            }
            if want == units {
                resolved.push((want, byte));
            }
            // A boundary inside a surrogate pair (want < units) stays unresolved.
            next.next();
        }
        // At most 2 units per character, and a `str` is at most `isize::MAX` bytes.
        units = units.saturating_add(ch.len_utf16());
    }
    let byte_of = |unit: usize| {
        resolved
            .binary_search_by_key(&unit, |&(u, _)| u)
            .ok()
            .map(|i| resolved[i].1)
    };
    wanted
        .into_iter()
        .filter_map(|(e, start, end)| match (byte_of(start), byte_of(end)) {
            (Some(start), Some(end)) => Some((e, start..end)),
            _ => {
                ignored(e, "past the end of the text or inside a character");
                None
            }
        })
        .collect()
}

/// Logs an entity [`byte_spans`] drops. Only its kind and numbers: never the text or the link.
fn ignored(entity: &MessageEntity, why: &str) {
    tracing::warn!(
        kind = %entity.kind,
        offset = entity.offset,
        length = entity.length,
        "telegram: ignoring a message entity: {why}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::telegram::wire::User;

    fn entity(kind: &str, offset: usize, length: usize) -> MessageEntity {
        MessageEntity {
            kind: kind.into(),
            offset,
            length,
            url: None,
            user: None,
        }
    }

    fn link(offset: usize, length: usize, url: &str) -> MessageEntity {
        MessageEntity {
            url: Some(url.into()),
            ..entity("text_link", offset, length)
        }
    }

    fn mention(offset: usize, length: usize, id: i64) -> MessageEntity {
        MessageEntity {
            user: Some(User {
                id,
                is_bot: false,
                first_name: "x".into(),
                last_name: None,
                username: None,
            }),
            ..entity("text_mention", offset, length)
        }
    }

    fn text(s: &str) -> Segment {
        Segment::Text { text: s.into() }
    }

    #[test]
    fn hidden_link_targets_are_appended_for_the_filter() {
        // "💰" is 2 UTF-16 units and 4 bytes: the link on "点这里" starts at unit 3, byte 5.
        let c = content("💰 点这里 领取", &[link(3, 3, "https://scam.example/x")]);
        assert_eq!(c.filter_text, "💰 点这里 领取\nhttps://scam.example/x");
        assert_eq!(
            c.segments,
            vec![
                text("💰 点这里"),
                Segment::Other {
                    kind: "text_link".into(),
                    data: serde_json::json!({"url": "https://scam.example/x"}),
                },
                text(" 领取"),
            ]
        );
    }

    #[test]
    fn text_mentions_become_mention_segments_and_stay_in_the_filter_text() {
        let c = content("hi 小雨 and 😀Bob!", &[mention(3, 2, 42), mention(10, 5, 43)]);
        assert_eq!(c.filter_text, "hi 小雨 and 😀Bob!");
        assert_eq!(
            c.segments,
            vec![
                text("hi "),
                Segment::Mention { user_id: Some(42) },
                text(" and "),
                Segment::Mention { user_id: Some(43) },
                text("!"),
            ]
        );
    }

    #[test]
    fn visible_entities_leave_the_text_alone() {
        let fixture = "💰 Earn 500 USDT/day! DM @fast_profit_bot or join https://t.me/+AbCdEfGhIjK";
        let c = content(fixture, &[entity("mention", 25, 16), entity("url", 50, 25)]);
        assert_eq!(c.filter_text, fixture);
        assert_eq!(c.segments, vec![text(fixture)]);
    }

    #[test]
    fn entities_out_of_range_or_inside_a_character_are_ignored() {
        for bad in [
            link(50, 3, "https://a.example"), // past the end
            link(1, 2, "https://b.example"),  // starts inside the surrogate pair of 💰
            link(0, 1, ""),                   // no target
        ] {
            let c = content("💰 ok", std::slice::from_ref(&bad));
            assert_eq!(c.filter_text, "💰 ok", "{bad:?}");
            assert_eq!(c.segments, vec![text("💰 ok")], "{bad:?}");
        }
    }

    #[test]
    fn entity_offsets_that_overflow_or_run_past_the_end_are_ignored() {
        // i64::MAX is the largest offset a JSON integer the Bot API could send fits in.
        let huge = usize::try_from(i64::MAX).expect("64-bit usize");
        for bad in [
            link(usize::MAX, 1, "https://a.example"),     // offset + length overflows
            link(usize::MAX - 1, 5, "https://b.example"), // overflows by a little
            link(1, usize::MAX, "https://c.example"),     // the length overflows
            link(usize::MAX, usize::MAX, "https://d.example"),
            link(usize::MAX - 1, 1, "https://e.example"), // ends at usize::MAX, past the end
            link(huge, 1, "https://f.example"),           // offset near i64::MAX
            link(0, huge, "https://g.example"),           // length near i64::MAX
            link(5, 1, "https://h.example"),              // starts at the end (5 units)
            link(3, 3, "https://i.example"),              // runs one unit past the end
            mention(usize::MAX, 2, 42),
        ] {
            let c = content("💰 ok", std::slice::from_ref(&bad));
            assert_eq!(c.filter_text, "💰 ok", "{bad:?}");
            assert_eq!(c.segments, vec![text("💰 ok")], "{bad:?}");
        }
        // A bad entity does not take the good ones with it.
        let c = content(
            "💰 ok",
            &[
                link(usize::MAX, 1, "https://bad.example"),
                link(3, 2, "https://good.example"),
            ],
        );
        assert_eq!(c.filter_text, "💰 ok\nhttps://good.example");
    }

    #[test]
    fn overlapping_entities_count_once() {
        let c = content(
            "abcdef",
            &[link(0, 4, "https://one.example"), link(2, 4, "https://two.example")],
        );
        assert_eq!(c.filter_text, "abcdef\nhttps://one.example");
    }
}
