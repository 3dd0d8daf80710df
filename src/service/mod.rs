//! Orchestration: what happens to an event, on a schedule, and to a stored action.
//!
//! - `pipeline` handles one event: commands, the filter, flood, the verdict, welcome;
//! - [`commands`] are the admin commands typed in a group;
//! - [`learning`] holds what admins' labels taught (the near-duplicate index), the recent
//!   messages a label can reply to, and the review list;
//! - `welcome`, [`inactivity`], [`scheduler`] and [`stats`] are the background services;
//! - [`engagement`] is check-in, points, leaderboards, keyword answers and member tiers;
//! - [`passes`] counts the rounds of the scheduler and the greeter (so tests can wait for one);
//! - [`undo`] takes back the strike of one case (the operators' console);
//! - `outbox` delivers stored actions. Its `outbox::OutboxHandle` is the one place that
//!   makes actions durable and wakes the worker, and `outbox` is the only module of the
//!   service layer that talks to gateway clients.
//!
//! Services import `domain`, `policy`, `config` and `store`; only `outbox` imports `gateway`.

pub mod bans;
pub mod commands;
pub mod engagement;
pub(crate) mod gate;
pub mod inactivity;
pub mod learning;
pub(crate) mod outbox;
pub mod passes;
pub(crate) mod pipeline;
pub mod scheduler;
pub mod stats;
pub mod undo;
pub(crate) mod welcome;

/// How many `failed` answers that may pass an action gets before it becomes a dead letter
/// (operators and tests read the bound; the outbox itself stays crate-private).
pub use outbox::MAX_FAILED_ATTEMPTS;
