//! Connections: a header-read timeout, an idle keep-alive timeout, and a cap on open
//! connections, with every refusal counted.

use std::time::Duration;

use qunguan::domain::duration::HumanDuration;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

fn limits(header: u64, idle: u64, max: usize) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.server.header_timeout = HumanDuration::from_secs(header);
            s.server.idle_timeout = HumanDuration::from_secs(idle);
            s.server.max_connections = max;
        }),
        ..Options::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connects")
}

/// Reads until the server closes the connection (bounded); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0_u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed() {
    let app = TestApp::spawn_with(limits(1, 1, 512)).await;
    // Connected, and nothing sent.
    let mut silent = connect(&app).await;
    assert_eq!(read_to_close(&mut silent).await, "");
    // Half a request head, then nothing (slow-loris).
    let mut slow = connect(&app).await;
    slow.write_all(b"POST /onebot/v11 HTTP/1.1\r\nHost: qunguan\r\n")
        .await
        .expect("write");
    read_to_close(&mut slow).await;
    // A keep-alive connection after its request.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: qunguan\r\n\r\n")
        .await
        .expect("write");
    let answered = read_to_close(&mut idle).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert_eq!(
        metric(&app, "qunguan_refused_total{reason=\"header_timeout\"}").await,
        2
    );
    // The listener still serves.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_the_admin_listener_stays_reachable() {
    let app = TestApp::spawn_with(limits(30, 30, 3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: qunguan\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0_u8; 256];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "the connection is served, then kept alive"
        );
        held.push(stream);
    }
    let mut fourth = connect(&app).await;
    let refused = read_to_close(&mut fourth).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert_eq!(
        metric(&app, "qunguan_refused_total{reason=\"connection_limit\"}").await,
        1
    );
    assert_eq!(metric(&app, "qunguan_connections_open{listener=\"webhook\"}").await, 3);
    assert_eq!(app.admin_get("/healthz").await.status(), StatusCode::OK);

    // Closed connections free their places.
    drop(held);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(&app, "qunguan_connections_open{listener=\"webhook\"}").await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "connections never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await;
}
