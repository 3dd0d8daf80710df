//! `[schedule]`: the defaults of scheduled posts.

use serde::Deserialize;

use crate::domain::duration::HumanDuration;

/// `[schedule]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// The IANA time zone of posts that name none (and of every `/schedule add`).
    pub timezone: String,
    /// The groups of one post are spread over this window after the post's time, each group
    /// always at the same offset, so many groups do not post in the same second. `0s` posts
    /// to every group at once.
    pub jitter: HumanDuration,
    /// How late a missed post (the daemon was down) may still be sent, for posts that do not
    /// set their own `catch_up`.
    pub catch_up: HumanDuration,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            timezone: crate::policy::calendar::DEFAULT_TIMEZONE.to_owned(),
            jitter: HumanDuration::from_secs(30),
            catch_up: HumanDuration::from_secs(600),
        }
    }
}
