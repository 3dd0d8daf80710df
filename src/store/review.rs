//! The `review` tree: messages of trusted members that the model alone would have acted on,
//! kept for admins (`/review`). Keys are sequence numbers (sled's id generator, so key order
//! is recording order); values are [`ReviewItem`]s as versioned JSON.
//!
//! The list is bounded: adding beyond the limit drops the oldest items. Items are removed
//! when an admin labels their message (`/spam`, `/notspam`).

use super::codec::{Record, decode, encode};
use super::{Store, StoreError};
use crate::domain::event::GroupId;
use crate::domain::learning::ReviewItem;

impl Record for ReviewItem {
    const WHAT: &'static str = "review item";
    const VERSION: u8 = 1;
}

impl Store {
    /// Adds `item`, then drops the oldest items beyond `limit`.
    pub fn add_review(&self, item: &ReviewItem, limit: usize) -> Result<(), StoreError> {
        let value = encode(item)?;
        let _op = self.begin("review write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let tree = &trees.review;
        let result = (|| {
            let seq = trees.db.generate_id()?;
            tree.insert(seq.to_be_bytes(), value)?;
            while tree.len() > limit {
                if tree.pop_min()?.is_none() {
                    break;
                }
            }
            Ok(())
        })();
        self.observe(result)
    }

    /// Every item, oldest first.
    pub fn reviews(&self) -> Result<Vec<ReviewItem>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.review.iter() {
            let (_, value) = entry?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    /// Removes the items about `message_id` in `group`; returns how many there were.
    pub fn remove_review(&self, group: GroupId, message_id: i64) -> Result<usize, StoreError> {
        let _op = self.begin("review write");
        let _log = self.lock();
        let trees = self.write_gate()?;
        let tree = &trees.review;
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            let item: ReviewItem = decode(&value)?;
            if item.group == group && item.message_id == message_id {
                self.observe(tree.remove(key).map_err(StoreError::from))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(group: i64, message_id: i64) -> ReviewItem {
        ReviewItem {
            group: GroupId::qq(group),
            message_id,
            user_id: 7,
            user_name: "阿杰".into(),
            excerpt: "text".into(),
            score: Some(0.95),
            at_ms: message_id,
        }
    }

    #[test]
    fn the_list_keeps_the_newest_and_forgets_labelled_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        for id in 1..=5 {
            store.add_review(&item(1, id), 3).expect("add");
        }
        let ids = |store: &Store| {
            store
                .reviews()
                .expect("read")
                .iter()
                .map(|i| i.message_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&store), [3, 4, 5]);
        assert_eq!(store.remove_review(GroupId::qq(1), 4).expect("remove"), 1);
        assert_eq!(
            store.remove_review(GroupId::qq(2), 5).expect("remove"),
            0,
            "another group"
        );
        assert_eq!(ids(&store), [3, 5]);
    }
}
