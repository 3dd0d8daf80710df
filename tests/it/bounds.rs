//! Bounded inputs and bounded memory through the real daemon: what a member sends is cut
//! before it is stored or posted (`[limits]`), a group's outbox queue gives up what does not
//! fit, and `/metrics` shows every bounded structure and the store's size.

use std::time::Duration;

use qunguan::config::Settings;
use qunguan::domain::clock::Clock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// A message whose sender has a nickname of `name_chars` characters.
fn message_from(id: i64, user: i64, name_chars: usize, text: &str) -> Value {
    let mut event = group_message(id, user, "member", text);
    event["sender"]["nickname"] = Value::from("名".repeat(name_chars));
    event
}

#[tokio::test]
async fn names_matched_spans_and_excerpts_are_cut_before_they_are_stored_or_posted() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.limits.matched_chars = 8),
        ..Options::default()
    })
    .await;
    // A 100,000-character nickname and 4,000 characters of spam holding the phrase 20 times.
    let text = format!("{}{}", "add me on wechat ".repeat(20), "广告".repeat(2_000));
    assert_eq!(
        app.post_event(&message_from(1, 7, 100_000, &text)).await,
        StatusCode::NO_CONTENT
    );
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&calls), ["delete_msg", "send_group_msg"]);

    let cases = app.cases().await;
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    let name = format!("{}…", "名".repeat(64));
    assert_eq!(case.user_name, name, "64 characters and an ellipsis");
    assert_eq!(case.matched, vec!["add me o…"; 8], "8 spans of 8 characters");
    assert_eq!(case.excerpt.chars().count(), 201);
    assert!(case.excerpt.starts_with("add me on wechat add me"));

    // The warning (stored in the outbox, then sent) carries the cut name at most.
    let warning = calls[1].params.to_string();
    assert!(!warning.contains(&"名".repeat(65)), "{warning}");
    assert!(warning.len() < 2_000, "{} bytes", warning.len());

    // So does the inactivity record (written by the next batch; the list flushes it).
    let list = app
        .inactivity
        .list(
            qunguan::domain::event::GroupId::qq(GROUP),
            Duration::ZERO,
            app.clock.now(),
        )
        .expect("list");
    let names: Vec<&str> = list.shown.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [name.as_str()]);

    // A short name is kept as it is.
    assert_eq!(
        app.post_event(&message_from(2, 8, 64, "加微信")).await,
        StatusCode::NO_CONTENT
    );
    app.gateway.wait_delivered(4, PATIENCE).await;
    let cases = app.cases().await;
    assert_eq!(cases[1].user_name, "名".repeat(64));
    app.stop().await;
}

#[tokio::test]
async fn a_full_group_queue_gives_up_new_messages_as_dead_letters_and_moderation_goes_on() {
    // Kept as dead letters only when asked (by default they are counted and removed: the
    // next test).
    let app = spawn_paced(|s| s.outbox.keep_stale_messages = true).await;
    spam_from_members(&app, 15).await;
    // The warnings beyond the queue's 10 (and the one sent) are dead letters, with why. The
    // worker counts each at once and writes it with its next batch of marks: wait (bounded)
    // until the stored dead letters are as many as it counted.
    let mut dead = app.dead_letters().await;
    let mut evicted = None;
    for _ in 0..100 {
        let text = app.admin_get("/metrics").await.text().await.expect("body");
        evicted = sample(&text, "qunguan_memory_evictions_total{structure=\"outbox_queued\"}").map(str::to_owned);
        if dead.len() >= 4 && evicted.as_deref() == Some(dead.len().to_string().as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        dead = app.dead_letters().await;
    }
    assert!((4..=5).contains(&dead.len()), "{dead:?}");
    for letter in &dead {
        assert!(letter.reason.contains("outbox_messages_per_group"), "{}", letter.reason);
        assert_eq!(letter.item.action.kind().as_str(), "send");
    }
    assert_eq!(evicted, Some(dead.len().to_string()));
    app.stop().await;
}

/// A daemon whose groups' message queues hold 10 and whose send governor lets one message a
/// minute through — the daemon's clock stands still, so the first warning goes out and the
/// others wait in the group's queue — with `tweak` on top.
async fn spawn_paced(tweak: impl Fn(&mut Settings) + Send + Sync + 'static) -> TestApp {
    TestApp::spawn_with(Options {
        tweak: Box::new(move |s| {
            s.limits.outbox_messages_per_group = 10;
            s.outbox.sends_per_minute_per_group = 1;
            tweak(s);
        }),
        ..Options::default()
    })
    .await
}

/// Spam from `n` members, one message each; returns once every recall (moderation is not
/// paced) and the one warning the governor lets through were delivered.
async fn spam_from_members(app: &TestApp, n: i64) {
    for id in 1..=n {
        assert_eq!(
            app.post_event(&group_message(id, 100 + id, "member", "加微信")).await,
            StatusCode::NO_CONTENT
        );
    }
    let expected = usize::try_from(n).expect("a count");
    let calls = app.gateway.wait_delivered(expected + 1, PATIENCE).await;
    let recalls = calls.iter().filter(|c| c.action == "delete_msg").count();
    assert_eq!((recalls, calls.len() - recalls), (expected, 1), "{:?}", actions(&calls));
}

/// `/metrics` until `done` holds for it (bounded: about 5 s), and the last text read.
async fn metrics_until(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = app.admin_get("/metrics").await.text().await.expect("body");
        if done(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

fn number(text: &str, series: &str) -> u64 {
    sample(text, series)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{text}"))
}

#[tokio::test]
async fn by_default_a_full_group_queue_drops_new_messages_without_dead_letters() {
    let app = spawn_paced(|_| {}).await;
    spam_from_members(&app, 15).await;
    // The warnings beyond the queue are counted as dropped and removed from the stored outbox
    // (once the worker wrote its marks): 15 warnings = 1 sent + the queue + the dropped.
    let dropped = "qunguan_actions_total{kind=\"send\",result=\"dropped\"}";
    let evicted = "qunguan_memory_evictions_total{structure=\"outbox_queued\"}";
    let text = metrics_until(&app, |t| {
        sample(t, evicted).is_some_and(|e| e != "0")
            && sample(t, dropped) == sample(t, evicted)
            && number(t, "qunguan_outbox_depth") + number(t, dropped) == 14
    })
    .await;
    assert!((4..=5).contains(&number(&text, dropped)), "{text}");
    assert_eq!(number(&text, evicted), number(&text, dropped));
    assert_eq!(
        number(&text, "qunguan_outbox_depth") + number(&text, dropped),
        14,
        "{text}"
    );
    assert_eq!(number(&text, "qunguan_actions_total{kind=\"send\",result=\"dead\"}"), 0);
    assert_eq!(number(&text, "qunguan_outbox_dead_letters"), 0);
    assert!(app.dead_letters().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_beyond_their_bound_are_deleted_oldest_first_and_counted() {
    let app = spawn_paced(|s| {
        s.outbox.keep_stale_messages = true;
        s.limits.dead_letters = 16;
    })
    .await;
    spam_from_members(&app, 40).await;
    // 40 warnings: 1 sent, 10 queued, the rest (28 or 29) given up as dead letters, of which
    // the newest 16 are kept.
    let evicted = "qunguan_memory_evictions_total{structure=\"outbox_queued\"}";
    let text = metrics_until(&app, |t| {
        number(t, evicted) >= 28
            && number(t, "qunguan_outbox_dead_letters") + number(t, "qunguan_outbox_dead_letters_trimmed_total")
                == number(t, evicted)
    })
    .await;
    assert_eq!(number(&text, "qunguan_outbox_dead_letters_capacity"), 16);
    assert_eq!(number(&text, "qunguan_outbox_dead_letters"), 16, "{text}");
    assert_eq!(
        number(&text, "qunguan_outbox_dead_letters_trimmed_total"),
        number(&text, evicted) - 16,
        "{text}"
    );
    let dead = app.dead_letters().await;
    assert_eq!(dead.len(), 16);
    // The newest were kept: the last warning (of the member of event 40) is among them.
    assert!(
        dead.iter()
            .any(|l| l.item.case.is_some() && format!("{:?}", l.item.action).contains("140")),
        "{dead:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_show_every_bounded_structure_and_the_store_size() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.limits.flood_members = 4_096;
            s.limits.console_sessions = 7;
            s.limits.send_window_groups = 123;
            s.limits.trust_members = 321;
            s.learning.recent_mib = 5;
        }),
        ..Options::default()
    })
    .await;
    for id in 1..=3 {
        assert_eq!(
            app.post_event(&group_message(id, 40 + id, "member", "大家好")).await,
            StatusCode::NO_CONTENT
        );
    }
    let text = app.admin_get("/metrics").await.text().await.expect("body");
    for structure in [
        "activity_notes",
        "activity_pending",
        "console_login_addresses",
        "console_sessions",
        "engagement_noted",
        "engagement_unwritten",
        "faq_cooldowns",
        "flood_members",
        "neardup_samples",
        "outbox_early",
        "outbox_parked",
        "outbox_queued",
        "recent_bytes",
        "review_list",
        "rules_cooldowns",
        "send_windows",
        "stats_members",
        "trust_cache",
    ] {
        for series in [
            "qunguan_memory_entries",
            "qunguan_memory_capacity",
            "qunguan_memory_evictions_total",
        ] {
            let line = format!("{series}{{structure=\"{structure}\"}}");
            assert!(sample(&text, &line).is_some(), "no {line} in\n{text}");
        }
    }
    let value = |series: &str| -> u64 {
        sample(&text, series)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(value("qunguan_memory_capacity{structure=\"flood_members\"}"), 4_096);
    assert_eq!(value("qunguan_memory_capacity{structure=\"console_sessions\"}"), 7);
    assert_eq!(value("qunguan_memory_capacity{structure=\"send_windows\"}"), 123);
    assert_eq!(value("qunguan_memory_entries{structure=\"flood_members\"}"), 3);
    assert_eq!(value("qunguan_memory_entries{structure=\"stats_members\"}"), 3);
    assert_eq!(value("qunguan_memory_entries{structure=\"activity_notes\"}"), 3);
    // Each member's trust record, read and written for their message, is cached.
    assert_eq!(value("qunguan_memory_capacity{structure=\"trust_cache\"}"), 321);
    assert_eq!(value("qunguan_memory_entries{structure=\"trust_cache\"}"), 3);
    // The learned stage's structures: the near-duplicate index (no sample yet) and the recent
    // messages a `/spam` reply can refer to, bounded in bytes by `[learning] recent_mib`.
    assert_eq!(value("qunguan_memory_capacity{structure=\"neardup_samples\"}"), 100_000);
    assert_eq!(value("qunguan_memory_entries{structure=\"neardup_samples\"}"), 0);
    assert_eq!(value("qunguan_memory_capacity{structure=\"recent_bytes\"}"), 5 << 20);
    assert!(value("qunguan_memory_entries{structure=\"recent_bytes\"}") > 3 * "大家好".len() as u64);
    assert!(value("qunguan_store_size_bytes") > 0);
    assert!(value("process_resident_memory_bytes") > 1 << 20);
    app.stop().await;
}

/// The value of one series (`name{labels}`) in a scrape.
fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
}
