//! `[join_requests]` and its per-group override: answering requests to join a group.

use serde::Deserialize;

/// `[join_requests]`: how requests to join a group (QQ 入群申请, Telegram join requests) are
/// answered. A request is rejected when its text is flagged by the filter, approved when it
/// contains one of the answers, and otherwise left to the group's admins.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRequestSettings {
    /// Approve a request whose text (the answer to the group's question on QQ, the bio on
    /// Telegram) contains one of these. Empty = approve nothing automatically.
    pub answers: Vec<String>,
    /// Reject a request whose text the filter flags (what would be a violation in a message).
    #[serde(deserialize_with = "super::strict::bool")]
    pub reject_blocked: bool,
    /// The reason a rejected applicant is shown (QQ only; Telegram shows none). Empty = the
    /// built-in text of `[messages] locale`.
    pub reject_reason: String,
}

impl Default for JoinRequestSettings {
    fn default() -> Self {
        Self {
            answers: Vec::new(),
            reject_blocked: true,
            reject_reason: String::new(),
        }
    }
}

/// `[groups.<id>.join_requests]`: a group's changes to `[join_requests]`; unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRequestOverride {
    /// See [`JoinRequestSettings::answers`].
    pub answers: Option<Vec<String>>,
    /// See [`JoinRequestSettings::reject_blocked`].
    #[serde(default, deserialize_with = "super::strict::option_bool")]
    pub reject_blocked: Option<bool>,
    /// See [`JoinRequestSettings::reject_reason`].
    pub reject_reason: Option<String>,
}

/// Checks join-request answers: an answer with no letters or digits would be contained in
/// every request once normalized (the match ignores case, width, spaces and punctuation), so
/// it would approve everyone.
pub(super) fn check_answers(key: &str, answers: &[String], issue: &mut impl FnMut(&str, String)) {
    if answers.is_empty() {
        return;
    }
    let normalizer = crate::policy::normalize::Normalizer::new(crate::policy::normalize::NormalizeOptions::default());
    for (i, answer) in answers.iter().enumerate() {
        if normalizer.compact(answer).is_empty() {
            issue(
                &format!("{key}[{i}]"),
                format!("{answer:?} has no letters or digits and would approve every request"),
            );
        }
    }
}
