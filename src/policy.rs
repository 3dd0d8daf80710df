//! Per-group moderation policy: `[moderation]` with each `[groups.<id>]` override applied,
//! resolved once at start so a message costs one hash lookup, not a merge.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{FloodSettings, Rung, Settings, UserRef};
use crate::event::{GroupId, Platform};
use crate::ladder;
use crate::normalize::{NormalizeOptions, Normalizer};

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
    /// Greeting new members: `[welcome]` with `[groups.<id>.welcome]` applied.
    pub welcome: WelcomePolicy,
    /// Answering join requests: `[join_requests]` with `[groups.<id>.join_requests]` applied.
    pub join: JoinPolicy,
}

/// A group's welcome, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WelcomePolicy {
    /// Greet members who join.
    pub enabled: bool,
    /// The template; empty = the built-in one of `[messages] locale`.
    pub template: Arc<str>,
}

/// A group's join-request screening, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinPolicy {
    /// The accepted answers, normalized once here (compact form: case, width, spaces and
    /// punctuation folded away), so a request is compared without re-normalizing them.
    pub answers: Arc<[String]>,
    /// Reject requests whose text the filter flags.
    pub reject_blocked: bool,
    /// The reason shown to a rejected applicant; empty = the built-in text.
    pub reject_reason: Arc<str>,
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
            welcome: WelcomePolicy {
                enabled: settings.welcome.enabled,
                template: settings.welcome.template.as_str().into(),
            },
            join: JoinPolicy {
                answers: compact_answers(&settings.join_requests.answers),
                reject_blocked: settings.join_requests.reject_blocked,
                reject_reason: settings.join_requests.reject_reason.as_str().into(),
            },
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
                    welcome: WelcomePolicy {
                        enabled: group.welcome.enabled.unwrap_or(default.welcome.enabled),
                        template: group
                            .welcome
                            .template
                            .as_deref()
                            .map_or_else(|| Arc::clone(&default.welcome.template), Into::into),
                    },
                    join: JoinPolicy {
                        answers: group
                            .join_requests
                            .answers
                            .as_deref()
                            .map_or_else(|| Arc::clone(&default.join.answers), compact_answers),
                        reject_blocked: group
                            .join_requests
                            .reject_blocked
                            .unwrap_or(default.join.reject_blocked),
                        reject_reason: group
                            .join_requests
                            .reject_reason
                            .as_deref()
                            .map_or_else(|| Arc::clone(&default.join.reject_reason), Into::into),
                    },
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

/// The answers in the compact normalized form requests are compared in.
fn compact_answers(answers: &[String]) -> Arc<[String]> {
    let normalizer = Normalizer::new(NormalizeOptions::default());
    answers
        .iter()
        .map(|a| normalizer.compact(a))
        .filter(|a| !a.is_empty())
        .collect()
}

impl JoinPolicy {
    /// The first accepted answer contained in `compact_text` (a request's text in compact
    /// normalized form), if any.
    #[must_use]
    pub fn answered(&self, compact_text: &str) -> Option<&str> {
        self.answers
            .iter()
            .find(|a| compact_text.contains(a.as_str()))
            .map(String::as_str)
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
