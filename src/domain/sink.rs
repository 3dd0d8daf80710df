//! Where the gateway adapters hand what they receive.
//!
//! An adapter (OneBot webhook, Telegram webhook or poller) knows its wire format and nothing
//! about moderation: it turns a request into an [`Event`] and gives it to an [`EventSink`].
//! The sink answers once every effect of the event is durable, or says the event could not
//! be stored ([`Unavailable`]); the adapter then asks for a redelivery (webhook 503, or the
//! poller fetching the update again). Long polling also keeps its position in a
//! [`CursorStore`], so a restart resumes where it stopped.

use std::future::Future;
use std::pin::Pin;

use crate::domain::event::Event;

/// What became of a handled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Actions were stored for delivery.
    Acted {
        /// How many.
        actions: usize,
    },
    /// A violation was decided and audited in dry run; nothing will be sent.
    Observed,
    /// The event was already handled (a redelivery); nothing changed.
    Duplicate,
    /// Nothing to do, and why.
    Ignored(&'static str),
}

impl Outcome {
    /// A short description for logs: `acted`, `observed`, `duplicate`, or why it was ignored.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Acted { .. } => "acted",
            Self::Observed => "observed",
            Self::Duplicate => "duplicate",
            Self::Ignored(why) => why,
        }
    }
}

/// The event could not be made durable; deliver it again later.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Unavailable(pub Box<dyn std::error::Error + Send + Sync>);

/// The future an [`EventSink`] or a [`CursorStore`] returns.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, Unavailable>> + Send + 'a>>;

/// Receives every event the adapters translate.
pub trait EventSink: Send + Sync + std::fmt::Debug + 'static {
    /// Handles one event; returns once its effects are durable.
    fn handle<'a>(&'a self, event: &'a Event) -> Pending<'a, Outcome>;

    /// Handles one event the caller gives away; the same as [`EventSink::handle`]. A sink
    /// that has to move the event elsewhere (the daemon's guarded sink hands it to a store
    /// thread) takes it without copying its texts; the default lends it to `handle`.
    fn handle_owned(&self, event: Event) -> Pending<'_, Outcome> {
        Box::pin(async move { self.handle(&event).await })
    }

    /// An adapter gave up on something it received before it became an event (an update
    /// that could not be translated): `what` names it, `why` says why. The daemon's sink
    /// counts and records it; the default does nothing.
    fn skipped(&self, what: &str, why: &str) {
        let _ = (what, why);
    }
}

/// Durable named positions (the Telegram polling offset).
pub trait CursorStore: Send + Sync + std::fmt::Debug + 'static {
    /// The stored position called `name`, if any.
    fn load_cursor(&self, name: &str) -> Result<Option<i64>, Unavailable>;
    /// Stores `value` as `name`; returns once it is durable.
    fn save_cursor<'a>(&'a self, name: &'a str, value: i64) -> Pending<'a, ()>;
}
