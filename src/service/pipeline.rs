//! The pipeline: what to do about one event.
//!
//! A group message is first read as an admin command ([`crate::service::commands`]). Otherwise it
//! is kept among the group's recent messages (so an admin's `/spam` can reply to it) and,
//! unless its sender is exempt (owner, admin, super user, the group's `exempt` list, the bot
//! itself), checked: first against the spam admins marked ([`crate::service::learning`]:
//! a near-duplicate is a violation for anyone, rule `learned`), then by the filter (pure CPU,
//! against a snapshot of the live rules) and, if clean, counted by the anti-flood tracker
//! ([`crate::policy::flood`]). The member's trust ([`crate::policy::trust`]) is read first and
//! their clean messages are counted after, until they are trusted. A violation walks the strike ladder
//! inside the store transaction that also records the event as seen, writes the audit case
//! and appends the resulting actions to the outbox; then the pipeline waits for that write to
//! be durable. Only then does the webhook acknowledge the event. No network call happens
//! here: the outbox worker delivers.
//!
//! A join is recorded with the member's place in the group's welcome batch (greeted later by
//! [`crate::service::welcome::Greeter`]) — in a group with the gate at the door
//! ([`crate::service::gate`]) only once the newcomer answered; a join request is answered when the group's policy decides
//! it (blocked words → reject, a configured answer → approve) and otherwise left to the admins.
//!
//! What a violation does depends on its rule's action (`Violation.action`):
//!
//! | action   | strikes          | sends                                                   |
//! |----------|------------------|---------------------------------------------------------|
//! | `ladder` | + severity       | recall, then the rung: warning text, mute, kick or ban  |
//! | `recall` | unchanged        | recall only                                             |
//! | `warn`   | unchanged        | recall, then a notice (no count)                        |
//! | `kick`   | cleared          | recall, then kick                                       |
//!
//! The recall happens when the rule says so (`Violation.recall`; flood always recalls) and the
//! platform can. A rung the platform cannot carry out falls back to the nearest one it can: no
//! mute → a warning; no ban → a kick; no kick → a warning. In dry run (`[moderation] dry_run`,
//! the group's `dry_run`, or the rule's) the decision is logged and audited with the strikes
//! it *would* reach, but no strike is kept and nothing is sent, so an observation period
//! punishes nobody later.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::config::rules::RulesHandle;
use crate::config::{NoticesSettings, Settings, Struck};
use crate::domain::action::{Action, Capabilities};
use crate::domain::audit::{Actor, AuditEntry, Judged, Measure};
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::effects::{Snapshot, StrikeWrite, Subject, Writes};
use crate::domain::event::{Event, EventKind, GroupId, GroupMessage, JoinRequest, MemberJoined};
use crate::domain::learning::ReviewItem;
use crate::domain::locale::Locale;
use crate::domain::logfield::json_list;
use crate::domain::metrics::Metrics;
use crate::domain::rule::RuleId;
use crate::domain::sink::{EventSink, Outcome, Pending, Unavailable};
use crate::domain::strike::Severity;
use crate::domain::text::TextLimits;
use crate::policy::filter::{RuleAction, Trust, Violation};
use crate::policy::flood::{Flood, FloodTracker};
use crate::policy::group::{GroupPolicy, Policies};
use crate::policy::i18n;
use crate::policy::normalize::{NormalizeOptions, Normalizer};
use crate::policy::verdict::{self, Offence, Telling};
use crate::service::commands::{self, Cooldowns, Parsed};
use crate::service::engagement::Engagement;
use crate::service::gate::Gate;
use crate::service::inactivity::Inactivity;
use crate::service::learning::Learning;
use crate::service::outbox::OutboxHandle;
use crate::service::passes::Passes;
use crate::service::stats::GroupStats;
use crate::service::welcome::Welcomer;
use crate::store::{JoinRecorded, PendingJoin, welcome::JoinWrite};
use crate::store::{Store, StoreError};

/// What the pipeline did with an event.
/// Why an event could not be handled. The webhook answers 503 so the gateway redelivers.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What handling a join returns when the member waits for the group's batched welcome.
pub const WAITING_FOR_WELCOME: &str = "waiting in the welcome batch";

/// The event handler shared by every webhook.
pub struct Pipeline {
    settings: Arc<Settings>,
    policies: Arc<Policies>,
    rules: RulesHandle,
    store: Store,
    clock: SharedClock,
    outbox: OutboxHandle,
    flood: FloodTracker,
    cooldowns: Cooldowns,
    welcomer: Welcomer,
    /// Wakes the welcome [`crate::service::welcome::Greeter`] when a batch starts.
    greeter_wake: Arc<Notify>,
    /// Wakes the [`crate::service::scheduler::Scheduler`] when admins add or delete a post.
    scheduler_wake: Arc<Notify>,
    /// The greeter's and the scheduler's rounds, kept beside their bells (read by tests only).
    greeter_passes: Arc<Passes>,
    scheduler_passes: Arc<Passes>,
    /// Normalizes join-request texts for answer matching (built once).
    normalizer: Normalizer,
    inactivity: Arc<Inactivity>,
    /// Check-in, points, boards, keyword answers, tiers.
    engagement: Arc<Engagement>,
    metrics: Arc<Metrics>,
    stats: Arc<GroupStats>,
    /// How much of names, matched spans and excerpts is kept (`[limits]`).
    text: TextLimits,
    /// Learned spam, recent messages and the review list.
    learning: Arc<Learning>,
    /// When a member is trusted.
    trust: crate::policy::trust::TrustPolicy,
    /// The gate at the door (入群验证).
    gate: Arc<Gate>,
    /// The instance-wide ban list.
    bans: Arc<crate::service::bans::Bans>,
}

impl EventSink for Pipeline {
    fn handle<'a>(&'a self, event: &'a Event) -> Pending<'a, Outcome> {
        Box::pin(async move {
            Pipeline::handle(self, event)
                .await
                .map_err(|e| Unavailable(Box::new(e)))
        })
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// What a message violated, whichever stage found it (the input of the [`verdict`]).
#[derive(Debug)]
struct Offending {
    rule: Arc<str>,
    /// The rule's name as members see it (`Filter::display_name`), never the internal id.
    display: String,
    severity: Severity,
    action: RuleAction,
    /// Messages to recall (if the platform can).
    recall: Vec<i64>,
    /// The matched spans, quoted from the original text.
    matched: Vec<String>,
    dry_run: bool,
    /// The learned spam sample it resembles (rule `learned`).
    sample: Option<u64>,
    /// The member's trust and the model's score, when the filter judged it.
    judged: Option<Judged>,
}

impl Offending {
    fn from_violation(v: &Violation, msg: &GroupMessage, text: &TextLimits) -> Self {
        // Hits of several rules may cover the same span (a cue inside a hard phrase): quote each
        // span once, in text order, at most `matched_spans` of them, each cut to `matched_chars`.
        let mut spans: Vec<(usize, usize)> = v.hits.iter().map(|h| (h.start, h.end)).collect();
        spans.sort_unstable();
        spans.dedup();
        Self {
            rule: Arc::clone(&v.rule),
            display: String::new(),
            severity: v.severity,
            action: v.action,
            recall: if v.recall { vec![msg.message_id] } else { Vec::new() },
            matched: text.spans(spans.into_iter().filter_map(|(start, end)| msg.text.get(start..end))),
            dry_run: v.dry_run,
            sample: None,
            judged: None,
        }
    }

    /// A near-duplicate of spam an admin marked: one strike, and the message recalled.
    fn learned(found: crate::policy::neardup::Match, msg: &GroupMessage) -> Self {
        Self {
            rule: Arc::from(RuleId::Learned.as_str()),
            display: String::new(),
            severity: Severity::default(),
            action: RuleAction::Ladder,
            recall: vec![msg.message_id],
            matched: Vec::new(),
            dry_run: false,
            sample: Some(found.id),
            judged: None,
        }
    }

    fn from_flood(flood: Flood) -> Self {
        Self {
            rule: Arc::from(RuleId::Flood.as_str()),
            display: String::new(),
            severity: Severity::default(),
            action: RuleAction::Ladder,
            recall: flood.message_ids,
            matched: Vec::new(),
            dry_run: false,
            sample: None,
            judged: None,
        }
    }
}

impl Pipeline {
    /// A pipeline over the given parts; what it decides is published through `outbox`.
    #[must_use]
    pub fn new(
        settings: Arc<Settings>,
        rules: RulesHandle,
        store: Store,
        clock: SharedClock,
        outbox: OutboxHandle,
    ) -> Self {
        let policies = Arc::new(settings.policies());
        let limits = settings.limits;
        let inactivity = Arc::new(Inactivity::new(
            Arc::clone(&settings),
            Policies::clone(&policies),
            store.clone(),
            Arc::clone(&clock),
            outbox.clone(),
        ));
        let metrics: Arc<Metrics> = Arc::default();
        let engagement = Arc::new(Engagement::new(
            Arc::clone(&settings),
            Policies::clone(&policies),
            store.clone(),
            Arc::clone(&clock),
            outbox.clone(),
            Arc::clone(&metrics),
        ));
        let greeter_wake = Arc::new(Notify::new());
        let gate = Arc::new(Gate::new(
            Arc::clone(&settings),
            Arc::clone(&policies),
            Arc::clone(&rules),
            store.clone(),
            Arc::clone(&clock),
            Arc::clone(&greeter_wake),
        ));
        Self {
            engagement,
            gate,
            welcomer: Welcomer::new(Arc::clone(&settings), Arc::clone(&policies), Arc::clone(&rules)),
            policies,
            inactivity,
            flood: FloodTracker::with_capacity(clock.now(), limits.flood_members),
            cooldowns: Cooldowns::with_capacity(limits.cooldown_groups),
            greeter_wake,
            scheduler_wake: Arc::new(Notify::new()),
            greeter_passes: Arc::default(),
            scheduler_passes: Arc::default(),
            normalizer: Normalizer::new(NormalizeOptions::default()),
            metrics,
            stats: Arc::new(GroupStats::new(&settings.stats).with_capacity(limits.stats_members)),
            text: limits.text(),
            learning: Arc::new(Learning::new(&settings.learning, store.clone(), Arc::default())),
            trust: settings.trust.policy(),
            bans: Arc::new(crate::service::bans::Bans::empty(Arc::clone(&settings), store.clone())),
            settings,
            rules,
            store,
            clock,
            outbox,
        }
    }

    /// Counts into `metrics` and `stats` (the daemon's), instead of the pipeline's own.
    #[must_use]
    pub fn with_observers(mut self, metrics: Arc<Metrics>, stats: Arc<GroupStats>) -> Self {
        self.engagement = Arc::new(Engagement::new(
            Arc::clone(&self.settings),
            Policies::clone(&self.policies),
            self.store.clone(),
            Arc::clone(&self.clock),
            self.outbox.clone(),
            Arc::clone(&metrics),
        ));
        self.gate = Arc::new(
            Gate::new(
                Arc::clone(&self.settings),
                Arc::clone(&self.policies),
                Arc::clone(&self.rules),
                self.store.clone(),
                Arc::clone(&self.clock),
                Arc::clone(&self.greeter_wake),
            )
            .with_metrics(Arc::clone(&metrics)),
        );
        self.metrics = metrics;
        self.stats = stats;
        for bound in self.bounds() {
            self.metrics.track(bound);
        }
        self
    }

    /// The bounded in-memory structures of the pipeline and what it runs (for `/metrics`).
    #[must_use]
    pub fn bounds(&self) -> Vec<Arc<Bound>> {
        let mut bounds = vec![
            self.flood.bound(),
            self.cooldowns.bound(),
            self.stats.bound(),
            self.gate.bound(),
        ];
        bounds.extend(self.inactivity.bounds());
        bounds.extend(self.engagement.bounds());
        bounds
    }

    /// Uses `learning` (loaded from the store by the app) for learned spam, recent messages
    /// and the review list.
    #[must_use]
    pub fn with_learning(mut self, learning: Arc<Learning>) -> Self {
        self.learning = learning;
        self
    }

    /// Uses `bans` (loaded from the store by the app) for the instance-wide ban list.
    #[must_use]
    pub fn with_bans(mut self, bans: Arc<crate::service::bans::Bans>) -> Self {
        self.bans = bans;
        self
    }

    /// The instance-wide ban list.
    #[must_use]
    pub fn bans(&self) -> &Arc<crate::service::bans::Bans> {
        &self.bans
    }

    /// What admins' labels taught, the recent messages and the review list.
    #[must_use]
    pub fn learning(&self) -> &Arc<Learning> {
        &self.learning
    }

    /// The metrics this pipeline counts into.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The live rules.
    #[must_use]
    pub fn rules(&self) -> &RulesHandle {
        &self.rules
    }

    /// What answers `/stats` and renders the stats page.
    #[must_use]
    pub fn reporter(&self) -> crate::service::stats::Reporter {
        crate::service::stats::Reporter {
            stats: Arc::clone(&self.stats),
            store: self.store.clone(),
            outbox: self.outbox.clone(),
            locale: self.settings.messages.locale,
            tiers: self
                .engagement
                .enabled()
                .then(|| (Arc::clone(&self.engagement), Arc::clone(&self.inactivity))),
        }
    }

    /// The group statistics this pipeline counts into.
    #[must_use]
    pub fn stats(&self) -> &Arc<GroupStats> {
        &self.stats
    }

    /// Handles one event; returns once its effects are durable.
    pub async fn handle(&self, event: &Event) -> Result<Outcome, PipelineError> {
        // Names are cut here, once, so every copy made from here on (stored, posted, logged)
        // is bounded; the event is copied only when a name is too long.
        let capped = cap_names(event, &self.text);
        let event = capped.as_ref().unwrap_or(event);
        self.metrics.event(&event.kind);
        let outcome = match &event.kind {
            EventKind::GroupMessage(msg) => self.on_message(event, msg).await?,
            EventKind::MemberJoined(joined) => {
                if joined.user_id != event.self_id {
                    self.stats.joined(joined.group, self.clock.now());
                }
                self.on_join(event, joined).await?
            }
            EventKind::MemberLeft(left) => {
                track(self.inactivity.left(left.group, left.user_id));
                self.welcomer.left(&self.store, left.group, left.user_id);
                let recalled = self.gate.left(left.group, left.user_id);
                track(self.store.forget_trust(left.group, left.user_id));
                if left.user_id != event.self_id {
                    self.stats.left(left.group, self.clock.now());
                }
                if recalled {
                    // A leaver's gate question is recalled.
                    self.outbox.publish().await?;
                }
                Outcome::Ignored("member left")
            }
            EventKind::JoinRequest(request) => self.on_join_request(event, request)?,
            EventKind::ButtonPressed(press) => self.gate.pressed(event, press)?,
            EventKind::PrivateMessage(msg) => self.gate.private_answer(event, msg)?,
            EventKind::Other(_) => Outcome::Ignored("not a group event qunguan acts on"),
        };
        if outcome == Outcome::Duplicate {
            self.metrics.duplicate();
        }
        if matches!(outcome, Outcome::Acted { .. } | Outcome::Observed) {
            self.outbox.publish().await?;
        }
        Ok(outcome)
    }

    async fn on_message(&self, event: &Event, msg: &GroupMessage) -> Result<Outcome, PipelineError> {
        let user = msg.sender.user_id;
        if user == event.self_id {
            return Ok(Outcome::Ignored("the bot's own message"));
        }
        let group = msg.group;
        // A banned member is removed before anything else: their answer opens no gate.
        let member = (group, user, self.policies.group(group).dry_run);
        let moderator = msg.sender.role.is_moderator();
        if let Some(removed) = self
            .bans
            .on_message(event, member, msg.message_id, moderator, self.clock.now())?
        {
            return Ok(removed);
        }
        if let Some(outcome) = self.gate.answer(event, msg)? {
            return Ok(outcome);
        }
        self.inactivity.spoke(group, &msg.sender, self.clock.now());
        self.stats.message(group, user, event.self_id, self.clock.now());
        let is_admin = msg.sender.role.is_moderator() || self.policies.is_super_user(group.platform, user);
        // An edited message is filtered again, but never run again as a command.
        let parsed = if msg.edited {
            Parsed::NotACommand
        } else {
            commands::parse(msg, event.self_id)
        };
        // With engagement off, its commands are ordinary messages.
        let parsed = match parsed {
            Parsed::Command(_) | Parsed::Usage(_) | Parsed::Invalid(..)
                if !self.engagement.enabled() && parsed_name(&parsed).is_some_and(commands::Name::is_engagement) =>
            {
                Parsed::NotACommand
            }
            parsed => parsed,
        };
        match parsed {
            Parsed::Command(command) if is_admin || command.is_public() => {
                let ctx = self.command_context(group);
                return commands::execute(&ctx, event, msg, command, is_admin).await;
            }
            Parsed::Usage(name) if is_admin => {
                return commands::misuse(&self.command_context(group), event, msg, name, None);
            }
            Parsed::Invalid(name, problem) if is_admin => {
                return commands::misuse(&self.command_context(group), event, msg, name, Some(&problem));
            }
            Parsed::Command(commands::Command::GlobalBan { .. } | commands::Command::GlobalUnban { .. }) => {
                tracing::info!(%group, user, "/gban or /ungban from a member: refused (super users only), handled as an ordinary message");
            }
            // Members' admin commands are ordinary messages: no answer, still filtered.
            _ => {}
        }
        let now = self.clock.now();
        self.learning.remember(msg, now.as_millisecond());
        let policy = self.policies.group(group);
        let rules = self.rules.load();
        if is_admin || policy.is_exempt(user) {
            if let Some(v) = rules.filter.check(&msg.text, group) {
                tracing::info!(%group, user, rule = %v.rule, "filter hit by an exempt member (owner, admin or listed)");
                return Ok(Outcome::Ignored("exempt member"));
            }
            return self.let_through(event, msg, &rules, "exempt member");
        }
        let record = match self.store.trust(group, user) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(error = %e, %group, user, "cannot read the member's trust; treated as new");
                None
            }
        };
        let trust = self.trust.level(record.as_ref(), now.as_millisecond());
        let judged = &self.metrics.learning;
        crate::domain::metrics::LearningGauges::bump(match trust {
            Trust::Trusted => &judged.judged_trusted,
            Trust::New => &judged.judged_new,
        });
        self.learning.follow_rules(&rules);
        let (offence, reviewed) = self.offence(msg, &rules.filter, trust, &policy.flood, now);
        let Some(mut offence) = offence else {
            self.note_trust(group, user, record.as_ref(), true, now);
            // A message the model took for spam (on the review list) earns no points either.
            if reviewed {
                return Ok(Outcome::Ignored("clean (put on the review list)"));
            }
            return self.let_through(event, msg, &rules, "clean");
        };
        offence.display = rules.filter.display_name(&offence.rule, self.settings.messages.locale);
        self.note_trust(group, user, record.as_ref(), false, now);
        self.punish(event, msg, policy, &offence, now)
    }

    /// What `msg` of a member of trust `trust` violates, if anything: a near-duplicate of
    /// spam admins marked (for anyone), else what the filter judges with the instance's
    /// learned delta — a message of a trusted member that only the model or a soft hit would
    /// have acted on goes to the review list — else flooding. The flag says whether the
    /// message went to the review list.
    fn offence(
        &self,
        msg: &GroupMessage,
        filter: &crate::policy::filter::Filter,
        trust: Trust,
        flood: &crate::policy::flood::FloodSettings,
        now: Timestamp,
    ) -> (Option<Offending>, bool) {
        let trusted = trust == Trust::Trusted;
        if let Some(found) = self.learning.near_duplicate(filter, &msg.text) {
            let mut offence = Offending::learned(found, msg);
            offence.judged = Some(Judged { trusted, score: None });
            return (Some(offence), false);
        }
        let judgement = self
            .learning
            .with_delta(|delta| filter.judge(&msg.text, msg.group, trust, Some(delta)));
        if judgement.review {
            self.learning.review(ReviewItem {
                group: msg.group,
                message_id: msg.message_id,
                user_id: msg.sender.user_id,
                user_name: msg.sender.name.clone(),
                excerpt: self.text.excerpt(&msg.text),
                score: judgement.score,
                at_ms: now.as_millisecond(),
            });
            tracing::info!(group = %msg.group, user = msg.sender.user_id, score = judgement.score, "a trusted member's message put on the review list");
        }
        if let Some(v) = &judgement.violation {
            let mut offence = Offending::from_violation(v, msg, &self.text);
            offence.judged = Some(Judged {
                trusted,
                score: judgement.score,
            });
            return (Some(offence), judgement.review);
        }
        // The platform's send time, not the webhook's (see the flood module's docs).
        let sent = Timestamp::from_second(msg.time).unwrap_or(now);
        let flooding = self
            .flood
            .observe(
                msg.group,
                msg.sender.user_id,
                msg.message_id,
                &msg.text,
                sent,
                now,
                flood,
            )
            .map(Offending::from_flood);
        (flooding, judgement.review)
    }

    /// Counts a clean message towards the member's trust, and records a member seen for the
    /// first time. Writes nothing once the member's count is complete. A failure is logged:
    /// at worst the member stays new a message longer.
    fn note_trust(
        &self,
        group: GroupId,
        user: i64,
        trust: Option<&crate::domain::learning::MemberTrust>,
        clean: bool,
        now: Timestamp,
    ) {
        let counts = clean && self.trust.counts(trust);
        if trust.is_some() && !counts {
            return;
        }
        if let Err(e) = self
            .store
            .trust_message(group, user, now.as_millisecond(), clean, self.trust.clean_messages)
        {
            tracing::warn!(error = %e, %group, user, "cannot record the member's trust");
        }
    }

    /// A message the filter and the flood check let through (not an edit): it earns its
    /// points, and a keyword in it is answered (recorded with the event, so a redelivery is not answered
    /// twice).
    fn let_through(
        &self,
        event: &Event,
        msg: &GroupMessage,
        rules: &crate::config::rules::Rules,
        why: &'static str,
    ) -> Result<Outcome, PipelineError> {
        // An edit is the same message again: it earned (or did not earn) the first time.
        if msg.edited {
            return Ok(Outcome::Ignored(why));
        }
        let now = self.clock.now();
        self.engagement.spoke(msg.group, &msg.sender, now);
        let Some(answer) = self.engagement.faq.answer_for(rules, msg.group, &msg.text, now) else {
            return Ok(Outcome::Ignored(why));
        };
        let action = Action::Send {
            group: msg.group,
            message: crate::domain::action::OutgoingMessage::text(answer),
            reply_to: Some(msg.message_id),
        };
        let committed = self.store.commit(&event.key, now, None, |_| {
            let writes = Writes {
                strikes: StrikeWrite::Keep,
                actions: vec![action.clone()],
                audit: None,
            };
            (writes, ())
        })?;
        Ok(match committed {
            Some(_) => {
                tracing::info!(group = %msg.group, user = msg.sender.user_id, "keyword answered");
                Outcome::Acted { actions: 1 }
            }
            None => Outcome::Duplicate,
        })
    }

    /// Records a violation: strikes, audit case, actions and the strike's point deduction in
    /// the event's transaction.
    fn punish(
        &self,
        event: &Event,
        msg: &GroupMessage,
        policy: &GroupPolicy,
        verdict: &Offending,
        now: Timestamp,
    ) -> Result<Outcome, PipelineError> {
        let caps = Capabilities::of(msg.group);
        let locale = self.settings.messages.locale;
        let dry_run = policy.dry_run || verdict.dry_run;
        let subject = Subject {
            group: msg.group,
            user: Some(msg.sender.user_id),
        };
        let penalty = self.engagement.strike_penalty(now);
        let committed = self
            .store
            .commit_violation(&event.key, now, subject, penalty, |snapshot| {
                let told = (&self.settings.moderation.notices, locale, &self.text);
                let plan = plan_violation(&snapshot, msg, verdict, policy, caps, told, now);
                let mut writes = plan.writes;
                if dry_run {
                    writes.strikes = StrikeWrite::Keep;
                    writes.actions.clear();
                    if let Some(entry) = writes.audit.as_mut() {
                        entry.dry_run = true;
                    }
                }
                let actions = writes.actions.len();
                (writes, (actions, plan.measure, plan.after, plan.recalled))
            })?;
        let Some(committed) = committed else {
            return Ok(Outcome::Duplicate);
        };
        let ((actions, measure, after, recalled), points) = committed.value;
        if !dry_run {
            // What became of the messages, for a later /spam or /notspam replying to them.
            self.learning.mark(msg.group, msg.message_id, committed.case, false);
            for id in recalled {
                self.learning.mark(msg.group, id, None, true);
            }
        }
        if points != 0 {
            tracing::info!(group = %msg.group, user = msg.sender.user_id, change = points, "points taken away for a strike");
        }
        self.metrics.filter_hit(&verdict.rule);
        let counted = (!dry_run).then(|| crate::service::stats::measure_name(measure));
        self.stats.violation(msg.group, &verdict.rule, counted, now);
        tracing::info!(
            group = %msg.group,
            user = msg.sender.user_id,
            rule = %verdict.rule,
            matched = %json_list(&verdict.matched),
            sample = verdict.sample,
            case = committed.case,
            strikes = after,
            measure = %i18n::measure(Locale::En, measure),
            dry_run,
            "violation"
        );
        Ok(if dry_run {
            Outcome::Observed
        } else {
            Outcome::Acted { actions }
        })
    }

    /// A member joined: recorded with their place in the group's welcome batch (or greeted at
    /// once without batching), durably before the webhook acknowledges the event.
    async fn on_join(&self, event: &Event, joined: &MemberJoined) -> Result<Outcome, PipelineError> {
        if joined.user_id == event.self_id {
            return Ok(Outcome::Ignored("the bot itself joined"));
        }
        let member = (joined.group, joined.user_id, self.policies.group(joined.group).dry_run);
        if let Some(removed) = self.bans.on_join(event, member, self.clock.now()).await? {
            return Ok(removed);
        }
        let name = joined.name.as_deref().unwrap_or_default();
        track(
            self.inactivity
                .joined(joined.group, joined.user_id, name, self.clock.now()),
        );
        // A (re-)joined member is new, whatever they were before.
        track(
            self.store
                .trust_joined(joined.group, joined.user_id, self.clock.now().as_millisecond()),
        );
        if let Some(outcome) = self.gate.open(event, joined)? {
            return Ok(outcome);
        }
        if !self.welcomer.enabled(joined.group) {
            return Ok(Outcome::Ignored("welcome disabled"));
        }
        let now = self.clock.now();
        let join = JoinWrite {
            group: joined.group,
            member: PendingJoin {
                user_id: joined.user_id,
                name: joined.name.clone().unwrap_or_default(),
                joined_ms: now.as_millisecond(),
            },
            rejoin_window: self.welcomer.rejoin_window(),
            batch_window: self.welcomer.batch_window(),
            stale_after: self.welcomer.stale_after(),
        };
        let recorded = self
            .store
            .commit_join(&event.key, now, &join, self.welcomer.builder(now))?;
        Ok(match recorded {
            JoinRecorded::Duplicate => Outcome::Duplicate,
            JoinRecorded::Welcomed { actions } => Outcome::Acted { actions },
            JoinRecorded::Rejoined => {
                self.store.durable().await?;
                tracing::info!(group = %joined.group, user = joined.user_id, "member re-joined within the re-join window; not welcomed again");
                Outcome::Ignored("re-joined within the re-join window")
            }
            JoinRecorded::Queued { started, .. } => {
                self.store.durable().await?;
                // A join into a waiting batch changes no due time: the greeter already knows
                // when to greet it, and need not read every batch again.
                if started {
                    self.greeter_wake.notify_one();
                }
                Outcome::Ignored(WAITING_FOR_WELCOME)
            }
        })
    }

    /// A join request: rejected when the filter flags its text, approved when it holds one of
    /// the group's answers, otherwise left to the admins. Decisions are audited.
    fn on_join_request(&self, event: &Event, request: &JoinRequest) -> Result<Outcome, PipelineError> {
        let group = request.group;
        let now = self.clock.now();
        let member = (group, request.user_id, self.policies.group(group).dry_run);
        if let Some(declined) = self.bans.on_request(event, member, &request.handle, now)? {
            return Ok(declined);
        }
        let policy = &self.policies.group(group).join;
        let decision = if policy.reject_blocked
            && let Some(v) = self.rules.load().filter.check(&request.comment, group)
            && !v.dry_run
        {
            let reason = if policy.reject_reason.is_empty() {
                i18n::default_reject_reason(self.settings.messages.locale).to_owned()
            } else {
                policy.reject_reason.to_string()
            };
            Some((false, v.rule.to_string(), reason))
        } else if !policy.answers.is_empty()
            && let Some(answer) = policy.answered(&self.normalizer.compact(&request.comment))
        {
            Some((true, RuleId::JoinAnswer.to_string(), format!("answer {answer:?}")))
        } else {
            None
        };
        let Some((approve, rule, reason)) = decision else {
            tracing::info!(%group, user = request.user_id, "join request left to the admins (no configured answer, nothing blocked)");
            return Ok(Outcome::Ignored("join request left to the admins"));
        };
        let now = self.clock.now();
        let action = Action::AnswerJoinRequest {
            group,
            user_id: request.user_id,
            handle: request.handle.clone(),
            approve,
            reason: if approve { String::new() } else { reason.clone() },
        };
        let measure = if approve {
            Measure::JoinApproved
        } else {
            Measure::JoinRejected
        };
        let mut entry = AuditEntry::new(group, now.as_millisecond(), request.user_id, Actor::Auto, rule, measure);
        entry.reason = self.text.excerpt(&reason);
        entry.excerpt = self.text.excerpt(&request.comment);
        let subject = Subject { group, user: None };
        let committed = self.store.commit(&event.key, now, Some(subject), |_| {
            let writes = Writes {
                strikes: StrikeWrite::Keep,
                actions: vec![action.clone()],
                audit: Some(entry.clone()),
            };
            (writes, ())
        })?;
        if committed.is_none() {
            return Ok(Outcome::Duplicate);
        }
        tracing::info!(%group, user = request.user_id, approve, reason = %entry.reason, "join request answered");
        Ok(Outcome::Acted { actions: 1 })
    }

    /// What greets batches and how (shared with the [`crate::service::welcome::Greeter`] task).
    #[must_use]
    pub fn welcomer(&self) -> &Welcomer {
        &self.welcomer
    }

    /// The gate at the door (for its [`crate::service::gate::GateKeeper`]).
    #[must_use]
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Notified when a gate at the door opens (for the [`crate::service::gate::GateKeeper`]).
    #[must_use]
    pub fn gate_wake(&self) -> Arc<Notify> {
        self.gate.keeper_wake()
    }

    /// The rounds of the [`crate::service::gate::GateKeeper`] (see [`Passes`]).
    #[must_use]
    pub fn gate_passes(&self) -> Arc<Passes> {
        self.gate.keeper_passes()
    }

    /// Notified when a welcome batch starts (for the [`crate::service::welcome::Greeter`]).
    #[must_use]
    pub fn greeter_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.greeter_wake)
    }

    /// Notified when admins add or delete a scheduled post (for the
    /// [`crate::service::scheduler::Scheduler`]).
    #[must_use]
    pub fn scheduler_wake(&self) -> Arc<Notify> {
        Arc::clone(&self.scheduler_wake)
    }

    /// The rounds of the [`crate::service::welcome::Greeter`] (see [`Passes`]).
    #[must_use]
    pub fn greeter_passes(&self) -> Arc<Passes> {
        Arc::clone(&self.greeter_passes)
    }

    /// The rounds of the [`crate::service::scheduler::Scheduler`] (see [`Passes`]).
    #[must_use]
    pub fn scheduler_passes(&self) -> Arc<Passes> {
        Arc::clone(&self.scheduler_passes)
    }

    fn command_context(&self, group: GroupId) -> commands::Context<'_> {
        commands::Context {
            store: &self.store,
            settings: &self.settings,
            policies: &self.policies,
            rules: &self.rules,
            caps: Capabilities::of(group),
            now: self.clock.now(),
            cooldowns: &self.cooldowns,
            scheduler_wake: &self.scheduler_wake,
            inactivity: &self.inactivity,
            metrics: &self.metrics,
            reporter: self.reporter(),
            learning: &self.learning,
            engagement: &self.engagement,
            bans: &self.bans,
        }
    }

    /// Check-in, points, boards, keyword answers and tiers (the app runs their writes and
    /// alerts; the scheduler posts boards).
    #[must_use]
    pub fn engagement(&self) -> &Arc<Engagement> {
        &self.engagement
    }

    /// Inactivity tracking (the app runs its sweep).
    #[must_use]
    pub fn inactivity(&self) -> &Arc<Inactivity> {
        &self.inactivity
    }

    /// Every group's resolved policy (for the store's sweep).
    #[must_use]
    pub fn policies(&self) -> &Policies {
        &self.policies
    }
}

/// A copy of `event` with its member's name cut to `[limits] name_chars`, or `None` when the
/// name is short enough (almost always: one length comparison).
fn cap_names(event: &Event, text: &TextLimits) -> Option<Event> {
    let long = |name: &str| name.len() > text.name_chars && name.chars().nth(text.name_chars).is_some();
    match &event.kind {
        EventKind::GroupMessage(msg) if long(&msg.sender.name) => {
            let mut event = event.clone();
            if let EventKind::GroupMessage(msg) = &mut event.kind {
                msg.sender.name = text.name(&msg.sender.name).into_owned();
            }
            Some(event)
        }
        EventKind::MemberJoined(joined) if joined.name.as_deref().is_some_and(long) => {
            let mut event = event.clone();
            if let EventKind::MemberJoined(joined) = &mut event.kind {
                joined.name = joined.name.as_deref().map(|n| text.name(n).into_owned());
            }
            Some(event)
        }
        _ => None,
    }
}

/// The command a parsed message names, if any.
fn parsed_name(parsed: &Parsed) -> Option<commands::Name> {
    match parsed {
        Parsed::Command(c) => Some(c.name()),
        Parsed::Usage(name) | Parsed::Invalid(name, _) => Some(*name),
        Parsed::NotACommand => None,
    }
}

/// Activity tracking is not moderation state: a failure to record it is logged, and the
/// event is still moderated (and acknowledged) as usual.
fn track(recorded: Result<(), StoreError>) {
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record member activity (潜水 tracking)");
    }
}

/// What a violation leads to, before dry run is applied.
struct ViolationPlan {
    writes: Writes,
    measure: Measure,
    after: u32,
    /// Messages recalled (when the platform can).
    recalled: Vec<i64>,
}

/// Turns the [`verdict`] for one violation into the event's writes: recalls, the measure's
/// action or the text the member is told, and the audit case.
fn plan_violation(
    snapshot: &Snapshot,
    msg: &GroupMessage,
    offence: &Offending,
    policy: &GroupPolicy,
    caps: Capabilities,
    (notices, locale, text): (&NoticesSettings, Locale, &TextLimits),
    now: Timestamp,
) -> ViolationPlan {
    let group = msg.group;
    let user_id = msg.sender.user_id;
    let recalled: Vec<i64> = if caps.recall {
        offence.recall.clone()
    } else {
        Vec::new()
    };
    let mut actions: Vec<Action> = recalled
        .iter()
        .map(|&message_id| Action::Recall { group, message_id })
        .collect();
    let v = verdict::decide(
        snapshot.record.as_ref(),
        &Offence {
            group,
            user_id,
            rule: &offence.rule,
            severity: offence.severity,
            action: offence.action,
        },
        policy,
        caps,
        now,
    );
    actions.extend(v.action.clone());
    // The rung's notice after its action (or the warning that is the rung); see
    // `config::notices`.
    let struck = Struck {
        user_id,
        name: &msg.sender.name,
        rule: &offence.display,
        count: (offence.action == RuleAction::Ladder).then_some(v.after),
        limit: u32::try_from(policy.ladder.len()).unwrap_or(u32::MAX),
    };
    let told = match v.telling {
        Telling::Nothing if v.action.is_some() => notices.render(locale, v.measure, &struck),
        Telling::Nothing => None,
        Telling::Warning { shown, limit } => notices.render(
            locale,
            Measure::Warn,
            &Struck {
                count: Some(shown),
                limit,
                ..struck
            },
        ),
        Telling::Notice => {
            let reason = i18n::reason_rule(locale, &offence.display);
            Some(i18n::notice(locale, user_id, &msg.sender.name, &reason))
        }
    };
    actions.extend(told.map(|message| send(group, message)));
    let mut entry = AuditEntry::new(
        group,
        now.as_millisecond(),
        user_id,
        Actor::Auto,
        &*offence.rule,
        v.measure,
    );
    entry.user_name.clone_from(&msg.sender.name);
    entry.matched.clone_from(&offence.matched);
    entry.excerpt = text.excerpt(&msg.text);
    entry.message_id = Some(msg.message_id);
    entry.recalled.clone_from(&recalled);
    entry.strikes_before = v.before;
    entry.strikes_after = v.after;
    entry.sample = offence.sample;
    entry.judged = offence.judged;
    ViolationPlan {
        writes: Writes {
            strikes: v.strikes,
            actions,
            audit: Some(entry),
        },
        measure: v.measure,
        after: v.after,
        recalled,
    }
}

fn send(group: GroupId, message: crate::domain::action::OutgoingMessage) -> Action {
    Action::Send {
        group,
        message,
        reply_to: None,
    }
}
