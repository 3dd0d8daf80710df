//! Outgoing messages → `sendMessage` texts in `parse_mode: "HTML"`.
//!
//! Text parts are escaped (`&`, `<`, `>`), so nothing a member or an operator wrote — a
//! display name like `<b>admin</b>`, a rules file with `a < b` — is ever read as markup.
//! Mentions of users become `<a href="tg://user?id=…">name</a>`, a mention that notifies
//! them even without a @username. A "user" with a negative id is a channel identity (see
//! `update`), which cannot be linked; its name is shown in bold.
//!
//! Telegram refuses texts longer than 4096 characters (after markup), so a long message
//! (a welcome carrying long group rules) is split into several, preferably at line breaks.

use crate::domain::action::{OutgoingMessage, Part};

/// The longest visible text of one message, in UTF-16 code units as Telegram counts.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// Renders `message` as one or more HTML texts, in order. Empty when there is nothing
/// visible to send.
#[must_use]
pub fn render(message: &OutgoingMessage) -> Vec<String> {
    render_with_limit(message, MAX_MESSAGE_UNITS)
}

fn render_with_limit(message: &OutgoingMessage, limit: usize) -> Vec<String> {
    let mut chunks = Chunks {
        limit,
        done: Vec::new(),
        html: String::new(),
        units: 0,
    };
    for part in &message.parts {
        match part {
            Part::Text { text } => chunks.push_text(text),
            Part::Mention { user_id, name } => {
                let shown = if name.trim().is_empty() {
                    user_id.to_string()
                } else {
                    name.clone()
                };
                let units = shown.encode_utf16().count();
                if chunks.units + units > limit {
                    chunks.flush();
                }
                let mut html = String::with_capacity(shown.len() + 40);
                if *user_id > 0 {
                    html.push_str(&format!("<a href=\"tg://user?id={user_id}\">"));
                    escape_into(&mut html, &shown);
                    html.push_str("</a>");
                } else {
                    html.push_str("<b>");
                    escape_into(&mut html, &shown);
                    html.push_str("</b>");
                }
                chunks.html.push_str(&html);
                chunks.units += units;
            }
        }
    }
    chunks.flush();
    chunks.done
}

struct Chunks {
    limit: usize,
    done: Vec<String>,
    html: String,
    units: usize,
}

impl Chunks {
    fn push_text(&mut self, mut text: &str) {
        while !text.is_empty() {
            let room = self.limit - self.units;
            let (fits, units) = prefix_within(text, room);
            if fits == text.len() {
                escape_into(&mut self.html, text);
                self.units += units;
                return;
            }
            // Too long: cut after the last line break that fits, else (on an empty chunk)
            // wherever it must; a chunk with content is flushed first to give the text room.
            let cut = match text[..fits].rfind('\n') {
                Some(newline) => newline + 1,
                None if self.units > 0 => {
                    self.flush();
                    continue;
                }
                None => fits,
            };
            escape_into(&mut self.html, &text[..cut]);
            self.flush();
            text = &text[cut..];
        }
    }

    fn flush(&mut self) {
        let html = std::mem::take(&mut self.html);
        self.units = 0;
        // Telegram refuses messages that are empty or only whitespace.
        if !html.trim().is_empty() {
            self.done.push(html);
        }
    }
}

/// The longest prefix of `text` (in bytes) within `room` UTF-16 units, and its units.
fn prefix_within(text: &str, room: usize) -> (usize, usize) {
    let mut units = 0;
    for (byte, ch) in text.char_indices() {
        let next = units + ch.len_utf16();
        if next > room {
            return (byte, units);
        }
        units = next;
    }
    (text.len(), units)
}

/// Appends `text` with `&`, `<` and `>` escaped, as Telegram's HTML parse mode requires.
pub fn escape_into(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(parts: &[Part]) -> OutgoingMessage {
        OutgoingMessage {
            parts: parts.to_vec(),
            buttons: Vec::new(),
        }
    }

    fn text(s: &str) -> Part {
        Part::Text { text: s.into() }
    }

    fn mention(user_id: i64, name: &str) -> Part {
        Part::Mention {
            user_id,
            name: name.into(),
        }
    }

    #[test]
    fn renders_text_and_mentions_with_escaping() {
        for (parts, expected) in [
            (vec![text("a < b & c > d")], "a &lt; b &amp; c &gt; d"),
            (
                vec![mention(42, "<b>admin</b> & co"), text(" 第1次警告")],
                "<a href=\"tg://user?id=42\">&lt;b&gt;admin&lt;/b&gt; &amp; co</a> 第1次警告",
            ),
            (vec![mention(42, "")], "<a href=\"tg://user?id=42\">42</a>"),
            (vec![mention(-1002, "Chan<1>")], "<b>Chan&lt;1&gt;</b>"),
            (vec![text("&amp; stays literal")], "&amp;amp; stays literal"),
        ] {
            assert_eq!(render(&msg(&parts)), vec![expected.to_owned()], "{parts:?}");
        }
    }

    #[test]
    fn nothing_visible_renders_nothing() {
        assert!(render(&msg(&[])).is_empty());
        assert!(render(&msg(&[text(" \n ")])).is_empty());
    }

    #[test]
    fn long_messages_split_at_line_breaks_within_the_limit() {
        let m = msg(&[mention(1, "ab"), text(" hello\nworld, this is long\nend")]);
        assert_eq!(
            render_with_limit(&m, 12),
            vec![
                "<a href=\"tg://user?id=1\">ab</a> hello\n".to_owned(),
                "world, this ".to_owned(),
                "is long\nend".to_owned(),
            ]
        );
    }

    #[test]
    fn splits_count_utf16_units_and_never_cut_a_character() {
        // Each 😀 is two units: four fit in a limit of 9, never half of one.
        let chunks = render_with_limit(&msg(&[text(&"😀".repeat(6))]), 9);
        assert_eq!(chunks, vec!["😀😀😀😀".to_owned(), "😀😀".to_owned()]);
        let full = render(&msg(&[text(&"字".repeat(MAX_MESSAGE_UNITS + 1))]));
        assert_eq!(full.len(), 2);
        assert_eq!(full[0].chars().count(), MAX_MESSAGE_UNITS);
    }
}
