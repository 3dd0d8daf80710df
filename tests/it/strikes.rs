//! The strike ladder end to end: concurrency, duplicates, expiry on the injected clock,
//! per-group overrides, and what the audit log records.

use std::time::Duration;

use qunguan::config::GroupSettings;
use qunguan::domain::audit::{Actor, Measure};
use qunguan::domain::duration::HumanDuration;
use reqwest::StatusCode;

use crate::support::*;

fn spam(message_id: i64, user: i64) -> serde_json::Value {
    group_message(message_id, user, "member", "领取 FREE Money 点这里")
}

#[tokio::test]
async fn concurrent_events_of_one_user_walk_the_ladder_in_order() {
    let app = TestApp::spawn().await;
    // Five members each send three violations at the same instant.
    let users: Vec<i64> = (901..906).collect();
    let mut posts = tokio::task::JoinSet::new();
    for (u, &user) in users.iter().enumerate() {
        for k in 0..3 {
            let poster = app.poster();
            let id = i64::try_from(u * 10 + k).expect("small") + 1;
            posts.spawn(async move { poster.post(&spam(id, user)).await });
        }
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.expect("sender"), StatusCode::NO_CONTENT);
    }
    let cases = app.cases().await;
    assert_eq!(cases.len(), 15);
    for &user in &users {
        let mine: Vec<_> = cases.iter().filter(|c| c.user_id == user).collect();
        let walk: Vec<(u32, u32, Measure)> = mine
            .iter()
            .map(|c| (c.strikes_before, c.strikes_after, c.measure))
            .collect();
        assert_eq!(
            walk,
            [
                (0, 1, Measure::Warn),
                (1, 2, Measure::Mute { seconds: 600 }),
                (2, 3, Measure::Kick)
            ],
            "user {user}: no rung skipped or repeated"
        );
    }
    // And the gateway sees each member's rungs once: 15 recalls, 5 warnings, 5 mutes, 5 kicks,
    // and a notice after each mute and each kick (counted once the outbox is empty, so a
    // repeat could not still be on its way).
    app.gateway.wait_delivered(40, PATIENCE).await;
    app.settle().await;
    let calls = app.gateway.delivered();
    for (action, n) in [
        ("delete_msg", 15),
        ("send_group_msg", 15),
        ("set_group_ban", 5),
        ("set_group_kick", 5),
    ] {
        assert_eq!(calls.iter().filter(|c| c.action == action).count(), n, "{action}");
    }
    app.stop().await;
}

#[tokio::test]
async fn duplicate_deliveries_change_nothing_even_when_concurrent() {
    let app = TestApp::spawn().await;
    let event = spam(1, 910);
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (poster, event) = (app.poster(), event.clone());
        posts.spawn(async move { poster.post(&event).await });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(
            status.expect("sender"),
            StatusCode::NO_CONTENT,
            "a duplicate is acknowledged"
        );
    }
    assert_eq!(app.post_event(&spam(2, 910)).await, StatusCode::NO_CONTENT);
    let cases = app.cases().await;
    let after: Vec<u32> = cases.iter().map(|c| c.strikes_after).collect();
    assert_eq!(after, [1, 2], "six deliveries of message 1 were one strike");
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(calls.iter().filter(|c| c.params["message_id"] == 1).count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn strikes_expire_one_by_one_after_the_strike_ttl_on_the_daemons_clock() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.moderation.strike_ttl = HumanDuration::from_secs(3600)),
        ..Options::default()
    })
    .await;
    let user = 920;
    let mut measures = Vec::new();
    // t=0: 1st strike → warn. t=30m: 2nd → mute. t=61m: the 1st has expired, the 2nd has not:
    // still 2 → mute again, not kick. t=3h: everything expired → a warning again.
    for (id, advance) in [(1, 0), (2, 30), (3, 31), (4, 119)] {
        app.advance(Duration::from_secs(advance * 60));
        assert_eq!(app.post_event(&spam(id, user)).await, StatusCode::NO_CONTENT);
    }
    for case in app.cases().await {
        measures.push((case.strikes_before, case.strikes_after, case.measure));
    }
    let mute = Measure::Mute { seconds: 600 };
    assert_eq!(
        measures,
        [(0, 1, Measure::Warn), (1, 2, mute), (1, 2, mute), (0, 1, Measure::Warn)]
    );
    app.stop().await;
}

#[tokio::test]
async fn group_overrides_set_the_ladder_window_and_exemptions() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.groups.insert(
                GROUP.to_string(),
                GroupSettings {
                    ladder: Some(vec!["warn".parse().expect("rung"), "ban".parse().expect("rung")]),
                    exempt: vec![931],
                    ..GroupSettings::default()
                },
            );
        }),
        ..Options::default()
    })
    .await;
    // The exempt member posts spam: nothing. Another member: warn, then ban (kick + refuse).
    app.post_event(&spam(1, 931)).await;
    app.post_event(&spam(2, 932)).await;
    app.gateway.wait_delivered(2, PATIENCE).await;
    app.post_event(&spam(3, 932)).await;
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(
        actions(&calls),
        [
            "delete_msg",
            "send_group_msg",
            "delete_msg",
            "set_group_kick",
            "send_group_msg"
        ]
    );
    assert_eq!(calls[0].params["message_id"], 2);
    assert!(
        sent_text(&calls[1]).contains("(1/2)"),
        "counted against the group's 2 rungs"
    );
    assert_eq!(calls[3].params["reject_add_request"], true);
    // Another group still has the default ladder.
    app.post_event(&group_message_in(777, 4, 932, "member", "free money"))
        .await;
    app.gateway.wait_delivered(7, PATIENCE).await;
    app.post_event(&group_message_in(777, 5, 932, "member", "free money"))
        .await;
    let calls = app.gateway.wait_delivered(10, PATIENCE).await;
    assert_eq!(
        actions(&calls[5..10]),
        [
            "delete_msg",
            "send_group_msg",
            "delete_msg",
            "set_group_ban",
            "send_group_msg"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn every_automatic_action_is_an_audit_case_with_the_matched_original_text() {
    let app = TestApp::spawn().await;
    app.post_event(&spam(7, 940)).await;
    let cases = app.cases().await;
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!((case.case, case.user_id, case.rule.as_str()), (1, 940, "ads"));
    assert_eq!(case.actor, Actor::Auto);
    assert_eq!(case.matched, ["FREE Money"], "quoted as posted, not as listed");
    assert_eq!(case.excerpt, "领取 FREE Money 点这里");
    assert_eq!((case.message_id, case.recalled.as_slice()), (Some(7), &[7][..]));
    assert_eq!(
        (case.strikes_before, case.strikes_after, case.measure),
        (0, 1, Measure::Warn)
    );
    assert!(!case.dry_run);
    // The audit entry survives a restart like everything else.
    let app = app.restart(Options::default()).await;
    assert_eq!(app.cases().await, cases);
    app.stop().await;
}
