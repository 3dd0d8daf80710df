//! Per-group moderation policy: `[moderation]` with each `[groups.<id>]` override applied,
//! resolved once at start so a message costs one hash lookup, not a merge.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::event::UserRef;
use crate::domain::event::{GroupId, Platform};
use crate::policy::flood::FloodSettings;
use crate::policy::ladder;
use crate::policy::ladder::Rung;
use crate::policy::normalize::{NormalizeOptions, Normalizer};

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
    /// The gate at the door: `[verify]` with `[groups.<id>.verify]` applied.
    pub gate: crate::policy::gate::GatePolicy,
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
    /// Policies from their parts: the default, each configured group's, the super users.
    #[must_use]
    pub fn from_parts(
        default: GroupPolicy,
        groups: HashMap<GroupId, GroupPolicy>,
        super_users: HashSet<UserRef>,
    ) -> Self {
        Self {
            default,
            groups,
            super_users,
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
pub fn compact_answers(answers: &[String]) -> Arc<[String]> {
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
