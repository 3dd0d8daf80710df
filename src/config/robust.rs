//! The robustness settings: replay protection, connection bounds, the store watchdog.
//!
//! | key                      | default | what                                                        |
//! |--------------------------|---------|-------------------------------------------------------------|
//! | `server.max_event_age`   | `24h`   | older events are acknowledged and ignored                   |
//! | `server.header_timeout`  | `10s`   | time to deliver a request head                              |
//! | `server.idle_timeout`    | `60s`   | time a keep-alive connection may wait for its next request  |
//! | `server.max_connections` | `512`   | connections open at once on the webhook listener            |
//! | `storage.watchdog`       | `30s`   | a write or flush running longer stops the process          |
//!
//! `max_event_age` must stay below `storage.seen_ttl`: an event is remembered (and a
//! redelivery ignored) for `seen_ttl`, so only events younger than that may be acted on, or a
//! replay of a forgotten event would punish again.

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// Default of `server.max_event_age`.
pub(super) const MAX_EVENT_AGE: HumanDuration = HumanDuration::from_secs(86_400);
/// Default of `server.header_timeout`.
pub(super) const HEADER_TIMEOUT: HumanDuration = HumanDuration::from_secs(10);
/// Default of `server.idle_timeout`.
pub(super) const IDLE_TIMEOUT: HumanDuration = HumanDuration::from_secs(60);
/// Default of `server.max_connections`.
pub(super) const MAX_CONNECTIONS: usize = 512;
/// Default of `storage.watchdog`.
pub(super) const WATCHDOG: HumanDuration = HumanDuration::from_secs(30);
/// The most `server.max_connections` accepts.
const MAX_CONNECTIONS_LIMIT: usize = 65_536;

impl Settings {
    /// The problems of the robustness settings.
    pub(super) fn robustness_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        let server = &self.server;
        let age = server.max_event_age;
        if age.as_secs() == 0 {
            issue("server.max_event_age", "must be at least 1s".into());
        } else if age >= self.storage.seen_ttl {
            issue(
                "server.max_event_age",
                format!(
                    "\"{age}\" must be shorter than storage.seen_ttl (\"{}\"): an event older than what \
                     qunguan remembers could be replayed and punish again",
                    self.storage.seen_ttl
                ),
            );
        }
        if server.header_timeout.as_secs() == 0 {
            issue("server.header_timeout", "must be at least 1s".into());
        }
        if server.idle_timeout.as_secs() == 0 {
            issue("server.idle_timeout", "must be at least 1s".into());
        }
        if server.max_connections == 0 || server.max_connections > MAX_CONNECTIONS_LIMIT {
            issue(
                "server.max_connections",
                format!(
                    "{} is out of range: must be between 1 and {MAX_CONNECTIONS_LIMIT}",
                    server.max_connections
                ),
            );
        }
        if self.storage.watchdog.as_secs() == 0 {
            issue("storage.watchdog", "must be at least 1s".into());
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_max_event_age_must_stay_below_seen_ttl() {
        assert!(Settings::default().robustness_issues().is_empty());
        let mut s = Settings::default();
        s.server.max_event_age = HumanDuration::from_secs(3 * 86_400);
        let issues = s.robustness_issues();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "server.max_event_age");
        assert!(issues[0].reason.contains("storage.seen_ttl"), "{}", issues[0].reason);
        s.server.max_event_age = HumanDuration::from_secs(3_600);
        s.server.max_connections = 0;
        s.storage.watchdog = HumanDuration::from_secs(0);
        let keys: Vec<String> = s.robustness_issues().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["server.max_connections", "storage.watchdog"]);
    }
}
