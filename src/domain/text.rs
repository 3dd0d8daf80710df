//! Caps on the strings the daemon keeps: what a member wrote or called themselves is input
//! from strangers, so every copy that is stored, posted or logged is cut to a bounded number
//! of characters (`[limits]` in the configuration).
//!
//! Cutting is by characters, never inside one; a cut string ends with `…` (so it is at most
//! the cap plus that one character). Strings within the cap are not copied.

use std::borrow::Cow;

/// How many characters of each kind of string are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLimits {
    /// Member and admin names.
    pub name_chars: usize,
    /// One matched span.
    pub matched_chars: usize,
    /// Matched spans per case.
    pub matched_spans: usize,
    /// Message excerpts, join-request texts, reasons.
    pub excerpt_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        Self {
            name_chars: 64,
            matched_chars: 64,
            matched_spans: 8,
            excerpt_chars: 200,
        }
    }
}

impl TextLimits {
    /// A name, cut to [`TextLimits::name_chars`].
    #[must_use]
    pub fn name<'a>(&self, name: &'a str) -> Cow<'a, str> {
        cap(name, self.name_chars)
    }

    /// An excerpt, cut to [`TextLimits::excerpt_chars`].
    #[must_use]
    pub fn excerpt(&self, text: &str) -> String {
        cap(text, self.excerpt_chars).into_owned()
    }

    /// Matched spans: at most [`TextLimits::matched_spans`] of them, each cut to
    /// [`TextLimits::matched_chars`].
    #[must_use]
    pub fn spans<'a>(&self, spans: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        spans
            .into_iter()
            .take(self.matched_spans)
            .map(|s| cap(s, self.matched_chars).into_owned())
            .collect()
    }
}

/// `text` cut to at most `chars` characters plus `…`; borrowed when it is short enough.
#[must_use]
pub fn cap(text: &str, chars: usize) -> Cow<'_, str> {
    // A string of at most `chars` bytes has at most `chars` characters: no need to count.
    if text.len() <= chars {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_borrowed_and_long_ones_cut_on_a_character_boundary() {
        assert!(matches!(cap("短", 4), Cow::Borrowed("短")));
        assert!(matches!(cap("四个汉字", 4), Cow::Borrowed(_)), "12 bytes, 4 characters");
        assert_eq!(cap("五个汉字了", 4), "五个汉字…");
        assert_eq!(cap("abcdef", 3), "abc…");
        let huge = "名".repeat(100_000);
        let cut = cap(&huge, 64);
        assert_eq!(cut.chars().count(), 65);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn spans_are_limited_in_number_and_length() {
        let limits = TextLimits {
            matched_chars: 3,
            matched_spans: 2,
            ..TextLimits::default()
        };
        let spans = ["加微信好友", "ok", "third"];
        assert_eq!(limits.spans(spans), ["加微信…", "ok"]);
    }
}
