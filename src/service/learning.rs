//! Learning from admins (issue 12 §4), and what it needs at run time.
//!
//! The samples admins label (`/spam`, `/notspam`) live in the store ([`crate::store::samples`]);
//! this module holds what is built from them and from the live traffic, in memory:
//!
//! - the **near-duplicate index** ([`crate::policy::neardup::Index`]) of every spam sample in
//!   force, built from the store at start and updated by each label. A message that is a
//!   near-duplicate of one is a violation for anyone, in every group (rule `learned`). While
//!   no spam sample exists, the check costs one atomic load;
//! - the model's **instance delta** ([`crate::policy::model::Delta`]): every label takes one
//!   learning step on top of the shipped model (through [`Filter::learn`]). At start, and
//!   when a rules reload brings another model or normalization, it is rebuilt by replaying
//!   the samples in id (labelling) order, skipping retired ones. So live, a `/notspam`
//!   counteracts a mistaken `/spam` with a ham step; after a restart the mistake is gone
//!   from the replay altogether;
//! - the **recent messages** of each group ([`Recent`]): the text, author and fate of the
//!   messages the bot saw in the last `[learning] recent_window`, so a `/spam` sent as a reply
//!   knows what it refers to. Bounded per group (`recent_per_group`) and in bytes over all
//!   groups (`recent_mib`); the oldest go first;
//! - the **review list**: messages of trusted members the model alone would have acted on,
//!   for `/review`. Bounded (`review_size`), and kept in the store too, so a restart keeps it.
//!
//! Every bound has a gauge in [`crate::domain::metrics::LearningGauges`].
//!
//! Labels are made durable by the command's transaction first; only then does the command
//! call [`Learning::learned`] / [`Learning::retire`] to update the index. A crash in between
//! loses nothing: the index is rebuilt from the store at the next start.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arc_swap::ArcSwap;

use crate::config::LearningSettings;
use crate::config::rules::Rules;
use crate::domain::bounds::Bound;
use crate::domain::event::{GroupId, GroupMessage, Role};
use crate::domain::learning::{ReviewItem, SAMPLE_TEXT_MAX, Sample, SampleLabel};
use crate::domain::metrics::{LearningGauges, Metrics};
use crate::policy::filter::Filter;
use crate::policy::filter::report::{self, LearnedMatch};
use crate::policy::model::Delta;
use crate::policy::neardup::{self, Index, Match, Signature};
use crate::policy::normalize::View;
use crate::store::{Store, StoreError};

/// The longest text kept per recent message, in bytes (cut on a character boundary).
pub const RECENT_TEXT_MAX: usize = 4096;

/// The longest sender name kept per recent message, in bytes (cut on a character boundary;
/// platforms' display names are far shorter).
pub const RECENT_NAME_MAX: usize = 1024;

/// What one recent message costs besides its name and text, in bytes: the entry ([`Kept`],
/// 48 bytes) with its queue's spare room (a queue grows by doubling and keeps its high-water
/// capacity), its 4-byte pointer in the arrival order with that queue's spare room, and the
/// allocator's header and rounding of its one allocation. Measured with glibc's malloc
/// (`mallinfo2`, heap in use before and after): filling the cache with 1,000 to 100,000
/// messages of 80 bytes of name and text in 1 to 400 groups (40 sizes), 71 to 117 bytes
/// besides them, 90 on average; in the steady state, 200,000 messages of the soak bench's mix
/// (200 groups, 53 bytes of name and text) through the default bound, 112. The former layout
/// (two `String`s, a 104-byte entry, a 24-byte pointer, counted at 224) measured 166 to 269
/// (211 on average) and 233 the same ways.
const ENTRY_OVERHEAD: usize = 112;

/// The most review items `/review` shows at once.
pub const REVIEW_SHOWN: usize = 10;

/// A message the bot saw, kept for replies (a copy of what [`Recent`] keeps compactly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentMessage {
    /// The platform's message id.
    pub message_id: i64,
    /// Who sent it.
    pub user_id: i64,
    /// Their display name (at most [`RECENT_NAME_MAX`] bytes).
    pub name: String,
    /// Their role, as the message reported it.
    pub role: Role,
    /// The text (at most [`RECENT_TEXT_MAX`] bytes).
    pub text: String,
    /// When it arrived, unix ms.
    pub at_ms: i64,
    /// The audit case it caused or was labelled in, if any.
    pub case: Option<u64>,
    /// The bot already recalled it (or asked the platform to).
    pub recalled: bool,
}

/// How [`Kept::meta`] packs a message's arrival time, name length, role and recall flag in one
/// word: the arrival in unix ms in the low 48 bits (until the year 10889), the name's length in
/// the next 12 (at most [`RECENT_NAME_MAX`]), the role in 2, the recall flag in 1.
const AT_BITS: u32 = 48;
const AT_MASK: u64 = (1 << AT_BITS) - 1;
const NAME_SHIFT: u32 = AT_BITS;
const NAME_MASK: u64 = 0xFFF;
const ROLE_SHIFT: u32 = 60;
const RECALLED: u64 = 1 << 62;

/// One kept message as [`Recent`] holds it: 48 bytes and one allocation (the name followed by
/// the text), without a `String`'s spare capacity.
#[derive(Debug)]
struct Kept {
    /// The sender's name, then the text.
    name_text: Box<str>,
    message_id: i64,
    user_id: i64,
    /// The audit case (case numbers start at 1).
    case: Option<NonZeroU64>,
    /// Arrival, name length, role, recall flag (see [`AT_BITS`]).
    meta: u64,
}

impl Kept {
    fn new(msg: &GroupMessage, text: &str, now_ms: i64) -> Self {
        let name = cut(&msg.sender.name, RECENT_NAME_MAX);
        let mut name_text = String::with_capacity(name.len() + text.len());
        name_text.push_str(name);
        name_text.push_str(text);
        let role = match msg.sender.role {
            Role::Owner => 0,
            Role::Admin => 1,
            Role::Member => 2,
        };
        // A clock before 1970 or after the year 10889 is kept at the nearest end.
        let at = u64::try_from(now_ms).unwrap_or(0).min(AT_MASK);
        let name_len = u64::try_from(name.len()).unwrap_or(NAME_MASK).min(NAME_MASK);
        Self {
            name_text: name_text.into_boxed_str(),
            message_id: msg.message_id,
            user_id: msg.sender.user_id,
            case: None,
            meta: at | name_len << NAME_SHIFT | role << ROLE_SHIFT,
        }
    }

    fn at_ms(&self) -> i64 {
        i64::try_from(self.meta & AT_MASK).unwrap_or(i64::MAX)
    }

    fn name_len(&self) -> usize {
        usize::try_from(self.meta >> NAME_SHIFT & NAME_MASK).unwrap_or(0)
    }

    fn name(&self) -> &str {
        self.name_text.get(..self.name_len()).unwrap_or_default()
    }

    fn text(&self) -> &str {
        self.name_text.get(self.name_len()..).unwrap_or_default()
    }

    fn role(&self) -> Role {
        match self.meta >> ROLE_SHIFT & 0b11 {
            0 => Role::Owner,
            1 => Role::Admin,
            _ => Role::Member,
        }
    }

    fn recalled(&self) -> bool {
        self.meta & RECALLED != 0
    }

    /// Replaces the text (an edit), keeping the name.
    fn set_text(&mut self, text: &str) {
        let mut name_text = String::with_capacity(self.name_len() + text.len());
        name_text.push_str(self.name());
        name_text.push_str(text);
        self.name_text = name_text.into_boxed_str();
    }

    fn bytes(&self) -> usize {
        self.name_text.len() + ENTRY_OVERHEAD
    }

    fn to_message(&self) -> RecentMessage {
        RecentMessage {
            message_id: self.message_id,
            user_id: self.user_id,
            name: self.name().to_owned(),
            role: self.role(),
            text: self.text().to_owned(),
            at_ms: self.at_ms(),
            case: self.case.map(NonZeroU64::get),
            recalled: self.recalled(),
        }
    }
}

/// One group's kept messages.
#[derive(Debug)]
struct GroupQueue {
    group: GroupId,
    /// In arrival order.
    queue: VecDeque<Kept>,
    /// How many of this group's pointers in [`Recent::order`] point at messages its count bound
    /// already dropped. They are always the group's oldest pointers there.
    stale: usize,
}

/// The recent messages of every group (see the module documentation).
///
/// Each group's messages are a queue in arrival order, in a slot of `slots`; `order` holds the
/// slot number (4 bytes) of each message over all groups, in arrival order, so the oldest
/// message anywhere is found in O(1) when the window or the byte bound evicts: the front
/// pointer's group's oldest message. A message dropped by its group's count bound is always
/// that group's oldest, so it leaves a stale pointer that is the group's oldest in `order`:
/// the group counts them (`stale`) and skips that many when reached. `order` is compacted when
/// more than half of it is stale. A group's slot is freed when its queue empties, which only
/// happens when no pointer of it is left.
#[derive(Debug)]
pub struct Recent {
    window_ms: i64,
    per_group: usize,
    max_bytes: usize,
    slots: Vec<Option<GroupQueue>>,
    free: Vec<u32>,
    index: HashMap<GroupId, u32>,
    order: VecDeque<u32>,
    live: usize,
    bytes: usize,
}

impl Recent {
    /// An empty cache with the bounds of `settings`.
    #[must_use]
    pub fn new(settings: &LearningSettings) -> Self {
        Self {
            window_ms: i64::try_from(settings.recent_window.get().as_millis()).unwrap_or(i64::MAX),
            per_group: settings.recent_per_group.max(1),
            max_bytes: usize::try_from(settings.recent_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            order: VecDeque::new(),
            live: 0,
            bytes: 0,
        }
    }

    /// Messages kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether none is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes they take.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The slot of `group`'s queue, made when it has none.
    fn slot(&mut self, group: GroupId) -> Option<u32> {
        if let Some(&slot) = self.index.get(&group) {
            return Some(slot);
        }
        let queue = GroupQueue {
            group,
            queue: VecDeque::new(),
            stale: 0,
        };
        let slot = if let Some(slot) = self.free.pop() {
            *self.slots.get_mut(slot as usize)? = Some(queue);
            slot
        } else {
            // More groups than a u32 counts cannot have messages in memory at once.
            let slot = u32::try_from(self.slots.len()).ok()?;
            self.slots.push(Some(queue));
            slot
        };
        self.index.insert(group, slot);
        Some(slot)
    }

    fn queue(&self, group: GroupId) -> Option<&VecDeque<Kept>> {
        let slot = *self.index.get(&group)?;
        Some(&self.slots.get(slot as usize)?.as_ref()?.queue)
    }

    fn queue_mut(&mut self, group: GroupId) -> Option<&mut VecDeque<Kept>> {
        let slot = *self.index.get(&group)?;
        Some(&mut self.slots.get_mut(slot as usize)?.as_mut()?.queue)
    }

    /// Keeps `msg` (seen at `now_ms`); an edit replaces the text of the message it edits.
    /// Returns how many kept messages its bounds dropped to make room (its group's count or
    /// the byte bound; messages that aged out of the window are not counted).
    pub fn insert(&mut self, msg: &GroupMessage, now_ms: i64) -> usize {
        let text = cut(&msg.text, RECENT_TEXT_MAX);
        // Only an edit looks for the message it replaces.
        if msg.edited
            && let Some(kept) = self
                .queue_mut(msg.group)
                .and_then(|q| q.iter_mut().rev().find(|m| m.message_id == msg.message_id))
        {
            let before = kept.bytes();
            kept.set_text(text);
            let after = kept.bytes();
            self.bytes = self.bytes - before + after;
            return self.evict(now_ms);
        }
        let Some(slot) = self.slot(msg.group) else {
            return 0;
        };
        let entry = Kept::new(msg, text, now_ms);
        let mut dropped = 0;
        if let Some(Some(group)) = self.slots.get_mut(slot as usize) {
            self.bytes += entry.bytes();
            self.live += 1;
            self.order.push_back(slot);
            group.queue.push_back(entry);
            if group.queue.len() > self.per_group
                && let Some(old) = group.queue.pop_front()
            {
                group.stale += 1;
                self.live -= 1;
                self.bytes -= old.bytes();
                dropped += 1;
            }
        }
        dropped + self.evict(now_ms)
    }

    /// The byte bound (`[learning] recent_mib`).
    #[must_use]
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Drops messages older than the window, then the oldest while over the byte bound;
    /// returns how many the byte bound dropped.
    fn evict(&mut self, now_ms: i64) -> usize {
        let mut over_bytes = 0;
        let cutoff = now_ms.saturating_sub(self.window_ms);
        while let Some(&slot) = self.order.front() {
            let Some(group) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
                self.order.pop_front();
                continue;
            };
            if group.stale > 0 {
                // Dropped by its group's bound already.
                group.stale -= 1;
                self.order.pop_front();
                continue;
            }
            if let Some(first) = group.queue.front() {
                if first.at_ms() >= cutoff && self.bytes <= self.max_bytes {
                    break;
                }
                if first.at_ms() >= cutoff {
                    over_bytes += 1;
                }
                self.bytes -= first.bytes();
                self.live -= 1;
                group.queue.pop_front();
            }
            if group.queue.is_empty() {
                let id = group.group;
                self.index.remove(&id);
                if let Some(freed) = self.slots.get_mut(slot as usize) {
                    *freed = None;
                }
                self.free.push(slot);
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.live + 64 {
            let slots = &mut self.slots;
            // Each group's stale pointers are its oldest ones.
            self.order
                .retain(|&slot| match slots.get_mut(slot as usize).and_then(Option::as_mut) {
                    Some(group) if group.stale > 0 => {
                        group.stale -= 1;
                        false
                    }
                    Some(_) => true,
                    None => false,
                });
        }
        over_bytes
    }

    /// A copy of the kept message `message_id` of `group`.
    #[must_use]
    pub fn get(&self, group: GroupId, message_id: i64) -> Option<RecentMessage> {
        self.queue(group)?
            .iter()
            .rev()
            .find(|m| m.message_id == message_id)
            .map(Kept::to_message)
    }

    /// Notes that `message_id` caused (or was labelled in) `case`, and whether the bot recalled
    /// it.
    pub fn mark(&mut self, group: GroupId, message_id: i64, case: Option<u64>, recalled: bool) {
        if let Some(m) = self
            .queue_mut(group)
            .and_then(|q| q.iter_mut().rev().find(|m| m.message_id == message_id))
        {
            if let Some(case) = case.and_then(NonZeroU64::new) {
                m.case = Some(case);
            }
            if recalled {
                m.meta |= RECALLED;
            }
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A message prepared for labelling: its normalized text, compact view and masked template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The text view (folded, spaces and punctuation kept): what a sample stores.
    pub text: String,
    /// The compact view: what near-duplicates are signed from.
    pub compact: String,
    /// The masked template.
    pub masked: String,
}

impl Prepared {
    /// Normalizes `text` with the live filter's normalizer; `None` when nothing is left (an
    /// image, a sticker, only punctuation).
    #[must_use]
    pub fn of(filter: &Filter, text: &str) -> Option<Self> {
        let normalizer = filter.normalizer();
        let mut view = View::default();
        normalizer.text_into(text, &mut view);
        let normalized = cut(view.as_str().trim(), SAMPLE_TEXT_MAX).to_owned();
        let compact = normalizer.compact(&normalized);
        if compact.is_empty() {
            return None;
        }
        Some(Self {
            masked: neardup::mask(&compact),
            text: normalized,
            compact,
        })
    }

    /// The sample this message becomes.
    #[must_use]
    pub fn sample(&self, label: SampleLabel, by: (i64, &str), group: GroupId, at_ms: i64, case: u64) -> Sample {
        Sample {
            label,
            text: self.text.clone(),
            masked: self.masked.clone(),
            by: Some(by.0),
            by_name: by.1.to_owned(),
            at_ms,
            group: Some(group),
            case: Some(case),
            retired: false,
        }
    }
}

thread_local! {
    /// The compact view of the message being checked, reused from message to message.
    static COMPACT: std::cell::RefCell<View> = std::cell::RefCell::new(View::default());
}

/// What the bot learned from admins, and the recent messages and review list (see the module
/// documentation).
pub struct Learning {
    settings: LearningSettings,
    store: Store,
    metrics: Arc<Metrics>,
    index: RwLock<Index>,
    /// How many samples `index` holds, read without its lock.
    indexed: AtomicUsize,
    /// The model's instance delta.
    delta: RwLock<Delta>,
    /// The rules `index` and `delta` were built with (kept alive, so a pointer comparison
    /// tells a reload).
    built_with: ArcSwap<Option<Arc<Rules>>>,
    /// Held while the index and delta are rebuilt, and by label updates, so a label made
    /// during a rebuild is not lost by it.
    rebuilding: Mutex<()>,
    recent: Mutex<Recent>,
    review: Mutex<VecDeque<ReviewItem>>,
    /// The review list's size for `qunguan_memory_*{structure="review_list"}`.
    review_bound: Arc<Bound>,
    /// The near-duplicate index's samples and capacity (`structure="neardup_samples"`).
    neardup_bound: Arc<Bound>,
    /// The recent messages' bytes and their bound, `[learning] recent_mib`
    /// (`structure="recent_bytes"`; evictions count the messages a bound dropped).
    recent_bound: Arc<Bound>,
}

impl std::fmt::Debug for Learning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learning")
            .field("indexed", &self.indexed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Learning {
    /// Nothing learned yet, nothing loaded.
    #[must_use]
    pub fn new(settings: &LearningSettings, store: Store, metrics: Arc<Metrics>) -> Self {
        let review_bound = Bound::new("review_list", settings.review_size);
        metrics.track(Arc::clone(&review_bound));
        let index = Index::new();
        let neardup_bound = Bound::new("neardup_samples", index.capacity());
        metrics.track(Arc::clone(&neardup_bound));
        let recent = Recent::new(settings);
        let recent_bound = Bound::new("recent_bytes", recent.max_bytes());
        metrics.track(Arc::clone(&recent_bound));
        Self {
            review_bound,
            neardup_bound,
            recent_bound,
            recent: Mutex::new(recent),
            settings: settings.clone(),
            store,
            metrics,
            index: RwLock::new(index),
            indexed: AtomicUsize::new(0),
            delta: RwLock::new(Delta::new()),
            built_with: ArcSwap::from_pointee(None),
            rebuilding: Mutex::new(()),
            review: Mutex::new(VecDeque::new()),
        }
    }

    /// Loads what the store holds with the live `rules`: the index of the spam samples in
    /// force, the model's delta replayed from the samples, and the review list.
    pub fn load(
        settings: &LearningSettings,
        store: Store,
        metrics: Arc<Metrics>,
        rules: &Arc<Rules>,
    ) -> Result<Self, StoreError> {
        let this = Self::new(settings, store, metrics);
        this.rebuild(rules)?;
        {
            let mut review = this.lock_review();
            review.extend(this.store.reviews()?);
            while review.len() > this.settings.review_size {
                review.pop_front();
                this.review_bound.evict(1);
            }
        }
        this.gauges();
        Ok(this)
    }

    /// Rebuilds the index and the delta from the stored samples with `rules` (its
    /// normalization and model).
    fn rebuild(&self, rules: &Arc<Rules>) -> Result<(), StoreError> {
        let _rebuilding = self.lock_rebuilding();
        let filter = &rules.filter;
        let samples = self.store.samples()?;
        let (index, delta) = replay(
            filter,
            samples.iter().map(|(id, s)| (*id, s.label, s.text.as_str(), s.retired)),
        );
        let indexed = index.len();
        *self.write_index() = index;
        *self.write_delta() = delta;
        self.indexed.store(indexed, Ordering::Relaxed);
        self.built_with.store(Arc::new(Some(Arc::clone(rules))));
        self.count_samples(&samples);
        self.gauges();
        tracing::info!(samples = samples.len(), indexed, "learned samples loaded");
        Ok(())
    }

    /// Called with the rules each message is checked with: after a reload (a new model or
    /// normalization), rebuilds the index and the delta in the background. Until it is done,
    /// messages are checked with what was built before.
    pub fn follow_rules(self: &Arc<Self>, rules: &Arc<Rules>) {
        let current = self.built_with.load();
        if current.as_ref().as_ref().is_some_and(|built| Arc::ptr_eq(built, rules)) {
            return;
        }
        // Claimed at once, so one reload rebuilds once.
        self.built_with.store(Arc::new(Some(Arc::clone(rules))));
        let (this, rules) = (Arc::clone(self), Arc::clone(rules));
        let rebuild = move || {
            if let Err(e) = this.rebuild(&rules) {
                tracing::error!(error = %e, "cannot rebuild the learned samples after a rules reload");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(rebuild);
            }
            Err(_) => rebuild(),
        }
    }

    /// Runs `f` with the model's instance delta (for [`Filter::judge`]).
    pub fn with_delta<R>(&self, f: impl FnOnce(&Delta) -> R) -> R {
        f(&self.delta.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write_delta(&self) -> std::sync::RwLockWriteGuard<'_, Delta> {
        self.delta.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_rebuilding(&self) -> MutexGuard<'_, ()> {
        self.rebuilding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_review(&self) -> MutexGuard<'_, VecDeque<ReviewItem>> {
        self.review.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn g(&self) -> &LearningGauges {
        &self.metrics.learning
    }

    /// Sets the sample gauges from a full list (start, imports, removals).
    fn count_samples(&self, samples: &[(u64, Sample)]) {
        let (mut spam, mut retired, mut ham) = (0, 0, 0);
        for (_, s) in samples {
            match (s.label, s.retired) {
                (SampleLabel::Spam, false) => spam += 1,
                (SampleLabel::Spam, true) => retired += 1,
                (SampleLabel::Ham, _) => ham += 1,
            }
        }
        let g = self.g();
        LearningGauges::set(&g.samples_spam, spam);
        LearningGauges::set(&g.samples_retired, retired);
        LearningGauges::set(&g.samples_ham, ham);
    }

    fn gauges(&self) {
        let g = self.g();
        let indexed = self.indexed.load(Ordering::Relaxed);
        self.neardup_bound.set_len(indexed);
        LearningGauges::set(&g.neardup_samples, indexed as u64);
        let (live, bytes) = {
            let recent = self.lock_recent();
            (recent.len(), recent.bytes())
        };
        self.recent_bound.set_len(bytes);
        LearningGauges::set(&g.recent_messages, live as u64);
        LearningGauges::set(&g.recent_bytes, bytes as u64);
        let review = self.lock_review().len();
        self.review_bound.set_len(review);
        LearningGauges::set(&g.review_items, review as u64);
    }

    /// The spam sample `text` is a near-duplicate of, if any. Costs one atomic load while no
    /// spam sample exists; otherwise one normalization and one index lookup.
    #[must_use]
    pub fn near_duplicate(&self, filter: &Filter, text: &str) -> Option<Match> {
        if self.indexed.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let sig = COMPACT.with(|cell| {
            let mut fresh = View::default();
            let mut guard = cell.try_borrow_mut();
            let view = match guard.as_deref_mut() {
                Ok(v) => v,
                Err(_) => &mut fresh,
            };
            filter.normalizer().compact_into(text, view);
            Signature::of(view.as_str())
        })?;
        self.read_index().find(&sig)
    }

    /// Every spam sample in force that the compact text `compact` is a near-duplicate of.
    #[must_use]
    pub fn matching(&self, compact: &str) -> Vec<u64> {
        match Signature::of(compact) {
            Some(sig) => self.read_index().find_all(&sig).into_iter().map(|m| m.id).collect(),
            None => Vec::new(),
        }
    }

    /// After a durable label: the model's delta takes its learning step, and a spam sample
    /// joins the index.
    pub fn learned(&self, id: u64, prepared: &Prepared, label: SampleLabel, filter: &Filter) {
        let _rebuilding = self.lock_rebuilding();
        let step = filter.learn(&mut self.write_delta(), &prepared.text, label.is_spam());
        if let Some(step) = step {
            tracing::info!(
                sample = id,
                before = step.before,
                after = step.after,
                "model delta learned a label"
            );
        }
        match label {
            SampleLabel::Spam => {
                LearningGauges::bump(&self.g().labels_spam);
                LearningGauges::bump(&self.g().samples_spam);
                if let Some(sig) = Signature::of(&prepared.compact) {
                    let mut index = self.write_index();
                    if let Some(evicted) = index.insert(id, sig) {
                        self.neardup_bound.evict(1);
                        tracing::warn!(evicted, "near-duplicate index full; its oldest sample was evicted");
                    }
                    self.indexed.store(index.len(), Ordering::Relaxed);
                }
            }
            SampleLabel::Ham => {
                LearningGauges::bump(&self.g().labels_ham);
                LearningGauges::bump(&self.g().samples_ham);
            }
        }
        self.gauges();
    }

    /// After a durable `/notspam`: the retired samples leave the index.
    pub fn retire(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let _rebuilding = self.lock_rebuilding();
        let mut index = self.write_index();
        for &id in ids {
            index.remove(id);
        }
        self.indexed.store(index.len(), Ordering::Relaxed);
        drop(index);
        let g = self.g();
        let n = ids.len() as u64;
        LearningGauges::set(
            &g.samples_spam,
            g.samples_spam.load(Ordering::Relaxed).saturating_sub(n),
        );
        g.samples_retired.fetch_add(n, Ordering::Relaxed);
        self.gauges();
    }

    /// `qunguan samples import` on a running daemon: stores `samples` (one transaction, made
    /// durable) and rebuilds what is learned from them.
    pub fn import(&self, samples: &[Sample], rules: &Arc<Rules>, now: jiff::Timestamp) -> Result<Vec<u64>, StoreError> {
        let ids = self.store.import_samples(samples, now)?;
        self.store.flush_blocking()?;
        self.rebuild(rules)?;
        tracing::info!(imported = ids.len(), "samples imported");
        Ok(ids)
    }

    /// `qunguan samples remove` on a running daemon: deletes the samples (made durable) and
    /// rebuilds what is learned from the rest.
    pub fn remove(&self, ids: &[u64], rules: &Arc<Rules>, now: jiff::Timestamp) -> Result<Vec<u64>, StoreError> {
        let removed = self.store.remove_samples(ids, now)?;
        self.store.flush_blocking()?;
        self.rebuild(rules)?;
        tracing::info!(removed = %crate::domain::logfield::json_list(&removed), "samples removed");
        Ok(removed)
    }

    /// Keeps a group message for replies.
    pub fn remember(&self, msg: &GroupMessage, now_ms: i64) {
        let (live, bytes, dropped) = {
            let mut recent = self.lock_recent();
            let dropped = recent.insert(msg, now_ms);
            (recent.len(), recent.bytes(), dropped)
        };
        self.recent_bound.set_len(bytes);
        if dropped > 0 {
            self.recent_bound.evict(dropped);
        }
        LearningGauges::set(&self.g().recent_messages, live as u64);
        LearningGauges::set(&self.g().recent_bytes, bytes as u64);
    }

    /// The kept message `message_id` of `group`, if it is still kept.
    #[must_use]
    pub fn recent(&self, group: GroupId, message_id: i64) -> Option<RecentMessage> {
        self.lock_recent().get(group, message_id)
    }

    /// Notes what became of a kept message (its case; whether the bot recalled it).
    pub fn mark(&self, group: GroupId, message_id: i64, case: Option<u64>, recalled: bool) {
        self.lock_recent().mark(group, message_id, case, recalled);
    }

    /// Puts a trusted member's message the model flagged on the review list (memory and
    /// store). A store failure is logged: the list is advisory.
    pub fn review(&self, item: ReviewItem) {
        LearningGauges::bump(&self.g().review_total);
        if let Err(e) = self.store.add_review(&item, self.settings.review_size) {
            tracing::warn!(error = %e, "cannot store a review item");
        }
        let len = {
            let mut review = self.lock_review();
            review.push_back(item);
            while review.len() > self.settings.review_size {
                review.pop_front();
                self.review_bound.evict(1);
            }
            review.len()
        };
        self.review_bound.set_len(len);
        LearningGauges::set(&self.g().review_items, len as u64);
    }

    /// The review list of `group`, newest first, at most [`REVIEW_SHOWN`].
    #[must_use]
    pub fn reviews(&self, group: GroupId) -> Vec<ReviewItem> {
        self.lock_review()
            .iter()
            .rev()
            .filter(|i| i.group == group)
            .take(REVIEW_SHOWN)
            .cloned()
            .collect()
    }

    /// Takes a labelled message off the review list.
    pub fn reviewed(&self, group: GroupId, message_id: i64) {
        let len = {
            let mut review = self.lock_review();
            let before = review.len();
            review.retain(|i| !(i.group == group && i.message_id == message_id));
            if review.len() == before {
                return;
            }
            review.len()
        };
        if let Err(e) = self.store.remove_review(group, message_id) {
            tracing::warn!(error = %e, "cannot remove a review item");
        }
        self.review_bound.set_len(len);
        LearningGauges::set(&self.g().review_items, len as u64);
    }
}

/// One sample as `qunguan samples export` writes it and `import` reads it: one JSON object
/// per line.
///
/// ```text
/// {"id":3,"label":"spam","text":"兼职刷单 日结300 加v abc123","masked":"兼职刷单日结#加v@",
///  "by":10,"by_name":"Lin","at":"2024-11-21T06:45:30Z","group":"qq:726300112","case":4,"retired":false}
/// ```
///
/// On import only `label` (`spam` or `ham`) and `text` are required; `id` and `masked` are
/// ignored (ids are handed out anew, in file order; the template is computed again), `at`
/// defaults to the time of the import. Unknown fields are refused, so a typo is not silently
/// dropped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleLine {
    /// The sample's id (export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `spam` or `ham`.
    pub label: SampleLabel,
    /// The normalized text.
    pub text: String,
    /// The masked template (export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
    /// Who labelled it (a user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<i64>,
    /// Their display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by_name: String,
    /// When, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<jiff::Timestamp>,
    /// Where: `qq:726300112`, `tg:-1001234567890`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The audit case of the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<u64>,
    /// Retired (a spam sample a `/notspam` matched).
    #[serde(default)]
    pub retired: bool,
}

impl SampleLine {
    /// The export line of stored sample `id`.
    #[must_use]
    pub fn of(id: u64, sample: &Sample) -> Self {
        Self {
            id: Some(id),
            label: sample.label,
            text: sample.text.clone(),
            masked: Some(sample.masked.clone()),
            by: sample.by,
            by_name: sample.by_name.clone(),
            at: jiff::Timestamp::from_millisecond(sample.at_ms).ok(),
            group: sample.group.map(|g| g.to_string()),
            case: sample.case,
            retired: sample.retired,
        }
    }
}

/// A line of an import that is not a sample: which line, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ImportError {
    /// 1-based.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The longest text an imported sample may have, in bytes (before normalization).
pub const IMPORT_TEXT_MAX: usize = 4 * SAMPLE_TEXT_MAX;

/// Reads and checks an import (JSON lines; blank lines and lines starting with `#` are
/// skipped) and turns it into samples, normalized with `filter`, stamped `now_ms` where the
/// line gives no time. Nothing is returned unless every line is good: the first bad one is
/// named.
pub fn parse_import(input: &str, filter: &Filter, now_ms: i64) -> Result<Vec<Sample>, ImportError> {
    let mut out = Vec::new();
    for (i, raw) in input.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let bad = |reason: String| ImportError { line, reason };
        let parsed: SampleLine = serde_json::from_str(raw).map_err(|e| {
            bad(format!(
                "not a sample ({e}); expected {{\"label\":\"spam\"|\"ham\",\"text\":\"…\"}}"
            ))
        })?;
        if parsed.text.len() > IMPORT_TEXT_MAX {
            return Err(bad(format!(
                "the text is {} bytes; at most {IMPORT_TEXT_MAX} are accepted",
                parsed.text.len()
            )));
        }
        let group = parsed
            .group
            .as_deref()
            .map(str::parse::<GroupId>)
            .transpose()
            .map_err(|e| bad(format!("\"group\": {e}")))?;
        let Some(prepared) = Prepared::of(filter, &parsed.text) else {
            return Err(bad(
                "the text is empty once normalized (only spaces, punctuation or emoji)".into(),
            ));
        };
        if parsed.retired && parsed.label == SampleLabel::Ham {
            return Err(bad("only spam samples can be retired".into()));
        }
        out.push(Sample {
            label: parsed.label,
            text: prepared.text,
            masked: prepared.masked,
            by: parsed.by,
            by_name: parsed.by_name,
            at_ms: parsed.at.map_or(now_ms, jiff::Timestamp::as_millisecond),
            group,
            case: parsed.case,
            retired: parsed.retired,
        });
    }
    Ok(out)
}

/// The daemon's live lessons, for the console's explain: the delta messages are judged with
/// and the near-duplicate index they are checked against ([`Learning::near_duplicate`]).
impl report::Lessons for Learning {
    fn with_learned_delta(&self, f: &mut dyn FnMut(Option<&Delta>)) {
        self.with_delta(|delta| f(Some(delta)));
    }

    fn matched(&self, filter: &Filter, text: &str) -> Option<LearnedMatch> {
        let found = self.near_duplicate(filter, text)?;
        let sample = match self.store.sample(found.id) {
            Ok(sample) => sample.map(|s| s.text).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, sample = found.id, "cannot read the matched sample's text");
                String::new()
            }
        };
        Some(LearnedMatch::new(&found, sample))
    }
}

/// What the samples teach, built from scratch: the near-duplicate index of the spam samples
/// in force and the model's instance delta, replaying every sample in force in the order
/// given (id order: the order they were labelled in). Retired samples are skipped. Each item
/// is `(id, label, normalized text, retired)`. The daemon builds its state with this at start
/// and after a rules reload; `qunguan filter explain` with it from the database or the
/// running daemon, so it judges a message as the daemon would.
pub fn replay<'a>(
    filter: &Filter,
    samples: impl IntoIterator<Item = (u64, SampleLabel, &'a str, bool)>,
) -> (Index, Delta) {
    let mut index = Index::new();
    let mut delta = Delta::new();
    for (id, label, text, retired) in samples {
        if retired {
            continue;
        }
        if label.is_spam()
            && let Some(sig) = signature(filter, text)
        {
            index.insert(id, sig);
        }
        filter.learn(&mut delta, text, label.is_spam());
    }
    (index, delta)
}

/// The near-duplicate signature of a stored sample's text, or of a message's (the compact
/// view of its normalization; normalizing a normalized text changes nothing).
#[must_use]
pub fn signature(filter: &Filter, normalized: &str) -> Option<Signature> {
    Signature::of(&filter.normalizer().compact(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::duration::HumanDuration;
    use crate::domain::event::Sender;

    fn settings(per_group: usize, mib: u64) -> LearningSettings {
        LearningSettings {
            recent_window: HumanDuration::from_secs(1_800),
            recent_per_group: per_group,
            recent_mib: mib,
            review_size: 3,
        }
    }

    fn msg(group: i64, id: i64, text: &str) -> GroupMessage {
        GroupMessage {
            group: GroupId::qq(group),
            message_id: id,
            sender: Sender {
                user_id: 7,
                name: "阿杰".into(),
                role: Role::Member,
            },
            text: text.into(),
            segments: Vec::new(),
            time: 0,
            edited: false,
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn recent_messages_are_kept_for_the_window_and_found_by_id() {
        let mut recent = Recent::new(&settings(100, 1));
        recent.insert(&msg(1, 10, "第一条"), 0);
        recent.insert(&msg(2, 10, "另一个群"), 10 * MIN);
        assert_eq!(
            recent.get(GroupId::qq(1), 10).map(|m| m.text).as_deref(),
            Some("第一条")
        );
        assert_eq!(
            recent.get(GroupId::qq(2), 10).map(|m| m.text).as_deref(),
            Some("另一个群")
        );
        assert!(recent.get(GroupId::qq(1), 11).is_none());
        // An edit replaces the text in place.
        let mut edit = msg(1, 10, "改过的");
        edit.edited = true;
        recent.insert(&edit, 20 * MIN);
        assert_eq!(
            recent.get(GroupId::qq(1), 10).map(|m| m.text).as_deref(),
            Some("改过的")
        );
        assert_eq!(recent.len(), 2);
        // 30 minutes after the first: it is gone, the second stays.
        recent.insert(&msg(2, 11, "新消息"), 30 * MIN + 1);
        assert!(recent.get(GroupId::qq(1), 10).is_none());
        assert!(recent.get(GroupId::qq(2), 10).is_some());
        assert_eq!(recent.len(), 2);
        // Marks stick.
        recent.mark(GroupId::qq(2), 10, Some(4), true);
        let kept = recent.get(GroupId::qq(2), 10).expect("kept");
        assert_eq!((kept.case, kept.recalled), (Some(4), true));
    }

    #[test]
    fn recent_messages_are_bounded_per_group_and_in_bytes() {
        let mut recent = Recent::new(&settings(3, 1));
        // Each insertion beyond the group's three drops one, and says so (for the bound's
        // eviction count).
        let dropped: usize = (0..10).map(|id| recent.insert(&msg(1, id, "消息"), id)).sum();
        assert_eq!(dropped, 7);
        assert_eq!(recent.len(), 3);
        assert!(recent.get(GroupId::qq(1), 6).is_none());
        assert!(recent.get(GroupId::qq(1), 7).is_some());
        // Stale pointers are compacted away.
        for id in 10..1_000 {
            recent.insert(&msg(1, id, "消息"), id);
        }
        assert!(recent.order.len() <= 2 * recent.len() + 64, "{}", recent.order.len());

        // 1 MiB over all groups: 4 KiB texts, so about 250 fit; the oldest group's go first.
        let mut recent = Recent::new(&settings(1_000, 1));
        let big = "广".repeat(2_000);
        let dropped: usize = (0..600).map(|id| recent.insert(&msg(id % 3, id, &big), id)).sum();
        assert_eq!(
            dropped,
            600 - recent.len(),
            "every message the byte bound dropped is counted"
        );
        assert!(recent.bytes() <= 1 << 20, "{}", recent.bytes());
        assert!(recent.len() >= 200, "{}", recent.len());
        assert!(recent.get(GroupId::qq(0), 0).is_none(), "the oldest went first");
        assert!(recent.get(GroupId::qq(2), 599).is_some());
        let kept = recent.get(GroupId::qq(2), 599).expect("kept");
        assert!(kept.text.len() <= RECENT_TEXT_MAX && kept.text.len() > RECENT_TEXT_MAX - 4);
        assert!(kept.text.is_char_boundary(kept.text.len()));
    }

    /// The books balance: every kept message is counted once, in bytes and in `order`.
    fn assert_consistent(recent: &Recent) {
        let groups: Vec<&GroupQueue> = recent.slots.iter().flatten().collect();
        let kept: usize = groups.iter().map(|g| g.queue.len()).sum();
        let stale: usize = groups.iter().map(|g| g.stale).sum();
        let bytes: usize = groups.iter().flat_map(|g| g.queue.iter()).map(Kept::bytes).sum();
        assert_eq!(kept, recent.len());
        assert_eq!(bytes, recent.bytes());
        assert_eq!(recent.order.len(), kept + stale);
        assert_eq!(recent.index.len(), groups.len());
        assert!(
            groups.iter().all(|g| !g.queue.is_empty()),
            "an empty group keeps no slot"
        );
        for (&id, &slot) in &recent.index {
            let group = recent.slots[slot as usize].as_ref().expect("indexed slot");
            assert_eq!(group.group, id);
        }
    }

    #[test]
    fn a_kept_message_is_compact_and_comes_back_whole() {
        // ENTRY_OVERHEAD is measured for this layout: a change of it needs a new measurement.
        assert_eq!(std::mem::size_of::<Kept>(), 48);
        assert_eq!(std::mem::size_of::<Option<Kept>>(), 48);
        assert_eq!(std::mem::size_of_val(&0_u32), 4, "an arrival pointer");

        let mut recent = Recent::new(&settings(100, 1));
        let now = 1_796_000_000_123; // December 2026, in ms
        for (id, role) in [(1, Role::Owner), (2, Role::Admin), (3, Role::Member)] {
            let mut m = msg(1, id, "原文 text");
            m.sender.role = role;
            m.sender.user_id = -1_001_234_567_890;
            recent.insert(&m, now + id);
        }
        let long = "名".repeat(RECENT_NAME_MAX);
        let mut m = msg(1, 4, "");
        m.sender.name.clone_from(&long);
        recent.insert(&m, now);
        recent.mark(GroupId::qq(1), 2, Some(u64::MAX), false);
        for (id, role) in [(1, Role::Owner), (2, Role::Admin), (3, Role::Member)] {
            let kept = recent.get(GroupId::qq(1), id).expect("kept");
            assert_eq!(
                kept,
                RecentMessage {
                    message_id: id,
                    user_id: -1_001_234_567_890,
                    name: "阿杰".into(),
                    role,
                    text: "原文 text".into(),
                    at_ms: now + id,
                    case: (id == 2).then_some(u64::MAX),
                    recalled: false,
                }
            );
        }
        // A long name is cut on a character boundary; an edit keeps the name.
        let kept = recent.get(GroupId::qq(1), 4).expect("kept");
        assert_eq!(kept.name, cut(&long, RECENT_NAME_MAX));
        assert_eq!(kept.text, "");
        let mut edit = msg(1, 4, "改过");
        edit.sender.name = "别的名字".into();
        edit.edited = true;
        recent.insert(&edit, now + 10);
        let kept = recent.get(GroupId::qq(1), 4).expect("kept");
        assert_eq!(
            (kept.name.as_str(), kept.text.as_str()),
            (cut(&long, RECENT_NAME_MAX), "改过")
        );
        assert_eq!(kept.at_ms, now, "an edit keeps the arrival");
        recent.mark(GroupId::qq(1), 4, None, true);
        recent.mark(GroupId::qq(1), 4, Some(7), false);
        let kept = recent.get(GroupId::qq(1), 4).expect("kept");
        assert_eq!((kept.case, kept.recalled), (Some(7), true), "marks add up");
        assert_consistent(&recent);
    }

    #[test]
    fn groups_emptied_by_the_window_give_their_slot_back_and_stale_pointers_balance() {
        let mut recent = Recent::new(&settings(4, 1));
        let mut id = 0;
        // Rounds of a busy group (dropping by its count bound) and quiet ones, a window apart
        // now and then, so groups empty, slots are reused and stale pointers are skipped.
        for round in 0..50_i64 {
            let base = round * 11 * MIN;
            for i in 0..40 {
                id += 1;
                let group = if i % 3 == 0 { 100 + round } else { 1 };
                recent.insert(&msg(group, id, "消息"), base + i);
                assert_consistent(&recent);
            }
        }
        // 51 groups came and went; at most 4 had messages at once.
        assert!(recent.slots.len() <= 5, "slots are reused: {}", recent.slots.len());
        // The last round's messages are all there is (older rounds aged out or were dropped).
        assert!(recent.len() <= 4 + 4 * 3);
        recent.insert(&msg(2, 1, "后来"), 50 * 11 * MIN + 31 * MIN);
        assert_eq!(recent.len(), 1);
        assert_consistent(&recent);
    }

    #[test]
    fn cut_respects_character_boundaries() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("广告", 4), "广");
        assert_eq!(cut("广告", 6), "广告");
    }

    /// A rules folder with a small model trained on a few lines, and the rules loaded from it.
    fn rules_with_model(dir: &std::path::Path) -> Arc<Rules> {
        use crate::policy::model::{Flags, Sample as Row, TrainOptions, train};
        let normalizer = crate::policy::normalize::Normalizer::new(Default::default());
        let row = |text: &str, spam: bool| Row {
            text: normalizer.compact(text),
            flags: Flags::default(),
            spam,
        };
        let mut rows = Vec::new();
        for _ in 0..5 {
            rows.push(row("限时优惠 点击领取 免费名额", true));
            rows.push(row("今天天气很好 我们去公园散步", false));
            rows.push(row("这本书写得真好 推荐大家看", false));
        }
        std::fs::write(dir.join("ads.txt"), "加微信\n").expect("write");
        std::fs::write(dir.join("model.bin"), train(&rows, &TrainOptions::default()).to_bytes()).expect("write");
        Arc::new(Rules::load(dir).expect("rules load"))
    }

    #[test]
    fn labels_move_the_model_and_are_replayed_in_order_at_start() {
        let root = tempfile::tempdir().expect("tempdir");
        let rules_dir = root.path().join("rules");
        std::fs::create_dir_all(&rules_dir).expect("dir");
        let rules = rules_with_model(&rules_dir);
        let store = Store::open_path(&root.path().join("data")).expect("store");
        let filter = &rules.filter;
        assert!(filter.model().is_some(), "the model loaded");
        let text = "周末一起去爬山吗 报名从速";
        let score = |learning: &Learning| {
            learning
                .with_delta(|d| filter.judge(text, GroupId::qq(1), crate::policy::filter::Trust::New, Some(d)))
                .score
                .expect("the model scores it")
        };
        let learning = Learning::load(&settings(10, 1), store.clone(), Arc::default(), &rules).expect("load");
        let before = score(&learning);
        // A live label takes a step at once.
        let prepared = Prepared::of(filter, text).expect("text");
        learning.learned(1, &prepared, SampleLabel::Spam, filter);
        let live = score(&learning);
        assert!(live > before, "{before} → {live}");

        // Stored, the same label is replayed at the next start; a retired one is not.
        let sample = prepared.sample(SampleLabel::Spam, (10, "admin"), GroupId::qq(1), 0, 1);
        store
            .import_samples(std::slice::from_ref(&sample), jiff::Timestamp::UNIX_EPOCH)
            .expect("import");
        let replayed = Learning::load(&settings(10, 1), store.clone(), Arc::default(), &rules).expect("load");
        assert_eq!(score(&replayed), live, "the same step, replayed");
        let retired = Sample {
            retired: true,
            ..sample
        };
        let other = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(other.path()).expect("store");
        store
            .import_samples(&[retired], jiff::Timestamp::UNIX_EPOCH)
            .expect("import");
        let skipped = Learning::load(&settings(10, 1), store, Arc::default(), &rules).expect("load");
        assert_eq!(score(&skipped), before, "a retired sample is not replayed");
        assert_eq!(skipped.indexed.load(Ordering::Relaxed), 0, "nor indexed");
    }
}
