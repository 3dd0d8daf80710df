//! The language of what members and admins read.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Language of the bot's group texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Locale {
    /// Simplified Chinese.
    #[default]
    #[serde(rename = "zh-CN", alias = "zh", alias = "zh-cn", alias = "zh_CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en", alias = "en-US", alias = "en_US")]
    En,
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        })
    }
}
