//! The `schedules` tree: posts added by admins in the group (`/schedule add 07:30 …`).
//!
//! Keys are `platform ‖ group ‖ number`, so a group's posts are one ordered prefix range. The
//! numbers are what admins see and type (`/schedule del 3`); a group's last number lives in the
//! `state` tree (`schedule.last/<group>`), so a deleted post's number is never given again.
//!
//! Adding or deleting a post is an event like any other command: the post (or its removal),
//! the post's scheduler state, the event's seen-key and the bot's answer are one transaction,
//! so a redelivered `/schedule add` adds nothing.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{Record, decode, encode};
use super::posts::PostState;
use super::{Store, StoreError, abort, case_key, group_prefix, next_number};
use crate::domain::action::Action;
use crate::domain::event::{EventKey, GroupId};

/// A post an admin added in the group: daily at `at`, in `timezone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPost {
    /// The group it is posted in (and was added in).
    pub group: GroupId,
    /// Its number within the group (`/schedule del <number>`); assigned by the store.
    pub number: u64,
    /// The daily time, `HH:MM`.
    pub at: String,
    /// The IANA zone of `at` (`[schedule] timezone` when it was added).
    pub timezone: String,
    /// What is posted.
    pub text: String,
    /// When it was added, unix ms.
    pub created_ms: i64,
    /// The admin who added it.
    pub created_by: i64,
}

impl Record for AdminPost {
    const WHAT: &'static str = "scheduled post";
    const VERSION: u8 = 1;
}

impl AdminPost {
    /// A post to add: `text` daily at `at` in `timezone`, by `created_by`. Its number and
    /// creation time are filled in by [`Store::commit_schedule_add`].
    #[must_use]
    pub fn new(group: GroupId, at: String, timezone: String, text: String, created_by: i64) -> Self {
        Self {
            group,
            number: 0,
            at,
            timezone,
            text,
            created_ms: 0,
            created_by,
        }
    }

    /// The post's id among all scheduled posts (its state's key): `qq:726300112/3`. Ids of
    /// `rules/schedule.toml` posts cannot contain `/`, so the two never collide.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.number)
    }
}

/// The key of post `number` of `group`: `platform ‖ group ‖ number`, laid out like an audit
/// case's key.
fn post_key(group: GroupId, number: u64) -> [u8; 17] {
    case_key(group, number)
}

/// The name of a group's last post number in the `state` tree.
fn counter_name(group: GroupId) -> String {
    format!("schedule.last/{group}")
}

impl Store {
    /// Every admin-added post, by group and number.
    pub fn admin_posts(&self) -> Result<Vec<AdminPost>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.schedules.iter() {
            let (_, value) = entry?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    /// The admin-added posts of `group`, by number.
    pub fn admin_posts_of(&self, group: GroupId) -> Result<Vec<AdminPost>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.schedules.scan_prefix(group_prefix(group)) {
            let (_, value) = entry?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    /// Adds `post` (its `number` is assigned here) for the command event `key`, together with
    /// its scheduler state — it has seen nothing before `now`, so it never fires for an
    /// earlier time — and the answer `reply(number)`. Returns the number, or `None` when the
    /// event was already recorded (nothing changes).
    pub fn commit_schedule_add(
        &self,
        key: &EventKey,
        now: Timestamp,
        post: &AdminPost,
        reply: impl Fn(u64) -> Action,
    ) -> Result<Option<u64>, StoreError> {
        let now_ms = now.as_millisecond();
        let counter = counter_name(post.group);
        self.unit(Some(key), now, |unit| {
            let number = next_number(unit.state, counter.as_bytes(), "schedule counter")?;
            let stored = AdminPost {
                number,
                created_ms: now_ms,
                ..post.clone()
            };
            unit.schedules
                .insert(&post_key(post.group, number), encode(&stored).map_err(abort)?)?;
            let baseline = PostState {
                last_occurrence_ms: now_ms,
                rotation: 0,
            };
            unit.posts
                .insert(stored.id().as_bytes(), encode(&baseline).map_err(abort)?)?;
            unit.stage([reply(number)], None)?;
            Ok(number)
        })
    }

    /// Deletes post `number` of `group` (and its scheduler state) for the command event `key`,
    /// with the answer `reply(deleted)`. Returns whether a post was deleted, or `None` when the
    /// event was already recorded.
    pub fn commit_schedule_del(
        &self,
        key: &EventKey,
        now: Timestamp,
        group: GroupId,
        number: u64,
        reply: impl Fn(bool) -> Action,
    ) -> Result<Option<bool>, StoreError> {
        let entry = post_key(group, number);
        let id = format!("{group}/{number}");
        self.unit(Some(key), now, |unit| {
            let deleted = unit.schedules.remove(&entry)?.is_some();
            if deleted {
                unit.posts.remove(id.as_bytes())?;
            }
            unit.stage([reply(deleted)], None)?;
            Ok(deleted)
        })
    }
}
