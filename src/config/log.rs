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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[messages]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesSettings {
    /// `zh-CN` (default) or `en`.
    pub locale: Locale,
}
