//! Webhook throughput of both gateways, measured the same way: the real daemon (release
//! build) on 127.0.0.1 with a sled database in a temp dir, its actions going to the fake
//! gateways of the integration tests, and a closed-loop load of pre-built events.
//!
//! ```sh
//! cargo bench --bench webhooks                      # 20 000 events per gateway, 16 connections
//! cargo bench --bench webhooks -- 50000 32 8        # events, concurrency, OneBot accounts
//! ```
//!
//! The stream: 200 groups × 300 members, 8 % of messages spam (`加微信 …`), the rest clean
//! chat. Three runs: OneBot with the single `[gateway.onebot]` section, OneBot with several
//! `[[gateway.onebot.accounts]]` (4 unless told; the groups spread over them, each account
//! with its own fake gateway and secret, posting with its `X-Self-ID`), and Telegram. It reports events/s, webhook latency p50/p99 and how many actions reached the fake
//! gateway once the outbox drained. Timing lives here, never in tests.

#[allow(dead_code)]
#[path = "../tests/it/support/fake_onebot.rs"]
mod fake_onebot;
#[allow(dead_code)]
#[path = "../tests/it/support/fake_telegram.rs"]
mod fake_telegram;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qunguan::config::{OneBotAccount, Secret, Settings, TelegramMode};
use qunguan::domain::clock::SystemClock;
use qunguan::domain::duration::HumanDuration;
use qunguan::gateway::onebot::signature;
use qunguan::runtime::app::App;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const GROUPS: i64 = 200;
const USERS: i64 = 300;
const SECRET: &str = "bench-secret";
const TG_SECRET: &str = "bench_secret-token";

struct Load {
    events: usize,
    concurrency: usize,
    /// OneBot accounts of the `accounts` run.
    accounts: usize,
}

/// The QQ number of account `n` of the `accounts` run.
fn account_id(n: i64) -> i64 {
    20_001 + n
}

/// The webhook secret of account `n` of the `accounts` run.
fn account_secret(n: i64) -> String {
    format!("{SECRET}-{n}")
}

/// One request: path, body, headers.
type Request = (String, Vec<u8>, Vec<(&'static str, String)>);

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let load = Load {
        events: args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000),
        concurrency: args.next().and_then(|a| a.parse().ok()).unwrap_or(16),
        accounts: args.next().and_then(|a| a.parse().ok()).unwrap_or(4).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "{} events per gateway, {} connections, {GROUPS} groups x {USERS} members, 8% spam, {} OneBot accounts in the accounts run",
            load.events, load.concurrency, load.accounts
        );
        run("onebot", &load).await;
        run("accounts", &load).await;
        run("telegram", &load).await;
    });
}

/// Deterministic stream: message `i` is spam when `i % 25 < 2` (8 %).
fn stream(kind: &str, n: usize, accounts: usize) -> Vec<Request> {
    let accounts = i64::try_from(accounts).expect("small");
    // Dated within the last hours, one second apart: older events (`server.max_event_age`,
    // 24 h) would be acknowledged and ignored.
    let start = jiff::Timestamp::now().as_second() - i64::try_from(n).expect("small");
    (0..n)
        .map(|i| {
            let i64i = i64::try_from(i).expect("small");
            let group = i64i % GROUPS;
            let user = 10_000 + (i64i * 7919) % (GROUPS * USERS);
            let text = if i % 25 < 2 {
                format!("加微信 领取福利 {i}")
            } else {
                format!("今天的会议改到下午三点，大家记得准时参加 {i}")
            };
            match kind {
                "onebot" | "accounts" => {
                    // With accounts, each group is kept by one of them (group mod accounts).
                    let account = group % accounts;
                    let self_id = if kind == "accounts" {
                        account_id(account)
                    } else {
                        3_889_000_123
                    };
                    let body = serde_json::to_vec(&json!({
                        "post_type": "message", "message_type": "group", "sub_type": "normal",
                        "time": start + i64i, "self_id": self_id, "group_id": 700_000_000 + group,
                        "user_id": user, "message_id": i64i, "message": text, "raw_message": text, "font": 0,
                        "sender": {"user_id": user, "nickname": format!("u{user}"), "card": "", "role": "member"}
                    }))
                    .expect("json");
                    if kind == "accounts" {
                        let sig = signature::sign(account_secret(account).as_bytes(), &body);
                        let headers = vec![("x-signature", sig), ("x-self-id", self_id.to_string())];
                        ("/onebot/v11".to_owned(), body, headers)
                    } else {
                        let sig = signature::sign(SECRET.as_bytes(), &body);
                        ("/onebot/v11".to_owned(), body, vec![("x-signature", sig)])
                    }
                }
                _ => {
                    let body = serde_json::to_vec(&json!({
                        "update_id": 100_000 + i64i,
                        "message": {
                            "message_id": i64i, "date": start + i64i, "text": text,
                            "from": {"id": user, "is_bot": false, "first_name": format!("u{user}")},
                            "chat": {"id": -1_001_000_000_000 - group, "type": "supergroup", "title": "g"},
                        }
                    }))
                    .expect("json");
                    (
                        "/telegram/webhook".to_owned(),
                        body,
                        vec![("x-telegram-bot-api-secret-token", TG_SECRET.to_owned())],
                    )
                }
            }
        })
        .collect()
}

async fn run(kind: &str, load: &Load) {
    let root = tempfile::tempdir().expect("tempdir");
    let rules = root.path().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("ads.txt"), "加微信\nt.me/+\n").expect("rules");
    let onebot = fake_onebot::FakeOneBot::start("bench-token").await;
    let telegram = fake_telegram::FakeTelegram::start().await;
    let mut listed = Vec::new();
    if kind == "accounts" {
        for _ in 0..load.accounts {
            listed.push(fake_onebot::FakeOneBot::start("bench-token").await);
        }
    }

    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.admin_listen = None;
    settings.storage.path = root.path().join("data");
    settings.rules.dir = rules;
    settings.welcome.enabled = false;
    // The fake gateways have no risk control; the send governor's platform defaults (QQ: 5 bot
    // messages a second per account) would turn a throughput run into a pacing test.
    settings.outbox.sends_per_second_total = 1_000_000;
    settings.outbox.sends_per_minute_per_group = 1_000_000;
    settings.gateway.onebot.api_root = onebot.api_root();
    settings.gateway.onebot.access_token = Secret::new("bench-token");
    settings.gateway.onebot.secret = Secret::new(SECRET);
    settings.gateway.onebot.accounts = listed
        .iter()
        .zip(0_i64..)
        .map(|(fake, n)| OneBotAccount {
            self_id: account_id(n),
            api_root: fake.api_root(),
            access_token: Secret::new("bench-token"),
            secret: Secret::new(account_secret(n)),
            timeout: None,
        })
        .collect();
    let tg = &mut settings.gateway.telegram;
    tg.enabled = kind == "telegram";
    tg.mode = TelegramMode::Webhook;
    tg.token = Secret::new(fake_telegram::TG_TOKEN);
    tg.api_root = telegram.api_root();
    tg.webhook_url = "https://bench.example/telegram/webhook".into();
    tg.secret_token = Secret::new(TG_SECRET);
    tg.timeout = HumanDuration::from_secs(5);

    let app = App::build(settings, Arc::new(SystemClock)).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    let requests = Arc::new(stream(kind, load.events, load.accounts));
    // Every spam message: a recall and a rung (a Telegram kick is two calls).
    let expected_actions = (0..load.events).filter(|i| i % 25 < 2).count() * 2;

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..load.concurrency {
        let (requests, next, base) = (Arc::clone(&requests), Arc::clone(&next), base.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((path, body, headers)) = requests.get(i) else {
                    break;
                };
                let mut req = http
                    .post(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (name, value) in headers {
                    req = req.header(*name, value);
                }
                let sent = Instant::now();
                let status = req.send().await.expect("answered").status();
                assert_eq!(status.as_u16(), 204, "event {i}");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(load.events);
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1e3
    };

    // Let the outbox drain (bounded), then count what the group saw.
    let drain_started = Instant::now();
    let delivered = loop {
        let delivered = match kind {
            "onebot" => onebot.delivered().len(),
            "accounts" => listed.iter().map(|fake| fake.delivered().len()).sum(),
            _ => telegram.actions().len(),
        };
        if delivered >= expected_actions || drain_started.elapsed() > Duration::from_secs(120) {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "{kind:>9}: {:>7.0} events/s · webhook p50 {:.2} ms / p99 {:.2} ms · {delivered} actions delivered (>= {expected_actions} expected) after {:.1} s drain",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        drain_started.elapsed().as_secs_f64(),
    );
    shutdown.cancel();
    task.await.expect("app task").expect("app stops");
}
