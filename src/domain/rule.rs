//! Rule ids: the names a case, a strike and a metric carry.
//!
//! Word lists and detectors are named by the operator's rules folder (`ads`, `qq_id`, …).
//! A few measures come from elsewhere and carry a *synthetic* id that no word list may take:
//! flooding, an admin's command, inactivity, a join request's answer and a near-duplicate of
//! spam an admin marked (`learned`). A word-list file
//! named like one of them is refused when the rules load, so the audit log never confuses the
//! two.

use std::fmt;
use std::sync::Arc;

/// The id of the rule behind a measure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleId {
    /// Too many messages, or the same text again (anti-flood).
    Flood,
    /// An admin's command (`/warn`, `/mute`, `/kick` …).
    Manual,
    /// Silent for too long (潜水 removal).
    Inactive,
    /// A join request approved or rejected by its answer.
    JoinAnswer,
    /// A near-duplicate of a message an admin marked as spam (`/spam`), in any group of the
    /// instance.
    Learned,
    /// The gate at the door (入群验证): a newcomer removed for not answering in time, or
    /// for too many wrong answers.
    Verify,
    /// A word list or detector of the rules folder, by name.
    Named(Arc<str>),
}

impl RuleId {
    /// The synthetic ids, which no word list may be named.
    pub const RESERVED: [RuleId; 6] = [
        Self::Flood,
        Self::Manual,
        Self::Inactive,
        Self::JoinAnswer,
        Self::Learned,
        Self::Verify,
    ];

    /// The id as stored and shown in logs.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Flood => "flood",
            Self::Manual => "manual",
            Self::Inactive => "inactive",
            Self::JoinAnswer => "join_answer",
            Self::Learned => "learned",
            Self::Verify => "verify",
            Self::Named(name) => name,
        }
    }

    /// The id for a stored or configured name: a synthetic id where the name is reserved.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        Self::RESERVED
            .into_iter()
            .find(|r| r.as_str() == name)
            .unwrap_or_else(|| Self::Named(Arc::from(name)))
    }

    /// Whether `name` is one of the synthetic ids.
    #[must_use]
    pub fn is_reserved(name: &str) -> bool {
        Self::RESERVED.iter().any(|r| r.as_str() == name)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reserved_ids_are_recognised() {
        for id in RuleId::RESERVED {
            assert!(RuleId::is_reserved(id.as_str()), "{id}");
            assert_eq!(RuleId::from_name(id.as_str()), id);
        }
        assert_eq!(RuleId::from_name("ads"), RuleId::Named(Arc::from("ads")));
        assert!(!RuleId::is_reserved("ads"));
        assert_eq!(RuleId::Flood.to_string(), "flood");
    }
}
