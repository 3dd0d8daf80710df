//! `[server]`: the public webhook listener and the admin listener.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use crate::domain::duration::HumanDuration;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the webhook listener. Port 0 picks a free port (tests).
    #[serde(deserialize_with = "super::strict::listen")]
    pub listen: SocketAddr,
    /// Largest accepted webhook body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Allow unsigned webhooks on a non-loopback address. Off by default: anyone who can reach
    /// the port could otherwise forge events.
    #[serde(deserialize_with = "super::strict::bool")]
    pub allow_unsigned: bool,
    /// Upper bound on one webhook request, body included; slower requests get 408.
    pub request_timeout: HumanDuration,
    /// How long a graceful shutdown waits for in-flight work before giving up.
    pub shutdown_grace: HumanDuration,
    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`, `/stats/<group>`);
    /// `""` turns it off. Loopback by default: it needs no token because only the host can
    /// reach it.
    #[serde(deserialize_with = "optional_addr")]
    pub admin_listen: Option<SocketAddr>,
    /// Events dated longer ago than this are acknowledged and ignored (replays, backlogs);
    /// always below `storage.seen_ttl`. See [`super::robust`].
    pub max_event_age: HumanDuration,
    /// A connection must deliver a request head within this. See [`super::robust`].
    pub header_timeout: HumanDuration,
    /// A keep-alive connection with no request in progress is closed after this.
    pub idle_timeout: HumanDuration,
    /// Connections open at once on the webhook listener; more are refused.
    pub max_connections: usize,
    /// The daemon's CPU scheduling policy, set once at start, before its threads exist (the
    /// runtime's `scheduling` module).
    pub scheduling: Scheduling,
}

/// `[server] scheduling`: the CPU scheduling policy of the daemon's threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scheduling {
    /// Linux's `SCHED_BATCH`: a woken thread waits for the running one's turn to end instead
    /// of preempting it, so work handed between threads is taken in batches. The default.
    #[default]
    Batch,
    /// The system's normal policy, as the daemon was started.
    Normal,
}

impl<'de> Deserialize<'de> for Scheduling {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::strict::choice(deserializer, &[("batch", Self::Batch), ("normal", Self::Normal)])
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            allow_unsigned: false,
            request_timeout: HumanDuration::from_secs(30),
            shutdown_grace: HumanDuration::from_secs(20),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
            max_event_age: super::robust::MAX_EVENT_AGE,
            header_timeout: super::robust::HEADER_TIMEOUT,
            idle_timeout: super::robust::IDLE_TIMEOUT,
            max_connections: super::robust::MAX_CONNECTIONS,
            scheduling: Scheduling::Batch,
        }
    }
}

/// `"127.0.0.1:9090"`, or `""` for none.
fn optional_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(super::strict::address_problem(text).replace(":8080", ":9090")))
}
