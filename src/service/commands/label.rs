//! `/spam`, `/notspam` and `/review`: admins teaching the bot (issue 12 §4).
//!
//! - `/spam` (`/广告`, `/垃圾`), as a reply to a member's message the bot has seen: recalls it
//!   (unless the bot already did), gives the author one strike on the ladder — through
//!   [`verdict::decide`], like any other strike — and records the message as a spam sample.
//!   From then on, a near-duplicate of it is a violation for anyone in every group (rule
//!   `learned`). A message the bot had already punished gets no second strike; it is only
//!   learned.
//! - `/notspam` (`/误判`), as a reply to the member's message, as a reply to the bot's
//!   warning about it, or as `/notspam <case>`: takes back that case's strike (exactly that
//!   one, if it still counts), lifts the case's mute if it is still running, records the
//!   message as an ordinary (ham) sample, and retires the spam samples it matched — the one
//!   the case's `learned` violation named, the one a `/spam` case recorded, and every spam
//!   sample the text is a near-duplicate of — so the mistake does not repeat.
//! - `/review` (`/复核`): the group's review list.
//!
//! Each label is one transaction with its event: the sample, the retired samples, the
//! strikes, the audit case (with the sample's id) and the answer. The in-memory index is
//! updated only after that transaction committed.

use crate::domain::action::Action;
use crate::domain::audit::{self, AuditEntry, Label, Measure};
use crate::domain::effects::{StrikeWrite, Subject, Writes};
use crate::domain::event::{Event, GroupMessage};
use crate::domain::learning::SampleLabel;
use crate::domain::logfield::json_list;
use crate::domain::rule::RuleId;
use crate::domain::sink::Outcome;
use crate::domain::strike::Severity;
use crate::policy::filter::{RuleAction, Trust};
use crate::policy::i18n::{self, LabelReply, NotSpamDone, Reply, ReviewLine};
use crate::policy::ladder;
use crate::policy::verdict::{self, Offence};
use crate::service::learning::Prepared;
use crate::service::pipeline::PipelineError;
use crate::store::samples::Labelled;

use super::{Context, NotSpamTarget, Plan, answer, reply_to};

impl Plan<'_> {
    /// `/spam` as a reply to `message_id`.
    pub(super) fn spam(&self, event: &Event, message_id: i64) -> Result<Outcome, PipelineError> {
        let (ctx, msg, locale) = (self.ctx, self.msg, self.locale);
        let group = msg.group;
        let Some(entry) = ctx.learning.recent(group, message_id) else {
            let window_secs = ctx.settings.learning.recent_window.as_secs();
            return answer(
                ctx,
                event,
                msg,
                i18n::label_reply(locale, LabelReply::UnknownMessage { window_secs }),
            );
        };
        let target = entry.user_id;
        if target == event.self_id || entry.role.is_moderator() || ctx.policies.is_super_user(group.platform, target) {
            return answer(ctx, event, msg, i18n::reply(locale, Reply::ProtectedTarget));
        }
        let rules = ctx.rules.load();
        let Some(prepared) = Prepared::of(&rules.filter, &entry.text) else {
            return answer(ctx, event, msg, i18n::label_reply(locale, LabelReply::NoText));
        };
        // Already dealt with (by the filter, or an earlier label), or exempt here: learned,
        // not punished again.
        let punish = entry.case.is_none() && !self.policy.is_exempt(target);
        let recall = punish && !entry.recalled && ctx.caps.recall;
        let (now, caps, limit) = (ctx.now, ctx.caps, self.limit());
        let by = (msg.sender.user_id, msg.sender.name.as_str());
        let penalty = ctx.engagement.strike_penalty(now);
        let committed = ctx.store.commit_labelled(
            &event.key,
            now,
            Subject {
                group,
                user: Some(target),
            },
            &[],
            penalty,
            None,
            |snapshot, sample_id, _| {
                let mut actions = Vec::new();
                if recall {
                    actions.push(Action::Recall { group, message_id });
                }
                let (strikes, measure, before, after, count) = if punish {
                    let offence = Offence {
                        group,
                        user_id: target,
                        rule: RuleId::Manual.as_str(),
                        severity: Severity::default(),
                        action: RuleAction::Ladder,
                    };
                    let v = verdict::decide(snapshot.record.as_ref(), &offence, self.policy, caps, now);
                    actions.extend(v.action);
                    let count = Some((v.after.min(limit), limit));
                    (v.strikes, v.measure, v.before, v.after, count)
                } else {
                    let n = snapshot
                        .record
                        .as_ref()
                        .map_or(0, |r| r.count(now, self.policy.strike_ttl));
                    (StrikeWrite::Keep, Measure::Labeled { spam: true }, n, n, None)
                };
                let case = snapshot.next_case;
                let text = i18n::spam_labelled(locale, target, measure, count, case, sample_id, entry.case);
                actions.push(reply_to(msg, text));
                let mut audit = self.case(target, measure, before, after, i18n::spam_reason(locale));
                audit.user_name.clone_from(&entry.name);
                audit.excerpt = audit::excerpt(&entry.text);
                audit.message_id = Some(message_id);
                if recall {
                    audit.recalled = vec![message_id];
                }
                audit.label = Some(Label {
                    spam: true,
                    sample: sample_id,
                    retired: Vec::new(),
                });
                let sample = prepared.sample(SampleLabel::Spam, by, group, now.as_millisecond(), case);
                let count = actions.len();
                let writes = Writes {
                    strikes,
                    actions,
                    audit: Some(audit),
                };
                (writes, Some(sample), (count, measure, punish))
            },
        )?;
        let Some(committed) = committed else {
            return Ok(Outcome::Duplicate);
        };
        let Labelled {
            value: (count, measure, punished),
            sample,
            points,
            ..
        } = committed.value;
        if points != 0 {
            tracing::info!(%group, user = target, change = points, "points taken away for a strike");
        }
        ctx.learning
            .learned(sample, &prepared, SampleLabel::Spam, &rules.filter);
        ctx.learning.mark(group, message_id, committed.case, recall);
        ctx.learning.reviewed(group, message_id);
        self.counted(punished.then_some(RuleId::Manual.as_str()), measure);
        tracing::info!(
            %group, user = target, by = msg.sender.user_id, sample, case = committed.case,
            masked = %prepared.masked, "labelled as spam"
        );
        Ok(Outcome::Acted { actions: count })
    }

    /// `/notspam`.
    pub(super) fn not_spam(&self, event: &Event, target: NotSpamTarget) -> Result<Outcome, PipelineError> {
        let (ctx, msg, locale) = (self.ctx, self.msg, self.locale);
        let group = msg.group;
        let window_secs = ctx.settings.learning.recent_window.as_secs();
        let unknown = || {
            answer(
                ctx,
                event,
                msg,
                i18n::label_reply(locale, LabelReply::UnknownMessage { window_secs }),
            )
        };
        // Which case, which message, and its text.
        let (case, message_id) = match target {
            NotSpamTarget::Case(number) => match ctx.store.case(group, number)? {
                Some(case) => {
                    let id = case.message_id;
                    (Some(case), id)
                }
                None => return answer(ctx, event, msg, i18n::reply(locale, Reply::NoSuchCase(number))),
            },
            NotSpamTarget::Reply(id) => match ctx.store.case_of_sent(group, id)? {
                // A reply to the bot's warning: the case it was about.
                Some(number) => match ctx.store.case(group, number)? {
                    Some(case) => {
                        let id = case.message_id;
                        (Some(case), id)
                    }
                    None => return unknown(),
                },
                None => {
                    let case = match ctx.learning.recent(group, id).and_then(|m| m.case) {
                        Some(number) => ctx.store.case(group, number)?,
                        None => ctx.store.case_of_message(group, id)?,
                    };
                    (case, Some(id))
                }
            },
        };
        let kept = message_id.and_then(|id| ctx.learning.recent(group, id));
        let text = match (&kept, &case) {
            (Some(m), _) => m.text.clone(),
            (None, Some(c)) if !c.excerpt.is_empty() => c.excerpt.trim_end_matches('…').to_owned(),
            (None, Some(c)) => {
                return answer(
                    ctx,
                    event,
                    msg,
                    i18n::label_reply(locale, LabelReply::CaseWithoutMessage(c.case)),
                );
            }
            (None, None) => return unknown(),
        };
        let (member, member_name) = match (&case, &kept) {
            (Some(c), _) => (c.user_id, c.user_name.clone()),
            (None, Some(m)) => (m.user_id, m.name.clone()),
            (None, None) => return unknown(),
        };
        let rules = ctx.rules.load();
        let Some(prepared) = Prepared::of(&rules.filter, &text) else {
            return answer(ctx, event, msg, i18n::label_reply(locale, LabelReply::NoText));
        };
        // The spam samples this mistake came from: the one the case named, the one a /spam
        // case recorded, and every one the text resembles.
        let mut retire: Vec<u64> = Vec::new();
        if let Some(c) = &case {
            retire.extend(c.sample);
            retire.extend(c.label.as_ref().filter(|l| l.spam).map(|l| l.sample));
        }
        retire.extend(ctx.learning.matching(&prepared.compact));
        retire.sort_unstable();
        retire.dedup();
        let (now, ttl, limit) = (ctx.now, self.policy.strike_ttl, self.limit());
        let now_ms = now.as_millisecond();
        let unmute = case.as_ref().and_then(|c| match c.measure {
            Measure::Mute { seconds }
                if ctx.caps.mute
                    && c.at_ms
                        .saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
                        > now_ms =>
            {
                Some(Action::Unmute { group, user_id: member })
            }
            _ => None,
        });
        let by = (msg.sender.user_id, msg.sender.name.as_str());
        // The points the pardoned case's strikes took come back, as a case of their own.
        let refund = case.as_ref().and_then(|c| ctx.engagement.points_refund(now, c.case));
        let committed = ctx.store.commit_labelled(
            &event.key,
            now,
            Subject {
                group,
                user: Some(member),
            },
            &retire,
            // A pardon adds no strike, so it costs nothing.
            None,
            refund.as_ref(),
            |snapshot, sample_id, retired| {
                let record = snapshot.record.clone().unwrap_or_default();
                let before = record.count(now, ttl);
                let (left, removed) = match &case {
                    Some(c) => ladder::pardon(
                        &record,
                        ladder::Take::Given {
                            at_ms: c.at_ms,
                            rule: &c.rule,
                        },
                        now,
                        ttl,
                    ),
                    None => (snapshot.record.clone(), 0),
                };
                let strikes = match (removed, left) {
                    (0, _) => StrikeWrite::Keep,
                    (_, Some(left)) => StrikeWrite::Put(left),
                    (_, None) => StrikeWrite::Clear,
                };
                let after = before.saturating_sub(removed);
                let measure = if removed > 0 {
                    Measure::Pardon { removed }
                } else {
                    Measure::Labeled { spam: false }
                };
                let mut actions: Vec<Action> = unmute.iter().cloned().collect();
                // What the pardoned strikes took, in proportion when only some are still
                // active (given back only where engagement is on).
                let points_back = match (&case, &refund) {
                    (Some(c), Some(_)) if removed > 0 && c.points < 0 && !c.dry_run => {
                        let added = i64::from(c.strikes_after.saturating_sub(c.strikes_before)).max(1);
                        c.points.saturating_neg() * i64::from(removed).min(added) / added
                    }
                    _ => 0,
                };
                let done = NotSpamDone {
                    user_id: member,
                    of_case: case.as_ref().map(|c| c.case),
                    removed,
                    left: (after.min(limit), limit),
                    unmuted: unmute.is_some(),
                    sample: sample_id,
                    retired: retired.len(),
                    case: snapshot.next_case,
                    points_back,
                };
                actions.push(reply_to(msg, i18n::not_spam_done(locale, &done)));
                let reason = i18n::not_spam_reason(locale, case.as_ref().map(|c| c.case));
                let mut audit = self.case(member, measure, before, after, &reason);
                audit.user_name.clone_from(&member_name);
                audit.excerpt = audit::excerpt(&text);
                audit.message_id = message_id;
                audit.points = points_back;
                audit.label = Some(Label {
                    spam: false,
                    sample: sample_id,
                    retired: retired.to_vec(),
                });
                let sample = prepared.sample(SampleLabel::Ham, by, group, now_ms, snapshot.next_case);
                let count = actions.len();
                let writes = Writes {
                    strikes,
                    actions,
                    audit: Some(audit),
                };
                (writes, Some(sample), (count, measure))
            },
        )?;
        let Some(committed) = committed else {
            return Ok(Outcome::Duplicate);
        };
        let Labelled {
            value: (count, measure),
            sample,
            retired,
            refund,
            ..
        } = committed.value;
        if let Some((case, change)) = refund {
            tracing::info!(%group, user = member, change, case, "points given back for a pardoned strike");
        }
        ctx.learning.retire(&retired);
        ctx.learning.learned(sample, &prepared, SampleLabel::Ham, &rules.filter);
        if let Some(id) = message_id {
            ctx.learning.reviewed(group, id);
        }
        self.counted(None, measure);
        tracing::info!(
            %group, user = member, by = msg.sender.user_id, sample, retired = %json_list(&retired),
            of_case = case.as_ref().map(|c| c.case), case = committed.case, "labelled as not spam"
        );
        Ok(Outcome::Acted { actions: count })
    }
}

/// `/review`: the group's review list, newest first.
pub(super) fn review(ctx: &Context<'_>, event: &Event, msg: &GroupMessage) -> Result<Outcome, PipelineError> {
    let now_ms = ctx.now.as_millisecond();
    let lines: Vec<ReviewLine> = ctx
        .learning
        .reviews(msg.group)
        .into_iter()
        .map(|item| ReviewLine {
            user_id: item.user_id,
            name: item.user_name,
            age_secs: u64::try_from(now_ms.saturating_sub(item.at_ms) / 1000).unwrap_or(0),
            score: item.score,
            excerpt: audit::excerpt(&item.excerpt),
        })
        .collect();
    answer(ctx, event, msg, i18n::review_list(ctx.settings.messages.locale, &lines))
}

/// How many features `/why` lists.
const WHY_FEATURES: usize = 5;

/// Lines `/why` adds: the model's score, the threshold in force for the member's trust and
/// the features that weighed most (for a case the filter judged, when a model is loaded),
/// and the learned sample the case concerns.
pub(super) fn why_learning(ctx: &Context<'_>, entry: &AuditEntry) -> Result<Vec<String>, PipelineError> {
    let locale = ctx.settings.messages.locale;
    let mut lines = Vec::new();
    if let Some(judged) = entry.judged
        && !entry.excerpt.is_empty()
    {
        let rules = ctx.rules.load();
        let trust = if judged.trusted { Trust::Trusted } else { Trust::New };
        // The excerpt is the message's first 300 characters; the model reads its first 512.
        let report = ctx.learning.with_delta(|delta| {
            rules.filter.inspect_as(
                entry.excerpt.trim_end_matches('…'),
                Some(entry.group),
                trust,
                Some(delta),
            )
        });
        if let Some(explanation) = &report.explanation {
            let features: Vec<(String, f32)> = explanation
                .features
                .iter()
                .take(WHY_FEATURES)
                .map(|c| (c.name.clone(), c.contribution()))
                .collect();
            let score = judged.score.unwrap_or(explanation.score);
            lines.extend(i18n::case_model(
                locale,
                score,
                judged.trusted,
                report.threshold,
                &features,
            ));
        }
    }
    if let Some(id) = entry.sample {
        let sample = ctx.store.sample(id)?;
        lines.push(i18n::case_sample(
            locale,
            id,
            sample.as_ref().map(|s| s.masked.as_str()),
            None,
        ));
    }
    if let Some(label) = &entry.label {
        lines.push(i18n::case_sample(locale, label.sample, None, Some(label.spam)));
    }
    Ok(lines)
}
