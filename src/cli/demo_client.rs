//! The demo's gateway client: instead of calling a chat platform it prints what the bot does.
//!
//! `qunguan demo` runs the real pipeline, store and outbox; the outbox delivers through
//! [`Gateways`](crate::gateway::Gateways) as always, and this client is the gateway at the end of that
//! path. So whatever the daemon would send — a recall, a warning, a mute, a kick, a welcome,
//! a reminder, a scheduled post — shows up here, through the same code, and nothing the demo
//! prints is decided anywhere else.
//!
//! The client also plays the group's side: it remembers who is who ([`Roster`]) so it can
//! print names instead of ids, which messages it was asked to recall, and who is muted or
//! removed, so the demo can refuse a muted member's message as QQ would.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::action::{Action, OutgoingMessage, Part};
use crate::domain::clock::SharedClock;
use crate::domain::locale::Locale;
use crate::gateway::{Call, Delivery, DirectClient, GatewayError};
use crate::policy::i18n;

/// Who is in the demo group and what was said.
#[derive(Debug, Default)]
pub struct Roster {
    names: HashMap<i64, String>,
    /// Every message by id: who sent it (the bot is `None`) and its text.
    messages: HashMap<i64, (Option<i64>, String)>,
    /// Muted members: until when (unix ms).
    muted_until: HashMap<i64, i64>,
    /// Members no longer in the group: removed by the bot (`true` for a ban) or gone.
    removed: HashMap<i64, bool>,
    next_message_id: i64,
}

impl Roster {
    /// The member's name, or their id if unknown.
    #[must_use]
    pub fn name(&self, user_id: i64) -> String {
        self.names.get(&user_id).cloned().unwrap_or_else(|| user_id.to_string())
    }

    /// Adds or renames a member; they are no longer removed.
    pub fn add(&mut self, user_id: i64, name: &str) {
        self.names.insert(user_id, name.to_owned());
        self.removed.remove(&user_id);
    }

    /// Records a message and returns its new id (`sender` `None` = the bot).
    pub fn message(&mut self, sender: Option<i64>, text: &str) -> i64 {
        self.next_message_id += 1;
        let id = self.next_message_id;
        self.messages.insert(id, (sender, text.to_owned()));
        id
    }

    /// Until when (unix ms) the member is muted, if they are at `now_ms`.
    #[must_use]
    pub fn muted_until(&self, user_id: i64, now_ms: i64) -> Option<i64> {
        self.muted_until.get(&user_id).copied().filter(|&until| until > now_ms)
    }

    /// Whether the member is out of the group (`Some(true)`: banned).
    #[must_use]
    pub fn removed(&self, user_id: i64) -> Option<bool> {
        self.removed.get(&user_id).copied()
    }

    /// Forgets a member who left.
    pub fn leave(&mut self, user_id: i64) {
        self.removed.insert(user_id, false);
        self.muted_until.remove(&user_id);
    }
}

/// The demo gateway: prints each action to its output and keeps the [`Roster`].
pub struct DemoClient {
    out: Mutex<Box<dyn Write + Send>>,
    roster: Mutex<Roster>,
    clock: SharedClock,
    locale: Locale,
}

impl std::fmt::Debug for DemoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoClient").finish_non_exhaustive()
    }
}

/// How every line the bot's actions print begins.
pub const BOT_PREFIX: &str = "  【群管】";

impl DirectClient for DemoClient {
    fn execute<'a>(&'a self, action: &'a Action) -> Call<'a> {
        Box::pin(self.deliver(action))
    }
}

impl DemoClient {
    /// A client printing to `out`; durations read in `locale`, mutes end on `clock`.
    #[must_use]
    pub fn new(out: Box<dyn Write + Send>, clock: SharedClock, locale: Locale) -> Arc<Self> {
        Arc::new(Self {
            out: Mutex::new(out),
            roster: Mutex::new(Roster::default()),
            clock,
            locale,
        })
    }

    /// The roster, for the demo driver.
    pub fn roster(&self) -> MutexGuard<'_, Roster> {
        self.roster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prints one line (the driver's echo, notices) in order with the bot's lines. A broken
    /// pipe is ignored: the demo keeps running, with nowhere to print.
    pub fn print(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Prints a prompt (no line break) for an interactive demo.
    pub fn prompt(&self, prompt: &str) {
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
    }

    /// Carries out `action` in the simulated group: prints it, updates the roster.
    async fn deliver(&self, action: &Action) -> Result<Delivery, GatewayError> {
        let now_ms = self.clock.now().as_millisecond();
        let (line, delivery) = {
            let mut roster = self.roster();
            match action {
                Action::Send { message, reply_to, .. } => {
                    let text = render(message, &roster);
                    let id = roster.message(None, &text);
                    let quoted = reply_to
                        .and_then(|to| roster.messages.get(&to))
                        .map(|(sender, _)| sender.map_or_else(|| "群管".to_owned(), |s| roster.name(s)));
                    let head = match quoted {
                        Some(who) => format!("{BOT_PREFIX}回复 {who}："),
                        None => format!("{BOT_PREFIX}说："),
                    };
                    // Continuation lines line up under the text.
                    let indent = " ".repeat(8);
                    let body = text.replace('\n', &format!("\n{indent}"));
                    (format!("{head}{body}"), Delivery { message_id: Some(id) })
                }
                Action::Recall { message_id, .. } => {
                    let line = match roster.messages.get(message_id) {
                        Some((Some(sender), text)) => {
                            format!("{BOT_PREFIX}撤回了 {} 的消息「{text}」", roster.name(*sender))
                        }
                        Some((None, _)) => format!("{BOT_PREFIX}撤回了自己的一条消息"),
                        None => format!("{BOT_PREFIX}撤回了消息 #{message_id}"),
                    };
                    (line, Delivery::default())
                }
                Action::Mute { user_id, seconds, .. } => {
                    let ms = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
                    roster.muted_until.insert(*user_id, now_ms.saturating_add(ms));
                    let line = format!(
                        "{BOT_PREFIX}禁言 {} {}",
                        roster.name(*user_id),
                        i18n::duration(self.locale, *seconds)
                    );
                    (line, Delivery::default())
                }
                Action::Unmute { user_id, .. } => {
                    roster.muted_until.remove(user_id);
                    (
                        format!("{BOT_PREFIX}解除了 {} 的禁言", roster.name(*user_id)),
                        Delivery::default(),
                    )
                }
                Action::Kick { user_id, ban, .. } => {
                    roster.removed.insert(*user_id, *ban);
                    roster.muted_until.remove(user_id);
                    let how = if *ban {
                        "移出本群并拒绝其再次加入"
                    } else {
                        "移出本群"
                    };
                    (
                        format!("{BOT_PREFIX}将 {} {how}", roster.name(*user_id)),
                        Delivery::default(),
                    )
                }
                Action::AnswerJoinRequest {
                    user_id,
                    approve,
                    reason,
                    ..
                } => {
                    let name = roster.name(*user_id);
                    let line = if *approve {
                        format!("{BOT_PREFIX}同意了 {name} 的入群申请")
                    } else if reason.is_empty() {
                        format!("{BOT_PREFIX}拒绝了 {name} 的入群申请")
                    } else {
                        format!("{BOT_PREFIX}拒绝了 {name} 的入群申请：{reason}")
                    };
                    (line, Delivery::default())
                }
                // A press's acknowledgement shows nothing in the group.
                Action::AnswerButton { .. } | Action::Unban { .. } => return Ok(Delivery::default()),
            }
        };
        self.print(&line);
        Ok(delivery)
    }
}

/// A message as members read it: mentions as `@name`.
fn render(message: &OutgoingMessage, roster: &Roster) -> String {
    let mut out = String::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => out.push_str(text),
            Part::Mention { user_id, .. } => {
                out.push('@');
                out.push_str(&roster.name(*user_id));
            }
        }
    }
    out
}
