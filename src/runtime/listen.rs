//! Serving a router on a TCP listener with bounded connections.
//!
//! axum's own `serve` keeps a connection as long as the client likes: with no header-read
//! timeout, a thousand idle connections use up the process's file descriptors and every
//! webhook and `/healthz` then times out. This accept loop adds:
//!
//! - **a connection cap** (`[server] max_connections`): past it, a new connection gets a
//!   bare `503` and is closed at once, counted and logged at a bounded rate;
//! - **a header-read timeout** (`[server] header_timeout`): a new connection must deliver a
//!   complete request head that long after connecting, and a keep-alive connection that long
//!   after the first byte of its next request (slow-loris);
//! - **an idle timeout** (`[server] idle_timeout`): a keep-alive connection with no request
//!   in progress is closed after that long.
//!
//! The timeouts live in a wrapper around the socket ([`Timed`]): while the connection waits
//! for a request head, its reads carry a deadline; while a request is being handled (the
//! router's own `request_timeout` bounds that), they do not. Accept errors (out of file
//! descriptors) pause the loop briefly instead of spinning. On shutdown, open connections
//! finish their current request and close.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::runtime::health::Health;

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// What a connection over the cap is told before it is closed.
const OVER_CAP: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";

/// The bounds of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to deliver a request head.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Open connections of one listener, for `/metrics`.
#[derive(Debug, Default)]
pub struct Connections(AtomicU64);

impl Connections {
    /// Connections open now.
    #[must_use]
    pub fn open(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` fires, then lets open
/// connections finish their request (bounded by the caller) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    health: Arc<Health>,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                health
                    .refusals
                    .record("accept_failed", &format!("cannot accept a connection: {e}"));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                }
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            health.refusals.record(
                "connection_limit",
                &format!(
                    "{peer}: {} connections are open (server.max_connections)",
                    limits.max_connections
                ),
            );
            // Best effort, never waiting: the client learns why, then the socket closes.
            let _ = stream.try_write(OVER_CAP);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Timed::new(stream, Arc::clone(&activity), limits, Arc::clone(&health)));
        let router = router.clone();
        let busy = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let router = router.clone();
            let guard = Busy::new(Arc::clone(&busy));
            // What axum's own `serve` adds: the console's login limit and audit read the peer.
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            async move {
                let response = router.oneshot(request).await;
                drop(guard);
                response
            }
        });
        let shutdown = shutdown.clone();
        let connections = Arc::clone(&connections);
        connections.0.fetch_add(1, Ordering::Relaxed);
        tracker.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            // The deadlines are [`Timed`]'s; hyper's own header timer stays off.
            builder.keep_alive(true).header_read_timeout(None);
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            connections.0.fetch_sub(1, Ordering::Relaxed);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// What a connection's service tells its socket: requests in progress, and whom to wake when
/// the last one ends (hyper may not read again by itself, and the idle deadline starts then).
#[derive(Debug, Default)]
struct Activity {
    busy: AtomicUsize,
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    fn busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    /// Remembers the task reading the socket.
    fn reading(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }
}

/// Counts a request in progress on its connection for as long as it lives.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::SeqCst);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(waker) = reader {
                waker.wake();
            }
        }
    }
}

/// Where a connection is, for its read deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Just accepted: the first request head is due within the header timeout.
    Fresh,
    /// Between requests: the next one may start within the idle timeout.
    Idle,
    /// A request head has begun arriving: it must complete within the header timeout.
    Head,
    /// A request is being handled: no deadline here.
    Busy,
}

/// A socket whose reads carry the deadline of the connection's phase; see the module docs.
struct Timed {
    inner: TcpStream,
    activity: Arc<Activity>,
    limits: Limits,
    health: Arc<Health>,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl Timed {
    fn new(inner: TcpStream, activity: Arc<Activity>, limits: Limits, health: Arc<Health>) -> Self {
        Self {
            inner,
            activity,
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            limits,
            health,
            phase: Phase::Fresh,
        }
    }

    fn enter(&mut self, phase: Phase, within: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + within);
    }
}

impl AsyncRead for Timed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.activity.busy() {
            this.phase = Phase::Busy;
            this.activity.reading(cx.waker());
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.phase == Phase::Busy {
            this.enter(Phase::Idle, this.limits.idle_timeout);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.enter(Phase::Head, this.limits.header_timeout);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let (reason, detail) = match this.phase {
                    Phase::Idle => {
                        tracing::debug!("closing an idle keep-alive connection (server.idle_timeout)");
                        return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
                    }
                    _ => (
                        "header_timeout",
                        format!(
                            "no complete request head within {:?} (server.header_timeout)",
                            this.limits.header_timeout
                        ),
                    ),
                };
                let peer = this.inner.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
                this.health.refusals.record(reason, &format!("{peer}: {detail}"));
                Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
        }
    }
}

impl AsyncWrite for Timed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
