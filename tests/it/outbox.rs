//! The outbox under gateway failure: nothing lost, nothing doubled, order kept per user, one
//! failing group never blocking the others; the send governor; age limits.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const OTHER_GROUP: i64 = 555_000_111;

/// Spam from `user` in `group` with a message id unique across the test.
fn spam_in(group: i64, message_id: i64, user: i64) -> Value {
    group_message_in(group, message_id, user, "member", "加微信 领福利")
}

/// Each user of `users` (group, user, first message id) posts three spam messages in order,
/// all users at once. Every event must be acknowledged.
async fn three_strikes_each(app: &TestApp, users: &[(i64, i64, i64)]) {
    let mut posts = tokio::task::JoinSet::new();
    for &(group, user, first) in users {
        let poster = app.poster();
        posts.spawn(async move {
            for id in first..first + 3 {
                assert_eq!(poster.post(&spam_in(group, id, user)).await, StatusCode::NO_CONTENT);
            }
        });
    }
    while let Some(done) = posts.join_next().await {
        done.expect("a sender panicked");
    }
}

/// A key saying which member a delivered call concerns, and what it did, in the order of the
/// ladder: recall (by message id), warning text, mute, kick.
fn per_user_sequence(calls: &[Call], owner_of_message: &HashMap<i64, i64>) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for call in calls {
        let (user, what) = match call.action.as_str() {
            "delete_msg" => {
                let id = call.params["message_id"].as_i64().expect("id");
                (owner_of_message[&id], format!("recall {id}"))
            }
            "set_group_ban" => (
                call.params["user_id"].as_i64().expect("user"),
                format!("mute {}", call.params["duration"]),
            ),
            "set_group_kick" => (call.params["user_id"].as_i64().expect("user"), "kick".into()),
            "send_group_msg" => {
                let at = call.params["message"][0]["data"]["qq"].as_str().expect("a mention");
                let text = sent_text(call);
                let what = if text.contains("禁言") {
                    "mute notice"
                } else if text.contains("移出") {
                    "kick notice"
                } else {
                    "warn"
                };
                (at.parse().expect("user id"), what.into())
            }
            other => panic!("unexpected call {other}"),
        };
        out.entry(user).or_default().push(what);
    }
    out
}

/// What one member's three strikes must produce, moderation lane in order; the messages (the
/// warning and the notices after the mute and the kick) may interleave, so they are checked
/// apart.
fn expected_moderation(first: i64) -> Vec<String> {
    vec![
        format!("recall {first}"),
        format!("recall {}", first + 1),
        "mute 600".into(),
        format!("recall {}", first + 2),
        "kick".into(),
    ]
}

/// Moves the daemon's clock on in small steps (past the backoffs of a short outage, well
/// within the 10-minute age limit of messages) until `n` calls were delivered.
async fn drain(app: &TestApp, n: usize) -> Vec<Call> {
    for _ in 0..15 {
        let delivered = app.gateway.wait_delivered(n, Duration::from_millis(700)).await;
        if delivered.len() >= n {
            return delivered;
        }
        app.advance(Duration::from_secs(30));
    }
    panic!("only {} of {n} calls delivered", app.gateway.delivered().len());
}

fn assert_once_in_order(delivered: &[Call], users: &[(i64, i64, i64)]) {
    let mut seen = std::collections::HashSet::new();
    for call in delivered {
        let key = format!("{} {}", call.action, call.params);
        assert!(seen.insert(key.clone()), "delivered twice: {key}");
    }
    let owner: HashMap<i64, i64> = users
        .iter()
        .flat_map(|&(_, user, first)| (first..first + 3).map(move |id| (id, user)))
        .collect();
    let sequences = per_user_sequence(delivered, &owner);
    for &(_, user, first) in users {
        let got = &sequences[&user];
        let is_message = |w: &&String| ["warn", "mute notice", "kick notice"].contains(&w.as_str());
        let moderation: Vec<String> = got.iter().filter(|w| !is_message(w)).cloned().collect();
        assert_eq!(moderation, expected_moderation(first), "user {user}");
        let messages: Vec<&String> = got.iter().filter(is_message).collect();
        assert_eq!(
            messages,
            ["warn", "mute notice", "kick notice"],
            "user {user}: one warning, then the notices, in order"
        );
    }
}

#[tokio::test]
async fn gateway_500s_then_recovery_deliver_every_action_once_in_order_per_user() {
    let app = TestApp::spawn().await;
    app.gateway.set_mode(Some(Fault::Http500));
    let users = [
        (GROUP, 701, 100),
        (GROUP, 702, 200),
        (GROUP, 703, 300),
        (OTHER_GROUP, 704, 400),
    ];
    three_strikes_each(&app, &users).await;
    // Every decision is stored although nothing could be delivered yet.
    app.gateway.wait_calls(4, PATIENCE).await;
    assert!(app.gateway.delivered().is_empty());

    app.gateway.set_mode(None);
    let delivered = drain(&app, users.len() * 8).await;
    assert_eq!(delivered.len(), users.len() * 8);
    assert_once_in_order(&delivered, &users);
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_that_hangs_then_recovers_delivers_every_action_once_in_order_per_user() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.gateway.onebot.timeout = qunguan::domain::duration::HumanDuration::from_secs(1)),
        ..Options::default()
    })
    .await;
    app.gateway.set_mode(Some(Fault::Hang(Duration::from_secs(30))));
    let users = [(GROUP, 701, 100), (OTHER_GROUP, 702, 200)];
    three_strikes_each(&app, &users).await;
    // Both groups' first calls hang (concurrently) and time out.
    app.gateway.wait_calls(2, PATIENCE).await;

    app.gateway.set_mode(None);
    let delivered = drain(&app, users.len() * 8).await;
    assert_once_in_order(&delivered, &users);
    app.stop().await;
}

#[tokio::test]
async fn one_failing_group_does_not_hold_up_the_others() {
    let app = TestApp::spawn().await;
    // Every call about group GROUP's message 1 fails, for a while.
    app.gateway.inject_when(|_, p| p["message_id"] == 1, Fault::Http500, 3);
    app.post_event(&spam_in(GROUP, 1, 701)).await;
    app.post_event(&spam_in(OTHER_GROUP, 2, 702)).await;
    app.post_event(&spam_in(OTHER_GROUP, 3, 703)).await;
    // The other group's recalls and warnings all go out while GROUP's recall waits for its
    // retry (and GROUP's warning waits for that recall).
    let delivered = app.gateway.wait_delivered(4, PATIENCE).await;
    let recalled: Vec<i64> = delivered
        .iter()
        .filter(|c| c.action == "delete_msg")
        .map(|c| c.params["message_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(recalled, [2, 3]);
    assert!(delivered.iter().all(|c| c.params["group_id"] != GROUP), "{delivered:?}");
    let delivered = drain(&app, 6).await;
    let tail: Vec<&str> = actions(&delivered[4..]);
    assert_eq!(
        tail,
        ["delete_msg", "send_group_msg"],
        "GROUP's recall, then its warning"
    );
    assert_eq!(delivered[4].params["message_id"], 1);
    app.stop().await;
}

fn joined(user_id: i64, time: i64) -> Value {
    let mut event = fixture("onebot11/notice.group_increase.approve.json");
    event["user_id"] = json!(user_id);
    event["time"] = json!(time);
    event["group_id"] = json!(GROUP);
    event
}

#[tokio::test]
async fn the_governor_paces_the_bots_messages_but_not_moderation() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.outbox.sends_per_minute_per_group = 2;
            // One call at a time, for `outbox_round`.
            s.outbox.concurrency = 1;
        }),
        ..Options::default()
    })
    .await;
    for (i, user) in [801, 802, 803].iter().enumerate() {
        app.post_event(&joined(*user, 1_000 + i64::try_from(i).expect("small")))
            .await;
    }
    app.post_event(&spam_in(GROUP, 9, 701)).await;
    // Two welcomes, and the recall, which the governor does not pace. The recall may overtake
    // the second welcome (moderation goes first, and a recall goes out before its unit's
    // flush, `[outbox] early_recalls`).
    let delivered = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_calls_in_order(&delivered, &["send_group_msg", "send_group_msg", "delete_msg"]);
    // The worker has made every delivery due now (its two markers use the marker group's own
    // window): the third welcome is not one of them.
    app.outbox_round().await;
    assert_eq!(
        app.gateway.delivered().len(),
        3,
        "the third welcome waits for the window"
    );
    app.advance(Duration::from_secs(60));
    let delivered = app.gateway.wait_delivered(5, PATIENCE).await;
    let texts: Vec<String> = delivered
        .iter()
        .filter(|c| c.action == "send_group_msg")
        .map(sent_text)
        .collect();
    assert_eq!(texts.len(), 4);
    assert!(texts[2].starts_with("@803"), "welcomes keep their order: {texts:?}");
    assert!(texts[3].contains("第1次警告"), "{texts:?}");
    app.stop().await;
}

/// A join and a spam message (a one-rung kick ladder, `[outbox] keep_stale_messages` as
/// given) while the gateway fails, then the clock 11 minutes on, past the 10-minute limit of
/// messages: the recall and the kick are delivered once the gateway is back, the welcome and
/// the kick's notice are too old.
async fn late_welcome_and_kick(keep_stale_messages: bool) -> TestApp {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(move |s| {
            s.moderation.ladder = vec!["kick".parse().expect("rung")];
            s.outbox.keep_stale_messages = keep_stale_messages;
        }),
        ..Options::default()
    })
    .await;
    app.gateway.set_mode(Some(Fault::Http500));
    app.post_event(&joined(801, 1_000)).await;
    app.post_event(&spam_in(GROUP, 9, 701)).await;
    app.gateway.wait_calls(2, PATIENCE).await;
    app.gateway.set_mode(None);
    app.advance(Duration::from_secs(11 * 60));
    let delivered = drain(&app, 2).await;
    assert_eq!(actions(&delivered), ["delete_msg", "set_group_kick"]);
    app
}

#[tokio::test]
async fn late_messages_are_dropped_to_the_dead_letters_but_a_late_kick_still_happens() {
    // Kept as dead letters only when asked; by default they are counted and removed (the
    // next test).
    let app = late_welcome_and_kick(true).await;
    // The welcome and the kick's notice, both messages, are too old now.
    let dead = app.wait_dead_letters(2).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        assert_eq!(letter.item.action.kind().as_str(), "send");
        assert!(letter.reason.starts_with("expired"), "{}", letter.reason);
    }
    assert!(
        dead.iter()
            .any(|l| l.item.last_error.as_deref().unwrap_or("").contains("500")),
        "{dead:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn by_default_late_messages_are_counted_and_removed_without_dead_letters() {
    let app = late_welcome_and_kick(false).await;
    // The welcome and the kick's notice are given up: counted as dropped, and gone from the
    // stored outbox once the worker wrote its marks (bounded wait).
    let dropped = "qunguan_actions_total{kind=\"send\",result=\"dropped\"}";
    let mut text = String::new();
    for _ in 0..100 {
        text = app.admin_get("/metrics").await.text().await.expect("body");
        if sample(&text, dropped) == Some("2") && sample(&text, "qunguan_outbox_depth") == Some("0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sample(&text, dropped), Some("2"), "{text}");
    assert_eq!(sample(&text, "qunguan_outbox_depth"), Some("0"), "{text}");
    assert!(app.dead_letters().await.is_empty());
    assert_eq!(sample(&text, "qunguan_outbox_dead_letters"), Some("0"));
    app.stop().await;
}

/// Ends a stall of the flushes, waits for the posts, and checks that recalls 1 and 2 each went
/// once, with both warnings, and that no early recall is left unsettled; then stops the app.
async fn flush_and_check_each_recall_once(app: TestApp, mut posts: tokio::task::JoinSet<StatusCode>) {
    app.store.faults().stall_flushes(false);
    while let Some(done) = posts.join_next().await {
        assert_eq!(done.expect("poster"), StatusCode::NO_CONTENT);
    }
    app.settle().await;
    let calls = app.gateway.calls();
    assert_eq!(recalled(&calls), [1, 2], "each recall once: {calls:?}");
    assert_eq!(actions(&calls).iter().filter(|a| **a == "send_group_msg").count(), 2);
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"outbox_early\"}", "0")])
        .await;
    app.stop().await;
}

/// Stalls the store's flushes (writes pass: the violation is recorded but not yet durable),
/// posts a spam message and checks that its recall reached the gateway while the webhook
/// still waits for the flush; returns that webhook's answer to come.
async fn recalled_before_its_flush(app: &TestApp) -> tokio::task::JoinHandle<StatusCode> {
    app.store.faults().stall_flushes(true);
    let poster = app.poster();
    let post = tokio::spawn(async move { poster.post(&spam_in(GROUP, 1, 701)).await });
    let early = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(
        actions(&early),
        ["delete_msg"],
        "the recall, sent before its record is on disk"
    );
    assert!(!post.is_finished(), "the webhook still waits for the flush");
    post
}

#[tokio::test]
async fn a_recall_goes_out_before_its_flush_and_once_when_its_record_follows() {
    let app = TestApp::spawn().await;
    let post = recalled_before_its_flush(&app).await;

    // The flush ends: the event is acknowledged, the stored recall arrives at the worker and
    // is marked delivered without a second call; the warning follows.
    app.store.faults().stall_flushes(false);
    assert_eq!(post.await.expect("poster"), StatusCode::NO_CONTENT);
    app.settle().await;
    let calls = app.gateway.calls();
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"], "{calls:?}");
    app.wait_metrics(&[
        ("qunguan_memory_entries{structure=\"outbox_early\"}", "0"),
        ("qunguan_actions_total{kind=\"recall\",result=\"delivered\"}", "1"),
    ])
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_early_recall_whose_flush_takes_over_a_minute_is_still_sent_once() {
    let app = TestApp::spawn().await;
    let post = recalled_before_its_flush(&app).await;
    // A minute passes with the flush still stalled. The worker looks again at least every
    // second (`IDLE_POLL`): its entry must not be forgotten while its record may still come.
    app.advance(Duration::from_secs(61));
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let metrics = app.wait_metrics(&[]).await;
    assert_eq!(
        sample(&metrics, "qunguan_memory_evictions_total{structure=\"outbox_early\"}"),
        Some("0"),
        "{metrics}"
    );
    app.store.faults().stall_flushes(false);
    assert_eq!(post.await.expect("poster"), StatusCode::NO_CONTENT);
    app.settle().await;
    let calls = app.gateway.calls();
    assert_eq!(
        actions(&calls),
        ["delete_msg", "send_group_msg"],
        "recalled once: {calls:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_warning_waits_for_its_early_recall_still_in_flight() {
    let app = TestApp::spawn().await;
    // The recall's call takes 400 ms (within the client's timeout: answered ok); its record
    // is durable and reaches the worker long before.
    let hang = Duration::from_millis(400);
    app.gateway
        .inject_when(|action, _| action == "delete_msg", Fault::Hang(hang), 1);
    assert_eq!(app.post_event(&spam_in(GROUP, 1, 701)).await, StatusCode::NO_CONTENT);
    app.settle().await;
    // The fake records a held call as not delivered; the daemon got its ok, so it is not
    // sent again.
    let calls = app.gateway.calls();
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"], "{calls:?}");
    assert!(
        calls[1].at.duration_since(calls[0].at) >= hang,
        "the warning was sent before its recall was answered: {calls:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn early_recalls_are_bounded_and_a_recall_beyond_the_bound_waits_for_its_flush() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.outbox.early_recalls = 1),
        ..Options::default()
    })
    .await;
    app.store.faults().stall_flushes(true);
    let mut posts = tokio::task::JoinSet::new();
    for (group, id, user) in [(GROUP, 1, 701), (OTHER_GROUP, 2, 702)] {
        let poster = app.poster();
        posts.spawn(async move { poster.post(&spam_in(group, id, user)).await });
        // The first recall is in the map (its mark cannot be durable while flushes hang)
        // before the second is written, and the second event goes to a store thread that is
        // not held by the hung flush.
        if id == 1 {
            app.gateway.wait_delivered(1, PATIENCE).await;
            a_flush_hangs(&app).await;
        }
    }
    // The second recall found the map full: counted, and not sent before its flush.
    app.wait_metrics(&[
        ("qunguan_memory_capacity{structure=\"outbox_early\"}", "1"),
        ("qunguan_memory_entries{structure=\"outbox_early\"}", "1"),
        ("qunguan_memory_evictions_total{structure=\"outbox_early\"}", "1"),
    ])
    .await;
    assert_eq!(recalled(&app.gateway.calls()), [1]);

    flush_and_check_each_recall_once(app, posts).await;
}

/// Waits until a flush hangs (injected). From then on no other flush starts, so the one store
/// thread it may hold is marked as inside a flush, and the next event goes to another.
async fn a_flush_hangs(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.store.stalled_for().is_none_or(|(_, what)| what != "flush") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no flush hung within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posts `event` (one with a moderation action) while flushes are stalled (its webhook waits
/// for one) and waits until its unit is written — its moderation actions are in the store's
/// feed of commits not yet on disk, so the next event's come after them — and a flush hangs.
async fn written_before_the_next(app: &TestApp, posts: &mut tokio::task::JoinSet<StatusCode>, event: Value) {
    let in_feed = || app.store.outbox().peek_moderation(0).1.len();
    let before = in_feed();
    let poster = app.poster();
    posts.spawn(async move { poster.post(&event).await });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while in_feed() <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the event's unit was not written within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a_flush_hangs(app).await;
}

#[tokio::test]
async fn a_recall_goes_early_past_another_members_mute_but_not_past_its_own_members() {
    let app = TestApp::spawn().await;
    // An admin mutes member 701: the mute is written, not yet on disk (so not sent).
    app.store.faults().stall_flushes(true);
    let mut posts = tokio::task::JoinSet::new();
    written_before_the_next(&app, &mut posts, command(1, 10, "admin", "/mute {@701} 10m")).await;
    // Member 702's spam: its recall concerns another member and goes at once.
    written_before_the_next(&app, &mut posts, spam_in(GROUP, 2, 702)).await;
    let early = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(recalled(&early), [2], "702's recall, before its flush: {early:?}");
    app.store.faults().stall_flushes(false);
    while let Some(done) = posts.join_next().await {
        assert_eq!(done.expect("poster"), StatusCode::NO_CONTENT);
    }
    app.settle().await;

    // The admin mutes 701 again, and the call takes 600 ms (answered ok). Meanwhile 701 and
    // 703 post spam: 703's recall goes past the mute in flight, 701's waits for its answer.
    let hang = Duration::from_millis(600);
    app.gateway
        .inject_when(|action, _| action == "set_group_ban", Fault::Hang(hang), 1);
    let before = app.gateway.calls().len();
    assert_eq!(
        app.post_event(&command(3, 10, "admin", "/mute {@701} 20m")).await,
        StatusCode::NO_CONTENT
    );
    let mutes = || {
        app.gateway
            .calls()
            .iter()
            .filter(|c| c.action == "set_group_ban")
            .count()
    };
    for _ in 0..500 {
        if mutes() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mutes(), 2, "the second mute is in flight");
    for (id, user) in [(4, 701), (5, 703)] {
        assert_eq!(app.post_event(&spam_in(GROUP, id, user)).await, StatusCode::NO_CONTENT);
    }
    app.settle().await;
    let calls = app.gateway.calls()[before..].to_vec();
    let at = |action: &str, id: i64| {
        calls
            .iter()
            .find(|c| c.action == action && (c.params["message_id"] == id || c.params["user_id"] == id))
            .unwrap_or_else(|| panic!("no {action} {id}: {calls:?}"))
            .at
    };
    let mute = at("set_group_ban", 701);
    assert!(
        at("delete_msg", 5) < mute + hang,
        "703's recall waited for 701's mute: {calls:?}"
    );
    assert!(
        at("delete_msg", 4) >= mute + hang,
        "701's recall overtook 701's mute: {calls:?}"
    );
    let mut once = recalled(&app.gateway.calls());
    once.sort_unstable();
    assert_eq!(once, [2, 4, 5], "each recall once");
    app.stop().await;
}

#[tokio::test]
async fn two_recalls_of_a_group_go_early_at_a_time() {
    let app = TestApp::spawn().await;
    app.store.faults().stall_flushes(true);
    let mut posts = tokio::task::JoinSet::new();
    // The first early recall cannot have a durable delivered mark while flushes hang: it holds
    // one of its group's two places, and the second member's recall takes the other (a third
    // would wait for its flush: `early::PER_GROUP`).
    for (n, (id, user)) in [(1, 701), (2, 702)].into_iter().enumerate() {
        written_before_the_next(&app, &mut posts, spam_in(GROUP, id, user)).await;
        let early = app.gateway.wait_delivered(n + 1, PATIENCE).await;
        assert_eq!(early.len(), n + 1, "recall {id} before its flush: {early:?}");
    }
    assert_eq!(recalled(&app.gateway.calls()), [1, 2]);

    flush_and_check_each_recall_once(app, posts).await;
}
