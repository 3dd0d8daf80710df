//! Resolving `[moderation]` and each `[groups.<id>]` override into the policies the services
//! read ([`Policies`]), once at start.

use std::sync::Arc;

use super::Settings;
use crate::domain::event::GroupId;
use crate::policy::gate::GatePolicy;
use crate::policy::group::{GroupPolicy, JoinPolicy, Policies, WelcomePolicy, compact_answers};

impl Settings {
    /// Resolves the policies of `settings`. Group keys that do not parse were already reported
    /// by [`Settings::validate`]; they are skipped here.
    #[must_use]
    pub fn policies(&self) -> Policies {
        let settings = self;
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
            gate: GatePolicy {
                enabled: settings.verify.enabled,
                timeout: settings.verify.timeout.get(),
                mode: settings.verify.mode,
                mute: settings.verify.mute,
                button: settings.verify.button,
                max_tries: settings.verify.max_tries,
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
                    gate: GatePolicy {
                        enabled: group.verify.enabled.unwrap_or(default.gate.enabled),
                        timeout: group.verify.timeout.map_or(default.gate.timeout, |t| t.get()),
                        mode: group.verify.mode.unwrap_or(default.gate.mode),
                        mute: group.verify.mute.unwrap_or(default.gate.mute),
                        button: group.verify.button.unwrap_or(default.gate.button),
                        max_tries: group.verify.max_tries.unwrap_or(default.gate.max_tries),
                    },
                };
                Some((id, policy))
            })
            .collect();
        Policies::from_parts(default, groups, settings.admin.super_users.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FloodOverride, GroupSettings};
    use std::time::Duration;

    use crate::domain::duration::HumanDuration;
    use crate::domain::event::Platform;
    use crate::policy::ladder::Rung;

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
        let policies = settings.policies();

        let a = policies.group(GroupId::qq(100));
        assert_eq!(&*a.ladder, &[Rung::Warn, Rung::Ban]);
        assert_eq!(a.strike_ttl, Duration::from_secs(30 * 86_400), "inherited");
        assert_eq!(a.exempt, [3, 9]);
        assert!(a.is_exempt(9) && !a.is_exempt(4));
        assert!(!a.dry_run, "the group is live although the default is dry run");
        assert_eq!((a.flood.messages, a.flood.repeats), (0, 5));

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
