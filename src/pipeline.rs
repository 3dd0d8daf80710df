//! The pipeline: what to do about one event.
//!
//! A group message is checked by the filter (pure CPU, against a snapshot of the live rules);
//! a violation walks the strike ladder inside the store transaction that also records the
//! event as seen and appends the resulting actions to the outbox; then the pipeline waits for
//! that write to be durable. Only then does the webhook acknowledge the event. No network
//! call happens here: the outbox worker delivers.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::action::{Action, Capabilities};
use crate::clock::SharedClock;
use crate::config::{Rung, Settings};
use crate::event::{Event, EventKind, GroupMessage, MemberJoined};
use crate::filter::Violation;
use crate::gateway::Gateways;
use crate::i18n;
use crate::ladder::{self, Policy};
use crate::rules::RulesHandle;
use crate::store::{Effects, Store, StoreError, StrikeWrite};
use crate::welcome;

/// What the pipeline did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Actions were stored for delivery.
    Acted {
        /// How many.
        actions: usize,
    },
    /// The event was already handled (a redelivery); nothing changed.
    Duplicate,
    /// Nothing to do, and why.
    Ignored(&'static str),
}

/// Why an event could not be handled. The webhook answers 503 so the gateway redelivers.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event handler shared by every webhook.
pub struct Pipeline {
    settings: Arc<Settings>,
    rules: RulesHandle,
    store: Store,
    gateways: Gateways,
    clock: SharedClock,
    outbox_wake: Arc<Notify>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over the given parts. `gateways` is consulted for what each platform can do;
    /// the pipeline itself never calls them.
    #[must_use]
    pub fn new(
        settings: Arc<Settings>,
        rules: RulesHandle,
        store: Store,
        gateways: Gateways,
        clock: SharedClock,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            settings,
            rules,
            store,
            gateways,
            clock,
            outbox_wake,
        }
    }

    /// Handles one event; returns once its effects are durable.
    pub async fn handle(&self, event: &Event) -> Result<Outcome, PipelineError> {
        let outcome = match &event.kind {
            EventKind::GroupMessage(msg) => self.on_message(event, msg)?,
            EventKind::MemberJoined(joined) => self.on_join(event, joined)?,
            EventKind::MemberLeft(_) => Outcome::Ignored("member left"),
            EventKind::JoinRequest(_) => Outcome::Ignored("join request (left to the admins)"),
            EventKind::Other(_) => Outcome::Ignored("not a group event qunguan acts on"),
        };
        if let Outcome::Acted { .. } = outcome {
            self.store.durable().await?;
            self.outbox_wake.notify_one();
        }
        Ok(outcome)
    }

    fn on_message(&self, event: &Event, msg: &GroupMessage) -> Result<Outcome, PipelineError> {
        if msg.sender.user_id == event.self_id {
            return Ok(Outcome::Ignored("the bot's own message"));
        }
        let rules = self.rules.load();
        let Some(violation) = rules.filter.check(&msg.text, msg.group) else {
            return Ok(Outcome::Ignored("clean"));
        };
        if msg.sender.role.is_moderator() {
            tracing::info!(group = %msg.group, user = msg.sender.user_id, rule = %violation.rule, "filter hit by an owner/admin; exempt");
            return Ok(Outcome::Ignored("owner/admin exempt"));
        }
        let now = self.clock.now();
        let caps = self.gateways.capabilities_of(msg.group);
        let moderation = &self.settings.moderation;
        let policy = Policy {
            ladder: &moderation.ladder,
            strike_ttl: moderation.strike_ttl.get(),
        };
        let locale = self.settings.messages.locale;
        let committed = self
            .store
            .commit_event(&event.key, now, Some((msg.group, msg.sender.user_id)), |record| {
                let decision = ladder::decide(
                    &record.unwrap_or_default(),
                    violation.severity,
                    &violation.rule,
                    now,
                    policy,
                );
                let actions = violation_actions(msg, &violation, &decision, policy, caps, locale);
                let strikes = match &decision.record {
                    Some(record) => StrikeWrite::Put(record.clone()),
                    None => StrikeWrite::Clear,
                };
                let count = actions.len();
                (Effects { strikes, actions }, (decision, count))
            })?;
        let Some((decision, actions)) = committed else {
            return Ok(Outcome::Duplicate);
        };
        tracing::info!(
            group = %msg.group,
            user = msg.sender.user_id,
            rule = %violation.rule,
            pattern = %violation.hits[0].pattern,
            strikes = decision.after,
            rung = %decision.rung,
            "violation"
        );
        Ok(Outcome::Acted { actions })
    }

    fn on_join(&self, event: &Event, joined: &MemberJoined) -> Result<Outcome, PipelineError> {
        if joined.user_id == event.self_id {
            return Ok(Outcome::Ignored("the bot itself joined"));
        }
        if !self.settings.welcome.enabled {
            return Ok(Outcome::Ignored("welcome disabled"));
        }
        let rules = self.rules.load();
        let action = welcome::welcome_action(&self.settings, &rules.group_rules, joined);
        let committed = self.store.commit_event(&event.key, self.clock.now(), None, |_| {
            (
                Effects {
                    strikes: StrikeWrite::Keep,
                    actions: vec![action.clone()],
                },
                (),
            )
        })?;
        Ok(match committed {
            Some(()) => Outcome::Acted { actions: 1 },
            None => Outcome::Duplicate,
        })
    }
}

/// The actions for a violation: recall the message (where the platform can), then the rung.
/// A rung the platform cannot carry out falls back to the nearest one it can: no mute → a
/// warning; no ban → a kick.
fn violation_actions(
    msg: &GroupMessage,
    violation: &Violation,
    decision: &ladder::Decision,
    policy: Policy<'_>,
    caps: Capabilities,
    locale: i18n::Locale,
) -> Vec<Action> {
    let group = msg.group;
    let user_id = msg.sender.user_id;
    let mut actions = Vec::with_capacity(2);
    if caps.recall && violation.recall {
        actions.push(Action::Recall {
            group,
            message_id: msg.message_id,
        });
    }
    let rung = match decision.rung {
        Rung::Mute(_) if !caps.mute => Rung::Warn,
        Rung::Ban if !caps.ban => Rung::Kick,
        Rung::Kick | Rung::Ban if !caps.kick => Rung::Warn,
        rung => rung,
    };
    let limit = u32::try_from(policy.ladder.len()).unwrap_or(u32::MAX);
    actions.push(match rung {
        Rung::Warn => Action::Send {
            group,
            message: i18n::warning(
                locale,
                user_id,
                &msg.sender.name,
                &i18n::reason_rule(locale, &violation.rule),
                decision.after.min(limit),
                limit,
            ),
            reply_to: None,
        },
        Rung::Mute(d) => Action::Mute {
            group,
            user_id,
            seconds: d.as_secs().clamp(1, caps.max_mute_secs),
        },
        Rung::Kick => Action::Kick {
            group,
            user_id,
            ban: false,
        },
        Rung::Ban => Action::Kick {
            group,
            user_id,
            ban: true,
        },
    });
    actions
}
