//! Pending gates at the door (入群验证): newcomers who were asked a question and have not
//! answered yet.
//!
//! ## Where they live, and why not in a tree of their own
//!
//! A gate is kept in the `state` tree under [`GATE_PREFIX`] followed by the member's key
//! (group, user). `state` is one of the trees of the unit of work ([`Store::unit`]), so each
//! step of a gate is ONE transaction with the outbox items it causes:
//!
//! - **open** ([`Store::open_gate`]): the join event's seen-key, the gate, the mute and the
//!   question. A crash before the commit loses nothing (the webhook has not answered, the
//!   gateway redelivers); after it, everything is there.
//! - **pass** ([`Store::pass_gate`]): the answer's seen-key, the gate's removal, the unmute
//!   and the member's place in the welcome batch (or the welcome itself) — so a member who
//!   passed is greeted exactly once, and a member who did not is never greeted.
//! - **close** ([`Store::close_gate`]): the gate's removal, the kick and the recall of what
//!   the member posted while it was pending. It only closes a gate that is still there and
//!   due, so an answer committed first wins the race with the sweep.
//! - **leave** ([`Store::drop_gate`]): the gate's removal and the question's recall.
//! - **wrong answer** ([`Store::wrong_answer`]): the gate's try count goes up; the answer that
//!   uses up `[verify] max_tries` closes the gate like the deadline, in the same transaction.
//!
//! The question is sent with a receipt ([`question_receipt_name`]): once it is delivered, the
//! outbox keeps its message id in `state`, and whichever step ends the gate (pass, close,
//! wrong answer) takes the receipt and stages the question's recall in its own transaction,
//! so the group is not littered with old questions (a newcomer who leaves too). A question
//! still undelivered when its
//! gate ends is not recalled; its receipt is swept after two days like a welcome's.
//!
//! A new tree would have had to be written in a second transaction (the unit already opens
//! the fourteen trees sled takes in one), and a crash between the two would either kick a
//! member who was never asked or forget one who was muted.
//!
//! The deadline is stored as an absolute time (unix ms, on the daemon's clock), so a restart
//! neither forgets a newcomer nor restarts their countdown: the sweep after the restart kicks
//! exactly those whose deadline has passed. The ids of the member's messages during the gate
//! are kept with it (at most [`MAX_KEPT_MESSAGES`]) for the recall on timeout.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::audit::record_case;
use super::codec::{Record, decode, encode};
use super::keys::decode_member_key;
use super::unit::{Abort, Unit};
use super::welcome::{JoinRecorded, JoinWrite, WelcomeBatch, record_join};
use super::{OutboxItem, Receipt, Store, StoreError, abort, member_key};
use crate::domain::action::Action;
use crate::domain::audit::AuditEntry;
use crate::domain::event::{EventKey, GroupId, Platform};

/// How a pending gate asked its newcomer to answer (kept with the gate, so a press is accepted
/// only from a gate that offered a button).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AskMode {
    /// A typed answer, in the group (gates stored before the mode was kept read as this).
    #[default]
    Typed,
    /// A typed answer, by private message to the bot (muted on QQ).
    Private,
    /// A press of the button under the question (Telegram).
    Button,
}

/// What ending a gate unanswered (deadline or too many wrong answers) stages and records,
/// built by the service from the gate: the actions after the question's recall, and the
/// audit case of the removal (recorded in the same transaction; the actions belong to it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Closing {
    /// The actions (the recalls and the kick; only the unmute when the gate was turned off).
    pub items: Vec<OutboxItem>,
    /// The case of the removal, if there is one (none when the newcomer is let in).
    pub audit: Option<AuditEntry>,
}

/// Records `closing`'s case (if any) in `unit` and stages `first` then its items, tied to the
/// case. Returns how many items were staged.
fn stage_closing(unit: &mut Unit<'_>, first: Option<OutboxItem>, closing: Closing) -> Result<usize, Abort> {
    let case = match closing.audit {
        Some(entry) => Some(record_case(unit, entry)?),
        None => None,
    };
    let items: Vec<OutboxItem> = first
        .into_iter()
        .chain(closing.items.into_iter().map(|mut item| {
            item.case = item.case.or(case);
            item
        }))
        .collect();
    let n = items.len();
    unit.stage_items(items)?;
    Ok(n)
}

/// What every pending gate's key in the `state` tree starts with.
pub const GATE_PREFIX: &[u8] = b"gate/";

/// What the name of every gate question's receipt starts with (the sweep deletes old ones).
pub const QUESTION_RECEIPT_PREFIX: &str = "gate.asked/";

/// The `state` name under which the outbox keeps the receipt of the question asked of
/// `user_id` in `group` (see [`OutboxItem::with_receipt`]).
#[must_use]
pub fn question_receipt_name(group: GroupId, user_id: i64) -> String {
    format!("{QUESTION_RECEIPT_PREFIX}{group}/{user_id}")
}

/// Takes the receipt of the question asked of `user_id` in `group`, if it was delivered, and
/// returns its recall, stamped `now_ms`.
fn take_question(unit: &Unit<'_>, group: GroupId, user_id: i64, now_ms: i64) -> Result<Option<OutboxItem>, Abort> {
    let name = question_receipt_name(group, user_id);
    let Some(bytes) = unit.state.remove(name.as_bytes())? else {
        return Ok(None);
    };
    // An unreadable receipt is dropped: the question then stays, which is harmless.
    Ok(decode::<Receipt>(&bytes).ok().map(|receipt| {
        OutboxItem::new(
            Action::Recall {
                group,
                message_id: receipt.message_id,
            },
            now_ms,
        )
    }))
}

/// The most message ids kept per pending gate (for the recall on timeout); later messages
/// are not recalled (a member who floods while muted is a gateway oddity, and the flood
/// limits still apply to them).
pub const MAX_KEPT_MESSAGES: usize = 50;

/// A newcomer waiting at the gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingGate {
    /// The group.
    pub group: GroupId,
    /// The newcomer.
    pub user_id: i64,
    /// Their name, if the platform said it (for the welcome after they pass).
    pub name: String,
    /// When the gate opened (the join), unix ms.
    pub opened_ms: i64,
    /// When the gate closes unanswered, unix ms (absolute: it survives a restart).
    pub deadline_ms: i64,
    /// The accepted answers, compact normalized (the question is fixed when the gate opens,
    /// so a reload of `rules/verify.toml` does not change what this member must answer).
    pub answers: Vec<String>,
    /// Ids of their messages while the gate is pending (at most [`MAX_KEPT_MESSAGES`]).
    #[serde(default)]
    pub messages: Vec<i64>,
    /// Whether they were muted when the gate opened (so a pass unmutes exactly those).
    #[serde(default)]
    pub muted: bool,
    /// Wrong answers so far (against `[verify] max_tries`).
    #[serde(default)]
    pub tries: u32,
    /// How they were asked to answer (a gate stored before this was kept: typed).
    #[serde(default)]
    pub ask: AskMode,
}

impl Record for PendingGate {
    const WHAT: &'static str = "pending gate";
    const VERSION: u8 = 1;
}

/// The `state` key of `group`'s gate for `user_id`.
fn gate_key(group: GroupId, user_id: i64) -> Vec<u8> {
    let mut key = GATE_PREFIX.to_vec();
    key.extend_from_slice(&member_key(group, user_id));
    key
}

/// What opening a gate did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateOpened {
    /// The join event was already recorded (a redelivery); nothing changed.
    Duplicate,
    /// The gate is stored, with this many outbox items (mute, question, and the recall of
    /// the question of a gate it replaced).
    Opened {
        /// How many.
        actions: usize,
        /// Whether it replaced a gate still pending for the same member (a re-join): the
        /// count of pending gates did not change.
        replaced: bool,
    },
}

/// What a wrong answer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrongAnswer {
    /// The answer event was already recorded (a redelivery); nothing changed.
    Duplicate,
    /// The gate was gone; nothing changed.
    NotPending,
    /// Counted: this many wrong answers so far (the same message seen again is not counted
    /// twice).
    Noted {
        /// Wrong answers so far.
        tries: u32,
    },
    /// That was one wrong answer too many: the gate is closed, with this many outbox items
    /// (the recalls and the kick).
    Removed {
        /// Outbox items staged.
        actions: usize,
    },
}

/// What an answer that passed did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatePassed {
    /// The message was already recorded (a redelivery); nothing changed.
    Duplicate,
    /// The gate was gone (the sweep closed it first, or the member left): nothing changed
    /// but the message's seen-key.
    NotPending,
    /// The gate is removed and the unmute staged; the welcome went as `join` says (`None`:
    /// the group's welcome is off).
    Passed {
        /// What recording the join for the welcome did.
        join: Option<JoinRecorded>,
        /// Outbox items staged in all.
        actions: usize,
    },
}

impl Store {
    /// Opens `gate` for the join event `key`: records the event as seen, stores the gate
    /// (replacing an older gate of the same member: a re-join starts over, and the older
    /// gate's question is recalled first, before the new question takes its receipt's name)
    /// and stages `items` (the mute and the question), in one transaction.
    pub fn open_gate(
        &self,
        key: &EventKey,
        now: Timestamp,
        gate: &PendingGate,
        items: Vec<OutboxItem>,
    ) -> Result<GateOpened, StoreError> {
        let gate_key = gate_key(gate.group, gate.user_id);
        let value = encode(gate)?;
        let opened = self.unit(Some(key), now, |unit| {
            let replaced = unit.state.replace(gate_key.as_slice(), value.as_slice())?.is_some();
            let old_question = if replaced {
                take_question(unit, gate.group, gate.user_id, now.as_millisecond())?
            } else {
                None
            };
            let actions = items.len() + usize::from(old_question.is_some());
            unit.stage_items(old_question)?;
            unit.stage_items(items.iter().cloned())?;
            Ok(GateOpened::Opened { actions, replaced })
        })?;
        Ok(opened.unwrap_or(GateOpened::Duplicate))
    }

    /// The pending gate of `user_id` in `group`, if any.
    pub fn gate(&self, group: GroupId, user_id: i64) -> Result<Option<PendingGate>, StoreError> {
        self.trees()?
            .state
            .get(gate_key(group, user_id))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Notes `message_id` among the messages `user_id` posted while their gate in `group` is
    /// pending (kept for the recall on timeout; at most [`MAX_KEPT_MESSAGES`]). Returns whether
    /// it was kept.
    pub fn note_gate_message(&self, group: GroupId, user_id: i64, message_id: i64) -> Result<bool, StoreError> {
        let gate_key = gate_key(group, user_id);
        let kept = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            let Some(bytes) = unit.state.get(gate_key.as_slice())? else {
                return Ok(false);
            };
            let mut gate: PendingGate = decode(&bytes).map_err(abort)?;
            if gate.messages.len() >= MAX_KEPT_MESSAGES || gate.messages.contains(&message_id) {
                return Ok(false);
            }
            gate.messages.push(message_id);
            unit.state.insert(gate_key.as_slice(), encode(&gate).map_err(abort)?)?;
            Ok(true)
        })?;
        Ok(kept.unwrap_or(false))
    }

    /// The answer event `key` passed `user_id`'s gate in `group`: records the event as seen,
    /// removes the gate, stages `unmute` (with the acknowledgement of a press, if any), the
    /// recall of the question (when its receipt is kept) and — when `welcome` is given — records the join for
    /// the welcome exactly like [`Store::commit_join`] does for an ungated group (the member
    /// takes their place in the batch, or is greeted at once), in one transaction. `welcome`
    /// builds the greeting from a batch and the group's previous welcome receipt; it may run
    /// more than once, so it must be pure.
    pub fn pass_gate<W>(
        &self,
        key: &EventKey,
        now: Timestamp,
        (group, user_id): (GroupId, i64),
        unmute: Vec<OutboxItem>,
        welcome: Option<(&JoinWrite, W)>,
    ) -> Result<GatePassed, StoreError>
    where
        W: Fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>,
    {
        let gate_key = gate_key(group, user_id);
        let passed = self.unit(Some(key), now, |unit| {
            if unit.state.remove(gate_key.as_slice())?.is_none() {
                return Ok(GatePassed::NotPending);
            }
            let before = unit.staged();
            unit.stage_items(unmute.iter().cloned())?;
            let question = take_question(unit, group, user_id, now.as_millisecond())?;
            unit.stage_items(question)?;
            let join = match &welcome {
                Some((join, build)) => Some(record_join(unit, now, join, build)?),
                None => None,
            };
            Ok(GatePassed::Passed {
                join,
                actions: unit.staged() - before,
            })
        })?;
        Ok(passed.unwrap_or(GatePassed::Duplicate))
    }

    /// Closes `user_id`'s gate in `group` if it is still pending and due at `now_ms`: removes
    /// it and stages the recall of the question (when its receipt is kept) and what `build`
    /// makes of it (the kick and the recalls, with the removal's audit case), in one
    /// transaction.
    /// Returns the number of items staged, or `None` when there was nothing to close (the
    /// member answered, left or re-joined meanwhile).
    pub fn close_gate(
        &self,
        group: GroupId,
        user_id: i64,
        now_ms: i64,
        build: impl Fn(&PendingGate) -> Closing,
    ) -> Result<Option<usize>, StoreError> {
        let gate_key = gate_key(group, user_id);
        // The items carry their own times; the unit's clock stamps nothing here.
        let closed = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            let Some(bytes) = unit.state.get(gate_key.as_slice())? else {
                return Ok(None);
            };
            let gate: PendingGate = decode(&bytes).map_err(abort)?;
            // Due at the deadline itself, as `policy::gate::due` decides (the store may not
            // name the policy layer).
            if now_ms < gate.deadline_ms {
                return Ok(None);
            }
            unit.state.remove(gate_key.as_slice())?;
            let question = take_question(unit, group, user_id, now_ms)?;
            let n = stage_closing(unit, question, build(&gate))?;
            Ok(Some(n))
        })?;
        Ok(closed.flatten())
    }

    /// A wrong answer of `user_id` to their gate in `group`: the try count goes up and
    /// `message_id` (an answer posted in the group) is noted for the recall. When `exhausted`
    /// says the new count is one too many, the gate is closed instead, exactly like
    /// [`Store::close_gate`] (the question's recall, then what `build` makes of it, with its
    /// audit case), so the last wrong answer and the removal are one transaction. With `key` (a private answer,
    /// which nothing else records), the event is recorded as seen in the same transaction. A
    /// group message already noted (a redelivery) is not counted again.
    pub fn wrong_answer(
        &self,
        key: Option<&EventKey>,
        now_ms: i64,
        (group, user_id): (GroupId, i64),
        message_id: Option<i64>,
        exhausted: impl Fn(u32) -> bool,
        build: impl Fn(&PendingGate) -> Closing,
    ) -> Result<WrongAnswer, StoreError> {
        let gate_key = gate_key(group, user_id);
        let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let done = self.unit(key, now, |unit| {
            let Some(bytes) = unit.state.get(gate_key.as_slice())? else {
                return Ok(WrongAnswer::NotPending);
            };
            let mut gate: PendingGate = decode(&bytes).map_err(abort)?;
            if let Some(id) = message_id {
                if gate.messages.contains(&id) {
                    return Ok(WrongAnswer::Noted { tries: gate.tries });
                }
                if gate.messages.len() < MAX_KEPT_MESSAGES {
                    gate.messages.push(id);
                }
            }
            gate.tries = gate.tries.saturating_add(1);
            if exhausted(gate.tries) {
                unit.state.remove(gate_key.as_slice())?;
                let question = take_question(unit, group, user_id, now_ms)?;
                let actions = stage_closing(unit, question, build(&gate))?;
                return Ok(WrongAnswer::Removed { actions });
            }
            unit.state.insert(gate_key.as_slice(), encode(&gate).map_err(abort)?)?;
            Ok(WrongAnswer::Noted { tries: gate.tries })
        })?;
        Ok(done.unwrap_or(WrongAnswer::Duplicate))
    }

    /// Records the event `key` (a button press that lets no one in, or the group message that
    /// used up a newcomer's tries) with `items` (a press's acknowledgement), in one
    /// transaction. Returns `false` for a redelivery: nothing changed.
    pub fn answer_press(&self, key: &EventKey, now: Timestamp, items: Vec<OutboxItem>) -> Result<bool, StoreError> {
        let done = self.unit(Some(key), now, |unit| unit.stage_items(items.iter().cloned()))?;
        Ok(done.is_some())
    }

    /// Forgets `user_id`'s gate in `group` (they left or were removed) and stages the recall
    /// of its question (when its receipt is kept), in one transaction. Returns `None` when no
    /// gate was pending, else the number of items staged.
    pub fn drop_gate(&self, group: GroupId, user_id: i64, now_ms: i64) -> Result<Option<usize>, StoreError> {
        let gate_key = gate_key(group, user_id);
        let dropped = self.unit(None, Timestamp::UNIX_EPOCH, |unit| {
            if unit.state.remove(gate_key.as_slice())?.is_none() {
                return Ok(None);
            }
            let question = take_question(unit, group, user_id, now_ms)?;
            let n = usize::from(question.is_some());
            unit.stage_items(question)?;
            Ok(Some(n))
        })?;
        Ok(dropped.flatten())
    }

    /// The pending gates of `user_id` on `platform`, in any group (a newcomer answering by
    /// private message names no group). Scans the gates' keys (at most `[limits]
    /// verify_pending` of them) and decodes only that member's.
    pub fn gates_of(&self, platform: Platform, user_id: i64) -> Result<Vec<PendingGate>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.state.scan_prefix(GATE_PREFIX) {
            let (key, value) = entry?;
            let member = key.get(GATE_PREFIX.len()..).and_then(decode_member_key);
            if member.is_some_and(|(group, user)| group.platform == platform && user == user_id) {
                out.push(decode(&value)?);
            }
        }
        Ok(out)
    }

    /// Every pending gate, in key order.
    pub fn pending_gates(&self) -> Result<Vec<PendingGate>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.state.scan_prefix(GATE_PREFIX) {
            let (_, value) = entry?;
            out.push(decode(&value)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::Action;

    /// A welcome builder's type, for a pass without a welcome.
    type Build = fn(&WelcomeBatch, Option<Receipt>) -> Vec<OutboxItem>;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        (dir, store)
    }

    fn gate(user_id: i64, deadline_ms: i64) -> PendingGate {
        PendingGate {
            group: GroupId::qq(5),
            user_id,
            name: String::new(),
            opened_ms: 0,
            deadline_ms,
            answers: vec!["rust".into()],
            messages: Vec::new(),
            muted: true,
            tries: 0,
            ask: AskMode::Private,
        }
    }

    fn kick(gate: &PendingGate) -> Closing {
        Closing {
            items: vec![OutboxItem::new(
                Action::Kick {
                    group: gate.group,
                    user_id: gate.user_id,
                    ban: false,
                },
                0,
            )],
            audit: Some(AuditEntry::new(
                gate.group,
                0,
                gate.user_id,
                crate::domain::audit::Actor::Auto,
                "verify",
                crate::domain::audit::Measure::Kick,
            )),
        }
    }

    #[test]
    fn a_gate_opens_once_keeps_bounded_messages_and_closes_only_when_due() {
        let (_dir, store) = store();
        let key = EventKey::derive("join 1");
        let opened = store.open_gate(&key, Timestamp::UNIX_EPOCH, &gate(7, 1_000), Vec::new());
        assert_eq!(
            opened.expect("open"),
            GateOpened::Opened {
                actions: 0,
                replaced: false
            }
        );
        let again = store.open_gate(&key, Timestamp::UNIX_EPOCH, &gate(7, 9_000), Vec::new());
        assert_eq!(again.expect("open"), GateOpened::Duplicate);
        for id in 0..(MAX_KEPT_MESSAGES as i64 + 5) {
            store.note_gate_message(GroupId::qq(5), 7, id).expect("note");
        }
        let kept = store.gate(GroupId::qq(5), 7).expect("read").expect("pending");
        assert_eq!(
            store.gates_of(Platform::Qq, 7).expect("scan"),
            std::slice::from_ref(&kept)
        );
        assert!(store.gates_of(Platform::Telegram, 7).expect("scan").is_empty());
        assert!(store.gates_of(Platform::Qq, 70).expect("scan").is_empty());
        assert_eq!(kept.messages.len(), MAX_KEPT_MESSAGES);
        assert_eq!(kept.deadline_ms, 1_000, "the redelivery changed nothing");
        assert_eq!(store.close_gate(GroupId::qq(5), 7, 999, kick).expect("close"), None);
        assert_eq!(
            store.close_gate(GroupId::qq(5), 7, 1_000, kick).expect("close"),
            Some(1)
        );
        assert_eq!(store.close_gate(GroupId::qq(5), 7, 1_000, kick).expect("close"), None);
        assert!(store.pending_gates().expect("scan").is_empty());
    }

    #[test]
    fn a_gate_stored_before_the_ask_mode_was_kept_reads_as_typed() {
        let mut stored = serde_json::to_value(gate(7, 1_000)).expect("json");
        stored.as_object_mut().expect("object").remove("ask");
        stored["v"] = serde_json::json!(1);
        let old: PendingGate = decode(&serde_json::to_vec(&stored).expect("bytes")).expect("decode");
        assert_eq!(old.ask, AskMode::Typed);
        let kept: PendingGate = decode(&encode(&gate(7, 1_000)).expect("encode")).expect("decode");
        assert_eq!(kept.ask, AskMode::Private);
    }

    #[test]
    fn a_rejoin_while_gated_recalls_the_first_question_and_replaces_the_gate() {
        let (_dir, store) = store();
        let (g, user) = (GroupId::qq(5), 7);
        store
            .open_gate(
                &EventKey::derive("join a"),
                Timestamp::UNIX_EPOCH,
                &gate(user, 1_000),
                Vec::new(),
            )
            .expect("open");
        let receipt = encode(&Receipt::new(77, 10)).expect("encode");
        store
            .set_state(&question_receipt_name(g, user), &receipt)
            .expect("receipt");
        let again = store
            .open_gate(
                &EventKey::derive("join b"),
                Timestamp::UNIX_EPOCH,
                &gate(user, 9_000),
                Vec::new(),
            )
            .expect("open");
        assert_eq!(
            again,
            GateOpened::Opened {
                actions: 1,
                replaced: true
            }
        );
        let staged: Vec<Action> = store
            .outbox()
            .pending()
            .expect("outbox")
            .into_iter()
            .map(|(_, item)| item.action)
            .collect();
        assert_eq!(
            staged,
            [Action::Recall {
                group: g,
                message_id: 77
            }]
        );
        assert_eq!(store.pending_gates().expect("scan").len(), 1);
        assert_eq!(store.gate(g, user).expect("read").expect("pending").deadline_ms, 9_000);
    }

    #[test]
    fn a_pass_removes_the_gate_so_the_sweep_finds_nothing_to_close() {
        let (_dir, store) = store();
        store
            .open_gate(
                &EventKey::derive("join 2"),
                Timestamp::UNIX_EPOCH,
                &gate(8, 1_000),
                Vec::new(),
            )
            .expect("open");
        let none: Option<(&JoinWrite, Build)> = None;
        let passed = store
            .pass_gate(
                &EventKey::derive("msg 1"),
                Timestamp::UNIX_EPOCH,
                (GroupId::qq(5), 8),
                Vec::new(),
                none,
            )
            .expect("pass");
        assert_eq!(passed, GatePassed::Passed { join: None, actions: 0 });
        assert_eq!(store.close_gate(GroupId::qq(5), 8, 5_000, kick).expect("close"), None);
        assert!(store.gates_of(Platform::Qq, 8).expect("scan").is_empty(), "passed");
        let late = store
            .pass_gate(
                &EventKey::derive("msg 2"),
                Timestamp::UNIX_EPOCH,
                (GroupId::qq(5), 8),
                Vec::new(),
                none,
            )
            .expect("pass");
        assert_eq!(late, GatePassed::NotPending);
    }

    #[test]
    fn wrong_answers_count_once_each_and_the_last_closes_the_gate_with_the_questions_recall() {
        let (_dir, store) = store();
        let (g, user) = (GroupId::qq(5), 9);
        store
            .open_gate(
                &EventKey::derive("join 3"),
                Timestamp::UNIX_EPOCH,
                &gate(user, 1_000),
                Vec::new(),
            )
            .expect("open");
        // The outbox delivered the question as message 77 and kept its receipt.
        let receipt = encode(&Receipt::new(77, 10)).expect("encode");
        store
            .set_state(&question_receipt_name(g, user), &receipt)
            .expect("receipt");
        let third = |tries: u32| tries >= 3;
        let wrong = |key: Option<&EventKey>, message: Option<i64>| {
            store
                .wrong_answer(key, 500, (g, user), message, third, kick)
                .expect("wrong answer")
        };
        assert_eq!(wrong(None, Some(100)), WrongAnswer::Noted { tries: 1 });
        assert_eq!(
            wrong(None, Some(100)),
            WrongAnswer::Noted { tries: 1 },
            "the same message"
        );
        let private = EventKey::derive("private 1");
        assert_eq!(wrong(Some(&private), None), WrongAnswer::Noted { tries: 2 });
        assert_eq!(wrong(Some(&private), None), WrongAnswer::Duplicate, "a redelivery");
        let kept = store.gate(g, user).expect("read").expect("pending");
        assert_eq!((kept.tries, kept.messages.as_slice()), (2, [100].as_slice()));

        assert_eq!(wrong(None, Some(101)), WrongAnswer::Removed { actions: 2 });
        assert_eq!(store.gate(g, user).expect("read"), None);
        assert_eq!(
            store.state(&question_receipt_name(g, user)).expect("read"),
            None,
            "taken"
        );
        let pending = store.outbox().pending().expect("outbox");
        let cases: Vec<Option<u64>> = pending.iter().map(|(_, item)| item.case).collect();
        assert_eq!(cases, [None, Some(1)], "the kick belongs to the removal's case");
        let case = store.case(g, 1).expect("read").expect("the removal's case");
        assert_eq!((case.rule.as_str(), case.user_id), ("verify", user));
        let staged: Vec<Action> = pending.into_iter().map(|(_, item)| item.action).collect();
        assert_eq!(
            staged,
            [
                Action::Recall {
                    group: g,
                    message_id: 77
                },
                Action::Kick {
                    group: g,
                    user_id: user,
                    ban: false
                }
            ]
        );
        assert_eq!(wrong(None, Some(102)), WrongAnswer::NotPending);
    }
}
