//! Start-up, wiring and the process's edges: the [`app::App`] (every spawned task tracked,
//! shutdown in one place), the webhook `server`, the `admin` listener with the operators'
//! [`console`], the [`control`]
//! socket, rules hot [`reload`], [`shutdown`] signals and [`telemetry`].
//!
//! Robustness: the [`guard`]ed event sink (off the async threads, poison events skipped,
//! replays ignored), [`supervise`]d background tasks, the store [`watchdog`] and recovery,
//! bounded [`listen`]ers, process [`limits`], and the [`health`] they report to.

pub(crate) mod admin;
pub mod app;
pub(crate) mod bans;
pub mod console;
#[cfg(unix)]
pub mod control;
pub mod guard;
pub mod health;
pub mod limits;
pub mod listen;
pub mod memory;
pub mod reload;
pub(crate) mod server;
pub mod shutdown;
pub mod supervise;
pub mod telemetry;
pub mod watchdog;
