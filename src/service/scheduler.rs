//! The scheduler task: sleeps until the next due occurrence of any post, then hands it to
//! the outbox exactly once.
//!
//! Posts come from two places — `rules/schedule.toml` (in the live rules snapshot, so a
//! reload re-plans) and `/schedule add` (the store's `schedules` tree; the command wakes the
//! task). Each post's last handled occurrence and rotation place live in the store's `posts`
//! tree; the task never keeps schedule state of its own, so a restart simply reads on.
//!
//! For each post, whenever the task wakes:
//!
//! - **new post** (no state): its state starts when the rules snapshot that brought it was
//!   loaded (daemon start or the reload), so a post added to the file at 09:00 does not fire
//!   for the 07:30 it was not there for — however late the task notices the reload;
//! - **due** (the latest occurrence at or before now is newer than the recorded one): if it is
//!   late by at most the post's `catch_up` (or fired on time), the post is sent; otherwise the
//!   occurrence is recorded as skipped and logged. Older missed occurrences are never sent —
//!   a daemon down for three days posts one 早报, not three.
//!
//! Sending records the occurrence and enqueues one message per group in one transaction
//! ([`Store::commit_post_items`]), so no crash can send an occurrence twice or lose it after
//! it was recorded. Each group's message waits its [`jitter_offset`] in the outbox, so a post
//! to many groups does not hit the gateway in one second.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::ScheduleSettings;
use crate::config::rules::posts::{PostDef, PostKind};
use crate::config::rules::{Rules, RulesHandle};
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::policy::calendar::Recurrence;
use crate::service::outbox::OutboxHandle;
use crate::service::passes::Passes;
use crate::store::{AdminPost, OutboxItem, PostState, Store, StoreError};

/// How often the task looks whether the rules snapshot changed (a reload re-plans). Reading an
/// `ArcSwap` pointer costs nothing; this only bounds how late a reloaded schedule is noticed.
const RULES_POLL: Duration = Duration::from_millis(250);

/// A post fired this late on a running daemon counts as on time, whatever its `catch_up`
/// (the task wakes a little after the instant on a busy machine).
const ON_TIME: Duration = Duration::from_secs(5);

/// How long the task waits after a store error before it tries again.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(30);

/// The deterministic place of `group` in a post's jitter window: the same group always gets
/// the same offset (an FNV-1a hash of its text form), so operators and tests can predict it,
/// and different groups are spread evenly over `[0, jitter)`.
#[must_use]
pub fn jitter_offset(group: GroupId, jitter: Duration) -> Duration {
    let window_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    if window_ms == 0 {
        return Duration::ZERO;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in group.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Duration::from_millis(hash % window_ms)
}

/// What happened to one post when the task looked at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Nothing was due.
    Idle,
    /// The occurrence was sent (to this many groups).
    Sent {
        /// The occurrence.
        occurrence: Timestamp,
        /// How many groups.
        groups: usize,
    },
    /// The occurrence was missed by more than `catch_up` and recorded as skipped.
    Skipped {
        /// The occurrence.
        occurrence: Timestamp,
    },
}

/// The scheduler task.
pub struct Scheduler {
    store: Store,
    rules: RulesHandle,
    clock: SharedClock,
    settings: ScheduleSettings,
    outbox: OutboxHandle,
    wake: Arc<Notify>,
    passes: Arc<Passes>,
    /// Renders `kind = "leaderboard"` posts.
    engagement: Option<Arc<crate::service::engagement::Engagement>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler; `wake` is notified when admins add or delete a post, `outbox_wake` by the
    /// scheduler when it enqueued a post.
    #[must_use]
    pub fn new(
        store: Store,
        rules: RulesHandle,
        clock: SharedClock,
        settings: ScheduleSettings,
        outbox: OutboxHandle,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            rules,
            clock,
            settings,
            outbox,
            wake,
            passes: Arc::default(),
            engagement: None,
        }
    }

    /// Posts of `kind = "leaderboard"` show `engagement`'s boards.
    #[must_use]
    pub fn with_engagement(mut self, engagement: Arc<crate::service::engagement::Engagement>) -> Self {
        self.engagement = Some(engagement);
        self
    }

    /// Counts its rounds into `passes` (the pipeline's, which tests read) instead of its own.
    #[must_use]
    pub fn with_passes(mut self, passes: Arc<Passes>) -> Self {
        self.passes = passes;
        self
    }

    /// Runs until `cancel` fires. Each round reads and writes the store synchronously, so it
    /// runs on the blocking pool ([`Store::offload`]).
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        loop {
            // Registered before the store is read, so a `/schedule add` in between is seen.
            let woken = this.wake.notified();
            tokio::pin!(woken);
            this.passes.start();
            let snapshot = this.rules.load_full();
            let round = {
                let (this, snapshot) = (Arc::clone(&this), Arc::clone(&snapshot));
                let store = this.store.clone();
                store.offload(async move { this.run_due(&snapshot).await }).await
            };
            let round = round.unwrap_or_else(|e| Err(StoreError::Join(e.to_string())));
            let next = match round {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "scheduler: cannot read or record scheduled posts; retrying");
                    Some(this.clock.now() + RETRY_AFTER_ERROR)
                }
            };
            this.passes.finish();
            let sleep = async {
                match next {
                    Some(at) => this.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => {
                        tracing::debug!("scheduler stopped");
                        return;
                    }
                    () = &mut woken => break,
                    () = &mut sleep => break,
                    () = tokio::time::sleep(RULES_POLL) => {
                        if !Arc::ptr_eq(&this.rules.load().schedule, &snapshot.schedule) {
                            tracing::debug!("scheduler: the schedule was reloaded; re-planning");
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Every post now: the enabled posts of the rules snapshot and the admins' posts (as
    /// [`PostDef`]s of their own).
    pub fn plans(&self, rules: &Rules) -> Result<Vec<PostDef>, StoreError> {
        let mut plans: Vec<PostDef> = rules.schedule.iter().filter(|p| p.enabled).cloned().collect();
        for post in self.store.admin_posts()? {
            match admin_plan(&post, self.settings.catch_up.get()) {
                Some(plan) => plans.push(plan),
                None => {
                    tracing::warn!(id = %post.id(), at = %post.at, zone = %post.timezone, "scheduler: a stored post has an invalid time or zone; skipped")
                }
            }
        }
        Ok(plans)
    }

    /// Handles every due occurrence; returns the next instant something is due. Posts new in
    /// `rules` start from when it was loaded.
    async fn run_due(&self, rules: &Rules) -> Result<Option<Timestamp>, StoreError> {
        let plans = self.plans(rules)?;
        self.forget_removed(rules, &plans)?;
        let now = self.clock.now();
        let mut sent = false;
        let mut next: Option<Timestamp> = None;
        for plan in &plans {
            let tick = self.tick(plan, now, rules.loaded_at)?;
            match &tick {
                Tick::Sent { occurrence, groups } => {
                    sent = true;
                    tracing::info!(post = %plan.id, %occurrence, groups, "scheduled post sent");
                }
                Tick::Skipped { occurrence } => tracing::warn!(
                    post = %plan.id,
                    %occurrence,
                    catch_up_secs = plan.catch_up.as_secs(),
                    "scheduled post skipped: missed (the daemon was down) by more than its catch_up"
                ),
                Tick::Idle => {}
            }
            if let Some(at) = plan.recurrence.next_after(now) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        if sent {
            self.outbox.publish().await?;
        }
        Ok(next)
    }

    /// Forgets the state of posts that no longer exist (removed from the file), so a post
    /// added later under the same id starts afresh. Disabled posts keep theirs.
    fn forget_removed(&self, rules: &Rules, plans: &[PostDef]) -> Result<(), StoreError> {
        for id in self.store.post_ids()? {
            let known = plans.iter().any(|p| p.id == id) || rules.schedule.iter().any(|p| p.id == id);
            // Admin posts' states are removed with the post itself (`/schedule del`).
            if !known && !id.contains('/') {
                tracing::info!(post = %id, "scheduler: post removed from the schedule; forgetting its state");
                self.store.forget_post(&id)?;
            }
        }
        Ok(())
    }

    /// Looks at one post at `now`; a post without state starts at `baseline` (when it was
    /// first seen) and is then looked at like any other.
    pub fn tick(&self, plan: &PostDef, now: Timestamp, baseline: Timestamp) -> Result<Tick, StoreError> {
        let state = match self.store.post_state(&plan.id)? {
            Some(state) => state,
            None => {
                let baseline = baseline.min(now).as_millisecond();
                self.store.commit_post_items(&plan.id, baseline, 0, &[])?;
                tracing::info!(post = %plan.id, recurrence = %plan.recurrence, "scheduled post planned");
                PostState {
                    last_occurrence_ms: baseline,
                    ..PostState::default()
                }
            }
        };
        let Some(occurrence) = plan.recurrence.latest_at_or_before(now) else {
            return Ok(Tick::Idle);
        };
        let occurrence_ms = occurrence.as_millisecond();
        if occurrence_ms <= state.last_occurrence_ms {
            return Ok(Tick::Idle);
        }
        let late = Duration::from_millis(u64::try_from(now.as_millisecond() - occurrence_ms).unwrap_or(0));
        if late > plan.catch_up.max(ON_TIME) {
            self.store
                .commit_post_items(&plan.id, occurrence_ms, state.rotation, &[])?;
            return Ok(Tick::Skipped { occurrence });
        }
        let text = match plan.kind {
            PostKind::Text => match rotation_text(&plan.texts, state.rotation) {
                Some(text) => Some(text),
                None => return Ok(Tick::Idle),
            },
            PostKind::Leaderboard => None,
        };
        let now_ms = now.as_millisecond();
        let jitter = self.settings.jitter.get();
        let mut items: Vec<OutboxItem> = Vec::with_capacity(plan.groups.len());
        for &group in &plan.groups {
            let offset = i64::try_from(jitter_offset(group, jitter).as_millis()).unwrap_or(0);
            let message = match (text, &self.engagement) {
                (Some(text), _) => OutgoingMessage::text(text),
                (None, Some(engagement)) if engagement.enabled() => engagement.board(group, false, now)?,
                (None, _) => {
                    tracing::warn!(post = %plan.id, "a leaderboard post needs [engagement] enabled; skipped");
                    continue;
                }
            };
            let send = Action::Send {
                group,
                message,
                reply_to: None,
            };
            items.push(OutboxItem::new(send, now_ms).not_before(occurrence_ms.saturating_add(offset)));
        }
        let recorded = self
            .store
            .commit_post_items(&plan.id, occurrence_ms, state.rotation.wrapping_add(1), &items)?;
        Ok(if recorded {
            Tick::Sent {
                occurrence,
                groups: items.len(),
            }
        } else {
            Tick::Idle
        })
    }
}

/// The text of rotation place `rotation`: the list walked in order, starting over at the end.
fn rotation_text(texts: &[String], rotation: u64) -> Option<&str> {
    let len = u64::try_from(texts.len()).ok().filter(|&n| n > 0)?;
    let index = usize::try_from(rotation % len).ok()?;
    texts.get(index).map(String::as_str)
}

/// An admin's post as a post definition (`None` if its stored time or zone no longer parse).
fn admin_plan(post: &AdminPost, catch_up: Duration) -> Option<PostDef> {
    let recurrence = Recurrence::daily(&post.at, &post.timezone).ok()?;
    Some(PostDef {
        id: post.id(),
        groups: vec![post.group],
        recurrence,
        texts: vec![post.text.clone()],
        catch_up,
        enabled: true,
        kind: PostKind::Text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_offsets_are_stable_per_group_and_inside_the_window() {
        let window = Duration::from_secs(30);
        let a = jitter_offset(GroupId::qq(726_300_112), window);
        assert_eq!(a, jitter_offset(GroupId::qq(726_300_112), window), "deterministic");
        assert!(a < window);
        let offsets: Vec<Duration> = (0..50).map(|g| jitter_offset(GroupId::qq(g), window)).collect();
        assert!(offsets.iter().all(|o| *o < window));
        let distinct: std::collections::HashSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 40, "groups are spread, not piled up: {distinct:?}");
        assert_eq!(jitter_offset(GroupId::qq(1), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn rotation_walks_the_texts_in_order_and_starts_over() {
        let texts = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let walked: Vec<&str> = (0..7).filter_map(|r| rotation_text(&texts, r)).collect();
        assert_eq!(walked, ["a", "b", "c", "a", "b", "c", "a"]);
        assert_eq!(rotation_text(&[], 3), None);
    }
}
