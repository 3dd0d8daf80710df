//! `[inactivity]`: tracking silent members (潜水), reminders and optional removal, and the
//! checks of those settings.

use serde::Deserialize;

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// `[inactivity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InactivitySettings {
    /// Record when each member last spoke (or joined); `/inactive` needs it.
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// Post a reminder mentioning members silent this long, once per step and silence,
    /// e.g. `["7d", "15d", "30d"]`. Empty (the default) = no reminders.
    pub remind_after: Vec<HumanDuration>,
    /// Remove members silent this long, through the outbox, audited. `0s` (the default) =
    /// never.
    pub remove_after: HumanDuration,
    /// How many members one `/inactive` answer lists at most.
    pub list_limit: usize,
    /// How often the sweep that sends reminders and removals runs.
    pub check_every: HumanDuration,
}

impl Default for InactivitySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            remind_after: Vec::new(),
            remove_after: HumanDuration::from_secs(0),
            list_limit: 30,
            check_every: HumanDuration::from_secs(3_600),
        }
    }
}

impl InactivitySettings {
    /// The removal threshold, if removal is on.
    #[must_use]
    pub fn remove_after(&self) -> Option<std::time::Duration> {
        (self.enabled && self.remove_after.as_secs() > 0).then(|| self.remove_after.get())
    }
}

impl Settings {
    /// The problems of `[inactivity]`.
    pub(super) fn inactivity_issues(&self) -> Vec<ConfigIssue> {
        let ia = &self.inactivity;
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: format!("inactivity.{key}"),
                reason,
            });
        };
        for (i, pair) in ia.remind_after.windows(2).enumerate() {
            if pair[1] <= pair[0] {
                issue(
                    &format!("remind_after[{}]", i + 1),
                    format!(
                        "\"{}\" must be longer than the step before it (\"{}\")",
                        pair[1], pair[0]
                    ),
                );
            }
        }
        if ia.remind_after.iter().any(|d| d.as_secs() < 3_600) {
            issue("remind_after", "every step must be at least 1h".into());
        }
        let remove = ia.remove_after.as_secs();
        if remove > 0 && remove < 86_400 {
            issue(
                "remove_after",
                format!("\"{}\" is shorter than 1d; use \"0s\" to never remove", ia.remove_after),
            );
        }
        if ia.list_limit == 0 || ia.list_limit > 200 {
            issue("list_limit", "must be between 1 and 200".into());
        }
        if ia.check_every.as_secs() < 60 {
            issue("check_every", "must be at least 1m".into());
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::config::test_support::{env, write};

    #[test]
    fn inactivity_is_tracked_by_default_with_reminders_and_removal_off() {
        let s = Settings::load_with_env(None, env(&[])).expect("defaults are valid");
        assert!(s.inactivity.enabled && s.inactivity.remind_after.is_empty());
        assert_eq!(s.inactivity.remove_after(), None, "removal is off by default");
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__INACTIVITY__REMIND_AFTER", "7d, 15d,30d"),
                ("QUNGUAN__INACTIVITY__REMOVE_AFTER", "60d"),
            ]),
        )
        .expect("valid");
        let steps: Vec<u64> = s.inactivity.remind_after.iter().map(|d| d.as_secs() / 86_400).collect();
        assert_eq!(steps, [7, 15, 30]);
        assert_eq!(s.inactivity.remove_after().map(|d| d.as_secs()), Some(60 * 86_400));
    }

    #[test]
    fn inactivity_problems_name_the_key() {
        // ([inactivity] settings, the key to be named)
        let cases = [
            ("remind_after = [\"15d\", \"7d\"]", "inactivity.remind_after[1]"),
            ("remind_after = [\"7d\", \"7d\"]", "inactivity.remind_after[1]"),
            ("remind_after = [\"10m\"]", "inactivity.remind_after"),
            ("remove_after = \"2h\"", "inactivity.remove_after"),
            ("list_limit = 0", "inactivity.list_limit"),
            ("list_limit = 500", "inactivity.list_limit"),
            ("check_every = \"5s\"", "inactivity.check_every"),
            ("remind_after = [\"7x\"]", "inactivity.remind_after"),
        ];
        for (line, key) in cases {
            let file = write(&format!("[inactivity]\n{line}\n"));
            let err = Settings::load_with_env(Some(file.path()), env(&[])).expect_err(line);
            assert!(err.to_string().contains(key), "{line}: {err}");
        }
    }
}
