//! The vocabulary of learning from admins and of trust (issue 12 §3–§4): labelled samples,
//! a member's standing in a group, and the admin review list.
//!
//! - A [`Sample`] is a message an admin labelled with `/spam` or `/notspam` (or an operator
//!   imported): its normalized text and masked template, who labelled it, when and where. A
//!   spam sample that a later `/notspam` matched is *retired*: kept for the record, but no
//!   longer a near-duplicate template and no longer replayed into the model.
//! - [`MemberTrust`] is what trust is decided from: when the member joined (to the day) and
//!   how many clean messages they have sent (up to the configured number; it stops counting
//!   there).
//! - A [`ReviewItem`] is a message of a trusted member that the model alone would have
//!   acted on: recorded for admins (`/review`) instead of acted on.

use serde::{Deserialize, Serialize};

use crate::domain::event::GroupId;

/// How an admin labelled a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleLabel {
    /// An ad, a scam, … (`/spam`).
    Spam,
    /// An ordinary message (`/notspam`).
    Ham,
}

impl SampleLabel {
    /// `spam` or `ham`, as exported and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Ham => "ham",
        }
    }

    /// Spam for `true`.
    #[must_use]
    pub fn of(spam: bool) -> Self {
        if spam { Self::Spam } else { Self::Ham }
    }

    /// True for spam.
    #[must_use]
    pub fn is_spam(self) -> bool {
        self == Self::Spam
    }
}

impl std::str::FromStr for SampleLabel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spam" => Ok(Self::Spam),
            "ham" => Ok(Self::Ham),
            other => Err(format!("{other:?} is not a label; use spam or ham")),
        }
    }
}

/// A labelled message, as stored in the `samples` tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Spam or ham.
    pub label: SampleLabel,
    /// The message after normalization (folded, lower-case, simplified; spaces and
    /// punctuation kept): what the model learns from.
    pub text: String,
    /// The masked template (digits, ids and links as placeholders): what near-duplicates are
    /// compared on. Shown in `qunguan samples list`.
    pub masked: String,
    /// The admin who labelled it; `None` for a sample imported without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<i64>,
    /// Their display name at the time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by_name: String,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The group it was labelled in; `None` for an import without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupId>,
    /// The audit case of the label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<u64>,
    /// A spam sample a `/notspam` matched: no longer acted on or learned from.
    #[serde(default)]
    pub retired: bool,
}

/// The longest text a sample keeps, in bytes (cut on a character boundary). Spam templates
/// show long before this; the bound keeps one label from carrying a wall of text.
pub const SAMPLE_TEXT_MAX: usize = 2048;

/// What trust is decided from, per member and group. Stored in 6 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberTrust {
    /// The UTC day the member joined (days since 1970-01-01), or was first seen.
    pub joined_day: u32,
    /// Clean messages counted so far; counting stops at the configured number.
    pub clean: u8,
}

impl MemberTrust {
    /// A member who joined (or was first seen) at `at_ms`.
    #[must_use]
    pub fn joined_at(at_ms: i64) -> Self {
        Self {
            joined_day: day_of(at_ms),
            clean: 0,
        }
    }
}

/// The UTC day (days since 1970-01-01) of a unix-ms time; 0 before 1970.
#[must_use]
pub fn day_of(at_ms: i64) -> u32 {
    u32::try_from(at_ms.div_euclid(DAY_MS)).unwrap_or(if at_ms < 0 { 0 } else { u32::MAX })
}

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// A message the model alone would have acted on, from a trusted member: for admins to look
/// at (`/review`), not acted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// Where.
    pub group: GroupId,
    /// The message.
    pub message_id: i64,
    /// Who sent it.
    pub user_id: i64,
    /// Their display name.
    #[serde(default)]
    pub user_name: String,
    /// The start of the text.
    pub excerpt: String,
    /// The model's spam probability (`None`: a cue combination the model did not score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_from_the_epoch_in_utc() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), 0);
        // 2024-11-21T06:45:30Z
        assert_eq!(day_of(1_732_171_530_000), 20_048);
        assert_eq!(MemberTrust::joined_at(1_732_171_530_000).joined_day, 20_048);
    }

    #[test]
    fn labels_read_as_written() {
        assert_eq!(serde_json::to_string(&SampleLabel::Spam).expect("json"), "\"spam\"");
        assert_eq!(SampleLabel::of(false).as_str(), "ham");
        assert!(SampleLabel::of(true).is_spam());
    }
}
