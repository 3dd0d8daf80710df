//! Admin commands in the group: `/warn`, `/strikes`, `/pardon`, `/mute`, `/unmute`, `/kick`,
//! `/reload`, `/rules`, `/why`, `/schedule`, `/inactive`, `/stats`, `/spam`, `/notspam`,
//! `/review`, and their Chinese aliases (see [`parse::NAMES`]). The labels (`/spam`,
//! `/notspam`) are in [`label`].
//!
//! Who may run them: the group's owner and admins (as the platform reports the sender's
//! role) and the configured `[admin] super_users`. Anyone else's command is an ordinary
//! message — no reply, and the filter still sees it — except `/rules`, which is for everyone
//! (at most once a minute per group for non-admins, so it cannot be used to make the bot
//! spam).
//!
//! A command is an event like any other: it is recorded once (a redelivered `/warn` does not
//! warn twice), and everything it changes — strikes, the audit case, the actions and the
//! bot's answer — is one transaction. Every action on a member gets an audit case, and the
//! answer names it (`案件 #12`) so `/why 12` can explain it later. Dry run does not apply to
//! admin commands: an admin asking for a kick wants the kick.

mod gban;
mod label;
pub mod parse;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

pub use parse::{BanTarget, Command, FaqCommand, Name, NotSpamTarget, Parsed, Problem, ScheduleCommand, parse};

use crate::config::Settings;
use crate::config::rules::{RulesError, RulesHandle};
use crate::domain::action::{Action, Capabilities, OutgoingMessage};
use crate::domain::audit;
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::bounds::Bound;
use crate::domain::effects::{StrikeWrite, Subject, Writes};
use crate::domain::event::{Event, GroupId, GroupMessage};
use crate::domain::locale::Locale;
use crate::domain::metrics::{Metrics, ReloadTrigger, Reloaded};
use crate::domain::rule::RuleId;
use crate::domain::sink::Outcome;
use crate::domain::strike::Severity;
use crate::policy::filter::RuleAction;
use crate::policy::group::{GroupPolicy, Policies};
use crate::policy::i18n::{self, Reply, ScheduleLine, StrikeLine};
use crate::policy::ladder;
use crate::policy::verdict::{self, Offence};
use crate::service::pipeline::PipelineError;
use crate::store::{AdminPost, Store};

/// How often non-admins may ask for `/rules` in one group.
const RULES_COOLDOWN_MS: i64 = 60_000;

/// The most posts admins may add in one group with `/schedule add` (a typo in a loop of
/// commands should not turn the bot into a spammer; longer content calendars belong in
/// `rules/schedule.toml`).
pub const MAX_ADMIN_POSTS: usize = 20;

/// What a command needs from the pipeline.
pub struct Context<'a> {
    /// The database.
    pub store: &'a Store,
    /// The configuration.
    pub settings: &'a Settings,
    /// Every group's policy.
    pub policies: &'a Policies,
    /// The live rules.
    pub rules: &'a RulesHandle,
    /// What the group's platform can do.
    pub caps: Capabilities,
    /// Now.
    pub now: Timestamp,
    /// When each group last got `/rules` from a non-admin.
    pub cooldowns: &'a Cooldowns,
    /// Wakes the scheduler after `/schedule add|del`.
    pub scheduler_wake: &'a Arc<tokio::sync::Notify>,
    /// Inactivity tracking (for `/inactive`).
    pub inactivity: &'a crate::service::inactivity::Inactivity,
    /// The daemon's metrics (rules reloads are counted).
    pub metrics: &'a Metrics,
    /// Answers `/stats` in the background.
    pub reporter: crate::service::stats::Reporter,
    /// What admins' labels taught, the recent messages and the review list.
    pub learning: &'a crate::service::learning::Learning,
    /// Check-in, points, boards and keyword answers.
    pub engagement: &'a crate::service::engagement::Engagement,
    /// The instance-wide ban list (`/gban`, `/ungban`).
    pub bans: &'a crate::service::bans::Bans,
}

/// Per-group cooldown of the public `/rules`: when each group last had one, for the groups
/// that had one within the cooldown. At most `[limits] cooldown_groups` are remembered; when
/// full, the expired cooldowns are dropped, and if every one is still running the map is
/// emptied (at worst a group gets `/rules` again before its cooldown ends).
#[derive(Debug)]
pub struct Cooldowns {
    last: Mutex<HashMap<GroupId, i64>>,
    bound: Arc<Bound>,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Self::with_capacity(crate::config::LimitsSettings::default().cooldown_groups)
    }
}

impl Cooldowns {
    /// Cooldowns of at most `capacity` groups.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            last: Mutex::new(HashMap::new()),
            bound: Bound::new("rules_cooldowns", capacity.max(1)),
        }
    }

    /// The cooldown map's size (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// True (and the time is taken) if `group` may have another public `/rules` now.
    fn take(&self, group: GroupId, now_ms: i64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&at) = last.get(&group)
            && now_ms.saturating_sub(at) < RULES_COOLDOWN_MS
        {
            return false;
        }
        if last.len() >= self.bound.capacity() && !last.contains_key(&group) {
            last.retain(|_, at| now_ms.saturating_sub(*at) < RULES_COOLDOWN_MS);
            if last.len() >= self.bound.capacity() {
                self.bound.evict(last.len());
                last.clear();
            }
        }
        last.insert(group, now_ms);
        self.bound.set_len(last.len());
        true
    }
}

/// Runs `command`, sent in `msg` by an admin (`is_admin`) or, for public commands, anyone.
pub async fn execute(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    command: Command,
    is_admin: bool,
) -> Result<Outcome, PipelineError> {
    let locale = ctx.settings.messages.locale;
    let group = msg.group;
    let actor = Actor::Admin {
        user_id: msg.sender.user_id,
        name: msg.sender.name.clone(),
    };
    let target = match &command {
        Command::Warn { target, .. }
        | Command::Strikes { target }
        | Command::Pardon { target, .. }
        | Command::Mute { target, .. }
        | Command::Unmute { target }
        | Command::Kick { target } => Some(*target),
        Command::Reload
        | Command::Rules
        | Command::Why { .. }
        | Command::Schedule(_)
        | Command::Inactive { .. }
        | Command::Stats
        | Command::Spam { .. }
        | Command::NotSpam(_)
        | Command::Review => None,
        Command::CheckIn
        | Command::Points { .. }
        | Command::AdjustPoints { .. }
        | Command::Top { .. }
        | Command::OptOut
        | Command::Faq(_) => None,
        // Protected targets are checked once the member is known (a reply names no one yet).
        Command::GlobalBan { .. } | Command::GlobalUnban { .. } => None,
    };
    let protected = target.is_some_and(|t| t == event.self_id || ctx.policies.is_super_user(group.platform, t));
    let changes_member = !matches!(command, Command::Strikes { .. });
    if protected && changes_member {
        return answer(ctx, event, msg, i18n::reply(locale, Reply::ProtectedTarget));
    }
    let policy = ctx.policies.group(group);
    let plan = Plan {
        ctx,
        msg,
        policy,
        locale,
        actor,
    };
    match command {
        Command::Warn { target, reason } => {
            if is_moderator(ctx, msg, target)? {
                return answer(ctx, event, msg, i18n::reply(locale, Reply::AdminTarget));
            }
            plan.warn(event, target, &reason)
        }
        Command::Strikes { target } => plan.strikes(event, target),
        Command::Pardon { target, all } => plan.pardon(event, target, all),
        Command::Mute { target, duration } => {
            if !ctx.caps.mute {
                return answer(ctx, event, msg, i18n::reply(locale, Reply::CannotMute));
            }
            if duration.as_secs() > ctx.caps.max_mute_secs {
                return answer(ctx, event, msg, i18n::reply(locale, Reply::MuteTooLong(group.platform)));
            }
            let seconds = duration.as_secs().max(1);
            let action = Action::Mute {
                group,
                user_id: target,
                seconds,
            };
            plan.act(event, target, Measure::Mute { seconds }, action, StrikeWrite::Keep)
        }
        Command::Unmute { target } => {
            if !ctx.caps.mute {
                return answer(ctx, event, msg, i18n::reply(locale, Reply::CannotMute));
            }
            let action = Action::Unmute { group, user_id: target };
            plan.act(event, target, Measure::Unmute, action, StrikeWrite::Keep)
        }
        Command::Kick { target } => {
            if !ctx.caps.kick {
                return answer(ctx, event, msg, i18n::reply(locale, Reply::CannotKick));
            }
            let action = Action::Kick {
                group,
                user_id: target,
                ban: false,
            };
            plan.act(event, target, Measure::Kick, action, StrikeWrite::Clear)
        }
        Command::Reload => {
            let reloaded = reload(ctx.rules, &ctx.settings.rules.dir, ReloadTrigger::Command, ctx.metrics).await;
            let text = match reloaded {
                Ok(_) => i18n::reloaded(locale, Ok(&ctx.rules.load().counts())),
                Err(error) => i18n::reloaded(locale, Err(&error.to_string())),
            };
            answer(ctx, event, msg, text)
        }
        Command::Rules => {
            if !is_admin && !ctx.cooldowns.take(group, ctx.now.as_millisecond()) {
                return Ok(Outcome::Ignored("/rules asked again within the cooldown"));
            }
            let rules = ctx.rules.load();
            let text = match rules.rules_text(group) {
                "" => i18n::reply(locale, Reply::NoRules),
                text => OutgoingMessage::text(text),
            };
            answer(ctx, event, msg, text)
        }
        Command::Stats => {
            // Recorded now, answered when the member count has come back: the webhook never
            // waits on the platform.
            let committed = ctx.store.commit(&event.key, ctx.now, None, |_| {
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: Vec::new(),
                    audit: None,
                };
                (writes, ())
            })?;
            if committed.is_none() {
                return Ok(Outcome::Duplicate);
            }
            ctx.reporter.answer_later(group, msg.message_id, ctx.now);
            Ok(Outcome::Ignored("/stats answers in the background"))
        }
        Command::Why { case } => {
            let text = match ctx.store.case(group, case)? {
                Some(entry) => {
                    let display = ctx.rules.load().filter.display_name(&entry.rule, locale);
                    let mut text = i18n::case_details(locale, &entry, &display, ctx.now.as_millisecond());
                    for line in label::why_learning(ctx, &entry)? {
                        text.push_text(format!("\n{line}"));
                    }
                    text
                }
                None => i18n::reply(locale, Reply::NoSuchCase(case)),
            };
            answer(ctx, event, msg, text)
        }
        Command::Spam { message_id } => plan.spam(event, message_id),
        Command::NotSpam(target) => plan.not_spam(event, target),
        Command::Review => label::review(ctx, event, msg),
        Command::Inactive { silent_for } => {
            let list = ctx.inactivity.list(group, silent_for.get(), ctx.now)?;
            answer(
                ctx,
                event,
                msg,
                i18n::inactive_list(locale, silent_for.as_secs(), &list),
            )
        }
        Command::Schedule(command) => schedule(ctx, event, msg, command),
        Command::CheckIn => Ok(ctx.engagement.check_in(&event.key, msg, ctx.now)?),
        Command::Points { target } => {
            let (user, name) = match target {
                Some(user) => (user, ""),
                None => (msg.sender.user_id, msg.sender.name.as_str()),
            };
            let text = ctx.engagement.points_answer(group, user, name, ctx.now)?;
            answer(ctx, event, msg, text)
        }
        Command::AdjustPoints { target, delta, reason } => Ok(ctx
            .engagement
            .adjust(&event.key, msg, target, delta, &reason, ctx.now)?),
        Command::Top { month } => {
            let text = ctx.engagement.board(group, month, ctx.now)?;
            answer(ctx, event, msg, text)
        }
        Command::OptOut => Ok(ctx.engagement.optout(&event.key, msg, ctx.now)?),
        Command::Faq(FaqCommand::Add { keyword, answer: text }) => {
            Ok(ctx.engagement.faq.add(&event.key, msg, &keyword, &text, ctx.now)?)
        }
        Command::Faq(FaqCommand::Del { number }) => Ok(ctx.engagement.faq.del(&event.key, msg, number, ctx.now)?),
        Command::GlobalBan { target, reason } => gban::ban(ctx, event, msg, target, &reason),
        Command::GlobalUnban { user } => gban::unban(ctx, event, msg, user),
        Command::Faq(FaqCommand::List) => {
            let text = ctx.engagement.faq.list(&ctx.rules.load(), group);
            answer(ctx, event, msg, text)
        }
    }
}

/// Whether `target` is the group's owner or an admin, as far as qunguan knows: the sender
/// themselves (their role is on the command), or a member whose last message or join it
/// recorded with that role. A member it never saw counts as an ordinary member.
fn is_moderator(ctx: &Context<'_>, msg: &GroupMessage, target: i64) -> Result<bool, PipelineError> {
    if target == msg.sender.user_id {
        return Ok(msg.sender.role.is_moderator());
    }
    Ok(ctx
        .inactivity
        .role_of(msg.group, target)?
        .is_some_and(|role| role.is_moderator()))
}

/// The answer to a known command an admin wrote wrongly: exactly what is wrong when that can
/// be said (`problem`), else how the command is used.
pub fn misuse(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    name: Name,
    problem: Option<&Problem>,
) -> Result<Outcome, PipelineError> {
    let locale = ctx.settings.messages.locale;
    let text = match problem {
        None => i18n::usage(locale, name.usage(locale)),
        Some(Problem::NotAMember(word)) => i18n::not_a_member(locale, word, name.usage(locale)),
        Some(Problem::BadTime { at, why }) => i18n::bad_time(locale, at, *why),
    };
    answer(ctx, event, msg, text)
}

/// `/schedule add|list|del`. Adding and deleting change the store in the command event's
/// transaction (with the answer) and wake the scheduler, which re-plans at once.
fn schedule(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    command: ScheduleCommand,
) -> Result<Outcome, PipelineError> {
    let locale = ctx.settings.messages.locale;
    let group = msg.group;
    match command {
        ScheduleCommand::Add { at, text } => {
            if ctx.store.admin_posts_of(group)?.len() >= MAX_ADMIN_POSTS {
                return answer(ctx, event, msg, i18n::schedule_full(locale, MAX_ADMIN_POSTS));
            }
            let zone = ctx.settings.schedule.timezone.clone();
            let post = AdminPost::new(group, at, zone, text, msg.sender.user_id);
            let added = ctx.store.commit_schedule_add(&event.key, ctx.now, &post, |number| {
                reply_to(msg, i18n::schedule_added(locale, number, &post.at, &post.timezone))
            })?;
            let Some(number) = added else {
                return Ok(Outcome::Duplicate);
            };
            tracing::info!(%group, number, at = %post.at, by = msg.sender.user_id, "scheduled post added");
            ctx.scheduler_wake.notify_one();
            Ok(Outcome::Acted { actions: 1 })
        }
        ScheduleCommand::Del { number } => {
            let deleted = ctx
                .store
                .commit_schedule_del(&event.key, ctx.now, group, number, |deleted| {
                    reply_to(msg, i18n::schedule_deleted(locale, number, deleted))
                })?;
            let Some(deleted) = deleted else {
                return Ok(Outcome::Duplicate);
            };
            if deleted {
                tracing::info!(%group, number, by = msg.sender.user_id, "scheduled post deleted");
                ctx.scheduler_wake.notify_one();
            }
            Ok(Outcome::Acted { actions: 1 })
        }
        ScheduleCommand::List => {
            let rules = ctx.rules.load();
            let mut lines: Vec<ScheduleLine> = rules
                .schedule
                .iter()
                .filter(|p| p.groups.contains(&group))
                .map(|p| ScheduleLine {
                    label: format!("[{}]", p.id),
                    when: p.recurrence.to_string(),
                    text: audit::excerpt(p.texts.first().map_or("", String::as_str)),
                    enabled: p.enabled,
                })
                .collect();
            for post in ctx.store.admin_posts_of(group)? {
                lines.push(ScheduleLine {
                    label: format!("#{}", post.number),
                    when: format!("{} ({})", post.at, post.timezone),
                    text: audit::excerpt(&post.text),
                    enabled: true,
                });
            }
            answer(ctx, event, msg, i18n::schedule_list(locale, &lines))
        }
    }
}

/// Why `/reload` kept the old rules.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The rules folder has a problem; the message names the file and line.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The blocking task that compiles the rules panicked or was cancelled.
    #[error("the reload task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Re-reads the rules folder off the async threads and swaps the live rules (through
/// [`crate::config::rules::reload`]); on error the old rules stay. The one reload for every
/// trigger — the watcher, SIGHUP, `/reload` and the console: it logs the outcome and records
/// it in `metrics` for the console. Returns the new rules' summary, or the error with file
/// and line.
pub async fn reload(
    handle: &RulesHandle,
    dir: &std::path::Path,
    trigger: ReloadTrigger,
    metrics: &Metrics,
) -> Result<String, ReloadError> {
    let (handle, dir) = (Arc::clone(handle), dir.to_owned());
    let reloaded = match tokio::task::spawn_blocking(move || crate::config::rules::reload(&handle, &dir)).await {
        Ok(result) => result.map_err(ReloadError::Rules),
        Err(e) => Err(ReloadError::Join(e)),
    };
    match &reloaded {
        Ok(summary) => {
            tracing::info!(%trigger, rules = %summary, "rules reloaded");
            metrics.rules_reloaded(trigger, Reloaded::Live(summary.clone()));
        }
        Err(e) => {
            tracing::error!(%trigger, error = %e, "rules not reloaded; the previous rules stay live");
            metrics.rules_reloaded(trigger, Reloaded::Refused(e.to_string()));
        }
    }
    reloaded
}

/// The bot's answer to a command message: a reply quoting it.
fn reply_to(msg: &GroupMessage, message: OutgoingMessage) -> Action {
    Action::Send {
        group: msg.group,
        message,
        reply_to: Some(msg.message_id),
    }
}

/// Records the command event with just an answer.
pub fn answer(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    message: OutgoingMessage,
) -> Result<Outcome, PipelineError> {
    let action = reply_to(msg, message);
    let committed = ctx.store.commit(&event.key, ctx.now, None, |_| {
        let writes = Writes {
            strikes: StrikeWrite::Keep,
            actions: vec![action.clone()],
            audit: None,
        };
        (writes, ())
    })?;
    Ok(match committed {
        Some(_) => Outcome::Acted { actions: 1 },
        None => Outcome::Duplicate,
    })
}

/// A command about one member, with what every such command shares.
struct Plan<'a> {
    ctx: &'a Context<'a>,
    msg: &'a GroupMessage,
    policy: &'a GroupPolicy,
    locale: Locale,
    actor: Actor,
}

impl Plan<'_> {
    fn subject(&self, target: i64) -> Option<Subject> {
        Some(Subject {
            group: self.msg.group,
            user: Some(target),
        })
    }

    fn limit(&self) -> u32 {
        u32::try_from(self.policy.ladder.len()).unwrap_or(u32::MAX)
    }

    fn case(&self, target: i64, measure: Measure, before: u32, after: u32, reason: &str) -> AuditEntry {
        let at_ms = self.ctx.now.as_millisecond();
        let mut entry = AuditEntry::new(
            self.msg.group,
            at_ms,
            target,
            self.actor.clone(),
            RuleId::Manual.as_str(),
            measure,
        );
        entry.reason = self.ctx.settings.limits.text().excerpt(reason);
        entry.strikes_before = before;
        entry.strikes_after = after;
        entry
    }

    /// The outcome of a commit whose decision returned the number of actions stored.
    fn outcome(committed: Option<crate::store::Committed<usize>>) -> Outcome {
        match committed {
            Some(c) => Outcome::Acted { actions: c.value },
            None => Outcome::Duplicate,
        }
    }

    /// `/warn`: one manual strike, up the ladder like any other.
    fn warn(&self, event: &Event, target: i64, reason: &str) -> Result<Outcome, PipelineError> {
        let reason = if reason.is_empty() {
            i18n::default_reason(self.locale)
        } else {
            reason
        };
        let (group, now, caps, limit) = (self.msg.group, self.ctx.now, self.ctx.caps, self.limit());
        let penalty = self.ctx.engagement.strike_penalty(now);
        let subject = Subject {
            group,
            user: Some(target),
        };
        let committed = self
            .ctx
            .store
            .commit_violation(&event.key, now, subject, penalty, |snapshot| {
                let offence = Offence {
                    group,
                    user_id: target,
                    rule: RuleId::Manual.as_str(),
                    severity: Severity::default(),
                    action: RuleAction::Ladder,
                };
                let v = verdict::decide(snapshot.record.as_ref(), &offence, self.policy, caps, now);
                let shown = Some((v.after.min(limit), limit));
                let text = i18n::manual_action(self.locale, target, v.measure, reason, shown, snapshot.next_case);
                let mut actions: Vec<Action> = v.action.into_iter().collect();
                actions.push(reply_to(self.msg, text));
                let count = actions.len();
                let audit = self.case(target, v.measure, v.before, v.after, reason);
                let writes = Writes {
                    strikes: v.strikes,
                    actions,
                    audit: Some(audit),
                };
                (writes, (count, v.measure))
            })?;
        let Some(committed) = committed else {
            return Ok(Outcome::Duplicate);
        };
        let ((count, measure), points) = committed.value;
        if points != 0 {
            tracing::info!(%group, user = target, change = points, "points taken away for a strike");
        }
        self.counted(Some(RuleId::Manual.as_str()), measure);
        Ok(Outcome::Acted { actions: count })
    }

    /// `/strikes`: the member's active strikes, read inside the event's transaction.
    fn strikes(&self, event: &Event, target: i64) -> Result<Outcome, PipelineError> {
        let (now, ttl, limit) = (self.ctx.now, self.policy.strike_ttl, self.limit());
        let now_ms = now.as_millisecond();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let rules = self.ctx.rules.load();
        let committed = self
            .ctx
            .store
            .commit(&event.key, now, self.subject(target), |snapshot| {
                let record = snapshot.record.unwrap_or_default();
                let lines: Vec<StrikeLine> = record
                    .active(now, ttl)
                    .map(|s| StrikeLine {
                        age_secs: secs(now_ms.saturating_sub(s.at_ms)),
                        left_secs: secs(s.at_ms.saturating_add(ttl_ms).saturating_sub(now_ms)),
                        rule: rules.filter.display_name(&s.rule, self.locale),
                        weight: s.weight,
                    })
                    .collect();
                let text = i18n::strikes(self.locale, target, record.count(now, ttl), limit, &lines);
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: vec![reply_to(self.msg, text)],
                    audit: None,
                };
                (writes, 1)
            })?;
        Ok(Self::outcome(committed))
    }

    /// `/pardon`: takes back the newest strike, or all.
    fn pardon(&self, event: &Event, target: i64, all: bool) -> Result<Outcome, PipelineError> {
        let (now, ttl, limit) = (self.ctx.now, self.policy.strike_ttl, self.limit());
        let committed = self
            .ctx
            .store
            .commit(&event.key, now, self.subject(target), |snapshot| {
                let record = snapshot.record.unwrap_or_default();
                let before = record.count(now, ttl);
                let take = if all { ladder::Take::All } else { ladder::Take::Newest };
                let (left, removed) = ladder::pardon(&record, take, now, ttl);
                let after = left.as_ref().map_or(0, |r| r.count(now, ttl));
                let (strikes, audit, case) = if removed == 0 {
                    (StrikeWrite::Keep, None, None)
                } else {
                    let strikes = left.map_or(StrikeWrite::Clear, StrikeWrite::Put);
                    let audit = self.case(target, Measure::Pardon { removed }, before, after, "");
                    (strikes, Some(audit), Some(snapshot.next_case))
                };
                let text = i18n::pardoned(self.locale, target, removed, after, limit, case);
                let writes = Writes {
                    strikes,
                    actions: vec![reply_to(self.msg, text)],
                    audit,
                };
                (writes, 1)
            })?;
        Ok(Self::outcome(committed))
    }

    /// Counts a member action in the group statistics (the day's violations, for a manual
    /// strike, and measures).
    fn counted(&self, rule: Option<&str>, measure: Measure) {
        let stats = &self.ctx.reporter.stats;
        let name = crate::service::stats::measure_name(measure);
        match rule {
            Some(rule) => stats.violation(self.msg.group, rule, Some(name), self.ctx.now),
            None => stats.action(self.msg.group, name, self.ctx.now),
        }
    }

    /// `/mute`, `/unmute`, `/kick`: one action on the member, audited and confirmed.
    fn act(
        &self,
        event: &Event,
        target: i64,
        measure: Measure,
        action: Action,
        strikes: StrikeWrite,
    ) -> Result<Outcome, PipelineError> {
        let (now, ttl) = (self.ctx.now, self.policy.strike_ttl);
        let committed = self
            .ctx
            .store
            .commit(&event.key, now, self.subject(target), |snapshot| {
                let before = snapshot.record.as_ref().map_or(0, |r| r.count(now, ttl));
                let after = if strikes == StrikeWrite::Clear { 0 } else { before };
                let text = i18n::manual_action(self.locale, target, measure, "", None, snapshot.next_case);
                let writes = Writes {
                    strikes: strikes.clone(),
                    actions: vec![action.clone(), reply_to(self.msg, text)],
                    audit: Some(self.case(target, measure, before, after, "")),
                };
                (writes, 2)
            })?;
        if committed.is_some() {
            self.counted(None, measure);
        }
        Ok(Self::outcome(committed))
    }
}

fn secs(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}
