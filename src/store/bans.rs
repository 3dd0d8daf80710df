//! The `bans` tree: the instance's own global ban list (`/gban`, `qunguan bans`).
//!
//! Keys are `platform ‖ user` (9 B, the layout of [`super::group_prefix`] with a user id);
//! values are versioned JSON [`Ban`]s. Subscribed shared lists are never stored here: they
//! are re-read on every refresh and held in memory only.
//!
//! **Not in the unit of work.** The unit already opens the fourteen trees sled's transactions
//! take, so a ban is written in its own small write, *before* the unit that records the
//! command event (its seen key, audit case and kicks). A crash between the two leaves the ban
//! stored and the event unrecorded: the gateway's redelivery runs the command again, finds
//! the ban already there (writing it again changes nothing that matters) and records the
//! case and kicks then. The other order could lose the ban behind an event already marked
//! seen. Lifting a ban is ordered the same way (removal first): a crash between the two
//! leaves the ban lifted without its case, and the redelivered `/ungban` answers that the
//! member is not banned — never a lifted ban that is still enforced.
//!
//! Every write takes the commit lock, like every other writer, so a backup copies the tree
//! at the same consistent point as the rest.

use super::codec::{Record, decode, encode};
use super::keys::{decode_member_key, i64_key};
use super::{Store, StoreError};
use crate::domain::ban::Ban;
use crate::domain::event::{GroupId, UserRef};

impl Record for Ban {
    const WHAT: &'static str = "ban";
    const VERSION: u8 = 1;
}

/// `platform ‖ user` (9 bytes).
fn ban_key(user: UserRef) -> [u8; 9] {
    let mut k = [0; 9];
    k[0] = user.platform.tag();
    k[1..].copy_from_slice(&i64_key(user.id));
    k
}

impl Store {
    /// Adds `ban`, replacing an entry of the same member when `replace`, else keeping the
    /// existing one (a redelivered `/gban` does not rewrite the original reason and time).
    /// Returns true when the member was not banned before. Durable after [`Store::durable`].
    pub fn put_ban(&self, ban: &Ban, replace: bool) -> Result<bool, StoreError> {
        let value = encode(ban)?;
        let _op = self.begin("ban write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let key = ban_key(ban.user);
        let written = (|| {
            let existed = trees.bans.get(key)?.is_some();
            if !existed || replace {
                trees.bans.insert(key, value)?;
            }
            Ok(!existed)
        })();
        self.observe(written)
    }

    /// Adds many bans in one batch (an import), replacing existing entries of the same
    /// members. Returns how many members were not banned before.
    pub fn put_bans(&self, bans: &[Ban]) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        for ban in bans {
            batch.insert(&ban_key(ban.user)[..], encode(ban)?);
        }
        let _op = self.begin("ban write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let written = (|| {
            let mut new = 0;
            for ban in bans {
                if trees.bans.get(ban_key(ban.user))?.is_none() {
                    new += 1;
                }
            }
            trees.bans.apply_batch(batch)?;
            Ok(new)
        })();
        self.observe(written)
    }

    /// Lifts the ban of `user`; returns it, or `None` when they were not banned.
    pub fn remove_ban(&self, user: UserRef) -> Result<Option<Ban>, StoreError> {
        let _op = self.begin("ban write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let removed = trees.bans.remove(ban_key(user)).map_err(StoreError::from);
        self.observe(removed)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// The ban of `user`, if they are banned (by the instance's own list).
    pub fn ban(&self, user: UserRef) -> Result<Option<Ban>, StoreError> {
        self.trees()?.bans.get(ban_key(user))?.map(|b| decode(&b)).transpose()
    }

    /// Every ban of the instance's own list, by platform and user id.
    pub fn bans(&self) -> Result<Vec<Ban>, StoreError> {
        let trees = self.trees()?;
        let mut out = Vec::new();
        for entry in trees.bans.iter() {
            let (_, value) = entry?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    /// The groups `user` was seen in: where qunguan holds a record of them in `members` (a
    /// trust record, written when a member joins or first speaks, or an activity record for
    /// 潜水 tracking; deleted when they leave; a record with only points, kept after a leave
    /// for the retention sweep, does not count). One scan of the platform's part of the tree,
    /// so it costs a moment on a large instance; it runs once per `/gban`, never per message.
    /// The batched trust counts are written first, so a member first seen a moment ago is
    /// found.
    pub fn groups_seen(&self, user: UserRef) -> Result<Vec<GroupId>, StoreError> {
        self.write_pending_trust()?;
        let trees = self.trees()?;
        let mut groups = Vec::new();
        for entry in trees.members.scan_prefix([user.platform.tag()]) {
            let (key, value) = entry?;
            if let Some((group, id)) = decode_member_key(&key)
                && id == user.id
                && super::members::is_present(&value)
            {
                groups.push(group);
            }
        }
        groups.sort_unstable();
        groups.dedup();
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageSettings;
    use crate::domain::activity::{MemberActivity, Since};
    use crate::domain::event::Role;

    fn ban(user: &str, reason: &str) -> Ban {
        Ban {
            user: user.parse().expect("user"),
            reason: reason.into(),
            at_ms: 1_000,
            by: "cli".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(&dir.path().join("data")).expect("open");
        (dir, store)
    }

    #[test]
    fn bans_are_kept_per_platform_and_a_redelivery_keeps_the_first_reason() {
        let (_dir, store) = store();
        assert!(store.put_ban(&ban("qq:5", "spam"), false).expect("put"));
        assert!(!store.put_ban(&ban("qq:5", "again"), false).expect("put"));
        assert!(store.put_ban(&ban("tg:5", "bot"), false).expect("put"));
        assert_eq!(
            store.ban("qq:5".parse().expect("user")).expect("get").map(|b| b.reason),
            Some("spam".into())
        );
        assert_eq!(store.bans().expect("list").len(), 2);
        assert_eq!(
            store
                .put_bans(&[ban("qq:5", "import"), ban("qq:6", "")])
                .expect("import"),
            1
        );
        assert_eq!(
            store.ban("qq:5".parse().expect("user")).expect("get").map(|b| b.reason),
            Some("import".into())
        );
        let lifted = store.remove_ban("tg:5".parse().expect("user")).expect("remove");
        assert_eq!(lifted.map(|b| b.reason), Some("bot".into()));
        assert_eq!(store.remove_ban("tg:5".parse().expect("user")).expect("remove"), None);
    }

    #[test]
    fn groups_seen_come_from_trust_and_activity_records_of_that_platform() {
        let (_dir, store) = store();
        store.trust_joined(GroupId::qq(1), 9, 0).expect("trust");
        store.trust_joined(GroupId::qq(2), 8, 0).expect("trust");
        store.trust_joined(GroupId::telegram(-3), 9, 0).expect("trust");
        let activity = MemberActivity::new(0, Since::Spoke, "x", Role::Member);
        store.record_activity(GroupId::qq(4), 9, &activity).expect("activity");
        store.record_activity(GroupId::qq(1), 9, &activity).expect("activity");
        let seen = store.groups_seen("qq:9".parse().expect("user")).expect("scan");
        assert_eq!(seen, [GroupId::qq(1), GroupId::qq(4)]);
        let seen = store.groups_seen("tg:9".parse().expect("user")).expect("scan");
        assert_eq!(seen, [GroupId::telegram(-3)]);
    }

    #[test]
    fn a_backup_round_trip_keeps_the_bans() {
        let (_dir, store) = store();
        store.put_ban(&ban("qq:5", "广告, \"加微信\""), false).expect("put");
        store.put_ban(&ban("tg:-7", ""), false).expect("put");
        let mut file = Vec::new();
        let made = store.backup(&mut file, jiff::Timestamp::UNIX_EPOCH).expect("backup");
        assert_eq!(made.trees.get("bans"), Some(&2), "{made:?}");
        let target = tempfile::tempdir().expect("tempdir");
        let settings = StorageSettings {
            path: target.path().join("data"),
            ..StorageSettings::default()
        };
        super::super::backup::restore(&settings, &mut file.as_slice(), false).expect("restore");
        let copy = Store::open(&settings).expect("open");
        assert_eq!(copy.bans().expect("list"), store.bans().expect("list"));
    }
}
