//! `[learning]`: what learning from admins keeps in memory (issue 12 §4).

use serde::Deserialize;

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// `[learning]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningSettings {
    /// How long the text of a group's messages is kept in memory, so that `/spam` and
    /// `/notspam` can be sent as a reply to a message the bot has seen.
    pub recent_window: HumanDuration,
    /// The most messages kept per group; older ones go first.
    pub recent_per_group: usize,
    /// The most memory the kept messages may take over all groups, in MiB (their name and text
    /// plus 112 bytes each); the oldest go first. The default, 3, keeps about 16,400 messages of
    /// 80 bytes (the former layout's 4 MiB kept about 13,800).
    pub recent_mib: u64,
    /// How many messages the review list (`/review`) keeps over all groups; the oldest go
    /// first.
    pub review_size: usize,
}

impl Default for LearningSettings {
    fn default() -> Self {
        Self {
            recent_window: HumanDuration::from_secs(1_800),
            recent_per_group: 1_000,
            recent_mib: 3,
            review_size: 500,
        }
    }
}

impl Settings {
    /// The problems of `[learning]`.
    pub(super) fn learning_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        let learning = &self.learning;
        if learning.recent_window.as_secs() < 60 {
            issue(
                "learning.recent_window",
                format!(
                    "\"{}\" is shorter than 1m; admins need time to reply",
                    learning.recent_window
                ),
            );
        }
        if learning.recent_per_group == 0 || learning.recent_per_group > 100_000 {
            issue(
                "learning.recent_per_group",
                format!("{} is not between 1 and 100000", learning.recent_per_group),
            );
        }
        if learning.recent_mib == 0 || learning.recent_mib > 4_096 {
            issue(
                "learning.recent_mib",
                format!("{} is not between 1 and 4096", learning.recent_mib),
            );
        }
        if learning.review_size == 0 || learning.review_size > 100_000 {
            issue(
                "learning.review_size",
                format!("{} is not between 1 and 100000", learning.review_size),
            );
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, write};
    use super::*;

    #[test]
    fn learning_defaults_to_the_issue_and_bad_values_name_their_keys() {
        let s = Settings::default();
        assert_eq!(
            s.learning.recent_window.as_secs(),
            1_800,
            "at least the last 30 minutes"
        );
        // The default holds at least as many typical messages (80 bytes of name and text) as
        // the former 4 MiB at 224 bytes of bookkeeping each.
        let kept = usize::try_from(s.learning.recent_mib << 20).expect("fits") / (80 + 112);
        assert!(kept >= (4 << 20) / (80 + 224), "{kept}");
        for (toml, key) in [
            ("[learning]\nrecent_window = \"10s\"\n", "learning.recent_window"),
            ("[learning]\nrecent_per_group = 0\n", "learning.recent_per_group"),
            ("[learning]\nrecent_mib = 0\n", "learning.recent_mib"),
            ("[learning]\nreview_size = 0\n", "learning.review_size"),
            ("[learning]\nrecent = 5\n", "recent"),
        ] {
            let file = write(toml);
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }
}
