//! Bot API updates → neutral [`Event`]s. Pure: no I/O, no state.
//!
//! One update can mean several events (a service message adding three members is three
//! joins) or none the pipeline acts on. What the adapter must still do with an update that
//! the pipeline does not see — keep the admin cache current — comes back as an
//! [`AdminChange`].
//!
//! **Identity.** Most events are keyed by `tg|<bot id>|u|<update_id>`, so a redelivered
//! update changes nothing. Joins and leaves are keyed by what happened instead
//! (`tg|<bot id>|join|<chat>|<user>|<date>`): Telegram reports one join twice, as a
//! `chat_member` update and as a `new_chat_members` service message, and the two must be one
//! event. (The adapter also folds reports whose dates differ by a few seconds; see
//! `inbound`.) Keys of dated updates (messages, member changes, join requests) and of joins
//! and leaves carry the date in front ([`EventKey::dated`]), so the store records them in
//! date order.
//!
//! **Senders.** A message sent on behalf of the group itself comes from an anonymous admin
//! and counts as an admin; an automatic forward from the linked channel counts as an admin
//! too. A member posting *as one of their channels* is identified by that channel's
//! (negative) id, so strikes land on the channel and the client bans it with
//! `banChatSenderChat` instead of banning the `Channel_Bot` placeholder user.

use super::text;
use super::wire::{ChatMemberUpdated, Message, Update, User};
use crate::domain::event::{
    ButtonPress, Event, EventKey, EventKind, GroupId, GroupMessage, JoinRequest, MemberJoined, MemberLeft, Role,
    Segment, Sender,
};

/// What an update means.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated {
    /// The events, in order: usually one (an `Other` for updates nothing acts on), one per
    /// member for a service message adding several.
    pub events: Vec<Event>,
    /// A change of someone's admin status that the admin cache should learn.
    pub admin_change: Option<AdminChange>,
    /// The group was upgraded to a supergroup with a new id: (old, new).
    pub migrated: Option<(i64, i64)>,
}

/// Someone became, or stopped being, an owner or admin of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminChange {
    /// The chat.
    pub chat_id: i64,
    /// The member.
    pub user_id: i64,
    /// `Some(Owner | Admin)` now, or `None`: an ordinary member (or gone).
    pub role: Option<Role>,
}

/// Whether a group message's sender still needs an admin-cache lookup: set for ordinary
/// users, cleared when the sender is decided by the message itself (anonymous admin, linked
/// channel, a channel identity).
#[must_use]
pub fn needs_role_lookup(msg: &GroupMessage) -> bool {
    msg.sender.role == Role::Member && msg.sender.user_id > 0
}

/// Translates one update received by the bot `bot_id`.
#[must_use]
pub fn translate(update: &Update, bot_id: i64) -> Translated {
    let update_key = || EventKey::derive(&format!("tg|{bot_id}|u|{}", update.update_id));
    // A dated update is keyed with its date in front (`EventKey::dated`): same identity.
    let dated_key = |date: i64| EventKey::dated(date, &format!("tg|{bot_id}|u|{}", update.update_id));
    let event = |key: EventKey, kind: EventKind| Event {
        key,
        self_id: bot_id,
        kind,
    };
    let other = |what: &str| Translated {
        events: vec![event(update_key(), EventKind::Other(what.to_owned()))],
        admin_change: None,
        migrated: None,
    };
    if let Some(msg) = &update.message {
        return translate_message(msg, false, bot_id, dated_key(msg.date));
    }
    if let Some(msg) = &update.edited_message {
        return translate_message(msg, true, bot_id, dated_key(msg.date));
    }
    if let Some(change) = &update.chat_member {
        return translate_member_change(change, bot_id, dated_key(change.date));
    }
    if let Some(change) = &update.my_chat_member {
        // The bot's own status; the adapter logs missing rights. Nothing for the pipeline.
        return Translated {
            events: vec![event(
                update_key(),
                EventKind::Other(format!("my_chat_member: now {}", change.new_chat_member.status)),
            )],
            admin_change: admin_change(change),
            migrated: None,
        };
    }
    if let Some(press) = &update.callback_query {
        let (Some(message), Some(data)) = (&press.message, &press.data) else {
            return other("callback_query without a message or data");
        };
        if !message.chat.is_group() {
            return other("callback_query outside a group");
        }
        return Translated {
            events: vec![event(
                update_key(),
                EventKind::ButtonPressed(ButtonPress {
                    group: GroupId::telegram(message.chat.id),
                    user_id: press.from.id,
                    data: data.clone(),
                    query_id: press.id.clone(),
                }),
            )],
            admin_change: None,
            migrated: None,
        };
    }
    if let Some(request) = &update.chat_join_request {
        if !request.chat.is_group() {
            return other("chat_join_request outside a group");
        }
        return Translated {
            events: vec![event(
                dated_key(request.date),
                EventKind::JoinRequest(JoinRequest {
                    group: GroupId::telegram(request.chat.id),
                    user_id: request.from.id,
                    comment: request.bio.clone().unwrap_or_default(),
                    handle: request.from.id.to_string(),
                    time: request.date,
                }),
            )],
            admin_change: None,
            migrated: None,
        };
    }
    other("an update kind qunguan does not act on")
}

fn translate_message(msg: &Message, edited: bool, bot_id: i64, key: EventKey) -> Translated {
    let group = GroupId::telegram(msg.chat.id);
    let single = |kind: EventKind| Translated {
        events: vec![Event {
            key,
            self_id: bot_id,
            kind,
        }],
        admin_change: None,
        migrated: None,
    };
    if !msg.chat.is_group() {
        return single(EventKind::Other(format!("{} message", msg.chat.kind)));
    }
    if let Some(to) = msg.migrate_to_chat_id {
        let mut translated = single(EventKind::Other(format!("{group} was upgraded to tg:{to}")));
        translated.migrated = Some((msg.chat.id, to));
        return translated;
    }
    if !msg.new_chat_members.is_empty() {
        let events = msg
            .new_chat_members
            .iter()
            .map(|user| membership_event(bot_id, group, user, msg.date, true, false))
            .collect();
        return Translated {
            events,
            admin_change: None,
            migrated: None,
        };
    }
    if let Some(user) = &msg.left_chat_member {
        let removed_by_other = msg.from.as_ref().is_some_and(|from| from.id != user.id);
        return Translated {
            events: vec![membership_event(bot_id, group, user, msg.date, false, removed_by_other)],
            admin_change: None,
            migrated: None,
        };
    }
    let Some(sender) = sender_of(msg) else {
        return single(EventKind::Other("a group message without a sender".into()));
    };
    let (body, entities) = match (&msg.text, &msg.caption) {
        (Some(text), _) => (text.as_str(), msg.entities.as_slice()),
        (None, Some(caption)) => (caption.as_str(), msg.caption_entities.as_slice()),
        (None, None) => ("", &[][..]),
    };
    let content = text::content(body, entities);
    let mut segments = Vec::with_capacity(content.segments.len() + 2);
    // In a forum topic, the topic's first message is not a reply target.
    if let Some(reply) = &msg.reply_to_message
        && !(msg.is_topic_message && msg.message_thread_id == Some(reply.message_id))
    {
        segments.push(Segment::Reply {
            message_id: reply.message_id,
        });
    }
    if msg.photo.is_some() {
        segments.push(Segment::Image { url: None });
    }
    segments.extend(content.segments);
    single(EventKind::GroupMessage(GroupMessage {
        group,
        message_id: msg.message_id,
        sender,
        text: content.filter_text,
        segments,
        time: msg.date,
        edited,
    }))
}

/// Who sent a message, and the role the message itself proves (see the module docs).
fn sender_of(msg: &Message) -> Option<Sender> {
    if let Some(chat) = &msg.sender_chat {
        let title = chat.title.clone().unwrap_or_default();
        if chat.id == msg.chat.id {
            // An anonymous admin: `from` is the GroupAnonymousBot placeholder.
            return Some(Sender {
                user_id: msg.from.as_ref().map_or(chat.id, |u| u.id),
                name: msg.author_signature.clone().unwrap_or(title),
                role: Role::Admin,
            });
        }
        return Some(Sender {
            user_id: chat.id,
            name: title,
            role: if msg.is_automatic_forward {
                Role::Admin
            } else {
                Role::Member
            },
        });
    }
    let from = msg.from.as_ref()?;
    Some(Sender {
        user_id: from.id,
        name: from.display_name(),
        role: Role::Member,
    })
}

fn translate_member_change(change: &ChatMemberUpdated, bot_id: i64, key: EventKey) -> Translated {
    let admin_change = admin_change(change);
    if !change.chat.is_group() {
        return Translated {
            events: vec![Event {
                key,
                self_id: bot_id,
                kind: EventKind::Other("chat_member outside a group".into()),
            }],
            admin_change: None,
            migrated: None,
        };
    }
    let group = GroupId::telegram(change.chat.id);
    let (old, new) = (&change.old_chat_member, &change.new_chat_member);
    let user = &new.user;
    let event = match (old.is_present(), new.is_present()) {
        (false, true) => membership_event(bot_id, group, user, change.date, true, false),
        (true, false) => {
            let removed = new.status == "kicked" || change.from.id != user.id;
            membership_event(bot_id, group, user, change.date, false, removed)
        }
        _ => Event {
            key,
            self_id: bot_id,
            kind: EventKind::Other(format!("chat_member: {} → {}", old.status, new.status)),
        },
    };
    Translated {
        events: vec![event],
        admin_change,
        migrated: None,
    }
}

/// The admin-cache news in a membership change, if the member was or is an owner or admin.
fn admin_change(change: &ChatMemberUpdated) -> Option<AdminChange> {
    let role_of = |status: &str| match status {
        "creator" => Some(Role::Owner),
        "administrator" => Some(Role::Admin),
        _ => None,
    };
    let (before, after) = (
        role_of(&change.old_chat_member.status),
        role_of(&change.new_chat_member.status),
    );
    (before.is_some() || after.is_some()).then_some(AdminChange {
        chat_id: change.chat.id,
        user_id: change.new_chat_member.user.id,
        role: after,
    })
}

/// A join or leave, keyed by what happened rather than by the update that reported it.
/// Other bots joining are not events the pipeline acts on (no welcome for bots).
fn membership_event(bot_id: i64, group: GroupId, user: &User, date: i64, joined: bool, kicked: bool) -> Event {
    let what = if joined { "join" } else { "left" };
    let key = EventKey::dated(date, &format!("tg|{bot_id}|{what}|{}|{}|{date}", group.id, user.id));
    let kind = if user.is_bot && user.id != bot_id {
        EventKind::Other(format!("bot {} {what}", user.id))
    } else if joined {
        EventKind::MemberJoined(MemberJoined {
            group,
            user_id: user.id,
            name: Some(user.display_name()),
            time: date,
        })
    } else {
        EventKind::MemberLeft(MemberLeft {
            group,
            user_id: user.id,
            kicked,
            time: date,
        })
    };
    Event {
        key,
        self_id: bot_id,
        kind,
    }
}

/// Who joined or left which chat: what two reports of one membership change share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// A join (true) or a leave.
    pub joined: bool,
    /// The chat.
    pub chat_id: i64,
    /// The member.
    pub user_id: i64,
}

/// The membership change a join/leave event is about, with its date, for folding duplicate
/// reports.
#[must_use]
pub fn membership_of(event: &Event) -> Option<(Membership, i64)> {
    let (joined, group, user_id, time) = match &event.kind {
        EventKind::MemberJoined(j) => (true, j.group, j.user_id, j.time),
        EventKind::MemberLeft(l) => (false, l.group, l.user_id, l.time),
        _ => return None,
    };
    Some((
        Membership {
            joined,
            chat_id: group.id,
            user_id,
        },
        time,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: i64 = 7_012_345_678;

    fn parse(json: serde_json::Value) -> Translated {
        let update: Update = serde_json::from_value(json).expect("an update");
        translate(&update, BOT)
    }

    fn one(json: serde_json::Value) -> Event {
        let mut t = parse(json);
        assert_eq!(t.events.len(), 1, "{:?}", t.events);
        t.events.remove(0)
    }

    fn message(extra: serde_json::Value) -> serde_json::Value {
        let mut msg = serde_json::json!({
            "message_id": 5, "date": 100,
            "chat": {"id": -1001, "type": "supergroup", "title": "G"},
            "from": {"id": 42, "is_bot": false, "first_name": "A", "last_name": "B"},
        });
        if let (Some(m), Some(e)) = (msg.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        serde_json::json!({"update_id": 9, "message": msg})
    }

    #[test]
    fn senders_and_the_roles_messages_prove() {
        let chat = serde_json::json!({"id": -1001, "type": "supergroup", "title": "G"});
        let channel = serde_json::json!({"id": -1002, "type": "channel", "title": "Chan"});
        let placeholder = serde_json::json!({"id": 136_817_688, "is_bot": true, "first_name": "Channel"});
        for (extra, user_id, name, role) in [
            (serde_json::json!({"text": "x"}), 42, "A B", Role::Member),
            (
                serde_json::json!({"sender_chat": chat, "author_signature": "管理员", "text": "x",
                                   "from": {"id": 1_087_968_824, "is_bot": true, "first_name": "Group"}}),
                1_087_968_824,
                "管理员",
                Role::Admin,
            ),
            (
                serde_json::json!({"sender_chat": channel, "is_automatic_forward": true, "text": "x",
                                   "from": {"id": 777_000, "is_bot": false, "first_name": "Telegram"}}),
                -1002,
                "Chan",
                Role::Admin,
            ),
            (
                serde_json::json!({"sender_chat": channel, "from": placeholder, "text": "x"}),
                -1002,
                "Chan",
                Role::Member,
            ),
        ] {
            let EventKind::GroupMessage(m) = one(message(extra.clone())).kind else {
                panic!("a group message: {extra}")
            };
            assert_eq!(
                (m.sender.user_id, m.sender.name.as_str(), m.sender.role),
                (user_id, name, role)
            );
        }
    }

    #[test]
    fn captions_are_filtered_like_text_and_replies_and_photos_are_segments() {
        let event = one(message(serde_json::json!({
            "photo": [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}],
            "caption": "兼职日结",
            "reply_to_message": {"message_id": 3, "date": 1, "chat": {"id": -1001, "type": "supergroup"}},
        })));
        let EventKind::GroupMessage(m) = event.kind else {
            panic!("a group message")
        };
        assert_eq!(m.text, "兼职日结");
        assert_eq!(
            m.segments,
            vec![
                Segment::Reply { message_id: 3 },
                Segment::Image { url: None },
                Segment::Text {
                    text: "兼职日结".into()
                }
            ]
        );
    }

    #[test]
    fn edits_are_messages_with_their_own_key() {
        let original = one(message(serde_json::json!({"text": "hi"})));
        let mut edit = message(serde_json::json!({"text": "加微信", "edit_date": 120}));
        edit["edited_message"] = edit["message"].take();
        edit["update_id"] = serde_json::json!(10);
        let edited = one(edit);
        let EventKind::GroupMessage(m) = &edited.kind else {
            panic!("a group message")
        };
        assert!(m.edited && m.message_id == 5 && m.text == "加微信");
        assert_ne!(original.key, edited.key);
    }

    #[test]
    fn a_join_reported_twice_has_one_key() {
        let user = serde_json::json!({"id": 77, "is_bot": false, "first_name": "小雨"});
        let service = one(message(serde_json::json!({"new_chat_members": [user], "from": user})));
        let member_update = one(serde_json::json!({
            "update_id": 11,
            "chat_member": {
                "chat": {"id": -1001, "type": "supergroup"}, "from": user, "date": 100,
                "old_chat_member": {"status": "left", "user": user},
                "new_chat_member": {"status": "member", "user": user},
            }
        }));
        assert!(
            matches!(&service.kind, EventKind::MemberJoined(j) if j.user_id == 77 && j.name.as_deref() == Some("小雨"))
        );
        assert_eq!(service, member_update);
    }

    #[test]
    fn member_changes() {
        let user = serde_json::json!({"id": 77, "is_bot": false, "first_name": "x"});
        let admin = serde_json::json!({"id": 1, "is_bot": false, "first_name": "boss"});
        let change = |from: &serde_json::Value, old: &str, new: &str| {
            parse(serde_json::json!({
                "update_id": 12,
                "chat_member": {
                    "chat": {"id": -1001, "type": "supergroup"}, "from": from, "date": 100,
                    "old_chat_member": {"status": old, "user": user},
                    "new_chat_member": {"status": new, "user": user},
                }
            }))
        };
        let t = change(&user, "member", "left");
        assert!(matches!(&t.events[0].kind, EventKind::MemberLeft(l) if !l.kicked));
        assert_eq!(t.admin_change, None);
        let t = parse(fixture("update.chat_member.kicked.json"));
        assert!(matches!(&t.events[0].kind, EventKind::MemberLeft(l) if l.kicked && l.user_id == 6_523_018_894));
        let t = change(&user, "member", "kicked");
        assert!(matches!(&t.events[0].kind, EventKind::MemberLeft(l) if l.kicked));
        let t = change(&admin, "member", "administrator");
        assert!(matches!(&t.events[0].kind, EventKind::Other(_)));
        assert_eq!(
            t.admin_change,
            Some(AdminChange {
                chat_id: -1001,
                user_id: 77,
                role: Some(Role::Admin)
            })
        );
        let t = change(&admin, "administrator", "member");
        assert_eq!(t.admin_change.map(|c| c.role), Some(None));
        let t = change(&admin, "member", "restricted");
        assert!(matches!(&t.events[0].kind, EventKind::Other(_)));
    }

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/fixtures/telegram/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
    }

    #[test]
    fn in_forum_topics_only_real_replies_are_replies() {
        let topic = |reply_to: i64| {
            let mut update = fixture("update.message.forum_topic.json");
            update["message"]["reply_to_message"] = serde_json::json!(
                {"message_id": reply_to, "date": 1, "chat": update["message"]["chat"].clone()}
            );
            let EventKind::GroupMessage(m) = one(update).kind else {
                panic!("a group message")
            };
            m.segments
        };
        assert!(!topic(9001).iter().any(|s| matches!(s, Segment::Reply { .. })));
        assert_eq!(topic(9100)[0], Segment::Reply { message_id: 9100 });
    }

    #[test]
    fn an_upgrade_to_a_supergroup_is_reported() {
        let mut update = message(serde_json::json!({"migrate_to_chat_id": -1_009_876}));
        update["message"]["chat"] = serde_json::json!({"id": -4001, "type": "group"});
        let t = parse(update);
        assert_eq!(t.migrated, Some((-4001, -1_009_876)));
        assert!(matches!(t.events[0].kind, EventKind::Other(_)));
    }

    #[test]
    fn other_bots_joining_and_private_chats_are_not_acted_on() {
        let bot = serde_json::json!({"id": 555, "is_bot": true, "first_name": "spam bot"});
        let event = one(message(serde_json::json!({"new_chat_members": [bot]})));
        assert!(matches!(event.kind, EventKind::Other(_)));
        let mut private = message(serde_json::json!({"text": "加微信"}));
        private["message"]["chat"] = serde_json::json!({"id": 42, "type": "private"});
        assert!(matches!(one(private).kind, EventKind::Other(_)));
        let unknown = one(serde_json::json!({"update_id": 1, "poll": {"id": "x"}}));
        assert!(matches!(unknown.kind, EventKind::Other(_)));
    }

    #[test]
    fn button_presses_in_groups_are_events_keyed_by_their_update() {
        let press = |chat: serde_json::Value, data: Option<&str>| {
            serde_json::json!({"update_id": 77, "callback_query": {
                "id": "q", "from": {"id": 42, "is_bot": false, "first_name": "a"},
                "message": {"message_id": 5, "date": 1, "chat": chat},
                "chat_instance": "c", "data": data
            }})
        };
        let group = serde_json::json!({"id": -1_001, "type": "supergroup"});
        let event = one(press(group.clone(), Some("gate:42")));
        let EventKind::ButtonPressed(p) = &event.kind else {
            panic!("a press: {event:?}")
        };
        assert_eq!(
            (p.group, p.user_id, p.data.as_str(), p.query_id.as_str()),
            (GroupId::telegram(-1_001), 42, "gate:42", "q")
        );
        assert_eq!(
            event.key,
            one(press(group.clone(), Some("other"))).key,
            "keyed by update_id"
        );
        assert!(matches!(one(press(group, None)).kind, EventKind::Other(_)));
        let private = serde_json::json!({"id": 42, "type": "private"});
        assert!(matches!(one(press(private, Some("gate:42"))).kind, EventKind::Other(_)));
    }
}
