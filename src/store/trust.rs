//! The `trust` tree: per member and group, when they joined (to the day) and how many clean
//! messages they have sent — what the policy layer decides a member's trust from.
//!
//! Keys are `platform ‖ group ‖ user` (17 B). Values are 6 bytes, not JSON: one record per
//! member of every group, so size matters more than readability here.
//!
//! ```text
//! byte 0     version (1)
//! bytes 1-4  joined_day: UTC days since 1970-01-01, u32 BE
//! byte 5     clean messages counted (stops at the configured number, at most 255)
//! ```
//!
//! The tree is bounded by group membership: a record is written when a member joins or is
//! first seen, and deleted when they leave or are removed. Once a member's count has reached
//! the configured number, their messages write nothing. Every write takes the commit lock,
//! so a read-modify-write never races another.

use super::keys::member_key;
use super::{Store, StoreError};
use crate::domain::event::GroupId;
use crate::domain::learning::MemberTrust;

const VERSION: u8 = 1;

/// The stored form of a record.
#[must_use]
pub fn encode_trust(t: MemberTrust) -> [u8; 6] {
    let mut out = [0; 6];
    out[0] = VERSION;
    out[1..5].copy_from_slice(&t.joined_day.to_be_bytes());
    out[5] = t.clean;
    out
}

/// Reads a stored record.
pub fn decode_trust(bytes: &[u8]) -> Result<MemberTrust, StoreError> {
    let bad = |reason: String| StoreError::Decode {
        what: "member trust",
        reason,
    };
    let raw: [u8; 6] = bytes
        .try_into()
        .map_err(|_| bad(format!("{} bytes instead of 6", bytes.len())))?;
    if raw[0] != VERSION {
        return Err(bad(format!(
            "stored form version {} is not this build's {VERSION}; upgrade qunguan",
            raw[0]
        )));
    }
    Ok(MemberTrust {
        joined_day: u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]),
        clean: raw[5],
    })
}

impl Store {
    /// A member's trust record, if qunguan has seen them.
    pub fn trust(&self, group: GroupId, user_id: i64) -> Result<Option<MemberTrust>, StoreError> {
        self.trees()?
            .trust
            .get(member_key(group, user_id))?
            .map(|bytes| decode_trust(&bytes))
            .transpose()
    }

    /// A member joined (again) at `at_ms`: their trust starts over.
    pub fn trust_joined(&self, group: GroupId, user_id: i64, at_ms: i64) -> Result<(), StoreError> {
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        self.observe(
            trees
                .trust
                .insert(member_key(group, user_id), &encode_trust(MemberTrust::joined_at(at_ms)))
                .map_err(StoreError::from),
        )?;
        Ok(())
    }

    /// After one of the member's messages: creates their record if they are seen for the
    /// first time (joined at `at_ms`), and counts the message if it was `clean` and the count
    /// is below `count_to`. Writes only when something changed; returns the record.
    pub fn trust_message(
        &self,
        group: GroupId,
        user_id: i64,
        at_ms: i64,
        clean: bool,
        count_to: u8,
    ) -> Result<MemberTrust, StoreError> {
        let key = member_key(group, user_id);
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let stored = trees.trust.get(key)?.map(|b| decode_trust(&b)).transpose()?;
        let mut record = stored.unwrap_or_else(|| MemberTrust::joined_at(at_ms));
        if clean && record.clean < count_to {
            record.clean += 1;
        }
        if stored != Some(record) {
            self.observe(trees.trust.insert(key, &encode_trust(record)).map_err(StoreError::from))?;
        }
        Ok(record)
    }

    /// Forgets a member who left or was removed.
    pub fn forget_trust(&self, group: GroupId, user_id: i64) -> Result<(), StoreError> {
        let _op = self.begin("trust write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        self.observe(trees.trust.remove(member_key(group, user_id)).map_err(StoreError::from))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_six_bytes_and_round_trip() {
        let t = MemberTrust {
            joined_day: 20_048,
            clean: 3,
        };
        let bytes = encode_trust(t);
        assert_eq!(bytes, [1, 0, 0, 0x4e, 0x50, 3]);
        assert_eq!(decode_trust(&bytes).expect("decodes"), t);
        assert!(decode_trust(&bytes[..5]).is_err());
        assert!(decode_trust(&[2, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn a_member_is_counted_until_the_limit_and_forgotten_when_they_leave() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(1);
        let day = 1_732_171_530_000;
        assert_eq!(store.trust(g, 7).expect("read"), None);
        // First sight with a violation: recorded, not counted.
        let t = store.trust_message(g, 7, day, false, 3).expect("write");
        assert_eq!((t.joined_day, t.clean), (20_048, 0));
        for expected in [1, 2, 3, 3] {
            let t = store.trust_message(g, 7, day + 5 * 86_400_000, true, 3).expect("write");
            assert_eq!(t.clean, expected);
            assert_eq!(t.joined_day, 20_048, "the join day stays");
        }
        // A re-join starts over.
        store.trust_joined(g, 7, day + 10 * 86_400_000).expect("join");
        assert_eq!(
            store.trust(g, 7).expect("read"),
            Some(MemberTrust {
                joined_day: 20_058,
                clean: 0
            })
        );
        store.forget_trust(g, 7).expect("forget");
        assert_eq!(store.trust(g, 7).expect("read"), None);
    }
}
