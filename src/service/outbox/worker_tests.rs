//! The worker over a real store and a scripted gateway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::OutboxWorker;
use crate::config::{LimitsSettings, OutboxSettings};
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::clock::{Clock, ManualClock, SharedClock};
use crate::domain::event::GroupId;
use crate::gateway::{Call, Delivery, DirectClient, Gateways};
use crate::store::Store;

/// Records every call; panics on the first call of the recall of message `panic_on`.
#[derive(Debug, Default)]
struct Scripted {
    panic_on: i64,
    calls: Mutex<Vec<String>>,
}

impl DirectClient for Scripted {
    fn execute<'a>(&'a self, action: &'a Action) -> Call<'a> {
        Box::pin(async move {
            let name = match action {
                Action::Recall { message_id, .. } => format!("recall {message_id}"),
                Action::Send { .. } => "send".to_owned(),
                other => format!("{:?}", other.kind()),
            };
            let first = {
                let mut calls = self.calls.lock().expect("calls");
                let first = !calls.contains(&name);
                calls.push(name.clone());
                first
            };
            assert!(
                !(first && name == format!("recall {}", self.panic_on)),
                "scripted panic in a gateway call"
            );
            Ok(Delivery::default())
        })
    }
}

async fn wait_for(client: &Scripted, calls: usize) -> Vec<String> {
    for _ in 0..200 {
        let seen = client.calls.lock().expect("calls").clone();
        if seen.len() >= calls {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.calls.lock().expect("calls").clone()
}

#[tokio::test]
async fn a_panicking_gateway_call_is_retried_and_its_group_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_path(dir.path()).expect("store");
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).expect("time"));
    let client = Arc::new(Scripted {
        panic_on: 1,
        ..Scripted::default()
    });
    let gateways = Gateways::demo(Arc::clone(&client) as Arc<dyn DirectClient>);
    let settings = OutboxSettings {
        early_recalls: 0,
        ..OutboxSettings::default()
    };
    let worker = OutboxWorker::new(
        store.clone(),
        gateways,
        Arc::clone(&clock) as SharedClock,
        (&settings, &LimitsSettings::default()),
    )
    .expect("worker");
    let handle = worker.handle();
    let wake = worker.waker();
    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker.run(cancel.clone()));

    let group = GroupId::qq(100);
    let actions = vec![
        Action::Recall { group, message_id: 1 },
        Action::Send {
            group,
            message: OutgoingMessage::text("warning"),
            reply_to: None,
        },
    ];
    handle.send(actions, clock.now()).await.expect("send");
    assert_eq!(wait_for(&client, 1).await, ["recall 1"], "the first call panics");

    // The panic was the attempt's result: the recall waits for its backoff (1 s), and the
    // group's warning waits behind it, instead of the group staying busy for good.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        client.calls.lock().expect("calls").len(),
        1,
        "nothing before the backoff"
    );
    clock.advance(Duration::from_secs(2));
    wake.notify_one();
    assert_eq!(wait_for(&client, 3).await, ["recall 1", "recall 1", "send"]);

    cancel.cancel();
    running.await.expect("worker stops");
    assert!(store.outbox().is_empty(), "both delivered and marked");
}
