//! Members' activity: when each last spoke or joined (潜水 tracking), and the list of the
//! silent that `/inactive` shows.

use serde::{Deserialize, Serialize};

use crate::domain::event::Role;

/// What the last recorded activity of a member was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Since {
    /// They sent a message.
    #[default]
    Spoke,
    /// They joined and have not spoken since.
    Joined,
}

/// A member's last activity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberActivity {
    /// When they last spoke (or joined), unix ms.
    pub last_ms: i64,
    /// Which of the two `last_ms` is.
    pub since: Since,
    /// Their display name when last seen, for lists.
    pub name: String,
    /// Their role when last seen: owners and admins are never reminded or removed.
    pub role: Role,
    /// How many reminder steps of this silence were sent (0 after every message).
    pub reminded: u32,
    /// Their removal for this silence was enqueued.
    #[serde(default)]
    pub removing: bool,
}

impl MemberActivity {
    /// A fresh record: active at `at_ms`, nothing reminded.
    #[must_use]
    pub fn new(at_ms: i64, since: Since, name: impl Into<String>, role: Role) -> Self {
        Self {
            last_ms: at_ms,
            since,
            name: name.into(),
            role,
            reminded: 0,
            removing: false,
        }
    }
}

/// One member in an `/inactive` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Silent {
    /// Who.
    pub user_id: i64,
    /// Their display name when last seen.
    pub name: String,
    /// Whether they spoke at all, or only joined.
    pub since: Since,
    /// How long they have been silent, in seconds.
    pub silent_secs: u64,
}

/// The answer to `/inactive`: the longest-silent members first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SilentList {
    /// How long ago tracking of the group began, in seconds, if it has.
    pub tracked_secs: Option<u64>,
    /// How many members are silent that long (the list may show fewer).
    pub total: usize,
    /// The members shown, longest silent first.
    pub shown: Vec<Silent>,
}
