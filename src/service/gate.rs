//! The gate at the door (入群验证): newcomers of a group that opted in (`[verify]`, or its
//! `[groups.<id>.verify]`) are muted and asked a question; an answer in time lets them in and
//! greets them; silence until the deadline, or `max_tries` wrong answers, removes them and
//! recalls what they posted. The question itself is recalled whenever the gate ends.
//!
//! ```text
//!  join ──▶ Gate::open ── store: seen + gate + [mute, question]  (one unit) ──▶ outbox
//!                                                    │ wakes
//!  message of a pending member ──▶ Gate::answer      ▼
//!  (or, muted on QQ, a private message to the bot ──▶ Gate::private_answer)
//!  (or, on Telegram, a press of the question's button ──▶ Gate::pressed)
//!     right answer: store: seen + gate removed + [ack,] unmute + recall question
//!                   + welcome batch (one unit)
//!     wrong answer: tries + 1 and its id noted for the recall; then moderated like any
//!                   message. The answer that uses up `max_tries`: closed as at the deadline
//!  GateKeeper (supervised task, the daemon's clock) ── at each stored deadline:
//!     store: gate removed + [recall question, recall…, kick] (one unit), only if still
//!     pending and due
//! ```
//!
//! Every press of a button is acknowledged (Telegram `answerCallbackQuery`, so the member's
//! client stops waiting): the newcomer's own press with `[verify] button_passed`, someone
//! else's with `button_not_yours`, a press after the gate ended with `button_expired`.
//!
//! Each step is one store unit (see `store::gate`), so an answer and the deadline cannot both
//! win: whichever commits first removes the gate, and the other finds nothing to do. What the
//! gate decides (which question, whether a text answers it, how long the mute, when it is due)
//! is in `policy::gate`; what it sends leaves only through the outbox.
//!
//! With the gate on, the welcome is sent when a member passes, not when they join: they take
//! their place in the group's welcome batch in the unit that closes their gate, so a batch
//! greets only members who passed. Pending gates are bounded by `[limits] verify_pending` (the
//! `verify_pending` entries of `qunguan_memory_entries`); a newcomer beyond it is let in
//! ungated and counted.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::config::rules::RulesHandle;
use crate::domain::action::{Action, Button, Capabilities, OutgoingMessage};
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::event::{ButtonPress, Event, GroupId, GroupMessage, MemberJoined, Platform, PrivateMessage};
use crate::domain::metrics::{GateCounts, Metrics};
use crate::domain::rule::RuleId;
use crate::domain::sink::Outcome;
use crate::policy::gate::{GatePolicy, Question};
use crate::policy::group::Policies;
use crate::policy::i18n;
use crate::policy::normalize::{NormalizeOptions, Normalizer};
use crate::service::outbox::OutboxHandle;
use crate::service::passes::Passes;
use crate::service::welcome::Welcomer;
use crate::store::gate::question_receipt_name;
use crate::store::welcome::JoinWrite;
use crate::store::{
    AskMode as Ask, Closing, GateOpened, GatePassed, JoinRecorded, OutboxItem, PendingGate, PendingJoin, Store,
    StoreError, WrongAnswer,
};

/// How a newcomer of `platform` is asked to answer: with the button on Telegram when the
/// group asks for it or when they are muted (a restricted member cannot post, but can press a
/// button), by private message when muted on QQ, else typed in the group.
fn ask_mode(platform: Platform, muted: bool, button: bool) -> Ask {
    match platform {
        Platform::Telegram if button || muted => Ask::Button,
        Platform::Qq if muted => Ask::Private,
        _ => Ask::Typed,
    }
}

/// Who is asked what, by which bot.
struct Asked<'a> {
    user_id: i64,
    name: &'a str,
    question: &'a str,
    /// The bot's account (`{bot}`).
    bot: i64,
}

/// The gate of every group: opens gates on joins, checks answers, closes gates on leaves.
pub struct Gate {
    settings: Arc<Settings>,
    policies: Arc<Policies>,
    rules: RulesHandle,
    store: Store,
    clock: SharedClock,
    welcomer: Welcomer,
    /// Compacts answers like the filter compacts messages (built once).
    normalizer: Normalizer,
    /// Wakes the [`GateKeeper`] when a gate opens (its deadline may be the next one).
    keeper_wake: Arc<Notify>,
    /// Wakes the welcome greeter when a member who passed waits in a batch.
    greeter_wake: Arc<Notify>,
    /// The keeper's rounds (read by tests).
    keeper_passes: Arc<Passes>,
    /// Pending gates, against `[limits] verify_pending`.
    bound: Arc<Bound>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Gate {
    /// The gate over the configuration, the live rules and the store; `greeter_wake` is the
    /// welcome greeter's bell.
    #[must_use]
    pub fn new(
        settings: Arc<Settings>,
        policies: Arc<Policies>,
        rules: RulesHandle,
        store: Store,
        clock: SharedClock,
        greeter_wake: Arc<Notify>,
    ) -> Self {
        let welcomer = Welcomer::new(Arc::clone(&settings), Arc::clone(&policies), Arc::clone(&rules));
        let bound = Bound::new("verify_pending", settings.limits.verify_pending);
        Self {
            settings,
            policies,
            rules,
            store,
            clock,
            welcomer,
            normalizer: Normalizer::new(NormalizeOptions::default()),
            keeper_wake: Arc::new(Notify::new()),
            greeter_wake,
            keeper_passes: Arc::default(),
            bound,
            metrics: Arc::default(),
        }
    }

    /// Counts into `metrics` (the daemon's) instead of its own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The pending gates' bound (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// Notified when a gate opens (for the [`GateKeeper`]).
    #[must_use]
    pub fn keeper_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.keeper_wake)
    }

    /// The [`GateKeeper`]'s rounds (see [`Passes`]).
    #[must_use]
    pub fn keeper_passes(&self) -> Arc<Passes> {
        Arc::clone(&self.keeper_passes)
    }

    fn policy(&self, group: GroupId) -> &GatePolicy {
        &self.policies.group(group).gate
    }

    /// Stops a newcomer at the gate if their group is gated: stores the gate with the mute
    /// and the question, durably, before the webhook answers. `None`: the group is not gated
    /// (or too many gates are pending), so the join goes on to the welcome as usual.
    pub fn open(&self, event: &Event, joined: &MemberJoined) -> Result<Option<Outcome>, StoreError> {
        let group = joined.group;
        let policy = self.policy(group);
        if !policy.enabled {
            return Ok(None);
        }
        let user = joined.user_id;
        if self.policies.is_super_user(group.platform, user) || self.policies.group(group).is_exempt(user) {
            GateCounts::bump(&self.metrics.gate.skipped);
            tracing::info!(%group, user, "gate: a super user or exempt member joined; not gated");
            return Ok(None);
        }
        if self.policies.group(group).dry_run {
            GateCounts::bump(&self.metrics.gate.skipped);
            let muted = policy.mute && Capabilities::of(group).mute;
            tracing::info!(%group, user, muted, timeout_secs = policy.timeout.as_secs(), "gate (dry run): the newcomer would be asked to answer; nothing sent, let in");
            return Ok(None);
        }
        if self.bound.len() >= self.bound.capacity() {
            GateCounts::bump(&self.metrics.gate.full);
            self.bound.evict(1);
            tracing::warn!(%group, user = joined.user_id, limit = self.bound.capacity(), "gate: too many newcomers waiting ([limits] verify_pending); letting this one in ungated");
            return Ok(None);
        }
        let now = self.clock.now();
        let now_ms = now.as_millisecond();
        let name = joined.name.clone().unwrap_or_default();
        // Seeded by the event, so a redelivered join would ask the same question.
        let seed = event.key.seed();
        let question = Question::pick(&self.rules.load().verify, policy.mode, seed);
        let muted = policy.mute && Capabilities::of(group).mute;
        let mut items = Vec::with_capacity(2);
        if muted {
            let mute = Action::Mute {
                group,
                user_id: joined.user_id,
                seconds: policy.mute_secs(),
            };
            items.push(OutboxItem::new(mute, now_ms));
        }
        let ask = ask_mode(group.platform, muted, policy.button);
        let asked = Asked {
            user_id: joined.user_id,
            name: &name,
            question: &question.text,
            bot: event.self_id,
        };
        // Its receipt lets the step that ends the gate recall it.
        let send = Action::Send {
            group,
            message: self.prompt(policy, &asked, ask),
            reply_to: None,
        };
        items.push(OutboxItem::new(send, now_ms).with_receipt(question_receipt_name(group, joined.user_id)));
        let gate = PendingGate {
            group,
            user_id: joined.user_id,
            name,
            opened_ms: now_ms,
            deadline_ms: policy.deadline_ms(now_ms),
            answers: question.answers,
            messages: Vec::new(),
            muted,
            tries: 0,
            ask,
        };
        Ok(Some(match self.store.open_gate(&event.key, now, &gate, items)? {
            GateOpened::Duplicate => Outcome::Duplicate,
            GateOpened::Opened { actions, replaced } => {
                // A re-join while still gated replaces the gate: no more are pending.
                if !replaced {
                    self.bound.grow(1);
                }
                GateCounts::bump(&self.metrics.gate.opened);
                self.keeper_wake.notify_one();
                tracing::info!(%group, user = joined.user_id, deadline_ms = gate.deadline_ms, muted, "gate: newcomer asked to answer");
                Outcome::Acted { actions }
            }
        }))
    }

    /// The question posted to a newcomer: `[verify] prompt` (`private_prompt` when they must
    /// answer by private message) or the built-in text, which says how many wrong answers
    /// remove them when `max_tries` limits them (a button cannot be answered wrongly).
    fn prompt(&self, policy: &GatePolicy, asked: &Asked<'_>, ask: Ask) -> OutgoingMessage {
        let locale = self.settings.messages.locale;
        let verify = &self.settings.verify;
        let (template, built_in) = match ask {
            Ask::Private if verify.private_prompt.is_empty() => (i18n::default_gate_private_prompt(locale), true),
            Ask::Private => (verify.private_prompt.as_str(), false),
            _ if !verify.prompt.is_empty() => (verify.prompt.as_str(), false),
            Ask::Button => (i18n::default_gate_button_prompt(locale), true),
            Ask::Typed => (i18n::default_gate_prompt(locale), true),
        };
        let timeout = i18n::duration(locale, policy.timeout.as_secs());
        let bot = asked.bot.to_string();
        let tries = policy.max_tries.to_string();
        let user_id = asked.user_id;
        let mut message = i18n::render_mentions(
            template,
            &[(user_id, asked.name)],
            &[
                ("question", asked.question),
                ("timeout", &timeout),
                ("bot", &bot),
                ("tries", &tries),
            ],
        );
        if built_in && policy.max_tries > 0 && ask != Ask::Button {
            message.push_text(i18n::gate_tries_note(locale, policy.max_tries));
        }
        if ask == Ask::Button {
            message.buttons.push(Button {
                text: i18n::gate_button(locale).to_owned(),
                data: crate::policy::gate::button_data(user_id),
            });
        }
        message
    }

    /// A message in a gated group: if its sender is at the gate and it answers their question,
    /// they pass — unmuted and greeted (`Some`: the message is handled). Any other message of
    /// theirs is a wrong answer: noted for the recall and counted against `max_tries`, then
    /// moderated like any message (`None`) — unless it used up the tries, which removes them
    /// (`Some`).
    pub fn answer(&self, event: &Event, msg: &GroupMessage) -> Result<Option<Outcome>, StoreError> {
        let group = msg.group;
        let user = msg.sender.user_id;
        // An ungated group pays nothing; a gated one reads one key.
        if !self.policy(group).enabled {
            return Ok(None);
        }
        let Some(gate) = self.store.gate(group, user)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let compact = self.normalizer.compact(&msg.text);
        // After the deadline only the keeper decides (it may be catching up after a restart).
        if crate::policy::gate::due(gate.deadline_ms, now.as_millisecond()) {
            if !self.store.note_gate_message(group, user, msg.message_id)? {
                tracing::debug!(%group, user, "gate: a pending member's message is not kept for the recall (limit reached)");
            }
            return Ok(None);
        }
        if !Question::accepts(&gate.answers, &compact) {
            // The group message is recorded by moderation, so no key here...
            let removed = self.wrong(None, &gate, Some(msg.message_id), now)?;
            // ...unless it removed them: then moderation never sees it, and the event is
            // recorded here, so a redelivery is a duplicate rather than a message to moderate.
            if matches!(removed, Some(Outcome::Acted { .. })) {
                self.store.answer_press(&event.key, now, Vec::new())?;
            }
            return Ok(removed);
        }
        self.pass(event, &gate, now, None).map(Some)
    }

    /// A wrong answer to `gate` (with the message's id when it was posted in the group): counted,
    /// and the gate closed as at the deadline when it used up `max_tries`. `Some` when that
    /// removed the newcomer (or, with `key`, when the answer was a redelivery).
    fn wrong(
        &self,
        key: Option<&crate::domain::event::EventKey>,
        gate: &PendingGate,
        message_id: Option<i64>,
        now: Timestamp,
    ) -> Result<Option<Outcome>, StoreError> {
        let (group, user) = (gate.group, gate.user_id);
        let policy = self.policy(group);
        let now_ms = now.as_millisecond();
        let done = self.store.wrong_answer(
            key,
            now_ms,
            (group, user),
            message_id,
            |tries| policy.exhausted(tries),
            |g| self.closing(g, now_ms, Some(g.tries)),
        )?;
        Ok(match done {
            WrongAnswer::Duplicate => Some(Outcome::Duplicate),
            WrongAnswer::NotPending => None,
            WrongAnswer::Noted { tries } => {
                tracing::info!(%group, user, tries, max_tries = policy.max_tries, "gate: a wrong answer");
                None
            }
            WrongAnswer::Removed { actions } => {
                self.bound.shrink(1);
                GateCounts::bump(&self.metrics.gate.failed);
                let dry_run = self.policies.group(group).dry_run;
                tracing::info!(%group, user, max_tries = policy.max_tries, dry_run, "gate: too many wrong answers; removing the newcomer");
                Some(Outcome::Acted { actions })
            }
        })
    }

    /// A private message to the bot (QQ): a newcomer muted at the gate cannot post in the
    /// group, so they send their answer here. It is checked against each of the sender's
    /// pending gates on the same platform (a private message names no group); the first it
    /// answers, in a group still gated and before its deadline, passes exactly like an answer
    /// in the group — the event's seen-key is written in that gate's pass, so a redelivery
    /// passes nothing twice. A message that answers none of them is a wrong answer to each
    /// (counted against `max_tries`, which may remove the newcomer); from a sender with no
    /// gate it changes nothing: the bot never acts on private messages otherwise (no command,
    /// no filter).
    pub fn private_answer(&self, event: &Event, msg: &PrivateMessage) -> Result<Outcome, StoreError> {
        const IGNORED: Outcome = Outcome::Ignored("a private message that answers no pending gate");
        // No newcomer waits anywhere: not even the scan.
        if self.bound.is_empty() || msg.user_id == event.self_id {
            return Ok(IGNORED);
        }
        let now = self.clock.now();
        let compact = self.normalizer.compact(&msg.text);
        let open: Vec<PendingGate> = self
            .store
            .gates_of(msg.platform, msg.user_id)?
            .into_iter()
            .filter(|gate| {
                self.policy(gate.group).enabled && !crate::policy::gate::due(gate.deadline_ms, now.as_millisecond())
            })
            .collect();
        if let Some(gate) = open.iter().find(|gate| Question::accepts(&gate.answers, &compact)) {
            tracing::info!(group = %gate.group, user = msg.user_id, "gate: answered by private message");
            return self.pass(event, gate, now, None);
        }
        // Only a message that could be an answer is a wrong one: a question back ("题目是什么？"),
        // a long message or, for a numeric answer, one without a number changes nothing.
        let open: Vec<PendingGate> = open
            .into_iter()
            .filter(|gate| crate::policy::gate::could_answer(&gate.answers, &msg.text, &compact))
            .collect();
        if open.is_empty() {
            tracing::debug!(
                user = msg.user_id,
                "gate: a private message that cannot be an answer; not counted"
            );
            return Ok(IGNORED);
        }
        // The event is recorded with the first gate's count, so a redelivery counts nothing.
        let mut outcome = IGNORED;
        for (i, gate) in open.iter().enumerate() {
            let key = (i == 0).then_some(&event.key);
            match self.wrong(key, gate, None, now)? {
                Some(Outcome::Duplicate) => return Ok(Outcome::Duplicate),
                Some(Outcome::Acted { actions }) => {
                    outcome = match outcome {
                        Outcome::Acted { actions: before } => Outcome::Acted {
                            actions: before + actions,
                        },
                        _ => Outcome::Acted { actions },
                    };
                }
                _ => {}
            }
        }
        Ok(outcome)
    }

    /// A press of a button (Telegram): the newcomer's own press of their gate's button lets
    /// them in like a right answer; anyone else's press, a forged one, or one for a gate that
    /// is gone or due lets no one in. Every press is acknowledged (when the platform gave it
    /// an id): with `[verify] button_passed`, `button_not_yours` or `button_expired`, and a
    /// press of a button that is not a gate's without a notice.
    pub fn pressed(&self, event: &Event, press: &ButtonPress) -> Result<Outcome, StoreError> {
        let (group, user) = (press.group, press.user_id);
        let now = self.clock.now();
        let locale = self.settings.messages.locale;
        let verify = &self.settings.verify;
        let text = |configured: &str, built_in: &'static str| {
            if configured.is_empty() {
                built_in.to_owned()
            } else {
                configured.to_owned()
            }
        };
        let (notice, why) = match crate::policy::gate::button_owner(&press.data) {
            None => (String::new(), "a press of a button that is not a gate's"),
            Some(owner) if owner != user => (
                text(&verify.button_not_yours, i18n::default_gate_button_not_yours(locale)),
                "a gate button pressed by someone else",
            ),
            Some(_) => {
                let gate = if self.policy(group).enabled {
                    self.store.gate(group, user)?
                } else {
                    None
                };
                match gate {
                    Some(gate) if gate.ask != Ask::Button => {
                        (String::new(), "a gate button pressed for a gate that offered none")
                    }
                    Some(gate) if !crate::policy::gate::due(gate.deadline_ms, now.as_millisecond()) => {
                        let passed = text(&verify.button_passed, i18n::default_gate_button_passed(locale));
                        let ack = self.ack(event, press, passed, now);
                        return self.pass(event, &gate, now, ack);
                    }
                    Some(_) => (
                        text(&verify.button_expired, i18n::default_gate_button_expired(locale)),
                        "a gate button pressed after the deadline",
                    ),
                    None => (
                        text(&verify.button_expired, i18n::default_gate_button_expired(locale)),
                        "a gate button pressed after the gate closed",
                    ),
                }
            }
        };
        let Some(ack) = self.ack(event, press, notice, now) else {
            return Ok(Outcome::Ignored(why));
        };
        tracing::debug!(%group, user, why, "gate: a press that lets no one in, acknowledged");
        Ok(if self.store.answer_press(&event.key, now, vec![ack])? {
            Outcome::Acted { actions: 1 }
        } else {
            Outcome::Duplicate
        })
    }

    /// The acknowledgement of `press` (delivered by `event`) with the notice `text` (none when
    /// the platform gave the press no id), through the bot that received the press.
    fn ack(&self, event: &Event, press: &ButtonPress, text: String, now: Timestamp) -> Option<OutboxItem> {
        (!press.query_id.is_empty()).then(|| {
            let action = Action::AnswerButton {
                group: press.group,
                query_id: press.query_id.clone(),
                text,
                bot: event.self_id,
            };
            OutboxItem::new(action, now.as_millisecond())
        })
    }

    /// `gate`'s newcomer passed with the event `event` (their answer or their press, whose
    /// acknowledgement `ack` is sent first): the gate is removed, they are unmuted, the
    /// question is recalled and they take their place in the welcome batch, in one store unit.
    fn pass(
        &self,
        event: &Event,
        gate: &PendingGate,
        now: Timestamp,
        ack: Option<OutboxItem>,
    ) -> Result<Outcome, StoreError> {
        let (group, user) = (gate.group, gate.user_id);
        let now_ms = now.as_millisecond();
        let unmute: Vec<OutboxItem> = ack
            .into_iter()
            .chain(
                gate.muted
                    .then(|| OutboxItem::new(Action::Unmute { group, user_id: user }, now_ms)),
            )
            .collect();
        let join = JoinWrite {
            group,
            member: PendingJoin {
                user_id: user,
                name: gate.name.clone(),
                joined_ms: now_ms,
            },
            rejoin_window: self.welcomer.rejoin_window(),
            batch_window: self.welcomer.batch_window(),
            stale_after: self.welcomer.stale_after(),
        };
        let build = self.welcomer.builder(now);
        let welcome = self.welcomer.enabled(group).then_some((&join, build));
        let passed = self.store.pass_gate(&event.key, now, (group, user), unmute, welcome)?;
        Ok(match passed {
            GatePassed::Duplicate => Outcome::Duplicate,
            GatePassed::NotPending => Outcome::Ignored("the gate closed before the answer"),
            GatePassed::Passed { join, actions } => {
                self.bound.shrink(1);
                GateCounts::bump(&self.metrics.gate.passed);
                if matches!(join, Some(JoinRecorded::Queued { started: true, .. })) {
                    self.greeter_wake.notify_one();
                }
                tracing::info!(%group, user, "gate: newcomer answered in time; unmuted");
                Outcome::Acted { actions }
            }
        })
    }

    /// A member left `group` (or was removed): their gate, if any, is forgotten and its
    /// question recalled. Returns whether that staged anything (the caller publishes). A
    /// failure is logged; the keeper would then find the gate due and kick someone already
    /// gone, which the gateway answers harmlessly.
    pub fn left(&self, group: GroupId, user_id: i64) -> bool {
        match self.store.drop_gate(group, user_id, self.clock.now().as_millisecond()) {
            Ok(Some(staged)) => {
                self.bound.shrink(1);
                GateCounts::bump(&self.metrics.gate.released);
                tracing::info!(%group, user = user_id, "gate: a newcomer left before answering");
                staged > 0
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(%group, user = user_id, error = %e, "gate: cannot forget the gate of a member who left");
                false
            }
        }
    }

    /// What closing `gate` at its deadline (`tries = None`) or after too many wrong answers
    /// (`Some(tries)`) sends besides the question's recall, and records. With the group still
    /// gated: the recall of what they posted, then the kick, with an audit case (rule
    /// `verify`, the kick); in a group now in dry run the case is marked so and only the
    /// unmute is sent. With the group's gate turned off meanwhile: only the unmute (they are
    /// let in), no case.
    fn closing(&self, gate: &PendingGate, now_ms: i64, tries: Option<u32>) -> Closing {
        let group = gate.group;
        let item = |action| OutboxItem::new(action, now_ms);
        let unmute = || {
            gate.muted
                .then(|| {
                    item(Action::Unmute {
                        group,
                        user_id: gate.user_id,
                    })
                })
                .into_iter()
                .collect::<Vec<_>>()
        };
        if !self.policy(group).enabled {
            return Closing {
                items: unmute(),
                audit: None,
            };
        }
        let mut entry = AuditEntry::new(
            group,
            now_ms,
            gate.user_id,
            Actor::Auto,
            RuleId::Verify.as_str(),
            Measure::Kick,
        );
        entry.user_name.clone_from(&gate.name);
        entry.reason = i18n::gate_removal_reason(self.settings.messages.locale, tries);
        entry.message_id = gate.messages.last().copied();
        if self.policies.group(group).dry_run {
            entry.dry_run = true;
            return Closing {
                items: unmute(),
                audit: Some(entry),
            };
        }
        entry.recalled.clone_from(&gate.messages);
        let mut items: Vec<OutboxItem> = gate
            .messages
            .iter()
            .map(|&message_id| item(Action::Recall { group, message_id }))
            .collect();
        items.push(item(Action::Kick {
            group,
            user_id: gate.user_id,
            ban: false,
        }));
        Closing {
            items,
            audit: Some(entry),
        }
    }

    /// Closes every gate whose deadline has passed; returns the next deadline. Sets the
    /// pending gauge to what the store holds (exact after a restart).
    async fn close_due(&self, outbox: &OutboxHandle) -> Result<Option<Timestamp>, StoreError> {
        let now_ms = self.clock.now().as_millisecond();
        let pending = self.store.pending_gates()?;
        let mut left = pending.len();
        let mut next: Option<i64> = None;
        let mut closed = 0;
        for gate in pending {
            if !crate::policy::gate::due(gate.deadline_ms, now_ms) {
                next = Some(next.map_or(gate.deadline_ms, |n| n.min(gate.deadline_ms)));
                continue;
            }
            let gated = self.policy(gate.group).enabled;
            let staged = self
                .store
                .close_gate(gate.group, gate.user_id, now_ms, |g| self.closing(g, now_ms, None))?;
            if staged.is_some() {
                left -= 1;
                closed += 1;
                if gated {
                    GateCounts::bump(&self.metrics.gate.timed_out);
                    let dry_run = self.policies.group(gate.group).dry_run;
                    tracing::info!(group = %gate.group, user = gate.user_id, recalls = gate.messages.len(), dry_run, "gate: no answer in time; removing the newcomer");
                } else {
                    GateCounts::bump(&self.metrics.gate.released);
                    tracing::info!(group = %gate.group, user = gate.user_id, "gate: the group's gate was turned off; letting the newcomer in");
                }
            }
        }
        self.bound.set_len(left);
        if closed > 0 {
            outbox.publish().await?;
        }
        Ok(next.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }
}

/// The task that closes gates at their deadlines, on the daemon's clock. It reads the stored
/// deadlines at start, so gates opened before a restart are closed at the same time they
/// would have been.
pub struct GateKeeper {
    gate: Arc<Gate>,
    outbox: OutboxHandle,
}

impl std::fmt::Debug for GateKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateKeeper").finish_non_exhaustive()
    }
}

impl GateKeeper {
    /// A keeper of `gate`'s deadlines, publishing through `outbox`.
    #[must_use]
    pub fn new(gate: Arc<Gate>, outbox: OutboxHandle) -> Self {
        Self { gate, outbox }
    }

    /// Closes due gates until `cancel` fires. Each round reads and writes the store
    /// synchronously, so it runs on the blocking pool.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        loop {
            // Registered before the store is read, so a gate opened in between is seen.
            let woken = this.gate.keeper_wake.notified();
            this.gate.keeper_passes.start();
            let round = {
                let this = Arc::clone(&this);
                let store = this.gate.store.clone();
                store
                    .offload(async move { this.gate.close_due(&this.outbox).await })
                    .await
            };
            let next = match round.unwrap_or_else(|e| Err(StoreError::Join(e.to_string()))) {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "gate: cannot close due gates; retrying in a minute");
                    Some(this.gate.clock.now() + Duration::from_secs(60))
                }
            };
            this.gate.keeper_passes.finish();
            let sleep = async {
                match next {
                    Some(at) => this.gate.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = woken => {}
                () = sleep => {}
            }
        }
        tracing::debug!("gate keeper stopped");
    }
}
