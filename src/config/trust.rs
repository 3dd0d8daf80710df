//! `[trust]`: when a member counts as trusted rather than new (issue 12 §3).

use serde::Deserialize;

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// `[trust]`: a member is new until they have sent `clean_messages` clean messages and been
/// in the group for `member_for` (from their join, or from when qunguan first saw them).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustSettings {
    /// Clean messages (no violation) a member must have sent; at most 255. 0 = no such
    /// condition.
    pub clean_messages: u32,
    /// How long a member must have been in the group. Join times are kept to the UTC day and
    /// count from the end of that day, so a member is new for at least this long and at most
    /// a day longer. `0s` = no such condition.
    pub member_for: HumanDuration,
}

impl Default for TrustSettings {
    fn default() -> Self {
        Self {
            clean_messages: 3,
            member_for: HumanDuration::from_secs(3 * 86_400),
        }
    }
}

impl TrustSettings {
    /// The pure trust decision these settings describe.
    #[must_use]
    pub fn policy(&self) -> crate::policy::trust::TrustPolicy {
        crate::policy::trust::TrustPolicy {
            clean_messages: u8::try_from(self.clean_messages).unwrap_or(u8::MAX),
            member_for: self.member_for.get(),
        }
    }
}

impl Settings {
    /// The problems of `[trust]`.
    pub(super) fn trust_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.trust.clean_messages > 255 {
            issues.push(ConfigIssue {
                key: "trust.clean_messages".to_owned(),
                reason: format!("{} is more than 255; use 0 to 255", self.trust.clean_messages),
            });
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env, write};
    use super::*;

    #[test]
    fn trust_defaults_to_the_issue_and_bad_values_name_their_keys() {
        let s = Settings::default();
        assert_eq!(s.trust.clean_messages, 3);
        assert_eq!(s.trust.member_for.as_secs(), 3 * 86_400);
        for (toml, key) in [
            ("[trust]\nclean_messages = 256\n", "trust.clean_messages"),
            ("[trust]\nmember_for = \"soon\"\n", "member_for"),
        ] {
            let file = write(toml);
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
        let file = write("[trust]\nclean_messages = 0\nmember_for = \"0s\"\n");
        let s = Settings::load_with_env(Some(file.path()), env(&[])).expect("everyone trusted is allowed");
        assert_eq!((s.trust.clean_messages, s.trust.member_for.as_secs()), (0, 0));
    }
}
