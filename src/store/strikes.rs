//! The `strikes` tree: one value per (platform, group, user) holding that member's strikes as
//! timestamped rows, oldest first.
//!
//! Keeping the rows of a member in one value (rather than one key per strike) is what lets the
//! event transaction read and rewrite them: sled transactions cannot scan. Expiry is a sliding
//! window evaluated by the ladder (policy); the hourly sweep deletes records whose every strike
//! has expired.

use serde::{Deserialize, Serialize};

use super::codec::Record;
use crate::domain::strike::{Strike, StrikeRecord};

/// The stored form of a [`StrikeRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStrikes {
    /// The strikes, oldest first.
    pub strikes: Vec<Strike>,
}

impl Record for StoredStrikes {
    const WHAT: &'static str = "strike record";
    const VERSION: u8 = 1;
}

impl From<&StrikeRecord> for StoredStrikes {
    fn from(record: &StrikeRecord) -> Self {
        Self {
            strikes: record.strikes.clone(),
        }
    }
}

impl From<StoredStrikes> for StrikeRecord {
    fn from(stored: StoredStrikes) -> Self {
        Self {
            strikes: stored.strikes,
        }
    }
}
