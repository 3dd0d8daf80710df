//! Per-group moderation policy: `[moderation]` with each `[groups.<id>]` override applied,
//! resolved once at start so a message costs one hash lookup, not a merge.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{FloodSettings, Rung, Settings, UserRef};
use crate::event::{GroupId, Platform};
use crate::ladder;

/// How one group is moderated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPolicy {
    /// The ladder's rungs (never empty; validation guarantees it).
    pub ladder: Arc<[Rung]>,
    /// How long a strike counts.
    pub strike_ttl: Duration,
    /// Members never punished here (sorted), besides owners, admins and super users.
    pub exempt: Vec<i64>,
    /// Decide and audit, but send nothing.
    pub dry_run: bool,
    /// Flood limits.
    pub flood: FloodSettings,
}

impl GroupPolicy {
    /// The ladder in the form [`ladder::decide`] takes.
    #[must_use]
    pub fn ladder_policy(&self) -> ladder::Policy<'_> {
        ladder::Policy {
            ladder: &self.ladder,
            strike_ttl: self.strike_ttl,
        }
    }

    /// Whether `user_id` is on this group's exempt list.
    #[must_use]
    pub fn is_exempt(&self, user_id: i64) -> bool {
        self.exempt.binary_search(&user_id).is_ok()
    }
}

/// Every group's policy, and who the super users are.
#[derive(Clone, Debug)]
pub struct Policies {
    default: GroupPolicy,
    groups: HashMap<GroupId, GroupPolicy>,
    super_users: HashSet<UserRef>,
}

impl Policies {
    /// Resolves the policies of `settings`. Group keys that do not parse were already reported
    /// by [`Settings::validate`]; they are skipped here.
    #[must_use]
    pub fn new(settings: &Settings) -> Self {
        let moderation = &settings.moderation;
        let default = GroupPolicy {
            ladder: moderation.ladder.clone().into(),
            strike_ttl: moderation.strike_ttl.get(),
            exempt: Vec::new(),
            dry_run: moderation.dry_run,
            flood: moderation.flood,
        };
        let groups = settings
            .groups
            .iter()
            .filter_map(|(name, group)| {
                let id: GroupId = name.parse().ok()?;
                let mut exempt = group.exempt.clone();
                exempt.sort_unstable();
                exempt.dedup();
                let policy = GroupPolicy {
                    ladder: group
                        .ladder
                        .clone()
                        .map_or_else(|| Arc::clone(&default.ladder), Into::into),
                    strike_ttl: group.strike_ttl.map_or(default.strike_ttl, |t| t.get()),
                    exempt,
                    dry_run: group.dry_run.unwrap_or(default.dry_run),
                    flood: group.flood.apply(default.flood),
                };
                Some((id, policy))
            })
            .collect();
        Self {
            default,
            groups,
            super_users: settings.admin.super_users.iter().copied().collect(),
        }
    }

    /// The policy of `group`.
    #[must_use]
    pub fn group(&self, group: GroupId) -> &GroupPolicy {
        self.groups.get(&group).unwrap_or(&self.default)
    }

    /// Whether `user_id` on `platform` is a configured super user.
    #[must_use]
    pub fn is_super_user(&self, platform: Platform, user_id: i64) -> bool {
        !self.super_users.is_empty() && self.super_users.contains(&UserRef { platform, id: user_id })
    }

    /// The strike window of `group` (for the store's sweep).
    #[must_use]
    pub fn strike_ttl(&self, group: GroupId) -> Duration {
        self.group(group).strike_ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FloodOverride, GroupSettings, HumanDuration};

    #[test]
    fn group_overrides_apply_key_by_key() {
        let mut settings = Settings::default();
        settings.moderation.dry_run = true;
        settings.admin.super_users = vec!["tg:42".parse().expect("user")];
        settings.groups.insert(
            "qq:100".into(),
            GroupSettings {
                ladder: Some(vec![Rung::Warn, Rung::Ban]),
                exempt: vec![9, 3, 9],
                dry_run: Some(false),
                flood: FloodOverride {
                    messages: Some(0),
                    ..FloodOverride::default()
                },
                ..GroupSettings::default()
            },
        );
        settings.groups.insert(
            "200".into(),
            GroupSettings {
                strike_ttl: Some(HumanDuration::from_secs(60)),
                ..GroupSettings::default()
            },
        );
        let policies = Policies::new(&settings);

        let a = policies.group(GroupId::qq(100));
        assert_eq!(&*a.ladder, &[Rung::Warn, Rung::Ban]);
        assert_eq!(a.strike_ttl, Duration::from_secs(30 * 86_400), "inherited");
        assert_eq!(a.exempt, [3, 9]);
        assert!(a.is_exempt(9) && !a.is_exempt(4));
        assert!(!a.dry_run, "the group is live although the default is dry run");
        assert_eq!((a.flood.messages, a.flood.repeats), (0, 3));

        let b = policies.group(GroupId::qq(200));
        assert_eq!(b.strike_ttl, Duration::from_secs(60));
        assert_eq!(b.ladder.len(), 3);
        assert!(b.dry_run);

        let other = policies.group(GroupId::telegram(-100));
        assert_eq!(other, policies.group(GroupId::qq(1)));

        assert!(policies.is_super_user(Platform::Telegram, 42));
        assert!(!policies.is_super_user(Platform::Qq, 42), "ids are per platform");
    }
}
