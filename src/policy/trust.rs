//! Trust (issue 12 §3): is a member still *new*, or *trusted*?
//!
//! A member is new until they have sent `clean_messages` messages without a violation AND
//! been in the group for `member_for`. The join time is the join event's, or — for someone
//! who was already in the group when qunguan first saw them — their first message's. It is
//! kept to the UTC day ([`MemberTrust::joined_day`]) and counts from the *end* of that day,
//! so a member is new for at least `member_for` and at most a day longer: day precision can
//! only make qunguan stricter, never trust someone early.
//!
//! A member qunguan has never seen is new (unless both conditions are switched off).

use std::time::Duration;

use crate::domain::learning::{DAY_MS, MemberTrust};
use crate::policy::filter::Trust;

/// When a member counts as trusted (`[trust]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Clean messages needed (0 = no condition).
    pub clean_messages: u8,
    /// Time in the group needed (zero = no condition).
    pub member_for: Duration,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self {
            clean_messages: 3,
            member_for: Duration::from_secs(3 * 86_400),
        }
    }
}

impl TrustPolicy {
    /// Whether a member with `record` (`None`: never seen) is trusted at `now_ms`.
    #[must_use]
    pub fn is_trusted(&self, record: Option<&MemberTrust>, now_ms: i64) -> bool {
        let (clean, joined_end_ms) = match record {
            Some(r) => (r.clean, (i64::from(r.joined_day) + 1).saturating_mul(DAY_MS)),
            None => (0, i64::MAX),
        };
        let member_for_ms = i64::try_from(self.member_for.as_millis()).unwrap_or(i64::MAX);
        let long_enough = member_for_ms == 0 || now_ms >= joined_end_ms.saturating_add(member_for_ms);
        clean >= self.clean_messages && long_enough
    }

    /// The trust level of a member with `record` at `now_ms`, as the filter takes it.
    #[must_use]
    pub fn level(&self, record: Option<&MemberTrust>, now_ms: i64) -> Trust {
        if self.is_trusted(record, now_ms) {
            Trust::Trusted
        } else {
            Trust::New
        }
    }

    /// Whether a clean message of a member with `record` is still worth counting.
    #[must_use]
    pub fn counts(&self, record: Option<&MemberTrust>) -> bool {
        record.is_none_or(|r| r.clean < self.clean_messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-11-21T06:45:30Z, day 20048.
    const JOINED: i64 = 1_732_171_530_000;
    const HOUR: i64 = 3_600_000;

    fn member(clean: u8) -> MemberTrust {
        MemberTrust {
            clean,
            ..MemberTrust::joined_at(JOINED)
        }
    }

    #[test]
    fn new_until_enough_clean_messages_and_time_in_the_group() {
        let policy = TrustPolicy::default();
        // End of the join day: 2024-11-22T00:00Z; plus 3 days: 2024-11-25T00:00Z.
        let trusted_from = 20_049 * DAY_MS + 3 * DAY_MS;
        let rows: [(Option<MemberTrust>, i64, bool); 7] = [
            (None, trusted_from + 100 * DAY_MS, false),
            (Some(member(3)), JOINED, false),
            (Some(member(3)), JOINED + 3 * DAY_MS, false),
            (Some(member(3)), trusted_from - 1, false),
            (Some(member(3)), trusted_from, true),
            (Some(member(2)), trusted_from + 30 * DAY_MS, false),
            (Some(member(255)), trusted_from, true),
        ];
        for (record, now, trusted) in rows {
            assert_eq!(policy.is_trusted(record.as_ref(), now), trusted, "{record:?} at {now}");
        }
        assert_eq!(policy.level(Some(&member(3)), trusted_from), Trust::Trusted);
        assert_eq!(policy.level(Some(&member(3)), trusted_from - 1), Trust::New);
        // Day precision never trusts early: at most a day late.
        assert!(trusted_from - JOINED >= 3 * DAY_MS);
        assert!(trusted_from - JOINED <= 4 * DAY_MS);
    }

    #[test]
    fn switched_off_conditions_do_not_apply() {
        let no_time = TrustPolicy {
            member_for: Duration::ZERO,
            ..TrustPolicy::default()
        };
        assert!(no_time.is_trusted(Some(&member(3)), JOINED + HOUR));
        assert!(!no_time.is_trusted(Some(&member(2)), JOINED + HOUR));
        let nothing = TrustPolicy {
            clean_messages: 0,
            member_for: Duration::ZERO,
        };
        assert!(nothing.is_trusted(None, 0), "everyone is trusted");
        assert!(!nothing.counts(Some(&member(0))), "nothing to count");
        assert!(TrustPolicy::default().counts(None));
        assert!(TrustPolicy::default().counts(Some(&member(2))));
        assert!(!TrustPolicy::default().counts(Some(&member(3))));
    }
}
