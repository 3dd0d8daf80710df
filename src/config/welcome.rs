//! `[welcome]` and its per-group override: greeting new members.

use serde::Deserialize;

use crate::domain::duration::HumanDuration;

/// `[welcome]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WelcomeSettings {
    /// Greet members who join.
    #[serde(deserialize_with = "super::strict::bool")]
    pub enabled: bool,
    /// Template of the greeting: `{at}` mentions the members greeted, `{name}` is their
    /// names, `{count}` how many they are, `{group}` the group and `{rules}` the group rules
    /// text. Empty = the built-in text of `[messages] locale`.
    pub template: String,
    /// At most one welcome per this window: a join into a quiet group is greeted at once,
    /// members who join within the window after a welcome together when it ends. `0s` greets
    /// every member at once, alone.
    pub batch_window: HumanDuration,
    /// A member who joined the same group less than this long before is not greeted again.
    /// `0s` greets every join.
    pub rejoin_window: HumanDuration,
    /// Delete the group's previous welcome when a new one is posted, so only the newest
    /// stays in the chat.
    #[serde(deserialize_with = "super::strict::bool")]
    pub delete_previous: bool,
}

impl Default for WelcomeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            template: String::new(),
            batch_window: HumanDuration::from_secs(10),
            rejoin_window: HumanDuration::from_secs(7 * 86_400),
            delete_previous: false,
        }
    }
}

/// `[groups.<id>.welcome]`: a group's changes to `[welcome]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WelcomeOverride {
    /// See [`WelcomeSettings::enabled`].
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub enabled: Option<bool>,
    /// See [`WelcomeSettings::template`].
    pub template: Option<String>,
}
