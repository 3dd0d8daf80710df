//! A group's numbers for one day: what the stats service counts, the store keeps and the
//! reports summarize.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One group's numbers for one day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// Messages seen (the bot's own not counted).
    #[serde(default)]
    pub messages: u64,
    /// Members who wrote at least one message.
    #[serde(default)]
    pub active_members: u64,
    /// Their ids, kept only while the day is current; see the module docs.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub members: BTreeSet<i64>,
    /// Members who joined.
    #[serde(default)]
    pub joins: u64,
    /// Members who left or were removed.
    #[serde(default)]
    pub leaves: u64,
    /// Violations by rule name (dry-run observations included; an admin's `/warn` counts
    /// under `manual`).
    #[serde(default)]
    pub violations: BTreeMap<String, u64>,
    /// Moderation measures taken, automatic or by an admin's command, by kind (`recall`,
    /// `warn`, `mute`, `unmute`, `kick`, `ban`).
    #[serde(default)]
    pub actions: BTreeMap<String, u64>,
    /// The bot account that saw the day's last counted message (the QQ number of the OneBot
    /// login, the Telegram bot's id): which account keeps the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<i64>,
}

impl DayStats {
    /// Adds `other`'s counts to these (members are united, not added).
    pub fn absorb(&mut self, other: &Self) {
        self.messages += other.messages;
        self.members.extend(other.members.iter().copied());
        self.active_members = self.active_members.max(self.members.len() as u64);
        self.joins += other.joins;
        self.leaves += other.leaves;
        for (rule, n) in &other.violations {
            *self.violations.entry(rule.clone()).or_default() += n;
        }
        for (kind, n) in &other.actions {
            *self.actions.entry(kind.clone()).or_default() += n;
        }
        if other.account.is_some() {
            self.account = other.account;
        }
    }

    /// Total violations of every rule.
    #[must_use]
    pub fn violation_count(&self) -> u64 {
        self.violations.values().sum()
    }

    /// True when nothing was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.messages == 0
            && self.active_members == 0
            && self.members.is_empty()
            && self.joins == 0
            && self.leaves == 0
            && self.violations.is_empty()
            && self.actions.is_empty()
    }
}
