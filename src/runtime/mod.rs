//! Start-up, wiring and the process's edges: the [`app::App`] (every spawned task tracked,
//! shutdown in one place), the webhook `server`, the `admin` listener with the operators'
//! [`console`], the [`control`]
//! socket, rules hot [`reload`], [`shutdown`] signals and [`telemetry`].

pub(crate) mod admin;
pub mod app;
pub mod console;
#[cfg(unix)]
pub mod control;
pub mod memory;
pub mod reload;
pub(crate) mod server;
pub mod shutdown;
pub mod telemetry;
