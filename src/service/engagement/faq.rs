//! Keyword answers (关键词回复): `rules/replies.toml` and the answers admins add in the group
//! with `/问答 add`.
//!
//! The pipeline asks [`Faq::answer_for`] about every message the filter and the flood check
//! let through (never the bot's own, never a flagged one). Keywords were normalized once, at
//! load (the file's) or when added (the admins'), and the message is normalized once, only
//! when the group has answers at all; matching is then a substring search per keyword.
//!
//! A keyword is answered at most once per its cooldown per group (the file's `cooldown`, or
//! `[engagement] faq_cooldown`), so a burst of the same question gets one answer. The
//! cooldowns live in a bounded map ([`MAX_COOLDOWNS`], `qunguan_engagement_faq_cooldowns`);
//! expired entries are dropped when it fills, and if it is still full the answer is not
//! given (never an unbounded map). Answers are sent through the outbox, so the send governor
//! applies. The admins' answers are kept in memory, per group (at most [`MAX_ADMIN_REPLIES`]),
//! read from the store at start and changed with the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::Timestamp;

use crate::config::Settings;
use crate::config::rules::Rules;
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::bounds::Bound;
use crate::domain::event::{EventKey, GroupId, GroupMessage};
use crate::domain::locale::Locale;
use crate::domain::metrics::Metrics;
use crate::domain::sink::Outcome;
use crate::policy::i18n;
use crate::policy::normalize::{NormalizeOptions, Normalizer};
use crate::store::{AdminReply, Store, StoreError};

/// The most keyword answers admins may add in one group.
pub const MAX_ADMIN_REPLIES: usize = 50;

/// The default of `[limits] faq_cooldowns`: the most keyword cooldowns kept at once.
pub const MAX_COOLDOWNS: usize = 10_000;

/// An admin's answer, ready to match.
#[derive(Clone, Debug)]
struct Compiled {
    number: u64,
    keyword: String,
    compact: String,
    answer: String,
}

/// Keyword answers of the groups and their cooldowns.
pub struct Faq {
    store: Store,
    metrics: Arc<Metrics>,
    locale: Locale,
    /// The settings (`[engagement]`'s `faq_*` texts).
    settings: Arc<Settings>,
    enabled: bool,
    default_cooldown: Duration,
    normalizer: Normalizer,
    admin: RwLock<HashMap<GroupId, Vec<Compiled>>>,
    /// When each (group, keyword) was last answered, unix ms.
    cooldowns: Mutex<HashMap<(GroupId, String), (i64, i64)>>,
    /// The size and capacity of `cooldowns` (`[limits] faq_cooldowns`).
    cooldowns_bound: Arc<Bound>,
}

impl std::fmt::Debug for Faq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faq").finish_non_exhaustive()
    }
}

impl Faq {
    /// The answers, the admins' read once from the store.
    #[must_use]
    pub fn new(settings: &Arc<Settings>, store: Store, metrics: Arc<Metrics>) -> Self {
        let faq = Self {
            store,
            metrics,
            locale: settings.messages.locale,
            settings: Arc::clone(settings),
            enabled: settings.engagement.enabled,
            default_cooldown: settings.engagement.faq_cooldown.get(),
            normalizer: Normalizer::new(NormalizeOptions::default()),
            admin: RwLock::new(HashMap::new()),
            cooldowns: Mutex::new(HashMap::new()),
            cooldowns_bound: Bound::new("faq_cooldowns", settings.limits.faq_cooldowns),
        };
        match faq.store.all_admin_replies() {
            Ok(all) => {
                let mut admin = faq.admin_write();
                for (group, reply) in all {
                    let compiled = faq.compile(&reply);
                    admin.entry(group).or_default().push(compiled);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the keyword answers added by admins"),
        }
        faq
    }

    fn compile(&self, reply: &AdminReply) -> Compiled {
        Compiled {
            number: reply.number,
            keyword: reply.keyword.clone(),
            compact: self.normalizer.compact(&reply.keyword),
            answer: reply.answer.clone(),
        }
    }

    fn admin_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<GroupId, Vec<Compiled>>> {
        self.admin.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admin_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<GroupId, Vec<Compiled>>> {
        self.admin.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer to `text` in `group`, if a keyword matches and is not cooling down (its
    /// cooldown starts now).
    #[must_use]
    pub fn answer_for(&self, rules: &Rules, group: GroupId, text: &str, now: Timestamp) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let admin = self.admin_read();
        let mine = admin.get(&group).filter(|v| !v.is_empty());
        let mut file = rules.replies.iter().filter(|r| r.applies_to(group)).peekable();
        if mine.is_none() && file.peek().is_none() {
            return None;
        }
        let compact = self.normalizer.compact(text);
        if compact.is_empty() {
            return None;
        }
        let hit = file
            .find_map(|r| {
                r.compact
                    .iter()
                    .find(|k| compact.contains(k.as_str()))
                    .map(|k| (k.clone(), r.cooldown, r.answer.clone()))
            })
            .or_else(|| {
                mine?
                    .iter()
                    .find(|c| compact.contains(c.compact.as_str()))
                    .map(|c| (c.compact.clone(), self.default_cooldown, c.answer.clone()))
            });
        drop(admin);
        let (keyword, cooldown, answer) = hit?;
        self.take(group, keyword, cooldown, now.as_millisecond())
            .then_some(answer)
    }

    /// The size and capacity of the cooldown map.
    pub(crate) fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.cooldowns_bound)
    }

    /// True (and the cooldown starts) if `keyword` may be answered in `group` now.
    fn take(&self, group: GroupId, keyword: String, cooldown: Duration, now_ms: i64) -> bool {
        let cooldown_ms = i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX);
        let mut map = self.cooldowns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (group, keyword);
        if let Some(&(at, ms)) = map.get(&key)
            && now_ms.saturating_sub(at) < ms
        {
            return false;
        }
        let capacity = self.cooldowns_bound.capacity();
        if !map.contains_key(&key) && map.len() >= capacity {
            map.retain(|_, (at, ms)| now_ms.saturating_sub(*at) < *ms);
            if map.len() >= capacity {
                self.cooldowns_bound.set_len(map.len());
                self.cooldowns_bound.evict(1);
                self.metrics.faq_cooldowns(map.len());
                tracing::warn!(%group, "keyword answer not given: the cooldown table is full");
                return false;
            }
        }
        map.insert(key, (now_ms, cooldown_ms));
        self.cooldowns_bound.set_len(map.len());
        self.metrics.faq_cooldowns(map.len());
        self.metrics.faq_answer();
        true
    }

    /// The operator's `/问答` texts.
    fn texts(&self) -> i18n::FaqTexts<'_> {
        self.settings.engagement.faq_texts()
    }

    /// `/问答 add`: a new answer in the message's group, with the reply.
    pub fn add(
        &self,
        key: &EventKey,
        msg: &GroupMessage,
        keyword: &str,
        answer: &str,
        now: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let group = msg.group;
        let count = self.admin_read().get(&group).map_or(0, Vec::len);
        let compact = self.normalizer.compact(keyword);
        let text = if count >= MAX_ADMIN_REPLIES {
            Some(i18n::replies_full(self.locale, self.texts(), MAX_ADMIN_REPLIES))
        } else if compact.is_empty() {
            Some(i18n::usage(
                self.locale,
                crate::service::commands::Name::Faq.usage(self.locale),
            ))
        } else {
            None
        };
        if let Some(text) = text {
            return self.answer(key, msg, text, now);
        }
        let reply = AdminReply {
            number: 0,
            keyword: keyword.to_owned(),
            answer: answer.to_owned(),
            created_by: msg.sender.user_id,
            created_ms: 0,
        };
        let (locale, texts) = (self.locale, self.texts());
        let added = self.store.commit_reply_add(key, now, group, &reply, |number| {
            reply_to(msg, i18n::reply_added(locale, texts, number, keyword))
        })?;
        let Some(number) = added else {
            return Ok(Outcome::Duplicate);
        };
        let stored = AdminReply { number, ..reply };
        let compiled = self.compile(&stored);
        self.admin_write().entry(group).or_default().push(compiled);
        tracing::info!(%group, number, by = msg.sender.user_id, "keyword answer added");
        Ok(Outcome::Acted { actions: 1 })
    }

    /// `/问答 del <number>`.
    pub fn del(&self, key: &EventKey, msg: &GroupMessage, number: u64, now: Timestamp) -> Result<Outcome, StoreError> {
        let (group, locale, texts) = (msg.group, self.locale, self.texts());
        let deleted = self.store.commit_reply_del(key, now, group, number, |deleted| {
            reply_to(msg, i18n::reply_deleted(locale, texts, number, deleted))
        })?;
        let Some(deleted) = deleted else {
            return Ok(Outcome::Duplicate);
        };
        if deleted {
            if let Some(list) = self.admin_write().get_mut(&group) {
                list.retain(|c| c.number != number);
            }
            tracing::info!(%group, number, by = msg.sender.user_id, "keyword answer deleted");
        }
        Ok(Outcome::Acted { actions: 1 })
    }

    /// `/问答 list`: the file's answers for the group (`[n]`), then the admins' (`#n`).
    #[must_use]
    pub fn list(&self, rules: &Rules, group: GroupId) -> OutgoingMessage {
        let short = |s: &str| crate::domain::audit::excerpt(s);
        let mut lines: Vec<(String, String, String)> = rules
            .replies
            .iter()
            .filter(|r| r.applies_to(group))
            .map(|r| (format!("[{}]", r.id), r.keywords.join(" / "), short(&r.answer)))
            .collect();
        if let Some(mine) = self.admin_read().get(&group) {
            lines.extend(
                mine.iter()
                    .map(|c| (format!("#{}", c.number), c.keyword.clone(), short(&c.answer))),
            );
        }
        i18n::reply_list(self.locale, self.texts(), &lines)
    }

    /// Records the command event with just an answer.
    fn answer(
        &self,
        key: &EventKey,
        msg: &GroupMessage,
        text: OutgoingMessage,
        now: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let action = reply_to(msg, text);
        let committed = self.store.commit(key, now, None, |_| {
            let writes = crate::domain::effects::Writes {
                strikes: crate::domain::effects::StrikeWrite::Keep,
                actions: vec![action.clone()],
                audit: None,
            };
            (writes, ())
        })?;
        Ok(if committed.is_some() {
            Outcome::Acted { actions: 1 }
        } else {
            Outcome::Duplicate
        })
    }
}

/// The reply quoting a message.
fn reply_to(msg: &GroupMessage, message: OutgoingMessage) -> Action {
    Action::Send {
        group: msg.group,
        message,
        reply_to: Some(msg.message_id),
    }
}
