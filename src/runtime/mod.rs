//! Start-up, wiring and the process's edges: the [`app::App`] (every spawned task tracked,
//! shutdown in one place), the webhook `server`, the `admin` listener with the operators'
//! [`console`], the [`control`]
//! socket, rules hot [`reload`], [`shutdown`] signals and [`telemetry`].
//!
//! Robustness: the `guard`ed event sink (off the async threads, poison events skipped,
//! replays ignored), `supervise`d background tasks, the store `watchdog` and recovery,
//! bounded `listen`ers, process `limits`, and the [`health`] they report to. Those five are
//! crate-private: only [`app`] and the `cli` wire them, nothing outside the crate names them.

pub(crate) mod admin;
pub mod app;
pub(crate) mod bans;
pub mod console;
#[cfg(unix)]
pub mod control;
pub(crate) mod guard;
pub mod health;
pub(crate) mod limits;
pub(crate) mod listen;
pub mod memory;
pub mod reload;
pub(crate) mod scheduling;
pub(crate) mod server;
pub mod shutdown;
pub(crate) mod supervise;
pub mod telemetry;
pub(crate) mod watchdog;
