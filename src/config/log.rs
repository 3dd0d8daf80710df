//! `[log]` and `[messages]`: how qunguan logs, and the language of what it posts.

use serde::Deserialize;

use crate::domain::locale::Locale;

/// `[log]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors. The level comes from `RUST_LOG`.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::strict::choice(deserializer, &[("pretty", Self::Pretty), ("json", Self::Json)])
    }
}

/// `"zh-CN"` (also `zh`, `zh_CN`) or `"en"` (also `en-US`, `en_US`).
fn locale<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Locale, D::Error> {
    super::strict::choice(
        deserializer,
        &[
            ("zh-CN", Locale::ZhCn),
            ("en", Locale::En),
            ("zh", Locale::ZhCn),
            ("zh_CN", Locale::ZhCn),
            ("en-US", Locale::En),
            ("en_US", Locale::En),
        ],
    )
}

/// `[messages]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesSettings {
    /// `zh-CN` (default) or `en`.
    #[serde(deserialize_with = "locale")]
    pub locale: Locale,
}
