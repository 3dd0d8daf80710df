//! The `posts` tree: what the scheduler must remember about each scheduled post across
//! restarts — the last occurrence it fired for, and where its rotation of texts stands.
//!
//! [`Store::commit_post`] records an occurrence and enqueues the post in one transaction, so a
//! post fires exactly once per occurrence even if the daemon dies in the middle of firing.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{Record, decode, encode};
use super::{OutboxItem, Store, StoreError, abort};
use crate::domain::action::Action;

/// A scheduled post's remembered state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostState {
    /// The occurrence it last fired for (or skipped), unix ms.
    pub last_occurrence_ms: i64,
    /// Position in its rotation of texts: the next text to post.
    pub rotation: u64,
}

impl Record for PostState {
    const WHAT: &'static str = "post state";
    const VERSION: u8 = 1;
}

impl Store {
    /// The remembered state of the post `id`, if it ever fired.
    pub fn post_state(&self, id: &str) -> Result<Option<PostState>, StoreError> {
        self.trees()?
            .posts
            .get(id.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Records that post `id` fired for the occurrence at `occurrence_ms`, with its rotation
    /// now at `rotation`, and enqueues `actions` — all or nothing. Returns `false` (and changes
    /// nothing) when that occurrence, or a later one, was already recorded. Pass no actions to
    /// record a skipped occurrence.
    pub fn commit_post(
        &self,
        id: &str,
        occurrence_ms: i64,
        rotation: u64,
        actions: &[Action],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let now_ms = now.as_millisecond();
        let items: Vec<OutboxItem> = actions
            .iter()
            .map(|action| OutboxItem::new(action.clone(), now_ms))
            .collect();
        self.commit_post_items(id, occurrence_ms, rotation, &items)
    }

    /// [`Store::commit_post`] with outbox items prepared by the caller (each group's place in
    /// the jitter window as its `not_before_ms`).
    pub fn commit_post_items(
        &self,
        id: &str,
        occurrence_ms: i64,
        rotation: u64,
        items: &[OutboxItem],
    ) -> Result<bool, StoreError> {
        let state = encode(&PostState {
            last_occurrence_ms: occurrence_ms,
            rotation,
        })?;
        let written = self.unit(
            None,
            Timestamp::from_millisecond(occurrence_ms).unwrap_or_default(),
            |unit| {
                if let Some(bytes) = unit.posts.get(id.as_bytes())? {
                    let previous: PostState = decode(&bytes).map_err(abort)?;
                    if previous.last_occurrence_ms >= occurrence_ms {
                        return Ok(false);
                    }
                }
                unit.posts.insert(id.as_bytes(), state.as_slice())?;
                unit.stage_items(items.iter().cloned())?;
                Ok(true)
            },
        )?;
        Ok(written == Some(true))
    }

    /// The ids of every post with a remembered state.
    pub fn post_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for entry in self.trees()?.posts.iter() {
            let (key, _) = entry?;
            ids.push(String::from_utf8_lossy(&key).into_owned());
        }
        Ok(ids)
    }

    /// Forgets the state of post `id` (it was removed from the schedule), so a post added
    /// later under the same id starts afresh instead of catching up on the old one's
    /// occurrences.
    pub fn forget_post(&self, id: &str) -> Result<(), StoreError> {
        let _log = self.lock();
        self.write_gate()?.posts.remove(id.as_bytes())?;
        Ok(())
    }
}
