//! Which accounts of the instance keep each group ([`Seats`]), in the `state` tree under
//! `seats/<group>` (`seats/qq:726300112`).
//!
//! The seats are a routing hint, not a decision: they are written on their own, outside any
//! event's unit of work, so they need no place among the unit's trees. Lost in a crash, they
//! are learned again from the group's next event; until then the group's actions go through
//! the platform's only gateway or wait (see `service::accounts`).

use serde::{Deserialize, Serialize};

use super::codec::{Record, decode, encode};
use super::{Store, StoreError};
use crate::domain::account::Seats;
use crate::domain::event::GroupId;

/// The prefix of the seats' names in the `state` tree.
const PREFIX: &str = "seats/";

/// The stored form of a group's seats.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSeats {
    seats: Seats,
}

impl Record for StoredSeats {
    const WHAT: &'static str = "group seats";
    const VERSION: u8 = 1;
}

impl Store {
    /// Stores which accounts keep `group`. Durable after [`Store::durable`].
    pub fn set_group_seats(&self, group: GroupId, seats: &Seats) -> Result<(), StoreError> {
        let value = encode(&StoredSeats { seats: seats.clone() })?;
        self.set_state(&format!("{PREFIX}{group}"), &value)
    }

    /// Every group's stored seats. A value that cannot be read is skipped with a warning (it
    /// is learned again from the group's next event).
    pub fn group_seats(&self) -> Result<Vec<(GroupId, Seats)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.state.scan_prefix(PREFIX.as_bytes()) {
            let (key, value) = entry?;
            let name = String::from_utf8_lossy(&key);
            let Some(group) = name.strip_prefix(PREFIX).and_then(|g| g.parse::<GroupId>().ok()) else {
                tracing::warn!(name = %name, "a stored group-seats name does not name a group; skipped");
                continue;
            };
            match decode::<StoredSeats>(&value) {
                Ok(stored) => out.push((group, stored.seats)),
                Err(e) => tracing::warn!(%group, error = %e, "cannot read the group's stored seats; skipped"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::config::StorageSettings {
            path: dir.path().join("db"),
            ..crate::config::StorageSettings::default()
        };
        let mut seats = Seats::default();
        seats.saw(20_001);
        seats.saw(20_002);
        seats.set_role(20_002, crate::domain::event::Role::Admin);
        {
            let store = Store::open(&settings).expect("open");
            store.set_group_seats(GroupId::qq(5), &seats).expect("write");
            store.set_state("seats/not-a-group", b"{}").expect("write");
            store.flush_blocking().expect("flush");
        }
        let store = Store::open(&settings).expect("reopen");
        assert_eq!(store.group_seats().expect("read"), vec![(GroupId::qq(5), seats)]);
    }
}
