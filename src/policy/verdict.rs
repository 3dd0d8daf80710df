//! The verdict for a violation: strikes, the rung reached, what the platform can carry out
//! of it, and what the member is told. One pure function, [`decide`], used by every path
//! that punishes — the filter's and flood's violations in the pipeline, and an admin's
//! `/warn` — so a rung means the same thing whoever reached it.
//!
//! What a violation does depends on its rule's action ([`RuleAction`]):
//!
//! | action   | strikes          | measure                                              |
//! |----------|------------------|------------------------------------------------------|
//! | `ladder` | + severity       | the rung: warning text, mute, kick or ban            |
//! | `recall` | unchanged        | none (the caller recalls)                            |
//! | `warn`   | unchanged        | a notice (no count)                                  |
//! | `kick`   | cleared          | kick                                                 |
//!
//! A rung the platform cannot carry out falls back to the nearest one it can
//! ([`rung_effect`]): no mute → a warning; no ban → a kick; no kick → a warning. Reaching a
//! rung that removes the member clears their record, so a re-join starts from zero.
//!
//! Invariants (see the tests): `after >= before`; `after == before` unless the action is
//! `ladder`; a [`Telling::Warning`] never shows more strikes than the ladder has rungs; the
//! record is cleared exactly when the measure removes the member.

use jiff::Timestamp;

use crate::domain::action::{Action, Capabilities};
use crate::domain::audit::Measure;
use crate::domain::effects::StrikeWrite;
use crate::domain::event::GroupId;
use crate::domain::strike::{Severity, StrikeRecord};
use crate::policy::filter::RuleAction;
use crate::policy::group::GroupPolicy;
use crate::policy::ladder::{self, Rung};

/// What is being punished.
#[derive(Clone, Copy, Debug)]
pub struct Offence<'a> {
    /// Where.
    pub group: GroupId,
    /// Who.
    pub user_id: i64,
    /// The rule behind it (recorded on the strike).
    pub rule: &'a str,
    /// How many strikes it adds (for [`RuleAction::Ladder`]).
    pub severity: Severity,
    /// What the rule asks for.
    pub action: RuleAction,
}

/// What the member is told when the measure is a text rather than an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Telling {
    /// Nothing to say (an action carries the measure, or only a recall).
    Nothing,
    /// A warning on the ladder: `shown` strikes of `limit`.
    Warning {
        /// Strikes shown to the member (at most `limit`).
        shown: u32,
        /// Rungs of the ladder.
        limit: u32,
    },
    /// A notice without a count (a `warn` rule, or a kick the platform cannot do).
    Notice,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What becomes of the member's strike record.
    pub strikes: StrikeWrite,
    /// The action that carries out the measure (mute, kick, ban), if any.
    pub action: Option<Action>,
    /// The text the member should be shown, if any.
    pub telling: Telling,
    /// The measure, for the audit case.
    pub measure: Measure,
    /// Active strikes before.
    pub before: u32,
    /// Active strikes after.
    pub after: u32,
}

/// The verdict for `offence`, given the member's `record`, the group's `policy`, what the
/// platform `caps` allow, at `now`.
#[must_use]
pub fn decide(
    record: Option<&StrikeRecord>,
    offence: &Offence<'_>,
    policy: &GroupPolicy,
    caps: Capabilities,
    now: Timestamp,
) -> Verdict {
    let empty = StrikeRecord::default();
    let record = record.unwrap_or(&empty);
    let current = record.count(now, policy.strike_ttl);
    let limit = u32::try_from(policy.ladder.len()).unwrap_or(u32::MAX);
    let unchanged = |measure, telling| Verdict {
        strikes: StrikeWrite::Keep,
        action: None,
        telling,
        measure,
        before: current,
        after: current,
    };
    match offence.action {
        RuleAction::Ladder => {
            let d = ladder::decide(record, offence.severity, offence.rule, now, policy.ladder_policy());
            let (rung, measure, action) = rung_effect(d.rung, offence.group, offence.user_id, caps);
            let strikes = if rung.removes_member() {
                StrikeWrite::Clear
            } else {
                StrikeWrite::Put(d.record)
            };
            let telling = match action {
                Some(_) => Telling::Nothing,
                None => Telling::Warning {
                    shown: d.after.min(limit),
                    limit,
                },
            };
            Verdict {
                strikes,
                action,
                telling,
                measure,
                before: d.before,
                after: d.after,
            }
        }
        RuleAction::Recall => unchanged(Measure::Recall, Telling::Nothing),
        RuleAction::Warn => unchanged(Measure::Warn, Telling::Notice),
        RuleAction::Kick => match rung_effect(Rung::Kick, offence.group, offence.user_id, caps) {
            (Rung::Kick, measure, Some(action)) => Verdict {
                strikes: StrikeWrite::Clear,
                action: Some(action),
                telling: Telling::Nothing,
                measure,
                before: current,
                after: current,
            },
            // The platform cannot remove members: say so to the member instead.
            _ => unchanged(Measure::Warn, Telling::Notice),
        },
    }
}

/// What a rung does on a platform with `caps`: the rung actually applied (after falling back
/// to the nearest one the platform can carry out), its audit measure, and the action — `None`
/// for a warning, whose text the caller writes.
#[must_use]
pub fn rung_effect(rung: Rung, group: GroupId, user_id: i64, caps: Capabilities) -> (Rung, Measure, Option<Action>) {
    let rung = match rung {
        Rung::Mute(_) if !caps.mute => Rung::Warn,
        Rung::Ban if !caps.ban => Rung::Kick,
        rung => rung,
    };
    let rung = match rung {
        Rung::Kick | Rung::Ban if !caps.kick => Rung::Warn,
        rung => rung,
    };
    match rung {
        Rung::Warn => (rung, Measure::Warn, None),
        Rung::Mute(d) => {
            let seconds = d.as_secs().clamp(1, caps.max_mute_secs);
            let action = Action::Mute {
                group,
                user_id,
                seconds,
            };
            (rung, Measure::Mute { seconds }, Some(action))
        }
        Rung::Kick | Rung::Ban => {
            let ban = rung == Rung::Ban;
            let action = Action::Kick { group, user_id, ban };
            (rung, if ban { Measure::Ban } else { Measure::Kick }, Some(action))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::duration::HumanDuration;
    use crate::policy::flood::FloodSettings;
    use crate::policy::group::{JoinPolicy, WelcomePolicy};

    const G: GroupId = GroupId::qq(1);

    fn policy() -> GroupPolicy {
        GroupPolicy {
            ladder: Arc::from(vec![Rung::Warn, Rung::Mute(HumanDuration::from_secs(600)), Rung::Kick]),
            strike_ttl: Duration::from_secs(86_400),
            exempt: Vec::new(),
            dry_run: false,
            flood: FloodSettings::default(),
            welcome: WelcomePolicy {
                enabled: false,
                template: Arc::from(""),
            },
            join: JoinPolicy {
                answers: Arc::from(Vec::<String>::new()),
                reject_blocked: false,
                reject_reason: Arc::from(""),
            },
            gate: crate::policy::gate::GatePolicy {
                enabled: false,
                timeout: Duration::from_secs(300),
                mode: crate::policy::gate::GateMode::Question,
                mute: true,
                button: false,
                max_tries: 3,
            },
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).expect("valid")
    }

    fn offence(action: RuleAction) -> Offence<'static> {
        Offence {
            group: G,
            user_id: 7,
            rule: "ads",
            severity: Severity::default(),
            action,
        }
    }

    /// Walks the ladder from an empty record: warn (told 1/3), mute, kick (record cleared).
    #[test]
    fn the_ladder_is_walked_one_rung_per_strike() {
        let policy = policy();
        let mut record: Option<StrikeRecord> = None;
        let mut measures = Vec::new();
        for _ in 0..3 {
            let v = decide(
                record.as_ref(),
                &offence(RuleAction::Ladder),
                &policy,
                Capabilities::ONEBOT,
                now(),
            );
            assert_eq!(v.after, v.before + 1);
            measures.push((v.measure, v.telling));
            record = match v.strikes {
                StrikeWrite::Put(r) => Some(r),
                StrikeWrite::Clear => None,
                StrikeWrite::Keep => panic!("a ladder strike is written"),
            };
        }
        assert_eq!(
            measures,
            [
                (Measure::Warn, Telling::Warning { shown: 1, limit: 3 }),
                (Measure::Mute { seconds: 600 }, Telling::Nothing),
                (Measure::Kick, Telling::Nothing),
            ]
        );
        assert!(record.is_none(), "a kick clears the record");
    }

    #[test]
    fn actions_other_than_the_ladder_leave_strikes_alone() {
        let policy = policy();
        let no_kick = Capabilities {
            kick: false,
            ban: false,
            ..Capabilities::ONEBOT
        };
        type Row = (RuleAction, Capabilities, Measure, Telling, bool);
        let rows: [Row; 4] = [
            (
                RuleAction::Recall,
                Capabilities::ONEBOT,
                Measure::Recall,
                Telling::Nothing,
                false,
            ),
            (
                RuleAction::Warn,
                Capabilities::ONEBOT,
                Measure::Warn,
                Telling::Notice,
                false,
            ),
            (
                RuleAction::Kick,
                Capabilities::ONEBOT,
                Measure::Kick,
                Telling::Nothing,
                true,
            ),
            (RuleAction::Kick, no_kick, Measure::Warn, Telling::Notice, false),
        ];
        for (action, caps, measure, telling, clears) in rows {
            let v = decide(None, &offence(action), &policy, caps, now());
            assert_eq!((v.measure, v.telling), (measure, telling), "{action:?}");
            assert_eq!(v.before, v.after, "{action:?}");
            assert_eq!(v.strikes == StrikeWrite::Clear, clears, "{action:?}");
        }
    }

    #[test]
    fn rungs_fall_back_to_what_the_platform_can_do() {
        let mute = Rung::Mute(HumanDuration::from_secs(600));
        let full = Capabilities::ONEBOT;
        let no_mute = Capabilities { mute: false, ..full };
        let no_ban = Capabilities { ban: false, ..full };
        let no_kick = Capabilities {
            kick: false,
            ban: false,
            ..full
        };
        let short_mutes = Capabilities {
            max_mute_secs: 60,
            ..full
        };
        let cases = [
            (mute, full, Measure::Mute { seconds: 600 }),
            (mute, no_mute, Measure::Warn),
            (mute, short_mutes, Measure::Mute { seconds: 60 }),
            (Rung::Ban, full, Measure::Ban),
            (Rung::Ban, no_ban, Measure::Kick),
            (Rung::Ban, no_kick, Measure::Warn),
            (Rung::Kick, no_kick, Measure::Warn),
            (Rung::Warn, full, Measure::Warn),
        ];
        for (rung, caps, expected) in cases {
            let (applied, measure, action) = rung_effect(rung, G, 7, caps);
            assert_eq!(measure, expected, "{rung} with {caps:?}");
            assert_eq!(
                action.is_none(),
                applied == Rung::Warn,
                "{rung}: only a warning has no action"
            );
        }
    }
}
