//! Welcoming new members with the group rules.
//!
//! A join is recorded by the pipeline in its event's transaction ([`Store::commit_join`]):
//! a member who joined the same group within `[welcome] rejoin_window` is not greeted again.
//! A group gets at most one welcome per `[welcome] batch_window`: the first member to join a
//! quiet group is greeted at once, and members who join within the window after a welcome
//! wait in the group's batch, which the [`Greeter`] task greets when that window ends — one
//! message mentioning everyone of a join wave instead of a wall of greetings. A member who
//! leaves or is removed while waiting is taken out of the batch. Batches live in the store, so
//! a join the webhook acknowledged is greeted even if the daemon stops before the window
//! ends.
//!
//! With `[welcome] delete_previous`, each welcome is sent with a receipt name: the outbox
//! keeps the message id the gateway returned, and the next welcome of the group recalls it
//! first, so only the newest greeting stays in the chat. The id is kept with the delivery's
//! record, a few milliseconds after the gateway answered. A welcome composed before that
//! cannot recall its predecessor, and both stay: with `batch_window = "0s"` and two joins
//! within milliseconds, or when the previous welcome is still undelivered after the window
//! (the gateway down or retrying, the send governor holding it).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::config::rules::RulesHandle;
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::policy::group::Policies;
use crate::policy::i18n;
use crate::service::outbox::OutboxHandle;
use crate::service::passes::Passes;
use crate::store::{OutboxItem, Receipt, Store, StoreError, WelcomeBatch, welcome::receipt_name};

/// The greeting for `batch`: the group's template (or the built-in one of `locale`) with
/// `{at}` mentioning every member of the batch, `{name}` their names, `{count}` how many
/// joined (members beyond the mention limit are counted, not mentioned), `{group}` the group
/// and `{rules}` its rules text.
#[must_use]
pub fn welcome_message(locale: Locale, template: &str, rules_text: &str, batch: &WelcomeBatch) -> OutgoingMessage {
    let template = if template.is_empty() {
        i18n::default_welcome_template(locale)
    } else {
        template
    };
    let mentions: Vec<(i64, &str)> = batch.members.iter().map(|m| (m.user_id, m.name.as_str())).collect();
    let names: Vec<&str> = batch
        .members
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    let names = i18n::name_list(locale, &names);
    let group = batch.group.to_string();
    let count = batch.count().to_string();
    i18n::render_mentions(
        template,
        &mentions,
        &[
            ("name", &names),
            ("rules", rules_text),
            ("group", &group),
            ("count", &count),
        ],
    )
}

/// What welcoming `batch` puts in the outbox: the recall of the group's previous welcome
/// (when `delete_previous` and its receipt is known), then the welcome — sent with a receipt
/// name when `delete_previous`, so the next welcome can recall it in turn.
#[must_use]
pub fn welcome_items(
    message: OutgoingMessage,
    batch: &WelcomeBatch,
    previous: Option<Receipt>,
    delete_previous: bool,
    now_ms: i64,
) -> Vec<OutboxItem> {
    let group = batch.group;
    let mut items = Vec::with_capacity(2);
    if delete_previous && let Some(previous) = previous {
        let recall = Action::Recall {
            group,
            message_id: previous.message_id,
        };
        items.push(OutboxItem::new(recall, now_ms));
    }
    let send = OutboxItem::new(
        Action::Send {
            group,
            message,
            reply_to: None,
        },
        now_ms,
    );
    items.push(if delete_previous {
        send.with_receipt(receipt_name(group))
    } else {
        send
    });
    items
}

/// Builds a group's welcome items from the live settings and rules (what the pipeline and
/// the [`Greeter`] share).
#[derive(Clone)]
pub struct Welcomer {
    settings: Arc<Settings>,
    policies: Arc<Policies>,
    rules: RulesHandle,
}

impl std::fmt::Debug for Welcomer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Welcomer").finish_non_exhaustive()
    }
}

impl Welcomer {
    /// A welcomer over the configuration and the live rules.
    #[must_use]
    pub fn new(settings: Arc<Settings>, policies: Arc<Policies>, rules: RulesHandle) -> Self {
        Self {
            settings,
            policies,
            rules,
        }
    }

    /// The batch window (`None` = greet every join at once).
    #[must_use]
    pub fn batch_window(&self) -> Option<Duration> {
        let window = self.settings.welcome.batch_window.get();
        (!window.is_zero()).then_some(window)
    }

    /// The re-join window (`None` = greet every join).
    #[must_use]
    pub fn rejoin_window(&self) -> Option<Duration> {
        let window = self.settings.welcome.rejoin_window.get();
        (!window.is_zero()).then_some(window)
    }

    /// How long after it was due a batch is too old to greet: `[outbox.max_age] send`.
    #[must_use]
    pub fn stale_after(&self) -> Option<Duration> {
        self.settings.outbox.max_age.of(crate::domain::action::ActionKind::Send)
    }

    /// Whether a batch that was due at `due_ms` is too old to greet at `now_ms`: later than
    /// `[outbox.max_age] send`, the limit after which any bot message is pointless (the
    /// daemon was down for a long time). Such a batch is dropped, not greeted.
    #[must_use]
    pub fn too_late(&self, due_ms: i64, now_ms: i64) -> bool {
        self.stale_after().is_some_and(|limit| {
            let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(due_ms) > limit_ms
        })
    }

    /// A member left `group` (or was removed): if they were waiting for a welcome, they are no
    /// longer. A failure is logged; it costs at most a mention of someone who is gone.
    pub fn left(&self, store: &Store, group: GroupId, user_id: i64) {
        match store.leave_welcome(group, user_id) {
            Ok(true) => {
                tracing::info!(%group, user = user_id, "welcome: a member left before their welcome; not greeted")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%group, user = user_id, error = %e, "welcome: cannot take a member who left out of the welcome batch")
            }
        }
    }

    /// Whether `group` greets its new members.
    #[must_use]
    pub fn enabled(&self, group: GroupId) -> bool {
        self.policies.group(group).welcome.enabled
    }

    /// A function building the outbox items that greet a batch, for the store's transaction
    /// (it may run more than once, so it only reads). The rules snapshot is taken once here.
    pub fn builder(&self, now: Timestamp) -> impl Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem> + use<'_> {
        let rules = self.rules.load_full();
        let locale = self.settings.messages.locale;
        let delete_previous = self.settings.welcome.delete_previous;
        let now_ms = now.as_millisecond();
        move |batch, previous| {
            let template = &self.policies.group(batch.group).welcome.template;
            let message = welcome_message(locale, template, rules.rules_text(batch.group), batch);
            welcome_items(message, batch, previous, delete_previous, now_ms)
        }
    }
}

/// The task that greets batches when their window ends.
pub struct Greeter {
    store: Store,
    welcomer: Welcomer,
    clock: SharedClock,
    outbox: OutboxHandle,
    wake: Arc<Notify>,
    passes: Arc<Passes>,
}

impl std::fmt::Debug for Greeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greeter").finish_non_exhaustive()
    }
}

impl Greeter {
    /// A greeter; `wake` is notified by the pipeline when a batch is started, `outbox_wake` by
    /// the greeter when it staged a welcome.
    #[must_use]
    pub fn new(store: Store, welcomer: Welcomer, clock: SharedClock, outbox: OutboxHandle, wake: Arc<Notify>) -> Self {
        Self {
            store,
            welcomer,
            clock,
            outbox,
            wake,
            passes: Arc::default(),
        }
    }

    /// Counts its rounds into `passes` (the pipeline's, which tests read) instead of its own.
    #[must_use]
    pub fn with_passes(mut self, passes: Arc<Passes>) -> Self {
        self.passes = passes;
        self
    }

    /// Greets due batches (at start too: batches left by a stop) until `cancel` fires. Each
    /// round reads and writes the store synchronously, so it runs on the blocking pool.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        loop {
            // Registered before the store is read, so a batch started in between is seen.
            let woken = this.wake.notified();
            this.passes.start();
            let round = {
                let this = Arc::clone(&this);
                let store = this.store.clone();
                store.offload(async move { this.greet_due().await }).await
            };
            let next = match round.unwrap_or_else(|e| Err(StoreError::Join(e.to_string()))) {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "welcome: cannot greet waiting members; retrying in a minute");
                    Some(this.clock.now() + Duration::from_secs(60))
                }
            };
            this.passes.finish();
            let sleep = async {
                match next {
                    Some(at) => this.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = woken => {}
                () = sleep => {}
            }
        }
        tracing::debug!("welcome greeter stopped");
    }

    /// Greets every batch whose window has ended; returns when the next one ends.
    async fn greet_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let window_ms = self
            .welcomer
            .batch_window()
            .map_or(0, |w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX));
        let now = self.clock.now();
        let mut next: Option<i64> = None;
        let mut greeted = 0;
        for (group, first_ms) in self.store.pending_welcomes()? {
            let due_ms = first_ms.saturating_add(window_ms);
            if due_ms > now.as_millisecond() {
                next = Some(next.map_or(due_ms, |n| n.min(due_ms)));
                continue;
            }
            // A group whose welcome was turned off meanwhile, or a batch left by a long
            // downtime: dropped unsent.
            let greet = self.welcomer.enabled(group) && !self.welcomer.too_late(due_ms, now.as_millisecond());
            if !greet {
                tracing::info!(%group, "welcome: dropping a batch of new members (welcome off, or too late to greet)");
            }
            let build = self.welcomer.builder(now);
            let staged =
                self.store.flush_welcome(
                    group,
                    now,
                    |batch, previous| {
                        if greet { build(batch, previous) } else { Vec::new() }
                    },
                )?;
            if let Some(items) = staged.filter(|&n| n > 0) {
                tracing::info!(%group, items, "welcome: greeting a batch of new members");
                greeted += 1;
            }
        }
        if greeted > 0 {
            self.outbox.publish().await?;
        }
        Ok(next.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Part;
    use crate::store::PendingJoin;

    fn batch(members: &[(i64, &str)]) -> WelcomeBatch {
        let mut members = members.iter().map(|&(user_id, name)| PendingJoin {
            user_id,
            name: name.into(),
            joined_ms: 0,
        });
        let mut batch = WelcomeBatch::first(GroupId::qq(5), members.next().expect("one member"));
        for m in members {
            batch.add(m);
        }
        batch
    }

    #[test]
    fn the_welcome_mentions_the_member_and_carries_the_rules() {
        let message = welcome_message(Locale::ZhCn, "", "1. 不许打广告", &batch(&[(42, "")]));
        assert!(matches!(message.parts[0], Part::Mention { user_id: 42, .. }));
        assert!(message.plain_text().contains("1. 不许打广告"));
    }

    #[test]
    fn a_batch_mentions_everyone_and_fills_every_variable() {
        let b = batch(&[(1, "甲"), (2, ""), (3, "丙")]);
        let message = welcome_message(Locale::ZhCn, "{at} 欢迎{count}位：{name}，{group}。{rules}", "群规", &b);
        let mentioned: Vec<i64> = message
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Mention { user_id, .. } => Some(*user_id),
                Part::Text { .. } => None,
            })
            .collect();
        assert_eq!(mentioned, [1, 2, 3]);
        assert!(
            message.plain_text() == "@甲 @2 @丙 欢迎3位：甲、丙，qq:5。群规",
            "{}",
            message.plain_text()
        );
    }

    #[test]
    fn the_previous_welcome_is_recalled_first_only_when_asked() {
        let b = batch(&[(1, "")]);
        let previous = Some(Receipt::new(9_001, 0));
        let items = welcome_items(OutgoingMessage::text("hi"), &b, previous, true, 7);
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].action,
            Action::Recall {
                group: GroupId::qq(5),
                message_id: 9_001
            }
        );
        assert_eq!(items[1].receipt.as_deref(), Some("welcome.last/qq:5"));
        let items = welcome_items(OutgoingMessage::text("hi"), &b, previous, false, 7);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].receipt, None);
    }
}
