//! `/gban` and `/ungban`: the instance-wide ban list, from a group (super users only).
//!
//! A `/gban` records the ban (its own write, first: see `store::bans` for the order), then,
//! in the command event's unit of work, the audit case and one kick for each group of the
//! member's platform where they were seen (a group in dry run gets a dry-run case instead),
//! with the answer. The outbox sends each kick
//! through the account that keeps its group. From then on the pipeline removes the member
//! wherever they join, ask to join, or speak ([`crate::service::bans`]).
//!
//! A group admin who is not a super user is answered with a pointer to `/kick`; a plain
//! member's `/gban` never gets here (the pipeline treats members' admin commands as ordinary
//! messages).

use crate::domain::audit::{AuditEntry, Measure};
use crate::domain::ban::Ban;
use crate::domain::effects::{StrikeWrite, Subject, Writes};
use crate::domain::event::{Event, GroupMessage, UserRef};
use crate::domain::sink::Outcome;
use crate::policy::i18n::{self, GbanRefusal, LabelReply, Reply};
use crate::service::commands::parse::BanTarget;
use crate::service::commands::{Context, answer, reply_to};
use crate::service::pipeline::PipelineError;

/// The rule name of `/gban` and `/ungban` cases.
const RULE: &str = "gban";

/// Whether the sender may change the instance-wide ban list.
fn is_super_user(ctx: &Context<'_>, msg: &GroupMessage) -> bool {
    ctx.policies.is_super_user(msg.group.platform, msg.sender.user_id)
}

/// `/gban`: see the module docs.
pub(super) fn ban(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    target: BanTarget,
    reason: &str,
) -> Result<Outcome, PipelineError> {
    let locale = ctx.settings.messages.locale;
    if !is_super_user(ctx, msg) {
        tracing::info!(group = %msg.group, by = msg.sender.user_id, "/gban refused: the sender is not a super user");
        return answer(
            ctx,
            event,
            msg,
            i18n::gban_refused(locale, GbanRefusal::AdminNotSuperUser),
        );
    }
    let here = |id| UserRef {
        platform: msg.group.platform,
        id,
    };
    // A member named by mention or reply is in this group, seen by qunguan or not.
    let (user, in_this_group) = match target {
        BanTarget::Mentioned(id) => (here(id), true),
        BanTarget::Id(user) => (user, false),
        BanTarget::Reply(message_id) => match ctx.learning.recent(msg.group, message_id) {
            Some(entry) => (here(entry.user_id), true),
            None => {
                let window_secs = ctx.settings.learning.recent_window.as_secs();
                return answer(
                    ctx,
                    event,
                    msg,
                    i18n::label_reply(locale, LabelReply::UnknownMessage { window_secs }),
                );
            }
        },
    };
    let is_bot = user.platform == msg.group.platform && user.id == event.self_id;
    if is_bot || ctx.policies.is_super_user(user.platform, user.id) {
        return answer(ctx, event, msg, i18n::reply(locale, Reply::ProtectedTarget));
    }
    let now = ctx.now;
    let mut seen = ctx.store.groups_seen(user)?;
    if in_this_group {
        seen.push(msg.group);
    }
    // Groups in dry run get a dry-run case instead of the kick.
    let (kicks, dry_run) = ctx.bans.expel(user, &seen);
    let groups = kicks.len();
    let text = ctx.settings.limits.text();
    let ban = Ban {
        user,
        reason: text.excerpt(reason),
        at_ms: now.as_millisecond(),
        by: format!("{}:{}", msg.group.platform.prefix(), msg.sender.user_id),
    };
    ctx.bans.record(&ban)?;
    let actor = crate::domain::audit::Actor::Admin {
        user_id: msg.sender.user_id,
        name: msg.sender.name.clone(),
    };
    let mut entry = AuditEntry::new(
        msg.group,
        now.as_millisecond(),
        user.id,
        actor.clone(),
        RULE,
        Measure::GlobalBan,
    );
    entry.reason = ban.reason.clone();
    // The member banned, as a platform id: a `/gban qq:…` sent in a Telegram chat bans a
    // QQ member, whose id alone would be misread as one of this chat.
    entry.excerpt = user.to_string();
    let subject = Subject {
        group: msg.group,
        user: None,
    };
    let committed = ctx.store.commit(&event.key, now, Some(subject), |snapshot| {
        let mut actions = kicks.clone();
        actions.push(reply_to(msg, i18n::gbanned(locale, user, groups, snapshot.next_case)));
        let writes = Writes {
            strikes: StrikeWrite::Keep,
            actions,
            audit: Some(entry.clone()),
        };
        (writes, ())
    })?;
    let Some(committed) = committed else {
        return Ok(Outcome::Duplicate);
    };
    ctx.bans.record_dry_run(&ban, &dry_run, &actor, now)?;
    tracing::info!(%user, groups, case = ?committed.case, by = msg.sender.user_id, "member banned in every group");
    Ok(Outcome::Acted { actions: groups + 1 })
}

/// `/ungban`: lifts the ban (its own write first), then the case and the answer.
pub(super) fn unban(
    ctx: &Context<'_>,
    event: &Event,
    msg: &GroupMessage,
    user: UserRef,
) -> Result<Outcome, PipelineError> {
    let locale = ctx.settings.messages.locale;
    if !is_super_user(ctx, msg) {
        return answer(
            ctx,
            event,
            msg,
            i18n::gban_refused(locale, GbanRefusal::AdminNotSuperUser),
        );
    }
    let Some(lifted) = ctx.bans.lift(user)? else {
        return answer(
            ctx,
            event,
            msg,
            i18n::gban_refused(locale, GbanRefusal::NotBanned(user)),
        );
    };
    let now = ctx.now;
    let mut entry = AuditEntry::new(
        msg.group,
        now.as_millisecond(),
        user.id,
        crate::domain::audit::Actor::Admin {
            user_id: msg.sender.user_id,
            name: msg.sender.name.clone(),
        },
        RULE,
        Measure::GlobalUnban,
    );
    entry.reason = lifted.reason;
    entry.excerpt = user.to_string();
    let subject = Subject {
        group: msg.group,
        user: None,
    };
    // The platform's own ban goes too where one was left (Telegram), so the member may join
    // again; it is queued with the case.
    let unbans = ctx.bans.readmit(user)?;
    let committed = ctx.store.commit(&event.key, now, Some(subject), |snapshot| {
        let mut actions = unbans.clone();
        actions.push(reply_to(msg, i18n::ungbanned(locale, user, snapshot.next_case)));
        let writes = Writes {
            strikes: StrikeWrite::Keep,
            actions,
            audit: Some(entry.clone()),
        };
        (writes, ())
    })?;
    if committed.is_none() {
        return Ok(Outcome::Duplicate);
    }
    tracing::info!(%user, by = msg.sender.user_id, "global ban lifted");
    Ok(Outcome::Acted { actions: 1 })
}
